"""A whole shoot at once: every video of a folder tracked into a session, retargeted and exported, on Ray.

:func:`batch_job` (a generator job) finds the videos of a shoot folder (recursively, :data:`VIDEO_EXTENSIONS`),
and runs :func:`process_video` for each as a Ray task — on a local Ray the job starts by default (no setup; its
driver runs in a child process, so Ray's signal handlers and threads stay out of the studio's own process), or
on an existing cluster (``ray_address``). Each task, on one core (torch and OpenCV held to one
thread; one MediaPipe):

1. tracks the video into the session as take ``shoot-<path>`` with every rig the session has
   (:func:`~studio.core.session.takes.track_session_take_job`: θ_A, θ_S, θ̂_S; the curves, ``take.json``), so
   the take opens in the review like any other;
2. retargets the take — the session's rig for takes, after the session's per-shape response — to each target
   and writes each format into ``OUT/<take>/<target>.<ext>`` (atomically);
3. writes ``OUT/<take>/result.json`` last: its row of the summary. It marks the take finished: a second run
   skips it (resumability — a killed run loses nothing finished), a failed take included unless
   ``retry_failed``.

A corrupt video fails its own take with one line in its row; the others go on. The summary —
``OUT/summary.csv`` and ``OUT/summary.json``: take, video, frames, face %, residual (mm), sparsity, seconds,
status, error — is rewritten (atomically, together) as each take finishes.

Errors before any work (one line): a shoot folder without videos, a session without θ_S, an unknown target
or format, a Ray address that does not answer.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

from studio.core.errors import StudioError
from studio.core.io.atomic_files import (
    json_text,
    text_writer,
    write_json_atomic,
    write_text_atomic,
    write_together,
)
from studio.core.io.exports import EXPORT_FORMATS
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.session.folder import Session, SessionError
from studio.core.tracking.frame_sources import VIDEO_EXTENSIONS

__all__ = ["SUMMARY_COLUMNS", "ShootError", "batch_job", "find_videos", "process_video", "take_name_for"]

#: The columns of ``summary.csv`` (and the keys of each row of ``summary.json``).
SUMMARY_COLUMNS = ("take", "video", "frames", "face_percent", "residual_mm", "sparsity", "seconds", "status", "error")
RESULT_FILE = "result.json"
#: The name of the performer's own rig among the targets (exports on the session's rig, no retargeting).
PERFORMER = "performer"


class ShootError(StudioError):
    """A shoot cannot be processed (one line): no videos, no θ_S, a bad target or format, Ray not answering."""


def find_videos(folder: str | os.PathLike) -> list[Path]:
    """The videos under ``folder`` (recursively; hidden folders and the batch's own output skipped), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise ShootError(f"{root}: not a folder")
    videos = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS
              and not any(part.startswith(".") for part in p.relative_to(root).parts)]  # fmt: skip
    if not videos:
        raise ShootError(f"{root}: no video in this folder or below ({' '.join(VIDEO_EXTENSIONS)})")
    return sorted(videos)


def take_name_for(video: Path, root: Path) -> str:
    """The session take of a shoot's video: ``shoot-`` and its path below the shoot folder, as a take name
    (letters, digits, ``_ - + .``; at most 64, a long path keeps its end)."""
    relative = video.relative_to(root).with_suffix("")
    name = "shoot-" + (re.sub(r"[^A-Za-z0-9_+.-]+", "-", "-".join(relative.parts)).strip("-.") or "video")
    return name if len(name) <= 64 else name[-64:].lstrip("-.")


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def process_video(session_folder: str, video: str, take: str, out_folder: str, targets: Sequence[str],
                  formats: Sequence[str], threads: int = 1) -> dict[str, Any]:
    """One video of a shoot, start to finish (module docstring); returns its summary row, never raises for a
    bad video (its row says ``failed`` and why). Runs in a Ray task or anywhere."""
    import cv2
    import torch

    from studio.core.jobs import run_job
    from studio.core.retarget.curves import export_take
    from studio.core.rig.metrics import sparsity, take_mean
    from studio.core.session.takes import load_take, track_session_take_job
    from studio.core.session.targets import open_target
    from studio.core.tracking.frame_sources import VideoFileSource

    started = time.perf_counter()
    torch.set_num_threads(max(1, int(threads)))
    cv2.setNumThreads(max(1, int(threads)))
    row: dict[str, Any] = {"take": take, "video": video, "frames": 0, "face_percent": None, "residual_mm": None,
                           "sparsity": None, "seconds": None, "status": "failed", "error": ""}  # fmt: skip
    folder = Path(out_folder) / take
    try:
        session = Session.open(session_folder)
        if take not in session.take_names():
            with VideoFileSource(video) as source:
                run_job(track_session_take_job(session, source, take))
        result = load_take(session, take)
        rig = session.takes_rig if session.takes_rig in result.report.rigs else result.report.rigs[0]
        curves = result.with_response(rig)
        stats = result.report.stats[rig]
        folder.mkdir(parents=True, exist_ok=True)
        for name in targets:
            target = None if name == PERFORMER else open_target(name)
            for fmt in formats:
                export_take(curves, fmt, folder / f"{_file_stem(name)}{EXPORT_FORMATS[fmt].suffix}", target,
                            start_timecode=result.report.start_timecode or None)  # fmt: skip
        row.update(frames=stats.frames, face_percent=round(100.0 * stats.face_fraction, 1),
                   residual_mm=round(stats.fit_residual_mm, 3), sparsity=round(take_mean(sparsity(curves.values)), 4),
                   status="done")  # fmt: skip
    except Exception as error:  # a bad video (or anything else) fails its own take, in one line
        row["error"] = _one_line(error)
    row["seconds"] = round(time.perf_counter() - started, 2)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / RESULT_FILE, row)
    return row


