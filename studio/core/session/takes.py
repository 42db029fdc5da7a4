"""Takes inside a session: a video tracked with every rig the session has (θ_A, θ_S, θ̂_S).

A take lives in ``takes/<name>/`` of the session folder (``docs/session-format.md``):

- ``curves_<rig>.csv`` — the filtered controls per frame tracked with that rig (``theta_A``, and
  ``theta_S`` / ``theta_S_hat`` once the session has them), :class:`studio.core.io.curves.TakeCurves` layout;
- ``video.mp4`` — the take as recorded from a camera (:func:`record_take_job`; imported videos stay
  where they are); ``truth.npz`` beside it when the camera was a synthetic performer: the controls it
  performed per frame (``controls`` ``(T, K)``), for the review page's geometry-error heatmap;
- ``take.json`` — source, frames, frame rate, neutral frames, and per rig the tracking figures and the
  animator metrics (sparsity, tweaker usage: paper 001 Table 5 for this take). ``seconds``/``fps`` of
  θ_S and θ̂_S time their solve alone (the reconstruction is θ_A's).

:func:`track_session_take_job` reconstructs the video once (MediaPipe) and solves the same observations
with each rig (:func:`studio.core.tracking.take.solve_observations`). :func:`record_take_job` records a
camera (or a synthetic performer) into ``video.mp4`` first. Every file is written atomically,
``take.json`` last, so a take without it is incomplete and is not listed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

from studio.core.io.atomic_files import write_npz_atomic, write_text_atomic
from studio.core.io.curves import TakeCurves
from studio.core.jobs import Cancel, is_cancelled
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig, RigParameters
from studio.core.session.calibrate import THETA_S_FILE, THETA_S_HAT_FILE
from studio.core.session.folder import Session, SessionError
from studio.core.tracking.frame_sources import FrameSource
from studio.core.tracking.take import solve_observations, track_take
from studio.core.tracking.tracker import Tracker

TAKES_FOLDER = "takes"
TAKE_FILE = "take.json"
VIDEO_FILE = "video.mp4"
TRUTH_FILE = "truth.npz"
RIGS = ("theta_A", "theta_S", "theta_S_hat")
"""The rigs a take is tracked with, in order, when the session has them."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-+.]{0,63}$")


def session_rigs(session: Session) -> dict[str, RigParameters | None]:
    """The session's tracking rigs by name: ``theta_A`` (None: the rig's own) and the calibrated ones it has."""
    rigs: dict[str, RigParameters | None] = {"theta_A": None}
    for name, file in (("theta_S", THETA_S_FILE), ("theta_S_hat", THETA_S_HAT_FILE)):
        path = Path(session.calibration_folder) / file
        if path.exists():
            rigs[name] = RigParameters.load(path)
    return rigs


def take_folder(session: Session, name: str) -> Path:
    """``takes/<name>/`` of the session (the name checked: letters, digits, ``_ - + .``, ≤ 64)."""
    if not _NAME.match(name) or name.endswith(".tmp"):
        raise SessionError(f"take name {name!r}: use letters, digits and _ - + . (at most 64)")
    return Path(session.folder) / TAKES_FOLDER / name


def list_takes(folder: str | Path) -> list[str]:
    """Names of the session's complete takes (those with a ``take.json``), sorted."""
    root = Path(folder) / TAKES_FOLDER
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / TAKE_FILE).is_file())


def load_take(folder: str | Path, name: str) -> tuple[dict[str, Any], dict[str, TakeCurves]]:
    """A take's ``take.json`` and its curves per rig."""
    session = Session.open(folder)
    path = take_folder(session, name)
    try:
        info = json.loads((path / TAKE_FILE).read_text())
    except (OSError, ValueError) as error:
        raise SessionError(f"{path / TAKE_FILE}: unreadable take ({error})") from error
    curves = {rig: TakeCurves.read_csv(path / f"curves_{rig}.csv") for rig in info["rigs"]}
    return info, curves


