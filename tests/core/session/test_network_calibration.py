"""The learned tracker in a session: captures keep face crops, the network is calibrated on them (finetune
--tracker network, with its report card), and takes are tracked with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def session(tmp_path_factory, record_synthetic_session):
    folder = tmp_path_factory.mktemp("network-session") / "session"
    return record_synthetic_session(folder, 6, ["jaw_open", "smile", "brows_up", "pucker"])


def test_captures_keep_face_crops_that_read_back(session):
    from studio.core.session.folder import Session

    reopened = Session.open(session.folder)
    capture = reopened.capture("jaw_open")
    assert capture.crops is not None and capture.crops.shape[1:] == (128, 128, 3)
    assert 1 <= len(capture.crops) <= 10 and capture.face_found[capture.crop_frames].all()
    assert capture.crops.std() > 10  # a face, not an empty picture


def test_finetune_tracker_network_calibrates_and_writes_its_card(session):
    env_python = [sys.executable, str(ROOT / "main.py")]
    done = subprocess.run([*env_python, "finetune", str(session.folder), "--tracker", "network", "--report-card",
                           "--folds", "2", "--quiet"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "the network calibrated (λ" in done.stdout and "report card" in done.stdout
    report = json.loads((session.folder / "calibration" / "network_report.json").read_text())
    assert report["captures"][0] == "neutral" and report["crops"] >= 5 * 1
    assert report["control_l1_after"] <= report["control_l1_before"] + 0.005
    card = report["report_card"]
    assert set(card["errors"]) == {"jaw_open", "smile", "brows_up", "pucker"}
    assert np.isfinite(list(card["overall"].values())).all()
    assert (session.folder / "calibration" / "network_calibrated.pt").is_file()


def test_session_take_is_tracked_by_both_networks(session, short_clip, tmp_path):
    from studio.core.jobs import run_job
    from studio.core.session.calibrate import calibrate_network_session_job
    from studio.core.session.takes import load_take, track_session_take_job
    from studio.core.tracking.frame_sources import VideoFileSource

    if not session.network_path().is_file():
        run_job(calibrate_network_session_job(session))
    clip = short_clip(tmp_path / "clip.avi", 20)
    with VideoFileSource(clip) as source:
        report = run_job(track_session_take_job(session, source, "clip"))
    assert {"theta_A", "network", "network_calibrated"} <= set(report.rigs)
    take = load_take(session, "clip")
    for label in ("network", "network_calibrated"):
        values = take.curves[label].values
        assert values.shape == take.curves["theta_A"].values.shape and np.isfinite(values).all()
        assert report.stats[label].frames_with_face == report.stats["theta_A"].frames_with_face
    assert not np.allclose(take.curves["network"].values, take.curves["network_calibrated"].values)


def test_network_calibration_says_so_when_captures_have_no_crops(tmp_path, session):
    import shutil

    from studio.core.errors import StudioError
    from studio.core.jobs import run_job
    from studio.core.session.calibrate import calibrate_network_session_job

    old = tmp_path / "old"
    shutil.copytree(session.folder, old)
    for burst in old.glob("**/burst.npz"):
        with np.load(burst) as data:
            arrays = {k: data[k] for k in data.files if k not in ("crops", "crop_frames")}
        np.savez_compressed(burst, **arrays)
    with pytest.raises(StudioError, match="no capture holds face crops") as error:
        run_job(calibrate_network_session_job(old))
    assert "\n" not in str(error.value)
