"""Live tracking: the per-frame model and job (pure), and the live view window (Qt, Xvfb, EGL).

Run: ``STUDIO_ASSETS_DIR=../shared/assets pytest tests/ui/tools/test_live_view.py`` (real footage is read from
../shared/footage; the window tests skip without it).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from studio.core.jobs import JobCancelled
from studio.core.tracking.frame_sources import Frame, FrameSource
from studio.core.tracking.live import LatestFrameReader, LiveResult, live_tracking_job


class _Frames(FrameSource):
    """Frames from memory at ``fps`` (no decoding in the measured path)."""

    def __init__(self, images: list[np.ndarray], fps: float = 30.0, name: str = "memory") -> None:
        self.images = images
        self.fps = fps
        self.num_frames = len(images)
        self.size = (images[0].shape[1], images[0].shape[0])
        self.name = name

    def __iter__(self) -> Iterator[Frame]:
        for index, image in enumerate(self.images):
            yield Frame(index=index, time_s=index / self.fps, image=image)


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name in ("live-frame-reader", "live-mediapipe") and t.is_alive()]


# ----------------------------------------------------------------------------------------------------------
# Pure: LiveTracker and the job
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tracker(ict_rig):
    from studio.core.tracking.landmark_embedding import LandmarkEmbedding
    from studio.core.tracking.tracker import Tracker

    return Tracker(ict_rig, LandmarkEmbedding.ict())


def _to_pixels(points_cm: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """Rig-space points (cm, +y up, +z out) seen by a camera: MediaPipe pixels ``(x, y down, z into)``."""
    angle = np.radians(yaw_deg)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    rotated = points_cm @ rotation.T
    return (rotated * np.array([12.0, -12.0, -12.0]) + np.array([320.0, 240.0, 0.0])).astype(np.float32)


def test_live_tracker_captures_the_neutral_then_tracks_and_skips_frames_without_face(tracker, ict_rig):
    from studio.core.tracking.live import LiveTracker

    live = LiveTracker(tracker, neutral_frames=5)
    rng = np.random.default_rng(0)
    performer = tracker.rig_points + rng.normal(0.0, 0.05, tracker.rig_points.shape)  # another identity
    no_face = np.full((478, 3), np.nan, np.float32)
    jaw = ict_rig.control_index("jawOpen")
    t = 0.0

    def step(landmarks: np.ndarray) -> LiveResult:
        nonlocal t
        t += 1 / 30
        return live.process(round(t * 30), t, landmarks)

    first = step(no_face)
    assert not first.face_found and first.controls is None and first.neutral_captured == 0
    for i in range(5):  # the neutral, with a little head motion that alignment removes
        result = step(_to_pixels(performer, yaw_deg=2.0 * np.sin(i)))
        assert result.controls is None and result.neutral_captured == i + 1
    assert live.has_neutral and not result.capturing_neutral

    _, deltas = ict_rig.tensors().surface_basis(tracker.embedding.points)  # the rig at the landmarks, cm
    open_jaw = performer + 0.6 * deltas[jaw].numpy()
    for _ in range(15):  # the One-Euro filter settles on a held expression
        result = step(_to_pixels(open_jaw, yaw_deg=3.0))
    assert result.controls.shape == (ict_rig.num_controls,)
    assert result.controls[jaw] == pytest.approx(0.6, abs=0.06)
    assert np.delete(result.controls, jaw).max() < 0.15
    assert set(result.stage_ms) == {"alignment", "solve", "gaze", "filter"}
    assert result.residual_mm < 0.5

    gap = step(no_face)
    assert not gap.face_found and gap.controls is None and not gap.capturing_neutral
    assert step(_to_pixels(open_jaw)).controls[jaw] == pytest.approx(0.6, abs=0.06)

    live.recapture_neutral()  # (from the GUI thread: acted on at the next frame)
    again = step(_to_pixels(performer))
    assert again.capturing_neutral and again.neutral_captured == 1 and again.controls is None


class _FakeObservation:
    def __init__(self, frame: Frame) -> None:
        self.landmarks = np.full((478, 3), float(frame.index), np.float32)
        self.crop = None  # no face crop asked for (the landmark tracker)


class _FakeReconstructor:
    """Stands in for MediaPipe: takes ``delay_s`` per frame."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def observe(self, frame: Frame) -> _FakeObservation:
        time.sleep(self.delay_s)
        return _FakeObservation(frame)


