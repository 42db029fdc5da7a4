"""A rig state: the controls, identity and head pose that together place a face in the world."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from studio.core.geometry.rotations import euler_to_matrix
from studio.core.rig.eyeballs import pose_eyeballs
from studio.core.rig.rig import Rig


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
        The ``eyeLook`` controls turn the eyeballs (:func:`~studio.core.rig.eyeballs.pose_eyeballs`).
        """
        positions = rig.evaluate(self.controls)
        if self.identity.size:
            positions = positions - rig.neutral + rig.base_neutral + rig.identity_offsets(self.identity)
        positions = pose_eyeballs(rig, positions, self.controls)  # gaze turns the eyeballs
        positions = posed_by_head(positions, self.head_rotation_deg, self.head_translation_cm)
        return positions.astype(np.float32, copy=False)


def posed_by_head(positions: np.ndarray, rotation_deg: np.ndarray, translation_cm: np.ndarray) -> np.ndarray:
    """Positions turned by a head rotation about the rig's origin and moved: ``R x + t``.

    Parameters
    ----------
    positions : np.ndarray
        Shape ``(V, 3)``, cm.
    rotation_deg : np.ndarray
        Yaw, pitch, roll, shape ``(3,)``, degrees (:func:`~studio.core.geometry.rotations.euler_to_matrix`).
    translation_cm : np.ndarray
        Shape ``(3,)``, cm.

    Returns
    -------
    np.ndarray
        Shape ``(V, 3)``, cm (the input itself when the pose is zero).
    """
    if not (np.any(rotation_deg) or np.any(translation_cm)):
        return positions
    rotation = euler_to_matrix(rotation_deg).astype(np.float32)
    return positions @ rotation.T + np.asarray(translation_cm, np.float32)
