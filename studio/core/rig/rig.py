"""Blendshape rig ``R(c; θ) = neutral + Σ_k c_k Δ_k`` and its batched evaluation.

Conventions (as the ICT-FaceKit rig): positions in centimetres, +y up, +z out of the face, x towards the
face's left. ``K`` is the number of expression controls, ``V`` the number of vertices, ``F`` the number of
triangles, ``M`` the number of identity modes, ``B`` a batch of rig states, ``N`` a set of surface points.

The batched functions follow kornia's habit: batch first, shapes checked at entry, torch in and torch out,
on whatever device the inputs live on. :class:`Rig` wraps the data and offers numpy conveniences.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from studio.core.assets import asset_path
from studio.core.errors import StudioError
from studio.core.io.atomic_files import write_npz_atomic
from studio.core.io.npz import read_npz

ICT_NUM_VERTICES = 26719

_REQUIRED_RIG_KEYS = ("neutral", "triangles", "expression_names", "expression_deltas")


class RigFileError(StudioError):
    """A rig or rig-parameter file is unreadable or does not hold what it should (one-line message)."""


def _check_shape(name: str, tensor: torch.Tensor | np.ndarray, shape: tuple[int | None, ...]) -> None:
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(tensor.shape)}")


# ----------------------------------------------------------------------------------------------------------
# Batched tensor functions
# ----------------------------------------------------------------------------------------------------------


def evaluate_blendshapes(controls: torch.Tensor, neutral: torch.Tensor, deltas: torch.Tensor) -> torch.Tensor:
    """Evaluate a linear blendshape rig for a batch of control vectors.

    Parameters
    ----------
    controls : torch.Tensor
        Controls ``c``, shape ``(B, K)``, unitless (usually in [0, 1]).
    neutral : torch.Tensor
        Neutral positions, shape ``(V, 3)``, centimetres.
    deltas : torch.Tensor
        Blendshape offsets ``θ = Δ``, shape ``(K, V, 3)``, centimetres.

    Returns
    -------
    torch.Tensor
        Positions ``neutral + Σ_k c_k Δ_k``, shape ``(B, V, 3)``, centimetres, dtype of ``deltas``.
    """
    _check_shape("controls", controls, (None, deltas.shape[0]))
    _check_shape("neutral", neutral, (deltas.shape[1], 3))
    _check_shape("deltas", deltas, (None, None, 3))
    num_controls, num_vertices, _ = deltas.shape
    flat = controls.to(deltas.dtype) @ deltas.reshape(num_controls, num_vertices * 3)
    return flat.reshape(-1, num_vertices, 3) + neutral.to(deltas.dtype)


def sample_surface(
    vertices: torch.Tensor, triangles: torch.Tensor, triangle_ids: torch.Tensor, barycentrics: torch.Tensor
) -> torch.Tensor:
    """Positions of surface points given as triangle id + barycentric coordinates.

    Parameters
    ----------
    vertices : torch.Tensor
        Mesh positions, shape ``(B, V, 3)``.
    triangles : torch.Tensor
        Vertex ids of each triangle, shape ``(F, 3)``, integer.
    triangle_ids : torch.Tensor
        Triangle holding each surface point, shape ``(N,)``, integer.
    barycentrics : torch.Tensor
        Barycentric weights of the triangle's three vertices, shape ``(N, 3)``, rows summing to 1.

    Returns
    -------
    torch.Tensor
        Surface point positions, shape ``(B, N, 3)``, same units as ``vertices``.
    """
    _check_shape("vertices", vertices, (None, None, 3))
    _check_shape("triangles", triangles, (None, 3))
    _check_shape("triangle_ids", triangle_ids, (None,))
    _check_shape("barycentrics", barycentrics, (triangle_ids.shape[0], 3))
    corner_ids = triangles[triangle_ids.long()].long()  # (N, 3)
    corners = vertices[:, corner_ids]  # (B, N, 3 corners, 3 xyz)
    return torch.einsum("bncx,nc->bnx", corners, barycentrics.to(vertices.dtype))


def surface_point_basis(
    neutral: torch.Tensor,
    deltas: torch.Tensor,
    triangles: torch.Tensor,
    triangle_ids: torch.Tensor,
    barycentrics: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Restrict a blendshape rig to surface points: the small rig a tracker sees.

    Because the rig is linear and barycentric sampling is linear, sampling commutes with evaluation:
    ``S·R(c; θ) = S·neutral + Σ_k c_k S·Δ_k``.

    Parameters
    ----------
    neutral : torch.Tensor
        Neutral positions, shape ``(V, 3)``, centimetres.
    deltas : torch.Tensor
        Blendshape offsets, shape ``(K, V, 3)``, centimetres.
    triangles, triangle_ids, barycentrics : torch.Tensor
        Surface points as in :func:`sample_surface`: ``(F, 3)``, ``(N,)``, ``(N, 3)``.

    Returns
    -------
    neutral_points : torch.Tensor
        Neutral surface points, shape ``(N, 3)``.
    delta_points : torch.Tensor
        Blendshape offsets at the surface points, shape ``(K, N, 3)``.
    """
    neutral_points = sample_surface(neutral[None], triangles, triangle_ids, barycentrics)[0]
    delta_points = sample_surface(deltas, triangles, triangle_ids, barycentrics)
    return neutral_points, delta_points


