"""Head-pose removal: weighted Umeyama, IRLS robustness to expression, MediaPipe's image convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.core.geometry.alignment import (
    SimilarityTransform,
    mediapipe_to_pixels,
    mediapipe_to_right_handed,
    robust_similarity_transform,
    rotation_angle_deg,
    similarity_transform,
)


def _random_rotations(rng: np.random.Generator, count: int, max_deg: float) -> np.ndarray:
    """Rotations ``(count, 3, 3)`` about random axes by up to ``max_deg`` (Rodrigues)."""
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.deg2rad(rng.uniform(0.0, max_deg, count))
    k = np.zeros((count, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axes[:, 2], axes[:, 1], -axes[:, 0]
    k = k - k.transpose(0, 2, 1)
    return np.eye(3) + np.sin(angles)[:, None, None] * k + (1 - np.cos(angles))[:, None, None] * (k @ k)


def _face_points(rng: np.random.Generator, count: int = 120) -> np.ndarray:
    """A face-sized point cloud in rig space (cm, +y up, +z out): a half ellipsoid 14 × 20 × 10 cm."""
    theta = rng.uniform(-0.45 * np.pi, 0.45 * np.pi, count)
    phi = rng.uniform(-0.5 * np.pi, 0.5 * np.pi, count)
    return np.stack([7.0 * np.sin(theta) * np.cos(phi), 10.0 * np.sin(phi), 5.0 * np.cos(theta) * np.cos(phi)], 1)


def _pose(rng: np.random.Generator, batch: int):
    rotation = _random_rotations(rng, batch, 35.0)
    scale = rng.uniform(15.0, 40.0, batch)  # pixels per cm
    translation = rng.uniform(-300.0, 300.0, (batch, 3)) + np.array([640.0, 360.0, 0.0])
    return rotation, scale, translation


def _to_image(rig_points: np.ndarray, rotation, scale, translation) -> np.ndarray:
    """Rig-space points ``(B, N, 3)`` → right-handed 'pixels' by ``scale · R x + t``."""
    return scale[:, None, None] * np.einsum("bij,bnj->bni", rotation, rig_points) + translation[:, None, :]


def _reference_umeyama(x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Slow readable weighted Umeyama for one frame (numpy, loops-free but unbatched)."""
    w = w / w.sum()
    mx, my = w @ x, w @ y
    xc, yc = x - mx, y - my
    u, d, vt = np.linalg.svd((w[:, None] * yc).T @ xc)
    s_fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ s_fix @ vt
    scale = np.trace(np.diag(d) @ s_fix) / (w @ (xc**2).sum(1))
    return scale, rotation, my - scale * rotation @ mx


def test_exact_recovery_batched_and_matches_reference():
    rng = np.random.default_rng(0)
    target = _face_points(rng)
    rotation, scale, translation = _pose(rng, 6)
    source = _to_image(np.broadcast_to(target, (6, *target.shape)), rotation, scale, translation)
    weights = rng.uniform(0.2, 1.0, (6, len(target)))
    fit = similarity_transform(torch.as_tensor(source), torch.as_tensor(target), torch.as_tensor(weights))
    # source = scale R target + t  ⇒  target = (1/scale) Rᵀ (source − t)
    np.testing.assert_allclose(fit.scale.numpy(), 1.0 / scale, rtol=1e-10)
    np.testing.assert_allclose(fit.rotation.numpy(), rotation.transpose(0, 2, 1), atol=1e-10)
    np.testing.assert_allclose(fit.apply(source), np.broadcast_to(target, source.shape), atol=1e-9)
    noisy = source + rng.normal(scale=2.0, size=source.shape)
    fit = similarity_transform(noisy, target, weights)
    for b in range(6):
        s, r, t = _reference_umeyama(noisy[b], target, weights[b])
        np.testing.assert_allclose(fit.scale[b].item(), s, rtol=1e-10)
        np.testing.assert_allclose(fit.rotation[b].numpy(), r, atol=1e-10)
        np.testing.assert_allclose(fit.translation[b].numpy(), t, atol=1e-8)


def test_rotation_is_proper_even_for_a_mirror_image():
    rng = np.random.default_rng(1)
    target = _face_points(rng)
    mirrored = (target * np.array([-1.0, 1.0, 1.0]))[None]
    fit = similarity_transform(mirrored, target)
    assert torch.linalg.det(fit.rotation).item() == pytest.approx(1.0, abs=1e-12)


