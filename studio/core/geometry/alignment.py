"""Head-pose removal: batched (robust) similarity alignment of landmarks onto a reference in rig space.

Conventions. *Rig space* is the rig's (ICT-FaceKit's): centimetres, +x towards the face's left, +y up, +z out
of the face — a right-handed frame. MediaPipe's landmarks, once in pixels (``x·W``, ``y·H``, ``z·W``), have
+x to the image's right, +y *down* and +z *into* the screen (smaller ``z`` is closer to the camera).
:func:`mediapipe_to_right_handed` maps them to ``(x, −y, −z)``, which for an unmirrored camera image of a
face looking at the camera has the axes of rig space, so the remaining head pose is a proper rotation near
the identity plus scale (pixels → cm) and translation.

Why that matters: a similarity transform here always has a *proper* rotation (``det R = +1``). Flipping
only ``y`` (the usual "image y is down" fix) or using a mirrored (selfie) image turns the landmarks into a
mirror image of the face, and no rotation maps a mirror image onto the rig: the fit then lands on some
compromise rotation with large residuals. Un-mirror selfie frames (flip ``x`` of the image) before
MediaPipe sees them.

The batched functions follow kornia's habit: batch first, shapes checked at entry, computed with torch in
float64 on the source's device. They accept torch tensors or numpy arrays; :meth:`SimilarityTransform.apply`
returns the kind of array it is given. Frames with no face (NaN landmarks) give NaN transforms and NaN
aligned points without disturbing the other frames of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

#: Tukey's biweight cut-off in units of the residual scale (95 % efficiency under Gaussian noise).
TUKEY_C = 4.685
#: Huber's threshold in units of the residual scale (95 % efficiency under Gaussian noise).
HUBER_K = 1.345
#: Median of the length of a 3-D vector of independent unit Gaussians (chi distribution, 3 dof): divides the
#: median residual length to estimate the per-axis residual scale.
_CHI3_MEDIAN = 1.5382


def _check_shape(name: str, tensor: torch.Tensor | np.ndarray, shape: tuple[int | None, ...]) -> None:
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(tensor.shape)}")


def _as_float64(array: torch.Tensor | np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    return torch.as_tensor(array, dtype=torch.float64, device=device)


# The 3 × 3 algebra below is written as broadcast products and sums rather than batched matmul / linalg.det:
# for a few frames, torch's threaded BLAS path costs far more than the arithmetic (milliseconds per call on a
# busy CPU), while elementwise kernels stay on the calling thread and still scale to long takes.


def _rotate(rotation: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``R x`` for rotations ``(B, 3, 3)`` and points ``(B, N, 3)`` → ``(B, N, 3)``."""
    return (points[:, :, None, :] * rotation[:, None, :, :]).sum(dim=-1)


