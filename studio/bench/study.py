"""The whole chain, end to end, on a synthetic performer the studio never saw: session → calibrate → fine-tune →
unseen takes tracked with every rig, next to MediaPipe's own blendshapes.

Run ``python main.py bench study --level image --seed N --json OUT.json``.

**Image level** (what a user has: a camera): a performer with motion signature θ_GT (the performer model of
``seed``, or ``--gt-rig``), a random identity (20 leading ICT modes, σ = 1, seeded) and gentle head motion
records the packaged Simon-Says session through the renderer, MediaPipe and the guided burst capture
(:func:`studio.core.session.synthetic.synthetic_session_job`); the session is calibrated (θ_S) and fine-tuned
(θ̂_S) exactly as ``calibrate`` and ``finetune`` do. Then the same performer plays four **unseen takes**:

* ``held``: the animator set (``--eval-set`` replaces it), each pose eased in, held 1 s and eased out;
* ``continuous``: ``--continuous-s`` seconds of moderate mixed expressions (2–4 controls at 0.2–0.6, eased);
* ``speech``: phrases of visemes with co-articulation, blinks, and brows on phrase starts;
* ``one_sided``: one-sided expressions (winks, half smiles, one brow, sneers, frowns, squints), held.

Each take is rendered and reconstructed once (MediaPipe), then solved as ``track`` solves (auto neutral,
zero-phase smoothing) with θ_A, θ_S, θ̂_S and the oracle θ_GT as the tracker's rig; the peer row ``mediapipe``
is MediaPipe's own 52 blendshapes mapped onto the rig's controls (each ARKit value drives the controls that
carry it). When the learned tracker is shipped (``models/inversion/two_branch.pt``, the default network), rows ``network`` (as
trained on renders) and ``network_calibrated`` (calibrated on the session's captures, as ``finetune --tracker
network`` does) track the same frames' face crops, with the same smoothing. **Geometry level** replaces renderer and MediaPipe by θ_GT's exact landmarks plus Gaussian noise
(``--noise-mm``), as ``bench calibration`` and ``bench finetune`` do, through the same takes and figures (no
peer row).

Per take and rig, over the frames with a face: ``control_l2`` (mean per-frame Euclidean error of the 53
controls), ``control_linf``, ``primary_mae`` (mean absolute error over the non-tweaker controls),
``spurious`` (mean tracked value of controls whose truth is 0), ``sparsity`` (fraction of controls above 0.1),
``tweaker`` (sum of the tweaker controls), ``jitter``, ``lag_frames`` (the shift of the tracked curves that
best matches the truth; positive: late), ``per_control`` (MAE and signed bias); ``vs_theta_A`` gives each
rig's control L2 relative to θ_A's (−0.25: 25 % lower).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError

TAKES = ("held", "continuous", "speech", "one_sided")
RIGS = ("theta_A", "theta_S", "theta_S_hat", "theta_GT", "mediapipe", "network", "network_calibrated")
FPS = 30.0
LEVELS = ("image", "geometry")


def study_takes(
    control_names: Sequence[str],
    seed: int,
    eval_set: str | None = None,
    continuous_s: float = 20.0,
    speech_s: float = 15.0,
    max_poses: int | None = None,
) -> dict[str, np.ndarray]:
    """The four unseen takes' control curves, each ``(T, K)`` at :data:`FPS` (see the module docstring)."""
    from studio.core.capture.expression_sets import animator_set
    from studio.core.rig.control_curves import (
        held_pose_curves,
        moderate_expression_curves,
        one_sided_poses,
        speech_like_curves,
    )

    lead = 1.5
    held, _ = animator_set(control_names, eval_set)
    one_sided, _ = one_sided_poses(control_names)
    return {
        "held": held_pose_curves(held[:max_poses], FPS)[0],
        "continuous": moderate_expression_curves(control_names, round((lead + continuous_s) * FPS), FPS, seed + 100),
        "speech": speech_like_curves(control_names, round((lead + speech_s) * FPS), FPS, seed + 200),
        "one_sided": held_pose_curves(one_sided[:max_poses], FPS)[0],
    }


