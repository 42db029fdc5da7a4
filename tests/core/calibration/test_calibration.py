"""Simon-Says calibration θ_A → θ_S (studio/core/calibration/calibrate.py, paper 001 Sec. 4 and 8).

The small-rig tests compare the closed form against the paper's Eq. 5 and against dense references; the
ICT tests read ``ict_facekit.npz`` from ``STUDIO_ASSETS_DIR`` and skip without it.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from studio.core.calibration.calibrate import (
    CalibrationPair,
    CalibrationResult,
    calibrate,
    calibrate_job,
    cross_validate,
    cross_validate_support,
    gain_kernel,
    mesh_propagator,
    solve_gain_weights,
    solve_landmark_corrections,
    solve_support_corrections,
    support_weights,
)
from studio.core.jobs import JobCancelled, run_job
from studio.core.rig.definition import RigDefinition
from studio.core.tracking.landmark_embedding import LandmarkEmbedding

# MediaPipe FaceMesh lip landmarks (outer and inner contour), mouth corners left out.
UPPER_LIP = [185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415]
LOWER_LIP = [146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324]


def _small_problem(seed: int, num_controls: int = 3, num_points: int = 6, num_captures: int = 5):
    rng = np.random.default_rng(seed)
    controls = rng.uniform(0.0, 1.0, (num_captures, num_controls))
    prior = rng.normal(0.0, 1.0, (num_controls, num_points, 3))  # θ_A at the points
    targets = rng.normal(0.0, 1.0, (num_captures, num_points, 3))  # v − S n
    weights = rng.uniform(0.5, 2.0, num_captures)
    return controls, prior, targets, weights


def _path_laplacian(num_points: int) -> np.ndarray:
    lap = 2.0 * np.eye(num_points) - np.eye(num_points, k=1) - np.eye(num_points, k=-1)
    lap[0, 0] = lap[-1, -1] = 1.0
    return lap


# ----------------------------------------------------------------------------------------------------------
# (a) closed form against Eq. 5 and a dense reference
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("regularization", [1e-3, 0.1, 2.0])
def test_matches_eq5_levenberg_marquardt(regularization):
    """μ = 0: θ_S = (V W Cᵀ + λ A_0)(C W Cᵀ + λ I)⁻¹ per point and coordinate (Eq. 5 with LM rows)."""
    controls, prior, targets, weights = _small_problem(0)
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    x = solve_landmark_corrections(
        torch.as_tensor(controls), torch.as_tensor(residuals), torch.as_tensor(weights), regularization
    ).numpy()
    c = controls.T  # (K, M): C in the paper's layout
    w = np.diag(weights)
    num_controls, num_points, _ = prior.shape
    for coord in range(3):
        a0 = prior[:, :, coord].T  # (N, K): A(θ_A), one row per point
        v = targets[:, :, coord].T  # (N, M)
        eq5 = (v @ w @ c.T + regularization * a0) @ np.linalg.inv(
            c @ w @ c.T + regularization * np.eye(num_controls)
        )
        np.testing.assert_allclose(prior[:, :, coord] + x[:, :, coord], eq5.T, atol=1e-8, rtol=0)


def test_smoothness_matches_dense_kronecker_solve():
    """μ > 0: the eigen-diagonalised solve equals the dense (K·N) normal equations."""
    controls, prior, targets, weights = _small_problem(1, num_controls=4, num_points=7, num_captures=6)
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    lap = _path_laplacian(7)
    lam, mu = 0.05, 0.3
    x = solve_landmark_corrections(
        torch.as_tensor(controls),
        torch.as_tensor(residuals),
        torch.as_tensor(weights),
        lam,
        mu,
        torch.as_tensor(lap),
    ).numpy()
    gram = controls.T @ np.diag(weights) @ controls
    normal = np.kron(gram, np.eye(7)) + lam * np.eye(28) + mu * np.kron(np.eye(4), lap)
    for coord in range(3):
        rhs = np.einsum("mk,m,mn->kn", controls, weights, residuals[:, :, coord]).ravel()
        np.testing.assert_allclose(x[:, :, coord].ravel(), np.linalg.solve(normal, rhs), atol=1e-8, rtol=0)


def test_cross_validation_matches_brute_force():
    controls, prior, targets, weights = _small_problem(2, num_controls=3, num_points=5, num_captures=6)
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    lap = torch.as_tensor(_path_laplacian(5))
    args = [torch.as_tensor(a) for a in (controls, residuals, weights)]
    reg_grid, smooth_grid = (1e-2, 0.5), (0.0, 0.2, 1.0)
    fast = cross_validate(*args, lap, reg_grid, smooth_grid)
    slow = np.zeros_like(fast)
    for i, lam in enumerate(reg_grid):
        for j, mu in enumerate(smooth_grid):
            errors = []
            for m in range(len(controls)):
                keep = np.arange(len(controls)) != m
                x = solve_landmark_corrections(*(a[keep] for a in args), lam, mu, lap).numpy()
                error = np.einsum("k,knc->nc", controls[m], x) - residuals[m]
                errors.append(np.sqrt((error**2).mean()) * 10.0)
            slow[i, j] = np.mean(errors)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# (b) recovery of a known θ_GT
# ----------------------------------------------------------------------------------------------------------


def test_recovers_ground_truth_from_noise_free_captures():
    rng = np.random.default_rng(3)
    num_controls, num_points = 6, 20
    prior = rng.normal(0.0, 1.0, (num_controls, num_points, 3))
    truth = prior + rng.normal(0.0, 0.3, prior.shape)
    controls = np.vstack(
        [np.eye(num_controls), rng.uniform(0.0, 1.0, (4, num_controls))]
    )  # covers all shapes
    targets = np.einsum("mk,knc->mnc", controls, truth)
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    x = solve_landmark_corrections(
        torch.as_tensor(controls), torch.as_tensor(residuals), torch.ones(len(controls)), 1e-12
    ).numpy()
    np.testing.assert_allclose(prior + x, truth, atol=1e-8, rtol=0)


def test_unexcited_shapes_keep_their_prior():
    """A shape no capture moves gets no correction (λ pulls it to θ_A)."""
    controls, prior, targets, weights = _small_problem(4, num_controls=4)
    controls[:, 2] = 0.0
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    x = solve_landmark_corrections(
        torch.as_tensor(controls), torch.as_tensor(residuals), torch.as_tensor(weights), 1e-6
    ).numpy()
    assert np.abs(x[2]).max() < 1e-12


# ----------------------------------------------------------------------------------------------------------
# The ICT rig: constraints, seams, speed
# ----------------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------------------
# support-weighted LM term and gain fields
# ----------------------------------------------------------------------------------------------------------


def test_support_weights_follow_prior():
    """δ = inf is the uniform LM term; otherwise landmarks a shape does not move are pulled harder."""
    _, prior, _, _ = _small_problem(3)
    prior[0, :2] = 0.0
    assert np.array_equal(support_weights(prior, float("inf")), np.ones(prior.shape[:2]))
    w = support_weights(prior, 1e-2)
    assert w.shape == prior.shape[:2]
    assert np.allclose(w[0, :2], 101.0) and w[0, 2:].max() < w[0, :2].min()


def test_support_solve_uniform_matches_closed_form_and_loo_is_exact():
    """Uniform weights give the μ = 0 closed form; the ridge LOO shortcut equals refitting without a capture."""
    controls, prior, targets, weights = _small_problem(4, num_captures=6)
    residuals = targets - np.einsum("mk,knc->mnc", controls, prior)
    uniform = solve_support_corrections(controls, residuals, weights, 0.1, np.ones(prior.shape[:2]))
    reference = solve_landmark_corrections(
        torch.as_tensor(controls), torch.as_tensor(residuals), torch.as_tensor(weights), 0.1
    ).numpy()
    np.testing.assert_allclose(uniform, reference, atol=1e-10)
    lam, falloff = 0.05, 1e-2
    support = support_weights(prior, falloff)
    brute = []
    for m in range(len(controls)):
        keep = np.arange(len(controls)) != m
        x = solve_support_corrections(controls[keep], residuals[keep], weights[keep], lam, support)
        error = np.einsum("k,knc->nc", controls[m], x) - residuals[m]
        brute.append(np.sqrt((error**2).mean()))
    fast = cross_validate_support(controls, residuals, weights, prior, (lam,), (falloff,))
    np.testing.assert_allclose(fast[0, 0], np.mean(brute) * 10.0, rtol=1e-9)


def test_gain_fields_recover_smooth_gains_between_landmarks():
    """A smooth gain on the prior's motion is predicted between landmarks, and far away it returns to the
    shape's common gain; landmarks that a shape does not move carry no weight."""
    rng = np.random.default_rng(5)
    landmarks = np.zeros((30, 3))
    landmarks[:, 0] = np.linspace(0.0, 6.0, 30)  # cm
    between = landmarks[:-1] + np.array([0.1, 0.0, 0.0])

    def gain(points: np.ndarray) -> np.ndarray:
        return 0.2 + 0.1 * np.sin(points[:, 0])

    prior = rng.normal(0.0, 0.3, (2, 30, 3))
    prior[1, :10] = 0.0
    corrections = gain(landmarks)[None, :, None] * prior
    weights = solve_gain_weights(corrections, prior, gain_kernel(landmarks, landmarks, 1.0), noise_cm=1e-4)
    predicted = gain_kernel(between, landmarks, 1.0) @ weights[0]  # (29, 3), per coordinate
    assert np.abs(predicted - gain(between)[:, None]).max() < 0.02
    assert not weights[1, :10].any()
    far = gain_kernel(np.array([[60.0, 0.0, 0.0]]), landmarks, 1.0) @ weights[0]
    assert np.abs(far - 0.2).max() < 0.05
    assert not solve_gain_weights(np.zeros_like(prior), prior, gain_kernel(landmarks, landmarks)).any()


