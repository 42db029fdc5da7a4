"""The calibration page runs calibration and fine-tuning in workers without freezing the window."""

from __future__ import annotations

import time

import numpy as np
import pytest

from studio.core.session.folder import Session
from studio.core.session.model import SessionModel

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def session_folder(tmp_path_factory, record_synthetic_session):
    folder = tmp_path_factory.mktemp("sessions") / "performer"
    record_synthetic_session(folder, 5, ["jaw_open", "smile", "brows_up"])
    return folder


class _StallMeter:
    """Records the longest gap between ticks of a 5 ms timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.last = time.perf_counter()
        self.longest = 0.0
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()


def test_calibrate_then_finetune_in_workers_while_the_event_loop_runs(qtbot, session_folder):
    from studio.ui.session.calibration_page import CalibrationPage

    page = CalibrationPage(SessionModel.open(session_folder))
    qtbot.addWidget(page)
    page.show()
    assert not page.finetune_button.isEnabled()  # no θ_S yet
    meter = _StallMeter()
    with qtbot.waitSignal(page.sigJobFinished, timeout=120_000) as finished:
        page.calibrate()
        assert page.busy and not page.calibrate_button.isEnabled()
    meter.stop()
    assert finished.args == ["calibration", True]
    assert (session_folder / "calibration" / "theta_S.npz").exists()
    assert meter.ticks > 20
    print(f"calibration: longest event-loop stall {meter.longest * 1000:.1f} ms over {meter.ticks} ticks")
    assert meter.longest < 0.1, f"the GUI thread stalled {meter.longest * 1000:.0f} ms during calibration"
    bars = [item for item in page.residual_plot.getPlotItem().items if hasattr(item, "opts") and "width" in item.opts]
    assert len(bars) == 2 and len(bars[0].opts["width"]) == 3  # before/after for the three expressions
    assert np.all(np.asarray(bars[1].opts["width"]) < np.asarray(bars[0].opts["width"]))
    assert page.finetune_button.isEnabled()

    with qtbot.waitSignal(page.sigJobFinished, timeout=120_000) as finished:
        page.finetune()
    assert finished.args == ["finetune", True]
    assert (session_folder / "calibration" / "theta_S_hat.npz").exists()
    assert "fine-tuning done" in page.log.toPlainText()

    # the report card: three folds (one capture out each), in a worker, then its table and its summary
    assert page.card_table.rowCount() == 0 and "not made yet" in page.card_label.text()
    meter = _StallMeter()
    with qtbot.waitSignal(page.sigJobFinished, timeout=300_000) as finished:
        page.make_report_card()
        assert page.busy and not page.card_button.isEnabled()
    meter.stop()
    assert finished.args == ["report card", True]
    assert meter.longest < 0.1, f"the GUI thread stalled {meter.longest * 1000:.0f} ms during the report card"
    assert page.card_table.rowCount() == 4 and page.card_table.verticalHeaderItem(3).text() == "overall"
    assert [page.card_table.horizontalHeaderItem(i).text() for i in range(3)] == ["θ_A", "θ_S", "fine-tuned θ_S"]
    assert all(float(page.card_table.item(r, c).text()) >= 0 for r in range(4) for c in range(3))
    assert "recommended for takes" in page.card_label.text() and "STALE" not in page.card_label.text()
    # keeping θ_A for the takes is remembered by the session
    page.takes_rig_box.setCurrentIndex(page.takes_rig_box.findData("theta_A"))
    assert Session.open(session_folder).takes_rig == "theta_A"
    page.takes_rig_box.setCurrentIndex(0)
    assert Session.open(session_folder).takes_rig is None


def test_cancel_stops_the_job_and_writes_nothing(qtbot, session_folder, tmp_path):
    import shutil

    from studio.ui.session.calibration_page import CalibrationPage

    folder = tmp_path / "copy"
    shutil.copytree(session_folder, folder)
    for name in ("theta_S.npz", "report.json", "theta_S_hat.npz", "finetune_report.json"):
        (folder / "calibration" / name).unlink(missing_ok=True)
    page = CalibrationPage(SessionModel.open(folder))
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.sigJobFinished, timeout=120_000) as finished:
        page.calibrate()
        page.cancel()
    assert finished.args == ["calibration", False]
    assert not (folder / "calibration" / "theta_S.npz").exists()
    assert not page.busy and page.calibrate_button.isEnabled()


def test_takes_page_tracks_a_video_with_every_rig_and_shows_its_curves(qtbot, session_folder, tmp_path, short_clip):
    from studio.core.session.calibrate import calibrate_session, finetune_session
    from studio.core.session.takes import load_take
    from studio.ui.session.takes_page import TakesPage

    if not (session_folder / "calibration" / "theta_S_hat.npz").exists():
        calibrate_session(session_folder)
        finetune_session(session_folder)
    page = TakesPage(SessionModel.open(session_folder))
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(page.sigTakeTracked, timeout=180_000) as tracked:
        page.import_video(short_clip(tmp_path / "clip.avi"), "clip")
        assert page.busy and not page.import_button.isEnabled()
    assert tracked.args == ["clip", True]
    session = Session.open(session_folder)
    assert session.take_names() == ["clip"]
    take = load_take(session, "clip")
    curves = take.curves
    # the landmark tracker with each rig, then the learned tracker (the shipped network; no calibrated one yet)
    assert take.report.rigs == ("theta_A", "theta_S", "theta_S_hat", "network") and take.report.frames == 40
    assert page.take_list.currentItem().text() == "clip" and page.metrics.rowCount() == 4
    assert page.rig_box.currentText() == "theta_S_hat"  # the landmark tracker's most refined rig is shown first
    shown = [item for item in page.plot.getPlotItem().listDataItems()]
    assert len(shown) == len(page.selected_controls()) == 5
    rig = page.rig_box.currentText()
    first = page.selected_controls()[0]
    np.testing.assert_array_equal(
        shown[0].getData()[1], curves[rig].values[:, curves[rig].control_names.index(first)]
    )
    with qtbot.waitSignal(page.sigFrameChanged) as moved:
        page.cursor.setValue(float(curves[rig].time_s[20]))
    assert moved.args == [20]


def test_session_window_remembers_the_session_and_closes_cleanly(qtbot, session_folder, tmp_path, monkeypatch):
    from studio.core.session.library import recent_sessions
    from studio.ui.session.window import SessionWindow

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    window = SessionWindow(session_folder)
    qtbot.addWidget(window)
    window.show()
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == [
        "Capture", "Calibration", "Takes", "Review", "Generate", "Shoot"]
    assert window.review is None and window.generate is None  # their GL views wait until the tab is shown
    window.tabs.setCurrentIndex(3)
    assert window.review is not None and window.review.isVisible() and window.generate is None
    window.tabs.setCurrentIndex(4)
    assert window.generate is not None and window.generate.isVisible()
    assert recent_sessions() == [session_folder.resolve()]
    window.calibration.calibrate()
    assert window.busy
    window.close()  # cancels the job; the session's files stay whole
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)


def test_demo_session_is_created_on_first_use_then_reopened(tmp_path, monkeypatch, assets_dir):
    from studio.core.rig.rig import RigParameters
    from studio.core.session.library import DEMO_SEED, open_demo_session

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    session = open_demo_session()
    assert session.folder == tmp_path / "data" / "sessions" / "demo"
    assert session.status().missing[0] == "neutral" and len(session.expression_names) == 40
    assert str(DEMO_SEED) in session.performer["notes"]
    truth = RigParameters.load(session.calibration_folder / "theta_GT.npz")  # the performer who plays it
    assert np.isfinite(truth.expression_deltas).all()
    (session.folder / "marker").write_text("kept")
    assert open_demo_session().folder == session.folder and (session.folder / "marker").exists()


def _ensure_review_take(session_folder, tmp_path, short_clip) -> None:
    """Track the start of d10.mp4 into the session as take ``review`` (once per session)."""
    from studio.core.jobs import run_job
    from studio.core.session.takes import track_session_take_job
    from studio.core.tracking.frame_sources import VideoFileSource

    session = Session.open(session_folder)
    if "review" not in session.take_names():
        with VideoFileSource(short_clip(tmp_path / "clip.avi")) as source:
            run_job(track_session_take_job(session, source, "review"))


def test_review_plays_the_take_on_both_rigs_linked_with_the_curves(qtbot, session_folder, tmp_path, short_clip):
    from studio.core.session.takes import load_take
    from studio.ui.session.review_page import ReviewPage

    _ensure_review_take(session_folder, tmp_path, short_clip)
    page = ReviewPage(SessionModel.open(session_folder))
    qtbot.addWidget(page)
    page.show()
    page.take_box.setCurrentText("review")
    curves = load_take(Session.open(session_folder), "review").curves
    rig = page.rig_box.currentText()
    page.slider.setValue(12)  # slider → frame, cursor and both rigs
    assert page.frame == 12 and page.cursor.value() == pytest.approx(curves[rig].time_s[12])
    expected = page.performer_rig.evaluate(np.nan_to_num(curves[rig].values[12:13]).astype(np.float64))[0]
    np.testing.assert_allclose(page.performer_vertices, expected, atol=1e-6)
    page.cursor.setValue(float(curves[rig].time_s[30]))  # cursor → slider
    assert page.frame == 30 and page.slider.value() == 30
    frames = []
    page.sigFrameChanged.connect(frames.append)
    page.loop_box.setChecked(False)
    page.play_button.setChecked(True)
    qtbot.waitUntil(lambda: not page.play_button.isChecked(), timeout=20_000)  # plays to the end, stops
    assert frames[0] == 31 and frames[-1] == curves[rig].num_frames - 1
    page.close()


def test_review_retargets_the_take_to_every_kind_of_target_and_exports_it(qtbot, session_folder, tmp_path, short_clip):
    import trimesh

    from studio.core.io.curves import TakeCurves
    from studio.core.io.gltf import read_morph_glb_summary
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.io.usd import read_blendshape_usd_summary
    from studio.core.rig.state import posed_by_head
    from studio.ui.session.review_page import DEFAULT_TARGET, ReviewPage

    _ensure_review_take(session_folder, tmp_path, short_clip)
    page = ReviewPage(SessionModel.open(session_folder))
    qtbot.addWidget(page)
    page.show()
    page.take_box.setCurrentText("review")
    qtbot.waitUntil(lambda: page.target is not None and page.target.name == DEFAULT_TARGET, timeout=20_000)
    curves = page.current_curves()
    kinds = {}
    for index in range(page.target_box.count()):
        name = page.target_box.itemData(index)
        page.target_box.setCurrentIndex(index)
        qtbot.waitUntil(lambda name=name: page.target is not None and page.target.name == name, timeout=30_000)
        target = page.target
        kinds[target.kind] = name
        page.slider.setValue(20)
        expected = target.rig.evaluate(np.nan_to_num(target.retarget(curves.values[20].astype(np.float64))))
        head = curves.head_pose[20].astype(np.float64)  # the take's head motion moves every target's head
        np.testing.assert_allclose(page.target_vertices, posed_by_head(expected, head[:3], head[3:]), atol=1e-4)
        assert target.label in page.target_label.text()
        if target.kind in ("stylized", "game"):
            for fmt, suffix in (("livelink", ".csv"), ("csv", ".csv"), ("json", ".json"), ("glb", ".glb"),
                                ("usd", ".usd")):
                path = tmp_path / f"{target.name}-{fmt}{suffix}"
                worker = page.export(fmt, path)
                with qtbot.waitSignal(worker.finished, timeout=30_000):
                    pass
                assert path.exists(), page.status_label.text()
                assert f"exported {path.name}" in page.status_label.text()
            glb = read_morph_glb_summary(tmp_path / f"{target.name}-glb.glb")
            assert glb["target_names"] == target.control_names and glb["weights"].shape == (curves.num_frames, len(target.control_names))
            scene = trimesh.load(tmp_path / f"{target.name}-glb.glb", force="scene", process=False)
            (geometry,) = scene.geometry.values()
            assert len(geometry.vertices) == target.rig.num_vertices
            assert len(geometry.metadata["targetNames"]) == len(target.control_names)
            assert read_livelink_csv(tmp_path / f"{target.name}-livelink.csv").num_frames == curves.num_frames
            usd = read_blendshape_usd_summary(tmp_path / f"{target.name}-usd.usd")
            assert usd["shape_names"] == target.control_names and len(usd["time_codes"]) == curves.num_frames
            exported = TakeCurves.read_csv(tmp_path / f"{target.name}-csv.csv")
            assert exported.control_names == target.control_names
    assert set(kinds) == {"identity", "stylized", "game"}
    assert any(name.startswith("session:") for name in kinds.values()) or page.target_box.findData(
        f"session:{session_folder}") >= 0
    page.close()


def test_review_shows_the_emotion_on_the_performer_and_the_target(qtbot, session_folder, tmp_path, short_clip):
    from studio.core.expression.classifier import EmotionRecognizer
    from studio.core.retarget.emotion import retarget_emotions
    from studio.ui.session.review_page import EMOTION_SMOOTH_S, ReviewPage

    _ensure_review_take(session_folder, tmp_path, short_clip)
    page = ReviewPage(SessionModel.open(session_folder))
    qtbot.addWidget(page)
    page.show()
    page.take_box.setCurrentText("review")
    index = page.target_box.findData("rook")  # the game rig, read through its own controls
    page.target_box.setCurrentIndex(index)
    qtbot.waitUntil(lambda: page.target is not None and page.target.name == "rook", timeout=30_000)
    qtbot.waitUntil(lambda: page.emotion_strip.performer is not None, timeout=30_000)
    curves = page.current_curves()
    values = np.where(curves.face_found[:, None], curves.values, np.nan)
    expected = retarget_emotions(values, page.target, EmotionRecognizer.load(),
                                 int(round(EMOTION_SMOOTH_S * curves.fps)))
    np.testing.assert_array_equal(page.emotion_strip.performer, expected.performer)
    np.testing.assert_array_equal(page.emotion_strip.target, expected.target)
    assert f"{100 * expected.agreement:.0f} % of frames agree" in page.emotion_strip.title.text()
    assert page.target.label in page.emotion_strip.title.text()
    page.close()


def test_generate_page_shows_variations_on_targets_and_saves_a_transition_as_a_take(qtbot, session_folder):
    from studio.core.session.takes import GENERATED_RIG, load_take
    from studio.ui.session.generate_page import GeneratePage

    model = SessionModel.open(session_folder)
    added = []
    model.takes_changed.connect(added.append)
    page = GeneratePage(model)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.generator is not None, timeout=20_000)
    page.emotion_box.setCurrentText("anger")
    page.intensity.setValue(130)
    assert "exaggerated" in page.intensity_label.text()
    first = page.pose.copy()
    np.testing.assert_allclose(first, page.generator.sample("anger", 1.3, 1, seed=0)[0], atol=1e-6)
    page.another.click()
    assert page.variation.value() == 1 and not np.allclose(first, page.pose)
    page.target_box.setCurrentIndex(page.target_box.findData("toon"))
    qtbot.waitUntil(lambda: page.target is not None and page.target.name == "toon", timeout=30_000)
    page.to_box.setCurrentText("happiness")
    page.frames.setValue(20)
    page.play_button.setChecked(True)
    qtbot.waitUntil(lambda: page._frame >= 5, timeout=10_000)
    page.play_button.setChecked(False)
    name = page.save_transition()
    assert name == "generated-anger-to-happiness-1" and added == [name]
    take = load_take(Session.open(session_folder), name)
    assert take.report.rigs == (GENERATED_RIG,) and take.report.frames == 20
    assert page.save_transition() is None and "exists already" in page.status.text()
    page.close_views()
