"""Burst capture: stillness, robust averaging, one expression captured from prepared landmarks, a whole session
(neutral first, resumed) from prepared landmarks and from the real synthetic performer."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from studio.core.capture.burst import (
    BurstCapture,
    CaptureError,
    StillnessDetector,
    average_burst,
    capture_expression_job,
)
from studio.core.jobs import JobCancelled, run_job
from studio.core.session.folder import Session
from studio.core.session.synthetic import capture_session_job
from studio.core.tracking.frame_sources import Frame, FrameSource
from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES, FaceObservation

REPO = Path(__file__).resolve().parents[3]
N = 478
EXPRESSIONS = ["jawOpen", "smile", "browsUp", "pucker", "eyesClosed"]


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _face(seed: int = 0) -> np.ndarray:
    """A face-sized landmark cloud, rig space, cm, shape (478, 3)."""
    return np.random.default_rng(seed).normal(0.0, 4.0, (N, 3))


def make_capture(frames: int = 12, seed: int = 0, flags: list | None = None) -> BurstCapture:
    rng = np.random.default_rng(seed)
    aligned = _face(seed) + rng.normal(0.0, 0.005, (frames, N, 3))
    averaged, kept, spread = average_burst(aligned)
    return BurstCapture(
        landmarks_px=(rng.uniform(100, 400, (frames, N, 3))).astype(np.float32),
        time_s=np.arange(frames) / 30.0,
        face_found=np.ones(frames, bool),
        aligned=aligned.astype(np.float32),
        averaged=averaged,
        kept=kept,
        blendshapes=rng.uniform(0, 1, (frames, len(BLENDSHAPE_NAMES))).astype(np.float32),
        stillness_mm_per_s=3.5,
        spread_mm=spread,
        flags=list(flags or []),
    )


def new_session(folder: Path) -> Session:
    return Session.create(folder, {"name": "Ada", "notes": "test"}, "ict_facekit", "basic", EXPRESSIONS)


def assert_same_capture(a: BurstCapture, b: BurstCapture) -> None:
    for key in ("landmarks_px", "time_s", "face_found", "aligned", "averaged", "kept", "blendshapes"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key), err_msg=key)
    assert a.spread_mm == pytest.approx(b.spread_mm) and a.flags == b.flags and a.aligned_to == b.aligned_to


# ----------------------------------------------------------------------------------------------------------
# Stillness and averaging
# ----------------------------------------------------------------------------------------------------------


def test_stillness_detector_moving_then_holding():
    rng = np.random.default_rng(0)
    base = _face()
    detector = StillnessDetector(fps=30.0, window_s=0.3, threshold_mm_per_s=20.0)
    assert detector.window_frames == 9
    verdicts = []
    for frame in range(60):
        t = frame / 30.0
        motion = min(t, 1.0) * 3.0  # moves 3 cm/s (30 mm/s) for a second, then holds
        aligned = base + motion + rng.normal(0.0, 0.01, base.shape)  # 0.1 mm jitter per coordinate
        verdicts.append(detector.update(t, aligned))
    assert not any(verdicts[:30]), "moving at 30 mm/s is not still"
    assert detector.speed_mm_per_s < 20.0
    first_still = verdicts.index(True)
    assert 30 < first_still <= 31 + detector.window_frames
    assert all(verdicts[first_still:])
    assert not detector.update(2.1, np.full((N, 3), np.nan)), "no face is never still"
    assert not detector.update(2.2, base), "the window starts again after a missing face"


def test_stillness_is_robust_to_a_few_jumping_landmarks():
    detector = StillnessDetector(fps=30.0)
    base = _face()
    for frame in range(12):
        aligned = base.copy()
        aligned[:20] += (frame % 2) * 2.0  # 20 landmarks jump 2 cm every frame
        still = detector.update(frame / 30.0, aligned)
    assert still


def test_average_burst_rejects_outlier_and_missing_frames():
    rng = np.random.default_rng(1)
    base = _face(1)
    burst = base + rng.normal(0.0, 0.01, (30, N, 3))
    burst[[4, 17, 25]] += rng.normal(0.0, 0.3, (3, N, 3))  # glitches: 3 mm per coordinate
    burst[9, :, 1] += 0.5  # one frame shifted 5 mm
    burst[[2, 20]] = np.nan  # no face
    mean, kept, spread_mm = average_burst(burst)
    assert kept.shape == (30,) and not kept[[2, 4, 9, 17, 20, 25]].any() and kept.sum() >= 22
    assert np.abs(mean - base).max() < 0.01
    assert 0.1 < spread_mm < 0.3  # 0.1 mm per coordinate → about 0.17 mm RMS in 3D
    with pytest.raises(CaptureError, match="no frame"):
        average_burst(np.full((5, N, 3), np.nan))


# ----------------------------------------------------------------------------------------------------------
# Capture jobs with a prepared landmark source (test doubles for speed)
# ----------------------------------------------------------------------------------------------------------


class LandmarkSource(FrameSource):
    """Tiny frames whose index picks prepared landmarks (pixels, NaN for no face)."""

    def __init__(self, landmarks_px: np.ndarray, fps: float = 30.0, name: str = "prepared") -> None:
        self.landmarks_px = landmarks_px
        self.fps, self.num_frames, self.size, self.name = fps, len(landmarks_px), (8, 6), name
        self.closed = False

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.num_frames):
            yield Frame(index, index / self.fps, np.full((6, 8, 3), index % 256, np.uint8))

    def close(self) -> None:
        self.closed = True


class PreparedReconstructor:
    """Returns the source's prepared landmarks as observations."""

    def __init__(self) -> None:
        self.source: LandmarkSource | None = None

    def observe(self, frame: Frame) -> FaceObservation:
        landmarks = self.source.landmarks_px[frame.index].astype(np.float32)
        found = bool(np.isfinite(landmarks).all())
        blendshapes = np.full(len(BLENDSHAPE_NAMES), 0.5 if found else np.nan, np.float32)
        return FaceObservation(frame.index, frame.time_s, found, landmarks, blendshapes, np.eye(4), (8, 6))

    def close(self) -> None:
        pass


