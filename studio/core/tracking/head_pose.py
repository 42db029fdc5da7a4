"""The performer's head pose, from the tracker's head-pose removal (paper 001, Sec. 3, step 1).

:meth:`~studio.core.tracking.tracker.Tracker.alignment` fits, per frame, the similarity ``y = s R x + t`` that
takes the landmarks (MediaPipe pixels made right-handed: x right, y up, z towards the camera) onto the
performer's neutral in rig space (cm). Its inverse places the head in the camera's frame:

* **rotation**: ``Rᵀ``, as yaw, pitch and roll in degrees in the rig's convention
  (:func:`~studio.core.geometry.rotations.euler_to_matrix`; a face looking into the camera is 0, 0, 0);
* **position** of the rig's origin, centimetres, camera axes (x right in the image, y up, z towards the
  camera): ``x, y`` from its pixel position relative to the image centre times ``s`` (centimetres per
  pixel at the face), ``z = −f·s`` with the focal length ``f`` in pixels of a pinhole camera of vertical
  field of view ``vfov_deg`` (:data:`DEFAULT_CAMERA_VFOV_DEG`, a typical webcam's, when the camera's is not
  known).

A take stores the pose relative to how the head rested during the take's neutral frames
(:func:`relative_head_pose`): a character's head then rests as the character stands, whatever the angle of
the camera or the performer's habit of tilting their head, and the tracker's constant bias (a few degrees
of pitch through MediaPipe's depth) cancels.

Shapes: ``B`` frames; a pose is ``(B, 6)``: yaw, pitch, roll (degrees), x, y, z (cm), NaN where no face.
"""

from __future__ import annotations

import math

import numpy as np

from studio.core.geometry.alignment import SimilarityTransform
from studio.core.geometry.rotations import euler_to_matrix, matrix_to_euler

__all__ = ["DEFAULT_CAMERA_VFOV_DEG", "camera_head_pose", "relative_head_pose"]

#: Vertical field of view assumed for a camera whose own is not known, degrees (a 16:9 webcam of 70°
#: diagonal). It scales only the head's distance (``z``): rotation and x, y do not depend on it.
DEFAULT_CAMERA_VFOV_DEG = 45.0


def camera_head_pose(
    transform: SimilarityTransform, image_size: tuple[int, int], vfov_deg: float = DEFAULT_CAMERA_VFOV_DEG
) -> np.ndarray:
    """The head's pose in the camera's frame from the alignments of ``B`` frames.

    Parameters
    ----------
    transform : SimilarityTransform
        ``B`` alignments, right-handed MediaPipe pixels → rig space cm (:meth:`Tracker.alignment`); invalid
        (no face) ones give NaN rows.
    image_size : tuple of int
        The frames' ``(width, height)``, pixels.
    vfov_deg : float
        The camera's vertical field of view, degrees, in (0, 180).

    Returns
    -------
    np.ndarray
        Shape ``(B, 6)``, float64: yaw, pitch, roll (degrees), x, y, z of the rig's origin (cm, z negative:
        in front of the camera).
    """
    if not 0.0 < vfov_deg < 180.0:
        raise ValueError(f"vfov_deg must be in (0, 180), got {vfov_deg}")
    width, height = image_size
    scale = transform.scale.cpu().numpy()  # (B,) cm per pixel
    rotation = transform.rotation.cpu().numpy()  # (B, 3, 3)
    translation = transform.translation.cpu().numpy()  # (B, 3) cm
    head_rotation = np.transpose(rotation, (0, 2, 1))  # rig → camera
    origin_px = -np.einsum("bij,bj->bi", head_rotation, translation) / scale[:, None]  # (B, 3) pixels
    focal_px = 0.5 * height / math.tan(math.radians(vfov_deg) / 2.0)
    position = np.stack(
        [
            (origin_px[:, 0] - 0.5 * width) * scale,
            (origin_px[:, 1] + 0.5 * height) * scale,  # right-handed pixels: y = −row
            (origin_px[:, 2] - focal_px) * scale,
        ],
        axis=1,
    )
    pose = np.concatenate([matrix_to_euler(head_rotation), position], axis=1)
    pose[~np.isfinite(pose).all(axis=1)] = np.nan
    return pose


def relative_head_pose(pose: np.ndarray, neutral_start: int, neutral_stop: int) -> np.ndarray:
    """A take's head pose with the position taken from where the head rested in its neutral frames.

    Parameters
    ----------
    pose : np.ndarray
        Shape ``(T, 6)``: :func:`camera_head_pose` of every frame (NaN rows where no face).
    neutral_start, neutral_stop : int
        The neutral frames ``[start, stop)``; when none of them has a face, every frame with one is used.

    Returns
    -------
    np.ndarray
        Shape ``(T, 6)``, float64: the rotation after the resting one is undone (``R · R_restᵀ``, camera axes;
        the rest is the rotation of the neutral frames' median angles) and the translation less the median
        resting position (cm).
    """
    pose = np.asarray(pose, np.float64)
    rest = pose[neutral_start:neutral_stop]
    rest = rest[np.isfinite(rest).all(axis=1)]
    if not len(rest):
        rest = pose[np.isfinite(pose).all(axis=1)]
    out = pose.copy()
    if len(rest):
        resting = np.median(rest, axis=0)
        rotation = np.stack([euler_to_matrix(angles) for angles in np.nan_to_num(pose[:, :3])])
        out[:, :3] = matrix_to_euler(rotation @ euler_to_matrix(resting[:3]).T)
        out[:, 3:] -= resting[3:]
        out[~np.isfinite(pose).all(axis=1)] = np.nan
    return out
