"""The face crop of the learned tracker, and the normal map of MediaPipe's mesh in it.

The crop is a square around MediaPipe's 478 landmarks, :data:`CROP_SCALE` times their larger extent, resized
to ``size`` × ``size``: the training renders (:mod:`studio.render.inversion_data`), recorded takes, the live
view and the Simon-Says captures all crop with :func:`face_crop`, so what the network learns on is what it
sees in use.

At tracking time a webcam gives no scanned normals (paper 002 has them from scans); the normal branch gets
MediaPipe's own mesh, rendered as flat-shaded camera-space normals in the same crop
(:func:`mesh_normal_map`) — geometry the studio has for every frame, in training and in use alike.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["CROP_SCALE", "CROP_SIZE", "crop_box", "crop_landmarks", "encode_normals", "face_crop", "mediapipe_triangles",
           "mesh_normal_map"]

CROP_SCALE = 1.5
"""The crop's side over the landmarks' larger extent."""
CROP_SIZE = 128
"""The crop's side in pixels, as the shipped networks take it."""


def crop_box(landmarks_px: np.ndarray, image_size: tuple[int, int] | None = None) -> tuple[float, float, float]:
    """The square crop around MediaPipe's landmarks ``(N, 3)`` (pixels): ``(x0, y0, side)`` in pixels.

    ``image_size`` is accepted for symmetry with the callers; the box may reach past the image (the crop
    then repeats the border pixels).
    """
    xy = np.asarray(landmarks_px, np.float64)[:, :2]
    low, high = xy.min(axis=0), xy.max(axis=0)
    side = CROP_SCALE * float((high - low).max())
    centre = (low + high) / 2.0
    return float(centre[0] - side / 2), float(centre[1] - side / 2), side


def _warp(box: tuple[float, float, float], size: int) -> np.ndarray:
    x0, y0, side = box
    scale = size / side
    return np.array([[scale, 0.0, -x0 * scale], [0.0, scale, -y0 * scale]])


def face_crop(image: np.ndarray, landmarks_px: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """The face crop of one frame.

    Parameters
    ----------
    image : np.ndarray
        The frame, ``(H, W, 3)`` uint8 RGB.
    landmarks_px : np.ndarray
        MediaPipe's landmarks on it, ``(478, 3)``, pixels.
    size : int
        The crop's side, pixels.

    Returns
    -------
    np.ndarray
        ``(size, size, 3)`` uint8 RGB.
    """
    import cv2

    return cv2.warpAffine(np.ascontiguousarray(image), _warp(crop_box(landmarks_px), size), (size, size),
                          flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def crop_landmarks(landmarks_px: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """MediaPipe's landmarks ``(478, 3)`` (frame pixels) in the crop's pixels (z scaled alike), float32."""
    landmarks = np.asarray(landmarks_px, np.float64)
    x0, y0, side = crop_box(landmarks)
    scale = size / side
    out = landmarks.copy()
    out[:, :2] = (out[:, :2] - [x0, y0]) * scale
    out[:, 2] *= scale
    return out.astype(np.float32)


def encode_normals(normals: np.ndarray) -> np.ndarray:
    """Camera-space unit normals ``(..., 3)`` → uint8 RGB ``(n + 1) / 2 · 255``; zero vectors (off the face)
    stay 0."""
    n = np.asarray(normals, np.float32)
    covered = np.linalg.norm(n, axis=-1, keepdims=True) > 0.5
    return np.where(covered, np.clip(np.round((n + 1.0) * 127.5), 0, 255), 0).astype(np.uint8)


@lru_cache(maxsize=1)
def mediapipe_triangles() -> np.ndarray:
    """The triangles of MediaPipe's face mesh, ``(F, 3)`` int32 landmark ids: the 3-cycles of its
    tessellation (MediaPipe lists the mesh's edges, not its faces)."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections

    edges = {frozenset((c.start, c.end)) for c in FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION}
    neighbours: dict[int, set[int]] = {}
    for edge in edges:
        a, b = tuple(edge)
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = {tuple(sorted((a, b, c))) for a, b in map(tuple, edges) for c in neighbours[a] & neighbours[b]}
    return np.array(sorted(triangles), np.int32)


def mesh_normal_map(landmarks_crop: np.ndarray, size: int = CROP_SIZE) -> np.ndarray:
    """MediaPipe's mesh rendered as flat-shaded camera-space normals in the crop.

    Parameters
    ----------
    landmarks_crop : np.ndarray
        MediaPipe's landmarks in crop pixels, ``(478, 3)`` (x right, y down, z away from the camera), as
        :func:`crop_landmarks` gives them.
    size : int
        The map's side, pixels.

    Returns
    -------
    np.ndarray
        ``(size, size, 3)`` uint8, normals encoded as :func:`encode_normals` does (x right, y up, z towards
        the camera, the renderer's convention); 0 off the mesh. Nearer triangles are drawn over farther ones.
    """
    points = np.asarray(landmarks_crop, np.float64)
    triangles = mediapipe_triangles()
    corners = points[triangles]  # (F, 3, 3)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals *= -np.sign(normals[:, 2:3] + 1e-12)  # face the camera: z < 0 in the landmarks' frame
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    colours = encode_normals(normals * [1.0, -1.0, -1.0])  # → x right, y up, z towards the camera
    # Rasterise every triangle at once: the pixel centres in each triangle's box, kept where their barycentric
    # coordinates are all ≥ 0; triangles go nearest first (by mean depth) and each pixel keeps its first.
    order = np.argsort(corners[:, :, 2].mean(axis=1))
    corners, colours = corners[order].astype(np.float32), colours[order]
    xy = corners[:, :, :2]
    low = np.floor(xy.min(axis=1) - 0.5).astype(np.int32)  # (F, 2)
    extent = np.ceil(xy.max(axis=1) - low).astype(np.int32) + 1  # (F, 2)
    span = int(min(extent.max(), size))
    grid = np.arange(span, dtype=np.int32)
    within = (grid[None, None, :] < extent[:, 0, None, None]) & (grid[None, :, None] < extent[:, 1, None, None])
    face, row, column = np.nonzero(within)  # (F, span, span) → candidates, grouped by face
    px, py = low[face, 0] + column, low[face, 1] + row
    a, b, c = xy[:, 0], xy[:, 1], xy[:, 2]  # (F, 2) each
    u, v = b - a, c - a
    area = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    inverse = np.where(np.abs(area) < 1e-6, 0.0, 1.0 / np.where(area == 0, 1.0, area)).astype(np.float32)
    qx = (px + np.float32(0.5)) - a[face, 0]
    qy = (py + np.float32(0.5)) - a[face, 1]
    w_b = (qx * v[face, 1] - qy * v[face, 0]) * inverse[face]
    w_c = (u[face, 0] * qy - u[face, 1] * qx) * inverse[face]
    inside = (w_b >= 0) & (w_c >= 0) & (w_b + w_c <= 1) & (inverse[face] != 0)
    inside &= (px >= 0) & (px < size) & (py >= 0) & (py < size)
    flat = (py * size + px)[inside]
    _, first = np.unique(flat, return_index=True)  # the nearest triangle over each pixel
    image = np.zeros((size * size, 3), np.uint8)
    image[flat[first]] = colours[face[inside][first]]
    return image.reshape(size, size, 3)
