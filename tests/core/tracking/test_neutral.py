"""Performer neutral: median over a range, and the automatic resting-window pick on synthetic faces."""

from __future__ import annotations

import numpy as np
import pytest

from studio.core.tracking.mediapipe_topology import MediaPipeLandmarkIndex as Index
from studio.core.tracking.neutral import (
    RATIO_NAMES,
    PerformerNeutralError,
    expression_ratios,
    landmark_motion,
    neutral_from_range,
    pick_resting_frames,
    pick_resting_window,
)

FPS = 30.0
SEGMENT = 60  # frames (2 s)
N = 478


def _base_face(rng: np.random.Generator) -> np.ndarray:
    """A resting face in rig space (cm, +x the face's left, +y up): structured eyes, brows and mouth."""
    face = rng.uniform([-6.0, -8.0, -1.0], [6.0, 7.0, 2.0], size=(N, 3))
    named = {
        Index.RIGHT_EYE_OUTER: (-4.5, 3.0, 0.0),
        Index.RIGHT_EYE_INNER: (-1.5, 3.0, 0.3),
        Index.LEFT_EYE_INNER: (1.5, 3.0, 0.3),
        Index.LEFT_EYE_OUTER: (4.5, 3.0, 0.0),
        Index.RIGHT_EYE_UPPER_LID: (-3.0, 3.5, 0.5),
        Index.RIGHT_EYE_LOWER_LID: (-3.0, 2.6, 0.5),
        Index.LEFT_EYE_UPPER_LID: (3.0, 3.5, 0.5),
        Index.LEFT_EYE_LOWER_LID: (3.0, 2.6, 0.5),
        Index.RIGHT_BROW: (-3.0, 5.0, 0.6),
        Index.LEFT_BROW: (3.0, 5.0, 0.6),
        Index.UPPER_LIP_INNER: (0.0, -4.0, 1.0),
        Index.LOWER_LIP_INNER: (0.0, -4.05, 1.0),
        Index.MOUTH_CORNER_RIGHT: (-2.5, -4.2, 0.5),
        Index.MOUTH_CORNER_LEFT: (2.5, -4.2, 0.5),
    }
    for index, position in named.items():
        face[index] = position
    return face


def _expression_deltas(face: np.ndarray) -> dict[str, np.ndarray]:
    """Full-intensity displacements ``(N, 3)`` (cm) of a few expressions, each touching its own region."""
    deltas = {name: np.zeros_like(face) for name in ("jaw_open", "eyes_closed", "smile", "brow_raise", "pucker")}
    chin = np.flatnonzero(face[:, 1] < -4.5)  # jaw region moves with the lower lip
    deltas["jaw_open"][chin, 1] = -1.8
    deltas["jaw_open"][Index.LOWER_LIP_INNER, 1] = -1.8
    deltas["jaw_open"][[Index.MOUTH_CORNER_RIGHT, Index.MOUTH_CORNER_LEFT], 1] = -0.6
    deltas["eyes_closed"][[Index.RIGHT_EYE_UPPER_LID, Index.LEFT_EYE_UPPER_LID], 1] = -0.85
    deltas["smile"][Index.MOUTH_CORNER_RIGHT] = (-0.8, 0.5, -0.2)
    deltas["smile"][Index.MOUTH_CORNER_LEFT] = (0.8, 0.5, -0.2)
    deltas["brow_raise"][[Index.RIGHT_BROW, Index.LEFT_BROW], 1] = 0.8
    deltas["pucker"][Index.MOUTH_CORNER_RIGHT] = (0.7, 0.0, 0.4)
    deltas["pucker"][Index.MOUTH_CORNER_LEFT] = (-0.7, 0.0, 0.4)
    return deltas


def _hold(frames: int) -> np.ndarray:
    """Intensity of a held expression: 0.3 s ramp in, hold at 1, 0.3 s ramp out."""
    ramp = int(0.3 * FPS)
    envelope = np.ones(frames)
    envelope[:ramp] = np.linspace(0.0, 1.0, ramp)
    envelope[-ramp:] = np.linspace(1.0, 0.0, ramp)
    return envelope


def _session(seed: int = 0, noise_cm: float = 0.03):
    """Expressions around a 2 s resting segment in the middle; returns landmarks (T, N, 3) and the segment."""
    rng = np.random.default_rng(seed)
    face = _base_face(rng)
    deltas = _expression_deltas(face)
    plan = ["jaw_open", "eyes_closed", "smile", "rest", "brow_raise", "pucker", "talking"]
    frames = []
    for name in plan:
        if name == "rest":
            intensity, delta = np.zeros(SEGMENT), deltas["jaw_open"]
        elif name == "talking":  # mouth flapping open and shut at 4 Hz, never held
            intensity = 0.25 * (1 - np.cos(2 * np.pi * 4.0 * np.arange(SEGMENT) / FPS))
            delta = deltas["jaw_open"]
        else:
            intensity, delta = _hold(SEGMENT), deltas[name]
        frames.append(face + intensity[:, None, None] * delta)
    landmarks = np.concatenate(frames) + rng.normal(scale=noise_cm, size=(len(plan) * SEGMENT, N, 3))
    rest = plan.index("rest") * SEGMENT
    return landmarks, face, (rest, rest + SEGMENT)


