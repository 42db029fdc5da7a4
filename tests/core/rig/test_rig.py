"""Rig core against slow, readable numpy references, on the real ICT rig and on small random rigs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.geometry.rotations import euler_to_matrix
from studio.core.rig.rig import (
    Rig,
    RigFileError,
    RigParameters,
    SurfacePoints,
    evaluate_blendshapes,
    fit_identity_coefficients,
    sample_surface,
)
from studio.core.rig.state import RigState


def _naive_evaluate(controls: np.ndarray, neutral: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    out = np.empty((controls.shape[0],) + neutral.shape, np.float64)
    for b in range(controls.shape[0]):
        out[b] = neutral
        for k in range(deltas.shape[0]):
            out[b] += controls[b, k] * deltas[k]
    return out


def _naive_sample(vertices: np.ndarray, triangles, triangle_ids, barycentrics) -> np.ndarray:
    out = np.zeros((len(triangle_ids), 3))
    for n, (t, w) in enumerate(zip(triangle_ids, barycentrics, strict=True)):
        for corner in range(3):
            out[n] += w[corner] * vertices[triangles[t, corner]]
    return out


def _random_surface_points(rng: np.random.Generator, num_triangles: int, n: int) -> SurfacePoints:
    weights = rng.random((n, 3)) + 1e-3
    return SurfacePoints(rng.integers(0, num_triangles, n), (weights / weights.sum(1, keepdims=True)).astype(np.float32))


def test_batched_evaluation_matches_naive_reference_on_ict(ict_rig):
    rng = np.random.default_rng(0)
    controls = rng.random((4, ict_rig.num_controls)).astype(np.float32)
    tensors = ict_rig.tensors()
    fast = tensors.evaluate(torch.from_numpy(controls)).numpy()
    slow = _naive_evaluate(controls, ict_rig.neutral.astype(np.float64), ict_rig.expression_deltas.astype(np.float64))
    assert fast.shape == (4, ict_rig.num_vertices, 3)
    np.testing.assert_allclose(fast, slow, atol=1e-4)
    np.testing.assert_allclose(ict_rig.evaluate(controls[1]), slow[1], atol=1e-4)


def test_zero_controls_give_neutral_and_single_control_gives_its_delta(ict_rig):
    k = ict_rig.control_index("jawOpen")
    controls = np.zeros(ict_rig.num_controls, np.float32)
    np.testing.assert_array_equal(ict_rig.evaluate(controls), ict_rig.neutral)
    controls[k] = 1.0
    moved = ict_rig.evaluate(controls) - ict_rig.neutral
    np.testing.assert_allclose(moved, ict_rig.expression_deltas[k], atol=1e-6)
    # the jaw opens downwards (−y) by several millimetres at the chin
    assert moved[:, 1].min() < -0.5


def test_surface_sampling_matches_naive_reference_and_commutes_with_evaluation(ict_rig):
    rng = np.random.default_rng(1)
    points = _random_surface_points(rng, ict_rig.triangles.shape[0], 478)
    controls = rng.random((3, ict_rig.num_controls)).astype(np.float32)
    tensors = ict_rig.tensors()
    full = tensors.evaluate(torch.from_numpy(controls))
    sampled = sample_surface(
        full, tensors.triangles, torch.from_numpy(points.triangle_ids), torch.from_numpy(points.barycentrics)
    ).numpy()
    for b in range(3):
        reference = _naive_sample(full[b].numpy().astype(np.float64), ict_rig.triangles, points.triangle_ids, points.barycentrics)
        np.testing.assert_allclose(sampled[b], reference, atol=1e-4)
    # the small rig at surface points gives the same positions as sampling the evaluated mesh
    np.testing.assert_allclose(tensors.evaluate_at(torch.from_numpy(controls), points).numpy(), sampled, atol=1e-4)


def test_barycentric_corner_weights_return_the_vertex(ict_rig):
    triangle = 1234
    points = SurfacePoints(np.array([triangle] * 3), np.eye(3, dtype=np.float32))
    out = ict_rig.tensors().evaluate_at(torch.zeros(1, ict_rig.num_controls), points)[0].numpy()
    np.testing.assert_allclose(out, ict_rig.neutral[ict_rig.triangles[triangle]], atol=1e-6)


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="controls must have shape"):
        evaluate_blendshapes(torch.zeros(2, 4), torch.zeros(5, 3), torch.zeros(3, 5, 3))


def test_identity_fit_recovers_known_coefficients(ict_rig):
    rng = np.random.default_rng(2)
    truth = rng.normal(size=ict_rig.num_identity_modes).astype(np.float32)
    target = ict_rig.with_identity(truth).neutral
    fitted = ict_rig.fit_identity(target, prior_weight=1e-8)
    assert np.abs(fitted - truth).max() < 1e-2
    # from a sparse set of points (the fitting vertices), with noise and the prior, still close
    ids = rng.choice(ict_rig.group_vertices("face"), 2000, replace=False)
    noisy = target[ids] + rng.normal(scale=0.02, size=(len(ids), 3)).astype(np.float32)  # 0.2 mm
    fitted = ict_rig.fit_identity(noisy, vertex_ids=ids, prior_weight=1e-4, num_modes=40)
    leading = truth[:40]
    assert np.linalg.norm(fitted[:40] - leading) < 0.35 * np.linalg.norm(leading)
    assert np.all(fitted[40:] == 0)


def test_identity_prior_shrinks_towards_mean_face():
    rng = np.random.default_rng(3)
    basis = torch.from_numpy(rng.normal(size=(5, 30, 3)).astype(np.float32))
    neutral = torch.zeros(30, 3)
    target = torch.einsum("m,mnx->nx", torch.ones(5), basis)[None]
    free = fit_identity_coefficients(target, neutral, basis, prior_weight=0.0)
    shrunk = fit_identity_coefficients(target, neutral, basis, prior_weight=10.0)
    np.testing.assert_allclose(free.numpy(), np.ones((1, 5)), atol=1e-4)
    assert shrunk.norm() < 0.5 * free.norm()


def test_identity_morph_keeps_expressions_additive(ict_rig):
    coefficients = np.linspace(-1, 1, 10).astype(np.float32)
    morphed = ict_rig.with_identity(coefficients)
    controls = np.zeros(ict_rig.num_controls, np.float32)
    controls[ict_rig.control_index("mouthSmile_L")] = 0.7
    np.testing.assert_allclose(
        morphed.evaluate(controls) - morphed.neutral, ict_rig.evaluate(controls) - ict_rig.neutral, atol=1e-5
    )
    assert np.abs(morphed.neutral - ict_rig.neutral).max() > 0.1  # a real change, in cm
    state = RigState(controls=controls, identity=coefficients)
    np.testing.assert_allclose(state.vertices(ict_rig), morphed.evaluate(controls), atol=1e-4)


def test_head_pose_is_a_rigid_motion(ict_rig):
    state = RigState.neutral(ict_rig)
    state.head_rotation_deg = np.array([20.0, -10.0, 5.0])
    state.head_translation_cm = np.array([1.0, 2.0, 3.0])
    posed = state.vertices(ict_rig)
    rotation = euler_to_matrix(state.head_rotation_deg)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    expected = ict_rig.neutral @ rotation.T + state.head_translation_cm
    np.testing.assert_allclose(posed, expected, atol=1e-4)
    # yaw of +90 degrees turns the face (+z) towards +x
    np.testing.assert_allclose(euler_to_matrix(np.array([90.0, 0, 0])) @ [0, 0, 1], [1, 0, 0], atol=1e-12)


def test_rig_parameters_round_trip_versioned_npz(tmp_path, ict_rig):
    theta = RigParameters(ict_rig.expression_names, ict_rig.expression_deltas * 1.1, {"stage": "theta_S"})
    path = theta.save(tmp_path / "theta_S.npz")
    with np.load(path) as data:
        assert {"expression_names", "expression_deltas", "format", "version", "units"} <= set(data.files)
        assert int(data["version"]) == 1 and str(data["units"]) == "cm"
    loaded = RigParameters.load(path)
    assert loaded.expression_names == ict_rig.expression_names
    assert loaded.metadata == {"stage": "theta_S"}
    np.testing.assert_array_equal(loaded.expression_deltas, theta.expression_deltas)
    calibrated = ict_rig.with_parameters(loaded)
    controls = np.full(ict_rig.num_controls, 0.3, np.float32)
    np.testing.assert_allclose(
        calibrated.evaluate(controls) - ict_rig.neutral, 1.1 * (ict_rig.evaluate(controls) - ict_rig.neutral), atol=1e-4
    )
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away


def test_bad_rig_files_give_one_line_errors(tmp_path, ict_rig):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(RigFileError, match=r"garbage.npz: not an .npz file") as error:
        RigParameters.load(garbage)
    assert "\n" not in str(error.value)
    np.savez(tmp_path / "other.npz", something=np.zeros(3))
    with pytest.raises(RigFileError, match="not a rig-parameter file"):
        RigParameters.load(tmp_path / "other.npz")
    with pytest.raises(RigFileError, match="missing neutral"):
        from studio.core.rig.rig import Rig

        Rig.from_npz(tmp_path / "other.npz")
    nan = ict_rig.expression_deltas[:2].copy()
    nan[0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", format="simon-says-studio/rig-parameters", version=1,
             expression_names=np.array(["a", "b"]), expression_deltas=nan)
    with pytest.raises(RigFileError, match="NaN"):
        RigParameters.load(tmp_path / "nan.npz")
    wrong = RigParameters(("a", "b"), ict_rig.expression_deltas[:2])
    with pytest.raises(RigFileError, match="control names differ"):
        ict_rig.with_parameters(wrong)


@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))],
)
def test_batched_evaluation_runs_on_each_device(ict_rig, device):
    rng = np.random.default_rng(4)
    controls = torch.from_numpy(rng.random((8, ict_rig.num_controls)).astype(np.float32)).to(device)
    points = _random_surface_points(rng, ict_rig.triangles.shape[0], 478)
    tensors = ict_rig.tensors(device)
    full = tensors.evaluate(controls)
    sampled = tensors.evaluate_at(controls, points)
    assert full.device.type == device and sampled.device.type == device
    np.testing.assert_allclose(full.cpu().numpy()[3], ict_rig.evaluate(controls[3].cpu().numpy()), atol=1e-4)
    assert sampled.shape == (8, 478, 3)


def test_the_ict_rig_loads_once_and_nobody_can_change_it(assets_dir):
    first, second = Rig.ict(), Rig.ict()
    assert first is second  # one load per file: 40 call sites used to read the npz each time
    with pytest.raises(ValueError, match="read-only"):
        first.expression_deltas[0, 0, 0] = 1.0
    theta = first.parameters
    moved = first.with_parameters(RigParameters(theta.expression_names, theta.expression_deltas * 2.0, {}))
    assert moved is not first and float(np.abs(moved.expression_deltas).max()) > 0  # derived rigs are new
