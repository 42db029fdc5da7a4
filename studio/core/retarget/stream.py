"""What a stream sends: a rig's controls as ARKit weights, as tracked or retargeted (VMC "perfect sync").

Live (a frame at a time) and recorded (a whole take) alike: :func:`arkit_stream_mapping` and
:func:`target_stream_mapping` turn one frame's controls into ARKit names and weights, for the live view's
VMC streaming; :func:`stream_values` does a whole take, for ``python main.py stream``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
from studio.core.io.curves import TakeCurves
from studio.core.io.livelink import eye_angles_from_arkit
from studio.core.io.livelink_udp import EYE_ANGLE_RAD
from studio.core.io.vmc import head_bone_values
from studio.core.retarget.curves import arkit_curves, head_quaternions
from studio.core.retarget.targets import RetargetTarget
from studio.core.rig.definition import RigDefinition

__all__ = ["StreamMapping", "arkit_stream_mapping", "stream_values", "target_stream_mapping"]

#: What streaming sends for a tracked frame: ``convert(controls (K,)) -> (names (N,), values (N,))``.
StreamMapping = Callable[[np.ndarray], tuple[Sequence[str], np.ndarray]]


def arkit_stream_mapping(control_names: Sequence[str], definition: RigDefinition) -> StreamMapping:
    """The default mapping: a rig's controls to the 52 ARKit blendshapes ("perfect sync").

    Parameters
    ----------
    control_names : sequence of str
        The tracked rig's controls, in the order of the controls handed to the mapping (``K`` of them);
        they are matched to ``definition``'s by name.
    definition : RigDefinition
        The rig's definition (the ARKit name of each control).

    Returns
    -------
    callable
        ``convert(controls)`` with ``controls`` of shape ``(K,)``, returning
        :data:`~studio.core.io.arkit.ARKIT_BLENDSHAPE_NAMES` and their values, shape ``(52,)``, float64: the
        mean of the controls carrying each name (as :meth:`RigDefinition.to_arkit`), 0 for names no control
        carries (``tongueOut`` for ICT).
    """
    by_name = definition.arkit_matrix()
    matrix = np.zeros((len(ARKIT_BLENDSHAPE_NAMES), len(control_names)))
    for column, name in enumerate(control_names):
        if name in definition.control_names:
            matrix[:, column] = by_name[:, definition.index_of(name)]

    def convert(controls: np.ndarray) -> tuple[Sequence[str], np.ndarray]:
        controls = np.asarray(controls, dtype=np.float64)
        if controls.shape != (matrix.shape[1],):
            raise ValueError(f"controls must have shape ({matrix.shape[1]},), got {controls.shape}")
        return ARKIT_BLENDSHAPE_NAMES, matrix @ controls

    return convert


def target_stream_mapping(target: RetargetTarget) -> StreamMapping:
    """A mapping through a retarget target: tracked ICT controls → the target's controls → ARKit values.

    Parameters
    ----------
    target : RetargetTarget
        Another person, a stylized character (its exaggeration gains apply) or a game rig (its controls
        reach ARKit through their ICT shapes, :meth:`RetargetTarget.arkit`).

    Returns
    -------
    callable
        ``convert(controls (K,)) -> (ARKIT_BLENDSHAPE_NAMES, values (52,))``.
    """

    def convert(controls: np.ndarray) -> tuple[Sequence[str], np.ndarray]:
        return ARKIT_BLENDSHAPE_NAMES, target.arkit(target.retarget(controls)).astype(np.float64)

    return convert


def stream_values(curves: TakeCurves, target: RetargetTarget | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """What a stream sends for a whole take: ARKit names and weights ``(T, 52)``, NaN rows where no face."""
    return ARKIT_BLENDSHAPE_NAMES, arkit_curves(curves, target)


def stream_head(curves: TakeCurves) -> np.ndarray | None:
    """The VMC ``Head`` bone per frame of a take, ``(T, 7)`` (:func:`~studio.core.io.vmc.head_bone_values`),
    NaN rows where no face; None when the take has no head pose."""
    if curves.head_pose is None:
        return None
    pose = np.nan_to_num(curves.head_pose.astype(np.float64))
    bone = head_bone_values(head_quaternions(pose), pose[:, 3:])
    bone[~np.isfinite(curves.head_pose).all(axis=1)] = np.nan
    return bone


def livelink_angles(head_pose: np.ndarray | None, arkit: np.ndarray) -> np.ndarray:
    """The nine Live Link angles per frame, radians ``(T, 9)``: head yaw, pitch, roll from ``head_pose``
    ``(T, 6)`` (a take's; zeros when None, as live) and both eyes from the ARKit gaze shapes ``arkit`` ``(T, 52)``."""
    arkit = np.atleast_2d(arkit)
    head = np.zeros((len(arkit), 3)) if head_pose is None else np.deg2rad(np.asarray(head_pose)[:, :3])
    eyes = eye_angles_from_arkit(arkit).astype(np.float64) * EYE_ANGLE_RAD
    return np.concatenate([head, eyes], axis=1)


def ifacialmocap_angles(head_pose: np.ndarray | None, arkit: np.ndarray) -> np.ndarray:
    """iFacialMocap's head and eyes per frame ``(T, 12)``: head rotation x, y, z (pitch, yaw, roll, degrees) and
    position (cm) from ``head_pose`` ``(T, 6)`` (zeros when None), then right and left eye rotations x, y, z
    (degrees) from the gaze shapes ``arkit`` ``(T, 52)``."""
    arkit = np.atleast_2d(arkit)
    out = np.zeros((len(arkit), 12))
    if head_pose is not None:
        pose = np.asarray(head_pose, np.float64)
        out[:, 0:3] = pose[:, [1, 0, 2]]  # x = pitch, y = yaw, z = roll
        out[:, 3:6] = pose[:, 3:]
    eyes = np.rad2deg(eye_angles_from_arkit(arkit).astype(np.float64) * EYE_ANGLE_RAD)  # left yaw, pitch, roll, right …
    out[:, 6:9] = eyes[:, [4, 3, 5]]  # right eye: x = pitch, y = yaw, z = roll
    out[:, 9:12] = eyes[:, [1, 0, 2]]
    return out