def _compose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix products ``a b`` of ``(B, 3, 3)`` stacks."""
    return (a[:, :, :, None] * b[:, None, :, :]).sum(dim=2)


def _det3(m: torch.Tensor) -> torch.Tensor:
    """Determinants of ``(B, 3, 3)`` matrices, shape ``(B,)``."""
    return (torch.linalg.cross(m[:, 0], m[:, 1], dim=1) * m[:, 2]).sum(dim=1)


# ----------------------------------------------------------------------------------------------------------
# Coordinate conventions
# ----------------------------------------------------------------------------------------------------------


def mediapipe_to_right_handed(landmarks_px: ArrayT) -> ArrayT:
    """Turn MediaPipe landmarks in pixels (y down, z into the screen) into a y-up, z-out frame.

    Returns ``(x, −y, −z)``: a rotation by 180° about x, so orientation and handedness are kept and the
    result has rig space's axes (+x to the image's right = the face's left for an unmirrored camera, +y up,
    +z towards the camera = out of the face). No offset is applied (the similarity fit's translation absorbs
    it) and units stay pixels. NaN landmarks stay NaN.

    Parameters
    ----------
    landmarks_px : np.ndarray or torch.Tensor
        MediaPipe landmarks in pixels, shape ``(B, N, 3)``: ``(x·W, y·H, z·W)`` for an image ``W`` pixels
        wide and ``H`` high (see :func:`mediapipe_to_pixels`).

    Returns
    -------
    np.ndarray or torch.Tensor
        Same kind, shape and dtype as the input: ``(x, −y, −z)`` in pixels.

    Notes
    -----
    MediaPipe's own frame (x right, y down, z away from the camera) is OpenCV's camera frame and is itself
    right-handed; what cannot be undone by a rotation is flipping *one* axis (y alone, or x in a mirrored
    selfie image). Flipping y and z together keeps the handedness and brings the frame onto rig space's axes,
    so a frontal face needs a rotation near the identity (head yaw, pitch and roll read directly off ``R``).
    """
    _check_shape("landmarks_px", landmarks_px, (None, None, 3))
    flip = np.array([1.0, -1.0, -1.0])
    if isinstance(landmarks_px, torch.Tensor):
        return landmarks_px * torch.as_tensor(flip, dtype=landmarks_px.dtype, device=landmarks_px.device)
    return landmarks_px * flip.astype(landmarks_px.dtype if landmarks_px.dtype.kind == "f" else np.float64)


def mediapipe_to_pixels(landmarks: ArrayT, image_size: tuple[int, int]) -> ArrayT:
    """MediaPipe's normalized landmarks → pixels: ``(x·W, y·H, z·W)`` (z shares x's scale).

    Parameters
    ----------
    landmarks : np.ndarray or torch.Tensor
        Normalized landmarks, shape ``(B, N, 3)``, x and y in [0, 1] across the image.
    image_size : tuple of int
        ``(W, H)`` in pixels.

    Returns
    -------
    np.ndarray or torch.Tensor
        Same kind and shape, pixels (y down, z into the screen, as MediaPipe).
    """
    _check_shape("landmarks", landmarks, (None, None, 3))
    width, height = image_size
    scale = np.array([width, height, width], np.float64)
    if isinstance(landmarks, torch.Tensor):
        return landmarks * torch.as_tensor(scale, dtype=landmarks.dtype, device=landmarks.device)
    return landmarks * scale.astype(landmarks.dtype if landmarks.dtype.kind == "f" else np.float64)


# ----------------------------------------------------------------------------------------------------------
# Similarity transforms
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimilarityTransform:
    """A batch of similarity transforms ``x ↦ s R x + t``.

    Attributes
    ----------
    scale : torch.Tensor
        ``s``, shape ``(B,)``, float64, target units per source unit (e.g. cm per pixel).
    rotation : torch.Tensor
        ``R``, shape ``(B, 3, 3)``, float64, proper rotations (``det R = +1``) acting on column vectors.
    translation : torch.Tensor
        ``t``, shape ``(B, 3)``, float64, target units.

    Notes
    -----
    A frame whose transform could not be estimated (no face) has NaN in all three.
    """

    scale: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor

    def __post_init__(self) -> None:
        _check_shape("scale", self.scale, (None,))
        _check_shape("rotation", self.rotation, (self.scale.shape[0], 3, 3))
        _check_shape("translation", self.translation, (self.scale.shape[0], 3))

    def __len__(self) -> int:
        return int(self.scale.shape[0])

    @property
    def valid(self) -> torch.Tensor:
        """Which transforms are finite, shape ``(B,)``, bool."""
        return torch.isfinite(self.scale) & torch.isfinite(self.translation).all(dim=1)

    def apply(self, points: ArrayT) -> ArrayT:
        """Transform points: ``s R x + t`` for each batch element.

        Parameters
        ----------
        points : np.ndarray or torch.Tensor
            Shape ``(B, N, 3)`` in source units.

        Returns
        -------
        np.ndarray or torch.Tensor
            Same kind and shape as ``points`` (dtype kept for floating inputs), target units; NaN rows for
            invalid transforms.
        """
        _check_shape("points", points, (len(self), None, 3))
        x = _as_float64(points, self.scale.device)
        y = self.scale[:, None, None] * _rotate(self.rotation, x) + self.translation[:, None, :]
        if isinstance(points, torch.Tensor):
            return y.to(points.dtype if points.is_floating_point() else torch.float64)
        return y.cpu().numpy().astype(points.dtype if points.dtype.kind == "f" else np.float64)

    def inverse(self) -> SimilarityTransform:
        """The inverse transforms ``y ↦ (1/s) Rᵀ (y − t)``, mapping target units back to source units."""
        inv_scale = 1.0 / self.scale
        inv_rotation = self.rotation.transpose(1, 2)
        inv_translation = -inv_scale[:, None] * _rotate(inv_rotation, self.translation[:, None, :])[:, 0]
        return SimilarityTransform(inv_scale, inv_rotation, inv_translation)

    def matrix(self) -> torch.Tensor:
        """Homogeneous matrices ``[[s R, t], [0, 1]]``, shape ``(B, 4, 4)``, float64, for column vectors."""
        out = torch.zeros((len(self), 4, 4), dtype=self.scale.dtype, device=self.scale.device)
        out[:, :3, :3] = self.scale[:, None, None] * self.rotation
        out[:, :3, 3] = self.translation
        out[:, 3, 3] = 1.0
        return out


def _prepare_inputs(
    source: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    weights: torch.Tensor | np.ndarray | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check shapes; return float64 ``x (B,M,3)``, ``y (B,M,3)``, ``w (B,M)`` ready for :func:`_umeyama`.

    Points with a non-finite coordinate get weight 0 and are zero-filled; points with weight 0 in every
    frame are dropped (``M ≤ N``), since they can never matter.
    """
    _check_shape("source", source, (None, None, 3))
    batch, num_points, _ = source.shape
    if num_points < 3:
        raise ValueError(f"a similarity transform needs at least 3 points, got {num_points}")
    device = source.device if isinstance(source, torch.Tensor) else None
    x = _as_float64(source, device)
    if target.ndim == 2:
        _check_shape("target", target, (num_points, 3))
        y = _as_float64(target, device)[None].expand(batch, num_points, 3)
    else:
        _check_shape("target", target, (batch, num_points, 3))
        y = _as_float64(target, device)
    if weights is None:
        w = torch.ones((batch, num_points), dtype=torch.float64, device=x.device)
    elif weights.ndim == 1:
        _check_shape("weights", weights, (num_points,))
        w = _as_float64(weights, device)[None].expand(batch, num_points)
    else:
        _check_shape("weights", weights, (batch, num_points))
        w = _as_float64(weights, device)
    if bool((w < 0).any()) or not bool(torch.isfinite(w).all()):
        raise ValueError("weights must be finite and non-negative")
    used = (w > 0).any(dim=0)
    if not bool(used.all()):
        x, y, w = x[:, used], y[:, used], w[:, used]
    finite = torch.isfinite(x).all(dim=2) & torch.isfinite(y).all(dim=2)
    if not bool(finite.all()):
        w = torch.where(finite, w, torch.zeros_like(w))
        x = torch.where(finite[..., None], x, torch.zeros_like(x))
        y = torch.where(finite[..., None], y, torch.zeros_like(y))
    return x, y, w


