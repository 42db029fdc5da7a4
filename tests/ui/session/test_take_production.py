"""A take as production data (issue 20): recorded with sound and head motion → tracked → reviewed with its
footage and sound beside both rigs → exported with the head to Live Link Face, glb and USD."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.session.folder import Session
from studio.core.session.model import SessionModel

pytestmark = pytest.mark.gl

FRAMES = 75
JAW_PULSES = ((15, 30), (45, 60))  # frames where the performer opens the jaw (and the voice is loud)


@pytest.fixture(scope="module")
def recorded_take(tmp_path_factory, record_synthetic_session):
    """A session with one take recorded from a synthetic performer who talks (jaw pulses, a voice as loud as
    the jaw is open) and moves the head, then tracked with the session's rigs."""
    from studio.core.jobs import run_job
    from studio.core.session.takes import record_take_job, track_session_take_job
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.render.synthetic_performer import SyntheticPerformerSource, head_motion_curves

    folder = tmp_path_factory.mktemp("production") / "performer"
    session = record_synthetic_session(folder, 5, ["jaw_open", "smile"])
    rig = SessionModel.open(folder).bundle.rig
    curves = np.zeros((FRAMES, rig.num_controls), np.float32)
    jaw = rig.control_index("jawOpen")
    for start, stop in JAW_PULSES:
        curves[start:stop, jaw] = np.sin(np.linspace(0, np.pi, stop - start)) * 0.7
    performer = SyntheticPerformerSource(rig, curves, seed=4)
    performer.head_rotation_deg, performer.head_translation_cm = head_motion_curves(FRAMES, 30.0, 4, (12, 8, 6),
                                                                                    (1.5, 1.0, 1.0))
    session = Session.open(folder)
    video = run_job(record_take_job(session, performer, "talk", seconds=FRAMES / 30.0, realtime=False))
    with VideoFileSource(video) as source:
        report = run_job(track_session_take_job(session, source, "talk"))
    return folder, video, report, curves[:, jaw], performer


def test_a_recorded_take_keeps_its_sound_times_timecode_and_head(recorded_take):
    from studio.core.io.media import read_audio
    from studio.core.session.takes import load_take

    folder, video, report, jaw_truth, performer = recorded_take
    assert report.video == "video.mp4" and report.audio and len(report.start_timecode) == 11
    take = load_take(Session.open(folder), "talk")
    curves = take.curves["theta_A"]
    np.testing.assert_allclose(curves.time_s, np.arange(FRAMES) / 30.0, atol=1e-4)  # the frames' own times
    # the sound is in sync with the pictures: loud exactly where the tracked jaw opens, no lag
    sound = read_audio(video)
    assert sound.rate == 16000 and abs(sound.start_s) < 0.07
    loudness = sound.envelope(curves.time_s)
    tracked_jaw = curves.values[:, curves.control_names.index("jawOpen")]
    assert np.corrcoef(loudness, jaw_truth)[0, 1] > 0.95
    lags = range(-5, 6)
    agreement = [np.corrcoef(np.roll(loudness, lag)[8:-8], tracked_jaw[8:-8])[0, 1] for lag in lags]
    assert lags[int(np.argmax(agreement))] in (-1, 0, 1) and max(agreement) > 0.8
    # the head moved, and the take says how
    assert np.ptp(curves.head_pose[:, 0]) > 10.0 and np.ptp(curves.head_pose[:, 1]) > 6.0