def lag_frames(values: np.ndarray, truth: np.ndarray, max_lag: int = 10) -> int:
    """The shift (frames) of ``values`` that best correlates with ``truth``; positive when ``values`` is late."""
    found = np.isfinite(values).all(axis=1)
    v, t = np.where(found[:, None], values, 0.0), truth.astype(np.float64)
    v, t = v - v.mean(axis=0), t - t.mean(axis=0)
    best, best_score = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        a = v[max(lag, 0) : len(v) + min(lag, 0)]
        b = t[max(-lag, 0) : len(t) + min(-lag, 0)]
        score = float((a * b).sum())
        if score > best_score:
            best, best_score = lag, score
    return best


def take_figures(values: np.ndarray, truth: np.ndarray, control_names: Sequence[str], tweakers: Sequence[int]) -> dict:
    """The figures of one take tracked by one rig (module docstring); ``values`` NaN where no face."""
    from studio.core.geometry.temporal_filters import jitter
    from studio.core.rig.metrics import sparsity, take_mean, tweaker_usage

    values, truth = np.asarray(values, np.float64), np.asarray(truth, np.float64)
    found = np.isfinite(values).all(axis=1)
    v, t = values[found], truth[found]
    error = v - t
    primary = np.setdiff1d(np.arange(len(control_names)), np.asarray(tweakers, int))
    rest = t == 0.0
    return {
        "frames": int(len(values)),
        "frames_with_face": int(found.sum()),
        "control_l2": float(np.linalg.norm(error, axis=1).mean()),
        "control_linf": float(np.abs(error).max(axis=1).mean()),
        "primary_mae": float(np.abs(error[:, primary]).mean()),
        "spurious": float(v[rest].mean()) if rest.any() else 0.0,
        "sparsity": take_mean(sparsity(values)),
        "tweaker": take_mean(tweaker_usage(values, tweakers)),
        "jitter": jitter(values),
        "lag_frames": lag_frames(values, truth),
        "per_control": {
            name: {"mae": float(np.abs(error[:, k]).mean()), "bias": float(error[:, k].mean())}
            for k, name in enumerate(control_names)
        },
    }


def _random_identity(rig, seed: int) -> np.ndarray:
    coefficients = np.zeros(rig.num_identity_modes, np.float32)
    modes = min(20, rig.num_identity_modes)
    coefficients[:modes] = np.random.default_rng(seed + 500).normal(0.0, 1.0, modes)
    return coefficients