@pytest.fixture(scope="module")
def ict(ict_rig):
    embedding, definition = LandmarkEmbedding.ict(), RigDefinition.ict()
    return ict_rig, embedding, definition, mesh_propagator(ict_rig, embedding, definition)


def _synthetic_pairs(rig, embedding, truth: np.ndarray, num: int, seed: int, noise_cm: float = 0.0):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(num):
        c = np.zeros(rig.num_controls)
        if i == 0:
            c[rig.control_index("jawOpen")] = 1.0
        else:
            picked = rng.choice(rig.num_controls, 2, replace=False)
            c[picked] = rng.uniform(0.5, 1.0, 2)
        landmarks = embedding.positions(rig, rig.neutral + np.einsum("k,kvx->vx", c, truth))
        landmarks = landmarks + rng.normal(0.0, noise_cm, landmarks.shape) if noise_cm else landmarks
        pairs.append(CalibrationPair(f"expr{i:02d}", c, landmarks, noise_mm=noise_cm * 10 or None))
    return pairs


def test_lip_seal_kept_when_jaw_open_changes(ict):
    """(c) A capture with a much stronger jawOpen would open the seal; the corrective keeps it closed."""
    rig, embedding, definition, _ = ict
    truth = rig.expression_deltas.astype(np.float64).copy()
    truth[rig.control_index("jawOpen")] *= 1.4
    pairs = _synthetic_pairs(rig, embedding, truth, 1, seed=0)
    result = calibrate(rig, embedding, pairs, definition, regularization=1e-4, smoothness=0.0)
    seal = result.report.constraints["lip_seal"]
    assert seal["unconstrained"]["mean_mm"] > seal["theta_A"]["mean_mm"] + 2.0  # the capture would open it
    lip = definition.constraint("lip_seal")
    posed = rig.with_parameters(result.parameters).evaluate(lip.control_vector(rig.expression_names))
    gaps_mm = lip.gaps(posed) * 10.0
    assert gaps_mm.mean() <= lip.residual_gap.mean_mm + 0.05
    assert gaps_mm.max() <= lip.residual_gap.max_mm + 0.05
    # and the calibration did fit the capture
    residual = result.report.residual_mm["expr00"]
    assert residual.after < 0.25 * residual.before