def test_the_review_plays_footage_sound_and_both_rigs_on_one_transport(qtbot, recorded_take, tmp_path):
    from studio.core.io.gltf import read_morph_glb_summary
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.io.usd import read_blendshape_usd_summary
    from studio.core.retarget.curves import head_quaternions, import_livelink
    from studio.core.rig.state import posed_by_head
    from studio.ui.session.review_page import ReviewPage

    folder = recorded_take[0]
    page = ReviewPage(SessionModel.open(folder))
    qtbot.addWidget(page)
    page.resize(1400, 900)
    page.show()
    page.take_box.setCurrentText("talk")
    qtbot.waitUntil(lambda: page.target is not None, timeout=30_000)
    curves = page.current_curves()
    assert page.sound.available and "with sound" in page.footage_label.text()
    for frame in (22, 61, 0):  # the footage shows the frame of the same time as both rigs
        page.slider.setValue(frame)  # (the decoder answers the newest request; an older answer may come first)
        qtbot.waitUntil(lambda frame=frame: page.footage.shown_time is not None
                        and abs(page.footage.shown_time - curves.time_s[frame]) < 1e-6, timeout=10_000)  # fmt: skip
        assert page.footage.image is not None and page.footage.image.shape[2] == 3
        head = curves.head_pose[frame].astype(np.float64)
        performer = page.performer_rig.evaluate(np.nan_to_num(curves.values[frame:frame + 1]).astype(np.float64))[0]
        np.testing.assert_allclose(page.performer_vertices, performer, atol=1e-5)  # expression (unposed)
        target = page.target.rig.evaluate(np.nan_to_num(page.target.retarget(curves.values[frame].astype(np.float64))))
        np.testing.assert_allclose(page.target_vertices, posed_by_head(target, head[:3], head[3:]), atol=1e-4)
    page.head_box.setChecked(False)  # the head toggle: the target's head stands still
    np.testing.assert_allclose(page.target_vertices, target, atol=1e-5)
    page.head_box.setChecked(True)
    # play: the sound starts from the transport's time, the pictures follow to the end
    page.loop_box.setChecked(False)
    page.slider.setValue(40)
    page.play_button.setChecked(True)
    qtbot.waitUntil(lambda: not page.play_button.isChecked(), timeout=20_000)
    assert page.frame == curves.num_frames - 1 and page.footage.shown_time is not None
    # exports carry the head: Live Link (round trip), glb (head node), USD (head joint)
    worker = page.export("livelink", tmp_path / "talk.csv")
    with qtbot.waitSignal(worker.finished, timeout=30_000):
        pass
    livelink = read_livelink_csv(tmp_path / "talk.csv")
    assert np.abs(livelink.head).max() > np.deg2rad(5.0)
    head = curves.filled_head_pose()
    np.testing.assert_allclose(import_livelink(tmp_path / "talk.csv").head_pose[:, :3], head[:, :3], atol=1e-3)
    for fmt, name in (("glb", "talk.glb"), ("usd", "talk.usd")):
        worker = page.export(fmt, tmp_path / name)
        with qtbot.waitSignal(worker.finished, timeout=30_000):
            pass
    glb = read_morph_glb_summary(tmp_path / "talk.glb")
    np.testing.assert_allclose(glb["head_rotation"], head_quaternions(head), atol=1e-6)
    usd = read_blendshape_usd_summary(tmp_path / "talk.usd", frames=[0, 30, 74])
    assert usd["head_samples"] == FRAMES and np.abs(usd["head_translation_cm"]).max() > 0.1
    page.close()


def test_a_take_without_video_says_so(qtbot, recorded_take):
    from studio.core.session.takes import save_generated_take
    from studio.ui.session.review_page import ReviewPage

    folder = recorded_take[0]
    model = SessionModel.open(folder)
    save_generated_take(model.session, "made", np.zeros((10, model.bundle.rig.num_controls), np.float32), 30.0,
                        "test")
    page = ReviewPage(SessionModel.open(folder))
    qtbot.addWidget(page)
    page.show()
    page.take_box.setCurrentText("made")
    assert "no video" in page.footage.picture.text() and not page.sound.available
    qtbot.waitUntil(lambda: page.target is not None, timeout=30_000)  # let the page's workers end first
    page.close()


def test_exports_count_from_the_takes_timecode(recorded_take, tmp_path):
    from studio.core.io.curves import read_curves_json
    from studio.core.io.gltf import read_morph_glb_summary
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.io.media import timecode_seconds
    from studio.core.io.usd import read_blendshape_usd_summary
    from studio.core.retarget.curves import export_take
    from studio.core.session.takes import load_take

    folder, _video, report, _jaw, _performer = recorded_take
    curves = load_take(Session.open(folder), "talk").curves["theta_A"]
    start = report.start_timecode
    livelink = read_livelink_csv(export_take(curves, "livelink", tmp_path / "t.csv", start_timecode=start), fps=30)
    assert livelink.timecodes[0].startswith(start) and livelink.timecodes[0].endswith(".000")
    assert livelink.start_timecode_s == pytest.approx(timecode_seconds(start, 30.0), abs=1e-3)
    assert read_morph_glb_summary(export_take(curves, "glb", tmp_path / "t.glb", start_timecode=start))[
        "start_timecode"] == start
    assert read_blendshape_usd_summary(export_take(curves, "usd", tmp_path / "t.usda", start_timecode=start))[
        "start_timecode"] == start
    import json

    assert json.loads(export_take(curves, "json", tmp_path / "t.json", start_timecode=start).read_text())[
        "start_timecode"] == start
    assert read_curves_json(tmp_path / "t.json").head_pose is not None
    with pytest.raises(ValueError, match="expected HH:MM:SS:FF"):
        export_take(curves, "livelink", tmp_path / "bad.csv", start_timecode="25:61:00:40")
    assert not (tmp_path / "bad.csv").exists()


