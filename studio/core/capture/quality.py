"""Capture-quality checks for Simon-Says captures, with feedback in the performer's language.

After the performer holds an expression, the studio looks at what was captured -- how far the landmarks
moved from the performer's neutral, and which controls the tracker solved -- and flags captures that will
not calibrate well (paper 001 Sec. 8):

- ``barely_moved``: the face hardly changed (largest landmark displacement below ``min_motion_mm``);
- ``moved_forbidden``: controls the expression must not move rose above ``max_extraneous`` (the eyebrows
  during a smile) -- such *capture pollution* ends up in the calibrated shape (a limitation the paper notes);
- ``weak_target``: the expression's own controls reached less than ``min_target_ratio`` of their targets (of
  what MediaPipe shows of the expression, when judged with a :class:`Yardstick`);
- ``not_neutral``: the neutral capture shows an expression.

Messages speak to someone with no animation knowledge ("Your eyebrows moved during the smile. Try to keep
your forehead relaxed."), with sides in the performer's terms.

:func:`factor_out_extraneous` removes from a capture the motion explained by the controls it must not move,
so that a polluted capture can still be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from studio.core.capture.burst import BurstCapture
from studio.core.capture.expression_sets import SimonSaysExpression, must_not_move_indices
from studio.core.rig.definition import RigDefinition, control_side
from studio.core.tracking.tracker import PerformerNeutral, TrackedFrames, Tracker

__all__ = [
    "MIN_EXPECTED",
    "SEVERITIES",
    "QualityFlag",
    "Yardstick",
    "assess_burst",
    "assess_capture",
    "extraneous_controls",
    "factor_out_extraneous",
]

SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
"""Flag severities: ``error`` asks for a retake, ``warning`` suggests one."""

MIN_EXPECTED = 0.15
"""An expression's control MediaPipe shows less of than this (for an obeying performer) cannot be judged: the
landmarks show too little of it (ICT's pucker, funnel, squint, cheek puff and dimples, and the gaze, which the
landmark rig does not move) to tell a weak performance from MediaPipe's own."""


@dataclass(frozen=True)
class Yardstick:
    """What an obeying performer's capture of one expression looks like through MediaPipe.

    Attributes
    ----------
    controls : np.ndarray
        ``(K,)``: what the tracker (θ_A) solves from MediaPipe's expected view of the expression made as
        asked (:func:`studio.core.calibration.detector_response.expected_view`).
    motion_mm : float
        The largest landmark motion of that view, mm.
    baseline : np.ndarray
        ``(K,)``: what the tracker makes of each control on this performer's captures that do not ask for it
        (the median over the session's other captures; 0 with fewer than 3): a control MediaPipe shows a
        little of on every capture of this face (a weak shape like ``browDown`` under head pose) is no
        pollution of one capture.
    low_gain : np.ndarray
        ``(K,)``: the share of ``controls`` MediaPipe shows of the faintest face it was trained on
        (:attr:`studio.core.calibration.detector_response.DetectorResponse.low_gain`); weakness is judged
        against ``controls × low_gain``.
    """

    controls: np.ndarray
    motion_mm: float
    baseline: np.ndarray
    low_gain: np.ndarray


_REGION_FEEDBACK = {
    "brow": ("Your eyebrows moved", "Try to keep your forehead relaxed."),
    "eye": ("Your eyes moved", "Try to keep your eyes relaxed and open as usual."),
    "cheek": ("Your cheeks moved", "Try to keep your cheeks relaxed."),
    "nose": ("Your nose wrinkled", "Try to keep your nose relaxed."),
    "mouth": ("Your mouth moved", "Try to keep your lips relaxed."),
    "jaw": ("Your jaw moved", "Try to keep your jaw still, teeth lightly together."),
}


@dataclass(frozen=True)
class QualityFlag:
    """One problem with a capture.

    Attributes
    ----------
    code : str
        ``barely_moved``, ``moved_forbidden``, ``weak_target`` or ``not_neutral``.
    message : str
        One or two plain sentences for the performer.
    severity : str
        One of :data:`SEVERITIES`.
    controls : tuple of str
        The controls concerned (empty for ``barely_moved``).
    """

    code: str
    message: str
    severity: str
    controls: tuple[str, ...] = ()


def extraneous_controls(
    expression: SimonSaysExpression, solved_controls: np.ndarray, definition: RigDefinition
) -> np.ndarray:
    """The solved values of the controls an expression must not move, 0 for all others.

    Parameters
    ----------
    expression : SimonSaysExpression
        The expression that was asked for.
    solved_controls : np.ndarray
        Controls solved from the capture, shape ``(K,)``, in the definition's order.
    definition : RigDefinition
        The rig's definition.

    Returns
    -------
    np.ndarray
        Shape ``(K,)``, float64: the input for :func:`factor_out_extraneous`.
    """
    solved = np.asarray(solved_controls, np.float64)
    if solved.shape != (definition.num_controls,):
        raise ValueError(f"solved_controls must have shape ({definition.num_controls},), got {solved.shape}")
    out = np.zeros_like(solved)
    index = must_not_move_indices(expression, definition)
    out[index] = solved[index]
    return out


