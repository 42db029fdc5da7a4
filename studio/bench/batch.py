"""``bench batch``: a shoot of 8 clips processed on a local Ray with 1 and with 2 workers.

The clips are cut from the real footage in ``../shared/footage`` (``STUDIO_FOOTAGE_DIR``): each clip is split
into consecutive pieces of :data:`CLIP_FRAMES` frames (re-encoded as H.264 at their own times) until there are
8. The performer's session is a synthetic performer's, captured and calibrated first (not timed). Each run
starts from an empty output folder and a session without the shoot's takes, and does the whole job — Ray's
start included — tracking each take with θ_A and θ_S, retargeting it to the stylized target and exporting
Live Link Face CSV and glTF.

Figures per run: wall seconds, takes per minute, and the machine's CPU use over the run (busy share of all
cores, from ``/proc/stat``), with the ratio of the two runs' wall times measured in this one run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["run_batch_benchmark"]

CLIP_FRAMES = 150
CLIPS = 8


def _cpu_counters() -> tuple[float, float]:
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [float(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields), idle


def _cut_clips(footage: Path, folder: Path) -> list[Path]:
    from studio.core.io.media import TakeVideoWriter
    from studio.core.tracking.frame_sources import VideoFileSource

    clips: list[Path] = []
    sources = sorted(footage.glob("*.mp4"))
    if not sources:
        raise FileNotFoundError(f"{footage}: no .mp4 clips (set STUDIO_FOOTAGE_DIR to ../shared/footage)")
    while len(clips) < CLIPS:
        for source_path in sources:
            part = len([c for c in clips if c.stem.startswith(source_path.stem)])
            with VideoFileSource(source_path) as source:
                if source.num_frames < (part + 1) * CLIP_FRAMES:
                    part = part % max(1, source.num_frames // CLIP_FRAMES)  # a short clip repeats its pieces
                frames = list(source.frames(part * CLIP_FRAMES, (part + 1) * CLIP_FRAMES))
            path = folder / f"{source_path.stem}-{len(clips):02d}.mp4"
            writer = TakeVideoWriter(path, frames[0].size, source.fps or 30.0)
            for frame in frames:
                writer.add_frame(frame.image, frame.time_s - frames[0].time_s)
            clips.append(writer.close())
            if len(clips) == CLIPS:
                break
    return clips


def run_batch_benchmark(workers: tuple[int, ...] = (1, 2), seed: int = 0) -> dict:
    """Process the same 8 clips with each number of local Ray workers; figures in the module docstring."""
    from studio.core.jobs import run_job
    from studio.core.session.calibrate import calibrate_session
    from studio.core.session.folder import Session
    from studio.core.session.shoot import batch_job
    from studio.core.session.synthetic import synthetic_session_job
    from studio.render.synthetic_performer import PromptedPerformerSource

    footage = Path(os.environ.get("STUDIO_FOOTAGE_DIR", Path(__file__).resolve().parents[3] / "shared" / "footage"))
    with tempfile.TemporaryDirectory(prefix="studio-bench-batch-") as scratch:
        root = Path(scratch)
        shoot = root / "shoot"
        shoot.mkdir()
        clips = _cut_clips(footage, shoot)
        session_folder = root / "session"
        run_job(synthetic_session_job(session_folder, 100 + seed, lambda rig: PromptedPerformerSource(rig, seed=seed),
                                      ["jaw_open", "smile", "brows_up"]))  # fmt: skip
        calibrate_session(session_folder)
        runs = {}
        for count in workers:
            for take in Session.open(session_folder).take_names():
                shutil.rmtree(Session.open(session_folder).take_folder(take))
            out = root / f"out-{count}"
            total, idle = _cpu_counters()
            started = time.perf_counter()
            rows = run_job(batch_job(shoot, session_folder, out, targets=["performer", "toon"],
                                     formats=["livelink", "glb"], workers=count))  # fmt: skip
            seconds = time.perf_counter() - started
            total_after, idle_after = _cpu_counters()
            busy = 1.0 - (idle_after - idle) / max(total_after - total, 1e-9)
            runs[str(count)] = {
                "wall_s": round(seconds, 1),
                "takes_per_min": round(60.0 * len(rows) / seconds, 2),
                "cpu_use": round(busy, 3),
                "takes_done": sum(1 for r in rows if r.get("status") == "done"),
                "take_seconds_mean": round(sum(r.get("seconds") or 0 for r in rows) / len(rows), 1),
            }
        first, last = str(workers[0]), str(workers[-1])
        return {
            "clips": len(clips),
            "clip_frames": CLIP_FRAMES,
            "cores": os.cpu_count(),
            "runs": runs,
            "speedup": round(runs[first]["wall_s"] / runs[last]["wall_s"], 2),
        }
