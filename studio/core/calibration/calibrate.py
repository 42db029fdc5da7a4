"""Simon-Says rig calibration ``θ_A → θ_S`` (paper 001, Sec. 8, Eq. 1 with the regularization of Eq. 5).

Given (c_k, v_k) pairs — the controls a performer was asked to make and the landmark positions captured
for it, laid onto the rig (rig-neutral landmark points + captured displacement from the performer's
neutral) — calibration changes the rig's blendshape offsets θ so that ``S·R(c_k; θ_S) ≈ v_k``, while the
control semantics stay as they are. It runs in three linear stages:

1. **Landmark level** (Eq. 1 restricted to the landmark embedding ``S``). The corrections
   ``X = S(θ_S − θ_A)``, shape ``(K, N, 3)``, solve

   ``min_X Σ_k w_k ||Σ_j c_kj X_j − r_k||² + λ ||X||² + μ Σ_j tr(X_jᵀ L X_j)``

   with ``r_k = v_k − S·R(c_k; θ_A)`` the residual of the shipped rig and ``L`` a graph Laplacian over the
   landmarks (k nearest neighbours in the rig's neutral, cut along the lip and eyelid seams), so that
   the corrections are smooth across neighbouring landmarks. The normal matrix is
   ``G ⊗ I_N + λ I + μ I_K ⊗ L`` with ``G = Cᵀ W C`` (K × K); diagonalising ``G = U diag(g) Uᵀ`` and
   ``L = Q diag(l) Qᵀ`` solves it exactly: ``Uᵀ X Q = (Uᵀ Cᵀ W R Q) / (g_i + λ + μ l_n)``. At ``μ = 0``
   this is Eq. 5 with Levenberg–Marquardt rows ``ε I Aᵀ = ε A_0ᵀ`` (``λ = ε²``):
   ``A = (V W Cᵀ + λ A_0)(C W Cᵀ + λ I)⁻¹``.
2. **Choice of λ and μ** by leave-one-capture-out cross-validation over a small grid (each held-out
   capture is predicted from a fit without it); the same diagonalisation makes the whole grid cheap.
   Alternatively the LM term is weighted per shape and landmark by θ_A's own support
   (:func:`support_weights`, :func:`solve_support_corrections`, separable per landmark, exact closed-form
   leave-one-out); cross-validation picks between the two.
3. **Full mesh.** Most of a shape's correction is a gain on θ_A's own motion: a performer moves the same
   skin, more here and less there. Each shape's landmark corrections are explained by a smooth gain field
   ``h_j`` times θ_A's offsets, with a Gaussian-process prior over the neutral face (:func:`gain_kernel`,
   :func:`solve_gain_weights`); the field is evaluated at every vertex and multiplied by θ_A's vertex
   offsets, so the correction has the shape's own detail between the landmarks and returns to the shape's
   common gain beyond them. What the gains leave at the landmarks is spread over the face, head/neck,
   mouth socket and eye sockets by a biharmonic interpolation on the mesh graph, with the landmarks as
   soft constraints, the rig's rigid vertices held at zero, and the graph cut along the lip and eyelid
   seams (so an upper-lip correction does not move the lower lip). The rig definition's corrective
   constraints (paper 001 Sec. 8: lip seal for ``jawOpen + mouthClose``, eyelid closure for ``eyeBlink``)
   are then added as hard surrogate equations: the least-energy change of the involved shapes that keeps
   each constrained pose's vertex-pair gaps what they were in θ_A. Eyelashes, lacrimal and occlusion
   meshes follow the nearest corrected vertex; eyeballs, teeth, gums and tongue are not changed.

Units: centimetres throughout (reports in millimetres). Computation in torch / numpy / scipy float64.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import splu
from scipy.spatial import cKDTree

from studio.core.calibration.reports import BeforeAfter, CalibrationReport
from studio.core.jobs import Cancel, JobCancelled, is_cancelled, run_job
from studio.core.rig.definition import CorrectiveConstraint, RigDefinition
from studio.core.rig.rig import Rig, RigParameters, surface_point_basis
from studio.core.tracking.landmark_embedding import LandmarkEmbedding

#: Vertex groups whose vertices calibration corrects (connected surface around the face).
CORRECTED_GROUPS = ("face", "head_neck", "mouth_socket", "eye_socket_left", "eye_socket_right")
#: Groups inside the openings (behind the lips and lids): seams are cut through them entirely.
INNER_GROUPS = ("mouth_socket", "eye_socket_left", "eye_socket_right")
#: Small meshes attached to the face that copy the correction of their nearest corrected vertex.
ATTACHED_GROUPS = (
    "eyelashes_left",
    "eyelashes_right",
    "lacrimal_left",
    "lacrimal_right",
    "eye_occlusion_left",
    "eye_occlusion_right",
    "eye_blend_left",
    "eye_blend_right",
)
#: Default leave-one-out grids for ``λ`` (cm²/cm² per point) and ``μ`` (per Laplacian unit).
REGULARIZATION_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
SMOOTHNESS_GRID = (0.0, 1e-3, 1e-2, 0.1, 1.0)
#: Used when there are too few captures to cross-validate.
DEFAULT_REGULARIZATION = 1e-2
DEFAULT_SMOOTHNESS = 1e-2
#: Leave-one-out grids of the support-weighted LM term (:func:`support_weights`): λ and the falloff δ.
SUPPORT_REGULARIZATION_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
SUPPORT_FALLOFF_GRID = (1e-4, 1e-3, 1e-2, 0.1)
#: Gain-field prior (:func:`gain_kernel`, :func:`solve_gain_weights`): length scale of the spatial variation
#: (cm), std of the spatial variation and of a shape's common gain, and what the gain model may leave (cm).
GAIN_LENGTH_CM = 1.0
GAIN_FIELD_STD = 0.25
GAIN_MEAN_STD = 1.0
GAIN_NOISE_CM = 0.03

_SEAM_ZONE_CM = 0.6  # face vertices this close to a constraint's pair vertices may have seam edges cut
_LANDMARK_SEAM_ZONE_CM = 1.5  # the same for the landmark graph (landmarks are sparser than vertices)
_INNER_TOUCH_CM = 1.0  # an inner group within this distance of a constraint's pairs is cut through
_LANDMARK_NEIGHBOURS = 8
_PROPAGATION_SMOOTHNESS = 1e-4  # biharmonic (thin-plate) weight relative to unit landmark weight
_PROPAGATION_MEMBRANE = 1e-3  # harmonic weight: stops the thin plate from overshooting into the mouth
_PROPAGATION_RIDGE = 1e-8


# ----------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationPair:
    """One Simon-Says (c, v) pair.

    Attributes
    ----------
    name : str
        Expression name (``jaw_open``), for reports.
    controls : np.ndarray
        Controls ``c`` the performer was asked to make, shape ``(K,)``, unitless.
    landmarks : np.ndarray
        Target landmark positions ``v``, shape ``(N, 3)``, centimetres, in rig space: the rig's neutral
        landmark points plus the captured displacement from the performer's neutral.
    noise_mm : float or None
        Standard deviation per coordinate of the (burst-averaged) landmarks, millimetres; unknown if None.
    weight : float
        Relative weight ``w_k`` of the pair in Eq. 1.
    """

    name: str
    controls: np.ndarray
    landmarks: np.ndarray
    noise_mm: float | None = None
    weight: float = 1.0


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` returns.

    Attributes
    ----------
    parameters : RigParameters
        The calibrated θ_S for the full mesh, deltas ``(K, V, 3)`` float32, centimetres,
        ``metadata['stage'] == 'theta_S'``.
    landmark_deltas : np.ndarray
        θ_S at the landmarks, shape ``(K, N, 3)``, float64, centimetres (the tracker's small rig).
    report : CalibrationReport
        The chosen λ and μ, the cross-validation, each expression's residual before/after, the constraint
        gaps, the gain prior, seconds per stage.
    """

    parameters: RigParameters
    landmark_deltas: np.ndarray
    report: CalibrationReport


