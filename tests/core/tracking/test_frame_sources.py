"""Frame sources (video, image folder, camera, synthetic performer), control curves, and reconstruction.

Real clips are read from ../shared/footage (tests skip without them); synthetic performers need EGL:
``STUDIO_ASSETS_DIR=../shared/assets pytest tests/core/tracking/test_frame_sources.py -p no:xvfb``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.core.tracking.frame_sources import (
    Frame,
    FrameSource,
    FrameSourceError,
    ImageFolderSource,
    VideoFileSource,
    WebcamSource,
    list_cameras,
    open_frame_source,
)


def _error(call, *args) -> str:
    with pytest.raises(FrameSourceError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message and message, repr(message)
    return message


class _FirstFrames(FrameSource):
    """The first ``count`` frames of another source."""

    def __init__(self, source: FrameSource, count: int) -> None:
        self.source, self.name, self.fps, self.size = source, source.name, source.fps, source.size
        self.num_frames = count if source.num_frames is None else min(count, source.num_frames)

    def __iter__(self) -> Iterator[Frame]:
        for frame in self.source:
            if frame.index >= self.num_frames:
                return
            yield frame


class _Frames(FrameSource):
    """Given frames as a source."""

    def __init__(self, frames: list[Frame], fps: float | None = 30.0) -> None:
        self.frames, self.fps, self.num_frames, self.name = frames, fps, len(frames), "frames"
        self.size = frames[0].size

    def __iter__(self) -> Iterator[Frame]:
        yield from self.frames


# -- video files ---------------------------------------------------------------------------------------------


def test_video_file_source_reads_the_realfootage(footage):
    import cv2

    path = footage("d6.mp4")
    with VideoFileSource(path) as source:
        assert source.fps == pytest.approx(30.0)
        assert source.num_frames == 1008
        assert source.size == (480, 480)
        assert source.name == "d6.mp4"
        times, first = [], None
        for frame in source:
            assert frame.index == len(times)
            assert frame.image.shape == (480, 480, 3) and frame.image.dtype == np.uint8
            assert frame.truth_controls is None and frame.truth_state is None
            first = frame.image if first is None else first
            times.append(frame.time_s)
    assert len(times) == 1008
    times = np.asarray(times)
    assert times[0] == 0.0 and np.all(np.diff(times) > 0), "timestamps must increase"
    np.testing.assert_allclose(times, np.arange(1008) / 30.0, atol=1e-3)
    # RGB order: the same frame straight from OpenCV is BGR
    capture = cv2.VideoCapture(str(path))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    np.testing.assert_array_equal(first, bgr[:, :, ::-1])
    centre = first[180:300, 180:300].reshape(-1, 3).astype(float).mean(axis=0)
    assert centre[0] > centre[2], (
        f"skin in the middle of the frame should be redder than blue, got RGB {centre}"
    )


def test_video_file_source_restarts_on_each_iteration(footage):
    with VideoFileSource(footage("d10.mp4")) as source:
        firsts = [next(iter(source)) for _ in range(2)]
        frames = iter(source)
        next(frames)
        second = next(frames)
    assert firsts[0].index == firsts[1].index == 0
    np.testing.assert_array_equal(firsts[0].image, firsts[1].image)
    assert second.index == 1 and second.time_s == pytest.approx(1 / 30, abs=1e-3)


def test_missing_video_is_one_line(tmp_path):
    message = _error(VideoFileSource, tmp_path / "nothing.mp4")
    assert "nothing.mp4" in message and "no such file" in message


def test_random_bytes_are_not_a_video(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(20_000))
    message = _error(VideoFileSource, path)
    assert "noise.mp4" in message and "not a video or corrupt" in message


def test_truncated_real_video_is_corrupt(tmp_path, footage):
    data = footage("d6.mp4").read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    message = _error(open_frame_source, str(path))
    assert "truncated.mp4" in message and "not a video or corrupt" in message


def test_unsupported_extension(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a video")
    message = _error(open_frame_source, str(path))
    assert "unsupported extension '.txt'" in message and ".mp4" in message
    assert "unsupported extension" in _error(VideoFileSource, path)


def test_open_frame_source_errors(tmp_path):
    assert "no such file or folder" in _error(open_frame_source, str(tmp_path / "missing.mov"))
    image = tmp_path / "one.png"
    _write_png(image, np.zeros((4, 4, 3), np.uint8))
    assert "single image" in _error(open_frame_source, str(image))
    assert "device number" in _error(open_frame_source, "camera:front")


def test_open_frame_source_opens_videos_and_folders(tmp_path, footage):
    with open_frame_source(str(footage("d14.mp4"))) as source:
        assert isinstance(source, VideoFileSource) and source.num_frames == 536
    _write_png(tmp_path / "a.png", np.zeros((4, 6, 3), np.uint8))
    with open_frame_source(tmp_path) as source:
        assert isinstance(source, ImageFolderSource) and source.size == (6, 4)


def test_a_synthetic_spec_in_the_core_says_where_synthetic_performers_are_opened():
    assert "studio.render.sources.open_source" in _error(open_frame_source, "synthetic:1")
    assert "studio.render.sources.open_source" in _error(open_frame_source, "prompted")


# -- image folders -------------------------------------------------------------------------------------------


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def test_image_folder_source_in_natural_order_as_rgb(tmp_path):
    colours = {"frame1.png": (255, 0, 0), "frame2.png": (0, 255, 0), "frame10.png": (0, 0, 255)}
    for name, colour in colours.items():
        _write_png(tmp_path / name, np.full((24, 32, 3), colour, np.uint8))
    (tmp_path / "readme.txt").write_text("ignored")
    with ImageFolderSource(tmp_path, fps=10.0) as source:
        assert (source.num_frames, source.fps, source.size) == (3, 10.0, (32, 24))
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])
    for frame, colour in zip(frames, colours.values(), strict=True):
        assert frame.image.shape == (24, 32, 3) and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.image[0, 0], colour)


def test_empty_folder_is_one_line(tmp_path):
    assert "empty folder" in _error(ImageFolderSource, tmp_path)
    (tmp_path / "clip.txt").write_text("no images here")
    assert "empty folder" in _error(open_frame_source, str(tmp_path))
    assert "no such folder" in _error(ImageFolderSource, tmp_path / "absent")


def test_image_folder_rejects_mixed_sizes_and_corrupt_images(tmp_path):
    _write_png(tmp_path / "0.png", np.zeros((8, 8, 3), np.uint8))
    _write_png(tmp_path / "1.png", np.zeros((9, 8, 3), np.uint8))
    source = ImageFolderSource(tmp_path)
    assert "1.png" in _error(lambda: list(source))
    (tmp_path / "0.png").write_bytes(b"not a png")
    assert "not an image or corrupt" in _error(ImageFolderSource, tmp_path)


# -- cameras -------------------------------------------------------------------------------------------------


def test_no_camera_is_one_clear_line():
    if 0 in list_cameras():
        pytest.skip("a camera is connected at device 0")
    message = _error(WebcamSource, 0)
    if sys.platform.startswith("linux"):
        assert message == "no camera found at device 0 (tried V4L2): connect one or choose a video"
    assert message == _error(open_frame_source, "camera:0")


# -- control curves ------------------------------------------------------------------------------------------

ICT_NAMES = (
    "browDown_L browDown_R browInnerUp_L browInnerUp_R browOuterUp_L browOuterUp_R cheekPuff_L cheekPuff_R "
    "cheekSquint_L cheekSquint_R eyeBlink_L eyeBlink_R eyeLookDown_L eyeLookDown_R eyeLookIn_L eyeLookIn_R "
    "eyeLookOut_L eyeLookOut_R eyeLookUp_L eyeLookUp_R eyeSquint_L eyeSquint_R eyeWide_L eyeWide_R jawForward "
    "jawLeft jawOpen jawRight mouthClose mouthDimple_L mouthDimple_R mouthFrown_L mouthFrown_R mouthFunnel "
    "mouthLeft mouthLowerDown_L mouthLowerDown_R mouthPress_L mouthPress_R mouthPucker mouthRight "
    "mouthRollLower mouthRollUpper mouthShrugLower mouthShrugUpper mouthSmile_L mouthSmile_R mouthStretch_L "
    "mouthStretch_R mouthUpperUp_L mouthUpperUp_R noseSneer_L noseSneer_R"
).split()


def test_control_units_pair_mirrors_and_separate_directions():
    from studio.core.rig.control_curves import control_units

    units, exclusive = control_units(ICT_NAMES)
    named = {tuple(ICT_NAMES[i] for i in unit): key for unit, key in zip(units, exclusive, strict=True)}
    assert named[("eyeBlink_L", "eyeBlink_R")] is None
    assert named[("jawLeft",)] == named[("jawRight",)] == "jaw"
    assert named[("eyeLookUp_L", "eyeLookUp_R")] == named[("eyeLookIn_L", "eyeLookIn_R")] == "eyeLook"
    assert sorted(i for unit in units for i in unit) == list(range(len(ICT_NAMES)))
    arkit, _ = control_units(["eyeBlinkLeft", "eyeBlinkRight", "mouthLeft", "mouthRight"])
    assert arkit == [(0, 1), (2,), (3,)]


def test_moderate_expression_curves():
    from studio.core.rig.control_curves import moderate_expression_curves

    fps = 30.0
    curves = moderate_expression_curves(ICT_NAMES, 900, fps, seed=4, max_value=0.6)
    assert curves.shape == (900, len(ICT_NAMES)) and curves.dtype == np.float32
    assert not curves[: int(1.0 * fps)].any(), "the first second must be neutral"
    assert curves.min() >= 0.0 and curves.max() <= 0.6 + 1e-6
    active = (curves > 0).sum(axis=1)
    assert active.max() <= 4 and np.all(active[active > 0] >= 1)
    held = np.all(np.abs(np.diff(curves, axis=0)) < 1e-7, axis=1) & (active[1:] > 0)
    assert held.sum() > 200, "expressions should be held"
    held_counts = active[1:][held]
    assert held_counts.min() >= 2 and held_counts.max() <= 4, "2–4 controls per held expression"
    neutral_between = np.flatnonzero(active[int(fps) :] == 0)
    assert len(neutral_between) > 30, "neutral segments between expressions"
    assert np.abs(np.diff(curves, axis=0)).max() < 0.15, "transitions should be smooth"
    np.testing.assert_array_equal(curves, moderate_expression_curves(ICT_NAMES, 900, fps, seed=4))
    assert not np.array_equal(curves, moderate_expression_curves(ICT_NAMES, 900, fps, seed=5))
    for unit in (("jawLeft", "jawRight"), ("mouthLeft", "mouthRight")):
        both = curves[:, [ICT_NAMES.index(n) for n in unit]]
        assert not np.any(both.min(axis=1) > 0), f"{unit} must not be combined"
    left, right = ICT_NAMES.index("browInnerUp_L"), ICT_NAMES.index("browInnerUp_R")
    many = moderate_expression_curves(ICT_NAMES, 9000, fps, seed=1)
    assert np.any((many[:, left] > 0.1) & (many[:, right] > 0.1)), "mirror pairs should move together"


def test_neutral_then_prepends_a_neutral_hold():
    from studio.core.rig.control_curves import neutral_then

    curves = np.full((10, 3), 0.5, np.float32)
    padded = neutral_then(curves, fps=10.0, neutral_s=1.0, blend_s=0.5)
    assert padded.shape == (25, 3)
    assert not padded[:10].any()
    assert np.all(np.diff(padded[9:16, 0]) > 0) and np.all(padded[10:15] < 0.5)
    np.testing.assert_array_equal(padded[15:], curves)


# -- jobs ----------------------------------------------------------------------------------------------------


def test_run_job_returns_the_generators_value():
    from studio.core.jobs import JobCancelled, is_cancelled, run_job

    def job(n):
        for i in range(n):
            yield (i + 1, n)
        return "done"

    seen = []
    assert run_job(job(3), seen.append) == "done"
    assert seen == [(1, 3), (2, 3), (3, 3)]
    event = threading.Event()
    assert not is_cancelled(None) and not is_cancelled(event) and not is_cancelled(lambda: False)
    event.set()
    assert is_cancelled(event) and is_cancelled(lambda: True)
    assert JobCancelled("x", partial=[1]).partial == [1]


# -- reconstruction (MediaPipe on CPU, no GL) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model_path(assets_dir) -> Path:
    path = assets_dir / "face_landmarker.task"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def test_reconstruction_finds_the_face_in_a_realfootage(model_path, footage):
    from studio.core.jobs import run_job
    from studio.core.tracking.reconstruction import (
        BLENDSHAPE_NAMES,
        GeometryReconstructor,
        reconstruct_frames,
    )

    with (
        VideoFileSource(footage("d6.mp4")) as video,
        GeometryReconstructor("video", model_path) as reconstructor,
    ):
        progress = []
        observations = run_job(reconstruct_frames(_FirstFrames(video, 30), reconstructor), progress.append)
    assert len(observations) == 30 and progress[-1] == (30, 30) and progress[0] == (1, 30)
    found = np.array([o.face_found for o in observations])
    assert found.mean() >= 0.95, f"face found in {found.mean():.0%} of frames"
    observation = observations[int(np.flatnonzero(found)[0])]
    assert observation.image_size == (480, 480)
    landmarks = observation.landmarks
    assert landmarks.shape == (478, 3) and landmarks.dtype == np.float32 and np.isfinite(landmarks).all()
    assert 0 <= landmarks[:, 0].min() and landmarks[:, 0].max() <= 480, "x must be in pixels"
    assert 0 <= landmarks[:, 1].min() and landmarks[:, 1].max() <= 480, "y must be in pixels"
    height = landmarks[:, 1].max() - landmarks[:, 1].min()
    assert height > 100, f"the face should span many pixels, got {height:.0f}"
    assert np.abs(landmarks[:, 2]).max() < height, "z has the scale of x in pixels"
    assert observation.blendshapes.shape == (52,) and np.isfinite(observation.blendshapes).all()
    assert len(BLENDSHAPE_NAMES) == 52 and BLENDSHAPE_NAMES[0] == "_neutral"
    assert list(BLENDSHAPE_NAMES[1:]) == sorted(BLENDSHAPE_NAMES[1:])
    assert observation.blendshape("JAWOPEN") == observation.blendshapes[BLENDSHAPE_NAMES.index("jawOpen")]
    assert observation.transform.shape == (4, 4)
    assert [o.index for o in observations] == list(range(30))


def test_mediapipe_returns_blendshapes_in_blendshape_names_order(model_path, footage):
    from studio.core.tracking.face_landmarker import FaceLandmarker
    from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES

    with VideoFileSource(footage("d14.mp4")) as video, FaceLandmarker(model_path) as landmarker:
        face = landmarker.detect(next(iter(video)).image)
    assert face is not None
    assert tuple(face.blendshapes) == BLENDSHAPE_NAMES


def test_blank_frame_has_no_face_and_nan_landmarks(model_path):
    from studio.core.tracking.reconstruction import GeometryReconstructor

    blank = Frame(index=7, time_s=0.25, image=np.full((480, 640, 3), 128, np.uint8))
    for mode in ("image", "video"):
        with GeometryReconstructor(mode, model_path) as reconstructor:
            observation = reconstructor.observe(blank)
        assert observation.face_found is False
        assert (observation.index, observation.time_s, observation.image_size) == (7, 0.25, (640, 480))
        assert observation.landmarks.shape == (478, 3) and np.isnan(observation.landmarks).all()
        assert observation.blendshapes.shape == (52,) and np.isnan(observation.blendshapes).all()
        assert np.isnan(observation.transform).all()


def test_video_mode_makes_timestamps_strictly_increase(model_path):
    from studio.core.tracking.reconstruction import GeometryReconstructor

    image = np.full((120, 160, 3), 90, np.uint8)
    times = [0.0, 0.0, 0.0334, 0.0335, 1.0, 0.5, 0.0]  # repeats, sub-millisecond steps, a second source
    with GeometryReconstructor("video", model_path) as reconstructor:
        for i, t in enumerate(times):
            reconstructor.observe(Frame(index=i, time_s=t, image=image))  # MediaPipe raises if not increasing
        stamps = [reconstructor._timestamp_ms(t) for t in (2.0, 2.0)]
    assert stamps[1] > stamps[0]


def test_reconstruction_job_yields_progress_and_stops_when_cancelled(model_path):
    from studio.core.jobs import JobCancelled
    from studio.core.tracking.reconstruction import GeometryReconstructor, reconstruct_frames

    frames = [Frame(index=i, time_s=i / 30, image=np.full((96, 128, 3), 60, np.uint8)) for i in range(20)]
    source = _Frames(frames)
    stop = threading.Event()
    seen = []
    with GeometryReconstructor("video", model_path) as reconstructor:
        job = reconstruct_frames(source, reconstructor, cancel=stop)
        with pytest.raises(JobCancelled) as info:
            for done, total in job:
                seen.append((done, total))
                if done == 5:
                    stop.set()
        assert seen == [(i, 20) for i in range(1, 6)]
        assert len(info.value.partial) == 5 and not any(o.face_found for o in info.value.partial)
        assert "cancelled after 5 frames" in str(info.value)
        # a callable works as well, and a job that is never cancelled returns every observation
        job = reconstruct_frames(source, reconstructor, cancel=lambda: False)
        from studio.core.jobs import run_job

        assert len(run_job(job)) == 20


# -- synthetic performer (offscreen GL) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def performer_curves(ict_rig) -> np.ndarray:
    from studio.core.rig.control_curves import moderate_expression_curves

    curves = moderate_expression_curves(ict_rig.expression_names, 90, 30.0, seed=2)
    curves[-1] = 0.0
    curves[-1, ict_rig.control_index("jawOpen")] = 0.6  # a frame that surely differs from neutral
    return curves


@pytest.mark.gl
def test_synthetic_frames_carry_truth(ict_rig, performer_curves):
    from studio.render.synthetic_performer import SyntheticPerformerSource

    source = SyntheticPerformerSource(ict_rig, performer_curves[[0, 1, 50, 89]], fps=30.0, seed=2)
    assert (source.num_frames, source.fps, source.size) == (4, 30.0, (640, 480))
    with source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.time_s for f in frames] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    for frame, controls in zip(frames, performer_curves[[0, 1, 50, 89]], strict=True):
        assert frame.image.shape == (480, 640, 3) and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.truth_controls, controls)
        np.testing.assert_array_equal(frame.truth_state.controls, controls)
        assert np.all(np.abs(frame.truth_state.head_rotation_deg) <= 4.0)
        assert np.all(np.abs(frame.truth_state.head_translation_cm) <= 0.5)
    assert not np.array_equal(
        frames[0].truth_state.head_rotation_deg, frames[3].truth_state.head_rotation_deg
    )
    changed = np.abs(frames[3].image.astype(int) - frames[0].image.astype(int)).max(axis=-1) > 30
    assert changed.mean() > 0.003, "a different expression should look different"


@pytest.mark.gl
def test_synthetic_performer_is_deterministic_for_a_seed(ict_rig, performer_curves):
    from studio.render.synthetic_performer import SyntheticPerformerSource

    def render(seed: int) -> list[Frame]:
        with SyntheticPerformerSource(ict_rig, performer_curves[:3], seed=seed, size=(320, 240)) as source:
            return list(source)

    first, again, other = render(7), render(7), render(8)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.truth_state.head_rotation_deg, b.truth_state.head_rotation_deg)
    assert not np.array_equal(first[2].image, other[2].image), "another seed moves the head differently"


@pytest.mark.gl
def test_still_synthetic_head_differs_only_by_controls(ict_rig):
    from studio.render.synthetic_performer import SyntheticPerformerSource

    curves = np.zeros((2, ict_rig.num_controls), np.float32)
    curves[1, ict_rig.control_index("eyeBlink_L")] = 0.6
    with SyntheticPerformerSource(ict_rig, curves, head_motion=False, size=(320, 240)) as source:
        neutral, blink = list(source)
    assert not neutral.truth_state.head_rotation_deg.any() and not blink.truth_state.head_translation_cm.any()
    changed = np.abs(blink.image.astype(int) - neutral.image.astype(int)).max(axis=-1) > 30
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 20 and rows.mean() < 120, "the blink changes the upper half of the face"
    assert cols.mean() > 160, "the face's left eye is on the image's right"


@pytest.mark.gl
def test_mediapipe_sees_the_synthetic_face_at_tracking_size(ict_rig, performer_curves, model_path):
    from studio.core.jobs import run_job
    from studio.core.tracking.reconstruction import GeometryReconstructor, reconstruct_frames
    from studio.render.synthetic_performer import SyntheticPerformerSource

    source = SyntheticPerformerSource(ict_rig, performer_curves[::6], seed=2)
    with source, GeometryReconstructor("video", model_path) as reconstructor:
        observations = run_job(reconstruct_frames(source, reconstructor))
    assert all(o.face_found for o in observations)
    heights = [np.ptp(o.landmarks[:, 1]) / 480 for o in observations]
    assert 0.5 <= np.median(heights) <= 0.62, f"face spans {np.median(heights):.0%} of the image height"





def test_mediapipes_gpu_delegate_runs_or_says_why_in_one_line(assets_dir):
    """The GPU delegate is tried for real: where MediaPipe cannot use it (no physical GPU), one line says why."""
    from studio.core.tracking.face_landmarker import (
        FaceLandmarker,
        MediaPipeDelegateError,
        gpu_delegate_status,
    )

    works, reason = gpu_delegate_status()
    if works:
        assert reason == ""
        with FaceLandmarker(delegate="gpu") as landmarker:
            assert landmarker.delegate == "gpu"
    else:
        assert reason.startswith("MediaPipe's GPU delegate is not available here: ") and "\n" not in reason
        with pytest.raises(MediaPipeDelegateError):
            FaceLandmarker(delegate="gpu")
    with pytest.raises(ValueError, match="delegate"):
        FaceLandmarker(delegate="tpu")