def _file_stem(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9_+.-]+", "_", target)


def _finished_row(out: Path, take: str, retry_failed: bool) -> dict[str, Any] | None:
    path = out / take / RESULT_FILE
    try:
        row = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(row, dict) or row.get("status") not in ("done", "failed"):
        return None
    if row["status"] == "failed" and retry_failed:
        return None
    return row


def _write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    """``summary.csv`` and ``summary.json`` of the rows so far (their :data:`SUMMARY_COLUMNS`), together."""
    rows = [{key: row.get(key) for key in SUMMARY_COLUMNS} for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["take"]):
        writer.writerow({key: ("" if row.get(key) is None else row.get(key)) for key in SUMMARY_COLUMNS})
    document = {"format": "simon-says-shoot-summary", "version": 1, "takes": sorted(rows, key=lambda r: r["take"])}
    write_together({out / "summary.csv": text_writer(buffer.getvalue()), out / "summary.json": text_writer(json_text(document))})


def check_ray_address(address: str, timeout_s: float = 3.0) -> None:
    """Refuse, in one line, a Ray address whose head does not answer (before Ray's own long wait)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ShootError(f"Ray address {address!r}: expected HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as error:
        raise ShootError(f"Ray at {address} does not answer ({error.strerror or error})") from None


def batch_job(
    shoot: str | os.PathLike,
    session_folder: str | os.PathLike,
    out: str | os.PathLike | None = None,
    targets: Sequence[str] = (PERFORMER,),
    formats: Sequence[str] = ("livelink",),
    ray_address: str | None = None,
    workers: int | None = None,
    retry_failed: bool = False,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, list[dict[str, Any]]]:
    """Process every video of ``shoot`` (a generator job: ``("takes", finished, total)``); returns the rows.

    Parameters
    ----------
    shoot : path
        The shoot folder (videos found recursively).
    session_folder : path
        The performer's session; it must have θ_S (calibrated).
    out : path, optional
        Where exports and the summary go (default ``<shoot>/studio-batch``).
    targets : sequence of str
        Retarget targets by name (``performer``: the session's own rig, no retargeting).
    formats : sequence of str
        Export formats (:data:`~studio.core.io.exports.EXPORT_FORMATS`).
    ray_address : str, optional
        An existing Ray cluster's head (``HOST:PORT``); by default a local Ray in this process.
    workers : int, optional
        Tasks at once on a local Ray (default: one per core).
    retry_failed : bool
        Run failed takes again (by default a second run skips every finished take, failed ones too).
    cancel : callable or event, optional
        Stops submitting and cancels running tasks; finished takes stay.

    Raises
    ------
    ShootError
        No videos, a session without θ_S, an unknown target or format, Ray not answering.
    """
    root = Path(shoot)
    videos = find_videos(root)
    out_folder = Path(out) if out is not None else root / "studio-batch"
    try:
        session = Session.open(session_folder)
    except SessionError as error:
        raise ShootError(str(error)) from None
    if not session.rig_parameters_path("theta_S").is_file():
        raise ShootError(f"{session.folder}: the session has no θ_S yet: calibrate it first (the Calibration page, "
                         "or python main.py calibrate)")  # fmt: skip
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown or not formats:
        raise ShootError(f"unknown export format {unknown[0] if unknown else '(none)'!r}: choose from "
                         f"{', '.join(EXPORT_FORMATS)}")  # fmt: skip
    _check_targets(targets)
    if ray_address:
        check_ray_address(ray_address)
    out_folder.mkdir(parents=True, exist_ok=True)
    names = [take_name_for(v, root) for v in videos]
    rows: list[dict[str, Any]] = []
    pending = []
    for video, name in zip(videos, names, strict=True):
        row = _finished_row(out_folder, name, retry_failed)
        if row is not None:
            rows.append({**row, "skipped": True})
        else:
            pending.append((video, name))
    total = len(videos)
    yield ("takes", len(rows), total)
    if pending:
        yield from _run_on_ray(pending, session.folder, out_folder, targets, formats, ray_address, workers, rows,
                               total, cancel)  # fmt: skip
    _write_summary(out_folder, rows)
    return rows


def _check_targets(targets: Sequence[str]) -> None:
    from studio.core.retarget.targets import available_targets

    known = {info.name for info in available_targets()} | {PERFORMER}
    for name in targets:
        if name not in known and not name.startswith("session:") and not Path(name).is_file():
            raise ShootError(f"unknown target {name!r}: choose from {', '.join(sorted(known))}, a target file, "
                             "or session:FOLDER")  # fmt: skip
    if not targets:
        raise ShootError("no target: give at least one (performer for the session's own rig)")


def _run_on_ray(pending, session_folder: Path, out_folder: Path, targets, formats, ray_address, workers, rows,
                total, cancel) -> Generator[tuple[str, int, int], None, None]:
    """Run the pending takes through Ray's driver in a child process, following their ``result.json`` files.

    The driver is a child process because Ray's core worker, once started in a process, keeps its own handlers
    for fatal signals there (a crash would no longer be reported by Python's faulthandler) and threads of its
    own: the studio's process — a GUI, a test run — stays free of it. Cancelling terminates the driver, which
    stops Ray and its tasks; finished takes stay.
    """
    import multiprocessing

    error_file = out_folder / DRIVER_ERROR_FILE
    error_file.unlink(missing_ok=True)
    for _video, name in pending:  # a failed take run again: its old result is not this run's
        (out_folder / name / RESULT_FILE).unlink(missing_ok=True)
    context = multiprocessing.get_context("spawn")
    driver = context.Process(
        target=_ray_driver, name="studio-ray-driver", daemon=True,
        args=([(str(v), n) for v, n in pending], str(session_folder), str(out_folder), list(targets), list(formats),
              ray_address, workers),
    )  # fmt: skip
    driver.start()
    waiting = {name for _video, name in pending}
    try:
        while waiting:
            if is_cancelled(cancel):
                raise JobCancelled(f"batch cancelled after {len(rows)} of {total} takes", partial=rows)
            results = {name: _finished_row(out_folder, name, False) for name in waiting}
            finished = [name for name, row in results.items() if row is not None]
            for name in finished:
                rows.append(results[name])
                waiting.discard(name)
            if finished:
                _write_summary(out_folder, rows)
                yield ("takes", len(rows), total)
            if not driver.is_alive() and waiting:
                if any(_finished_row(out_folder, name, False) is not None for name in waiting):
                    continue  # the last results landed between the read above and the driver's end
                reason = error_file.read_text(encoding="utf-8").strip() if error_file.is_file() else (
                    f"Ray's driver ended with code {driver.exitcode}")  # fmt: skip
                for name in sorted(waiting):
                    rows.append({"take": name, "status": "failed", "error": reason})
                waiting.clear()
                _write_summary(out_folder, rows)
                if error_file.is_file():
                    raise ShootError(reason)
                yield ("takes", len(rows), total)
                break
            driver.join(0.25)
    finally:
        if driver.is_alive():
            driver.terminate()  # Ray shuts down with its driver
            driver.join(10.0)
            if driver.is_alive():
                driver.kill()
        error_file.unlink(missing_ok=True)


#: Written by the driver process when Ray cannot run the shoot at all (one line).
DRIVER_ERROR_FILE = ".ray-driver-error"


def _ray_driver(pending, session_folder: str, out_folder: str, targets, formats, ray_address, workers) -> None:
    """The child process's work: start Ray (locally, or join ``ray_address``), run a task per take, stop Ray.
    Each task writes its own ``result.json``; a task whose process died gets a failed one here."""
    import ray

    try:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if ray_address:
            ray.init(address=ray_address, **options)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, **options)
    except Exception as error:  # Ray could not start: the parent reports it in one line
        write_text_atomic(Path(out_folder) / DRIVER_ERROR_FILE, f"Ray did not start: {_one_line(error)}\n")
        return
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(process_video)
        refs = {task.remote(session_folder, video, name, out_folder, targets, formats): name for video, name in pending}
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            for ref in ready:
                try:
                    ray.get(ref)
                except Exception as error:  # the task's process died (out of memory, killed): its take fails
                    row = {"take": refs[ref], "video": "", "status": "failed", "error": _one_line(error)}
                    folder = Path(out_folder) / refs[ref]
                    folder.mkdir(parents=True, exist_ok=True)
                    write_json_atomic(folder / RESULT_FILE, row)
    finally:
        ray.shutdown()
