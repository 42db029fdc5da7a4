"""The landmark embedding: which point of a rig's surface each of MediaPipe's 478 face landmarks is.

The tracker sees the rig only at these surface points (``S·R(c; θ)``, see
:func:`studio.core.rig.rig.surface_point_basis`). They are found by rendering the neutral rig from several
views, detecting MediaPipe's landmarks in each render, casting a ray from the camera centre through every
landmark's pixel onto the drawn mesh, and taking a robust consensus of the 3D hits over the views where the
landmark is visible (:func:`embed_landmarks`). The renders themselves are made in the render layer
(:mod:`studio.render.landmark_embedding_capture`); this module holds the data, the file format and the
geometry, and imports neither vispy nor Qt.

Conventions (as the rig): positions in centimetres, +y up, +z out of the face, x towards the face's left.
Per-landmark spreads and motions are reported in millimetres. Pixels: x right, y down, pixel centres at
+0.5 (MediaPipe's normalized coordinates times ``(W, H)``). ``N`` = 478 landmarks, ``V`` views.

The packaged embedding for the ICT-FaceKit rig is ``studio/resources/landmarks/mediapipe478_on_ict.npz``
(:meth:`LandmarkEmbedding.ict`); ``docs/landmark-embedding.md`` describes how it was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from studio.core.io.atomic_files import write_npz_atomic
from studio.core.io.resources import LANDMARKS_DIR
from studio.core.rig.rig import Rig, RigFileError, SurfacePoints
from studio.core.tracking.face_landmarker import NUM_LANDMARKS, default_model_path

__all__ = [
    "EMBEDDING_FORMAT",
    "EMBEDDING_VERSION",
    "EYEBALL_GROUPS",
    "ICT_EMBEDDING_PATH",
    "IRIS_LANDMARKS",
    "IRIS_MIRROR",
    "LOWER_INNER_LIP",
    "SKIN_GROUPS",
    "UPPER_INNER_LIP",
    "CanonicalFaceModel",
    "EmbeddingReport",
    "LandmarkEmbedding",
    "LandmarkEmbeddingFileError",
    "LandmarkView",
    "canonical_face_model",
    "cast_rays",
    "closest_surface_points",
    "embed_landmarks",
    "expression_motion_mm",
    "landmark_facing",
    "stable_landmarks",
]

EMBEDDING_FORMAT = "simon-says-studio/landmark-embedding"
EMBEDDING_VERSION = 1

ICT_EMBEDDING_PATH: Path = LANDMARKS_DIR / "mediapipe478_on_ict.npz"
"""The packaged embedding of MediaPipe's 478 landmarks on the ICT-FaceKit rig."""

IRIS_LANDMARKS = np.arange(468, 478)
"""MediaPipe's iris landmarks: 468 (centre) and 469–472 (ring) of the subject's right eye, 473–477 of the
left; embedded on the eyeballs. The other 468 (the face mesh) are embedded on the skin."""

IRIS_MIRROR = ((468, 473), (469, 476), (470, 475), (471, 474), (472, 477))
"""Mirror pairs of the iris landmarks (right eye, left eye): centres, nasal, upper, temporal and lower
points (469 and 476 are the points nearest the nose)."""

UPPER_INNER_LIP = np.array([191, 80, 81, 82, 13, 312, 311, 310, 415])
"""MediaPipe's inner contour of the upper lip (corners 78 and 308 excluded): embedded on the upper lip."""

LOWER_INNER_LIP = np.array([95, 88, 178, 87, 14, 317, 402, 318, 324])
"""MediaPipe's inner contour of the lower lip (corners excluded): embedded on the lower lip."""

SKIN_GROUPS = ("face", "head_neck")
"""Vertex groups of the outer skin: face-mesh landmarks are embedded on triangles of these groups."""

EYEBALL_GROUPS = ("eyeball_left", "eyeball_right")
"""Vertex groups on which the iris landmarks are embedded."""


class LandmarkEmbeddingFileError(RigFileError):
    """A landmark-embedding file is unreadable or does not hold what it should (one-line message)."""


