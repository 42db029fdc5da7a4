"""Benchmark: frame rate of the rig inspector while a control slider is dragged (real Qt window + GL).

Drives the slider through a triangle wave and, after each move, runs the event loop until the 3D view has
drawn the new mesh; the frame rate is moves per second. Needs a display: under a headless machine run it
as ``xvfb-run -a python main.py bench inspector`` (it starts Xvfb itself when pyvirtualdisplay is there).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from studio.core.errors import StudioError


def ensure_display() -> object | None:
    """Start a virtual X display (pyvirtualdisplay) when there is none on Linux; returns it, or None."""
    if os.environ.get("DISPLAY") or sys.platform != "linux":
        return None
    try:
        from pyvirtualdisplay import Display
    except ImportError as error:
        raise StudioError("no display: run under `xvfb-run -a` or install pyvirtualdisplay") from error
    display = Display(visible=False, size=(1600, 1000), color_depth=24)
    display.start()
    return display


def run_inspector_benchmark(frames: int = 120, seed: int = 0, control: str = "jawOpen") -> dict:
    """Drag one control slider through ``frames`` positions and measure the displayed frame rate.

    Returns
    -------
    dict
        ``fps`` (mesh updates drawn per second), ``ms_per_frame`` mean and p95, ``frames``, ``control``,
        ``canvas_size`` in pixels, ``gl_renderer``, ``vertices``, ``offscreen_view`` (whether the 3D view
        draws offscreen and paints an image, or is vispy's Qt canvas).
    """
    display = ensure_display()
    try:
        from PySide6.QtWidgets import QApplication

        from studio.ui.app import load_ict_inspection
        from studio.ui.tools.inspector import RigInspectorWindow

        app = QApplication.instance() or QApplication([])
        inspection = load_ict_inspection()
        window = RigInspectorWindow(inspection)
        window.show()
        view = window.rig_view
        deadline = time.perf_counter() + 20
        while view.draw_count == 0 and time.perf_counter() < deadline:
            app.processEvents()
        if view.draw_count == 0:
            raise StudioError("the 3D view never drew")
        slider = window.control_panel.sliders[control]
        rng = np.random.default_rng(seed)
        phase = rng.uniform(0, 1)
        values = np.abs(((np.arange(frames) / 30.0 + phase) % 2.0) - 1.0)  # triangle wave 0..1
        times = []
        for value in values:
            drawn = view.draw_count
            start = time.perf_counter()
            slider.setValue(float(value))
            while view.draw_count == drawn:
                app.processEvents()
            times.append(time.perf_counter() - start)
        renderer = view.gl_renderer
        size = view.canvas.size
        window.close()
        app.processEvents()
    finally:
        if display is not None:
            display.stop()
    ms = np.asarray(times) * 1e3
    return {
        "benchmark": "inspector_slider",
        "frames": frames,
        "control": control,
        "fps": float(1e3 / ms.mean()),
        "ms_per_frame_mean": float(ms.mean()),
        "ms_per_frame_p95": float(np.percentile(ms, 95)),
        "canvas_size": [int(size[0]), int(size[1])],
        "vertices": int(inspection.rig.num_vertices),
        "gl_renderer": str(renderer),
        "offscreen_view": bool(getattr(view, "offscreen", False)),
    }


if __name__ == "__main__":
    print(json.dumps(run_inspector_benchmark(), indent=2))