def fit_identity_coefficients(
    target_points: torch.Tensor,
    neutral_points: torch.Tensor,
    identity_points: torch.Tensor,
    prior_weight: float = 1e-2,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fit identity-mode coefficients to target points with a Gaussian prior (ridge regression).

    Solves ``argmin_α Σ_n w_n ||neutral_n + Σ_m α_m I_mn − t_n||² + λ N ||α||²`` in closed form. ICT's
    identity modes are PCA modes with coefficients ``~ N(0, 1)``, so the prior pulls towards the mean face.
    The prior term is scaled by the number of points so that ``λ`` does not depend on how many are fitted.

    Parameters
    ----------
    target_points : torch.Tensor
        Points to fit, shape ``(B, N, 3)``, centimetres, already in rig space (head pose removed).
    neutral_points : torch.Tensor
        Rig neutral at the same points (with any fixed expression already added), shape ``(N, 3)``.
    identity_points : torch.Tensor
        Identity modes at the same points, shape ``(M, N, 3)``, centimetres per unit coefficient.
    prior_weight : float
        ``λ`` in cm² per point; 0 gives plain least squares.
    weights : torch.Tensor, optional
        Per-point weights ``w``, shape ``(N,)``; defaults to ones.

    Returns
    -------
    torch.Tensor
        Identity coefficients ``α``, shape ``(B, M)``, unitless.
    """
    _check_shape("target_points", target_points, (None, None, 3))
    num_points = target_points.shape[1]
    _check_shape("neutral_points", neutral_points, (num_points, 3))
    _check_shape("identity_points", identity_points, (None, num_points, 3))
    dtype = torch.float64
    basis = identity_points.to(dtype).reshape(identity_points.shape[0], -1).T  # (3N, M)
    residual = (target_points.to(dtype) - neutral_points.to(dtype)).reshape(target_points.shape[0], -1)
    if weights is not None:
        _check_shape("weights", weights, (num_points,))
        w = weights.to(dtype).repeat_interleave(3)[:, None]
    else:
        w = torch.ones((basis.shape[0], 1), dtype=dtype, device=basis.device)
    normal = basis.T @ (w * basis)
    normal = normal + prior_weight * num_points * torch.eye(basis.shape[1], dtype=dtype, device=basis.device)
    rhs = (w * basis).T @ residual.T  # (M, B)
    return torch.linalg.solve(normal, rhs).T.to(target_points.dtype)


# ----------------------------------------------------------------------------------------------------------
# Surface points
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurfacePoints:
    """Points on a rig's surface, each a triangle id and barycentric weights (e.g. a landmark embedding).

    Attributes
    ----------
    triangle_ids : np.ndarray
        Shape ``(N,)``, int64.
    barycentrics : np.ndarray
        Shape ``(N, 3)``, float32, rows summing to 1.
    """

    triangle_ids: np.ndarray
    barycentrics: np.ndarray

    def __post_init__(self) -> None:
        _check_shape("triangle_ids", self.triangle_ids, (None,))
        _check_shape("barycentrics", self.barycentrics, (self.triangle_ids.shape[0], 3))

    def __len__(self) -> int:
        return int(self.triangle_ids.shape[0])


# ----------------------------------------------------------------------------------------------------------
# Rig parameters θ (what calibration and fine-tuning change)
# ----------------------------------------------------------------------------------------------------------

RIG_PARAMETERS_FORMAT = "simon-says-studio/rig-parameters"
RIG_PARAMETERS_VERSION = 1
#: The largest offset of a vertex any expression of a face rig may have, cm (ICT's largest is under 3 cm);
#: rig parameters beyond it are not a face rig in centimetres (a unit mix-up, a corrupt file).
MAX_EXPRESSION_DELTA_CM = 20.0


@dataclass(frozen=True)
class RigParameters:
    """Rig parameters θ: the blendshape offsets per control, plus provenance metadata.

    Attributes
    ----------
    expression_names : tuple of str
        Control names, length ``K``.
    expression_deltas : np.ndarray
        Offsets ``Δ``, shape ``(K, V, 3)``, float32, centimetres.
    metadata : dict
        Free-form provenance strings (``rig``, ``stage`` such as ``theta_A``/``theta_S``, ``created_by``).
    """

    expression_names: tuple[str, ...]
    expression_deltas: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_shape("expression_deltas", self.expression_deltas, (len(self.expression_names), None, 3))

    def save(self, path: str | os.PathLike) -> Path:
        """Write θ as a versioned npz, atomically (temporary file, then rename).

        Keys: ``format``, ``version``, ``units`` (``cm``), ``expression_names`` (K,), ``expression_deltas``
        (K, V, 3) float32, and ``meta_<key>`` for each metadata entry.
        """
        return write_npz_atomic(Path(path), self.arrays())

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`save` writes (to write θ together with other files)."""
        arrays: dict[str, np.ndarray] = {
            "format": np.array(RIG_PARAMETERS_FORMAT),
            "version": np.array(RIG_PARAMETERS_VERSION),
            "units": np.array("cm"),
            "expression_names": np.array(self.expression_names),
            "expression_deltas": np.asarray(self.expression_deltas, dtype=np.float32),
        }
        arrays.update({f"meta_{k}": np.array(str(v)) for k, v in self.metadata.items()})
        return arrays

    @classmethod
    def load(cls, path: str | os.PathLike) -> RigParameters:
        """Read θ written by :meth:`save`; raises :class:`RigFileError` with one line on bad input."""
        path = Path(path)
        data = read_npz(path, RigFileError)
        if "format" not in data or str(data["format"]) != RIG_PARAMETERS_FORMAT:
            raise RigFileError(f"{path}: not a rig-parameter file (no format '{RIG_PARAMETERS_FORMAT}')")
        missing = [key for key in ("version", "expression_names", "expression_deltas") if key not in data]
        if missing:
            raise RigFileError(f"{path}: not a complete rig-parameter file (missing {', '.join(missing)})")
        try:
            version = int(data["version"])
            names = tuple(str(n) for n in np.atleast_1d(data["expression_names"]))
            deltas = data["expression_deltas"].astype(np.float32)
        except (TypeError, ValueError) as error:
            raise RigFileError(f"{path}: malformed rig-parameter file ({error})") from None
        if version > RIG_PARAMETERS_VERSION:
            raise RigFileError(
                f"{path}: rig-parameter version {version} is newer than this studio reads "
                f"({RIG_PARAMETERS_VERSION}); update the studio"
            )
        metadata = {k[5:]: str(data[k]) for k in data if k.startswith("meta_")}
        if deltas.ndim != 3 or deltas.shape[0] != len(names) or deltas.shape[2] != 3:
            raise RigFileError(f"{path}: expression_deltas has shape {deltas.shape}, expected ({len(names)}, V, 3)")
        if not np.isfinite(deltas).all():
            raise RigFileError(f"{path}: expression_deltas contains NaN or infinite values")
        largest = float(np.abs(deltas).max()) if deltas.size else 0.0
        if largest > MAX_EXPRESSION_DELTA_CM:
            raise RigFileError(
                f"{path}: an expression moves a vertex by {largest:.3g} cm (a face rig's stay under "
                f"{MAX_EXPRESSION_DELTA_CM:g} cm): not rig parameters in centimetres"
            )
        return cls(names, deltas, metadata)


# ----------------------------------------------------------------------------------------------------------
# The rig
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Rig:
    """A blendshape rig with identity modes: geometry, controls and vertex groups.

    Attributes
    ----------
    name : str
        Short rig name (``ict_facekit``).
    neutral : np.ndarray
        Neutral positions, shape ``(V, 3)``, float32, centimetres (identity morph already applied).
    triangles : np.ndarray
        Shape ``(F, 3)``, int32, 0-based vertex ids.
    expression_names : tuple of str
        Control names, length ``K``.
    expression_deltas : np.ndarray
        Blendshape offsets θ, shape ``(K, V, 3)``, float32, centimetres.
    vertex_group : np.ndarray
        Shape ``(V,)``, int8, index into ``group_names``.
    group_names : tuple of str
        Names of vertex groups (``face``, ``teeth``, ``eyeball_left``, ...).
    identity_deltas : np.ndarray or None
        Identity modes, shape ``(M, V, 3)``, float16 or float32, centimetres per unit coefficient.
    identity_coefficients : np.ndarray
        Coefficients of the identity morph applied to ``neutral``, shape ``(M,)``.
    base_neutral : np.ndarray
        The neutral before the identity morph, shape ``(V, 3)``.
    rigid_vertices : np.ndarray
        Vertex ids that expressions do not move (head-pose alignment), shape ``(R,)``.
    landmarks_multipie68 : np.ndarray
        Vertex ids of the 68 Multi-PIE facial landmarks, shape ``(68,)``, or ``(0,)`` when unknown.
    """

    name: str
    neutral: np.ndarray
    triangles: np.ndarray
    expression_names: tuple[str, ...]
    expression_deltas: np.ndarray
    vertex_group: np.ndarray
    group_names: tuple[str, ...]
    identity_deltas: np.ndarray | None
    identity_coefficients: np.ndarray
    base_neutral: np.ndarray
    rigid_vertices: np.ndarray
    landmarks_multipie68: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    # -- construction -----------------------------------------------------------------------------------

    @classmethod
    def from_npz(cls, path: str | os.PathLike, name: str | None = None) -> Rig:
        """Load a rig from an npz in the ICT-FaceKit layout (``docs/assets.md``).

        Raises
        ------
        RigFileError
            One line naming the file and what is wrong (missing key, bad shape, NaN).
        """
        path = Path(path)
        data = read_npz(path, RigFileError)
        missing = [k for k in _REQUIRED_RIG_KEYS if k not in data]
        if missing:
            raise RigFileError(f"{path}: not a rig file, missing {', '.join(missing)}")
        neutral = data["neutral"].astype(np.float32)
        num_vertices = neutral.shape[0]
        triangles = data["triangles"].astype(np.int32)
        names = tuple(str(n) for n in data["expression_names"])
        deltas = data["expression_deltas"].astype(np.float32)
        if "vertex_group" in data:
            vertex_group = data["vertex_group"].astype(np.int8)
            group_names = tuple(str(g) for g in data["group_names"])
        else:
            vertex_group, group_names = np.zeros(num_vertices, np.int8), ("face",)
        identity = data["identity_deltas"] if "identity_deltas" in data else None
        rigid = data["rigid_vertices"].astype(np.int64) if "rigid_vertices" in data else np.zeros(0, int)
        multipie = data["landmarks_multipie68"].astype(np.int64) if "landmarks_multipie68" in data else np.zeros(0, int)
        if neutral.ndim != 2 or neutral.shape[1] != 3:
            raise RigFileError(f"{path}: neutral has shape {neutral.shape}, expected (V, 3)")
        if deltas.shape != (len(names), num_vertices, 3):
            raise RigFileError(f"{path}: expression_deltas has shape {deltas.shape}, expected ({len(names)}, {num_vertices}, 3)")
        if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.min() < 0 or triangles.max() >= num_vertices:
            raise RigFileError(f"{path}: triangles must be (F, 3) vertex ids below {num_vertices}")
        for key, ids in (("rigid_vertices", rigid), ("landmarks_multipie68", multipie)):
            if ids.size and (ids.min() < 0 or ids.max() >= num_vertices):
                raise RigFileError(f"{path}: {key} holds vertex ids outside 0..{num_vertices - 1}")
        if identity is not None and identity.shape[1:] != (num_vertices, 3):
            raise RigFileError(f"{path}: identity_deltas has shape {identity.shape}, expected (M, {num_vertices}, 3)")
        if not (np.isfinite(neutral).all() and np.isfinite(deltas).all()):
            raise RigFileError(f"{path}: rig geometry contains NaN or infinite values")
        num_modes = 0 if identity is None else identity.shape[0]
        return cls(
            name=name or path.stem,
            neutral=neutral,
            triangles=triangles,
            expression_names=names,
            expression_deltas=deltas,
            vertex_group=vertex_group,
            group_names=group_names,
            identity_deltas=identity,
            identity_coefficients=np.zeros(num_modes, np.float32),
            base_neutral=neutral,
            rigid_vertices=rigid,
            landmarks_multipie68=multipie,
        )

    @classmethod
    def ict(cls) -> Rig:
        """The ICT-FaceKit rig, located through the asset manager (``studio.core.assets``).

        Loaded once per file (its path, size and modification time): every later call returns the same rig,
        whose arrays are read-only so that no caller can change it for the others (derive a rig with
        :meth:`with_parameters` or :meth:`with_identity` instead).
        """
        path = Path(asset_path("ict_facekit"))
        stat = path.stat()
        return _load_ict(str(path), stat.st_size, stat.st_mtime_ns)

    # -- sizes ------------------------------------------------------------------------------------------

    @property
    def num_controls(self) -> int:
        """``K``, the number of expression controls."""
        return len(self.expression_names)

    @property
    def num_vertices(self) -> int:
        """``V``, the number of vertices."""
        return int(self.neutral.shape[0])

    @property
    def num_identity_modes(self) -> int:
        """``M``, the number of identity modes (0 when the rig has none)."""
        return 0 if self.identity_deltas is None else int(self.identity_deltas.shape[0])

    def control_index(self, name: str) -> int:
        """Index of a control by name; raises ``KeyError`` naming the unknown control."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise KeyError(f"rig {self.name} has no control {name!r}") from None

    def group_vertices(self, group: str) -> np.ndarray:
        """Vertex ids of a vertex group, shape ``(n,)``."""
        return np.flatnonzero(self.vertex_group == self.group_names.index(group))

    # -- evaluation -------------------------------------------------------------------------------------

    def evaluate(self, controls: np.ndarray) -> np.ndarray:
        """Mesh positions for one or a batch of control vectors.

        Parameters
        ----------
        controls : np.ndarray
            Shape ``(K,)`` or ``(B, K)``.

        Returns
        -------
        np.ndarray
            Positions, shape ``(V, 3)`` or ``(B, V, 3)``, float32, centimetres.
        """
        controls = np.asarray(controls, dtype=np.float32)
        single = controls.ndim == 1
        batch = controls[None] if single else controls
        _check_shape("controls", batch, (None, self.num_controls))
        flat = batch @ self.expression_deltas.reshape(self.num_controls, -1)
        positions = flat.reshape(batch.shape[0], self.num_vertices, 3) + self.neutral
        return positions[0] if single else positions

    def tensors(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> RigTensors:
        """The rig's neutral, deltas and triangles as torch tensors on ``device`` (sharing memory with the rig's
        arrays where they can: treat them as read-only, as the rig's own)."""
        with warnings.catch_warnings():  # the shared rig's arrays are read-only on purpose (Rig.ict)
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            return RigTensors(
                neutral=torch.as_tensor(self.neutral, dtype=dtype, device=device),
                deltas=torch.as_tensor(self.expression_deltas, dtype=dtype, device=device),
                triangles=torch.as_tensor(self.triangles, dtype=torch.int64, device=device),
            )

    # -- identity ---------------------------------------------------------------------------------------

    def identity_offsets(self, coefficients: np.ndarray) -> np.ndarray:
        """``Σ_m α_m I_m``, shape ``(V, 3)``, float32, for coefficients of shape ``(≤M,)``."""
        if self.identity_deltas is None:
            raise ValueError(f"rig {self.name} has no identity modes")
        coefficients = np.asarray(coefficients, dtype=np.float32)
        if coefficients.ndim != 1 or coefficients.shape[0] > self.num_identity_modes:
            raise ValueError(f"identity coefficients must have shape (≤{self.num_identity_modes},)")
        used = self.identity_deltas[: coefficients.shape[0]].reshape(coefficients.shape[0], -1)
        return (coefficients @ used.astype(np.float32)).reshape(self.num_vertices, 3)

    def with_identity(self, coefficients: np.ndarray) -> Rig:
        """The same rig morphed to another identity: ``neutral = base_neutral + Σ_m α_m I_m``.

        Expression offsets are kept (ICT's model is additive in identity and expression).
        """
        full = np.zeros(self.num_identity_modes, np.float32)
        coefficients = np.asarray(coefficients, dtype=np.float32)
        full[: coefficients.shape[0]] = coefficients
        neutral = (self.base_neutral + self.identity_offsets(full)).astype(np.float32)
        return replace(self, neutral=neutral, identity_coefficients=full)

    def fit_identity(
        self,
        target_points: np.ndarray,
        vertex_ids: np.ndarray | None = None,
        controls: np.ndarray | None = None,
        prior_weight: float = 1e-2,
        num_modes: int | None = None,
    ) -> np.ndarray:
        """Fit identity coefficients so that the rig's vertices meet target points (ridge prior).

        Parameters
        ----------
        target_points : np.ndarray
            Target positions in rig space, shape ``(N, 3)``, centimetres.
        vertex_ids : np.ndarray, optional
            Vertex id of each target point, shape ``(N,)``; all vertices when omitted (``N == V``).
        controls : np.ndarray, optional
            Expression controls held fixed during the fit, shape ``(K,)``; neutral when omitted.
        prior_weight : float
            Ridge weight ``λ`` (cm² per point), see :func:`fit_identity_coefficients`.
        num_modes : int, optional
            Fit only the leading modes; all when omitted.

        Returns
        -------
        np.ndarray
            Identity coefficients, shape ``(M,)`` (zeros beyond ``num_modes``), float32.
        """
        if self.identity_deltas is None:
            raise ValueError(f"rig {self.name} has no identity modes")
        ids = np.arange(self.num_vertices) if vertex_ids is None else np.asarray(vertex_ids)
        modes = self.num_identity_modes if num_modes is None else int(num_modes)
        expression = self.base_neutral + (0.0 if controls is None else self.evaluate(controls) - self.neutral)
        coefficients = fit_identity_coefficients(
            torch.as_tensor(np.asarray(target_points, np.float32))[None],
            torch.as_tensor(expression[ids], dtype=torch.float32),
            torch.as_tensor(self.identity_deltas[:modes, ids].astype(np.float32)),
            prior_weight=prior_weight,
        )[0].numpy()
        full = np.zeros(self.num_identity_modes, np.float32)
        full[:modes] = coefficients
        return full

    # -- parameters θ -----------------------------------------------------------------------------------

    @property
    def parameters(self) -> RigParameters:
        """This rig's θ as :class:`RigParameters`."""
        return RigParameters(self.expression_names, self.expression_deltas, {"rig": self.name})

    def with_parameters(self, parameters: RigParameters) -> Rig:
        """The same rig with other parameters θ (e.g. calibrated θ_S); names and vertex count must match."""
        if tuple(parameters.expression_names) != self.expression_names:
            raise RigFileError(f"rig parameters do not match rig {self.name}: control names differ")
        if parameters.expression_deltas.shape != self.expression_deltas.shape:
            raise RigFileError(
                f"rig parameters do not match rig {self.name}: deltas {parameters.expression_deltas.shape} "
                f"vs {self.expression_deltas.shape}"
            )
        return replace(self, expression_deltas=np.asarray(parameters.expression_deltas, np.float32))


@dataclass(frozen=True)
class RigTensors:
    """A rig's arrays as torch tensors on one device, for batched evaluation.

    Attributes
    ----------
    neutral : torch.Tensor
        Shape ``(V, 3)``, centimetres.
    deltas : torch.Tensor
        Shape ``(K, V, 3)``, centimetres.
    triangles : torch.Tensor
        Shape ``(F, 3)``, int64.
    """

    neutral: torch.Tensor
    deltas: torch.Tensor
    triangles: torch.Tensor

    def evaluate(self, controls: torch.Tensor) -> torch.Tensor:
        """Positions for controls ``(B, K)`` → ``(B, V, 3)``; see :func:`evaluate_blendshapes`."""
        return evaluate_blendshapes(controls, self.neutral, self.deltas)

    def evaluate_at(self, controls: torch.Tensor, points: SurfacePoints) -> torch.Tensor:
        """Positions of surface points for controls ``(B, K)`` → ``(B, N, 3)``."""
        neutral_points, delta_points = self.surface_basis(points)
        return evaluate_blendshapes(controls, neutral_points, delta_points)

    def surface_basis(self, points: SurfacePoints) -> tuple[torch.Tensor, torch.Tensor]:
        """The rig restricted to surface points: ``(N, 3)`` neutral and ``(K, N, 3)`` deltas."""
        device = self.neutral.device
        return surface_point_basis(
            self.neutral,
            self.deltas,
            self.triangles,
            torch.as_tensor(points.triangle_ids, device=device),
            torch.as_tensor(points.barycentrics, dtype=self.deltas.dtype, device=device),
        )


@functools.lru_cache(maxsize=2)
def _load_ict(path: str, size: int, mtime_ns: int) -> Rig:
    """The ICT rig from ``path``, read-only; ``size`` and ``mtime_ns`` make a changed file load anew."""
    rig = Rig.from_npz(path, name="ict_facekit")
    if rig.num_vertices != ICT_NUM_VERTICES or rig.num_controls != 53:
        raise RigFileError(
            f"ict_facekit: expected {ICT_NUM_VERTICES} vertices and 53 controls, "
            f"got {rig.num_vertices} and {rig.num_controls}"
        )
    for value in vars(rig).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return rig