# ----------------------------------------------------------------------------------------------------------
# The embedding
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LandmarkEmbedding:
    """MediaPipe's landmarks as points on a rig's surface, with how well each was pinned down.

    Attributes
    ----------
    points : SurfacePoints
        One surface point per landmark, ``N`` = 478: triangle ids into the rig's ``triangles`` and
        barycentric weights.
    spread_mm : np.ndarray
        Shape ``(N,)``, float32, millimetres: RMS distance of the per-view ray hits used for a landmark to
        its embedded point (how much the views disagree; 0 when a single view was used).
    views : np.ndarray
        Shape ``(N,)``, int32: number of views whose hit was used for each landmark.
    metadata : dict of str to str
        Provenance: ``rig``, ``num_views``, camera settings (``yaw_deg``, ``pitch_deg``, ``distance_cm``,
        ``fov_deg``, ``image_size``), ``mediapipe``, ``created_by``.
    """

    points: SurfacePoints
    spread_mm: np.ndarray
    views: np.ndarray
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        count = len(self.points)
        if np.shape(self.spread_mm) != (count,) or np.shape(self.views) != (count,):
            raise ValueError(
                f"spread_mm and views must have shape ({count},), got {np.shape(self.spread_mm)} "
                f"and {np.shape(self.views)}"
            )

    def __len__(self) -> int:
        return len(self.points)

    @property
    def rig_name(self) -> str:
        """Name of the rig the points belong to (``metadata['rig']``, empty when unknown)."""
        return self.metadata.get("rig", "")

    def positions(self, rig: Rig, vertices: np.ndarray | None = None) -> np.ndarray:
        """Positions of the embedded points on a mesh of the rig.

        Parameters
        ----------
        rig : Rig
            The rig whose triangles the points refer to.
        vertices : np.ndarray, optional
            Mesh positions, shape ``(V, 3)`` or ``(B, V, 3)``, centimetres; the rig's neutral when omitted.

        Returns
        -------
        np.ndarray
            Shape ``(N, 3)`` or ``(B, N, 3)``, float64, centimetres.
        """
        vertices = rig.neutral if vertices is None else np.asarray(vertices)
        corners = vertices[..., rig.triangles[self.points.triangle_ids], :].astype(
            np.float64
        )  # (..., N, 3, 3)
        return np.einsum("...ncx,nc->...nx", corners, self.points.barycentrics.astype(np.float64))

    # -- files ------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the embedding as a versioned npz, atomically (temporary file, then rename).

        Keys: ``format``, ``version``, ``num_landmarks``, ``triangle_ids`` (N,) int32, ``barycentrics``
        (N, 3) float32, ``spread_mm`` (N,) float32, ``views`` (N,) int32 and ``meta_<key>`` strings.
        """
        arrays: dict[str, np.ndarray] = {
            "format": np.array(EMBEDDING_FORMAT),
            "version": np.array(EMBEDDING_VERSION),
            "num_landmarks": np.array(len(self)),
            "triangle_ids": np.asarray(self.points.triangle_ids, np.int32),
            "barycentrics": np.asarray(self.points.barycentrics, np.float32),
            "spread_mm": np.asarray(self.spread_mm, np.float32),
            "views": np.asarray(self.views, np.int32),
        }
        arrays.update({f"meta_{k}": np.array(str(v)) for k, v in self.metadata.items()})
        return write_npz_atomic(Path(path), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> LandmarkEmbedding:
        """Read an embedding written by :meth:`save`.

        Raises
        ------
        LandmarkEmbeddingFileError
            One line naming the file and what is wrong (not an npz, wrong format, newer version, bad
            shapes, invalid barycentrics).
        """
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise LandmarkEmbeddingFileError(f"{path}: file not found") from None
        except Exception as error:  # zipfile.BadZipFile, ValueError, OSError, ...
            raise LandmarkEmbeddingFileError(
                f"{path}: not a readable npz file ({type(error).__name__}: {error})"
            ) from None
        with data:
            if "format" not in data.files or str(data["format"]) != EMBEDDING_FORMAT:
                raise LandmarkEmbeddingFileError(
                    f"{path}: not a landmark-embedding file (no format '{EMBEDDING_FORMAT}')"
                )
            version = int(data["version"])
            if version > EMBEDDING_VERSION:
                raise LandmarkEmbeddingFileError(
                    f"{path}: landmark-embedding version {version} is newer than this studio reads "
                    f"({EMBEDDING_VERSION}); update the studio"
                )
            missing = [
                k for k in ("triangle_ids", "barycentrics", "spread_mm", "views") if k not in data.files
            ]
            if missing:
                raise LandmarkEmbeddingFileError(f"{path}: missing {', '.join(missing)}")
            triangle_ids = data["triangle_ids"].astype(np.int64)
            barycentrics = data["barycentrics"].astype(np.float32)
            spread = data["spread_mm"].astype(np.float32)
            views = data["views"].astype(np.int32)
            metadata = {k[5:]: str(data[k]) for k in data.files if k.startswith("meta_")}
        count = triangle_ids.shape[0] if triangle_ids.ndim == 1 else -1
        if (
            count < 0
            or barycentrics.shape != (count, 3)
            or spread.shape != (count,)
            or views.shape != (count,)
        ):
            raise LandmarkEmbeddingFileError(
                f"{path}: inconsistent shapes: triangle_ids {triangle_ids.shape}, barycentrics "
                f"{barycentrics.shape}, spread_mm {spread.shape}, views {views.shape}"
            )
        if triangle_ids.size and triangle_ids.min() < 0:
            raise LandmarkEmbeddingFileError(f"{path}: negative triangle ids")
        if not np.isfinite(barycentrics).all() or (barycentrics < -1e-4).any():
            raise LandmarkEmbeddingFileError(f"{path}: barycentrics must be finite and non-negative")
        if np.abs(barycentrics.sum(axis=1) - 1.0).max(initial=0.0) > 1e-3:
            raise LandmarkEmbeddingFileError(f"{path}: barycentric rows must sum to 1")
        return cls(SurfacePoints(triangle_ids, barycentrics), spread, views, metadata)

    @classmethod
    def ict(cls) -> LandmarkEmbedding:
        """The packaged embedding of MediaPipe's 478 landmarks on the ICT-FaceKit rig."""
        embedding = cls.load(ICT_EMBEDDING_PATH)
        if len(embedding) != NUM_LANDMARKS:
            raise LandmarkEmbeddingFileError(
                f"{ICT_EMBEDDING_PATH}: expected {NUM_LANDMARKS} landmarks, got {len(embedding)}"
            )
        return embedding

    def check_rig(self, rig: Rig) -> None:
        """Raise :class:`LandmarkEmbeddingFileError` when the points cannot belong to ``rig``."""
        if self.points.triangle_ids.max(initial=-1) >= len(rig.triangles):
            raise LandmarkEmbeddingFileError(
                f"landmark embedding for rig {self.rig_name or '?'} refers to triangles beyond rig "
                f"{rig.name}'s {len(rig.triangles)}"
            )


# ----------------------------------------------------------------------------------------------------------
# Stable landmarks (head-pose alignment robust to expression)
# ----------------------------------------------------------------------------------------------------------


def expression_motion_mm(embedding: LandmarkEmbedding, rig: Rig) -> np.ndarray:
    """How far each embedded point moves under the rig's most displacing single control.

    Parameters
    ----------
    embedding : LandmarkEmbedding
        Points on ``rig``, ``N`` of them.
    rig : Rig
        The rig (its expression deltas, cm).

    Returns
    -------
    np.ndarray
        Shape ``(N,)``, float64, millimetres: ``max_k ||S Δ_k||`` over the ``K`` controls, each at 1.
    """
    embedding.check_rig(rig)
    corners = rig.triangles[embedding.points.triangle_ids]  # (N, 3)
    deltas = rig.expression_deltas[:, corners, :].astype(np.float64)  # (K, N, 3 corners, 3)
    displacement = np.einsum("kncx,nc->knx", deltas, embedding.points.barycentrics.astype(np.float64))
    return 10.0 * np.linalg.norm(displacement, axis=-1).max(axis=0)


