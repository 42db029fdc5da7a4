"""Tracker fine-tuning on the ICT rig: the implicit gradient against the real bounded solver, the four
stages, and the animator metrics."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.calibration.finetune import FinetuneSettings, TrackerInversion, finetune, finetune_job
from studio.core.jobs import JobCancelled, run_job
from studio.core.rig.metrics import animation_metrics, vertex_error_mm
from studio.core.tracking.tracker import Tracker


@pytest.fixture(scope="module")
def ict_embedding(assets_dir):
    from studio.core.tracking.landmark_embedding import LandmarkEmbedding

    return LandmarkEmbedding.ict()


@pytest.fixture(scope="module")
def ict_definition():
    from studio.core.rig.definition import RigDefinition

    return RigDefinition.ict()


@pytest.fixture(scope="module")
def tracker(ict_rig, ict_embedding):
    return Tracker(ict_rig, ict_embedding)  # no gaze model: every control comes from the solve


def _solve_on_the_rig(tracker: Tracker, landmarks: np.ndarray) -> np.ndarray:
    return tracker.solve(landmarks, tracker.performer_neutral(tracker.rig_points)).controls


def _sparse_poses(num_controls: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    poses = np.zeros((count, num_controls))
    for row in poses:
        row[rng.choice(num_controls, 4, replace=False)] = rng.uniform(0.2, 0.8, 4)
    return poses


def _directional(tracker: Tracker, inversion: TrackerInversion, targets, weights, direction, eps=1e-6):
    """Central difference of ``Σ weights · controls`` along ``direction`` through the real bounded solver."""
    values = []
    for sign in (1, -1):
        solved = inversion.invert(tracker.landmark_basis + sign * eps * direction, targets)
        values.append(float((solved.controls(inversion.num_controls) * weights).sum()))
    return (values[0] - values[1]) / (2 * eps)


def test_inversion_is_the_trackers_solve(tracker):
    inversion = TrackerInversion(tracker, tracker.rig_points)
    poses = _sparse_poses(tracker.rig.num_controls, 5, 0)
    displacements = np.einsum("bk,knx->bnx", poses, tracker.landmark_basis)
    solved = inversion.invert(tracker.landmark_basis, displacements)
    tracked = tracker.solve(tracker.rig_points + displacements, tracker.performer_neutral(tracker.rig_points))
    np.testing.assert_allclose(solved.controls(inversion.num_controls), tracked.controls, atol=1e-6)
    # another rig through the public API: the same solve with the new basis
    other = tracker.landmark_basis * 1.1
    np.testing.assert_allclose(
        inversion.invert(other, displacements).controls(inversion.num_controls),
        _solve_on_the_rig(tracker.with_landmark_basis(other), tracker.rig_points + displacements),
        atol=1e-6,
    )


def test_implicit_gradient_matches_finite_differences_of_the_bounded_solver(tracker):
    """Eq. 12 gives the solver's derivative when the tracker's reconstruction is credible (ṽ ≈ 0)."""
    inversion = TrackerInversion(tracker, tracker.rig_points)
    rng = np.random.default_rng(1)
    poses = _sparse_poses(tracker.rig.num_controls, 6, 1)
    displacements = np.einsum("bk,knx->bnx", poses, tracker.landmark_basis)  # the rig's own geometry
    solved = inversion.invert(tracker.landmark_basis, displacements)
    assert (~solved.free[:, : inversion.num_controls]).sum() > 100  # many controls held at the bound 0
    weights = rng.normal(size=poses.shape)
    grad = inversion.vjp(solved, np.c_[weights, np.zeros((len(poses), 7))])
    for trial in range(3):
        direction = rng.normal(size=tracker.landmark_basis.shape) * 0.01
        numeric = _directional(tracker, inversion, displacements, weights, direction)
        analytic = float((grad * direction).sum())
        assert analytic == pytest.approx(numeric, rel=2e-3), trial


def test_residual_term_makes_the_gradient_exact_on_noisy_geometry(tracker):
    """With a reconstruction error the ansatz is approximate; adding the ∂ṽ/∂θ estimate makes it exact."""
    inversion = TrackerInversion(tracker, tracker.rig_points)
    rng = np.random.default_rng(2)
    poses = _sparse_poses(tracker.rig.num_controls, 6, 2)
    displacements = np.einsum("bk,knx->bnx", poses, tracker.landmark_basis)
    displacements += rng.normal(0.0, 0.05, displacements.shape)  # 0.5 mm of noise
    solved = inversion.invert(tracker.landmark_basis, displacements)
    weights = rng.normal(size=poses.shape)
    grad_x = np.c_[weights, np.zeros((len(poses), 7))]
    implicit = inversion.vjp(solved, grad_x)
    exact = inversion.vjp(solved, grad_x, residual_term=True)
    gaps = []
    for trial in range(3):
        direction = rng.normal(size=tracker.landmark_basis.shape) * 0.01
        numeric = _directional(tracker, inversion, displacements, weights, direction)
        assert float((exact * direction).sum()) == pytest.approx(numeric, rel=1e-5), trial
        gaps.append(abs(float((implicit * direction).sum()) - numeric) / abs(numeric))
    assert max(gaps) > 1e-3  # the ansatz alone is measurably off here


@pytest.fixture(scope="module")
def synthetic_pairs(assets_dir):
    """θ_GT's Simon-Says captures at geometry level (0.5 mm bursts), as the benchmark makes them."""
    from studio.bench.calibration import SyntheticStudy

    study = SyntheticStudy(4, expression_set="ict_default")
    return study.captures(0.5)[0], study.simon_says


