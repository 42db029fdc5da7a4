"""Synthetic sessions: a whole Simon-Says session recorded from a synthetic performer with a known θ_GT.

:func:`synthetic_session_job` records every expression of a packaged set from a synthetic performer whose
motion signature θ_GT is known (rendered, then MediaPipe), so the workflow runs without a camera and a
calibration can be checked against the truth; :func:`capture_session_job` is its capture loop (neutral
first, each capture saved as it finishes, captured ones skipped so an interrupted session resumes).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.capture.burst import NEUTRAL, BurstCapture, CaptureError, capture_expression_job
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.jobs import Cancel, JobCancelled
from studio.core.rig.definition import RigDefinition
from studio.core.rig.performer_model import performer_rig_parameters
from studio.core.rig.rig import Rig, RigParameters
from studio.core.session.calibrate import GROUND_TRUTH_FILE, _quality
from studio.core.session.folder import Session, SessionStatus
from studio.core.tracking.frame_sources import FrameSource
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.tracker import Tracker


def capture_session_job(
    session: Session,
    source_factory: Callable[[str], FrameSource],
    expression_set_names: Sequence[str] | None = None,
    reconstructor: GeometryReconstructor | None = None,
    tracker: Tracker | None = None,
    burst_frames: int = 30,
    max_wait_s: float = 10.0,
    cancel: Cancel = None,
    quality_flags: Callable[[str, BurstCapture], list] | None = None,
) -> Generator[tuple[Any, ...], None, SessionStatus]:
    """Capture a Simon-Says session (a generator job): neutral first, then each expression in order.

    Expressions already captured in ``session`` are skipped, so running the job again on an interrupted
    session resumes it. The neutral's averaged landmarks become the tracker's performer neutral before
    any expression is captured (loaded from the session when the neutral was captured earlier), so
    expressions are aligned onto the performer's own neutral, as tracking does.

    Parameters
    ----------
    session : Session
        Where captures are saved, one by one, as each finishes.
    source_factory : callable
        ``source_factory(name) -> FrameSource`` for each expression name (``"neutral"`` first); the source
        is closed after its capture. A GUI prompts the performer before returning the camera source.
    expression_set_names : sequence of str, optional
        The expressions to capture in order (``"neutral"`` is added first if absent); by default the
        session's list.
    reconstructor : GeometryReconstructor, optional
        By default a new video-mode one, closed at the end.
    tracker : Tracker, optional
        By default :meth:`Tracker.ict() <studio.core.tracking.tracker.Tracker.ict>`. Its performer neutral is set.
    burst_frames, max_wait_s : int, float
        As in :func:`capture_expression_job`.
    cancel : callable, object with ``is_set()``, or None
        Checked before each frame; the captures saved so far stay in the session.
    quality_flags : callable, optional
        ``quality_flags(name, capture) -> list`` gives the flags saved with each capture.

    Yields
    ------
    tuple
        ``(name, "skipped")``, ``(name, "waiting", speed_mm_per_s)``,
        ``(name, "capturing", i, burst_frames)`` and ``(name, "saved")``.

    Returns
    -------
    SessionStatus
        The session's status at the end.

    Raises
    ------
    CaptureError
        An expression could not be captured (message names it); earlier captures are saved.
    JobCancelled
        ``cancel`` was set; ``partial`` is the session's status.
    """
    names = list(session.expression_names if expression_set_names is None else expression_set_names)
    names = [NEUTRAL] + [name for name in names if name != NEUTRAL]
    own_reconstructor = reconstructor is None
    if reconstructor is None:
        reconstructor = GeometryReconstructor()
    if tracker is None:
        tracker = Tracker.ict()
    try:
        for name in names:
            existing = session.capture(name)
            if existing is not None:
                if name == NEUTRAL:
                    tracker.set_performer_neutral(existing.averaged)
                yield (name, "skipped")
                continue
            if name == NEUTRAL:
                tracker.clear_performer_neutral()
            with source_factory(name) as source:
                job = capture_expression_job(
                    source, reconstructor, tracker, burst_frames, max_wait_s, cancel=cancel
                )
                try:
                    while True:
                        yield (name, *next(job))
                except StopIteration as stop:
                    capture: BurstCapture = stop.value
                except JobCancelled:
                    raise JobCancelled(f"session capture cancelled at {name!r}", session.status()) from None
                except CaptureError as error:
                    raise CaptureError(f"{name}: {error}") from None
            if quality_flags is not None:
                capture.flags = list(quality_flags(name, capture))
            session.save_capture(name, capture)
            if name == NEUTRAL:
                tracker.set_performer_neutral(capture.averaged)
            yield (name, "saved")
    finally:
        if own_reconstructor:
            reconstructor.close()
    return session.status()


def held_expression_curves(controls: np.ndarray, fps: float, seconds: float = 2.5, ease_s: float = 0.4) -> np.ndarray:
    """Curves ``(T, K)`` that ease from neutral into ``controls`` (K,) and hold them (a performer obeying)."""
    frames = int(round(seconds * fps))
    t = np.arange(frames) / fps
    ramp = np.clip(t / ease_s, 0.0, 1.0)
    ramp = ramp * ramp * (3 - 2 * ramp)
    return (ramp[:, None] * np.asarray(controls, np.float32)[None]).astype(np.float32)


def synthetic_session_job(
    folder: str | Path,
    seed: int,
    source_for: Callable[[Rig, np.ndarray, int], object],
    expression_names: Sequence[str] | None = None,
    cancel: Callable[[], bool] | None = None,
    expression_set: str = "ict_full",
    theta_gt: RigParameters | None = None,
) -> Generator[tuple, None, Session]:
    """Record a whole Simon-Says session from a synthetic performer with motion signature θ_GT.

    ``source_for(rig, curves, seed)`` makes the frame source (the render layer's synthetic performer; the
    core does not import it). θ_GT is ``theta_gt`` or else comes from
    :func:`studio.core.rig.performer_model.performer_rig_parameters` with ``seed``, and is saved as ``calibration/theta_GT.npz`` so a calibration can be checked against it.
    ``expression_set`` names the packaged Simon-Says set performed (``ict_full``, ``ict_default``);
    ``expression_names`` limits the session to some of its expressions (neutral is always first); by default
    all of them.
    """
    rig = Rig.ict()
    definition = RigDefinition.ict()
    expression_set = SimonSaysSet.packaged(expression_set)
    names = ["neutral", *[n for n in (expression_names or expression_set.names) if n != "neutral"]]
    for name in names:
        expression_set.expression(name)  # unknown names fail here, before anything is written
    theta_gt = theta_gt if theta_gt is not None else performer_rig_parameters(rig, definition, seed)
    performer = rig.with_parameters(theta_gt)
    folder = Path(folder)
    session = (
        Session.open(folder)
        if (folder / "session.json").exists()
        else Session.create(
            folder, {"name": f"synthetic performer {seed}", "notes": "θ_GT from studio.core.rig.performer_model"},
            rig.name, expression_set.name, names,
        )
    )
    theta_gt.save(Path(session.calibration_folder) / GROUND_TRUTH_FILE)
    tracker = Tracker.ict(rig)

    def source_factory(name: str):
        controls = expression_set.control_vector(expression_set.expression(name), rig.expression_names)
        return source_for(performer, held_expression_curves(controls, 30.0), seed)

    def quality_flags(name: str, capture: BurstCapture) -> list:
        if name == "neutral" or tracker.performer_neutral is None:
            return []
        return _quality(tracker, expression_set.expression(name), capture, definition)[1]

    status = yield from capture_session_job(
        session, source_factory, names, tracker=tracker, cancel=cancel,
        quality_flags=quality_flags,
    )
    del status
    return Session.open(folder)