class ScaleTracker:
    """Aligns by scaling pixels to centimetres (1 px = 0.01 cm); records the performer neutral."""

    performer_neutral = None

    def align(self, landmarks_px: np.ndarray) -> np.ndarray:
        return np.asarray(landmarks_px, np.float64) * 0.01

    def set_performer_neutral(self, neutral: np.ndarray) -> None:
        self.performer_neutral = np.asarray(neutral)

    def clear_performer_neutral(self) -> None:
        self.performer_neutral = None


def moving_then_holding(move_frames: int, hold_frames: int, seed: int = 0, offset: float = 0.0) -> np.ndarray:
    """Pixels: moves 10 px/frame (3 cm/s after scaling at 30 fps) then holds with 0.5 px jitter."""
    rng = np.random.default_rng(seed)
    base = 300.0 + _face(seed) * 20.0 + offset
    frames = [base + 10.0 * (i - move_frames) for i in range(move_frames)]
    frames += [base + rng.normal(0.0, 0.5, base.shape) for _ in range(hold_frames)]
    return np.stack(frames)


def run_capture(landmarks_px: np.ndarray, **options) -> tuple[BurstCapture, list]:
    source, reconstructor = LandmarkSource(landmarks_px), PreparedReconstructor()
    reconstructor.source = source
    progress: list = []
    job = capture_expression_job(source, reconstructor, ScaleTracker(), **options)
    return run_job(job, progress.append), progress


def test_capture_expression_waits_for_stillness_then_takes_a_burst():
    landmarks = moving_then_holding(20, 60)
    landmarks[[40, 41]] = np.nan  # the face is lost for two frames of the burst
    landmarks[45] += 40.0  # and jumps once
    capture, progress = run_capture(landmarks, burst_frames=30)
    waiting = [p for p in progress if p[0] == "waiting"]
    assert len(waiting) >= 20 and all(p[1] > 20.0 for p in waiting[1:19])
    assert [p for p in progress if p[0] == "capturing"] == [("capturing", i, 30) for i in range(1, 31)]
    assert capture.num_frames == 30 and capture.landmarks_px.shape == (30, N, 3)
    assert capture.aligned.shape == (30, N, 3) and capture.blendshapes.shape == (30, len(BLENDSHAPE_NAMES))
    assert capture.time_s[0] >= 20 / 30.0, "the burst starts once the face holds"
    assert capture.face_found.sum() == 28
    assert not capture.kept[capture.time_s.searchsorted(45 / 30.0)]
    assert capture.kept.sum() == 27
    np.testing.assert_allclose(capture.averaged, (300.0 + _face(0) * 20.0) * 0.01, atol=0.005)
    assert capture.stillness_mm_per_s < 20.0 and capture.spread_mm < 0.2
    assert capture.aligned_to == "rig_neutral" and 1 <= len(capture.thumbnails) <= 3
    quality = capture.quality()
    assert (quality["frames_used"], quality["frames_rejected"], quality["frames_without_face"]) == (27, 1, 2)


def test_capture_expression_errors_in_one_line():
    with pytest.raises(CaptureError, match="no face found within 1 s") as error:
        run_capture(np.full((60, N, 3), np.nan), max_wait_s=1.0)
    assert "\n" not in str(error.value)
    with pytest.raises(CaptureError, match="did not hold still within 1 s"):
        run_capture(moving_then_holding(60, 0), max_wait_s=1.0)
    with pytest.raises(CaptureError, match="source ended after"):
        run_capture(moving_then_holding(0, 20), burst_frames=30)