def assess_capture(
    expression: SimonSaysExpression,
    solved_controls: np.ndarray,
    displacement_mm: np.ndarray,
    control_names: Sequence[str],
    definition: RigDefinition,
    *,
    min_motion_mm: float = 1.5,
    max_extraneous: float = 0.25,
    min_target_ratio: float = 0.4,
    yardstick: Yardstick | None = None,
) -> list[QualityFlag]:
    """Check one Simon-Says capture and say, in plain words, what to do better.

    Parameters
    ----------
    expression : SimonSaysExpression
        The expression that was asked for.
    solved_controls : np.ndarray
        Controls the tracker solved from the capture, shape ``(K,)``, values in [0, 1].
    displacement_mm : np.ndarray
        Landmark motion from the performer's neutral in millimetres: magnitudes, shape ``(N,)``, or vectors,
        shape ``(N, 3)``.
    control_names : sequence of str
        The rig's control names, length ``K``; must equal ``definition.control_names``.
    definition : RigDefinition
        The rig's definition (regions and mirror partners of the controls).
    min_motion_mm : float
        A non-neutral capture whose largest landmark displacement is below this barely moved.
    max_extraneous : float
        A control the expression must not move is flagged above this value (for the neutral: any control).
    min_target_ratio : float
        The expression's controls are weak when their mean solved/target ratio is below this.
    yardstick : Yardstick, optional
        What an obeying performer's capture of the expression looks like through MediaPipe. When given, the
        expression's controls are compared with its ``controls × low_gain`` (what MediaPipe shows of the
        faintest face) instead of their targets (only where MediaPipe shows at least :data:`MIN_EXPECTED` of
        them), a control the expression must not move is flagged when it rises ``max_extraneous`` above the
        yardstick's ``controls`` plus its ``baseline``, and a capture barely moved only when it also moved
        less than half of the yardstick's ``motion_mm``.

    Returns
    -------
    list of QualityFlag
        Empty for a good capture; ``barely_moved`` first when present (then ``weak_target`` is implied and
        left out).
    """
    names = tuple(control_names)
    if names != definition.control_names:
        raise ValueError("control_names must equal the rig definition's control names, in order")
    solved = np.asarray(solved_controls, np.float64)
    if solved.shape != (len(names),):
        raise ValueError(f"solved_controls must have shape ({len(names)},), got {solved.shape}")
    motion = np.asarray(displacement_mm, np.float64)
    if motion.ndim == 2 and motion.shape[1] == 3:
        motion = np.linalg.norm(motion, axis=1)
    if motion.ndim != 1:
        raise ValueError(f"displacement_mm must have shape (N,) or (N, 3), got {np.shape(displacement_mm)}")

    subject = expression.subject
    if expression.is_neutral:
        moved = [names[k] for k in np.flatnonzero(solved > max_extraneous)]
        if moved:
            return [
                QualityFlag(
                    "not_neutral",
                    "Your face was not fully relaxed. Let everything go slack and look straight ahead.",
                    "warning",
                    tuple(moved),
                )
            ]
        return []

    flags: list[QualityFlag] = []
    largest = float(motion.max()) if motion.size else 0.0
    barely = largest < min_motion_mm and (yardstick is None or largest < 0.5 * yardstick.motion_mm)
    if barely:
        flags.append(
            QualityFlag("barely_moved", f"We could barely see a change. Try a bigger {subject}.", "error")
        )

    # controls that must stay still, grouped by how the performer would understand them
    own = set(expression.controls)
    expected = None if yardstick is None else np.asarray(yardstick.controls, np.float64)
    if expected is not None and expected.shape != solved.shape:
        raise ValueError(f"the yardstick's controls must have shape {solved.shape}, got {expected.shape}")
    allowance = np.zeros_like(solved)
    if yardstick is not None:
        allowance = np.clip(expected, 0.0, None) + np.clip(np.asarray(yardstick.baseline, np.float64), 0.0, None)
    groups: dict[str, list[str]] = {}
    for k in must_not_move_indices(expression, definition):
        if solved[k] - allowance[k] <= max_extraneous:
            continue
        control = definition.controls[k]
        other_side = control.mirror is not None and control.mirror in own
        key = (
            f"side:{control_side(control.name)[1]}" if other_side and control_side(control.name) else control.region
        )
        groups.setdefault(key, []).append(control.name)
    for key, controls in groups.items():
        if key.startswith("side:"):
            side = key.split(":", 1)[1]
            message = f"Your {side} side moved too. Try to do the {subject} on your other side only."
        else:
            what, advice = _REGION_FEEDBACK[key]
            message = f"{what} during the {subject}. {advice}"
        flags.append(QualityFlag("moved_forbidden", message, "warning", tuple(controls)))

    if not barely and expression.controls:
        targets = {n: v for n, v in expression.controls.items() if v > 0}
        if expected is not None:  # MediaPipe's view of the expression, where it shows enough of it to judge
            faint = expected * np.asarray(yardstick.low_gain, np.float64)
            targets = {n: faint[names.index(n)] for n in targets
                       if expected[names.index(n)] >= MIN_EXPECTED and faint[names.index(n)] > 0.0}
        ratios = [solved[names.index(n)] / v for n, v in targets.items()]
        if ratios and float(np.mean(ratios)) < min_target_ratio:
            weak = tuple(n for n, r in zip(targets, ratios, strict=True) if r < min_target_ratio)
            flags.append(
                QualityFlag(
                    "weak_target",
                    f"The {subject} came out weaker than expected. Try a bigger {subject}.",
                    "warning",
                    weak,
                )
            )
    return flags