def _umeyama(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> SimilarityTransform:
    """Weighted Umeyama on finite float64 ``x, y (B,N,3)`` and ``w (B,N)`` (see :func:`_prepare_inputs`)."""
    valid = (w > 0).sum(dim=1) >= 3
    # Invalid frames are computed on harmless stand-ins (uniform weights) and masked at the end.
    w = torch.where(valid[:, None], w, torch.ones_like(w))
    w = w / w.sum(dim=1, keepdim=True)
    mean_x = (w[..., None] * x).sum(dim=1)
    mean_y = (w[..., None] * y).sum(dim=1)
    xc = x - mean_x[:, None]
    yc = y - mean_y[:, None]
    wxc = w[..., None] * xc
    covariance = (yc[:, :, :, None] * wxc[:, :, None, :]).sum(dim=1)  # (B, 3, 3): Σ w (y − ȳ)(x − x̄)ᵀ
    u, singular, vh = torch.linalg.svd(covariance)
    sign = torch.where(_det3(u) * _det3(vh) < 0, -1.0, 1.0).to(x.dtype)
    correction = torch.ones((x.shape[0], 3), dtype=x.dtype, device=x.device)
    correction[:, 2] = sign
    rotation = _compose(u, correction[:, :, None] * vh)
    variance_x = (wxc * xc).sum(dim=(1, 2))
    valid = valid & (variance_x > 0)
    scale = (singular * correction).sum(dim=1) / torch.where(valid, variance_x, torch.ones_like(variance_x))
    translation = mean_y - scale[:, None] * _rotate(rotation, mean_x[:, None, :])[:, 0]
    nan = torch.tensor(float("nan"), dtype=x.dtype, device=x.device)
    return SimilarityTransform(
        torch.where(valid, scale, nan),
        torch.where(valid[:, None, None], rotation, nan),
        torch.where(valid[:, None], translation, nan),
    )


def similarity_transform(
    source: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    weights: torch.Tensor | np.ndarray | None = None,
) -> SimilarityTransform:
    """Weighted least-squares similarity transform (Umeyama 1991), batched.

    Finds ``s > 0``, a proper rotation ``R`` and ``t`` minimizing ``Σ_n w_n ||s R x_n + t − y_n||²`` for each
    batch element in closed form (SVD of the weighted cross-covariance, with the sign correction that keeps
    ``det R = +1`` even when a reflection would fit better).

    Parameters
    ----------
    source : torch.Tensor or np.ndarray
        Points ``x`` to move, shape ``(B, N, 3)``, source units (e.g. right-handed pixels from
        :func:`mediapipe_to_right_handed`).
    target : torch.Tensor or np.ndarray
        Points ``y`` to reach, shape ``(N, 3)`` (shared by the batch) or ``(B, N, 3)``, target units (rig
        space, cm).
    weights : torch.Tensor or np.ndarray, optional
        Non-negative per-point weights ``w``, shape ``(N,)`` or ``(B, N)``; defaults to ones. Zero weights
        leave points out (e.g. landmarks that expressions move).

    Returns
    -------
    SimilarityTransform
        ``B`` transforms, float64, on the source's device. Points with a non-finite coordinate get weight 0;
        a batch element with fewer than 3 weighted finite points, or with all of them at one place, gets a
        NaN transform (a frame without a face).
    """
    return _umeyama(*_prepare_inputs(source, target, weights))


def _umeyama_one(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | None:
    """:func:`_umeyama` for one frame in numpy: ``x, y (M, 3)``, ``w (M,)`` → ``(s, R, t)``, None if invalid."""
    if (w > 0).sum() < 3:
        return None
    w = w / w.sum()
    mean_x, mean_y = w @ x, w @ y
    xc, yc = x - mean_x, y - mean_y
    wxc = w[:, None] * xc
    u, singular, vh = np.linalg.svd(yc.T @ wxc)
    correction = np.array([1.0, 1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vh) < 0 else 1.0])
    rotation = u @ (correction[:, None] * vh)
    variance_x = float((wxc * xc).sum())
    if variance_x <= 0:
        return None
    scale = float(singular @ correction) / variance_x
    return scale, rotation, mean_y - scale * rotation @ mean_x


def _robust_one_frame(
    x: np.ndarray, y: np.ndarray, prior: np.ndarray, iterations: int, scale_cm: float, loss: str
) -> SimilarityTransform:
    """:func:`robust_similarity_transform` of one frame in numpy (a live frame: torch's per-call overhead on
    3 × 3 algebra costs more than the arithmetic); same steps, same result to rounding."""
    finite = np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)
    used = (prior > 0) & finite
    x, y, prior = x[used], y[used], prior[used]
    fit = _umeyama_one(x, y, prior)
    for _ in range(iterations):
        if fit is None:
            break
        scale, rotation, translation = fit
        residual = np.linalg.norm(scale * x @ rotation.T + translation - y, axis=1)
        sigma = max(float(np.median(residual)) / _CHI3_MEDIAN if len(residual) else scale_cm, scale_cm)
        if loss == "tukey":
            ratio = residual / (TUKEY_C * sigma)
            psi = np.where(ratio < 1.0, (1.0 - ratio**2) ** 2, 0.0)
        else:
            psi = np.minimum(HUBER_K * sigma / np.maximum(residual, 1e-300), 1.0)
        fit = _umeyama_one(x, y, prior * psi)
    if fit is None:
        nan = torch.full((1,), float("nan"), dtype=torch.float64)
        return SimilarityTransform(nan, torch.full((1, 3, 3), float("nan"), dtype=torch.float64),
                                   torch.full((1, 3), float("nan"), dtype=torch.float64))
    scale, rotation, translation = fit
    return SimilarityTransform(torch.tensor([scale], dtype=torch.float64), torch.from_numpy(rotation[None]),
                               torch.from_numpy(translation[None]))


