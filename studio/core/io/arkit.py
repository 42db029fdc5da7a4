"""ARKit's 52 blendshape names: the de-facto vocabulary of face-capture exchange formats and streams.

Live Link Face, VMC "perfect sync", iFacialMocap and most engines name face shapes this way; a rig definition
maps its own controls onto these names (:meth:`studio.core.rig.definition.RigDefinition.arkit_matrix`).
Match names case-insensitively (:func:`arkit_name`).
"""

from __future__ import annotations

__all__ = ["ARKIT_BLENDSHAPE_NAMES", "arkit_name"]

ARKIT_BLENDSHAPE_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)  # fmt: skip
"""The 52 ARKit blendshape names in their de-facto order (Unreal's ``EARFaceBlendShape``)."""

_ARKIT_BY_LOWER = {name.lower(): name for name in ARKIT_BLENDSHAPE_NAMES}


def arkit_name(name: str) -> str | None:
    """The ARKit name spelled as in :data:`ARKIT_BLENDSHAPE_NAMES`, matched case-insensitively, or ``None``."""
    return _ARKIT_BY_LOWER.get(str(name).lower())
