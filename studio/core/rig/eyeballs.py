"""The eyeballs of a rig like ICT's, turned by its ``eyeLook`` controls: what ``eyeLookOut_L = 1`` means.

ICT's ``eyeLook{Up,Down,In,Out}_{L,R}`` blendshapes deform the lids only; its eyeballs never move. To show
gaze (the inspector, the reference renders, the synthetic performer), :func:`pose_eyeballs` rotates each
eyeball group about its sphere centre by :data:`ICT_GAZE_ANGLES_DEG` per unit of the controls (yaw for
In/Out, pitch for Up/Down): the convention that defines the gaze controls in this studio. Reading gaze back
from MediaPipe's irises is :mod:`studio.core.tracking.gaze`.

Conventions: rig space is centimetres, +y up, +z out of the face, x towards the face's left. "In" is towards
the nose, "Out" towards the ear.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from studio.core.geometry.rotations import euler_to_matrix
from studio.core.rig.rig import Rig

__all__ = [
    "DIRECTIONS",
    "ICT_GAZE_ANGLES_DEG",
    "SIDES",
    "eye_rotation_deg",
    "gaze_control_name",
    "pose_eyeballs",
]

SIDES: tuple[str, str] = ("L", "R")
"""Eye sides in ICT's naming, in the order of the ``(B, 2)`` arrays here: the face's left (+x), right."""

DIRECTIONS: tuple[str, ...] = ("Up", "Down", "In", "Out")
"""Gaze directions of the ``eyeLook`` controls."""

ICT_GAZE_ANGLES_DEG: dict[str, float] = {"Up": 25.0, "Down": 25.0, "In": 30.0, "Out": 30.0}
"""Eyeball rotation (degrees) of each direction's control at 1, for :func:`pose_eyeballs`: the studio's
meaning of the gaze controls (ARKit leaves the range unspecified; ±30° horizontally and ±25° vertically
is about the range a face-tracked performer uses before turning the head)."""

#: ICT's eyeball groups: the outer shell (sclera and cornea) is the first 770 of each group's 1,570
#: vertices (ICT-FaceKit README); the rest is the inner iris shell.
_EYEBALL_GROUPS = {"L": "eyeball_left", "R": "eyeball_right"}
_OUTER_SHELL_FRACTION = (770, 1570)


def gaze_control_name(direction: str, side: str) -> str:
    """``eyeLook{direction}_{side}``, e.g. ``gaze_control_name("Out", "L") == "eyeLookOut_L"``."""
    return f"eyeLook{direction}_{side}"


def _sphere_centre(points: np.ndarray) -> np.ndarray:
    """Least-squares sphere centre of points ``(n, 3)`` → ``(3,)``."""
    design = np.c_[2.0 * points, np.ones(len(points))]
    return np.linalg.lstsq(design, (points**2).sum(axis=1), rcond=None)[0][:3]


def eye_rotation_deg(
    rig: Rig, controls: np.ndarray, angles_deg: Mapping[str, float] = ICT_GAZE_ANGLES_DEG
) -> dict[str, tuple[float, float]]:
    """Yaw and pitch of each eyeball for a control vector (head frame, degrees).

    Parameters
    ----------
    rig : Rig
        The rig (its control names locate the ``eyeLook`` controls; missing ones count as 0).
    controls : np.ndarray
        Shape ``(K,)``, in [0, 1].
    angles_deg : mapping
        Rotation at 1 per direction (``Up``, ``Down``, ``In``, ``Out``), degrees.

    Returns
    -------
    dict
        ``{"L": (yaw, pitch), "R": (yaw, pitch)}``: yaw about +y (positive turns the gaze to +x, the face's
        left), pitch about +x (positive turns it down), degrees.
    """
    controls = np.asarray(controls, np.float64)
    names = rig.expression_names

    def value(direction: str, side: str) -> float:
        name = gaze_control_name(direction, side)
        return float(controls[names.index(name)]) if name in names else 0.0

    angles = {}
    for side in SIDES:
        towards_ear = angles_deg["Out"] * value("Out", side) - angles_deg["In"] * value("In", side)
        up = angles_deg["Up"] * value("Up", side) - angles_deg["Down"] * value("Down", side)
        yaw = towards_ear if side == "L" else -towards_ear  # the left eye's ear is at +x
        angles[side] = (yaw, -up)
    return angles


def pose_eyeballs(
    rig: Rig,
    vertices: np.ndarray,
    controls: np.ndarray,
    head_rotation_deg: np.ndarray | None = None,
    angles_deg: Mapping[str, float] = ICT_GAZE_ANGLES_DEG,
) -> np.ndarray:
    """Turn the eyeballs of posed rig vertices to the gaze that the ``eyeLook`` controls ask for.

    Each eyeball group (``eyeball_left``, ``eyeball_right``, both shells) is rotated rigidly about the
    centre of its outer shell's best-fit sphere, so the iris painted on it (see
    :func:`studio.render.face_scene.face_materials`) turns with it; the lids keep what ICT's blendshapes
    did to them. Rigs without the groups or the controls are returned unchanged.

    Parameters
    ----------
    rig : Rig
        The rig the vertices belong to.
    vertices : np.ndarray
        Posed positions, shape ``(V, 3)``, cm (as from :meth:`RigState.vertices
        <studio.core.rig.state.RigState.vertices>`, head pose included or not).
    controls : np.ndarray
        The expression controls the vertices were posed with, shape ``(K,)``, in [0, 1].
    head_rotation_deg : np.ndarray, optional
        Yaw, pitch, roll (degrees, :func:`~studio.core.geometry.rotations.euler_to_matrix`) already applied to
        ``vertices``: the eyes turn in the head's frame. ``None`` for vertices without head rotation.
    angles_deg : mapping
        Rotation at 1 per direction, degrees (default :data:`ICT_GAZE_ANGLES_DEG`).

    Returns
    -------
    np.ndarray
        A copy of ``vertices`` with the eyeballs turned, shape ``(V, 3)``, float32, cm.
    """
    posed = np.array(vertices, np.float32)
    head = np.eye(3) if head_rotation_deg is None else euler_to_matrix(np.asarray(head_rotation_deg))
    for side, (yaw, pitch) in eye_rotation_deg(rig, controls, angles_deg).items():
        group = _EYEBALL_GROUPS[side]
        if (yaw == 0.0 and pitch == 0.0) or group not in rig.group_names:
            continue
        ids = rig.group_vertices(group)
        outer = ids[: len(ids) * _OUTER_SHELL_FRACTION[0] // _OUTER_SHELL_FRACTION[1]]
        centre = _sphere_centre(posed[outer].astype(np.float64))
        rotation = head @ euler_to_matrix(np.array([yaw, pitch, 0.0])) @ head.T
        posed[ids] = ((posed[ids] - centre) @ rotation.T + centre).astype(np.float32)
    return posed
