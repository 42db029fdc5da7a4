"""The inspector's pure model: edits, events, cached identity offsets, undo/redo."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.rig.definition import RigDefinition
from studio.core.rig.inspection import RigInspection


@pytest.fixture
def inspection(ict_rig):
    return RigInspection(ict_rig, RigDefinition.ict())


def test_edits_emit_events_and_pose_the_rig(inspection, ict_rig):
    seen = []
    inspection.controls_changed.connect(lambda index: seen.append(("c", index)))
    inspection.identity_changed.connect(lambda index: seen.append(("i", index)))
    k = ict_rig.control_index("eyeBlink_L")
    inspection.set_control(k, 1.5)  # clipped to 1
    inspection.set_identity(3, 1.0)
    inspection.set_control(k, 1.0)  # unchanged: no event
    assert seen == [("c", k), ("i", 3)]
    expected = ict_rig.with_identity(np.eye(1, ict_rig.num_identity_modes, 3)[0]).evaluate(inspection.state.controls)
    np.testing.assert_allclose(inspection.vertices(), expected, atol=1e-4)


def test_a_drag_is_one_undo_step_and_redo_restores_it(inspection, ict_rig):
    jaw, smile = ict_rig.control_index("jawOpen"), ict_rig.control_index("mouthSmile_R")
    for value in (0.1, 0.2, 0.3):  # one drag of jawOpen
        inspection.set_control(jaw, value)
    inspection.set_control(smile, 0.5)
    inspection.reset_controls()
    assert not inspection.state.controls.any()
    inspection.undo()  # the reset
    assert inspection.state.controls[jaw] == pytest.approx(0.3) and inspection.state.controls[smile] == 0.5
    inspection.undo()  # the smile
    assert inspection.state.controls[smile] == 0.0 and inspection.state.controls[jaw] == pytest.approx(0.3)
    inspection.undo()  # the whole jaw drag
    assert not inspection.state.controls.any() and not inspection.can_undo
    inspection.redo()
    assert inspection.state.controls[jaw] == pytest.approx(0.3)
    inspection.set_identity(0, 2.0)  # a new edit clears the redo history
    assert not inspection.can_redo
    inspection.undo()
    np.testing.assert_allclose(inspection.vertices(), ict_rig.evaluate(inspection.state.controls), atol=1e-5)
