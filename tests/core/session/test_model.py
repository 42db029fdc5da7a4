"""The session model: one read of the session and its rig, events when captures, calibration or takes change."""

from __future__ import annotations

import json

import numpy as np
import pytest

from studio.core.calibration.reports import CalibrationReport
from studio.core.session.folder import Session
from studio.core.session.library import create_session
from studio.core.session.model import SessionModel


@pytest.fixture
def session(tmp_path, assets_dir) -> Session:
    return create_session(tmp_path / "s", "Ada", "ict_full", expression_names=["jaw_open", "smile"],
                          synthetic_seed=3)


def _record(model: SessionModel) -> dict[str, list]:
    heard: dict[str, list] = {"captures": [], "calibration": [], "takes": []}
    model.captures_changed.connect(lambda: heard["captures"].append(model.status().captured))
    model.calibration_changed.connect(lambda: heard["calibration"].append(model.has_rig_parameters("theta_S")))
    model.takes_changed.connect(lambda name: heard["takes"].append(name))
    return heard


def test_the_model_resolves_the_rig_session_json_names(session):
    model = SessionModel(session)
    assert model.bundle.name == session.rig_name == "ict_facekit"
    assert model.bundle.rig.num_controls == 53 and len(model.bundle.embedding.points) == 478
    assert model.expression_set.name == "ict_full"
    data = json.loads((session.folder / "session.json").read_text())
    data["rig"]["name"] = "no_such_rig"
    (session.folder / "session.json").write_text(json.dumps(data))
    with pytest.raises(Exception, match="unknown rig 'no_such_rig'") as error:
        SessionModel.open(session.folder)
    assert "\n" not in str(error.value)


def test_pages_hear_what_another_page_wrote(session):
    model = SessionModel(session)
    heard = _record(model)
    assert model.has_synthetic_performer and model.truth_rig is not None
    assert model.performer_rig is model.bundle.rig  # no θ_S yet: θ_A

    worker_side = Session.open(session.folder)  # a job writes through its own Session, in its own thread
    capture = _a_capture(model)
    worker_side.save_capture("neutral", capture)
    assert model.status().captured == ()  # the model reads the disk only when told
    model.captures_changed_on_disk()
    assert heard["captures"] == [("neutral",)]

    theta = model.bundle.rig.parameters
    worker_side.save_rig_parameters("theta_S", theta)
    worker_side.write_report("calibration", CalibrationReport(regularization=0.01, smoothness=0.0).to_json())
    model.calibration_changed_on_disk()
    assert heard["calibration"] == [True]
    assert model.calibration_report().regularization == 0.01
    np.testing.assert_array_equal(model.performer_rig.expression_deltas, theta.expression_deltas)

    model.take_added("take-1")
    assert heard["takes"] == ["take-1"]


def test_a_view_that_disconnected_hears_nothing(session):
    model = SessionModel(session)
    heard = []
    model.takes_changed.connect(heard.append)
    model.takes_changed.disconnect(heard.append)
    model.take_added("take-2")
    assert heard == []


def _a_capture(model: SessionModel):
    from studio.core.capture.burst import BurstCapture, average_burst
    from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES

    rng = np.random.default_rng(0)
    aligned = rng.normal(0.0, 4.0, (1, 478, 3)) + rng.normal(0.0, 0.005, (8, 478, 3))
    averaged, kept, spread = average_burst(aligned)
    return BurstCapture(
        landmarks_px=rng.uniform(100, 400, (8, 478, 3)).astype(np.float32), time_s=np.arange(8) / 30.0,
        face_found=np.ones(8, bool), aligned=aligned.astype(np.float32), averaged=averaged, kept=kept,
        blendshapes=rng.uniform(0, 1, (8, len(BLENDSHAPE_NAMES))).astype(np.float32),
        stillness_mm_per_s=3.0, spread_mm=spread,
    )