def _image_level(study, takes: dict[str, np.ndarray], seed: int, session_expressions, timings: dict,
                 device: str) -> tuple:
    """Record, calibrate, fine-tune, then track every take with every rig and MediaPipe (module docstring)."""
    from studio.core.jobs import run_job
    from studio.core.session.calibrate import (
        calibrate_network_session_job,
        calibrate_session,
        finetune_session,
    )
    from studio.core.session.synthetic import synthetic_session_job
    from studio.core.tracking.inversion.crops import CROP_SIZE
    from studio.core.tracking.inversion.tracker import NetworkTracker, network_path
    from studio.core.tracking.reconstruction import (
        BLENDSHAPE_NAMES,
        GeometryReconstructor,
        reconstruct_frames,
    )
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.core.tracking.take import network_tracking, solve_observations
    from studio.render.synthetic_performer import PromptedPerformerSource, SyntheticPerformerSource

    bundle = RigBundle.load()
    rig, definition = bundle.rig, bundle.definition
    identity = _random_identity(rig, seed)
    performer = rig.with_parameters(study.theta_gt).with_identity(identity)
    with tempfile.TemporaryDirectory(prefix="bench-study-") as folder:
        started = time.perf_counter()
        job = synthetic_session_job(Path(folder) / "session", seed, lambda _rig: PromptedPerformerSource(performer, seed=seed),
                                    session_expressions, theta_gt=study.theta_gt)  # fmt: skip
        session = run_job(job)
        timings["session_s"] = time.perf_counter() - started
        started = time.perf_counter()
        calibration, calibration_report = calibrate_session(session, bundle)
        timings["calibrate_s"] = time.perf_counter() - started
        started = time.perf_counter()
        finetuning, finetune_report = finetune_session(session, bundle, device=device)
        timings["finetune_s"] = time.perf_counter() - started
        networks = {}
        if network_path().is_file():
            started = time.perf_counter()
            networks["network"] = NetworkTracker.load(network_path(), rig.expression_names, device)
            networks["network_calibrated"], network_report = run_job(
                calibrate_network_session_job(session, bundle, device=device))
            timings["network_calibration_s"] = time.perf_counter() - started
        status = session.status()
        session_figures = {
            "captures": len(status.captured),
            "flagged": len(status.flagged),
            "flagged_expressions": list(status.flagged),
            "detector_response": calibration_report.detector_response,
        }
        if networks:
            session_figures["network_calibration"] = {k: network_report[k] for k in (
                "crops", "control_l1_before", "control_l1_after")}
    trackers = {
        "theta_A": bundle.tracker(device=device),
        "theta_S": bundle.tracker(calibration.parameters, device=device),
        "theta_S_hat": bundle.tracker(finetuning.parameters, device=device),
        "theta_GT": bundle.tracker(study.theta_gt, device=device),
    }
    tweakers = definition.tweaker_indices()
    figures: dict = {}
    for number, (name, curves) in enumerate(takes.items()):
        started = time.perf_counter()
        source = SyntheticPerformerSource(performer, curves, FPS, head_motion=True, seed=seed + 10 * number)
        with GeometryReconstructor(running_mode="video", crop_size=CROP_SIZE if networks else None) as reconstructor:
            observations = run_job(reconstruct_frames(source, reconstructor))
        timings[f"{name}_render_and_mediapipe_s"] = time.perf_counter() - started
        figures[name] = {}
        for label, tracker in trackers.items():
            started = time.perf_counter()
            tracked = solve_observations(observations, tracker, "auto", "smooth", FPS, tweakers).curves.values
            timings[f"{name}_solve_s"] = timings.get(f"{name}_solve_s", 0.0) + time.perf_counter() - started
            figures[name][label] = take_figures(tracked, curves, rig.expression_names, tweakers)
        scores = np.stack([o.blendshapes for o in observations])
        peer = definition.from_arkit(dict(zip(BLENDSHAPE_NAMES, scores.T, strict=True))).astype(np.float64)
        peer[~np.array([o.face_found for o in observations])] = np.nan
        figures[name]["mediapipe"] = take_figures(peer, curves, rig.expression_names, tweakers)
        for label, network in networks.items():
            started = time.perf_counter()
            tracked = network_tracking(observations, network, "smooth", FPS, tweakers).curves.values
            timings[f"{name}_network_s"] = timings.get(f"{name}_network_s", 0.0) + time.perf_counter() - started
            figures[name][label] = take_figures(tracked, curves, rig.expression_names, tweakers)
    return figures, session_figures, finetune_report