def assess_burst(
    expression: SimonSaysExpression,
    capture: BurstCapture,
    tracker: Tracker,
    neutral: PerformerNeutral,
    definition: RigDefinition,
    yardstick: Yardstick | None = None,
) -> tuple[TrackedFrames, list[QualityFlag]]:
    """Solve a burst's averaged face against the performer's neutral and check it (:func:`assess_capture`).

    The one way the studio judges a capture: when it is saved (the guided capture) and when a session's
    captures become calibration pairs. A capture is judged against what MediaPipe makes of the expression
    (the ``yardstick``, from the detector response and the session's other captures,
    :func:`studio.core.session.calibrate.capture_yardsticks`), not against the rig's geometry: without it,
    MediaPipe's systematic response makes most obeying captures "weaker than expected".

    Parameters
    ----------
    expression : SimonSaysExpression
        The expression that was asked for.
    capture : BurstCapture
        The burst; its ``averaged`` face is aligned onto ``neutral``.
    tracker, neutral : Tracker, PerformerNeutral
        The tracker (θ_A) and the performer's neutral it solves against.
    definition : RigDefinition
        The rig's definition.
    yardstick : Yardstick, optional
        See :func:`assess_capture`.

    Returns
    -------
    tuple
        The solve of the averaged face (a batch of one) and the flags.
    """
    tracked = tracker.solve(capture.averaged[None], neutral)
    displacement_mm = 10.0 * (tracked.pose_corrected[0] - neutral.points)
    flags = assess_capture(expression, tracked.controls[0], displacement_mm, tracker.control_names, definition,
                           yardstick=yardstick)
    return tracked, flags


def factor_out_extraneous(
    displacement: np.ndarray, extraneous_controls: np.ndarray, delta_points: np.ndarray
) -> np.ndarray:
    """Remove the part of a capture explained by controls the expression must not move.

    A performer asked to smile often also lifts their brows; the captured displacement then mixes the smile
    with a brow raise, and calibrating the smile shape on it would bake the brow raise into the smile
    (capture pollution, a limitation noted in paper 001). With the linear rig model
    ``d ≈ Σ_k c_k δ_k``, the extraneous part is ``Σ_k e_k δ_k`` where ``e`` holds the solved values of the
    must-not-move controls (see :func:`extraneous_controls`) and 0 elsewhere; this returns
    ``d - Σ_k e_k δ_k``, the capture as if those controls had stayed at 0. It is exact when the capture is
    linear in the controls; interactions (correctives) between the expression and the extraneous controls
    are not removed, and the result is only as good as the solve of ``e`` and the rig's ``δ`` (use the
    performer's calibrated deltas when available).

    Parameters
    ----------
    displacement : np.ndarray
        Captured displacement from the neutral, shape ``(N, 3)``.
    extraneous_controls : np.ndarray
        Values of the controls to remove, shape ``(K,)``; 0 for controls to keep.
    delta_points : np.ndarray
        The rig's per-control displacements at the same ``N`` points and in the same units as
        ``displacement``, shape ``(K, N, 3)``.

    Returns
    -------
    np.ndarray
        Shape ``(N, 3)``, float64: the displacement without the extraneous motion.
    """
    d = np.asarray(displacement, np.float64)
    e = np.asarray(extraneous_controls, np.float64)
    deltas = np.asarray(delta_points, np.float64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"displacement must have shape (N, 3), got {d.shape}")
    if e.ndim != 1:
        raise ValueError(f"extraneous_controls must have shape (K,), got {e.shape}")
    if deltas.shape != (e.shape[0], *d.shape):
        raise ValueError(f"delta_points must have shape ({e.shape[0]}, {d.shape[0]}, 3), got {deltas.shape}")
    return d - np.einsum("k,knc->nc", e, deltas)
