"""Rotations from head yaw, pitch and roll (rig space: +x towards the face's left, +y up, +z out of the face)."""

from __future__ import annotations

import numpy as np

__all__ = ["euler_to_matrix"]


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