def test_expression_ratios_read_the_named_groups():
    face = _base_face(np.random.default_rng(0))
    ratios = expression_ratios(face[None])[0]
    span = 9.0
    expected = {
        "mouth_open": 0.05 / span,
        "mouth_width": 5.0 / span,
        "eye_open_right": 0.9 / span,
        "eye_open_left": 0.9 / span,
        "brow_height_right": np.linalg.norm([0.0, 2.0, 0.45]) / span,
        "brow_height_left": np.linalg.norm([0.0, 2.0, 0.45]) / span,
    }
    np.testing.assert_allclose(ratios, [expected[name] for name in RATIO_NAMES])
    moved = 2.5 * face + np.array([10.0, -3.0, 4.0])
    np.testing.assert_allclose(expression_ratios(moved[None])[0], ratios)  # scale- and offset-free
    assert np.isnan(expression_ratios(np.full((1, N, 3), np.nan))).all()
    with pytest.raises(ValueError, match="N >= 387"):
        expression_ratios(np.zeros((2, 100, 3)))


def test_auto_picks_the_resting_segment():
    landmarks, _, (rest_start, rest_stop) = _session()
    start, stop = pick_resting_frames(landmarks, FPS, window_s=1.0)
    assert stop - start == 30
    assert rest_start <= start and stop <= rest_stop
    # Scale and offset of the face do not matter (ratios and speeds are in eye spans).
    assert pick_resting_frames(1.8 * landmarks + 5.0, FPS) == (start, stop)


def test_auto_prefers_a_still_rest_and_tolerates_lost_frames():
    landmarks, face, (rest_start, rest_stop) = _session(seed=1)
    # Just before the rest: chewing with closed lips. The chin moves but none of the measured distances
    # change, so only stillness tells it from the rest.
    rng = np.random.default_rng(9)
    chin = np.flatnonzero(face[:, 1] < -4.5)
    chewing = np.broadcast_to(face, (SEGMENT, N, 3)).copy()
    chewing[:, chin, 1] += 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(SEGMENT) / FPS)[:, None]
    landmarks[rest_start - SEGMENT : rest_start] = chewing + rng.normal(scale=0.03, size=(SEGMENT, N, 3))
    # The last segment becomes a resting face with heavy tracking noise: resting in shape, not still.
    landmarks[-SEGMENT:] = face + rng.normal(scale=0.15, size=(SEGMENT, N, 3))
    landmarks[rest_start + 20 : rest_start + 23] = np.nan  # face lost for 3 frames inside the rest
    landmarks[10:50] = np.nan  # and for a while in the first expression
    start, stop = pick_resting_frames(landmarks, FPS)
    assert rest_start <= start and stop <= rest_stop
    assert pick_resting_frames(landmarks, FPS, motion_weight_s=0.0)[0] < rest_start  # shape alone: chewing
    short = pick_resting_frames(landmarks[rest_start : rest_start + 12], FPS, window_s=1.0)
    assert short == (0, 12)  # a take shorter than the window: the whole take


def test_auto_raises_without_enough_face():
    landmarks, _, _ = _session(seed=2)
    landmarks[::2] = np.nan  # a face in only half of every window
    with pytest.raises(PerformerNeutralError, match="no 30-frame window"):
        pick_resting_frames(landmarks, FPS)
    with pytest.raises(ValueError, match="fps"):
        pick_resting_frames(landmarks, 0.0)


def test_neutral_from_range_is_a_robust_average_skipping_lost_frames():
    landmarks, face, (rest_start, rest_stop) = _session(seed=3)
    landmarks[rest_start + 5 : rest_start + 8] = np.nan  # no face
    landmarks[rest_start + 30 : rest_start + 33, Index.RIGHT_EYE_UPPER_LID, 1] -= 0.85  # a blink
    neutral = neutral_from_range(landmarks, rest_start, rest_stop)
    assert neutral.shape == (N, 3) and np.isfinite(neutral).all()
    assert np.abs(neutral - face).max() < 0.06  # noise 0.03 cm, blink ignored
    assert abs(neutral[Index.RIGHT_EYE_UPPER_LID, 1] - face[Index.RIGHT_EYE_UPPER_LID, 1]) < 0.03
    with pytest.raises(PerformerNeutralError, match="no frame with a face"):
        neutral_from_range(landmarks, rest_start + 5, rest_start + 8)
    with pytest.raises(PerformerNeutralError, match="not inside"):
        neutral_from_range(landmarks, 10, len(landmarks) + 1)
    with pytest.raises(PerformerNeutralError, match="not inside"):
        neutral_from_range(landmarks, 20, 20)


def test_the_pick_from_figures_gathered_a_chunk_at_a_time_is_the_same():
    landmarks, _, _ = _session(seed=2)
    landmarks[100:104] = np.nan
    ratios, rms, scale = [], [], []
    previous = None
    for start in range(0, len(landmarks), 37):  # chunks as a streamed take gathers them
        chunk = landmarks[start : start + 37]
        ratios.append(expression_ratios(chunk))
        joined = chunk if previous is None else np.concatenate([previous[None], chunk])
        motion = landmark_motion(joined)
        rms.append(motion[0])
        scale.append(motion[1])
        previous = chunk[-1]
    streamed = pick_resting_window(np.concatenate(ratios), np.concatenate(rms), np.concatenate(scale), FPS)
    assert streamed == pick_resting_frames(landmarks, FPS)
