"""A transition made by the generator kept as a session take, then read, retargeted and exported like any take."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.expression.generator import ExpressionGenerator
from studio.core.session.folder import Session, SessionError
from studio.core.session.takes import GENERATED_RIG, load_take, save_generated_take


def test_a_generated_transition_is_a_take_that_exports(assets_dir, tmp_path):
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.retarget.curves import export_take
    from studio.core.retarget.targets import load_target
    from studio.core.rig.rig import Rig

    session = Session.create(tmp_path / "s", "performer", "ict_facekit", "ict_default", ["neutral", "smile"])
    generator, _ = ExpressionGenerator.load()
    curves = generator.transition(("sadness", 1.0), ("surprise", 1.2), 45, seed=3)
    report = save_generated_take(session, "gen-1", curves, 30.0, "generated: sadness → surprise")
    assert report.rigs == (GENERATED_RIG,) and report.frames == 45
    take = load_take(Session.open(tmp_path / "s"), "gen-1")
    np.testing.assert_allclose(take.curves[GENERATED_RIG].values, curves, atol=1e-6)
    assert take.report.source.startswith("generated") and take.report.stats[GENERATED_RIG].face_fraction == 1.0
    target = load_target("rook", Rig.ict())
    export_take(take.curves[GENERATED_RIG], "livelink", tmp_path / "gen.csv", target)
    assert read_livelink_csv(tmp_path / "gen.csv").num_frames == 45
    with pytest.raises(SessionError, match="exists already"):
        save_generated_take(session, "gen-1", curves, 30.0, "again")
    with pytest.raises(SessionError, match=r"in \[0, 1\]"):
        save_generated_take(session, "gen-2", curves * 2.0, 30.0, "out of range")
    assert "gen-2" not in session.take_names()
