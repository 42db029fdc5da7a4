"""Burst capture: stillness, robust averaging, a burst from observed frames."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.capture.burst import (
    CaptureError,
    StillnessDetector,
    average_burst,
    burst_from_frames,
)
from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES, FaceObservation

N = 478


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _face(seed: int = 0) -> np.ndarray:
    """A face-sized landmark cloud, rig space, cm, shape (478, 3)."""
    return np.random.default_rng(seed).normal(0.0, 4.0, (N, 3))


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
# A burst from observed frames
# ----------------------------------------------------------------------------------------------------------


def _observations(landmarks_px: np.ndarray, start_frame: int = 0) -> list[FaceObservation]:
    """MediaPipe-like observations of prepared landmarks (pixels, NaN for no face) at 30 fps."""
    observations = []
    for i, landmarks in enumerate(landmarks_px.astype(np.float32), start=start_frame):
        found = bool(np.isfinite(landmarks).all())
        blendshapes = np.full(len(BLENDSHAPE_NAMES), 0.5 if found else np.nan, np.float32)
        observations.append(FaceObservation(i, i / 30.0, found, landmarks, blendshapes, np.eye(4), (8, 6)))
    return observations


def test_a_burst_keeps_the_faces_and_rejects_a_jump():
    rng = np.random.default_rng(0)
    base = 300.0 + _face(0) * 20.0
    landmarks = np.stack([base + rng.normal(0.0, 0.5, base.shape) for _ in range(30)])
    landmarks[[20, 21]] = np.nan  # the face is lost for two frames of the burst
    landmarks[25] += 40.0  # and jumps once
    aligned = [frame * 0.01 for frame in landmarks]  # 1 px = 0.01 cm, head pose already removed
    images = [np.full((6, 8, 3), i, np.uint8) for i in range(30)]
    capture = burst_from_frames(_observations(landmarks, 20), aligned, images, 3.5, "rig_neutral")
    assert capture.num_frames == 30 and capture.landmarks_px.shape == (30, N, 3)
    assert capture.aligned.shape == (30, N, 3) and capture.blendshapes.shape == (30, len(BLENDSHAPE_NAMES))
    assert capture.time_s[0] == pytest.approx(20 / 30.0) and capture.face_found.sum() == 28
    assert not capture.kept[25] and capture.kept.sum() == 27
    np.testing.assert_allclose(capture.averaged, base * 0.01, atol=0.005)
    assert capture.stillness_mm_per_s == 3.5 and capture.spread_mm < 0.2
    assert capture.aligned_to == "rig_neutral" and 1 <= len(capture.thumbnails) <= 3
    quality = capture.quality()
    assert (quality["frames_used"], quality["frames_rejected"], quality["frames_without_face"]) == (27, 1, 2)


def test_a_burst_without_a_face_is_one_line():
    landmarks = np.full((10, N, 3), np.nan)
    with pytest.raises(CaptureError, match="no face in any of the 10 burst frames") as error:
        burst_from_frames(_observations(landmarks), list(landmarks), [np.zeros((6, 8, 3), np.uint8)] * 10, 3.0,
                          "rig_neutral", source_name="smile")
    assert "\n" not in str(error.value) and str(error.value).startswith("smile: ")
