"""Impossible poses: lips or lids through each other, opposite controls on together."""

from __future__ import annotations

import numpy as np

from studio.core.rig.definition import RigDefinition
from studio.core.rig.validity import opposite_pairs, violations


def test_violations_find_lips_through_each_other_and_opposites(ict_rig):
    definition = RigDefinition.ict()
    names = definition.control_names
    poses = np.zeros((5, len(names)))
    poses[1, [names.index("jawOpen"), names.index("mouthClose")]] = 1.0  # sealed: the rig's own corrective pose
    poses[2, names.index("jawOpen")], poses[2, names.index("mouthClose")] = 0.3, 0.8  # lips through each other
    poses[3, [names.index("jawLeft"), names.index("jawRight")]] = 0.6
    poses[4, names.index("eyeBlink_L")] = 1.0  # a full blink is allowed
    found = violations(ict_rig, definition, poses)
    assert found["constraints"]["lip_seal"] == 0.2 and found["opposites"] == 0.2 and found["any"] == 0.4
    assert found["constraints"]["eyelid_closure_L"] == 0.0
    assert violations(ict_rig, definition, np.full((1, len(names)), 1.2))["out_of_range"] == 1.0
    assert len(opposite_pairs(definition)) == 8
