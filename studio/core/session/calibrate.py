"""From a captured Simon-Says session to calibrated rig parameters θ_S, and synthetic sessions to try it.

:func:`calibration_pairs` turns a session's captures into Eq. 1's (c_k, v_k) pairs: each capture's
landmarks, with head pose removed (the anchor alignment, then the small rigid motion solved with the
controls), minus the performer's neutral, laid onto the rig's neutral landmark points.
:func:`calibrate_session` runs the calibration and writes θ_S and a report into the session's
``calibration/`` folder; :func:`finetune_session` fine-tunes its tracking rig into θ̂_S.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.calibration.calibrate import CalibrationPair, CalibrationResult, calibrate_job
from studio.core.calibration.finetune import FinetuneResult, FinetuneSettings, finetune_job
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.capture.quality import assess_burst
from studio.core.io.atomic_files import write_text_atomic
from studio.core.jobs import Cancel, run_job
from studio.core.rig.definition import RigDefinition
from studio.core.rig.metrics import animation_metrics
from studio.core.rig.rig import Rig, RigParameters
from studio.core.session.folder import Session, SessionError
from studio.core.tracking.tracker import Tracker

THETA_S_FILE = "theta_S.npz"
REPORT_FILE = "report.json"
THETA_S_HAT_FILE = "theta_S_hat.npz"
FINETUNE_REPORT_FILE = "finetune_report.json"
GROUND_TRUTH_FILE = "theta_GT.npz"


def session_expression_set(session: Session) -> SimonSaysSet:
    """The session's Simon-Says set: the file it names, else the packaged set of its name (``ict_default``
    when it names none)."""
    path = session.expression_set.get("path")
    if path:
        return SimonSaysSet.load(session.folder / path)
    return SimonSaysSet.packaged(session.expression_set.get("name") or "ict_default")


def calibration_pairs(
    session: Session, tracker: Tracker, definition: RigDefinition, expression_set: SimonSaysSet
) -> tuple[list[CalibrationPair], dict[str, list]]:
    """Eq. 1's pairs from the captured expressions, and the quality flags of each capture.

    Raises
    ------
    SessionError
        No neutral, or no expression captured.
    """
    neutral_capture = session.capture("neutral")
    if neutral_capture is None:
        raise SessionError(f"{session.folder}: no neutral captured; capture the neutral first")
    neutral = tracker.performer_neutral(neutral_capture.averaged)
    pairs, flags = [], {}
    for expression in expression_set.expressions:
        if expression.is_neutral or expression.name not in session.expression_names:
            continue
        capture = session.capture(expression.name)
        if capture is None:
            continue
        tracked, capture_flags = assess_burst(expression, capture, tracker, neutral, definition)
        flags[expression.name] = [f.message for f in capture_flags]
        target = tracker.rig_points + (tracked.pose_corrected[0] - neutral.points)
        noise = capture.spread_mm / np.sqrt(max(int(capture.kept.sum()), 1)) if np.isfinite(capture.spread_mm) else None
        pairs.append(
            CalibrationPair(expression.name, expression.control_vector(tracker.control_names), target, noise_mm=noise)
        )
    if not pairs:
        raise SessionError(f"{session.folder}: no expression captured yet; nothing to calibrate")
    return pairs, flags


def calibrate_session_job(
    folder: str | Path, rig: Rig | None = None, cancel: Cancel = None
) -> Generator[tuple[str, int, int], None, tuple[CalibrationResult, dict]]:
    """Calibrate a session's rig, as a generator job: write ``calibration/theta_S.npz`` and
    ``calibration/report.json`` (atomically; nothing is written if it fails or is cancelled).

    Yields the calibration's ``(stage, done, total)``; returns the calibration result and the report written
    (per-expression residual before/after, flagged captures, chosen regularization, seconds).
    """
    session = Session.open(folder)
    rig = rig or Rig.ict()
    definition = RigDefinition.ict()
    tracker = Tracker.ict(rig)
    expression_set = session_expression_set(session)
    pairs, flags = calibration_pairs(session, tracker, definition, expression_set)
    started = time.perf_counter()
    result = yield from calibrate_job(rig, tracker.embedding, pairs, definition, cancel=cancel)
    seconds = time.perf_counter() - started
    flagged = {name: messages for name, messages in flags.items() if messages}
    theta = _with_session(result.parameters, session, stage="theta_S")
    report = _save_result(session, pairs, theta, result.report, THETA_S_FILE, REPORT_FILE,
                          flagged_captures=flagged, wall_seconds=seconds)
    return result, report


def _with_session(parameters: RigParameters, session: Session, **metadata: str) -> RigParameters:
    """The parameters with the session (and ``metadata``) recorded in their metadata."""
    return RigParameters(
        parameters.expression_names,
        parameters.expression_deltas,
        {**parameters.metadata, **metadata, "session": str(session.folder)},
    )


def _save_result(
    session: Session,
    pairs: Sequence[CalibrationPair],
    parameters: RigParameters,
    job_report: dict,
    parameters_file: str,
    report_file: str,
    **extra: Any,
) -> dict:
    """Write rig parameters and their report into ``calibration/`` (both atomically); returns the report."""
    out = Path(session.calibration_folder)
    report = {
        "session": str(session.folder),
        "expressions": [p.name for p in pairs],
        **_json_safe(job_report),
        **extra,
    }
    parameters.save(out / parameters_file)
    write_text_atomic(out / report_file, json.dumps(report, indent=2) + "\n")
    return report


def calibrate_session(folder: str | Path, rig: Rig | None = None) -> tuple[CalibrationResult, dict]:
    """:func:`calibrate_session_job` run to the end."""
    return run_job(calibrate_session_job(folder, rig))


def capture_metrics(
    rig: Rig, parameters: RigParameters, pairs: Sequence[CalibrationPair], definition: RigDefinition
) -> dict[str, float]:
    """The animator metrics of tracking a session's captures with the rig ``parameters`` (means over them).

    ``control_l2``/``control_linf`` against the controls each capture asked for, ``sparsity``, ``tweaker``,
    and ``landmark_mm``: the mean landmark distance between the animation rig posed with the tracked
    controls and the capture (the only geometry a session has).
    """
    tracker = Tracker.ict(rig.with_parameters(parameters))
    laid_on_the_rig = tracker.performer_neutral(tracker.rig_points)  # the pairs are laid onto the rig's neutral
    landmarks = np.stack([p.landmarks for p in pairs])
    tracked = tracker.solve(landmarks, laid_on_the_rig).controls.astype(np.float64)
    truth = np.stack([p.controls for p in pairs])
    posed = tracker.rig_points + np.einsum("bk,knx->bnx", tracked, tracker.landmark_basis)
    landmark_mm = 10.0 * np.linalg.norm(posed - landmarks, axis=2).mean(axis=1)
    metrics = animation_metrics(tracked, definition.tweaker_indices(), truth=truth, vertex_error=landmark_mm)
    return {("landmark_mm" if k == "vertex_mm" else k): v["mean"] for k, v in metrics.items()}


def finetune_session_job(
    folder: str | Path,
    rig: Rig | None = None,
    settings: FinetuneSettings | None = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, tuple[FinetuneResult, dict]]:
    """Fine-tune a calibrated session's tracking rig θ_S → θ̂_S, as a generator job.

    Writes ``calibration/theta_S_hat.npz`` and ``calibration/finetune_report.json`` (loss per stage, the
    capture metrics of θ_S and θ̂_S, seconds) atomically; nothing is written if it fails or is cancelled.

    Raises
    ------
    SessionError
        No θ_S yet (run ``calibrate`` first), no neutral or no expression captured.
    """
    session = Session.open(folder)
    rig = rig or Rig.ict()
    out = Path(session.calibration_folder)
    if not (out / THETA_S_FILE).exists():
        raise SessionError(f"{session.folder}: no calibrated rig (calibration/{THETA_S_FILE}); run calibrate first")
    theta_s = RigParameters.load(out / THETA_S_FILE)
    definition = RigDefinition.ict()
    tracker = Tracker.ict(rig)
    expression_set = session_expression_set(session)
    pairs, _flags = calibration_pairs(session, tracker, definition, expression_set)
    started = time.perf_counter()
    result = yield from finetune_job(
        rig, theta_s, pairs, definition, expression_set, embedding=tracker.embedding, gaze=tracker.gaze,
        stage_name="theta_S_hat", cancel=cancel,
    )
    seconds = time.perf_counter() - started
    theta_hat = _with_session(result.parameters, session)
    metrics = {
        "theta_S": capture_metrics(rig, theta_s, pairs, definition),
        "theta_S_hat": capture_metrics(rig, theta_hat, pairs, definition),
    }
    report = _save_result(session, pairs, theta_hat, result.report, THETA_S_HAT_FILE, FINETUNE_REPORT_FILE,
                          metrics=metrics, wall_seconds=seconds)
    return result, report


def finetune_session(folder: str | Path, rig: Rig | None = None) -> tuple[FinetuneResult, dict]:
    """:func:`finetune_session_job` run to the end."""
    return run_job(finetune_session_job(folder, rig))


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