def test_four_stages_only_keep_what_the_full_tracker_confirms(ict_rig, ict_definition, ict_embedding, synthetic_pairs):
    pairs, simon_says = synthetic_pairs
    theta_a = ict_rig.parameters
    progress = []
    result = run_job(
        finetune_job(ict_rig, theta_a, pairs, ict_definition, simon_says, embedding=ict_embedding,
                     settings=FinetuneSettings(iterations=4), stage_name="theta_A_hat"),
        on_progress=progress.append,
    )
    report = result.report
    assert [s.stage for s in report.stages] == [1, 2, 3, 4]
    errors = [report.control_l2_before] + [s.control_l2 for s in report.stages]
    assert all(b <= a + 1e-12 for a, b in zip(errors, errors[1:], strict=False))  # no stage makes T worse
    assert report.control_l2_after < 0.9 * report.control_l2_before  # θ_A's semantics do improve
    assert sum(s.accepted for s in report.stages) > 0
    assert "eyeLookIn_L" in report.untuned  # gaze shapes barely move the landmarks: left alone
    assert progress[-1][0] == "done" and progress[-1][1] == progress[-1][2]
    # θ̂ on the full mesh is what the tracker was tuned as: S·(θ_R + P δ) = S θ_R + (S P) δ
    retracked = Tracker(ict_rig.with_parameters(result.parameters), ict_embedding)
    np.testing.assert_allclose(retracked.landmark_basis, result.landmark_basis, atol=2e-6)
    assert result.parameters.metadata["stage"] == "theta_A_hat"
    untouched = ict_rig.control_index("eyeLookIn_L")
    assert np.abs(result.corrections[untouched]).max() == 0.0


def test_finetuning_cancels_with_what_it_has(ict_rig, ict_definition, ict_embedding, synthetic_pairs):
    pairs, simon_says = synthetic_pairs
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(JobCancelled) as raised:
        finetune(ict_rig, ict_rig.parameters, pairs, ict_definition, simon_says, embedding=ict_embedding,
                 settings=FinetuneSettings(iterations=2), cancel=cancel)
    partial = raised.value.partial
    assert partial.parameters.expression_deltas.shape == ict_rig.expression_deltas.shape
    assert partial.report.cancelled_in_stage == 1


def test_bad_pairs_and_stages_are_refused(ict_rig, ict_definition, ict_embedding, synthetic_pairs):
    pairs, _ = synthetic_pairs
    with pytest.raises(ValueError, match="at least one"):
        finetune(ict_rig, ict_rig.parameters, [], ict_definition)
    with pytest.raises(ValueError, match="stages"):
        finetune(ict_rig, ict_rig.parameters, pairs, ict_definition, settings=FinetuneSettings(stages=(5,)))
    from dataclasses import replace

    broken = [replace(pairs[0], landmarks=np.full_like(pairs[0].landmarks, np.nan))]
    with pytest.raises(ValueError, match="finite"):
        finetune(ict_rig, ict_rig.parameters, broken, ict_definition, embedding=ict_embedding)


def test_animation_metrics_per_frame_and_mean():
    values = np.array([[0.0, 0.5, 0.05, 0.2], [np.nan] * 4, [1.0, 0.0, 0.0, 0.3]])
    truth = np.array([[0.0, 0.5, 0.0, 0.0], [0.0] * 4, [1.0, 0.0, 0.0, 0.0]])
    metrics = animation_metrics(values, [2, 3], truth=truth, vertex_error=np.array([0.1, np.nan, 0.3]))
    np.testing.assert_allclose(metrics["sparsity"]["per_frame"][[0, 2]], [0.5, 0.5])
    np.testing.assert_allclose(metrics["tweaker"]["per_frame"][[0, 2]], [0.25, 0.3])
    np.testing.assert_allclose(metrics["control_l2"]["per_frame"][0], np.hypot(0.05, 0.2))
    np.testing.assert_allclose(metrics["control_linf"]["per_frame"][2], 0.3)
    assert metrics["tweaker"]["mean"] == pytest.approx(0.275)  # the faceless frame is skipped
    assert metrics["vertex_mm"]["mean"] == pytest.approx(0.2)
    posed = np.zeros((2, 3, 3))
    shifted = posed + np.array([0.0, 0.0, 0.1])
    np.testing.assert_allclose(vertex_error_mm(shifted, posed), [1.0, 1.0])
