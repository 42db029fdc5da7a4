"""Real windows measured for the benchmarks (``bench live``, ``bench inspector``): the Qt side of them.

The benchmarks (:mod:`studio.bench`) decide what to measure and report; these functions open the windows,
drive them in Qt's event loop and time them.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QApplication

from studio.core.errors import StudioError
from studio.core.tracking.live import STAGES
from studio.ui.app import load_ict_inspection
from studio.ui.tools.inspector import RigInspectorWindow
from studio.ui.tools.live_view import RIG_VIEW_SIZE, LiveTrackingWindow

__all__ = ["RIG_VIEW_SIZE", "measure_inspector_drag", "measure_live_window"]


def measure_inspector_drag(frames: int, seed: int, control: str) -> dict:
    """Drag one control slider of a real rig inspector through ``frames`` positions (``bench inspector``);
    returns the per-frame seconds and what was drawn."""
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
    return {"times": times, "renderer": str(renderer), "size": size, "vertices": int(inspection.rig.num_vertices),
            "offscreen": bool(getattr(view, "offscreen", False))}


def _spread(values: list[float]) -> dict[str, float]:
    """Mean, median and 95th percentile of some milliseconds (NaN when there are none)."""
    if not values:
        return {"mean": float("nan"), "p50": float("nan"), "p95": float("nan")}
    return {"mean": float(np.mean(values)), "p50": float(np.percentile(values, 50)),
            "p95": float(np.percentile(values, 95))}


def measure_live_window(
    rig, source, seconds: float, realtime: bool, warmup_s: float = 1.5, rig_view_size=None, tracker: str = "landmarks"
) -> dict:
    """Track ``source`` in a real live-tracking window for ``warmup_s + seconds``; figures over the last
    ``seconds`` (``bench live``: frame rate, per-stage times, latency, drops, the GUI's longest stall)."""
    app = QApplication.instance() or QApplication([])
    window = LiveTrackingWindow(rig, realtime=realtime, cameras=[], rig_view_size=rig_view_size or RIG_VIEW_SIZE)
    window.set_tracker_kind(tracker)
    window.show()
    shown: list[tuple[float, object]] = []
    window.sigResultShown.connect(lambda result: shown.append((time.perf_counter(), result)))
    loop = QEventLoop()
    stopped: list[str] = []
    window.sigStopped.connect(lambda reason: (stopped.append(reason), loop.quit()))
    window.start(source)
    started = time.perf_counter()
    # wait (in Qt's event loop: the GUI keeps drawing) until the first frame, then the warm-up, then measure
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    while not shown and not stopped and time.perf_counter() - started < 30:
        deadline.start(50)
        loop.exec()
    first_at = time.perf_counter()
    deadline.start(round(1e3 * warmup_s))
    loop.exec()
    begin = time.perf_counter()
    draws_before = window.rig_view.draw_count
    rig_draws_ms_before = len(window.rig_view.draw_ms)
    dropped_before = (shown[-1][1].frames_dropped if shown else 0, window.results_dropped)
    index_before = len(shown)
    window.reset_stage_times(maxlen=100_000)
    # the GUI's event-loop stalls: a 5 ms timer that notes how late each of its ticks came
    ticks: list[float] = []
    stall_timer = QTimer()
    stall_timer.setTimerType(Qt.TimerType.PreciseTimer)
    stall_timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    stall_timer.start(5)
    if not stopped:
        deadline.start(round(1e3 * seconds))
        loop.exec()
    end = time.perf_counter()
    stall_timer.stop()
    draw_ms = window.stage_times("draw")
    gl_renderer = window.rig_view.gl_renderer
    rig_draws = window.rig_view.draw_count - draws_before
    rig_draw_ms = list(window.rig_view.draw_ms)[rig_draws_ms_before:]
    window.stop()
    window.close()
    app.processEvents()
    measured = [result for t, result in shown[index_before:] if t <= end]
    if not measured:
        raise StudioError(f"no frame shown ({stopped[0] if stopped else 'no reason'})")
    elapsed = end - begin
    last = measured[-1]
    stages = {
        name: _spread([r.stage_ms[name] for r in measured if name in r.stage_ms])
        for name in STAGES
        if any(name in r.stage_ms for r in measured)
    }
    stages["draw"] = _spread(draw_ms)
    stages["rig_draw"] = _spread(rig_draw_ms)  # part of "draw", on the frames that redrew the rig
    tracking_ms = [r.tracking_ms for r in measured if r.controls is not None]
    latency_ms = [1e3 * (t - r.read_at_s) for t, r in shown[index_before:] if t <= end]
    stalls = np.diff(ticks) * 1e3 if len(ticks) > 1 else np.zeros(1)
    return {
        "tracker": tracker,
        "seconds": float(elapsed),
        "start_s": float(first_at - started),
        "frames_shown": len(measured),
        "fps": float(len(measured) / elapsed),
        "rig_draws_per_s": float(rig_draws / elapsed),
        "source_fps": float(last.source_fps),
        "ms_per_frame": stages,
        "tracking_ms": _spread(tracking_ms),
        "latency_ms": _spread(latency_ms),
        "dropped_by_tracking": int(last.frames_dropped - dropped_before[0]),
        "dropped_by_display": int(window.results_dropped - dropped_before[1]),
        "frames_with_controls": int(sum(r.controls is not None for r in measured)),
        "gui_stall_ms_max": float(stalls.max() - 5.0),
        "ended": stopped[0] if stopped else None,
        "gl_renderer": gl_renderer,
    }
