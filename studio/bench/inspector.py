"""Benchmark: frame rate of the rig inspector while a control slider is dragged (real Qt window + GL).

Drives the slider through a triangle wave and, after each move, runs the event loop until the 3D view has
drawn the new mesh; the frame rate is moves per second. Needs a display: under a headless machine run it
as ``xvfb-run -a python main.py bench inspector`` (it starts Xvfb itself when pyvirtualdisplay is there).
"""

from __future__ import annotations

import json
import os
import sys

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
        from studio.ui.measurements import measure_inspector_drag

        drawn = measure_inspector_drag(frames, seed, control)
    finally:
        if display is not None:
            display.stop()
    ms = np.asarray(drawn["times"]) * 1e3
    return {
        "benchmark": "inspector_slider",
        "frames": frames,
        "control": control,
        "fps": float(1e3 / ms.mean()),
        "ms_per_frame_mean": float(ms.mean()),
        "ms_per_frame_p95": float(np.percentile(ms, 95)),
        "canvas_size": [int(drawn["size"][0]), int(drawn["size"][1])],
        "vertices": drawn["vertices"],
        "gl_renderer": drawn["renderer"],
        "offscreen_view": drawn["offscreen"],
    }


if __name__ == "__main__":
    print(json.dumps(run_inspector_benchmark(), indent=2))