def stable_landmarks(embedding: LandmarkEmbedding, rig: Rig, threshold_mm: float) -> np.ndarray:
    """Landmarks that no single expression control moves by ``threshold_mm`` or more.

    For head-pose alignment that expressions do not disturb: a landmark is stable when, for every control
    ``k`` at 1 (the others at 0), its embedded point moves less than the threshold. The iris landmarks are
    never stable: they follow the gaze, which ICT's blendshapes leave out (its eyeballs do not move).

    Parameters
    ----------
    embedding : LandmarkEmbedding
        Points on ``rig``.
    rig : Rig
        The rig.
    threshold_mm : float
        Largest allowed displacement, millimetres.

    Returns
    -------
    np.ndarray
        Landmark indices, shape ``(n,)``, int64, ascending.
    """
    stable = expression_motion_mm(embedding, rig) < float(threshold_mm)
    stable[IRIS_LANDMARKS[IRIS_LANDMARKS < len(stable)]] = False
    return np.flatnonzero(stable)


# ----------------------------------------------------------------------------------------------------------
# Geometry: rays and closest points on a triangle mesh
# ----------------------------------------------------------------------------------------------------------


def cast_rays(
    vertices: np.ndarray,
    triangles: np.ndarray,
    origin: np.ndarray,
    directions: np.ndarray,
    chunk: int = 65536,
) -> tuple[np.ndarray, np.ndarray]:
    """First hit of rays from one origin (a camera centre) on a triangle mesh, either side of a triangle.

    The same query as ``trimesh.Trimesh(...).ray.intersects_id(..., multiple_hits=False)``, which needs
    ``rtree`` or ``embree`` (not studio dependencies), done in numpy: triangles are projected through the
    origin onto a plane across the rays' mean direction, and their 2D bounding boxes, binned in a grid, pick
    the candidate triangles of each ray (exact, since the rays share the origin); Möller–Trumbore
    intersects those.

    Parameters
    ----------
    vertices : np.ndarray
        Shape ``(P, 3)``, centimetres.
    triangles : np.ndarray
        Shape ``(F, 3)``, vertex ids.
    origin : np.ndarray
        The rays' common origin, shape ``(3,)``, centimetres.
    directions : np.ndarray
        Ray directions, shape ``(R, 3)``, unit length, within 80° of their mean direction.
    chunk : int
        Ray–triangle pairs intersected at once.

    Returns
    -------
    triangle : np.ndarray
        Index into ``triangles`` of the first triangle hit, shape ``(R,)``, int64; -1 for a miss.
    distance : np.ndarray
        Distance from the origin to the hit, shape ``(R,)``, centimetres; ``inf`` for a miss.
    """
    vertices = np.asarray(vertices, np.float64)
    triangles = np.asarray(triangles, np.int64)
    origin = np.asarray(origin, np.float64).reshape(3)
    directions = np.atleast_2d(np.asarray(directions, np.float64))
    hit_triangle = np.full(len(directions), -1, np.int64)
    hit_distance = np.full(len(directions), np.inf)
    if not len(directions) or not len(triangles):
        return hit_triangle, hit_distance
    axis = directions.sum(axis=0)
    axis /= np.linalg.norm(axis)
    helper = np.eye(3)[np.argmin(np.abs(axis))]
    e1 = np.cross(axis, helper)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    basis = np.stack([e1, e2, axis], axis=1)  # (3, 3): columns e1, e2, axis
    local = (vertices - origin) @ basis
    depth = local[:, 2]
    in_front = depth > 1e-9
    plane = np.where(in_front[:, None], local[:, :2] / np.where(in_front, depth, 1.0)[:, None], 0.0)
    corners_2d = plane[triangles]  # (F, 3, 2)
    low, high = corners_2d.min(axis=1), corners_2d.max(axis=1)
    # triangles with a corner behind the origin plane: every ray is a candidate; wholly behind: none
    front = in_front[triangles]
    straddle = front.any(axis=1) & ~front.all(axis=1)
    low[straddle], high[straddle] = -np.inf, np.inf
    low[~front.any(axis=1)], high[~front.any(axis=1)] = np.inf, -np.inf
    ray_local = directions @ basis
    ray_2d = ray_local[:, :2] / ray_local[:, 2:3]
    ray_ids, tri_ids = _candidate_pairs(ray_2d, low, high)

    corners = vertices[triangles]
    v0, edge1, edge2 = corners[:, 0], corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    for start in range(0, len(ray_ids), chunk):
        ray_ids_, tri_ids = ray_ids[start : start + chunk], tri_ids[start : start + chunk]
        d, e1_, e2_ = directions[ray_ids_], edge1[tri_ids], edge2[tri_ids]
        p = np.cross(d, e2_)
        det = np.einsum("ij,ij->i", e1_, p)
        valid = np.abs(det) > 1e-14
        det = np.where(valid, det, 1.0)
        s = origin - v0[tri_ids]
        u = np.einsum("ij,ij->i", s, p) / det
        qv = np.cross(s, e1_)
        v = np.einsum("ij,ij->i", d, qv) / det
        t = np.einsum("ij,ij->i", e2_, qv) / det
        ok = valid & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        ray_ids_, tri_ids, t = ray_ids_[ok], tri_ids[ok], t[ok]
        nearer = t < hit_distance[ray_ids_]
        ray_ids_, tri_ids, t = ray_ids_[nearer], tri_ids[nearer], t[nearer]
        order = np.lexsort((t, ray_ids_))  # per ray, nearest first
        ray_ids_, tri_ids, t = ray_ids_[order], tri_ids[order], t[order]
        first = np.r_[True, ray_ids_[1:] != ray_ids_[:-1]] if len(ray_ids_) else np.zeros(0, bool)
        hit_triangle[ray_ids_[first]] = tri_ids[first]
        hit_distance[ray_ids_[first]] = t[first]
    return hit_triangle, hit_distance


