"""Benchmark: the live view end to end (real window, real worker): frames shown per second and per-stage ms.

The window (:class:`studio.ui.tools.live_view.LiveTrackingWindow`) tracks a source for ``seconds`` and the
figures are read from what it showed: ``fps`` is results shown per second (each with its image, landmarks
and, once the neutral is captured, a redrawn rig), ``ms_per_frame`` the mean, median and 95th percentile of
each stage (:data:`studio.core.tracking.live.STAGES`: decode, MediaPipe, hand-off, alignment, solve, gaze,
filter, pose on the tracking threads; ``draw``: GUI time per shown frame, that is setting the image,
landmarks and mesh plus painting both views; ``rig_draw``: the part of it that drew the rig, on the frames
that redrew it), ``dropped`` the source frames tracking skipped plus the
results the GUI replaced before showing them, ``latency_ms`` the time from a frame leaving the source to its
result being handed to the views (the paint follows within one event-loop pass) and ``gui_stall_ms_max`` the
longest the GUI's event loop was kept from a 5 ms timer.

Sources:

- ``memory:PATH`` (the default is ``memory:`` + ``d10.mp4`` of the shared footage): the clip's frames decoded
  and letterboxed to 640×480 *before* the run and replayed from memory, so the measured path is exactly
  reconstruction + solve + filter + draw (no decoding, no rendering). Fed like a camera at 60 and at 30 fps
  (``realtime=True``: does it keep up?), as fast as the pipeline goes (``realtime=False``: capacity), at 60 fps
  with a CPU-heavy process beside the studio (does it degrade gracefully?) and at 60 fps with the learned
  tracker.
- ``synthetic:SEED``: the synthetic performer rendered live in the reader thread (EGL; 25–35 ms a frame on
  two cores), which competes with tracking and drawing for the CPU: not part of "the whole path".
- a video path or ``camera:N``: as the live view plays them.

Needs a display: run under ``xvfb-run -a`` (it starts Xvfb itself when pyvirtualdisplay is there).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from studio.bench.footage import footage_folder
from studio.bench.inspector import ensure_display
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


@contextmanager
def cpu_load(busy: bool = True) -> Iterator[None]:
    """A CPU-heavy job beside the studio while the block runs: a separate Python process spinning on one core
    (as a compiler or an export would), stopped afterwards. ``busy=False``: nothing."""
    if not busy:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def run_live_benchmark(seconds: float = 10.0, source: str | None = None, seed: int = 0) -> dict:
    """Run the live view on a source and report frame rate, latency and per-stage times.

    Parameters
    ----------
    seconds : float
        Measured time per run (after 1.5 s of warm-up that also captures the neutral).
    source : str, optional
        ``memory:PATH``, ``synthetic[:SEED]``, a video path or ``camera:N``. By default the pre-decoded
        footage (``memory:`` + the shared ``d10.mp4``) and ``synthetic:SEED``. A ``memory:`` source is run
        fed at 60 fps and at 30 fps like a camera, as fast as the pipeline goes, at 60 fps with a CPU-heavy
        job beside it (:func:`cpu_load`), and at 60 fps with the learned tracker (when its weights are there).
    seed : int
        Seed of the synthetic performer when none is named.

    Returns
    -------
    dict
        ``runs``: per run ``fps`` (results shown per second), ``latency_ms`` (frame out of the source → shown;
        mean, p50, p95), ``ms_per_frame`` (per stage of :data:`studio.core.tracking.live.STAGES` and ``draw``
        = GUI time per shown frame; mean, p50, p95), ``dropped_by_tracking`` and ``dropped_by_display``,
        ``gui_stall_ms_max``, ``source_fps``, ``rig_draws_per_s``; plus the image size, the rig view size and
        the CPU count.
    """
    display = ensure_display()
    try:
        from studio.core.rig.rig import Rig
        from studio.core.tracking.inversion.tracker import network_path
        from studio.ui.measurements import RIG_VIEW_SIZE, measure_live_window

        rig = Rig.ict()
        specs = [source] if source else [f"memory:{_default_clip()}", f"synthetic:{seed}"]
        runs = {}
        for spec in specs:
            if spec.startswith("memory:"):
                path = Path(spec.partition(":")[2])
                images, _ = decode_letterboxed(path)
                plans = [  # name, fed at (None: as fast as possible), CPU load, tracker
                    ("at_60fps", 60.0, False, "landmarks"),
                    ("at_30fps", 30.0, False, "landmarks"),
                    ("as_fast_as_possible", None, False, "landmarks"),
                    ("at_60fps_under_load", 60.0, True, "landmarks"),
                ]
                if network_path().is_file():
                    plans.append(("at_60fps_network", 60.0, False, "network"))
                for name, fps, busy, tracker in plans:
                    frames = round((seconds + 10.0) * (fps or 120.0))
                    replay = MemoryFrames(images, fps or 60.0, frames, f"memory:{path.name}")
                    with cpu_load(busy):
                        runs[f"memory:{path.name}:{name}"] = measure_live_window(
                            rig, replay, seconds, realtime=fps is not None, tracker=tracker)
            else:
                if spec == "synthetic":
                    spec = f"synthetic:{seed}"
                runs[spec] = measure_live_window(rig, spec, seconds, realtime=True)
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