def test_propagation_respects_lip_seam(ict):
    """(d) An upper-lip-only correction does not reach the lower lip and is reproduced at the landmarks."""
    rig, embedding, definition, propagator = ict
    corrected = np.flatnonzero(propagator.corrected_landmarks)
    column = {int(n): i for i, n in enumerate(corrected)}
    shift = np.array([0.1, -0.3, 0.2])  # cm
    corrections = np.zeros((1, len(corrected), 3))
    for n in UPPER_LIP:
        corrections[0, column[n]] = shift
    full = propagator.propagate(corrections)[0]  # (V, 3)
    magnitude = np.linalg.norm(shift)
    lower_vertices = definition.constraint("lip_seal").vertex_pairs[:, 1]
    upper_vertices = definition.constraint("lip_seal").vertex_pairs[:, 0]
    assert rig.neutral[lower_vertices, 1].mean() < rig.neutral[upper_vertices, 1].mean()
    assert np.linalg.norm(full[lower_vertices], axis=1).max() <= 0.05 * magnitude
    at_landmarks = embedding.positions(rig, full)  # (N, 3) of the correction field
    upper = at_landmarks[UPPER_LIP]
    assert np.linalg.norm(upper - shift, axis=1).max() <= 0.05 * magnitude
    assert np.linalg.norm(full, axis=1).max() <= 1.5 * magnitude  # no wild extrapolation into the mouth
    assert np.linalg.norm(at_landmarks[LOWER_LIP], axis=1).max() <= 0.05 * magnitude
    # eyeballs and teeth are never corrected
    for group in ("eyeball_left", "eyeball_right", "teeth", "gums_tongue"):
        assert np.abs(full[rig.group_vertices(group)]).max() == 0.0