class _FakeLiveTracker:
    def process(self, frame_index: int, time_s: float, landmarks_px: np.ndarray, crop=None) -> LiveResult:
        return LiveResult(frame_index, time_s, True, landmarks_px, None, float("nan"), {})


def test_job_drops_stale_frames_instead_of_lagging_and_stops_when_cancelled():
    images = [np.zeros((8, 8, 3), np.uint8)] * 60
    # a 200 fps "camera" feeding a tracker that needs 20 ms a frame: it must skip, not queue
    job = live_tracking_job(
        _Frames(images, fps=200.0), _FakeLiveTracker(), _FakeReconstructor(0.02), solver_threads=None
    )
    results = list(job)
    indices = [r.frame_index for r in results]
    assert indices == sorted(indices) and len(results) < 40
    assert results[-1].frames_dropped > 20 and indices[-1] == 59  # the newest frame, never a backlog
    assert all(r.image is not None and {"decode", "mediapipe", "handoff"} <= set(r.stage_ms) for r in results)

    # realtime=False: every frame, in order (the reader waits for each to be taken)
    every = list(
        live_tracking_job(_Frames(images), _FakeLiveTracker(), _FakeReconstructor(), realtime=False, solver_threads=None)
    )
    assert [r.frame_index for r in every] == list(range(60)) and every[-1].frames_dropped == 0

    cancel = threading.Event()
    job = live_tracking_job(
        _Frames(images), _FakeLiveTracker(), _FakeReconstructor(), cancel, realtime=False, solver_threads=None
    )
    next(job)
    cancel.set()
    with pytest.raises(JobCancelled) as stopped:
        next(job)
    assert stopped.value.partial.frames_tracked >= 1
    assert not _reader_threads()


def test_mediapipe_observes_the_next_frame_while_the_solve_handles_this_one():
    """The stages overlap: the solve of frame n waits until MediaPipe has started on frame n + 1."""
    started = {}
    next_started = threading.Event()

    class Reconstructor:
        def observe(self, frame: Frame) -> _FakeObservation:
            started[frame.index] = True
            if frame.index == 1:
                next_started.set()
            return _FakeObservation(frame)

    class Tracker(_FakeLiveTracker):
        def process(self, frame_index: int, *args, **kwargs) -> LiveResult:
            if frame_index == 0:
                assert next_started.wait(5.0), "MediaPipe did not start frame 1 while frame 0 was solved"
            return super().process(frame_index, *args, **kwargs)

    images = [np.zeros((8, 8, 3), np.uint8)] * 4
    posed = list(live_tracking_job(_Frames(images), Tracker(), Reconstructor(), realtime=False, solver_threads=None,
                                   pose=lambda controls: controls.sum()))
    assert [r.frame_index for r in posed] == [0, 1, 2, 3] and set(started) == {0, 1, 2, 3}
    assert all(r.posed is None for r in posed)  # no controls, nothing to pose
    assert not _reader_threads()


def test_reader_hands_a_failing_source_error_to_the_consumer():
    from studio.core.tracking.frame_sources import FrameSourceError

    class Broken(_Frames):
        def __iter__(self) -> Iterator[Frame]:
            yield from list(super().__iter__())[:2]
            raise FrameSourceError("broken.mp4: not a video or corrupt (frame 2)")

    reader = LatestFrameReader(Broken([np.zeros((4, 4, 3), np.uint8)] * 5), realtime=False).start()
    assert reader.take(1.0).index == 0 and reader.take(1.0).index == 1
    with pytest.raises(FrameSourceError, match="frame 2"):
        while True:
            reader.take(1.0)
    reader.stop()
    assert not reader.alive


