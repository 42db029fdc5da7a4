"""A Simon-Says session recorded from a synthetic performer calibrates end to end (render → MediaPipe → θ_S)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def calibrated_session(tmp_path_factory, record_synthetic_session):
    from studio.core.session.calibrate import calibrate_session

    folder = tmp_path_factory.mktemp("sessions") / "performer"
    session = record_synthetic_session(folder, 3, ["jaw_open", "lips_sealed_jaw_open", "smile"])
    result, report = calibrate_session(folder)
    return session, result, report


def test_session_records_neutral_first_and_every_expression(calibrated_session):
    session, _, _ = calibrated_session
    status = session.status()
    assert session.expression_names[0] == "neutral"
    assert set(status.captured) == {"neutral", "jaw_open", "lips_sealed_jaw_open", "smile"} and not status.missing
    assert (session.calibration_folder / "theta_GT.npz").exists()


def test_calibration_fits_the_captures_and_keeps_the_lips_sealed(calibrated_session, ict_rig):
    from studio.core.rig.definition import RigDefinition
    from studio.core.rig.rig import RigParameters

    session, result, report = calibrated_session
    theta_s = RigParameters.load(session.calibration_folder / "theta_S.npz")
    assert theta_s.expression_deltas.shape == ict_rig.expression_deltas.shape
    saved = json.loads((session.calibration_folder / "report.json").read_text())
    assert saved["expressions"] == ["jaw_open", "lips_sealed_jaw_open", "smile"]
    for name, residual in saved["residual_mm"].items():
        assert residual["after"] < residual["before"], name
    seal = RigDefinition.ict().constraint("lip_seal")
    calibrated = ict_rig.with_parameters(theta_s)
    gap = lambda rig: np.linalg.norm(np.subtract(*rig.evaluate(seal.control_vector(rig.expression_names))[seal.vertex_pairs.T]), axis=1).mean()  # noqa: E731
    assert gap(calibrated) <= gap(ict_rig) + 0.005  # cm


def test_the_report_reads_back_as_it_was_written(calibrated_session):
    from studio.core.calibration.reports import CalibrationReport

    session, _, report = calibrated_session
    saved = json.loads((session.calibration_folder / "report.json").read_text())
    assert CalibrationReport.from_json(saved) == report
    assert CalibrationReport.from_json(saved).to_json() == saved  # the file keeps its keys, in their order
    assert list(saved)[:2] == ["session", "expressions"]
    assert list(saved)[-3:] == ["flagged_captures", "wall_seconds", "detector_response"]
    assert saved["detector_response"].startswith("mediapipe_on_ict_facekit.npz ")  # the shipped model was used


def test_calibrate_command_says_what_it_did_in_one_line(calibrated_session, tmp_path):
    import shutil

    session, _, _ = calibrated_session
    folder = tmp_path / "again"
    shutil.copytree(session.folder, folder)
    result = subprocess.run([sys.executable, "main.py", "calibrate", str(folder)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=os.environ)
    assert result.returncode == 0, result.stderr
    assert "calibrated 3 expressions" in result.stdout and "landmark residual" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1


def test_calibrate_command_refuses_a_folder_without_a_session(tmp_path, assets_dir):
    result = subprocess.run([sys.executable, "main.py", "calibrate", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env=os.environ)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_finetune_command_writes_theta_s_hat_and_track_uses_it(calibrated_session, tmp_path, short_clip):
    from studio.core.rig.rig import RigParameters

    session, _, _ = calibrated_session
    result = subprocess.run([sys.executable, "main.py", "finetune", "--quiet", str(session.folder)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, env=os.environ)
    assert result.returncode == 0, result.stderr
    theta_hat = RigParameters.load(session.calibration_folder / "theta_S_hat.npz")
    assert theta_hat.metadata["stage"] == "theta_S_hat" and theta_hat.metadata["theta_R"] == "theta_S"
    report = json.loads((session.calibration_folder / "finetune_report.json").read_text())
    assert [s["stage"] for s in report["stages"]] == [1, 2, 3, 4]
    assert report["expressions"] == ["jaw_open", "lips_sealed_jaw_open", "smile"]
    before, after = report["metrics"]["theta_S"], report["metrics"]["theta_S_hat"]
    assert after["control_l2"] <= before["control_l2"] + 1e-6  # the full tracker never got worse on them
    assert set(before) == {"sparsity", "tweaker", "control_l2", "control_linf", "landmark_mm"}
    if not (ROOT.parent / "shared" / "footage" / "d10.mp4").exists():
        pytest.skip("no footage beside the checkout")
    clip, out, stats = short_clip(tmp_path / "clip.avi", 45), tmp_path / "clip.csv", tmp_path / "clip.json"
    result = subprocess.run(
        [sys.executable, "main.py", "track", "--quiet", str(clip), "--out", str(out), "--json", str(stats),
         "--neutral", "0:15", "--rig-params", str(session.calibration_folder / "theta_S_hat.npz")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(stats.read_text())["rig_stage"] == "theta_S_hat"


def test_finetune_command_needs_a_calibration_first(tmp_path, assets_dir):
    from studio.core.session.folder import Session

    Session.create(tmp_path / "s", {"name": "p"}, "ict_facekit", "ict_default", ["neutral", "jaw_open"])
    result = subprocess.run([sys.executable, "main.py", "finetune", str(tmp_path / "s")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=os.environ)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "run calibrate first" in result.stderr