def test_inverse_matrix_and_apply_keep_array_kind():
    rng = np.random.default_rng(2)
    target = _face_points(rng, 30)
    rotation, scale, translation = _pose(rng, 3)
    source = _to_image(np.broadcast_to(target, (3, *target.shape)), rotation, scale, translation)
    fit = similarity_transform(source, target)
    back = fit.inverse().apply(fit.apply(source))
    assert isinstance(back, np.ndarray) and back.dtype == np.float64
    np.testing.assert_allclose(back, source, atol=1e-9)
    points = torch.as_tensor(source, dtype=torch.float32)
    assert fit.apply(points).dtype == torch.float32
    homogeneous = np.concatenate([source, np.ones((3, 30, 1))], axis=2)
    np.testing.assert_allclose((homogeneous @ fit.matrix().numpy().transpose(0, 2, 1))[..., :3], fit.apply(source))
    with pytest.raises(ValueError, match="points must have shape"):
        fit.apply(source[:2])


def test_nan_frames_pass_through_without_breaking_the_batch():
    rng = np.random.default_rng(3)
    target = _face_points(rng, 40)
    rotation, scale, translation = _pose(rng, 4)
    source = _to_image(np.broadcast_to(target, (4, *target.shape)), rotation, scale, translation)
    source[1] = np.nan  # no face
    source[2, :5] = np.nan  # a few lost landmarks: left out of the fit
    for fit in (similarity_transform(source, target), robust_similarity_transform(source, target)):
        assert fit.valid.tolist() == [True, False, True, True]
        aligned = fit.apply(source)
        assert np.isnan(aligned[1]).all()
        np.testing.assert_allclose(aligned[[0, 3]], np.broadcast_to(target, (2, 40, 3)), atol=1e-8)
        np.testing.assert_allclose(aligned[2, 5:], target[5:], atol=1e-8)
    zero_weights = np.zeros(40)
    zero_weights[:2] = 1.0  # fewer than 3 weighted points: no transform
    assert not similarity_transform(source, target, zero_weights).valid.any()