# ----------------------------------------------------------------------------------------------------------
# The window (real Qt window, worker threads, EGL)
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip_frames(footage) -> list[np.ndarray]:
    from studio.core.tracking.frame_sources import VideoFileSource

    path = footage("d10.mp4")
    images = []
    with VideoFileSource(path) as video:
        for frame in video:
            images.append(frame.image)
            if len(images) == 75:
                break
    return images


@pytest.fixture
def live_window(qtbot, ict_rig):
    from studio.ui.tools.live_view import LiveTrackingWindow

    window = LiveTrackingWindow(ict_rig, neutral_frames=10, realtime=False, cameras=[])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.mark.qt
@pytest.mark.gl
def test_window_tracks_a_clip_with_overlay_rig_and_frame_rate(qtbot, live_window, clip_frames, ict_rig):
    window = live_window
    shown: list[tuple[LiveResult, np.ndarray]] = []
    window.sigResultShown.connect(lambda result: shown.append((result, window.rig_view.face.vertices.copy())))
    with qtbot.waitSignal(window.sigStopped, timeout=60000) as stopped:
        window.start(_Frames(clip_frames, name="d10"))
    assert stopped.args == ["end of video"]
    assert not window.is_running and not _reader_threads()

    results = [result for result, _ in shown]
    assert len(results) >= 20 and all(r.face_found for r in results)
    # landmark overlay: every landmark drawn, the stable (head-pose) ones as their own item
    stable = len(window.stable_item.getData()[0])
    assert 6 <= stable < 478 and len(window.landmark_item.getData()[0]) + stable == 478
    # the rig stays neutral while the neutral is captured, then follows the face
    capturing = [v for r, v in shown if r.controls is None]
    tracked = [v for r, v in shown if r.controls is not None]
    assert capturing and len(tracked) >= 10
    np.testing.assert_allclose(capturing[-1], ict_rig.neutral, atol=1e-5)
    motion = [np.abs(v - ict_rig.neutral).max() for v in tracked]
    assert max(motion) > 0.1, "the rig never left the neutral face"
    assert np.abs(tracked[-1] - tracked[len(tracked) // 2]).max() > 0.01, "the rig froze"
    assert window.rig_view.draw_count >= 5  # (at most 30 draws a second on a CPU rasterizer, whatever the rate)
    # the frame-rate readout shows numbers
    qtbot.waitUntil(lambda: "display" in window.fps_label.text(), timeout=2000)
    readout = window.fps_label.text()
    display_fps = float(re.search(r"display (\d+(?:\.\d+)?) fps", readout).group(1))
    tracking_ms = float(re.search(r"tracking (\d+(?:\.\d+)?) ms", readout).group(1))
    assert display_fps > 0 and tracking_ms > 0, readout
    assert window.prompt_label.text() == "End of the video."


@pytest.mark.qt
@pytest.mark.gl
def test_the_network_tracker_needs_no_neutral_and_follows_the_face(qtbot, live_window, clip_frames, ict_rig):
    window = live_window
    assert window.tracker_kind() == "landmarks"
    window.set_tracker_kind("network")
    shown: list[LiveResult] = []
    window.sigResultShown.connect(shown.append)
    with qtbot.waitSignal(window.sigStopped, timeout=60000):
        window.start(_Frames(clip_frames[:30], name="d10"))
    assert len(shown) >= 10 and all(r.controls is not None for r in shown)  # from the first frame on
    values = np.stack([r.controls for r in shown])
    assert values.max() > 0.05 and np.abs(np.diff(values, axis=0)).max() > 0.001  # it reads the face
    with pytest.raises(ValueError, match="unknown tracker"):
        window.set_tracker_kind("magic")


@pytest.mark.qt
@pytest.mark.gl
def test_the_learned_causal_filter_smooths_the_live_controls(qtbot, live_window, clip_frames):
    from studio.core.expression.temporal import CausalDenoiserStream

    window = live_window
    window.set_filter_kind("learned")
    runs = []
    shown: list[LiveResult] = []
    window.sigResultShown.connect(shown.append)
    with qtbot.waitSignal(window.sigStopped, timeout=60000):
        window.start(_Frames(clip_frames[:45], name="d10"))
        runs.append(window._run)
    assert isinstance(runs[0].live_tracker.one_euro, CausalDenoiserStream)
    values = np.stack([r.controls for r in shown if r.controls is not None])
    assert len(values) >= 10 and values.max() > 0.05 and np.isfinite(values).all()
    with pytest.raises(ValueError, match="unknown filter"):
        window.set_filter_kind("magic")


@pytest.mark.qt
@pytest.mark.gl
def test_stop_ends_the_worker_and_closing_while_tracking_leaves_no_thread(qtbot, live_window, clip_frames):
    from PySide6.QtCore import QThreadPool

    window = live_window
    # no camera here: the synthetic performer is the default, rendered in the worker's reader thread
    assert window.source() == "synthetic:0" and "synthetic performer" in window.statusBar().currentMessage()
    window.start()
    qtbot.waitUntil(lambda: window.frames_displayed >= 3, timeout=60000)
    assert window.last_result.image.shape == (480, 640, 3)
    with qtbot.waitSignal(window.sigStopped, timeout=10000) as stopped:
        window.stop_button.click()
    assert stopped.args == ["stopped"]
    assert not window.is_running and window.start_button.isEnabled() and not _reader_threads()

    shown = window.frames_displayed
    window.start(_Frames(clip_frames * 4))
    qtbot.waitUntil(lambda: window.frames_displayed >= shown + 3, timeout=60000)
    window.close()  # while tracking: waits for the worker to release the source
    assert not window.is_running and not _reader_threads()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=5000)


@pytest.mark.qt
@pytest.mark.gl
def test_a_bad_video_is_one_line_in_the_status_bar(qtbot, live_window, tmp_path):
    window = live_window
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video")
    with qtbot.waitSignal(window.sigStopped, timeout=30000) as stopped:
        window.start(str(bad))
    message = window.statusBar().currentMessage()
    assert "broken.mp4" in stopped.args[0] and "\n" not in message and "broken.mp4" in message
    assert not window.is_running and window.start_button.isEnabled()


def _vmc_frames(receiver) -> list[list[tuple[str, float]]]:
    """Every frame a VMC receiver socket holds: the Val ``(name, value)`` pairs before each Apply."""
    from pythonosc.osc_bundle import OscBundle

    from studio.core.io.vmc import APPLY_ADDRESS, VAL_ADDRESS

    frames, pending = [], []
    receiver.setblocking(False)
    while True:
        try:
            datagram = receiver.recv(1 << 16)
        except BlockingIOError:
            return frames
        assert OscBundle.dgram_is_bundle(datagram)
        for message in OscBundle(datagram):
            if message.address == VAL_ADDRESS:
                pending.append(tuple(message.params))
            else:
                assert message.address == APPLY_ADDRESS and message.params == []
                frames.append(pending)
                pending = []


@pytest.mark.qt
@pytest.mark.gl
def test_vmc_streaming_sends_every_shown_tracked_frame_as_arkit_values(qtbot, live_window, ict_rig):
    import socket

    from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
    from studio.core.rig.definition import RigDefinition

    window = live_window
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    try:
        # a bad target, or one that does not resolve, unchecks the box with one line in the status line
        assert window.vmc_target_edit.text() == "127.0.0.1:39539" and not window.vmc_box.isChecked()
        for bad, shown_as in (("127.0.0.1:notaport", "notaport"), ("no-such-host.invalid:39539", ".invalid")):
            assert not window.set_vmc_target(bad)
            message = window.statusBar().currentMessage()
            assert not window.vmc_box.isChecked() and not window.vmc_streaming
            assert message.startswith("VMC streaming stopped:") and "\n" not in message
            assert shown_as in message

        # from the controls: type the target, tick the box
        window.vmc_target_edit.setText(f"127.0.0.1:{port}")
        window.vmc_box.setChecked(True)
        assert window.vmc_streaming and f"127.0.0.1:{port}" in window.statusBar().currentMessage()
        tracked: list[LiveResult] = []
        window.sigResultShown.connect(lambda result: result.controls is None or tracked.append(result))
        window.start()  # the synthetic performer
        qtbot.waitUntil(lambda: len(tracked) >= 10, timeout=60000)
        assert window.set_vmc_target(None) is False  # stop streaming first: no frame after this one is sent
        streamed = list(tracked)
        with qtbot.waitSignal(window.sigStopped, timeout=10000):
            window.stop()
        assert not window.vmc_box.isChecked() and not window.vmc_streaming
        assert window.vmc_frames_sent == len(streamed) >= 10

        frames = _vmc_frames(receiver)
        assert len(frames) == len(streamed)
        definition = RigDefinition.ict()
        for frame, result in zip(frames, streamed, strict=True):
            assert [name for name, _ in frame] == list(ARKIT_BLENDSHAPE_NAMES)
            values = np.array([value for _, value in frame])
            assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0
            arkit = definition.to_arkit(result.controls)
            expected = [float(arkit[name]) if name in arkit else 0.0 for name in ARKIT_BLENDSHAPE_NAMES]
            np.testing.assert_allclose(values, expected, atol=1e-5)
        assert frames[-1][ARKIT_BLENDSHAPE_NAMES.index("tongueOut")] == ("tongueOut", 0.0)
        assert np.ptp([[v for _, v in frame] for frame in frames], axis=0).max() > 0.01, "the stream froze"

        # a retargeting hook: what it returns is sent; when it fails, the stream stops with its message
        calls = []

        def retarget(controls: np.ndarray):
            calls.append(controls)
            if len(calls) == 3:
                raise ValueError("retargeting failed\nsecond line")
            return ["jawOpen", "mouthSmileLeft"], np.array([controls[0], 0.25])

        window.set_stream_mapping(retarget)
        assert window.set_vmc_target(f":{port}") and window.vmc_frames_sent == 0
        window.start()
        qtbot.waitUntil(lambda: not window.vmc_box.isChecked(), timeout=60000)
        assert window.statusBar().currentMessage() == "VMC streaming stopped: retargeting failed"
        with qtbot.waitSignal(window.sigStopped, timeout=10000):
            window.stop()
        frames = _vmc_frames(receiver)
        assert window.vmc_frames_sent == len(frames) == 2 and len(calls) == 3
        assert [name for name, _ in frames[0]] == ["jawOpen", "mouthSmileLeft"] and frames[1][1][1] == 0.25
        window.set_stream_mapping(None)
        assert window.stream_mapping()(np.zeros(ict_rig.num_controls))[1].shape == (52,)
    finally:
        receiver.close()


@pytest.mark.qt
def test_the_vmc_stream_can_be_retargeted(qtbot, live_window, ict_rig):
    from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
    from studio.core.retarget.stream import arkit_stream_mapping
    from studio.core.retarget.targets import load_target
    from studio.core.rig.definition import RigDefinition

    default = arkit_stream_mapping(ict_rig.expression_names, RigDefinition.ict())

    window = live_window
    index = window.stream_as_box.findData("rook")
    assert index > 0
    window.stream_as_box.setCurrentIndex(index)  # builds the game target in a worker
    rook = load_target("rook", ict_rig)
    controls = np.zeros(ict_rig.num_controls)
    controls[ict_rig.control_index("eyeBlink_L")] = 1.0
    controls[ict_rig.control_index("jawOpen")] = 0.6
    qtbot.waitUntil(lambda: window.stream_mapping()(controls)[1].tolist()
                    != default(controls)[1].tolist(), timeout=20_000)  # fmt: skip
    names, values = window.stream_mapping()(controls)
    assert tuple(names) == ARKIT_BLENDSHAPE_NAMES
    np.testing.assert_allclose(values, rook.arkit(rook.retarget(controls)), atol=1e-6)
    window.stream_as_box.setCurrentIndex(0)  # back to the tracked controls
    np.testing.assert_allclose(window.stream_mapping()(controls)[1], default(controls)[1])


@pytest.mark.qt
@pytest.mark.gl
def test_the_live_rig_view_draws_a_decimated_mesh_that_looks_like_the_full_one(qtbot, ict_rig):
    from PySide6.QtGui import QImage

    from studio.render.face_scene import decimate_skin
    from studio.ui.widgets.rig_view import RigView

    controls = np.zeros(ict_rig.num_controls, np.float32)
    for name, value in (("jawOpen", 0.5), ("mouthSmile_L", 0.6), ("eyeBlink_R", 0.8)):
        controls[ict_rig.control_index(name)] = value
    vertices = ict_rig.evaluate(controls)
    images = {}
    for name, skin in (("full", None), ("decimated", decimate_skin(ict_rig))):
        view = RigView(ict_rig, skin=skin)
        qtbot.addWidget(view)
        view.setFixedSize(400, 480)
        view.show()
        qtbot.waitExposed(view)
        view.show_geometry(vertices, view.face.geometry(vertices))  # as the live worker hands it over
        grabbed = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        images[name] = np.array(grabbed.constBits(), np.uint8).reshape(480, grabbed.bytesPerLine())[:, :1200]
        images[name] = images[name].reshape(480, 400, 3).astype(int)
        view.close()
    difference = np.abs(images["full"] - images["decimated"])
    assert images["full"].std() > 20  # a face was drawn
    assert difference.mean() < 1.6 and np.percentile(difference.max(axis=2), 99) < 40


@pytest.mark.qt
@pytest.mark.gl
def test_a_busy_view_draws_the_rig_at_most_30_times_a_second_and_says_it_drops(qtbot, ict_rig, clip_frames):
    from studio.ui.tools.live_view import SOFTWARE_RIG_FPS, LiveTrackingWindow

    window = LiveTrackingWindow(ict_rig, neutral_frames=5, realtime=True, cameras=[])
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    # a 240 fps "camera": far faster than this machine tracks, so frames must be dropped, never queued
    window.start(_Frames(clip_frames * 20, fps=240.0, name="fast"))
    qtbot.waitUntil(lambda: window.rig_view.draw_count >= 3 and "busy: dropping" in window.fps_label.text(),
                    timeout=30000)
    draws, started = window.rig_view.draw_count, time.perf_counter()
    qtbot.wait(1500)
    rate = (window.rig_view.draw_count - draws) / (time.perf_counter() - started)
    if "llvmpipe" in window.rig_view.gl_renderer:
        assert rate <= SOFTWARE_RIG_FPS * 1.15
    assert window.dropping_per_second() > 10
    assert 0 < window.last_result.frame_index - window.frames_displayed  # frames were skipped, not queued
    window.close()
    assert not _reader_threads()


@pytest.mark.qt
@pytest.mark.gl
def test_the_shape_response_is_edited_previewed_rezeroed_and_kept_in_the_session(qtbot, ict_rig, clip_frames, tmp_path):
    from studio.core.rig.response import ResponseSet, ShapeResponse
    from studio.core.session.folder import Session
    from studio.ui.tools.live_view import LiveTrackingWindow

    session = Session.create(tmp_path / "s", "p", ict_rig.name, "core", ["neutral"])
    window = LiveTrackingWindow(ict_rig, neutral_frames=10, realtime=False, cameras=[], session=session)
    qtbot.addWidget(window)
    window.show()
    window.response_button.setChecked(True)
    assert window.response_dock.isVisible()
    with qtbot.waitSignal(window.sigStopped, timeout=60000):
        window.start(_Frames(clip_frames, name="d10"))
    raw = window.last_result.controls
    assert raw is not None
    names = ict_rig.expression_names
    panel = window.response_panel
    jaw = names.index("jawOpen")
    # a stronger jaw through the panel: the rig preview follows at once (tracking stopped: posed here)
    panel.choose("jawOpen")
    panel.spins["multiplier"].setValue(2.0)
    assert window.response.get("jawOpen").multiplier == 2.0 and "● jawOpen" in panel.control_list.item(jaw).text()
    expected = ict_rig.evaluate(ResponseSet({"jawOpen": ShapeResponse(multiplier=2.0)}).apply(raw, names))
    np.testing.assert_allclose(window.rig_view.face.vertices, expected, atol=1e-4)
    # the curve: a point dragged below the one before it is held level with it (monotone), kept in [0, 1]
    assert panel.add_point() and panel.add_point()  # (0, 0), (0.25, 0.25), (0.5, 0.5), (1, 1)
    assert panel.set_curve_point(2, 0.5, 0.8) and panel.set_curve_point(1, 0.25, 0.9)  # held below point 3
    assert window.response.get("jawOpen").curve[1] == (0.25, 0.8)
    assert panel.set_curve_point(2, 0.1, 0.1)  # not past its neighbours in x, not below the one before in y
    curve = window.response.get("jawOpen").curve
    assert curve[2] == (0.27, 0.8) and all(0 <= y <= 1 for _, y in curve)
    panel.undo()
    assert window.response.get("jawOpen").curve[2] == (0.5, 0.8)
    panel.show_input(raw)  # the live marker on the curve
    assert panel.input_line.isVisible()
    # re-zero: the face shown reads as every shape's zero
    assert window.rezero_neutral()
    zeroed = window.response.apply(raw, names)
    assert np.abs(zeroed[raw >= 0.02]).max() < 1e-6
    assert window.save_response()
    assert Session.open(session.folder).response(names) == window.response
    window.close()


@pytest.mark.qt
@pytest.mark.gl
def test_the_live_view_streams_live_link_face_packets(qtbot, live_window, ict_rig):
    import socket
    import struct

    from studio.core.io.arkit import ARKIT_BLENDSHAPE_NAMES
    from studio.core.rig.definition import RigDefinition

    window = live_window
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(3.0)
    port = receiver.getsockname()[1]
    try:
        window.set_stream_protocol("livelink")
        assert window.vmc_target_edit.text() == "127.0.0.1:11111"
        assert window.set_vmc_target(f"127.0.0.1:{port}") and "Live Link" in window.statusBar().currentMessage()
        tracked: list[LiveResult] = []
        window.sigResultShown.connect(lambda result: result.controls is None or tracked.append(result))
        window.start()
        qtbot.waitUntil(lambda: len(tracked) >= 5, timeout=60000)
        window.set_vmc_target(None)
        streamed = list(tracked)
        with qtbot.waitSignal(window.sigStopped, timeout=10000):
            window.stop()
        definition = RigDefinition.ict()
        for result in streamed:
            packet = receiver.recv(2048)
            assert packet[0] == 6
            length = struct.unpack_from(">i", packet, 1)[0]
            at = 5 + length
            name_length = struct.unpack_from(">i", packet, at)[0]
            at += 4 + name_length + 16
            assert packet[at] == 61
            values = struct.unpack_from(">61f", packet, at + 1)
            arkit = definition.to_arkit(result.controls)
            expected = [float(arkit[name]) if name in arkit else 0.0 for name in ARKIT_BLENDSHAPE_NAMES]
            np.testing.assert_allclose(values[:52], expected, atol=1e-5)
            assert values[52:55] == (0.0, 0.0, 0.0)  # the live view has no head pose
    finally:
        receiver.close()
