"""Rotations from head yaw, pitch and roll (rig space: +x towards the face's left, +y up, +z out of the face)."""

from __future__ import annotations

import numpy as np

__all__ = ["euler_to_matrix", "matrix_to_euler", "matrix_to_quaternion"]


def euler_to_matrix(yaw_pitch_roll_deg: np.ndarray) -> np.ndarray:
    """Rotation matrix from head yaw (about +y), pitch (about +x) and roll (about +z), in degrees.

    Parameters
    ----------
    yaw_pitch_roll_deg : np.ndarray
        Shape ``(3,)``, degrees. Applied as ``R = R_yaw @ R_pitch @ R_roll``.

    Returns
    -------
    np.ndarray
        Shape ``(3, 3)``, float64, acting on column vectors.
    """
    yaw, pitch, roll = np.deg2rad(np.asarray(yaw_pitch_roll_deg, dtype=np.float64))
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_pitch = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return r_yaw @ r_pitch @ r_roll


def matrix_to_euler(rotation: np.ndarray) -> np.ndarray:
    """Head yaw, pitch and roll in degrees from rotation matrices: the inverse of :func:`euler_to_matrix`.

    Parameters
    ----------
    rotation : np.ndarray
        Shape ``(..., 3, 3)``, proper rotations acting on column vectors.

    Returns
    -------
    np.ndarray
        Shape ``(..., 3)``, float64, degrees: yaw and roll in (−180, 180], pitch in [−90, 90] (at ±90° of
        pitch, yaw and roll are not separable and roll is taken as 0). NaN matrices give NaN angles.
    """
    r = np.asarray(rotation, np.float64)
    # R = R_yaw R_pitch R_roll: R[1, 2] = −sin(pitch), R[0, 2] / R[2, 2] = tan(yaw), R[1, 0] / R[1, 1] = tan(roll)
    pitch = np.arcsin(np.clip(-r[..., 1, 2], -1.0, 1.0))
    yaw = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    roll = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    gimbal = np.abs(np.cos(pitch)) < 1e-9
    if np.any(gimbal):
        roll = np.where(gimbal, 0.0, roll)
        yaw = np.where(gimbal, np.arctan2(-r[..., 2, 0], r[..., 0, 0]), yaw)
    return np.rad2deg(np.stack([yaw, pitch, roll], axis=-1))


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternions ``(x, y, z, w)`` (glTF's and USD's order of parts) of rotation matrices.

    Parameters
    ----------
    rotation : np.ndarray
        Shape ``(B, 3, 3)``, proper rotations acting on column vectors.

    Returns
    -------
    np.ndarray
        Shape ``(B, 4)``, float64, ``w >= 0``.
    """
    from scipy.spatial.transform import Rotation

    quaternions = Rotation.from_matrix(np.asarray(rotation, np.float64)).as_quat()  # (B, 4) x, y, z, w
    return np.where(quaternions[:, 3:] < 0, -quaternions, quaternions)
