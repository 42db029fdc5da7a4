"""Calibrating a session: its captures become θ_S (calibration), then θ̂_S (the tracker's fine-tuning).

:func:`calibration_pairs` turns a session's captures into Eq. 1's (c_k, v_k) pairs: each capture's
landmarks, with head pose removed (the anchor alignment, then the small rigid motion solved with the
controls), minus the performer's neutral, laid onto the rig's neutral landmark points.
:func:`calibrate_session_job` runs the calibration and keeps θ_S and its report in the session;
:func:`finetune_session_job` fine-tunes its tracking rig into θ̂_S. Both take the session's rig as one
:class:`~studio.core.tracking.rig_bundle.RigBundle` (resolved from ``session.json`` when not given) and
write nothing unless they finish.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from studio.core.calibration.calibrate import CalibrationPair, CalibrationResult, calibrate_job
from studio.core.calibration.detector_response import detector_response_for, expected_view, model_path
from studio.core.calibration.finetune import FinetuneResult, FinetuneSettings, finetune_job
from studio.core.calibration.network import NetworkPairs
from studio.core.calibration.reports import CalibrationReport, FinetuneReport
from studio.core.capture.expression_sets import SimonSaysSet
from studio.core.capture.quality import Yardstick, assess_burst
from studio.core.jobs import Cancel, run_job
from studio.core.rig.definition import RigDefinition
from studio.core.rig.metrics import animation_metrics
from studio.core.rig.rig import RigParameters
from studio.core.session.folder import Session, SessionError
from studio.core.tracking.inversion.tracker import NetworkTracker
from studio.core.tracking.rig_bundle import RigBundle
from studio.core.tracking.tracker import PerformerNeutral, Tracker

__all__ = [
    "calibrate_session",
    "calibrate_session_job",
    "calibration_pairs",
    "capture_yardsticks",
    "capture_metrics",
    "finetune_session",
    "finetune_session_job",
    "geometry_of",
]


def calibration_pairs(
    session: Session, tracker: Tracker, definition: RigDefinition, expression_set: SimonSaysSet
) -> tuple[list[CalibrationPair], dict[str, list]]:
    """Eq. 1's pairs from the captured expressions, and the quality flags of each capture.

    Raises
    ------
    SessionError
        No neutral, no expression captured, a capture listed in ``session.json`` whose burst file is gone, or a
        capture holding NaN or infinite values (named, with its file).
    """
    if session.lost_captures:
        lost = session.lost_captures
        raise SessionError(
            f"{session.folder}: session.json lists {', '.join(lost)} as captured but "
            f"{'its burst file is' if len(lost) == 1 else 'their burst files are'} missing; retake "
            f"{'it' if len(lost) == 1 else 'them'} first"
        )
    neutral_capture = session.capture("neutral")
    if neutral_capture is None:
        raise SessionError(f"{session.folder}: no neutral captured; capture the neutral first")
    neutral = tracker.performer_neutral(neutral_capture.averaged)
    pairs, flags = [], {}
    captures = {
        e.name: capture for e in expression_set.expressions
        if not e.is_neutral and e.name in session.expression_names and (capture := session.capture(e.name))
    }  # each burst read once
    yardsticks = capture_yardsticks(session, tracker, neutral, expression_set,
                                    {name: capture.averaged for name, capture in captures.items()})
    for expression in expression_set.expressions:
        capture = captures.get(expression.name)
        if capture is None:
            continue
        target = expression.control_vector(tracker.control_names)
        tracked, capture_flags = assess_burst(
            expression, capture, tracker, neutral, definition, yardsticks.get(expression.name)
        )
        flags[expression.name] = [f.message for f in capture_flags]
        landmarks = tracker.rig_points + (tracked.pose_corrected[0] - neutral.points)
        noise = capture.spread_mm / np.sqrt(max(int(capture.kept.sum()), 1)) if np.isfinite(capture.spread_mm) else None
        pairs.append(CalibrationPair(expression.name, target, landmarks, noise_mm=noise))
    if not pairs:
        raise SessionError(f"{session.folder}: no expression captured yet; nothing to calibrate")
    return pairs, flags


def capture_yardsticks(
    session: Session,
    tracker: Tracker,
    neutral: PerformerNeutral,
    expression_set: SimonSaysSet,
    faces: dict[str, np.ndarray] | None = None,
) -> dict[str, Yardstick]:
    """Per captured expression, what an obeying performer's capture of it looks like through MediaPipe
    (:class:`~studio.core.capture.quality.Yardstick`); empty when the studio has no detector response model
    for the session's rig (captures are then judged against the rig's geometry).

    The baseline of a control is the median of what ``tracker`` solves for it on the session's captures that do
    not ask for it (0 when fewer than 3 do not). ``faces`` (name → averaged face ``(N, 3)``, aligned) are used
    instead of reading those captures from the session: ones already read, or the one the guided capture is
    judging before it is saved.
    """
    faces = faces or {}
    expressions = [e for e in expression_set.expressions if not e.is_neutral and e.name in session.expression_names
                   and (e.name in faces or session.is_captured(e.name))]
    if not expressions:
        return {}
    targets = np.stack([e.control_vector(tracker.control_names) for e in expressions])
    view = expected_view(tracker, session.rig_name, targets)
    if view is None:
        return {}
    averaged = []
    for e in expressions:
        capture = None if e.name in faces else session.capture(e.name)
        face = faces[e.name] if e.name in faces else capture.averaged if capture is not None else None
        averaged.append(face if face is not None else np.full_like(tracker.rig_points, np.nan))
    solved = tracker.solve(np.stack(averaged), neutral).controls.astype(np.float64)  # NaN rows for lost captures
    unasked = (targets == 0) & np.isfinite(solved)
    baseline = np.zeros(targets.shape[1])
    for k in np.flatnonzero(unasked.sum(axis=0) >= 3):
        baseline[k] = float(np.median(solved[unasked[:, k], k]))
    return {e.name: Yardstick(view.controls[i], float(view.motion_mm[i]), baseline, view.low_gain)
            for i, e in enumerate(expressions)}


def _opened(session: Session | str | Path, bundle: RigBundle | None) -> tuple[Session, RigBundle]:
    session = session if isinstance(session, Session) else Session.open(session)
    return session, bundle if bundle is not None else RigBundle.load(session.rig_name)


def _with_session(parameters: RigParameters, session: Session, **metadata: str) -> RigParameters:
    """The parameters with the session (and ``metadata``) recorded in their metadata."""
    return RigParameters(
        parameters.expression_names,
        parameters.expression_deltas,
        {**parameters.metadata, **metadata, "session": str(session.folder)},
    )


def calibrate_session_job(
    session: Session | str | Path, bundle: RigBundle | None = None, cancel: Cancel = None
) -> Generator[tuple[str, int, int], None, tuple[CalibrationResult, CalibrationReport]]:
    """Calibrate a session's rig, as a generator job: keep θ_S (``calibration/theta_S.npz``) and its report
    (``calibration/report.json``) in the session, together and atomically; nothing is written if it fails or is
    cancelled. A θ̂_S fine-tuned from the previous θ_S is moved to ``calibration/superseded/<time>/``.

    Parameters
    ----------
    session : Session or path
        The session (or its folder).
    bundle : RigBundle, optional
        The session's rig; by default the one ``session.json`` names.
    cancel : callable, object with ``is_set()``, or None
        Checked between the calibration's stages.

    Yields the calibration's ``(stage, done, total)``; returns the calibration result and the session's report
    (per-expression residual before/after, flagged captures, chosen regularization, seconds).
    """
    session, bundle = _opened(session, bundle)
    tracker = bundle.tracker()
    pairs, flags = calibration_pairs(session, tracker, bundle.definition, session.expression_set_definition())
    started = time.perf_counter()
    geometry_pairs, response = geometry_of(pairs, bundle)
    result = yield from calibrate_job(bundle.rig, bundle.embedding, geometry_pairs, bundle.definition, cancel=cancel)
    report = replace(
        result.report,
        session=str(session.folder),
        expressions=[p.name for p in pairs],
        flagged_captures={name: messages for name, messages in flags.items() if messages},
        wall_seconds=time.perf_counter() - started,
        detector_response=response,
    )
    parameters = _with_session(result.parameters, session, stage="theta_S", detector_response=response or "none")
    session.save_result("theta_S", parameters, report.to_json())
    return result, report


def geometry_of(
    pairs: Sequence[CalibrationPair], bundle: RigBundle
) -> tuple[list[CalibrationPair], str | None]:
    """The captures as the performer's geometry: MediaPipe's response to the rig's controls removed
    (:mod:`studio.core.calibration.detector_response`) when the studio has a response model for the rig.

    Returns the pairs to calibrate θ_S from and the model used (``"<file> <fingerprint>"``, None without one).
    """
    response = detector_response_for(bundle.name, bundle.rig.expression_names)
    if response is None:
        return list(pairs), None
    return response.corrected(pairs, bundle.rig.expression_names), f"{model_path(bundle.name).name} {response.fingerprint}"


def calibrate_session(
    session: Session | str | Path, bundle: RigBundle | None = None
) -> tuple[CalibrationResult, CalibrationReport]:
    """:func:`calibrate_session_job` run to the end."""
    return run_job(calibrate_session_job(session, bundle))


def capture_metrics(
    bundle: RigBundle, parameters: RigParameters, pairs: Sequence[CalibrationPair]
) -> dict[str, float]:
    """The animator metrics of tracking a session's captures with the rig ``parameters`` (means over them).

    ``control_l2``/``control_linf`` against the controls each capture asked for, ``sparsity``, ``tweaker``,
    and ``landmark_mm``: the mean landmark distance between the animation rig posed with the tracked
    controls and the capture (the only geometry a session has).
    """
    tracker = bundle.tracker(parameters)
    laid_on_the_rig = tracker.performer_neutral(tracker.rig_points)  # the pairs are laid onto the rig's neutral
    landmarks = np.stack([p.landmarks for p in pairs])
    tracked = tracker.solve(landmarks, laid_on_the_rig).controls.astype(np.float64)
    truth = np.stack([p.controls for p in pairs])
    posed = tracker.rig_points + np.einsum("bk,knx->bnx", tracked, tracker.landmark_basis)
    landmark_mm = 10.0 * np.linalg.norm(posed - landmarks, axis=2).mean(axis=1)
    tweakers = bundle.definition.tweaker_indices()
    metrics = animation_metrics(tracked, tweakers, truth=truth, vertex_error=landmark_mm)
    return {("landmark_mm" if k == "vertex_mm" else k): v["mean"] for k, v in metrics.items()}


def finetune_session_job(
    session: Session | str | Path,
    bundle: RigBundle | None = None,
    settings: FinetuneSettings | None = None,
    cancel: Cancel = None,
    device: str = "cpu",
) -> Generator[tuple[str, int, int], None, tuple[FinetuneResult, FinetuneReport]]:
    """Fine-tune a calibrated session's tracking rig θ_S → θ̂_S, as a generator job; the tracker's solves run
    on ``device`` (``cpu``, ``cuda``).

    Keeps θ̂_S (``calibration/theta_S_hat.npz``) and its report (``calibration/finetune_report.json``: loss per
    stage, the capture metrics of θ_S and θ̂_S, seconds) in the session, together and atomically; nothing is
    written if it fails or is cancelled.

    Raises
    ------
    SessionError
        No θ_S yet (run ``calibrate`` first), no neutral or no expression captured.
    """
    session, bundle = _opened(session, bundle)
    theta_s = session.rig_parameters("theta_S")
    if theta_s is None:
        raise SessionError(f"{session.folder}: no calibrated rig (calibration/theta_S.npz); run calibrate first")
    expression_set = session.expression_set_definition()
    pairs, _flags = calibration_pairs(session, bundle.tracker(), bundle.definition, expression_set)
    started = time.perf_counter()
    result = yield from finetune_job(
        bundle.rig, theta_s, pairs, bundle.definition, expression_set, embedding=bundle.embedding, gaze=bundle.gaze,
        stage_name="theta_S_hat", tracker_options={"device": device}, cancel=cancel,
    )
    seconds = time.perf_counter() - started
    theta_hat = _with_session(result.parameters, session)
    report = replace(
        result.report,
        session=str(session.folder),
        expressions=[p.name for p in pairs],
        metrics={
            "theta_S": capture_metrics(bundle, theta_s, pairs),
            "theta_S_hat": capture_metrics(bundle, theta_hat, pairs),
        },
        wall_seconds=seconds,
    )
    session.save_result("theta_S_hat", theta_hat, report.to_json())
    return result, report


def finetune_session(
    session: Session | str | Path, bundle: RigBundle | None = None, device: str = "cpu"
) -> tuple[FinetuneResult, FinetuneReport]:
    """:func:`finetune_session_job` run to the end."""
    return run_job(finetune_session_job(session, bundle, device=device))


def network_pairs(session: Session, tracker: NetworkTracker, expression_set: SimonSaysSet | None = None) -> NetworkPairs:
    """The captures as the learned tracker's calibration pairs: each capture's face crops (and their mesh normal
    maps) with the controls its prompt asked for; the neutral asks for none.

    Raises
    ------
    SessionError
        A lost or damaged capture, or no capture with face crops (captures made before the studio kept them).
    """
    from studio.core.calibration.network import NetworkPairs

    if session.lost_captures:
        raise SessionError(f"{session.folder}: {', '.join(session.lost_captures)} lost their burst files; retake them")
    expression_set = expression_set or session.expression_set_definition()
    names, targets, crops, normals, expression = [], [], [], [], []
    for entry in expression_set.expressions:
        capture = session.capture(entry.name) if entry.name in session.expression_names else None
        if capture is None or capture.crops is None or not len(capture.crops):
            continue
        if capture.crops.shape[1] != tracker.size:
            raise SessionError(f"{session.folder}: {entry.name}'s crops are {capture.crops.shape[1]} px, the network "
                               f"takes {tracker.size} px")
        k = len(names)
        names.append(entry.name)
        targets.append(np.zeros(len(tracker.control_names)) if entry.is_neutral
                       else entry.control_vector(tracker.control_names))
        crops.append(capture.crops)
        expression.append(np.full(len(capture.crops), k, np.int64))
        if tracker.network.uses_normals:
            normals.append(tracker.normal_maps(capture.landmarks_px[capture.crop_frames]))
    if not names:
        raise SessionError(f"{session.folder}: no capture holds face crops (captures made before the studio kept "
                           "them); retake the expressions to calibrate the network")
    return NetworkPairs(tuple(names), np.concatenate(crops), np.concatenate(normals) if normals else None,
                        np.concatenate(expression), np.asarray(targets, np.float32))


def calibrate_network_session_job(
    session: Session | str | Path,
    bundle: RigBundle | None = None,
    network: str | Path | None = None,
    folds: int = 0,
    device: str = "cpu",
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, tuple[NetworkTracker, dict]]:
    """Calibrate the learned tracker (``network``: a weights file, default the shipped one, :func:`~studio.core.tracking.inversion.tracker.network_path`) to the
    session's performer (:func:`studio.core.calibration.network.calibrate_network`), as a generator job.

    Keeps it as ``calibration/network_calibrated.pt`` with its report (``calibration/network_report.json``);
    with ``folds`` > 0 the report holds the network's report card (every expression held out once).
    """
    from studio.core.calibration.network import calibrate_network, held_out_network_errors
    from studio.core.tracking.inversion.network import save_network
    from studio.core.tracking.inversion.tracker import network_path

    session, bundle = _opened(session, bundle)
    source = Path(network) if network else network_path()
    tracker = NetworkTracker.load(source, bundle.rig.expression_names, device)
    started = time.perf_counter()
    pairs = network_pairs(session, tracker)
    calibrated = yield from calibrate_network(tracker, pairs, cancel=cancel)
    report: dict = {"network": str(source), "session": str(session.folder), "captures": list(pairs.names),
                    "crops": int(len(pairs.crops)), **calibrated.metadata["calibration"]}
    if folds > 0:
        errors = yield from held_out_network_errors(tracker, pairs, folds, cancel=cancel)
        overall = {rig: float(np.mean([e[rig] for e in errors.values()])) for rig in ("network", "network_calibrated")}
        report["report_card"] = {"folds": folds, "errors": errors, "overall": overall}
    report["seconds"] = time.perf_counter() - started
    save_network(session.network_path(), calibrated.network.cpu(),
                 {**calibrated.metadata, "session": str(session.folder)})
    session.write_report("network", report)
    return calibrated, report