def _expression_case(seed: int, batch: int = 8):
    """Frames whose lower-face 20 % of points moved by up to 1.5 cm (jaw and lips), plus 0.03 cm noise."""
    rng = np.random.default_rng(seed)
    target = _face_points(rng, 150)
    lower = np.argsort(target[:, 1])[: len(target) // 5]  # the 20 % lowest points: mouth and chin
    moved = np.broadcast_to(target, (batch, *target.shape)).copy()
    direction = np.array([0.0, -1.0, 0.3]) / np.linalg.norm([0.0, -1.0, 0.3])
    amount = rng.uniform(0.0, 1.5, (batch, len(lower)))
    moved[:, lower] += amount[..., None] * direction + rng.normal(scale=0.15, size=(batch, len(lower), 3))
    moved += rng.normal(scale=0.03, size=moved.shape)
    rotation, scale, translation = _pose(rng, batch)
    source = _to_image(moved, rotation, scale, translation)
    return source, target, torch.as_tensor(rotation.transpose(0, 2, 1)), 1.0 / scale


def test_robust_fit_ignores_expression_where_umeyama_tilts():
    source, target, true_rotation, true_scale = _expression_case(4)
    plain = similarity_transform(source, target)
    robust = robust_similarity_transform(source, target)
    plain_deg = rotation_angle_deg(plain.rotation, true_rotation)
    robust_deg = rotation_angle_deg(robust.rotation, true_rotation)
    plain_scale = np.abs(plain.scale.numpy() / true_scale - 1.0)
    robust_scale = np.abs(robust.scale.numpy() / true_scale - 1.0)
    assert robust_deg.max() < 0.3
    assert robust_scale.max() < 0.005
    # Plain Umeyama misses both bounds (about 0.55° and 2.5 % here).
    assert plain_deg.mean() > 0.3 and plain_deg.mean() > 4 * robust_deg.mean()
    assert plain_scale.mean() > 0.01 and plain_scale.mean() > 10 * robust_scale.mean()
    huber = robust_similarity_transform(source, target, loss="huber", iterations=10)
    assert rotation_angle_deg(huber.rotation, true_rotation).mean() < plain_deg.mean()


def test_robust_fit_with_a_gross_landmark_error_and_prior_weights():
    rng = np.random.default_rng(5)
    target = _face_points(rng, 60)
    source = target[None] + rng.normal(scale=0.02, size=(1, 60, 3))
    source[0, 7] += np.array([6.0, -4.0, 3.0])  # one landmark far off
    weights = np.ones(60)
    weights[50:] = 0.0  # left out by the caller: must stay out
    source[0, 50:] += 3.0
    fit = robust_similarity_transform(source, target, weights)
    assert rotation_angle_deg(fit.rotation, torch.eye(3, dtype=torch.float64)[None]).item() < 0.1
    assert fit.scale.item() == pytest.approx(1.0, rel=1e-3)


def test_mediapipe_image_convention_needs_y_and_z_flipped():
    """Rig-space face → MediaPipe pixels (x right, y down, z away from the camera) → back, by a rotation."""
    rng = np.random.default_rng(6)
    target = _face_points(rng, 80)
    width, height, px_per_cm = 1280, 720, 25.0
    pose = _random_rotations(rng, 1, 10.0)[0]
    posed = target @ pose.T
    normalized = np.stack(
        [
            (width / 2 + px_per_cm * posed[:, 0]) / width,
            (height / 2 - px_per_cm * posed[:, 1]) / height,  # image y runs down
            -px_per_cm * posed[:, 2] / width,  # MediaPipe z: smaller is closer to the camera
        ],
        axis=1,
    )[None]
    pixels = mediapipe_to_pixels(normalized, (width, height))
    right_handed = mediapipe_to_right_handed(pixels)
    fit = similarity_transform(right_handed, target)
    assert rotation_angle_deg(fit.rotation, torch.as_tensor(pose.T)[None]).item() < 1e-6
    assert fit.scale.item() == pytest.approx(1.0 / px_per_cm)
    np.testing.assert_allclose(fit.apply(right_handed)[0], target, atol=1e-9)
    # Flipping y alone mirrors the face: no proper rotation fits it.
    y_only = pixels * np.array([1.0, -1.0, 1.0])
    mirrored_fit = similarity_transform(y_only, target)
    assert np.abs(mirrored_fit.apply(y_only)[0] - target).max() > 1.0
    tensor = mediapipe_to_right_handed(torch.as_tensor(pixels, dtype=torch.float32))
    assert tensor.dtype == torch.float32
    np.testing.assert_allclose(tensor.numpy(), right_handed, rtol=1e-6)
    with_nan = pixels.copy()
    with_nan[0, 3] = np.nan
    assert np.isnan(mediapipe_to_right_handed(with_nan)[0, 3]).all()


def test_shape_and_argument_checks():
    with pytest.raises(ValueError, match="source must have shape"):
        similarity_transform(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="target must have shape"):
        similarity_transform(np.zeros((1, 5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        similarity_transform(np.zeros((1, 5, 3)), np.zeros((5, 3)), -np.ones(5))
    with pytest.raises(ValueError, match="loss"):
        robust_similarity_transform(np.zeros((1, 5, 3)), np.zeros((5, 3)), loss="cauchy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rotation must have shape"):
        SimilarityTransform(torch.ones(2), torch.eye(3)[None], torch.zeros(2, 3))


@pytest.mark.parametrize("loss", ["tukey", "huber"])
def test_one_frame_path_matches_the_batched_one(loss):
    """A single numpy frame (the live path) goes through the numpy fit; it must give the batched result."""
    rng = np.random.default_rng(3)
    target = rng.normal(size=(120, 3))
    weights = (rng.uniform(size=120) > 0.5).astype(float)
    angle = rng.normal(size=3) * 0.3
    rotation = torch.linalg.matrix_exp(torch.tensor(
        [[0, -angle[2], angle[1]], [angle[2], 0, -angle[0]], [-angle[1], angle[0], 0]])).numpy()
    source = 3.0 * target @ rotation.T + 5.0 + rng.normal(scale=0.02, size=target.shape)
    source[:15] += 2.0  # points moved by "expression"
    source[7] = np.nan  # a missing landmark
    one = robust_similarity_transform(source[None], target, weights, loss=loss)
    batch = robust_similarity_transform(np.stack([source, source]), target, weights, loss=loss)
    for name in ("scale", "rotation", "translation"):
        np.testing.assert_allclose(getattr(one, name)[0].numpy(), getattr(batch, name)[0].numpy(), atol=1e-9)
    nothing = robust_similarity_transform(np.full((1, 120, 3), np.nan), target, weights, loss=loss)
    assert not bool(nothing.valid[0])