def _geometry_level(study, takes: dict[str, np.ndarray], noise_mm: float, timings: dict, device: str) -> tuple:
    """The same takes at geometry level: θ_GT's exact landmarks plus noise, no renderer, no MediaPipe."""
    from studio.core.calibration.calibrate import calibrate
    from studio.core.calibration.finetune import finetune
    from studio.core.rig.rig import RigParameters
    from studio.core.tracking.take import filter_curves
    from studio.core.tracking.tracker import Tracker

    rig, definition, embedding = study.rig, study.definition, study.embedding
    started = time.perf_counter()
    pairs, _neutral = study.captures(noise_mm)
    timings["session_s"] = time.perf_counter() - started
    started = time.perf_counter()
    theta_s = calibrate(rig, embedding, pairs, definition).parameters
    timings["calibrate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    finetuning = finetune(rig, theta_s, pairs, definition, study.simon_says, stage_name="theta_S_hat",
                          tracker_options={"device": device})
    timings["finetune_s"] = time.perf_counter() - started
    theta_a = RigParameters(rig.expression_names, rig.expression_deltas, {"stage": "theta_A"})
    rigs = {"theta_A": theta_a, "theta_S": theta_s, "theta_S_hat": finetuning.parameters, "theta_GT": study.theta_gt}
    tweakers = definition.tweaker_indices()
    rest = study.gt_points(np.zeros((1, rig.num_controls)))[0]
    figures: dict = {}
    for name, curves in takes.items():
        exact = study.gt_points(curves.astype(np.float64)) - rest + study.rig_points
        landmarks = exact + study.rng.normal(0.0, noise_mm / 10.0, size=exact.shape)
        figures[name] = {}
        for label, parameters in rigs.items():
            tracker = Tracker(rig.with_parameters(parameters), embedding, device=device)
            tracked = tracker.solve(landmarks, tracker.performer_neutral(study.rig_points)).controls
            values = np.clip(filter_curves(tracked, np.arange(len(curves)) / FPS, "smooth", FPS), 0.0, 1.0)
            figures[name][label] = take_figures(values, curves, rig.expression_names, tweakers)
    return figures, {"captures": len(pairs) + 1, "flagged": 0}, finetuning.report


def _cuda_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device))


def run_study_benchmark(
    seed: int = 0,
    level: str = "image",
    gt_rig: str | None = None,
    eval_set: str | None = None,
    noise_mm: float = 1.0,
    continuous_s: float = 20.0,
    speech_s: float = 15.0,
    session_expressions: Sequence[str] | None = None,
    max_poses: int | None = None,
    device: str = "cpu",
) -> dict:
    """The whole chain on one synthetic performer (module docstring); returns the figures as JSON data.

    ``device`` (``cpu``, ``cuda``) is where fine-tuning and the trackers' solves run; calibration's sparse
    algebra, the renderer and MediaPipe are on the CPU. ``session_expressions`` (a subset of the Simon-Says set) and ``max_poses`` (held and one-sided poses kept)
    shorten the study for tests; the benchmark uses the whole set and every pose.
    """
    from studio.bench.calibration import SyntheticStudy
    from studio.core.jobs import checked_device

    device = checked_device(device)
    if level not in LEVELS:
        raise StudioError(f"unknown level {level!r}: use {' or '.join(LEVELS)}")
    started = time.perf_counter()
    study = SyntheticStudy(seed, gt_rig, "ict_full")
    takes = study_takes(study.rig.expression_names, seed, eval_set, continuous_s, speech_s, max_poses)
    timings: dict = {}
    if level == "image":
        figures, session, report = _image_level(study, takes, seed, session_expressions, timings, device)
    else:
        figures, session, report = _geometry_level(study, takes, noise_mm, timings, device)
    for take in figures.values():
        baseline = take["theta_A"]["control_l2"]
        for row in take.values():
            row["vs_theta_A"] = float(row["control_l2"] / baseline - 1.0)
    timings["total_s"] = time.perf_counter() - started
    return {
        "benchmark": "study",
        "seed": seed,
        "level": level,
        "device": device if not device.startswith("cuda") else f"{device} ({_cuda_name(device)})",
        "noise_mm": noise_mm if level == "geometry" else None,
        "gt_rig": gt_rig or "parametric (studio.core.rig.performer_model)",
        "eval_set": eval_set or "animator (studio/resources/expression_sets/ict_animator_eval.json)",
        "session": session,
        "take_frames": {name: int(len(curves)) for name, curves in takes.items()},
        "takes": figures,
        "finetune_stages": [stage.stage for stage in report.stages] if hasattr(report, "stages") else [],
        "seconds": {k: round(v, 2) for k, v in timings.items()},
    }
