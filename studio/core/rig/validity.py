"""Whether control vectors make a possible face: the rig definition's corrective constraints and opposite
controls.

- **Constraints** (``RigDefinition.constraints``): each pairs an upper vertex with a lower one (the lips of
  ``lip_seal``, the eyelids of ``eyelid_closure_*``). They may meet but never pass: a pose whose upper vertex
  lies more than :data:`PASS_THROUGH_CM` (2 mm) below its partner (in the rig's up direction, +y) has the lips or
  lids through each other — lips that seal must stay sealed, not cross.
- **Opposites**: controls that move the same part in opposite directions, or cannot hold together, must not
  be both clearly on (above :data:`OPPOSITE_LEVEL`): ``jawLeft``/``jawRight``, ``mouthLeft``/``mouthRight``,
  per eye ``eyeLookIn``/``eyeLookOut`` and ``eyeLookUp``/``eyeLookDown``, and ``eyeBlink``/``eyeWide``
  (closed and wide open at once).

Shapes: ``N`` control vectors of ``K`` controls; positions in centimetres.
"""

from __future__ import annotations

import numpy as np

from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig

__all__ = ["OPPOSITE_LEVEL", "PASS_THROUGH_CM", "opposite_pairs", "violations"]

PASS_THROUGH_CM = 0.2
"""How far an upper vertex of a constraint may sink below its partner before it counts as passing (cm): the
ICT rig's own closed poses sink up to 1.5 mm (lips sealed at ``jawOpen = mouthClose = 1``) and 0.6 mm (a
full blink)."""

OPPOSITE_LEVEL = 0.2
"""Both controls of an opposite pair above this value is an impossible combination."""

_OPPOSITES = (
    ("jawLeft", "jawRight"),
    ("mouthLeft", "mouthRight"),
    ("eyeLookIn_L", "eyeLookOut_L"),
    ("eyeLookIn_R", "eyeLookOut_R"),
    ("eyeLookUp_L", "eyeLookDown_L"),
    ("eyeLookUp_R", "eyeLookDown_R"),
    ("eyeBlink_L", "eyeWide_L"),
    ("eyeBlink_R", "eyeWide_R"),
)


def opposite_pairs(definition: RigDefinition) -> list[tuple[int, int]]:
    """Index pairs of the rig's opposite controls (those of the module's list it has)."""
    names = definition.control_names
    return [(names.index(a), names.index(b)) for a, b in _OPPOSITES if a in names and b in names]


def violations(rig: Rig, definition: RigDefinition, controls: np.ndarray, batch: int = 256) -> dict:
    """Count the impossible poses among ``controls`` ``(N, K)``.

    Returns
    -------
    dict
        ``out_of_range`` (fraction of vectors with a value outside [0, 1]), per constraint
        ``constraints.<name>`` (fraction of vectors where it passes through), ``opposites`` (fraction with an
        opposite pair both on), and ``any`` (fraction with any of these).
    """
    controls = np.atleast_2d(np.asarray(controls, np.float64))
    bad_range = ((controls < -1e-6) | (controls > 1 + 1e-6)).any(axis=1)
    bad_opposite = np.zeros(len(controls), bool)
    for a, b in opposite_pairs(definition):
        bad_opposite |= (controls[:, a] > OPPOSITE_LEVEL) & (controls[:, b] > OPPOSITE_LEVEL)
    by_constraint: dict[str, np.ndarray] = {c.name: np.zeros(len(controls), bool) for c in definition.constraints}
    for start in range(0, len(controls), batch):
        vertices = rig.evaluate(np.clip(controls[start:start + batch], 0.0, 1.0).astype(np.float32))
        for constraint in definition.constraints:
            upper = vertices[:, constraint.vertex_pairs[:, 0], 1]
            lower = vertices[:, constraint.vertex_pairs[:, 1], 1]
            by_constraint[constraint.name][start:start + batch] = (upper - lower).min(axis=1) < -PASS_THROUGH_CM
    bad_any = bad_range | bad_opposite
    for bad in by_constraint.values():
        bad_any |= bad
    return {
        "out_of_range": float(bad_range.mean()),
        "constraints": {name: float(bad.mean()) for name, bad in by_constraint.items()},
        "opposites": float(bad_opposite.mean()),
        "any": float(bad_any.mean()),
    }
