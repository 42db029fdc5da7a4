"""MediaPipe's response to the rig's controls: the fit, the file, the built model, one training step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from studio.core.calibration.calibrate import CalibrationPair
from studio.core.calibration.detector_response import (
    DetectorResponse,
    DetectorResponseError,
    detector_response_for,
    fit_detector_response,
    model_path,
)


def test_the_fit_recovers_a_planted_response_and_leaves_unexercised_controls_alone() -> None:
    rng = np.random.default_rng(0)
    basis = rng.normal(0.0, 0.3, (6, 40, 3))
    planted = rng.normal(0.0, 0.1, (6, 40, 3))
    planted[5] = 0.0
    controls = rng.uniform(0.0, 1.0, (400, 6)) * (rng.random((400, 6)) < 0.4)
    controls[:, 5] = 0.0  # never exercised, like a control no render moves
    displacements = np.einsum("fk,knx->fnx", controls, basis + planted) + rng.normal(0.0, 0.002, (400, 40, 3))
    offsets = fit_detector_response(controls, displacements, basis, ridge=0.1)
    assert offsets.shape == basis.shape
    assert np.abs(offsets[:5] - planted[:5]).max() < 0.01  # cm
    assert np.abs(offsets[5]).max() == 0.0
    response = DetectorResponse(tuple("abcdef"), offsets)
    np.testing.assert_allclose(response.bias(np.eye(6)[:2]), offsets[:2])
    with pytest.raises(ValueError, match="finite"):
        fit_detector_response(controls, np.full_like(displacements, np.nan), basis)


def test_a_response_file_round_trips_and_bad_files_say_one_line(tmp_path) -> None:
    names = ("a", "b")
    response = DetectorResponse(names, np.full((2, 5, 3), 0.1), {"rig": "toy", "frames": 10}, np.array([0.5, 1.0]))
    path = response.save(tmp_path / "toy.npz")
    loaded = DetectorResponse.load(path)
    assert loaded.control_names == names and loaded.metadata == {"rig": "toy", "frames": 10}
    np.testing.assert_allclose(loaded.offsets, response.offsets, atol=1e-7)
    np.testing.assert_allclose(loaded.low_gain, [0.5, 1.0])
    assert loaded.fingerprint == response.fingerprint
    for offsets, message in ((np.full((2, 5, 3), np.nan), "NaN"), (np.full((2, 5, 3), 50.0), "not a detector"),
                             (np.zeros((3, 5, 3)), "shape")):
        np.savez(tmp_path / "bad.npz", control_names=np.array(names), offsets=offsets)
        with pytest.raises(DetectorResponseError, match=message) as failure:
            DetectorResponse.load(tmp_path / "bad.npz")
        assert "\n" not in str(failure.value) and "bad.npz" in str(failure.value)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DetectorResponseError, match="not an .npz"):
        DetectorResponse.load(tmp_path / "text.npz")


def test_correcting_captures_removes_the_expected_bias_of_their_controls() -> None:
    offsets = np.zeros((2, 4, 3))
    offsets[0, :, 1] = 0.2
    offsets[1, :, 0] = -0.1
    response = DetectorResponse(("jawOpen", "smile"), offsets)
    pair = CalibrationPair("both", np.array([0.5, 1.0]), np.ones((4, 3)))
    (corrected,) = response.corrected([pair], ("jawOpen", "smile"))
    np.testing.assert_allclose(corrected.landmarks[:, 0], 1.1)
    np.testing.assert_allclose(corrected.landmarks[:, 1], 0.9)
    np.testing.assert_allclose(corrected.landmarks[:, 2], 1.0)
    assert corrected.name == "both" and pair.landmarks[0, 1] == 1.0  # the input is untouched
    with pytest.raises(DetectorResponseError, match="controls"):
        response.corrected([pair], ("jawOpen", "other"))
    with pytest.raises(DetectorResponseError, match="landmarks"):
        response.corrected([replace(pair, landmarks=np.ones((5, 3)))], ("jawOpen", "smile"))


def test_the_built_model_is_the_ict_rigs_and_explains_mediapipe_better_than_the_rig(detector_response_model) -> None:
    from studio.core.tracking.rig_bundle import RigBundle

    bundle = RigBundle.load()
    response = detector_response_for("ict_facekit", bundle.rig.expression_names)
    assert response is not None, f"{model_path('ict_facekit')} is missing: python main.py train detector-response"
    assert response.offsets.shape == (bundle.rig.num_controls, 478, 3)
    held = response.metadata["held_out_rms_mm"]
    assert held["theta_A_plus_response"] < 0.8 * held["theta_A"]  # on an identity it was not fitted on
    assert "train detector-response" in response.metadata["command"]
    assert detector_response_for("no_such_rig", bundle.rig.expression_names) is None


@pytest.mark.gl
def test_one_training_step_renders_observes_and_fits(assets_dir) -> None:
    """Two identities, three control mixes each, through the renderer and MediaPipe, then the fit."""
    from studio.core.jobs import run_job
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.detector_response_data import NEUTRAL_LEAD_FRAMES, detector_response_job

    bundle = RigBundle.load()
    progress = []
    response = run_job(detector_response_job(bundle, identities=2, segments=3, seed=5), on_progress=progress.append)
    frames = 2 * (NEUTRAL_LEAD_FRAMES + 3 * 10)
    assert progress[-1] == ("done", frames, frames) and progress[0][1] == 1
    assert response.control_names == bundle.rig.expression_names
    assert np.isfinite(response.offsets).all() and 0 < np.abs(response.offsets).max() < 5.0
    assert response.metadata["frames"] > 0.9 * frames and response.metadata["identities"] == 2