def _candidate_pairs(points: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (point, box) pairs with the 2D point inside the box, through a uniform grid over the points.

    Parameters
    ----------
    points : np.ndarray
        Shape ``(R, 2)``.
    low, high : np.ndarray
        Box corners, shape ``(F, 2)`` each (empty boxes have ``low > high``; infinite bounds are allowed).

    Returns
    -------
    point_ids, box_ids : np.ndarray
        Shape ``(P,)`` each, int64.
    """
    lo, hi = points.min(axis=0), points.max(axis=0)
    overlaps = np.flatnonzero(((low <= hi) & (high >= lo)).all(axis=1))
    cells = max(1, int(np.sqrt(len(points))))
    size = np.maximum(hi - lo, 1e-12) / cells
    first = np.clip(np.floor((low[overlaps] - lo) / size), 0, cells - 1).astype(np.int64)  # (f, 2)
    last = np.clip(np.floor((high[overlaps] - lo) / size), 0, cells - 1).astype(np.int64)
    width = last - first + 1
    counts = width[:, 0] * width[:, 1]
    box_of = np.repeat(overlaps, counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    row = np.repeat(width[:, 0], counts)
    cell_of = (
        (np.repeat(first[:, 1], counts) + offset // row) * cells
        + np.repeat(first[:, 0], counts)
        + offset % row
    )
    order = np.argsort(cell_of, kind="stable")
    box_of, cell_of = box_of[order], cell_of[order]
    point_cell = np.clip(np.floor((points - lo) / size), 0, cells - 1).astype(np.int64)
    point_cell = point_cell[:, 1] * cells + point_cell[:, 0]
    begin = np.searchsorted(cell_of, point_cell, side="left")
    per_point = np.searchsorted(cell_of, point_cell, side="right") - begin
    point_ids = np.repeat(np.arange(len(points)), per_point)
    index = (
        np.repeat(begin, per_point)
        + np.arange(per_point.sum())
        - np.repeat(np.cumsum(per_point) - per_point, per_point)
    )
    box_ids = box_of[index]
    inside = ((points[point_ids] >= low[box_ids]) & (points[point_ids] <= high[box_ids])).all(axis=1)
    return point_ids[inside], box_ids[inside]


def closest_surface_points(
    vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, candidates: int = 48
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on a triangle mesh to each query point, as triangle + barycentric weights.

    Candidate triangles are the ``candidates`` nearest by centroid (exact for points near a mesh of small,
    regular triangles such as a face); among them trimesh's exact point–triangle distance picks the closest.

    Parameters
    ----------
    vertices : np.ndarray
        Shape ``(P, 3)``, centimetres.
    triangles : np.ndarray
        Shape ``(F, 3)``, vertex ids.
    points : np.ndarray
        Query points, shape ``(N, 3)``, centimetres.
    candidates : int
        Triangles examined per point.

    Returns
    -------
    triangle : np.ndarray
        Index into ``triangles``, shape ``(N,)``, int64.
    barycentrics : np.ndarray
        Shape ``(N, 3)``, float64, non-negative, rows summing to 1.
    distance : np.ndarray
        Distance from each query point to the surface, shape ``(N,)``, centimetres.
    """
    import trimesh
    from scipy.spatial import cKDTree

    vertices = np.asarray(vertices, np.float64)
    points = np.atleast_2d(np.asarray(points, np.float64))
    corners = vertices[np.asarray(triangles, np.int64)]  # (F, 3, 3)
    k = min(int(candidates), len(corners))
    _, nearest = cKDTree(corners.mean(axis=1)).query(points, k=k)
    nearest = np.asarray(nearest).reshape(len(points), k)
    closest = trimesh.triangles.closest_point(corners[nearest.ravel()], np.repeat(points, k, axis=0))
    distance = np.linalg.norm(closest - np.repeat(points, k, axis=0), axis=1).reshape(len(points), k)
    best = distance.argmin(axis=1)
    rows = np.arange(len(points))
    triangle = nearest[rows, best]
    on_surface = closest.reshape(len(points), k, 3)[rows, best]
    barycentrics = trimesh.triangles.points_to_barycentric(corners[triangle], on_surface)
    barycentrics = np.clip(barycentrics, 0.0, None)
    barycentrics /= barycentrics.sum(axis=1, keepdims=True)
    return triangle.astype(np.int64), barycentrics, distance[rows, best]


# ----------------------------------------------------------------------------------------------------------
# MediaPipe's canonical face mesh (its triangles tell which side of the face a landmark is on)
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanonicalFaceModel:
    """MediaPipe's canonical face mesh, from the geometry-pipeline metadata of ``face_landmarker.task``.

    Attributes
    ----------
    vertices : np.ndarray
        The 468 face-mesh landmarks of a canonical face, shape ``(468, 3)``, float64, centimetres
        (x towards the face's left, +y up, +z out of the face, as the rig).
    triangles : np.ndarray
        Shape ``(T, 3)``, int64, wound so that normals point out of the face.
    """

    vertices: np.ndarray
    triangles: np.ndarray

    def mirror_indices(self, tolerance_cm: float = 1e-3) -> np.ndarray:
        """Left/right partner of each of the 478 landmarks (the canonical mesh is symmetric in x).

        Returns
        -------
        np.ndarray
            Shape ``(478,)``, int64: for the face mesh the landmark at ``(−x, y, z)`` (itself on the
            midline), for the iris :data:`IRIS_MIRROR`.
        """
        from scipy.spatial import cKDTree

        distance, partner = cKDTree(self.vertices).query(self.vertices * [-1.0, 1.0, 1.0])
        if distance.max() > tolerance_cm:
            raise ValueError(f"canonical face mesh is not mirror-symmetric ({distance.max():.3g} cm)")
        mirror = np.r_[partner, np.zeros(len(IRIS_LANDMARKS), np.int64)]
        for right, left in IRIS_MIRROR:
            mirror[right], mirror[left] = left, right
        return mirror


def _protobuf_fields(buffer: bytes) -> list[tuple[int, int, object]]:
    """``(field number, wire type, value)`` of a serialized protobuf message (no schema needed)."""

    def varint(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = buffer[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, at

    fields, at = [], 0
    while at < len(buffer):
        key, at = varint(at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(at)
        elif wire == 1:
            value, at = buffer[at : at + 8], at + 8
        elif wire == 2:
            length, at = varint(at)
            value, at = buffer[at : at + length], at + length
        elif wire == 5:
            value, at = buffer[at : at + 4], at + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, value))
    return fields


def _packed_varints(buffer: bytes) -> list[int]:
    values, at = [], 0
    while at < len(buffer):
        value = shift = 0
        while True:
            byte = buffer[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        values.append(value)
    return values


def canonical_face_model(model_path: str | os.PathLike | None = None) -> CanonicalFaceModel:
    """Read MediaPipe's canonical face mesh from a ``face_landmarker.task`` bundle.

    The bundle's ``geometry_pipeline_metadata_landmarks.binarypb`` is a ``GeometryPipelineMetadata``
    protobuf whose field 1 is the canonical ``Mesh3d`` (vertex buffer: x, y, z, u, v per vertex; index
    buffer: triangles).

    Parameters
    ----------
    model_path : path, optional
        The ``face_landmarker.task`` bundle; the asset manager's copy when omitted.

    Raises
    ------
    LandmarkEmbeddingFileError
        When the bundle or its metadata cannot be read (one line).
    """
    import zipfile

    if model_path is None:
        model_path = default_model_path()
    path = Path(model_path)
    try:
        with zipfile.ZipFile(path) as bundle:
            metadata = bundle.read("geometry_pipeline_metadata_landmarks.binarypb")
        mesh = next(value for number, wire, value in _protobuf_fields(metadata) if number == 1 and wire == 2)
        floats, indices = [], []
        for number, wire, value in _protobuf_fields(mesh):
            if number == 3:
                floats.append(value)  # fixed32 one by one (wire type 5) or packed (2): same bytes
            elif number == 4:
                indices.extend([value] if wire == 0 else _packed_varints(value))
        buffer = np.frombuffer(b"".join(floats), "<f4").astype(np.float64).reshape(-1, 5)
    except (OSError, KeyError, StopIteration, ValueError, IndexError, zipfile.BadZipFile) as error:
        raise LandmarkEmbeddingFileError(
            f"{path}: no readable canonical face mesh ({type(error).__name__}: {error})"
        ) from None
    vertices = buffer[:, :3]
    triangles = np.asarray(indices, np.int64).reshape(-1, 3)
    if len(vertices) != IRIS_LANDMARKS[0] or triangles.max(initial=0) >= len(vertices):
        raise LandmarkEmbeddingFileError(f"{path}: canonical face mesh has {len(vertices)} vertices, not 468")
    normals = _vertex_normals(vertices, triangles)
    if normals[int(np.argmax(vertices[:, 2])), 2] < 0:  # the frontmost vertex (nose tip) must face +z
        triangles = triangles[:, ::-1].copy()
    return CanonicalFaceModel(vertices, triangles)


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals of a mesh ``(P, 3)``, ``(T, 3)`` → ``(P, 3)``."""
    corners = vertices[triangles]  # (T, 3, 3)
    face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def landmark_facing(landmarks: np.ndarray, size: tuple[int, int], model: CanonicalFaceModel) -> np.ndarray:
    """How squarely MediaPipe's predicted face mesh faces the camera at each landmark.

    MediaPipe predicts every landmark, also those it cannot see (the far-side contour of a turned head,
    an eye corner behind the nose); the normals of its own predicted mesh tell them apart.

    Parameters
    ----------
    landmarks : np.ndarray
        MediaPipe's normalized landmarks, shape ``(N, 3)`` (``N`` ≥ 468): x, y in [0, 1], z at the scale of x,
        smaller is closer.
    size : tuple of int
        Image ``(width, height)``, pixels.
    model : CanonicalFaceModel
        Its triangles.

    Returns
    -------
    np.ndarray
        Shape ``(N,)``: cosine between the predicted mesh's normal and the direction to the camera
        (1 facing it, ≤ 0 facing away); ``nan`` for the iris landmarks.
    """
    width, height = size
    points = np.asarray(landmarks, np.float64)[: len(model.vertices)] * [width, height, width]
    # image axes (x right, y down, z away) are the canonical ones (y up, z out) turned 180° about x,
    # so the canonical winding still gives outward normals; towards the camera is −z
    normals = _vertex_normals(points, model.triangles)
    facing = np.full(len(landmarks), np.nan)
    facing[: len(points)] = -normals[:, 2]
    return facing


# ----------------------------------------------------------------------------------------------------------
# Views and the consensus
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LandmarkView:
    """MediaPipe's landmarks detected in one render of a rig, with the camera that made the render.

    Attributes
    ----------
    pixels : np.ndarray
        Detected landmark positions, shape ``(N, 2)``, float64, pixels (x right, y down, pixel centres at
        +0.5).
    world_to_camera : np.ndarray
        Rig space → camera space (x right, y up, looking along −z), shape ``(4, 4)``, column vectors, cm.
    world_to_pixel : np.ndarray
        Rig space → homogeneous pixel coordinates ``(x·w, y·w, z_clip, w)``, shape ``(4, 4)``, column
        vectors (:meth:`studio.render.face_scene.Camera.world_to_pixel`).
    rendered_depth_cm : np.ndarray
        The render's z-depth at each landmark's pixel, shape ``(N,)``, centimetres; ``inf`` on background.
    predicted_facing : np.ndarray
        How squarely MediaPipe's own predicted mesh faces the camera at each landmark, shape ``(N,)``
        (:func:`landmark_facing`; ``nan`` for the iris).
    name : str
        A label for reports (``yaw+15_pitch-10``).
    """

    pixels: np.ndarray
    world_to_camera: np.ndarray
    world_to_pixel: np.ndarray
    rendered_depth_cm: np.ndarray
    predicted_facing: np.ndarray
    name: str = ""

    @property
    def camera_centre(self) -> np.ndarray:
        """Camera centre in rig space, shape ``(3,)``, centimetres."""
        return np.linalg.inv(self.world_to_camera)[:3, 3]

    @property
    def forward(self) -> np.ndarray:
        """Unit viewing direction in rig space, shape ``(3,)``."""
        return -np.asarray(self.world_to_camera, np.float64)[2, :3]

    def rays(self) -> np.ndarray:
        """Unit directions from the camera centre through each landmark's pixel, shape ``(N, 3)``."""
        inverse = np.linalg.inv(np.asarray(self.world_to_pixel, np.float64))
        pixels = np.asarray(self.pixels, np.float64)
        ones = np.ones(len(pixels))
        near = np.c_[pixels, -ones, ones] @ inverse.T
        far = np.c_[pixels, ones, ones] @ inverse.T
        direction = far[:, :3] / far[:, 3:] - near[:, :3] / near[:, 3:]
        return direction / np.linalg.norm(direction, axis=1, keepdims=True)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels of rig-space points ``(M, 3)`` (cm) in this view → ``(M, 2)``."""
        homogeneous = (
            np.c_[np.asarray(points, np.float64), np.ones(len(points))]
            @ np.asarray(self.world_to_pixel, np.float64).T
        )
        return homogeneous[:, :2] / homogeneous[:, 3:4]

    def depth_of(self, points: np.ndarray) -> np.ndarray:
        """Z-depth (distance along the viewing axis) of rig-space points ``(M, 3)`` → ``(M,)``, cm."""
        return (np.asarray(points, np.float64) - self.camera_centre) @ self.forward


@dataclass(frozen=True)
class EmbeddingReport:
    """How an embedding was found and how well it fits the detections it came from.

    Attributes
    ----------
    view_names : tuple of str
        The views, ``V`` of them.
    hits : np.ndarray
        Ray hit of each landmark in each view, shape ``(V, N, 3)``, cm; ``nan`` where the ray missed.
    facing : np.ndarray
        Cosine between the hit triangle's normal and the direction to the camera, shape ``(V, N)``
        (1: facing the camera, ≤ 0: seen edge-on or from behind; ``nan`` for a miss).
    depth_error_cm : np.ndarray
        Hit's z-depth minus the rendered z-depth at the landmark's pixel, shape ``(V, N)``, cm.
    used : np.ndarray
        Whether a view's hit entered the consensus, shape ``(V, N)``, bool.
    reprojection_px : np.ndarray
        Distance between the embedded neutral point projected into each view and MediaPipe's detection,
        shape ``(V, N)``, pixels.
    snap_mm : np.ndarray
        Distance from the consensus point to the embedded surface point, shape ``(N,)``, mm.
    spread_mm : np.ndarray
        As :attr:`LandmarkEmbedding.spread_mm`, shape ``(N,)``.
    """

    view_names: tuple[str, ...]
    hits: np.ndarray
    facing: np.ndarray
    depth_error_cm: np.ndarray
    used: np.ndarray
    reprojection_px: np.ndarray
    snap_mm: np.ndarray
    spread_mm: np.ndarray

    def summary(self, worst: int = 8) -> str:
        """A multi-line text report: spread statistics, worst landmarks, reprojection errors per view."""
        spread = self.spread_mm[np.isfinite(self.spread_mm)]
        mesh = np.arange(len(self.spread_mm)) < IRIS_LANDMARKS[0]
        agree = np.abs(self.depth_error_cm) < 0.1
        hit = np.isfinite(self.depth_error_cm)
        lines = [
            f"views: {len(self.view_names)}; landmarks: {len(self.spread_mm)}; "
            f"views used per landmark: median {np.median(self.used.sum(axis=0)):.0f}, "
            f"min {self.used.sum(axis=0).min()}",
            f"ray hits agreeing with the rendered depth (< 1 mm): {agree[hit].mean():.1%} of {hit.sum()} hits",
            f"spread (RMS of used hits to the embedded point), mm: median {np.median(spread):.2f}, "
            f"p90 {np.percentile(spread, 90):.2f}, max {spread.max():.2f}",
            f"  face mesh 0-467: median {np.nanmedian(self.spread_mm[mesh]):.2f}, "
            f"p90 {np.nanpercentile(self.spread_mm[mesh], 90):.2f}; iris 468-477: median "
            f"{np.nanmedian(self.spread_mm[~mesh]):.2f}, max {np.nanmax(self.spread_mm[~mesh]):.2f}",
            f"snap from consensus to surface, mm: median {np.median(self.snap_mm):.2f}, "
            f"max {self.snap_mm.max():.2f}",
            "worst landmarks (spread mm, views used): "
            + ", ".join(
                f"{i} ({self.spread_mm[i]:.1f}, {self.used[:, i].sum()})"
                for i in np.argsort(np.nan_to_num(self.spread_mm, nan=np.inf))[::-1][:worst]
            ),
            "reprojection of the embedded points vs MediaPipe, px (median over used / all landmarks):",
        ]
        for v, name in enumerate(self.view_names):
            errors = self.reprojection_px[v]
            used = errors[self.used[v]]
            lines.append(
                f"  {name:>18}: {np.median(used) if len(used) else np.nan:5.2f} / {np.median(errors):5.2f}"
                f"  (p90 {np.percentile(errors, 90):5.2f})"
            )
        all_used = self.reprojection_px[self.used]
        lines.append(
            f"  {'all views':>18}: {np.median(all_used):5.2f} / {np.median(self.reprojection_px):5.2f}"
            f"  (p90 {np.percentile(self.reprojection_px, 90):5.2f})"
        )
        return "\n".join(lines)


def _triangles_in_groups(rig: Rig, triangle_ids: np.ndarray, groups: tuple[str, ...]) -> np.ndarray:
    """The subset of ``triangle_ids`` whose three corners all belong to the named vertex groups."""
    group_ids = [rig.group_names.index(g) for g in groups if g in rig.group_names]
    inside = np.isin(rig.vertex_group[rig.triangles[triangle_ids]], group_ids).all(axis=1)
    return triangle_ids[inside]


def _consensus(
    hits: np.ndarray, candidate: np.ndarray, weights: np.ndarray, floor_cm: float, mad_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Robust mean of one landmark's hits: median, then a weighted mean of the hits within MAD bounds.

    Parameters
    ----------
    hits : np.ndarray
        Shape ``(V, 3)``, cm (``nan`` rows for misses).
    candidate : np.ndarray
        Shape ``(V,)``, bool: hits that may enter the consensus.
    weights : np.ndarray
        Shape ``(V,)``, non-negative weights of the hits.
    floor_cm : float
        Lower bound on the MAD scale (views of a rendered face agree to a fraction of a millimetre).
    mad_factor : float
        Hits farther than ``mad_factor × max(MAD, floor_cm)`` from the median are dropped.

    Returns
    -------
    point : np.ndarray
        Shape ``(3,)``, cm; ``nan`` when there is no candidate.
    used : np.ndarray
        Shape ``(V,)``, bool.
    """
    if not candidate.any():
        return np.full(3, np.nan), candidate.copy()
    median = np.median(hits[candidate], axis=0)
    distance = np.linalg.norm(hits - median, axis=1)
    scale = max(float(np.median(distance[candidate])), floor_cm)
    used = candidate & (distance <= mad_factor * scale)
    w = weights[used]
    return (hits[used] * w[:, None]).sum(axis=0) / w.sum(), used


def embed_landmarks(
    rig: Rig,
    views: list[LandmarkView],
    drawn_triangles: np.ndarray,
    min_facing: float = 0.1,
    min_predicted_facing: float = 0.15,
    depth_tolerance_cm: float = 0.3,
    mad_factor: float = 3.0,
    metadata: dict[str, str] | None = None,
) -> tuple[LandmarkEmbedding, EmbeddingReport]:
    """Embed MediaPipe's landmarks on the rig's neutral from detections in several rendered views.

    1. Rays: per view and landmark, a ray from the camera centre through the detected pixel is cast onto
       the drawn mesh (face-mesh landmarks) or onto the eyeballs alone (iris landmarks: MediaPipe fits the
       whole iris circle, also where the lids cover it).
    2. Candidates: a hit counts when its surface faces the camera (``|n·d| ≥ min_facing``), its depth
       agrees with the rendered depth at the pixel (face-mesh landmarks), MediaPipe's own predicted mesh
       faces the camera there (``predicted_facing ≥ min_predicted_facing``: MediaPipe also predicts
       landmarks it cannot see, such as the far-side contour of a turned head) and, for the inner lip
       contour, it lies on the landmark's own lip.
    3. Consensus: the median of the candidates, then their facing-weighted mean after dropping hits
       farther than ``mad_factor`` × MAD from the median.
    4. Visibility: the consensus is moved onto the surface; views in which that point is hidden (occluded
       or seen edge-on) are dropped and step 3 is repeated.
    5. Embedding: the closest point of the landmark's surface (skin; own lip; eyeball) to the consensus,
       as triangle id and barycentrics. Its spread is the RMS distance of the used hits to it.

    Parameters
    ----------
    rig : Rig
        The rig, at its neutral (cm).
    views : list of LandmarkView
        Detections in renders of ``rig.neutral``, ``V`` of them, each with ``N`` = 478 landmarks.
    drawn_triangles : np.ndarray
        Indices into ``rig.triangles`` of the triangles drawn in the renders (hidden helper shells left out),
        shape ``(F',)``. Eyelash cards should be left out too: they are see-through.
    min_facing : float
        Smallest cosine between a hit's surface normal and the direction to the camera.
    min_predicted_facing : float
        Smallest :attr:`LandmarkView.predicted_facing` of a landmark in a view that is used.
    depth_tolerance_cm : float
        Largest allowed difference between a hit's depth and the rendered depth at its pixel, cm.
    mad_factor : float
        Outlier threshold in MADs (see above).
    metadata : dict of str to str, optional
        Provenance stored with the embedding (``rig`` and ``num_views`` are filled in).

    Returns
    -------
    embedding : LandmarkEmbedding
        The ``N`` landmarks as points on ``rig``.
    report : EmbeddingReport
        Per-view hits, the views used, spreads and reprojection errors.
    """
    if not views:
        raise ValueError("embed_landmarks needs at least one view")
    num_landmarks = len(views[0].pixels)
    drawn = np.asarray(drawn_triangles, np.int64)
    iris = np.zeros(num_landmarks, bool)
    iris[IRIS_LANDMARKS[IRIS_LANDMARKS < num_landmarks]] = True
    eyeballs = _triangles_in_groups(rig, drawn, EYEBALL_GROUPS)
    skin = _triangles_in_groups(rig, drawn, SKIN_GROUPS)
    vertices = rig.neutral.astype(np.float64)
    corners = vertices[rig.triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)

    num_views = len(views)
    hits = np.full((num_views, num_landmarks, 3), np.nan)
    hit_triangle = np.full((num_views, num_landmarks), -1, np.int64)
    depth_error = np.full((num_views, num_landmarks), np.nan)
    for v, view in enumerate(views):
        if view.pixels.shape != (num_landmarks, 2):
            raise ValueError(f"view {view.name}: pixels must have shape ({num_landmarks}, 2)")
        centre, directions = view.camera_centre, view.rays()
        for subset, triangles in ((~iris, drawn), (iris, eyeballs)):
            ids = np.flatnonzero(subset)
            local, t = cast_rays(vertices, rig.triangles[triangles], centre, directions[ids])
            ok = local >= 0
            hit_ids = ids[ok]
            points = centre + t[ok, None] * directions[hit_ids]
            hits[v, hit_ids] = points
            hit_triangle[v, hit_ids] = triangles[local[ok]]
            depth_error[v, hit_ids] = view.depth_of(points) - view.rendered_depth_cm[hit_ids]
    # triangle winding is not consistent across the ICT mesh: facing uses |n · d| (the side seen is the
    # side the ray arrives at)
    rays = np.nan_to_num(hits - np.stack([view.camera_centre for view in views])[:, None])
    rays /= np.maximum(np.linalg.norm(rays, axis=-1, keepdims=True), 1e-12)
    facing = np.where(
        hit_triangle >= 0, np.abs(np.einsum("vnx,vnx->vn", normals[hit_triangle], rays)), np.nan
    )

    # the inner lip contour counts only hits on its own lip: with the mouth closed, a ray at the seam may
    # hit either lip. Other hits count wherever they land (a ray just past an eyelid's margin lands on
    # the eyeball; the consensus is moved onto the skin afterwards)
    targets = _landmark_targets(rig, num_landmarks, skin, eyeballs)
    on_target = np.ones((num_views, num_landmarks), bool)
    for target in targets:
        if target.hits_on_target_only:
            allowed = np.zeros(len(rig.triangles) + 1, bool)  # last entry: the -1 of a miss
            allowed[target.triangles] = True
            on_target[:, target.landmarks] = allowed[hit_triangle[:, target.landmarks]]

    depth_ok = np.abs(np.nan_to_num(depth_error, nan=np.inf)) <= depth_tolerance_cm
    predicted = np.stack([view.predicted_facing for view in views])
    seen = (np.nan_to_num(predicted, nan=1.0) >= min_predicted_facing) | iris[None]
    candidate = (np.nan_to_num(facing) >= min_facing) & (depth_ok | iris[None]) & seen & on_target
    weights = np.nan_to_num(facing)
    consensus = np.full((num_landmarks, 3), np.nan)
    used = np.zeros((num_views, num_landmarks), bool)
    for n in range(num_landmarks):
        consensus[n], used[:, n] = _consensus(hits[:, n], candidate[:, n], weights[:, n], 0.02, mad_factor)

    missing = ~np.isfinite(consensus).all(axis=1)
    if missing.any():
        raise ValueError(f"no view gave a usable hit for landmarks {np.flatnonzero(missing).tolist()}")

    # second pass: keep the views in which the embedded point itself is visible and facing the camera
    _, _, _, surface = _snap_to_targets(vertices, rig.triangles, consensus, targets)
    visible = _visible_in_views(vertices, rig.triangles[drawn], normals[drawn], views, surface, min_facing)
    visible[:, iris] = True  # the iris circle is fitted through the lids
    for n in range(num_landmarks):
        keep = candidate[:, n] & visible[:, n]
        if keep.any():
            consensus[n], used[:, n] = _consensus(hits[:, n], keep, weights[:, n], 0.02, mad_factor)
    triangle_ids, barycentrics, snap, embedded = _snap_to_targets(vertices, rig.triangles, consensus, targets)

    points = SurfacePoints(triangle_ids, barycentrics.astype(np.float32))
    squared = ((hits - embedded[None]) ** 2).sum(axis=-1)
    counts = used.sum(axis=0)
    spread = 10.0 * np.sqrt(np.where(used, squared, 0.0).sum(axis=0) / np.maximum(counts, 1))
    reprojection = np.stack([np.linalg.norm(view.project(embedded) - view.pixels, axis=1) for view in views])

    info = {"rig": rig.name, "num_views": str(num_views), **(metadata or {})}
    embedding = LandmarkEmbedding(points, spread.astype(np.float32), counts.astype(np.int32), info)
    report = EmbeddingReport(
        view_names=tuple(view.name for view in views),
        hits=hits,
        facing=facing,
        depth_error_cm=depth_error,
        used=used,
        reprojection_px=reprojection,
        snap_mm=10.0 * snap,
        spread_mm=spread,
    )
    return embedding, report


class _Target(NamedTuple):
    landmarks: np.ndarray  # landmark ids
    triangles: np.ndarray  # indices into rig.triangles they are embedded on
    hits_on_target_only: bool  # whether hits elsewhere are ignored


def _landmark_targets(rig: Rig, num_landmarks: int, skin: np.ndarray, eyeballs: np.ndarray) -> list[_Target]:
    """Which triangles each landmark is embedded on.

    The iris on the eyeballs; the inner lip contour on its own lip (with the mouth closed both lips meet
    at the seam, and a ray there may hit either, so hits on the other lip are ignored: the upper lip is
    the skin that ``jawOpen`` moves less than half as far as the chin, the lower lip the rest); every
    other landmark on the skin. Rigs without a ``jawOpen`` control treat the inner lip contour as skin.
    """
    landmark_ids = np.arange(num_landmarks)
    iris = np.isin(landmark_ids, IRIS_LANDMARKS)
    upper = np.isin(landmark_ids, UPPER_INNER_LIP)
    lower = np.isin(landmark_ids, LOWER_INNER_LIP)
    if "jawOpen" not in rig.expression_names:
        upper[:] = lower[:] = False
    targets = [_Target(landmark_ids[iris], eyeballs, False)]
    if upper.any() or lower.any():
        motion = np.linalg.norm(rig.expression_deltas[rig.control_index("jawOpen")], axis=1)
        corner_motion = motion[rig.triangles[skin]]  # (F', 3)
        half = 0.5 * corner_motion.max()
        targets.append(_Target(landmark_ids[upper], skin[(corner_motion < half).all(axis=1)], True))
        targets.append(_Target(landmark_ids[lower], skin[(corner_motion >= half).all(axis=1)], True))
    targets.append(_Target(landmark_ids[~(iris | upper | lower)], skin, False))
    return [target for target in targets if len(target.landmarks)]


def _snap_to_targets(
    vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, targets: list[_Target]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest point of each landmark's target surface: triangle ids, barycentrics, distance, position."""
    triangle_ids = np.zeros(len(points), np.int64)
    barycentrics = np.zeros((len(points), 3))
    distance = np.zeros(len(points))
    for ids, target_triangles, _ in targets:
        local, bary, dist = closest_surface_points(vertices, triangles[target_triangles], points[ids])
        triangle_ids[ids], barycentrics[ids], distance[ids] = target_triangles[local], bary, dist
    positions = np.einsum("ncx,nc->nx", vertices[triangles[triangle_ids]], barycentrics)
    return triangle_ids, barycentrics, distance, positions


def _visible_in_views(
    vertices: np.ndarray,
    triangles: np.ndarray,
    normals: np.ndarray,
    views: list[LandmarkView],
    points: np.ndarray,
    min_facing: float,
    tolerance_cm: float = 0.15,
) -> np.ndarray:
    """Whether each point is the first surface hit from each camera and faces it, shape ``(V, N)``."""
    visible = np.zeros((len(views), len(points)), bool)
    finite = np.isfinite(points).all(axis=1)
    for v, view in enumerate(views):
        centre = view.camera_centre
        offsets = points[finite] - centre
        length = np.linalg.norm(offsets, axis=1)
        directions = offsets / length[:, None]
        triangle, t = cast_rays(vertices, triangles, centre, directions)
        cosine = np.abs(np.einsum("ij,ij->i", normals[np.maximum(triangle, 0)], directions))
        visible[v, finite] = (triangle >= 0) & (t >= length - tolerance_cm) & (cosine >= min_facing)
    return visible
