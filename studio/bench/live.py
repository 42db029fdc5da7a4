"""Benchmark: the live view end to end (real window, real worker): frames shown per second and per-stage ms.

The window (:class:`studio.ui.tools.live_view.LiveTrackingWindow`) tracks a source for ``seconds`` and the
figures are read from what it showed: ``fps`` is results shown per second (each with its image, landmarks
and, once the neutral is captured, a redrawn rig), ``ms_per_frame`` the mean time of each stage (MediaPipe
landmarks, head-pose alignment, solve, filter in the worker; ``draw``: GUI time per shown frame, that is
setting the image, landmarks and mesh plus painting both views) and ``dropped`` the source frames tracking
skipped plus the results the GUI replaced before showing them; ``latency_ms`` the time from a frame
leaving the source to its result being handed to the views (the paint follows within one event-loop pass).

Sources:

- ``memory:PATH`` (the default is ``memory:`` + ``d10.mp4`` of the shared footage): the clip's frames decoded
  and letterboxed to 640×480 *before* the run and replayed from memory, so the measured path is exactly
  reconstruction + solve + filter + draw (no decoding, no rendering). Played as fast as the pipeline goes
  (``realtime=False``: capacity) and at 30 fps like a camera (``realtime=True``: does it keep up?).
- ``synthetic:SEED``: the synthetic performer rendered live in the reader thread (EGL; 25–35 ms a frame on
  two cores), which competes with tracking and drawing for the CPU: not part of "the whole path".
- a video path or ``camera:N``: as the live view plays them.

Needs a display: run under ``xvfb-run -a`` (it starts Xvfb itself when pyvirtualdisplay is there).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from studio.bench.footage import footage_folder
from studio.bench.inspector import ensure_display
from studio.core.errors import StudioError
from studio.core.tracking.frame_sources import Frame, FrameSource

#: Image size the benchmark feeds (a webcam's usual 640×480).
SIZE = (640, 480)


class MemoryFrames(FrameSource):
    """Images already in memory replayed as a source, looping, with times ``i / fps`` (no decode cost).

    Parameters
    ----------
    images : list of np.ndarray
        Frames, each ``(H, W, 3)`` uint8 RGB.
    fps : float
        Frame rate of the times.
    num_frames : int
        Frames delivered (the images repeat).
    name : str
        Name of the source.
    """

    def __init__(self, images: list[np.ndarray], fps: float, num_frames: int, name: str) -> None:
        self.images = images
        self.fps = float(fps)
        self.num_frames = int(num_frames)
        self.size = (int(images[0].shape[1]), int(images[0].shape[0]))
        self.name = name

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.num_frames):
            yield Frame(index=index, time_s=index / self.fps, image=self.images[index % len(self.images)])


def letterbox(image: np.ndarray, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Scale an RGB image ``(h, w, 3)`` to fit ``size = (W, H)`` and pad it with black, ``(H, W, 3)`` uint8."""
    import cv2

    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    scaled = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - scaled.shape[0]) // 2, (width - scaled.shape[1]) // 2
    out[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    return out


def decode_letterboxed(path: Path, max_frames: int = 240, size: tuple[int, int] = SIZE) -> tuple[list[np.ndarray], float]:
    """The first ``max_frames`` frames of a video, letterboxed to ``size``; returns ``(images, fps)``."""
    from studio.core.tracking.frame_sources import VideoFileSource

    images = []
    with VideoFileSource(path) as video:
        for frame in video:
            images.append(letterbox(frame.image, size))
            if len(images) >= max_frames:
                break
        fps = video.fps or 30.0
    return images, fps


def _default_clip() -> Path:
    folder = footage_folder()
    if folder is None or not (folder / "d10.mp4").is_file():
        raise FileNotFoundError("no footage: set STUDIO_FOOTAGE_DIR to a folder with d10.mp4, or pass --source")
    return folder / "d10.mp4"


def _run_window(rig, source, seconds: float, realtime: bool, warmup_s: float = 1.5, rig_view_size=None) -> dict:
    """Track ``source`` in a real window for ``warmup_s + seconds``; figures over the last ``seconds``."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from studio.core.tracking.live import STAGES
    from studio.ui.tools.live_view import RIG_VIEW_SIZE, LiveTrackingWindow

    app = QApplication.instance() or QApplication([])
    window = LiveTrackingWindow(rig, realtime=realtime, cameras=[], rig_view_size=rig_view_size or RIG_VIEW_SIZE)
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
    dropped_before = (shown[-1][1].frames_dropped if shown else 0, window.results_dropped)
    index_before = len(shown)
    window.reset_stage_times(maxlen=100_000)
    if not stopped:
        deadline.start(round(1e3 * seconds))
        loop.exec()
    end = time.perf_counter()
    draw_ms = window.stage_times("draw")
    gl_renderer = window.rig_view.gl_renderer
    rig_draws = window.rig_view.draw_count - draws_before
    window.stop()
    window.close()
    app.processEvents()
    measured = [result for t, result in shown[index_before:] if t <= end]
    if not measured:
        raise StudioError(f"no frame shown ({stopped[0] if stopped else 'no reason'})")
    elapsed = end - begin
    last = measured[-1]
    stages = {
        name: float(np.mean([r.stage_ms[name] for r in measured if name in r.stage_ms]))
        for name in STAGES
        if any(name in r.stage_ms for r in measured)
    }
    stages["draw"] = float(np.mean(draw_ms)) if draw_ms else float("nan")
    tracking_ms = [r.tracking_ms for r in measured if r.controls is not None]
    latency_ms = [1e3 * (t - r.read_at_s) for t, r in shown[index_before:] if t <= end]
    return {
        "seconds": float(elapsed),
        "start_s": float(first_at - started),
        "frames_shown": len(measured),
        "fps": float(len(measured) / elapsed),
        "rig_draws_per_s": float(rig_draws / elapsed),
        "source_fps": float(last.source_fps),
        "ms_per_frame": stages,
        "tracking_ms_mean": float(np.mean(tracking_ms)) if tracking_ms else float("nan"),
        "tracking_ms_p95": float(np.percentile(tracking_ms, 95)) if tracking_ms else float("nan"),
        "latency_ms_mean": float(np.mean(latency_ms)),
        "latency_ms_p95": float(np.percentile(latency_ms, 95)),
        "dropped_by_tracking": int(last.frames_dropped - dropped_before[0]),
        "dropped_by_display": int(window.results_dropped - dropped_before[1]),
        "frames_with_controls": int(sum(r.controls is not None for r in measured)),
        "ended": stopped[0] if stopped else None,
        "gl_renderer": gl_renderer,
    }


def run_live_benchmark(seconds: float = 10.0, source: str | None = None, seed: int = 0) -> dict:
    """Run the live view on a source and report end-to-end frame rate and per-stage times.

    Parameters
    ----------
    seconds : float
        Measured time per run (after 1.5 s of warm-up that also captures the neutral).
    source : str, optional
        ``memory:PATH``, ``synthetic[:SEED]``, a video path or ``camera:N``. By default both the
        pre-decoded footage (``memory:`` + the shared ``d10.mp4``) and ``synthetic:SEED``. A ``memory:``
        source is run twice: as fast as the pipeline goes, and at 30 fps like a camera.
    seed : int
        Seed of the synthetic performer when none is named.

    Returns
    -------
    dict
        ``runs``: per run ``fps`` (results shown per second), ``ms_per_frame`` (landmarks, alignment,
        solve, filter; ``draw`` = GUI time per shown frame), ``dropped_by_tracking`` (source frames
        skipped) and ``dropped_by_display`` (results replaced before being shown), ``source_fps``,
        ``rig_draws_per_s``; plus the image size, the rig view size and the CPU count.
    """
    display = ensure_display()
    try:
        from PySide6.QtWidgets import QApplication

        from studio.core.rig.rig import Rig
        from studio.ui.tools.live_view import RIG_VIEW_SIZE

        QApplication.instance() or QApplication([])
        rig = Rig.ict()
        specs = [source] if source else [f"memory:{_default_clip()}", f"synthetic:{seed}"]
        runs = {}
        for spec in specs:
            if spec.startswith("memory:"):
                path = Path(spec.partition(":")[2])
                images, _ = decode_letterboxed(path)
                frames = round((seconds + 10.0) * 60)
                for name, realtime in (("as_fast_as_possible", False), ("at_30fps", True)):
                    replay = MemoryFrames(images, 30.0, frames, f"memory:{path.name}")
                    runs[f"memory:{path.name}:{name}"] = _run_window(rig, replay, seconds, realtime=realtime)
            else:
                if spec == "synthetic":
                    spec = f"synthetic:{seed}"
                runs[spec] = _run_window(rig, spec, seconds, realtime=True)
    finally:
        if display is not None:
            display.stop()
    return {
        "benchmark": "live_view",
        "image_size": list(SIZE),
        "rig_view_size": list(RIG_VIEW_SIZE),
        "cpu_count": os.cpu_count(),
        "runs": runs,
    }


if __name__ == "__main__":
    print(json.dumps(run_live_benchmark(), indent=2))