def robust_similarity_transform(
    source: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    weights: torch.Tensor | np.ndarray | None = None,
    iterations: int = 5,
    scale_cm: float = 0.05,
    loss: Literal["tukey", "huber"] = "tukey",
) -> SimilarityTransform:
    """Similarity transform robust to points moved by expression (or bad landmarks), by IRLS.

    Starts from :func:`similarity_transform` and re-solves ``iterations`` times with weights
    ``w_n ψ(r_n / σ)``, where ``r_n = ||s R x_n + t − y_n||`` is each point's residual length in target units
    and ``σ`` is each frame's per-axis residual scale, ``σ = max(scale_cm, median_n r_n / 1.5382)`` (the
    median length of a 3-D standard Gaussian vector is 1.5382; the median is over points with ``w_n > 0``).
    Because ``σ`` follows the median, at least half the points keep a positive weight, so the fit cannot
    collapse; ``scale_cm`` keeps ``σ`` from shrinking below the landmark noise on very clean data.

    ``ψ`` is Tukey's biweight ``(1 − (r / cσ)²)²`` for ``r < cσ`` and 0 beyond, ``c = 4.685`` (points moved by
    more than ``cσ`` are ignored), or Huber's ``min(1, kσ / r)``, ``k = 1.345`` (far points are down-weighted
    but never ignored).

    Parameters
    ----------
    source : torch.Tensor or np.ndarray
        Points to move, shape ``(B, N, 3)``, source units.
    target : torch.Tensor or np.ndarray
        Points to reach, shape ``(N, 3)`` or ``(B, N, 3)``, centimetres (the residual scale is in target
        units).
    weights : torch.Tensor or np.ndarray, optional
        Prior per-point weights, shape ``(N,)`` or ``(B, N)``; defaults to ones.
    iterations : int
        Number of re-weighted solves after the initial one.
    scale_cm : float
        Lower bound on the residual scale ``σ``, centimetres.
    loss : {"tukey", "huber"}
        The robust weight function ``ψ``.

    Returns
    -------
    SimilarityTransform
        As :func:`similarity_transform`; NaN transforms for frames without a face.
    """
    if loss not in ("tukey", "huber"):
        raise ValueError(f"loss must be 'tukey' or 'huber', got {loss!r}")
    if iterations < 0 or scale_cm <= 0:
        raise ValueError("iterations must be >= 0 and scale_cm > 0")
    if isinstance(source, np.ndarray) and source.shape[0] == 1 and source.ndim == 3 and source.shape[2] == 3:
        target_one = np.asarray(target, np.float64).reshape(-1, 3)
        prior_one = np.ones(source.shape[1]) if weights is None else np.asarray(weights, np.float64).reshape(-1)
        if target_one.shape[0] == source.shape[1] and prior_one.shape[0] == source.shape[1]:
            if (prior_one < 0).any() or not np.isfinite(prior_one).all():
                raise ValueError("weights must be finite and non-negative")
            return _robust_one_frame(np.asarray(source[0], np.float64), target_one, prior_one, iterations, scale_cm,
                                     loss)
    x, y, prior = _prepare_inputs(source, target, weights)
    transform = _umeyama(x, y, prior)
    no_weight = torch.full_like(prior, float("nan"))
    for _ in range(iterations):
        residual = torch.linalg.vector_norm(transform.apply(x) - y, dim=2)  # (B, N); NaN rows: no transform
        sigma = torch.nanmedian(torch.where(prior > 0, residual, no_weight), dim=1).values / _CHI3_MEDIAN
        sigma = torch.clamp(torch.nan_to_num(sigma, nan=scale_cm), min=scale_cm)[:, None]
        residual = torch.nan_to_num(residual, nan=float("inf"))
        if loss == "tukey":
            ratio = residual / (TUKEY_C * sigma)
            psi = torch.where(ratio < 1.0, (1.0 - ratio**2) ** 2, torch.zeros_like(ratio))
        else:
            psi = torch.clamp(HUBER_K * sigma / residual.clamp(min=1e-300), max=1.0)
        transform = _umeyama(x, y, prior * psi)
    return transform


def rotation_angle_deg(rotation_a: torch.Tensor, rotation_b: torch.Tensor) -> torch.Tensor:
    """Angle of the relative rotation ``R_aᵀ R_b``, shape ``(B,)``, degrees, for rotations ``(B, 3, 3)``."""
    _check_shape("rotation_a", rotation_a, (None, 3, 3))
    _check_shape("rotation_b", rotation_b, (rotation_a.shape[0], 3, 3))
    relative = _compose(rotation_a.transpose(1, 2).to(torch.float64), rotation_b.to(torch.float64))
    cosine = (torch.diagonal(relative, dim1=1, dim2=2).sum(dim=1) - 1.0) / 2.0
    skew = relative - relative.transpose(1, 2)
    sine = torch.linalg.vector_norm(torch.stack([skew[:, 2, 1], skew[:, 0, 2], skew[:, 1, 0]], dim=1), dim=1) / 2.0
    return torch.rad2deg(torch.atan2(sine, cosine))  # accurate for small angles too, unlike arccos