def test_ict_nineteen_captures(ict):
    """(e) 19 noisy synthetic captures: runs fast, reduces the landmark residual, keeps the constraints."""
    rig, embedding, definition, _ = ict
    rng = np.random.default_rng(7)
    truth = rig.expression_deltas.astype(np.float64) * rng.uniform(0.7, 1.3, (rig.num_controls, 1, 1))
    pairs = _synthetic_pairs(rig, embedding, truth, 19, seed=1, noise_cm=0.01)
    start = time.perf_counter()
    result = calibrate(rig, embedding, pairs, definition)
    seconds = time.perf_counter() - start
    assert seconds < 5.0  # sanity bound only; the real figure belongs to a benchmark
    assert isinstance(result, CalibrationResult)
    assert result.parameters.expression_deltas.shape == rig.expression_deltas.shape
    assert result.parameters.metadata["stage"] == "theta_S"
    assert result.landmark_deltas.shape == (rig.num_controls, len(embedding), 3)
    report = result.report
    assert report.cv is not None and np.shape(report.cv["loo_rms_mm"]) == (
        len(report.cv["regularization_grid"]),
        len(report.cv["smoothness_grid"]),
    )
    before = np.mean([r.before for r in report.residual_mm.values()])
    after = np.mean([r.after for r in report.residual_mm.values()])
    assert after < 0.5 * before
    for name, gaps in report.constraints.items():
        assert gaps["theta_S"]["max_mm"] <= gaps["theta_A"]["max_mm"] + 0.05, name


def test_job_reports_progress_and_cancels(ict):
    rig, embedding, definition, _ = ict
    pairs = _synthetic_pairs(rig, embedding, rig.expression_deltas, 3, seed=2)
    progress = []
    result = run_job(calibrate_job(rig, embedding, pairs, definition), on_progress=progress.append)
    assert [p[0] for p in progress][:4] == ["landmarks", "cross_validation", "propagation", "constraints"]
    # captures the prior rig already explains: nothing to correct
    assert np.abs(result.parameters.expression_deltas - rig.expression_deltas).max() < 1e-4
    flag = threading.Event()
    flag.set()
    with pytest.raises(JobCancelled):
        run_job(calibrate_job(rig, embedding, pairs, definition, cancel=flag))
