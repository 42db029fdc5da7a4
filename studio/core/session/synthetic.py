"""Synthetic performers: sessions recorded by a rendered performer with a known motion signature θ_GT.

A synthetic performer is the ICT rig with rig parameters θ_GT (:func:`studio.core.rig.performer_model.
performer_rig_parameters` of a seed, or given), rendered by the render layer and seen through MediaPipe like
a camera. :func:`synthetic_session_job` records a whole Simon-Says session with it through the same guided
capture a person goes through (:func:`studio.core.session.simon_says.simon_says_job`): the performer follows
each prompt, the capture waits for the face to hold still and records it. θ_GT is saved with the session
(``calibration/theta_GT.npz``) so a calibration can be checked against the truth. The core does not render:
the caller hands in the prompted performer (``source_for``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path

import numpy as np

from studio.core.capture.burst import NEUTRAL, CaptureError
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.jobs import Cancel
from studio.core.rig.performer_model import performer_rig_parameters
from studio.core.rig.rig import Rig, RigParameters
from studio.core.session.folder import SESSION_FILE, Session, SessionError
from studio.core.session.simon_says import PromptFrame, SimonSaysSettings, simon_says_job
from studio.core.tracking.frame_sources import FrameSource
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.rig_bundle import RigBundle

__all__ = ["MAX_SECONDS_PER_EXPRESSION", "synthetic_performer_rig", "synthetic_session_job"]

#: Source seconds a synthetic performer gets for one expression before the session job gives up on it.
MAX_SECONDS_PER_EXPRESSION = 20.0


def synthetic_performer_rig(session: Session) -> Rig:
    """The rig of a session's synthetic performer: the ICT rig with the session's ground truth θ_GT
    (``calibration/theta_GT.npz``, which demo and synthetic sessions keep), else the seed-0 performer model."""
    bundle = RigBundle.load(session.rig_name)
    theta = session.rig_parameters("theta_GT")
    return bundle.rig.with_parameters(theta or performer_rig_parameters(bundle.rig, bundle.definition, 0))


def _check_resumable(session: Session, theta_gt: RigParameters, set_name: str, names: Sequence[str]) -> None:
    """Refuse to resume a session that is not this performer's: captures of two faces must never mix."""
    recorded = session.rig_parameters("theta_GT")
    if recorded is None:
        if session.status().captured:
            raise SessionError(
                f"{session.folder}: holds captures of a performer without a known θ_GT (not a synthetic session); "
                "choose another folder"
            )
    elif recorded.expression_names != theta_gt.expression_names or not np.allclose(
        recorded.expression_deltas, theta_gt.expression_deltas, atol=1e-6
    ):
        seed = recorded.metadata.get("seed")
        raise SessionError(
            f"{session.folder}: holds the captures of another synthetic performer"
            f"{f' (seed {seed})' if seed is not None else ''}; choose another folder or that seed"
        )
    recorded_set = session.expression_set.get("name") or "ict_default"
    if recorded_set != set_name:
        raise SessionError(f"{session.folder}: was recorded with the Simon-Says set {recorded_set!r}, not {set_name!r}")
    absent = [name for name in names if name not in session.expression_names]
    if absent:
        raise SessionError(f"{session.folder}: has no expression {', '.join(absent)}; choose another folder")


def synthetic_session_job(
    folder: str | Path,
    seed: int,
    source_for: Callable[[Rig], FrameSource],
    expression_names: Sequence[str] | None = None,
    cancel: Cancel = None,
    expression_set: str = "ict_full",
    theta_gt: RigParameters | None = None,
    settings: SimonSaysSettings | None = None,
    max_seconds_per_expression: float = MAX_SECONDS_PER_EXPRESSION,
) -> Generator[PromptFrame, None, Session]:
    """Record a whole Simon-Says session from a synthetic performer with motion signature θ_GT.

    Parameters
    ----------
    folder : path
        The session folder: created, or (when it holds a session of the same performer) resumed: captured
        expressions are kept and only the missing ones are recorded.
    seed : int
        The performer: θ_GT of the performer model with this seed (unless ``theta_gt``), and its head motion.
    source_for : callable
        ``source_for(performer_rig) -> FrameSource``: the render layer's prompted performer
        (:class:`studio.render.synthetic_performer.PromptedPerformerSource`) playing that rig; it must have
        ``perform(controls)``. Closed here.
    expression_names : sequence of str, optional
        Capture only these expressions of the set (the neutral is always first); by default all.
    cancel : callable, object with ``is_set()``, or None
        Checked before each frame; the captures saved so far stay.
    expression_set : str
        The packaged Simon-Says set performed (``ict_full``, ``ict_default``).
    theta_gt : RigParameters, optional
        The performer's rig parameters; by default the performer model of ``seed``.
    settings : SimonSaysSettings, optional
        The guided capture's settings.
    max_seconds_per_expression : float
        Source seconds after which an expression that was not captured fails the job.

    Yields
    ------
    PromptFrame
        Each frame of the guided capture.

    Returns
    -------
    Session
        The session, reopened.

    Raises
    ------
    SessionError
        ``folder`` holds a session of another performer (another θ_GT, or a person's), of another Simon-Says
        set, or without some of ``expression_names``; checked before anything is written.
    CaptureError
        An expression was not captured in time (one line naming it); earlier captures are saved.
    JobCancelled
        ``cancel`` was set; ``partial`` is the session's status.
    """
    bundle = RigBundle.load()
    rig, definition = bundle.rig, bundle.definition
    simon_says = SimonSaysSet.packaged(expression_set)
    names = [NEUTRAL, *[n for n in (expression_names or simon_says.names) if n != NEUTRAL]]
    for name in names:
        simon_says.expression(name)  # unknown names fail here, before anything is written
    theta_gt = theta_gt if theta_gt is not None else performer_rig_parameters(rig, definition, seed)
    folder = Path(folder)
    if (folder / SESSION_FILE).exists():
        session = Session.open(folder)
        _check_resumable(session, theta_gt, simon_says.name, names if expression_names is not None else ())
    else:
        session = Session.create(
            folder, {"name": f"synthetic performer {seed}", "notes": "θ_GT from studio.core.rig.performer_model"},
            rig.name, simon_says.name, names,
        )
    if not session.has_rig_parameters("theta_GT"):
        session.save_rig_parameters("theta_GT", theta_gt)
    source = source_for(rig.with_parameters(theta_gt))
    reconstructor = GeometryReconstructor(running_mode="video")
    fps = source.fps or 30.0
    job = simon_says_job(session, source, simon_says, definition, bundle.tracker(), reconstructor, settings=settings,
                         cancel=cancel, realtime=False)
    try:
        prompted, frames_on_it = None, 0
        for frame in job:
            yield frame
            if frame.phase == "complete":
                break
            frames_on_it = frames_on_it + 1 if frame.expression.name == prompted else 0
            prompted = frame.expression.name
            if frames_on_it > max_seconds_per_expression * fps:
                raise CaptureError(
                    f"{prompted}: not captured within {max_seconds_per_expression:g} s of the synthetic performer "
                    f"(last seen: {frame.phase}, motion {frame.motion_mm:.1f} mm)"
                )
        else:
            status = session.status()
            if not status.complete:
                raise CaptureError(f"{source.name}: ended with {len(status.missing)} expressions not captured")
    finally:
        job.close()
        reconstructor.close()
        source.close()
    return Session.open(folder)