def test_capture_expression_is_cancellable():
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(JobCancelled):
        run_capture(moving_then_holding(0, 60), cancel=cancel)


def test_capture_session_neutral_first_and_resumes(tmp_path):
    session = Session.create(tmp_path / "s", "Ada", "ict_facekit", "mini", ["jawOpen", "smile", "pucker"])
    reconstructor, tracker = PreparedReconstructor(), ScaleTracker()
    opened: list[str] = []

    def factory(name: str) -> LandmarkSource:
        opened.append(name)
        offset = {"neutral": 0.0, "jawOpen": 5.0, "smile": 10.0, "pucker": 15.0}[name]
        # the pucker source never holds still: the first run stops there
        landmarks = moving_then_holding(60, 0) if name == "pucker" and len(opened) < 5 else None
        if landmarks is None:
            landmarks = moving_then_holding(3, 45, offset=offset)
        source = LandmarkSource(landmarks, name=name)
        reconstructor.source = source
        return source

    def flags(name: str, capture: BurstCapture) -> list:
        return ["needs_review"] if name == "smile" else []

    job = capture_session_job(
        session, factory, None, reconstructor, tracker, burst_frames=20, max_wait_s=1.0, quality_flags=flags
    )
    progress: list = []
    with pytest.raises(CaptureError, match="^pucker: "):
        run_job(job, progress.append)
    assert opened == ["neutral", "jawOpen", "smile", "pucker"]
    assert [p for p in progress if p[1] == "saved"] == [
        ("neutral", "saved"),
        ("jawOpen", "saved"),
        ("smile", "saved"),
    ]
    assert tracker.performer_neutral is not None

    resumed = Session.open(tmp_path / "s")
    assert resumed.status().captured == ("neutral", "jawOpen", "smile")
    assert resumed.status().flagged == ("smile",)
    assert resumed.capture("jawOpen").aligned_to == "performer_neutral"
    assert resumed.capture("neutral").aligned_to == "rig_neutral"

    tracker2 = ScaleTracker()
    progress = []
    status = run_job(
        capture_session_job(resumed, factory, None, reconstructor, tracker2, burst_frames=20, max_wait_s=1.0),
        progress.append,
    )
    assert opened[4:] == ["pucker"], "captured expressions are skipped"
    assert [p for p in progress if p[1] == "skipped"] == [
        (n, "skipped") for n in ("neutral", "jawOpen", "smile")
    ]
    assert status.complete and status.flagged == ("smile",)
    np.testing.assert_array_equal(tracker2.performer_neutral, resumed.capture("neutral").averaged)


# ----------------------------------------------------------------------------------------------------------
# The real thing: a rendered performer, MediaPipe and the ICT tracker
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.gl
def test_capture_session_on_a_synthetic_performer(ict_rig, tmp_path):
    from studio.core.tracking.reconstruction import GeometryReconstructor
    from studio.core.tracking.tracker import Tracker
    from studio.render.synthetic_performer import SyntheticPerformerSource

    jaw = ict_rig.control_index("jawOpen")

    def factory(name: str) -> SyntheticPerformerSource:
        curves = np.zeros((45, ict_rig.num_controls), np.float32)
        if name == "jawOpen":
            curves[:, jaw] = np.minimum(np.arange(45) / 5.0, 1.0) * 0.7  # opens over 5 frames, then holds
        return SyntheticPerformerSource(ict_rig, curves, fps=30.0, head_motion=False, size=(480, 360), seed=3)

    session = Session.create(tmp_path / "s", "Synthetic", "ict_facekit", "jaw", ["jawOpen"])
    tracker = Tracker.ict(ict_rig)
    start = time.perf_counter()
    with GeometryReconstructor() as reconstructor:
        status = run_job(
            capture_session_job(
                session, factory, None, reconstructor, tracker, burst_frames=30, max_wait_s=1.0
            )
        )
    assert status.complete, f"{status} after {time.perf_counter() - start:.1f} s"
    neutral, capture = session.capture("neutral"), session.capture("jawOpen")
    assert capture.face_found.all() and capture.kept.sum() >= 25 and capture.spread_mm < 1.0
    assert math.isfinite(capture.stillness_mm_per_s) and len(session.thumbnail_paths("jawOpen")) >= 1
    controls = tracker.solve(np.stack([neutral.averaged, capture.averaged])).controls
    assert controls[1, jaw] > 0.4 and controls[1, jaw] > controls[0, jaw] + 0.3