def test_a_take_records_the_sessions_shape_response_and_the_review_applies_it_or_not(qtbot, recorded_take, tmp_path):
    from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
    from studio.core.io.livelink import read_livelink_csv
    from studio.core.jobs import run_job
    from studio.core.rig.response import ResponseSet, ShapeResponse
    from studio.core.session.takes import load_take, track_session_take_job
    from studio.core.tracking.frame_sources import VideoFileSource
    from studio.ui.session.review_page import ReviewPage

    folder, video, _report, _jaw, _performer = recorded_take
    session = Session.open(folder)
    response = ResponseSet({"jawOpen": ShapeResponse(multiplier=1.6, curve=((0, 0), (0.3, 0.5), (1, 1)))})
    session.write_response(response)
    try:
        with VideoFileSource(video) as source:
            report = run_job(track_session_take_job(session, source, "talk-shaped"))
    finally:
        (folder / "response.json").unlink()
    assert ResponseSet.from_json(report.response) == response
    take = load_take(session, "talk-shaped")
    raw = take.curves["theta_A"]
    jaw = raw.control_names.index("jawOpen")
    shaped = take.with_response("theta_A")
    np.testing.assert_allclose(shaped.values[:, jaw], response.get("jawOpen").shape(raw.values[:, jaw]), atol=1e-6)
    page = ReviewPage(SessionModel.open(folder))
    qtbot.addWidget(page)
    page.show()
    page.take_box.setCurrentText("talk-shaped")
    qtbot.waitUntil(lambda: page.target is not None, timeout=30_000)
    assert page.response_box.isEnabled() and page.response_box.isChecked()
    np.testing.assert_allclose(page.current_curves().values, shaped.values, atol=1e-6)
    for name, applied in (("shaped.csv", True), ("raw.csv", False)):  # exported with it, and raw
        page.response_box.setChecked(applied)
        worker = page.export("livelink", tmp_path / name)
        with qtbot.waitSignal(worker.finished, timeout=30_000):
            pass
    column = ARKIT_BLENDSHAPE_NAMES.index("jawOpen")
    shaped_jaw, raw_jaw = (read_livelink_csv(tmp_path / name).arkit[:, column] for name in ("shaped.csv", "raw.csv"))
    assert shaped_jaw.max() > raw_jaw.max() + 0.1
    page.close()


def test_the_shoot_page_processes_a_folder_and_opens_a_take_in_the_review(qtbot, recorded_take, tmp_path, short_clip):
    from studio.core.session.calibrate import calibrate_session
    from studio.ui.session.window import SessionWindow

    folder = recorded_take[0]
    calibrate_session(folder)  # a shoot needs θ_S
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    short_clip(shoot / "a.avi", frames=30)
    (shoot / "bad.mp4").write_bytes(b"\x00" * 4000)
    window = SessionWindow(folder)
    qtbot.addWidget(window)
    window.show()
    page = window.shoot
    page.targets_edit.setText("performer")
    page.formats_edit.setText("csv")
    page.workers_box.setValue(1)
    with qtbot.waitSignal(page.sigShootFinished, timeout=120_000) as finished:
        page.start(shoot)
    assert finished.args == [True], page.status.text()
    assert page.table.rowCount() == 2 and "1 takes done, 1 failed" in page.status.text()
    statuses = {page.table.item(r, 0).text(): page.table.item(r, COLUMN_STATUS).text() for r in range(2)}
    assert statuses == {"shoot-a": "done", "shoot-bad": "failed"}
    row = next(r for r in range(2) if page.table.item(r, 0).text() == "shoot-a")
    assert not page.open_take(1 - row)  # a failed take has nothing to review
    assert page.open_take(row)
    qtbot.waitUntil(lambda: window.review is not None and window.review.take_box.currentText() == "shoot-a",
                    timeout=30_000)  # fmt: skip
    assert window.tabs.currentWidget() is window._review_tab
    qtbot.waitUntil(lambda: window.review.target is not None, timeout=30_000)
    window.close()


COLUMN_STATUS = 6