# ----------------------------------------------------------------------------------------------------------
# Landmark-level solve (Eq. 1 / Eq. 5)
# ----------------------------------------------------------------------------------------------------------


LaplacianLike = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _laplacian_eigen(laplacian: LaplacianLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``(l, Q)`` with ``L = Q diag(l) Qᵀ``, from ``L`` or from an eigendecomposition given as a pair."""
    if isinstance(laplacian, tuple):
        values, vectors = laplacian
        return torch.as_tensor(values, dtype=torch.float64), torch.as_tensor(vectors, dtype=torch.float64)
    values, vectors = torch.linalg.eigh(laplacian.to(torch.float64))
    return values.clamp_min(0.0), vectors


def solve_landmark_corrections(
    controls: torch.Tensor,
    residuals: torch.Tensor,
    weights: torch.Tensor,
    regularization: float,
    smoothness: float = 0.0,
    laplacian: LaplacianLike | None = None,
) -> torch.Tensor:
    """Closed-form landmark-level calibration: corrections ``X = S(θ_S − θ_A)``.

    Solves ``min_X Σ_m w_m ||Σ_j c_mj X_j − r_m||² + λ ||X||² + μ Σ_j tr(X_jᵀ L X_j)`` exactly through
    eigendecompositions of the ``K × K`` Gram matrix ``Cᵀ W C`` and of ``L``.

    Parameters
    ----------
    controls : torch.Tensor
        Controls ``C``, shape ``(M, K)``.
    residuals : torch.Tensor
        Residuals of the prior rig ``r_m = v_m − S·R(c_m; θ_A)``, shape ``(M, N, 3)``, centimetres.
    weights : torch.Tensor
        Pair weights ``w``, shape ``(M,)``.
    regularization : float
        ``λ > 0``, Levenberg–Marquardt weight towards θ_A.
    smoothness : float
        ``μ ≥ 0``, weight of the Laplacian prior on the corrections.
    laplacian : torch.Tensor or (torch.Tensor, torch.Tensor), optional
        Symmetric positive semi-definite ``L``, shape ``(N, N)``, or its eigendecomposition ``(l, Q)``
        with shapes ``(N,)`` and ``(N, N)``; required when ``μ > 0``.

    Returns
    -------
    torch.Tensor
        Corrections ``X``, shape ``(K, N, 3)``, float64, centimetres.
    """
    controls, residuals, weights = (t.to(torch.float64) for t in (controls, residuals, weights))
    num_points = residuals.shape[1]
    if controls.ndim != 2 or residuals.shape[0] != controls.shape[0] or residuals.shape[2:] != (3,):
        raise ValueError(
            f"controls (M, K) and residuals (M, N, 3) disagree: {controls.shape}, {residuals.shape}"
        )
    if regularization <= 0 and smoothness <= 0:
        raise ValueError("regularization must be positive (or smoothness with a connected Laplacian)")
    gram = controls.T @ (weights[:, None] * controls)  # (K, K)
    rhs = torch.einsum("mk,m,mnc->knc", controls, weights, residuals)  # (K, N, 3)
    g, u = torch.linalg.eigh(gram)
    g = g.clamp_min(0.0)
    if smoothness > 0:
        if laplacian is None:
            raise ValueError("smoothness > 0 needs a laplacian")
        lam_l, q = _laplacian_eigen(laplacian)
    else:
        lam_l = torch.zeros(num_points, dtype=torch.float64)
        q = None
    rotated = torch.einsum("ki,knc->inc", u, rhs)
    if q is not None:
        rotated = torch.einsum("inc,nl->ilc", rotated, q)
    rotated = rotated / (g[:, None] + regularization + smoothness * lam_l[None, :])[..., None]
    if q is not None:
        rotated = torch.einsum("ilc,nl->inc", rotated, q)
    return torch.einsum("ki,inc->knc", u, rotated)


def cross_validate(
    controls: torch.Tensor,
    residuals: torch.Tensor,
    weights: torch.Tensor,
    laplacian: LaplacianLike,
    regularization_grid: Sequence[float] = REGULARIZATION_GRID,
    smoothness_grid: Sequence[float] = SMOOTHNESS_GRID,
) -> np.ndarray:
    """Leave-one-capture-out prediction error of :func:`solve_landmark_corrections` over a grid.

    For each capture ``m`` and each ``(λ, μ)``, fit without ``m`` and predict its residual
    ``Σ_j c_mj X_j``; the error is the RMS difference per coordinate. All fits share the eigenbasis of
    ``L``; each held-out capture needs one ``K × K`` eigendecomposition.

    Parameters
    ----------
    controls, residuals, weights : torch.Tensor
        As in :func:`solve_landmark_corrections`: ``(M, K)``, ``(M, N, 3)`` cm, ``(M,)``.
    laplacian : torch.Tensor or (torch.Tensor, torch.Tensor)
        ``L``, shape ``(N, N)``, or its eigendecomposition ``(l, Q)``.
    regularization_grid, smoothness_grid : sequence of float
        Values of λ (``A`` of them) and μ (``B`` of them).

    Returns
    -------
    np.ndarray
        Shape ``(A, B)``: mean over held-out captures of their RMS prediction error, millimetres.
    """
    controls, residuals, weights = (t.to(torch.float64) for t in (controls, residuals, weights))
    num_captures, num_points = residuals.shape[:2]
    lam_l, q = _laplacian_eigen(laplacian)
    reg = torch.as_tensor(regularization_grid, dtype=torch.float64)
    smooth = torch.as_tensor(smoothness_grid, dtype=torch.float64)
    rotated_res = torch.einsum("mnc,nl->mlc", residuals, q)  # (M, N, 3)
    rhs = torch.einsum("mk,m,mlc->klc", controls, weights, rotated_res)  # (K, N, 3)
    gram = controls.T @ (weights[:, None] * controls)
    total = torch.zeros(len(reg), len(smooth), dtype=torch.float64)
    lap_term = smooth[:, None] * lam_l[None, :]  # (B, N)
    for m in range(num_captures):
        c, w = controls[m], weights[m]
        g, u = torch.linalg.eigh(gram - w * torch.outer(c, c))
        g = g.clamp_min(0.0)
        held_rhs = rhs - w * c[:, None, None] * rotated_res[m][None]
        weighted = (u.T @ c)[:, None, None] * torch.einsum("ki,klc->ilc", u, held_rhs)  # (K, N, 3)
        # 1 / (g_i + λ_a + μ_b l_n), laid out (N, A·B, K) for one batched product over the points
        denom = g[None, None, :] + (reg[:, None, None, None] + lap_term[None, :, :, None]).reshape(
            -1, num_points, 1
        )
        inverse = (1.0 / denom).permute(1, 0, 2)
        prediction = torch.bmm(inverse, weighted.permute(1, 0, 2))  # (N, A·B, 3)
        error = (
            prediction.permute(1, 0, 2).reshape(len(reg), len(smooth), num_points, 3)
            - rotated_res[m][None, None]
        )
        total += torch.sqrt((error**2).mean(dim=(2, 3)))
    return (total / num_captures * 10.0).numpy()


# ----------------------------------------------------------------------------------------------------------
# Gain fields: corrections that follow each shape's own support
# ----------------------------------------------------------------------------------------------------------


def support_weights(prior: np.ndarray, falloff: float) -> np.ndarray:
    """Per-shape, per-landmark weights of the LM term that follow θ_A's own support.

    ``w_jn = (1 + δ) / (|B_jn|² / (3 s_j) + δ)`` with ``s_j`` the mean of ``B_j²``: about 1 where shape
    ``j`` moves landmark ``n`` as much as it moves its landmarks on average, ``(1 + δ)/δ`` where it does
    not move it at all (a performer's shape moves the same skin, more or less). ``δ = inf`` gives 1.

    Parameters
    ----------
    prior : np.ndarray
        θ_A's offsets at the landmarks ``B``, shape ``(K, N, 3)``, cm.
    falloff : float
        ``δ > 0``.

    Returns
    -------
    np.ndarray
        Weights, shape ``(K, N)``.
    """
    if not np.isfinite(falloff):
        return np.ones(prior.shape[:2])
    scale = (prior**2).mean(axis=(1, 2)) + 1e-12
    relative = (prior**2).sum(axis=2) / (3.0 * scale[:, None])
    return (1.0 + falloff) / (relative + falloff)


def solve_support_corrections(
    controls: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    regularization: float,
    support: np.ndarray,
) -> np.ndarray:
    """Eq. 1 with a support-weighted LM term: ``min_X Σ_m w_m ||Σ_j c_mj X_j − r_m||² + λ Σ_jn s_jn ||X_jn||²``.

    Independent per landmark: ``(Cᵀ W C + λ diag(s_·n)) X_n = Cᵀ W r_n``. Shapes as in
    :func:`solve_landmark_corrections` (numpy in and out); ``support`` is ``(K, N)`` (:func:`support_weights`).
    """
    gram = controls.T @ (weights[:, None] * controls)
    rhs = np.einsum("mk,m,mnc->nkc", controls, weights, residuals)
    idx = np.arange(len(gram))
    normal = np.repeat(gram[None], support.shape[1], axis=0)
    normal[:, idx, idx] += regularization * support.T
    return np.linalg.solve(normal, rhs).transpose(1, 0, 2)


def cross_validate_support(
    controls: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    prior: np.ndarray,
    regularization_grid: Sequence[float] = SUPPORT_REGULARIZATION_GRID,
    falloff_grid: Sequence[float] = SUPPORT_FALLOFF_GRID,
) -> np.ndarray:
    """Leave-one-capture-out error of :func:`solve_support_corrections` over a ``(λ, δ)`` grid.

    Each landmark's problem is a ridge regression, so the held-out residual is exact in closed form:
    ``e_mn = (r_mn − c_mᵀ X_n) / (1 − w_m c_mᵀ M_n⁻¹ c_m)``. Returns, as :func:`cross_validate`, the mean
    over captures of their RMS error per coordinate, millimetres, shape ``(A, D)``.
    """
    gram = controls.T @ (weights[:, None] * controls)
    rhs = np.einsum("mk,m,mnc->nkc", controls, weights, residuals)
    errors = np.zeros((len(regularization_grid), len(falloff_grid)))
    for b, falloff in enumerate(falloff_grid):
        # M_n = G + λ S_n = S_n^½ (S_n^-½ G S_n^-½ + λ I) S_n^½: one eigendecomposition per landmark serves
        # every λ
        scale = 1.0 / np.sqrt(support_weights(prior, falloff).T)  # (N, K)
        values, vectors = np.linalg.eigh(scale[:, :, None] * gram[None] * scale[:, None, :])
        projected = (controls[None] * scale[:, None, :]) @ vectors  # (N, M, K)
        rotated = vectors.transpose(0, 2, 1) @ (scale[:, :, None] * rhs)  # (N, K, 3)
        squared = projected**2
        for a, lam in enumerate(regularization_grid):
            inverse = 1.0 / (values + lam)  # (N, K)
            fitted = ((projected * inverse[:, None, :]) @ rotated).transpose(1, 0, 2)  # (M, N, 3)
            leverage = weights[:, None] * (squared @ inverse[:, :, None])[..., 0].T  # (M, N)
            held = (residuals - fitted) / (1.0 - leverage)[..., None]
            errors[a, b] = np.sqrt((held**2).mean(axis=(1, 2))).mean() * 10.0
    return errors


def gain_kernel(
    points_a: np.ndarray,
    points_b: np.ndarray,
    length_cm: float = GAIN_LENGTH_CM,
    field_std: float = GAIN_FIELD_STD,
    mean_std: float = GAIN_MEAN_STD,
) -> np.ndarray:
    """Covariance of a shape's gain field between two sets of neutral-face points.

    ``k(x, y) = σ_m² + σ_f² exp(−|x − y|² / 2ℓ²)``: a gain common to the whole shape (std ``σ_m``, a
    performer who opens the jaw further) plus a smooth spatial variation (std ``σ_f``, length ``ℓ``:
    where on the skin the shape moves more or less).

    Parameters
    ----------
    points_a, points_b : np.ndarray
        Neutral positions, shapes ``(A, 3)`` and ``(B, 3)``, centimetres.
    length_cm, field_std, mean_std : float
        ``ℓ`` (cm), ``σ_f`` and ``σ_m`` (unitless gains).

    Returns
    -------
    np.ndarray
        Shape ``(A, B)``, float64.
    """
    a, b = np.asarray(points_a, np.float64), np.asarray(points_b, np.float64)
    squared = (a**2).sum(axis=1)[:, None] + (b**2).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return mean_std**2 + field_std**2 * np.exp(-np.maximum(squared, 0.0) / (2.0 * length_cm**2))


def solve_gain_weights(
    corrections: np.ndarray,
    prior: np.ndarray,
    kernel: np.ndarray,
    noise_cm: float = GAIN_NOISE_CM,
    support_cm: float = 1e-3,
) -> np.ndarray:
    """Gaussian-process gain fields behind landmark corrections: ``X_j ≈ h_j ⊙ B_j``.

    A performer's version of a shape mostly moves the same skin as the rig's, more or less: per shape ``j``
    and coordinate, the correction at landmark ``n`` is modelled as ``x_n = h(p_n) b_n + e_n`` with ``b_n``
    θ_A's offset, ``h`` a Gaussian process with covariance ``kernel`` (:func:`gain_kernel`) and
    ``e_n ~ N(0, σ²)``. The posterior mean of ``h`` anywhere is ``k(y, p) w`` with
    ``w = b ⊙ (diag(b) K diag(b) + σ² I)⁻¹ x`` — these ``w`` are returned. Far from the landmarks the gain
    returns to the shape's common gain instead of being extrapolated, and landmarks that a shape does not
    move (``|b_n| < support_cm``) carry no information about its gain and are left out.

    Parameters
    ----------
    corrections : np.ndarray
        Landmark corrections ``X``, shape ``(K, N, 3)``, cm.
    prior : np.ndarray
        θ_A's offsets at the landmarks ``B``, shape ``(K, N, 3)``, cm.
    kernel : np.ndarray
        Gain covariance between the landmarks' neutral positions, shape ``(N, N)``.
    noise_cm : float
        ``σ > 0``: what the gain model is allowed to leave (noise and corrections of another form), cm.
    support_cm : float
        Offsets below this are outside a shape's support.

    Returns
    -------
    np.ndarray
        Weights ``w``, shape ``(K, N, 3)``: the gain field at points ``y`` is ``gain_kernel(y, p) @ w[j]``.
    """
    corrections, prior = np.asarray(corrections, np.float64), np.asarray(prior, np.float64)
    weights = np.zeros_like(corrections)
    for j in range(len(prior)):
        if not np.any(corrections[j]):
            continue
        for c in range(3):
            b = prior[j, :, c]
            support = np.flatnonzero(np.abs(b) >= support_cm)
            if not len(support):
                continue
            bs = b[support]
            system = bs[:, None] * kernel[np.ix_(support, support)] * bs[None, :]
            system[np.diag_indices_from(system)] += noise_cm**2
            factor = scipy.linalg.cho_factor(system, check_finite=False)
            alpha = scipy.linalg.cho_solve(factor, corrections[j, support, c], check_finite=False)
            weights[j, support, c] = bs * alpha
    return weights


def per_shape(operator: np.ndarray | sp.spmatrix, values: np.ndarray) -> np.ndarray:
    """Apply a point operator ``(R, C)`` (dense or sparse) to every shape and coordinate of ``(K, C, 3)`` →
    ``(K, R, 3)``, as one matrix product."""
    num_shapes, num_points, _ = values.shape
    flat = values.transpose(1, 0, 2).reshape(num_points, num_shapes * 3)
    return np.asarray(operator @ flat).reshape(-1, num_shapes, 3).transpose(1, 0, 2)


# ----------------------------------------------------------------------------------------------------------
# Seams and graphs
# ----------------------------------------------------------------------------------------------------------


def _mesh_edges(triangles: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Unique undirected edges ``(E, 2)`` (i < j) of triangles whose vertices all satisfy ``keep``."""
    tri = triangles[keep[triangles].all(axis=1)]
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    edges = np.sort(edges, axis=1)
    return np.unique(edges, axis=0)


@dataclass(frozen=True)
class _Seam:
    """One opening (lips, an eye) as a side label per vertex and a zone where edges may be cut."""

    side: np.ndarray  # (V,) bool: nearer (geodesically) to the constraint's first vertices
    zone: np.ndarray  # (V,) bool: vertices where crossing edges are cut
    near_cm: np.ndarray  # (V,) float: euclidean distance to the nearest pair vertex (neutral)


def _seams(rig: Rig, definition: RigDefinition | None, region: np.ndarray, edges: np.ndarray) -> list[_Seam]:
    if definition is None or not definition.constraints:
        return []
    neutral = rig.neutral.astype(np.float64)
    lengths = np.linalg.norm(neutral[edges[:, 0]] - neutral[edges[:, 1]], axis=1) + 1e-9
    graph = sp.coo_matrix((lengths, (edges[:, 0], edges[:, 1])), shape=(rig.num_vertices,) * 2).tocsr()
    inner = np.isin(
        rig.vertex_group, [rig.group_names.index(g) for g in INNER_GROUPS if g in rig.group_names]
    )
    seams = []
    for constraint in definition.constraints:
        first, second = np.unique(constraint.vertex_pairs[:, 0]), np.unique(constraint.vertex_pairs[:, 1])
        d_first = dijkstra(graph, directed=False, indices=first, min_only=True)
        d_second = dijkstra(graph, directed=False, indices=second, min_only=True)
        near = cKDTree(neutral[constraint.vertex_pairs.ravel()]).query(neutral)[0]
        zone = region & (near <= _SEAM_ZONE_CM)
        for group in np.unique(rig.vertex_group[inner & (near <= _INNER_TOUCH_CM)]):
            zone |= (rig.vertex_group == group) & np.isfinite(d_first)
        seams.append(_Seam(side=d_first < d_second, zone=zone, near_cm=near))
    return seams


def _cut(
    edges: np.ndarray, seams: Sequence[_Seam], side_of: np.ndarray | None = None, zone_cm: float | None = None
) -> np.ndarray:
    """Mask ``(E,)`` of edges kept after cutting every seam (vertex ids, or landmark ids with ``side_of``)."""
    keep = np.ones(len(edges), bool)
    for seam in seams:
        if side_of is None:
            side, zone = seam.side, seam.zone
        else:
            side = seam.side[side_of]
            zone = seam.near_cm[side_of] <= zone_cm
        crossing = side[edges[:, 0]] != side[edges[:, 1]]
        keep &= ~(crossing & zone[edges[:, 0]] & zone[edges[:, 1]])
    return keep


def _laplacian(edges: np.ndarray, size: int) -> sp.csr_matrix:
    """Uniform graph Laplacian ``D − A``, shape ``(size, size)``."""
    ones = np.ones(len(edges))
    adjacency = sp.coo_matrix((ones, (edges[:, 0], edges[:, 1])), shape=(size, size))
    adjacency = (adjacency + adjacency.T).tocsr()
    adjacency.data[:] = 1.0
    return (sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency).tocsr()


# ----------------------------------------------------------------------------------------------------------
# Full-mesh propagation
# ----------------------------------------------------------------------------------------------------------


class MeshPropagator:
    """Spreads landmark corrections over the mesh and applies the corrective constraints.

    Built once per (rig, embedding, definition): the cut mesh graph, the biharmonic system and its sparse
    LU factorization, and the constraint operator. The propagation solves, per shape and coordinate,

    ``min_d α ||L d||² + Σ_n ||S_n d − x_n||² + ε ||d||²``

    over the corrected vertices (the rig's rigid vertices fixed at 0), ``L`` the uniform Laplacian of the
    mesh graph cut along the lip and eyelid seams, ``S_n`` the barycentric row of landmark ``n``.

    Parameters
    ----------
    rig : Rig
        The rig (its neutral defines distances and seams).
    embedding : LandmarkEmbedding
        The landmarks as surface points, ``N`` of them.
    definition : RigDefinition or None
        Its corrective constraints define the seams and the surrogate equations.
    smoothness : float
        ``α``, the biharmonic weight relative to a unit landmark weight.

    Attributes
    ----------
    corrected_landmarks : np.ndarray
        Shape ``(N,)``, bool: landmarks lying on corrected triangles (iris points on eyeballs are not).
    landmark_laplacian : np.ndarray
        Laplacian of the landmark graph (k nearest neighbours, seams cut), shape ``(Nc, Nc)`` over the
        corrected landmarks.
    """

    def __init__(
        self,
        rig: Rig,
        embedding: LandmarkEmbedding,
        definition: RigDefinition | None,
        smoothness: float = _PROPAGATION_SMOOTHNESS,
        membrane: float = _PROPAGATION_MEMBRANE,
    ) -> None:
        self.rig, self.embedding, self.definition = rig, embedding, definition
        names = rig.group_names
        region = np.isin(rig.vertex_group, [names.index(g) for g in CORRECTED_GROUPS if g in names])
        rigid = np.zeros(rig.num_vertices, bool)
        rigid[rig.rigid_vertices] = True
        free = region & ~rigid
        self.free_ids = np.flatnonzero(free)
        column = np.full(rig.num_vertices, -1)
        column[self.free_ids] = np.arange(len(self.free_ids))
        self._column = column

        edges = _mesh_edges(rig.triangles, region)
        self.seams = _seams(rig, definition, region, edges)
        edges = edges[_cut(edges, self.seams)]
        lap = _laplacian(edges, rig.num_vertices)[region][:, free]  # rows: region, columns: free vertices
        lap_free = lap.tocsr()

        # landmarks on corrected triangles → barycentric matrix over free vertices
        corners = rig.triangles[embedding.points.triangle_ids]  # (N, 3)
        bary = embedding.points.barycentrics.astype(np.float64)
        self.corrected_landmarks = region[corners].all(axis=1)
        ids = np.flatnonzero(self.corrected_landmarks)
        cols = column[corners[ids]]
        valid = cols >= 0
        rows = np.repeat(np.arange(len(ids)), 3).reshape(-1, 3)
        self.sampling = sp.csr_matrix(
            (bary[ids][valid], (rows[valid], cols[valid])), shape=(len(ids), len(self.free_ids))
        )
        membrane_term = _laplacian(edges, rig.num_vertices)[free][:, free]
        system = (
            smoothness * (lap_free.T @ lap_free) + membrane * membrane_term + self.sampling.T @ self.sampling
        )
        system = system + _PROPAGATION_RIDGE * sp.identity(len(self.free_ids))
        lu = splu(system.tocsc(), permc_spec="MMD_ATA")
        # dense propagation operator A⁻¹ Sᵀ, shape (F, Nc): each call is then one matrix product
        self._propagation = lu.solve(np.asfortranarray(self.sampling.T.toarray()))

        # the rig restricted to the landmarks (float64), for residuals
        tensors = rig.tensors(dtype=torch.float64)
        self.neutral_points, self.base_points = surface_point_basis(
            tensors.neutral,
            tensors.deltas,
            tensors.triangles,
            torch.as_tensor(embedding.points.triangle_ids),
            torch.as_tensor(embedding.points.barycentrics, dtype=torch.float64),
        )

        # landmark graph: k nearest neighbours in the neutral, seams cut
        dominant = corners[ids, np.argmax(bary[ids], axis=1)]
        points = np.einsum("ncx,nc->nx", rig.neutral[corners[ids]].astype(np.float64), bary[ids])
        k = min(_LANDMARK_NEIGHBOURS, len(ids) - 1)
        if k > 0:
            _, nbrs = cKDTree(points).query(points, k=k + 1)
            knn = np.sort(np.stack([np.repeat(np.arange(len(ids)), k), nbrs[:, 1:].ravel()], axis=1), axis=1)
            knn = np.unique(knn, axis=0)
            knn = knn[_cut(knn, self.seams, side_of=dominant, zone_cm=_LANDMARK_SEAM_ZONE_CM)]
        else:
            knn = np.zeros((0, 2), int)
        self.landmark_positions = points
        self._gain_kernels: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        self._landmark_operator: np.ndarray | None = None
        self.landmark_laplacian = _laplacian(knn, len(ids)).toarray()
        eigenvalues, eigenvectors = np.linalg.eigh(self.landmark_laplacian)
        self.laplacian_eigen = (np.clip(eigenvalues, 0.0, None), eigenvectors)

        # constraint operator: differences between paired free vertices, and its Schur complement
        self.constraints: list[CorrectiveConstraint] = list(definition.constraints) if definition else []
        blocks, self._constraint_rows = [], []
        start = 0
        for constraint in self.constraints:
            a, b = column[constraint.vertex_pairs[:, 0]], column[constraint.vertex_pairs[:, 1]]
            ok = (a >= 0) & (b >= 0)
            n = int(ok.sum())
            rows = np.arange(n)
            blocks.append(
                sp.csr_matrix(
                    (np.r_[np.ones(n), -np.ones(n)], (np.r_[rows, rows], np.r_[a[ok], b[ok]])),
                    shape=(n, len(self.free_ids)),
                )
            )
            self._constraint_rows.append((slice(start, start + n), ok))
            start += n
        if start:
            self._difference = sp.vstack(blocks).tocsr()
            self._difference_solved = lu.solve(np.asfortranarray(self._difference.T.toarray()))  # (F, P)
            schur = np.asarray(self._difference @ self._difference_solved)
            values, vectors = np.linalg.eigh((schur + schur.T) / 2)
            inverse = np.where(values > values.max() * 1e-10, 1.0 / np.maximum(values, 1e-300), 0.0)
            self._schur_inv = (vectors * inverse) @ vectors.T
        self._attach_from, self._attach_to = self._attachments(region)
        self.gain_kernels(GAIN_LENGTH_CM)  # the default gain prior, so that a calibration starts with it

    def _attachments(self, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        names = self.rig.group_names
        attached = np.flatnonzero(
            np.isin(self.rig.vertex_group, [names.index(g) for g in ATTACHED_GROUPS if g in names])
        )
        if not len(attached) or not len(self.free_ids):
            return np.zeros(0, int), np.zeros(0, int)
        neutral = self.rig.neutral.astype(np.float64)
        nearest = cKDTree(neutral[self.free_ids]).query(neutral[attached])[1]
        return self.free_ids[nearest], attached

    def gain_kernels(self, length_cm: float) -> tuple[np.ndarray, np.ndarray]:
        """:func:`gain_kernel` among the corrected landmarks ``(Nc, Nc)`` and from the free vertices to them
        ``(F, Nc)``, for length ``ℓ`` (cm); computed once per length."""
        kernels = self._gain_kernels.get(length_cm)
        if kernels is None:
            free_points = self.rig.neutral[self.free_ids].astype(np.float64)
            kernels = (
                gain_kernel(self.landmark_positions, self.landmark_positions, length_cm),
                gain_kernel(free_points, self.landmark_positions, length_cm),
            )
            self._gain_kernels[length_cm] = kernels
        return kernels

    @property
    def landmark_operator(self) -> np.ndarray:
        """``S·P``: what propagated corrections become at the corrected landmarks, shape ``(Nc, Nc)``.

        Landmark corrections ``x`` (per shape and coordinate) spread over the mesh by :meth:`propagate` are
        seen at the corrected landmarks as ``S P x``; the propagation's landmark terms are soft, so this is
        close to, not equal to, the identity. Computed once.
        """
        if self._landmark_operator is None:
            self._landmark_operator = np.asarray(self.sampling @ self._propagation)
        return self._landmark_operator

    def propagate_free(self, corrections: np.ndarray) -> np.ndarray:
        """Spread landmark corrections over the free (corrected, non-rigid) vertices.

        Parameters
        ----------
        corrections : np.ndarray
            Corrections at the corrected landmarks, shape ``(K, Nc, 3)``, centimetres.

        Returns
        -------
        np.ndarray
            Corrections of the free vertices ``free_ids``, shape ``(K, F, 3)``, float64, centimetres.
        """
        return per_shape(self._propagation, np.asarray(corrections, np.float64))

    def to_full(self, free_corrections: np.ndarray) -> np.ndarray:
        """Free-vertex corrections ``(K, F, 3)`` → all vertices ``(K, V, 3)`` (attached meshes follow)."""
        full = np.zeros((free_corrections.shape[0], self.rig.num_vertices, 3))
        full[:, self.free_ids] = free_corrections
        full[:, self._attach_to] = full[:, self._attach_from]
        return full

    def propagate(self, corrections: np.ndarray) -> np.ndarray:
        """Spread landmark corrections over the mesh: :meth:`propagate_free` then :meth:`to_full`.

        Parameters
        ----------
        corrections : np.ndarray
            Corrections at the corrected landmarks, shape ``(K, Nc, 3)``, centimetres.

        Returns
        -------
        np.ndarray
            Corrections of all vertices, shape ``(K, V, 3)``, float64, centimetres: zero outside the
            corrected region, except attached meshes which copy their nearest corrected vertex.
        """
        return self.to_full(self.propagate_free(corrections))

    def enforce_constraints(self, free_corrections: np.ndarray, control_names: Sequence[str]) -> np.ndarray:
        """Keep every constraint pose's pair gaps as in θ_A (surrogate (c, v) pairs, paper 001 Sec. 8).

        For constraint pose ``c*`` with combined correction ``E = Σ_j c*_j D_j``, finds the least-energy
        field ``F`` (the energy of the propagation, landmarks pulled to zero) with ``F_a − F_b = E_a − E_b``
        on its pairs and ``F_a − F_b = 0`` on other constraints' pairs, and sets
        ``D_j ← D_j − c*_j F / ||c*||²``, so that ``Σ_j c*_j D_j`` no longer moves the pairs apart.

        Parameters
        ----------
        free_corrections : np.ndarray
            Corrections ``D`` of the free vertices, shape ``(K, F, 3)``, centimetres.
        control_names : sequence of str
            The rig's control names, length ``K``.

        Returns
        -------
        np.ndarray
            Constrained corrections, shape ``(K, F, 3)``, float64.
        """
        out = np.array(free_corrections, np.float64, copy=True)
        if not self.constraints:
            return out
        total_rows = self._difference.shape[0]
        for constraint, (rows, ok) in zip(self.constraints, self._constraint_rows, strict=True):
            pose = constraint.control_vector(control_names).astype(np.float64)
            used = np.flatnonzero(pose)
            pairs = self._column[constraint.vertex_pairs[ok]]  # (P, 2) columns into the free vertices
            combined = np.einsum("k,kpx->px", pose[used], out[used][:, pairs.ravel()]).reshape(-1, 2, 3)
            target = np.zeros((total_rows, 3))
            target[rows] = combined[:, 0] - combined[:, 1]
            fix = self._difference_solved @ (self._schur_inv @ target)  # (F, 3)
            out[used] -= (pose[used] / float(pose @ pose))[:, None, None] * fix[None]
        return out


_PROPAGATOR_CACHE: dict[tuple[int, int, int], tuple[Any, MeshPropagator]] = {}


def mesh_propagator(
    rig: Rig, embedding: LandmarkEmbedding, definition: RigDefinition | None
) -> MeshPropagator:
    """A :class:`MeshPropagator` for these objects, built once and kept (one entry) for the next call."""
    key = (id(rig), id(embedding), id(definition))
    cached = _PROPAGATOR_CACHE.get(key)
    if cached is None:
        _PROPAGATOR_CACHE.clear()
        # keep the objects alive with the entry, so that their ids cannot be reused while it exists
        cached = ((rig, embedding, definition), MeshPropagator(rig, embedding, definition))
        _PROPAGATOR_CACHE[key] = cached
    return cached[1]


# ----------------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------------


def _constraint_gaps(
    rig: Rig, deltas: np.ndarray, constraint: CorrectiveConstraint, ids: np.ndarray | None = None
) -> dict[str, float]:
    """Mean and largest pair gap (mm) of a constraint's pose; ``deltas`` is ``(K, V, 3)`` or ``(K, len(ids), 3)``."""
    pose = constraint.control_vector(rig.expression_names).astype(np.float64)
    used = np.flatnonzero(pose)
    if ids is None:
        ids = np.unique(constraint.vertex_pairs)
        deltas = deltas[:, ids]
    posed = rig.neutral.astype(np.float64).copy()
    posed[ids] += np.einsum("k,kvx->vx", pose[used], deltas[used].astype(np.float64))
    gaps = constraint.gaps(posed) * 10.0
    return {"mean_mm": float(gaps.mean()), "max_mm": float(gaps.max())}


def calibrate_job(
    rig: Rig,
    embedding: LandmarkEmbedding,
    pairs: Sequence[CalibrationPair],
    definition: RigDefinition | None = None,
    *,
    regularization: str | float = "auto",
    smoothness: str | float = "auto",
    support_falloff: str | float = "auto",
    gain_length_cm: float = GAIN_LENGTH_CM,
    gain_noise_cm: float = GAIN_NOISE_CM,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, CalibrationResult]:
    """Calibrate θ_A → θ_S from Simon-Says pairs, as a generator job (see :mod:`studio.core.jobs`).

    Parameters
    ----------
    rig : Rig
        The rig with its prior parameters θ_A.
    embedding : LandmarkEmbedding
        The ``N`` landmarks as surface points on the rig.
    pairs : sequence of CalibrationPair
        The (c, v) pairs, ``M`` of them: controls ``(K,)``, landmarks ``(N, 3)`` cm.
    definition : RigDefinition, optional
        Supplies the corrective constraints (and the seams); none are enforced without it.
    regularization : "auto" or float
        λ; ``"auto"`` chooses it by leave-one-capture-out cross-validation (with ≥ 3 pairs).
    smoothness : "auto" or float
        μ; ``"auto"`` chooses it jointly with λ.
    support_falloff : "auto" or float
        δ of the support-weighted LM term (:func:`support_weights`; ``inf``: uniform λ with the Laplacian
        term μ). ``"auto"`` (with λ and μ also ``"auto"``) lets leave-one-out cross-validation choose
        between the uniform and the support-weighted solve (:func:`cross_validate_support`); with a
        float δ the support-weighted solve is used (μ = 0).
    gain_length_cm : float
        ``ℓ`` of the gain fields (:func:`gain_kernel`), cm; ``inf`` or 0 propagates the landmark
        corrections additively only.
    gain_noise_cm : float
        ``σ`` of the gain fields (:func:`solve_gain_weights`), cm.
    cancel : callable or event-like, optional
        Checked between stages; raises :class:`JobCancelled` when set.

    Yields
    ------
    tuple of (str, int, int)
        ``(stage, done, total)``: stages ``landmarks``, ``cross_validation``, ``propagation``,
        ``constraints``.

    Returns
    -------
    CalibrationResult
    """
    captures = _Captures.of(pairs, rig, embedding)

    def check(stage: int) -> None:
        if is_cancelled(cancel):
            raise JobCancelled(f"calibration cancelled before {CALIBRATION_STAGES[stage]}")

    t0 = time.perf_counter()
    timer = _StageTimer()
    yield (CALIBRATION_STAGES[0], 0, len(CALIBRATION_STAGES))
    check(0)
    with timer("setup"):
        propagator = mesh_propagator(rig, embedding, definition)
    with timer("landmarks"):
        residuals = _LandmarkResiduals.of(propagator, captures)

    yield (CALIBRATION_STAGES[1], 1, len(CALIBRATION_STAGES))
    check(1)
    with timer("cross_validation"):
        solve = _chosen_solve(captures, residuals, regularization, smoothness, support_falloff)

    yield (CALIBRATION_STAGES[2], 2, len(CALIBRATION_STAGES))
    check(2)
    with timer("propagation"):
        free, gain_report = _propagated(rig, propagator, residuals.prior, solve, gain_length_cm, gain_noise_cm)

    yield (CALIBRATION_STAGES[3], 3, len(CALIBRATION_STAGES))
    check(3)
    with timer("constraints"):
        theta_s, gaps = _constrained(rig, propagator, free)

    landmark_deltas, residual_report = _landmark_fit(rig, embedding, propagator, captures, residuals, theta_s, pairs)
    timer.seconds["total"] = time.perf_counter() - t0
    report = CalibrationReport(
        regularization=float(solve.regularization),
        smoothness=float(solve.smoothness),
        cv=solve.cv,
        support_falloff=float(solve.falloff) if np.isfinite(solve.falloff) else None,
        support_cv=solve.support_cv,
        gain=gain_report,
        residual_mm=residual_report,
        constraints=gaps,
        seconds=timer.seconds,
        num_pairs=len(pairs),
        num_landmarks_corrected=int(propagator.corrected_landmarks.sum()),
        noise_mm=[None if n is None else float(n) for n in captures.noise],
    )
    metadata = {"rig": rig.name, "stage": "theta_S", "created_by": "studio.core.calibration.calibrate"}
    parameters = RigParameters(rig.expression_names, theta_s, metadata)
    yield (CALIBRATION_STAGES[3], 4, len(CALIBRATION_STAGES))
    return CalibrationResult(parameters, landmark_deltas.numpy(), report)


#: The stages :func:`calibrate_job` reports, in order.
CALIBRATION_STAGES = ("landmarks", "cross_validation", "propagation", "constraints")


class _StageTimer:
    """Seconds per named step (``with timer("propagation"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started


@dataclass(frozen=True)
class _Captures:
    """The pairs as arrays: controls ``(M, K)``, landmarks ``(M, N, 3)`` cm, weights ``(M,)``, noise (mm)."""

    controls: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    noise: list[float | None]

    @classmethod
    def of(cls, pairs: Sequence[CalibrationPair], rig: Rig, embedding: LandmarkEmbedding) -> _Captures:
        """Check the pairs; weigh them by inverse noise variance (relative) when every pair has a noise."""
        if not pairs:
            raise ValueError("calibration needs at least one (c, v) pair")
        controls = np.stack([np.asarray(p.controls, np.float64) for p in pairs])
        targets = np.stack([np.asarray(p.landmarks, np.float64) for p in pairs])
        if controls.shape[1] != rig.num_controls:
            raise ValueError(f"pair controls must have shape ({rig.num_controls},), got {controls.shape[1:]}")
        if targets.shape[1:] != (len(embedding), 3):
            raise ValueError(f"pair landmarks must have shape ({len(embedding)}, 3), got {targets.shape[1:]}")
        weights = np.array([p.weight for p in pairs], np.float64)
        noise = [p.noise_mm for p in pairs]
        if all(n is not None and n > 0 for n in noise):
            sigma = np.asarray(noise, np.float64)
            weights = weights * (np.median(sigma) / sigma) ** 2  # inverse-variance, relative
        return cls(controls, targets, weights, noise)


@dataclass(frozen=True)
class _LandmarkResiduals:
    """What θ_A leaves of the captures at the corrected landmarks (torch, float64, cm)."""

    controls: torch.Tensor  # (M, K)
    targets: torch.Tensor  # (M, N, 3)
    predicted_a: torch.Tensor  # (M, N, 3): θ_A posed as each capture asked
    residuals: torch.Tensor  # (M, Nc, 3): the captures minus θ_A, corrected landmarks only
    weights: torch.Tensor  # (M,)
    laplacian: tuple[torch.Tensor, torch.Tensor]
    prior: np.ndarray  # (K, Nc, 3): θ_A at the corrected landmarks

    @classmethod
    def of(cls, propagator: MeshPropagator, captures: _Captures) -> _LandmarkResiduals:
        mask_t = torch.as_tensor(propagator.corrected_landmarks)
        controls_t, targets_t = torch.as_tensor(captures.controls), torch.as_tensor(captures.targets)
        predicted_a = propagator.neutral_points[None] + torch.einsum("mk,knc->mnc", controls_t, propagator.base_points)
        return cls(
            controls=controls_t, targets=targets_t, predicted_a=predicted_a,
            residuals=(targets_t - predicted_a)[:, mask_t], weights=torch.as_tensor(captures.weights),
            laplacian=tuple(torch.as_tensor(x) for x in propagator.laplacian_eigen),
            prior=propagator.base_points[:, mask_t].numpy(),
        )  # fmt: skip


@dataclass(frozen=True)
class _Solve:
    """The landmark corrections ``(K, Nc, 3)`` cm, and how they were chosen (λ, μ, δ, cross-validation)."""

    corrections: np.ndarray
    regularization: float
    smoothness: float
    falloff: float
    cv: dict[str, Any] | None
    support_cv: dict[str, Any] | None
    active: np.ndarray  # the shapes some capture moves


def _chosen_solve(
    captures: _Captures,
    residuals: _LandmarkResiduals,
    regularization: str | float,
    smoothness: str | float,
    support_falloff: str | float,
) -> _Solve:
    """Choose λ and μ (the uniform solve) and, when asked, δ (the support-weighted solve) by leave-one-capture-
    out cross-validation, then solve the landmark corrections with the better one."""
    num_pairs = len(captures.controls)
    reg_grid = REGULARIZATION_GRID if regularization == "auto" else (float(regularization),)
    smooth_grid = SMOOTHNESS_GRID if smoothness == "auto" else (float(smoothness),)
    cv: dict[str, Any] | None = None
    if num_pairs >= 3 and (len(reg_grid) > 1 or len(smooth_grid) > 1):
        errors = cross_validate(
            residuals.controls, residuals.residuals, residuals.weights, residuals.laplacian, reg_grid, smooth_grid
        )
        best = np.unravel_index(int(np.argmin(errors)), errors.shape)
        lam, mu = reg_grid[best[0]], smooth_grid[best[1]]
        cv = {
            "regularization_grid": list(reg_grid),
            "smoothness_grid": list(smooth_grid),
            "loo_rms_mm": errors.tolist(),
            "best_loo_rms_mm": float(errors[best]),
        }
    else:
        lam = reg_grid[0] if len(reg_grid) == 1 else DEFAULT_REGULARIZATION
        mu = smooth_grid[0] if len(smooth_grid) == 1 else DEFAULT_SMOOTHNESS
    prior = residuals.prior
    # shapes no capture moves keep θ_A (zero corrections for every λ, μ, δ): solve for the others only
    active = np.flatnonzero(np.abs(captures.controls).sum(axis=0) > 0)
    controls_np, residuals_np, prior_active = captures.controls[:, active], residuals.residuals.numpy(), prior[active]
    falloff = float("inf")
    support_cv: dict[str, Any] | None = None
    automatic = regularization == "auto" and smoothness == "auto"
    if support_falloff != "auto" or (automatic and num_pairs >= 3):
        falloff_grid = SUPPORT_FALLOFF_GRID if support_falloff == "auto" else (float(support_falloff),)
        support_reg_grid = (
            SUPPORT_REGULARIZATION_GRID if regularization == "auto" else (float(regularization),)
        )
        if num_pairs >= 3 and len(falloff_grid) * len(support_reg_grid) > 1:
            support_errors = cross_validate_support(
                controls_np, residuals_np, captures.weights, prior_active, support_reg_grid, falloff_grid
            )
            best_support = np.unravel_index(int(np.argmin(support_errors)), support_errors.shape)
            support_cv = {
                "regularization_grid": list(support_reg_grid),
                "falloff_grid": list(falloff_grid),
                "loo_rms_mm": support_errors.tolist(),
            }
            uniform_best = cv["best_loo_rms_mm"] if cv is not None else np.inf
            if support_falloff != "auto" or support_errors[best_support] < uniform_best:
                lam, mu = support_reg_grid[best_support[0]], 0.0
                falloff = falloff_grid[best_support[1]]
        else:
            lam, mu, falloff = support_reg_grid[0], 0.0, falloff_grid[0]

    corrections = np.zeros(prior.shape)
    if np.isfinite(falloff):
        support = support_weights(prior_active, falloff)
        corrections[active] = solve_support_corrections(controls_np, residuals_np, captures.weights, lam, support)
    else:
        corrections[active] = solve_landmark_corrections(
            torch.as_tensor(controls_np), residuals.residuals, residuals.weights, lam, mu, residuals.laplacian
        ).numpy()
    return _Solve(corrections, lam, mu, falloff, cv, support_cv, active)


def _propagated(
    rig: Rig,
    propagator: MeshPropagator,
    prior: np.ndarray,
    solve: _Solve,
    gain_length_cm: float,
    gain_noise_cm: float,
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """The landmark corrections carried to every free vertex ``(K, F, 3)`` cm: a gain field following each
    shape's own motion plus an additive rest (or additively only), and the gains' report (or ``None``)."""
    corrections = solve.corrections
    if not (np.isfinite(gain_length_cm) and gain_length_cm > 0):
        return propagator.propagate_free(corrections), None
    # gain part h ⊙ θ_A follows each shape's own motion; the additive part takes the rest
    landmark_kernel, free_kernel = propagator.gain_kernels(gain_length_cm)
    gain_weights = solve_gain_weights(corrections, prior, landmark_kernel, gain_noise_cm)
    gain_free = per_shape(free_kernel, gain_weights) * rig.expression_deltas[:, propagator.free_ids]
    sampled = per_shape(propagator.sampling, gain_free)
    free = gain_free + propagator.propagate_free(corrections - sampled)
    landmark_gains = np.einsum("pn,knc->kpc", landmark_kernel, gain_weights)
    energy = prior**2  # a shape's gain averaged where it moves the landmarks
    mean_gain = (landmark_gains * energy).sum(axis=(1, 2)) / np.maximum(energy.sum(axis=(1, 2)), 1e-12)
    return free, {
        "length_cm": float(gain_length_cm),
        "noise_cm": float(gain_noise_cm),
        "mean_gain": {rig.expression_names[k]: float(1.0 + mean_gain[k]) for k in solve.active},
    }


def _constrained(rig: Rig, propagator: MeshPropagator, free: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """θ_S on the full mesh ``(K, V, 3)`` float32 with the corrective constraints enforced, and each
    constraint's gaps with θ_A, the unconstrained corrections and θ_S."""
    constrained = propagator.enforce_constraints(free, rig.expression_names)
    theta_a = rig.expression_deltas
    theta_s = theta_a + propagator.to_full(constrained).astype(np.float32)
    gaps = {}
    for c in propagator.constraints:
        ids = np.unique(c.vertex_pairs)
        columns = propagator._column[ids]
        unconstrained = theta_a[:, ids].astype(np.float64)
        unconstrained[:, columns >= 0] += free[:, columns[columns >= 0]]
        gaps[c.name] = {
            "theta_A": _constraint_gaps(rig, theta_a, c),
            "unconstrained": _constraint_gaps(rig, unconstrained, c, ids),
            "theta_S": _constraint_gaps(rig, theta_s, c),
        }
    return theta_s, gaps


def _landmark_fit(
    rig: Rig,
    embedding: LandmarkEmbedding,
    propagator: MeshPropagator,
    captures: _Captures,
    residuals: _LandmarkResiduals,
    theta_s: np.ndarray,
    pairs: Sequence[CalibrationPair],
) -> tuple[torch.Tensor, dict[str, BeforeAfter]]:
    """θ_S at the landmarks as the tracker sees it ``(K, N, 3)`` (from the final mesh, constraints included),
    and each capture's RMS landmark residual with θ_A and with θ_S, mm."""
    corners = rig.triangles[embedding.points.triangle_ids]
    landmark_deltas = torch.as_tensor(
        np.einsum(
            "kncx,nc->knx",
            theta_s[:, corners].astype(np.float64),
            embedding.points.barycentrics.astype(np.float64),
        )
    )
    after = residuals.targets - (
        propagator.neutral_points[None] + torch.einsum("mk,knc->mnc", residuals.controls, landmark_deltas)
    )
    before = residuals.targets - residuals.predicted_a
    mask = torch.as_tensor(propagator.corrected_landmarks)

    def rms_mm(r: torch.Tensor) -> float:
        return float(torch.sqrt((r[mask] ** 2).mean())) * 10.0

    return landmark_deltas, {p.name: BeforeAfter(rms_mm(before[i]), rms_mm(after[i])) for i, p in enumerate(pairs)}

def calibrate(
    rig: Rig,
    embedding: LandmarkEmbedding,
    pairs: Sequence[CalibrationPair],
    definition: RigDefinition | None = None,
    *,
    regularization: str | float = "auto",
    smoothness: str | float = "auto",
    support_falloff: str | float = "auto",
    gain_length_cm: float = GAIN_LENGTH_CM,
    gain_noise_cm: float = GAIN_NOISE_CM,
    cancel: Cancel = None,
) -> CalibrationResult:
    """Calibrate θ_A → θ_S synchronously: :func:`run_job` of :func:`calibrate_job` (same parameters)."""
    return run_job(
        calibrate_job(
            rig,
            embedding,
            pairs,
            definition,
            regularization=regularization,
            smoothness=smoothness,
            support_falloff=support_falloff,
            gain_length_cm=gain_length_cm,
            gain_noise_cm=gain_noise_cm,
            cancel=cancel,
        )
    )
