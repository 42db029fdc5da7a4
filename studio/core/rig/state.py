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
        if np.any(self.head_rotation_deg) or np.any(self.head_translation_cm):
            rotation = euler_to_matrix(self.head_rotation_deg).astype(np.float32)
            positions = positions @ rotation.T + np.asarray(self.head_translation_cm, np.float32)
        return positions.astype(np.float32, copy=False)
