"""The whole studio workflow under Xvfb, driven as a person would: capture → calibrate → fine-tune → take →
review, checking the session's state after each step."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.qt


def test_the_walkthrough_goes_from_capture_to_review(qtbot, tmp_path, monkeypatch, assets_dir):
    from studio.core.rig.rig import RigParameters
    from studio.core.session.folder import Session
    from studio.core.session.takes import load_take
    from studio.ui.walkthrough import SCREENSHOTS, Walkthrough

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "session"
    walkthrough = Walkthrough(tmp_path / "shots", folder, expression_names=["jaw_open", "smile", "brows_up"],
                              take_seconds=2.0, timeout_s=600.0, quit_when_done=False)
    states = {}

    def check(step: str) -> None:  # the session on disk after each step
        session = Session.open(folder)
        calibration = session.calibration_folder
        states[step] = {
            "captured": session.status().captured,
            "theta_S": (calibration / "theta_S.npz").exists(),
            "theta_S_hat": (calibration / "theta_S_hat.npz").exists(),
            "report_card": (calibration / "report_card.json").exists(),
            "takes": session.take_names(),
        }

    walkthrough.sigStep.connect(check)
    with qtbot.waitSignal(walkthrough.sigFinished, timeout=600_000) as finished:
        walkthrough.start()
    assert finished.args == [None], walkthrough.error
    names = ("neutral", "jaw_open", "smile", "brows_up")
    assert states["open"]["captured"] == ()
    assert states["capture"] == {"captured": names, "theta_S": False, "theta_S_hat": False, "report_card": False,
                                 "takes": []}
    assert states["calibration"]["theta_S"] and not states["calibration"]["theta_S_hat"]
    assert states["finetune"]["theta_S_hat"] and states["finetune"]["takes"] == []
    assert states["report card"]["report_card"] and not states["finetune"]["report_card"]
    assert states["take"]["takes"] == ["take-1"]
    # the review page showed the stored take, tracked with the most refined rig, and played it
    window = walkthrough.window
    review = window.review
    take = load_take(Session.open(folder), "take-1")
    curves = take.curves
    # the landmark tracker with each rig, then the shipped learned tracker (the network is not calibrated here)
    assert take.report.rigs == ("theta_A", "theta_S", "theta_S_hat", "network") and take.report.frames == 60
    assert review.take_box.currentText() == "take-1" and review.rig_box.currentText() == "theta_S_hat"
    np.testing.assert_array_equal(review.current_curves().values, curves["theta_S_hat"].values)
    assert walkthrough.figures["review_frame"] > 0  # it played
    # the calibration page showed smile's capture beside the rig posed as smile with θ_A and with θ_S
    calibration = window.calibration
    assert calibration.compared == "smile" and not calibration.capture_label.pixmap().isNull()
    # ... and the report card: each capture tracked by rigs made without it, per expression and overall
    assert calibration.card_table.rowCount() == 4  # 3 expressions, then the overall means
    assert calibration.card_table.verticalHeaderItem(3).text() == "overall"
    assert "recommended for takes" in calibration.card_label.text()
    assert walkthrough.figures["report_card"]["folds"] == 3
    smile = calibration.comparison_views["theta_S"][0].face.vertices
    assert np.abs(smile - calibration.comparison_views["theta_A"][0].face.vertices).max() > 0.01  # cm
    # the take came from the synthetic performer: its true face is known, the heatmap shows the error
    assert review.heatmap_box.isEnabled() and review.heatmap_box.isChecked()
    assert review.error_mm.shape == (review.performer_rig.num_vertices,)
    assert 0.0 < np.median(review.error_mm) < 5.0
    theta_s = RigParameters.load(folder / "calibration" / "theta_S.npz")
    np.testing.assert_allclose(review.performer_rig.expression_deltas, theta_s.expression_deltas)
    # the captures page shows every capture in its review grid, flags marked
    grid = window.capture.grid
    assert grid.count() == 4 and all(not grid.item(i).icon().isNull() for i in range(4))
    flagged = Session.open(folder).status().flagged
    assert all(grid.item(names.index(n)).text().startswith("⚠") for n in flagged)
    summary = json.loads((tmp_path / "shots" / "walkthrough.json").read_text())
    assert summary["error"] is None and set(summary["steps_s"]) == {
        "open", "capture", "calibration", "finetune", "report card", "take", "review", "generate", "response"}
    assert "% of frames agree" in summary["figures"]["review_emotion"]
    # the recorded take has its footage and sound in the review; the live view's shape response was saved
    assert take.report.video == "video.mp4" and take.report.audio
    footage = summary["figures"]["review_footage"]
    assert footage["sound"] and footage["frame_shown_s"] is not None and "with sound" in footage["label"]
    assert summary["figures"]["response_shapes"] == ["jawOpen"]
    assert Session.open(folder).response().get("jawOpen").multiplier == 1.4
    assert summary["figures"]["generated_take"] in Session.open(folder).take_names()
    for name in SCREENSHOTS:
        assert (tmp_path / "shots" / name).stat().st_size > 10_000


def test_the_capture_page_is_driven_by_the_keyboard(qtbot, tmp_path, assets_dir):
    from PySide6.QtCore import Qt

    from studio.core.session.library import create_session
    from studio.core.session.model import SessionModel
    from studio.ui.session.capture_page import CapturePage

    session = create_session(tmp_path / "s", "Ada", "ict_full", expression_names=["jaw_open", "smile"])
    page = CapturePage(SessionModel(session))
    qtbot.addWidget(page)
    page.show()
    qtbot.waitExposed(page)
    assert page.progress_label.text() == "1 of 3: Neutral" and "Relax" in page.cue_label.text()
    assert page.source_box.currentText() == "camera:0"  # a real performer's session: the camera
    page.activateWindow()
    qtbot.waitActive(page)
    page.setFocus()
    qtbot.waitUntil(page.hasFocus)
    window = page.windowHandle()  # through the window, as a keyboard does: shortcuts apply
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert page.commands.drain() == [("step", 1), ("step", -1)]
    qtbot.keyClick(window, Qt.Key.Key_Space)  # nothing runs: nothing to capture
    assert page.commands.drain() == []
    page.grid.setCurrentRow(2)
    qtbot.keyClick(window, Qt.Key.Key_R)
    assert page.commands.drain() == [("retake", "smile")]
    page.auto_box.setChecked(False)
    assert page.commands.drain() == [("auto", False)]
    page.close_views()


def test_a_missing_camera_stops_the_capture_with_one_line(qtbot, tmp_path, assets_dir):
    from studio.core.session.library import create_session
    from studio.core.session.model import SessionModel
    from studio.ui.session.capture_page import CapturePage

    session = create_session(tmp_path / "s", "Ada", "ict_full", expression_names=["jaw_open"])
    page = CapturePage(SessionModel(session), source="camera:7")
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.sigStopped, timeout=60_000) as stopped:
        page.start()
    reason = stopped.args[0]
    assert "camera" in reason and "\n" not in reason
    assert page.phase_label.text().startswith("Stopped:") and not page.busy
    page.close_views()
