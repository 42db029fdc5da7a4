"""Benchmark of ``track``'s memory against the length of the take: peak RSS at 15 s and at 5 minutes of video.

Run ``python main.py bench track-memory --json OUT.json`` (footage ``d10.mp4`` from ``$STUDIO_FOOTAGE_DIR`` or
``../shared/footage``). The real clip (14.9 s, 512×512, 30 fps) is looped into two videos (MPEG-4 Part 2, in a
temporary folder) of ``--seconds`` and ``--minutes``; each is tracked in a fresh process, and the process's
peak resident set size (``ru_maxrss`` of the child) is reported:

* ``streamed``: ``main.py track VIDEO --out CURVES.csv --json STATS.json``, which streams the take (landmarks to
  a temporary file, solved a chunk at a time);
* ``kept``: :func:`studio.core.tracking.take.track_take` keeping every frame's observation in memory, as a
  session take does to re-solve with θ_S and θ̂_S (what ``track`` did before it streamed).

``growth_kb_per_frame`` is ``(peak_long − peak_short) / (frames_long − frames_short)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from studio.bench.footage import footage_folder
from studio.core.errors import StudioError

_KEPT = (
    "import sys\n"
    "from studio.core.jobs import run_job\n"
    "from studio.core.tracking.frame_sources import VideoFileSource\n"
    "from studio.core.tracking.rig_bundle import RigBundle\n"
    "from studio.core.tracking.take import track_take\n"
    "bundle = RigBundle.load()\n"
    "with VideoFileSource(sys.argv[1]) as source:\n"
    "    result = run_job(track_take(source, bundle.tracker(), tweaker_indices=bundle.definition.tweaker_indices()))\n"
    "result.curves.write_csv(sys.argv[2])\n"
)
_STREAMED = "import sys\nfrom studio.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def _loop_clip(source: Path, out: Path, seconds: float) -> int:
    """Write ``seconds`` of ``source`` looped as an MPEG-4 video at ``out``; returns the frames written."""
    import cv2

    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    if not frames:
        raise FileNotFoundError(f"{source}: no frames")
    total = int(round(seconds * fps))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for index in range(total):
        cycle, position = divmod(index, len(frames))
        writer.write(frames[position if cycle % 2 == 0 else len(frames) - 1 - position])  # back and forth: no cut
    writer.release()
    return total


def _peak_rss_mb(argv: list[str]) -> tuple[float, float]:
    """Run ``argv`` to the end; its peak RSS (MiB) and wall seconds. Raises when it fails."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.returncode != 0:
        raise StudioError(f"{' '.join(argv[:3])} … failed (exit {child.returncode}): {error.strip()[-500:]}")
    return usage.ru_maxrss / 1024.0, time.perf_counter() - started


def run_track_memory_benchmark(seconds: float = 15.0, minutes: float = 5.0, footage: str | None = None) -> dict:
    """Peak RSS of tracking a short and a long take, streamed and kept (see the module docstring)."""
    folder = Path(footage) if footage else footage_folder()
    clip = folder / "d10.mp4" if folder is not None else None
    if clip is None or not clip.is_file():
        raise FileNotFoundError("no footage: set STUDIO_FOOTAGE_DIR to a folder with d10.mp4")
    report: dict = {"benchmark": "track-memory", "clip": str(clip), "takes": {}}
    with tempfile.TemporaryDirectory(prefix="studio-track-memory-") as tmp:
        lengths = {"short": seconds, "long": 60.0 * minutes}
        for name, length in lengths.items():
            video = Path(tmp) / f"{name}.mp4"
            frames = _loop_clip(clip, video, length)
            take: dict = {"seconds": length, "frames": frames}
            out = Path(tmp) / f"{name}.csv"
            streamed = [sys.executable, "-c", _STREAMED, "track", str(video), "--out", str(out),
                        "--json", str(Path(tmp) / f"{name}.json"), "--quiet"]  # fmt: skip
            kept = [sys.executable, "-c", _KEPT, str(video), str(Path(tmp) / f"{name}-kept.csv")]
            for mode, argv in (("streamed", streamed), ("kept", kept)):
                peak, wall = _peak_rss_mb(argv)
                take[mode] = {"peak_rss_mb": round(peak, 1), "wall_s": round(wall, 1)}
            report["takes"][name] = take
    short, long = report["takes"]["short"], report["takes"]["long"]
    extra_frames = max(long["frames"] - short["frames"], 1)
    report["growth_kb_per_frame"] = {
        mode: round(1024.0 * (long[mode]["peak_rss_mb"] - short[mode]["peak_rss_mb"]) / extra_frames, 2)
        for mode in ("streamed", "kept")
    }
    return report
