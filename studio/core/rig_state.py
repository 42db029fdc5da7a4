"""A rig state: the controls, identity and head pose that together place a face in the world."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.core.gaze import pose_eyeballs
from studio.core.rig import Rig


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


@dataclass
class RigState:
    """Everything that poses a rig: expression controls, identity coefficients and rigid head pose.

    Attributes
    ----------
    controls : np.ndarray
        Expression controls, shape ``(K,)``, unitless in [0, 1].
    identity : np.ndarray
        Identity coefficients, shape ``(M,)`` or ``(0,)`` for the rig's own neutral.
    head_rotation_deg : np.ndarray
        Yaw, pitch, roll in degrees, shape ``(3,)``.
    head_translation_cm : np.ndarray
        Translation in centimetres, shape ``(3,)``.
    """

    controls: np.ndarray
    identity: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    head_rotation_deg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    head_translation_cm: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @classmethod
    def neutral(cls, rig: Rig) -> RigState:
        """All controls at zero, mean identity, head facing the camera."""
        return cls(controls=np.zeros(rig.num_controls, np.float32))

    def vertices(self, rig: Rig) -> np.ndarray:
        """World positions of the posed rig, shape ``(V, 3)``, float32, centimetres.

        Identity offsets are added to ``rig.base_neutral``; when ``identity`` is empty the rig's own
        ``neutral`` is used, so a rig already morphed with :meth:`Rig.with_identity` keeps its identity.
        The ``eyeLook`` controls turn the eyeballs (:func:`~studio.core.gaze.pose_eyeballs`).
        """
        positions = rig.evaluate(self.controls)
        if self.identity.size:
            positions = positions - rig.neutral + rig.base_neutral + rig.identity_offsets(self.identity)
        positions = pose_eyeballs(rig, positions, self.controls)  # gaze turns the eyeballs
        if np.any(self.head_rotation_deg) or np.any(self.head_translation_cm):
            rotation = euler_to_matrix(self.head_rotation_deg).astype(np.float32)
            positions = positions @ rotation.T + np.asarray(self.head_translation_cm, np.float32)
        return positions.astype(np.float32, copy=False)