def track_session_take_job(
    folder: str | Path,
    source: FrameSource,
    name: str,
    neutral: str | tuple[int, int] = "auto",
    filter_name: str = "smooth",
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, dict[str, Any]]:
    """Track a video into the session as take ``name`` with each of its rigs; returns ``take.json``'s data.

    Yields ``(stage, done, total)``: ``landmarks`` per frame, then ``solve`` per rig. Raises
    :class:`studio.core.jobs.JobCancelled` when ``cancel`` is set (nothing written),
    :class:`studio.core.tracking.tracker.TrackingError` for a take without a face.
    """
    session = Session.open(folder)
    path = take_folder(session, name)
    rig = Rig.ict()
    definition = RigDefinition.ict()
    tweakers = definition.tweaker_indices()
    rigs = session_rigs(session)
    base = yield from track_take(
        source, Tracker.ict(rig), neutral, filter_name, tweakers, cancel=lambda: is_cancelled(cancel)
    )
    results = {"theta_A": base}
    neutral_range = (base.neutral.start, base.neutral.stop)
    for index, (label, parameters) in enumerate(rigs.items()):
        yield ("solve", index, len(rigs))
        if parameters is not None:
            tracker = Tracker.ict(rig.with_parameters(parameters))
            results[label] = solve_observations(
                base.observations, tracker, neutral_range, filter_name, source.fps, tweakers
            )
    yield ("solve", len(rigs), len(rigs))
    path.mkdir(parents=True, exist_ok=True)
    for label, result in results.items():
        result.curves.write_csv(path / f"curves_{label}.csv")
    info = {
        "name": name,
        "source": str(source.name),
        "frames": base.curves.num_frames,
        "fps": base.curves.fps,
        "neutral_frames": list(neutral_range),
        "filter": filter_name,
        "rigs": list(results),
        "stats": {
            label: {k: v for k, v in r.stats.items() if isinstance(v, int | float | str | list)}
            for label, r in results.items()
        },
    }
    write_text_atomic(path / TAKE_FILE, json.dumps(info, indent=2) + "\n")
    return info


def record_take_job(
    folder: str | Path,
    source: FrameSource,
    name: str,
    seconds: float,
    realtime: bool = True,
    stop: Cancel = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, Path]:
    """Record a take from a camera into ``takes/<name>/video.mp4`` (a generator job); returns the file.

    The video is written to a temporary file and renamed when complete, so a cancelled or failed recording
    leaves nothing behind. When the frames carry ground truth (a synthetic performer), the performed controls
    are saved as ``truth.npz`` (``controls``, ``(T, K)``) first. Frames keep the source's size; the file's frame rate is the source's (30 when
    unknown).

    Parameters
    ----------
    folder : path
        The session folder.
    source : FrameSource
        The camera (read in a thread of its own: the newest frame when ``realtime``), not closed here.
    name : str
        The take's name (letters, digits, ``_ - + .``).
    seconds : float
        Longest recording, seconds of source time.
    realtime : bool
        As in :class:`studio.core.tracking.live.LatestFrameReader`.
    stop : callable, object with ``is_set()``, or None
        Ends the recording early, keeping what was recorded.
    cancel : callable, object with ``is_set()``, or None
        Ends it and discards it.

    Yields
    ------
    tuple
        ``("recording", frames_done, frames_total)``.

    Raises
    ------
    JobCancelled
        ``cancel`` was set.
    SessionError
        The source gave no frame, or the video cannot be written.
    """
    import cv2
    import numpy as np

    from studio.core.jobs import JobCancelled
    from studio.core.tracking.live import LatestFrameReader

    session = Session.open(folder)
    path = take_folder(session, name)
    if (path / TAKE_FILE).exists():
        raise SessionError(f"take {name!r} exists already in {session.folder}; choose another name")
    fps = float(source.fps or 30.0)
    total = max(1, int(round(seconds * fps)))
    path.mkdir(parents=True, exist_ok=True)
    partial = path / f".{VIDEO_FILE}.tmp.mp4"
    writer = None
    frames = 0
    truth: list[np.ndarray] = []
    reader = LatestFrameReader(source, realtime=realtime, name="take-recorder").start()
    try:
        while frames < total and not is_cancelled(stop):
            if is_cancelled(cancel):
                raise JobCancelled(f"recording of {name} cancelled")
            frame = reader.take(timeout_s=0.05)
            if frame is None:
                if reader.finished:
                    break
                continue
            image = np.ascontiguousarray(np.asarray(frame.image, np.uint8)[..., ::-1])
            if writer is None:
                height, width = image.shape[:2]
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise SessionError(f"{partial}: cannot write an mp4 video here")
            writer.write(image)
            if frame.truth_controls is not None:
                truth.append(np.asarray(frame.truth_controls, np.float32))
            frames += 1
            yield ("recording", frames, total)
    except BaseException:
        if writer is not None:
            writer.release()
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.stop()
    if writer is None:
        raise SessionError(f"{source.name}: no frame came from the camera")
    writer.release()
    if len(truth) == frames:
        write_npz_atomic(path / TRUTH_FILE, {"controls": np.stack(truth)})
    video = path / VIDEO_FILE
    partial.replace(video)
    return video
