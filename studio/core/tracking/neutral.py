"""The performer's neutral face: averaged over a range of resting frames, or found automatically.

The tracker subtracts the performer's own neutral from every frame so that the performer's identity never
reads as expression (``v̂ = S·neutral + (v − v_neutral)``). The neutral comes from head-pose-free landmarks
(:mod:`studio.core.geometry.alignment`), either over a frame range the user names (``--neutral A:B``) or over the
window :func:`pick_resting_frames` finds (``--neutral auto``).

Landmark arrays are ``(T, N, 3)``: ``T`` frames of MediaPipe's ``N = 478`` landmarks (only the groups of
:class:`~studio.core.tracking.mediapipe_topology.MediaPipeLandmarkIndex` are read here, so any ``N`` above the largest
index used works), aligned into rig space (centimetres, +y up), NaN in frames without a face.
"""

from __future__ import annotations

import numpy as np

from studio.core.errors import StudioError
from studio.core.tracking.mediapipe_topology import MediaPipeLandmarkIndex as Index

#: Names of the columns of :func:`expression_ratios`.
RATIO_NAMES = (
    "mouth_open",
    "mouth_width",
    "eye_open_right",
    "eye_open_left",
    "brow_height_right",
    "brow_height_left",
)

_REQUIRED_LANDMARKS = max(
    Index.UPPER_LIP_INNER, Index.LOWER_LIP_INNER, Index.MOUTH_CORNER_RIGHT, Index.MOUTH_CORNER_LEFT,
    Index.RIGHT_EYE_UPPER_LID, Index.RIGHT_EYE_LOWER_LID, Index.LEFT_EYE_UPPER_LID, Index.LEFT_EYE_LOWER_LID,
    Index.RIGHT_EYE_OUTER, Index.RIGHT_EYE_INNER, Index.LEFT_EYE_INNER, Index.LEFT_EYE_OUTER,
    Index.RIGHT_BROW, Index.LEFT_BROW,
) + 1  # fmt: skip


class PerformerNeutralError(StudioError):
    """No usable performer neutral in the frames asked for (one-line message)."""


def _check_landmarks(landmarks: np.ndarray, min_points: int = 1) -> np.ndarray:
    landmarks = np.asarray(landmarks, np.float64)
    if landmarks.ndim != 3 or landmarks.shape[2] != 3 or landmarks.shape[1] < min_points:
        raise ValueError(f"landmarks must have shape (T, N, 3) with N >= {min_points}, got {landmarks.shape}")
    return landmarks


def _face_found(landmarks: np.ndarray) -> np.ndarray:
    """Frames whose landmarks are all finite, shape ``(T,)``, bool."""
    return np.isfinite(landmarks).all(axis=(1, 2))


# ----------------------------------------------------------------------------------------------------------
# Neutral over a range
# ----------------------------------------------------------------------------------------------------------


def neutral_from_range(landmarks_aligned: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The performer's neutral: per-coordinate median of the aligned landmarks over frames ``start:stop``.

    The median (rather than the mean) ignores a blink or a twitch inside the range. Frames without a face
    (any NaN landmark) are skipped.

    Parameters
    ----------
    landmarks_aligned : np.ndarray
        Head-pose-free landmarks, shape ``(T, N, 3)``, centimetres (rig space); NaN where no face.
    start, stop : int
        Frame range, ``stop`` exclusive, ``0 <= start < stop <= T``.

    Returns
    -------
    np.ndarray
        Neutral landmarks, shape ``(N, 3)``, float64, centimetres, all finite.

    Raises
    ------
    PerformerNeutralError
        The range is empty, outside the take, or holds no frame with a face.
    """
    landmarks = _check_landmarks(landmarks_aligned)
    num_frames = landmarks.shape[0]
    if not 0 <= start < stop <= num_frames:
        raise PerformerNeutralError(f"neutral range {start}:{stop} is not inside the take's {num_frames} frames")
    chunk = landmarks[start:stop]
    found = _face_found(chunk)
    if not found.any():
        raise PerformerNeutralError(f"neutral range {start}:{stop} has no frame with a face; choose another range")
    return np.median(chunk[found], axis=0)


# ----------------------------------------------------------------------------------------------------------
# Resting-face detection
# ----------------------------------------------------------------------------------------------------------


def _distance(landmarks: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=-1)


def expression_ratios(landmarks: np.ndarray) -> np.ndarray:
    """Scale-free measures of the expression in each frame, as ratios to the eye span.

    The eye span is the distance between the outer eye corners (landmarks 33 and 263), which expressions
    barely move. Columns (see :data:`RATIO_NAMES`):

    - ``mouth_open``: inner-lip gap, upper lip 13 to lower lip 14;
    - ``mouth_width``: mouth corner 61 to mouth corner 291;
    - ``eye_open_right`` / ``eye_open_left``: lid gap 159–145 / 386–374;
    - ``brow_height_right`` / ``brow_height_left``: brow point 105 / 334 to the middle of that eye's corners
      (33–133 / 362–263), which blinks do not move.

    Parameters
    ----------
    landmarks : np.ndarray
        Shape ``(T, N, 3)``, any length unit (aligned or not: ratios need no head-pose removal), ``N >= 387``.

    Returns
    -------
    np.ndarray
        Shape ``(T, 6)``, float64, unitless (eye spans); NaN rows where the landmarks are NaN.
    """
    landmarks = _check_landmarks(landmarks, _REQUIRED_LANDMARKS)
    span = _distance(landmarks, Index.RIGHT_EYE_OUTER, Index.LEFT_EYE_OUTER)
    right_eye = 0.5 * (landmarks[:, Index.RIGHT_EYE_OUTER] + landmarks[:, Index.RIGHT_EYE_INNER])
    left_eye = 0.5 * (landmarks[:, Index.LEFT_EYE_INNER] + landmarks[:, Index.LEFT_EYE_OUTER])
    lengths = np.stack(
        [
            _distance(landmarks, Index.UPPER_LIP_INNER, Index.LOWER_LIP_INNER),
            _distance(landmarks, Index.MOUTH_CORNER_RIGHT, Index.MOUTH_CORNER_LEFT),
            _distance(landmarks, Index.RIGHT_EYE_UPPER_LID, Index.RIGHT_EYE_LOWER_LID),
            _distance(landmarks, Index.LEFT_EYE_UPPER_LID, Index.LEFT_EYE_LOWER_LID),
            np.linalg.norm(landmarks[:, Index.RIGHT_BROW] - right_eye, axis=-1),
            np.linalg.norm(landmarks[:, Index.LEFT_BROW] - left_eye, axis=-1),
        ],
        axis=1,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return lengths / np.where(span > 0, span, np.nan)[:, None]


def resting_cost(landmarks: np.ndarray) -> np.ndarray:
    """How far each frame's face is from resting, in eye spans (0 = resting).

    From :func:`expression_ratios` ``r``, with references taken over the take's frames with a face::

        cost = max(0, mouth_open − P5(mouth_open))          lips apart (one-sided: closed is resting)
             + |mouth_width − median(mouth_width)|           corners stretched (smile) or pulled in (pucker)
             + Σ_eyes  |eye_open − median(eye_open)|         eyes closing, squinting or widening
             + Σ_brows |brow_height − median(brow_height)|   brows raised or lowered

    ``P5`` is the 5th percentile. The medians take the take's *typical* face as resting for everything but
    the mouth opening, so they assume the performer rests more often than they hold any one expression
    (true of performances and of Simon-Says sessions with neutral returns; name a range otherwise).

    Parameters
    ----------
    landmarks : np.ndarray
        Shape ``(T, N, 3)``, ``N >= 387``; NaN where no face.

    Returns
    -------
    np.ndarray
        Shape ``(T,)``, float64, unitless (eye spans); NaN where no face.
    """
    return resting_cost_of_ratios(expression_ratios(landmarks))


def resting_cost_of_ratios(ratios: np.ndarray) -> np.ndarray:
    """:func:`resting_cost` from the take's :func:`expression_ratios` ``(T, 6)``: shape ``(T,)``, eye spans."""
    ratios = np.asarray(ratios, np.float64)
    found = np.isfinite(ratios).all(axis=1)
    if not found.any():
        return np.full(ratios.shape[0], np.nan)
    reference = np.median(ratios[found], axis=0)
    reference[0] = np.percentile(ratios[found, 0], 5.0)
    deviation = np.abs(ratios - reference)
    deviation[:, 0] = np.maximum(ratios[:, 0] - reference[0], 0.0)
    return deviation.sum(axis=1)


def landmark_speed(landmarks: np.ndarray, fps: float) -> np.ndarray:
    """Root-mean-square landmark speed between consecutive frames, in eye spans per second.

    Parameters
    ----------
    landmarks : np.ndarray
        Head-pose-free landmarks, shape ``(T, N, 3)``, ``N >= 387``; NaN where no face.
    fps : float
        Frame rate, Hz.

    Returns
    -------
    np.ndarray
        Shape ``(T − 1,)``, float64: entry ``t`` is the speed from frame ``t`` to ``t + 1`` (RMS over the
        landmarks, so a moving region counts even when the rest of the face is still); NaN when either frame
        has no face.
    """
    return speed_from_motion(*landmark_motion(landmarks), fps)


def landmark_motion(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`landmark_speed` is made of, without the frame rate: per consecutive pair of frames, the RMS
    landmark step and the mean eye span, each shape ``(T − 1,)`` (computable a chunk at a time, each chunk
    starting with the previous chunk's last frame)."""
    landmarks = _check_landmarks(landmarks, _REQUIRED_LANDMARKS)
    span = _distance(landmarks, Index.RIGHT_EYE_OUTER, Index.LEFT_EYE_OUTER)
    step = np.linalg.norm(np.diff(landmarks, axis=0), axis=-1)  # (T-1, N)
    rms = np.sqrt(np.mean(step**2, axis=1))
    scale = 0.5 * (span[1:] + span[:-1])
    return rms, scale


def speed_from_motion(rms: np.ndarray, scale: np.ndarray, fps: float) -> np.ndarray:
    """:func:`landmark_speed` from :func:`landmark_motion`'s ``(rms, scale)``: eye spans per second."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return rms * fps / np.where(scale > 0, scale, np.nan)


def _window_means(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the finite values and the finite fraction in every window of ``length``, shape ``(W,)``."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    total = sums[length:] - sums[:-length]
    count = counts[length:] - counts[:-length]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan), count / length


def pick_resting_frames(
    landmarks_aligned: np.ndarray,
    fps: float,
    window_s: float = 1.0,
    motion_weight_s: float = 0.25,
    min_face_fraction: float = 0.8,
) -> tuple[int, int]:
    """Find the window of frames that best shows the performer's resting face (``--neutral auto``).

    Every window of ``round(window_s · fps)`` consecutive frames (the whole take if it is shorter) is scored
    ``mean resting_cost + motion_weight_s · mean landmark_speed`` and the lowest score wins:

    - *resting* (:func:`resting_cost`): lips closed, mouth corners neither stretched nor pulled in, eyes
      neither closing nor wide, brows neither raised nor lowered — measured as ratios to the eye span, so the
      face's size does not matter;
    - *still* (:func:`landmark_speed`): little landmark motion, so the window is a held face rather than a
      face passing through a neutral-looking shape. ``motion_weight_s`` converts speed (eye spans per
      second) into the cost's unit (eye spans).

    Windows where fewer than ``min_face_fraction`` of the frames have a face are not considered.

    Parameters
    ----------
    landmarks_aligned : np.ndarray
        Head-pose-free landmarks, shape ``(T, N, 3)``, ``N >= 387``, centimetres; NaN where no face.
    fps : float
        Frame rate, Hz.
    window_s : float
        Window length, seconds.
    motion_weight_s : float
        Weight of the stillness term, seconds.
    min_face_fraction : float
        Fraction of a window's frames that must have a face, in (0, 1].

    Returns
    -------
    tuple of int
        ``(start, stop)``, frames, ``stop`` exclusive; feed to :func:`neutral_from_range`.

    Raises
    ------
    PerformerNeutralError
        No window has enough frames with a face.
    """
    landmarks = _check_landmarks(landmarks_aligned, _REQUIRED_LANDMARKS)
    return pick_resting_window(
        expression_ratios(landmarks), *landmark_motion(landmarks), fps, window_s, motion_weight_s, min_face_fraction
    )


def pick_resting_window(
    ratios: np.ndarray,
    motion_rms: np.ndarray,
    motion_scale: np.ndarray,
    fps: float,
    window_s: float = 1.0,
    motion_weight_s: float = 0.25,
    min_face_fraction: float = 0.8,
) -> tuple[int, int]:
    """:func:`pick_resting_frames` from per-frame figures gathered as the take streams by: the
    :func:`expression_ratios` ``(T, 6)`` and the :func:`landmark_motion` ``(T − 1,)`` twice, of the aligned
    landmarks. Same result as :func:`pick_resting_frames` on those landmarks."""
    if fps <= 0 or window_s <= 0 or motion_weight_s < 0 or not 0 < min_face_fraction <= 1:
        raise ValueError("fps and window_s must be > 0, motion_weight_s >= 0, min_face_fraction in (0, 1]")
    num_frames = np.asarray(ratios).shape[0]
    if num_frames == 0:
        raise PerformerNeutralError("no frames to pick a neutral from")
    length = int(min(max(round(window_s * fps), 1), num_frames))
    cost, face_fraction = _window_means(resting_cost_of_ratios(ratios), length)
    score = cost
    if length > 1:
        speed, _ = _window_means(speed_from_motion(motion_rms, motion_scale, fps), length - 1)
        score = cost + motion_weight_s * speed
    score = np.where((face_fraction >= min_face_fraction) & np.isfinite(score), score, np.inf)
    if not np.isfinite(score).any():
        raise PerformerNeutralError(
            f"no {length}-frame window with a face in {min_face_fraction:.0%} of its frames; name a --neutral range"
        )
    start = int(np.argmin(score))
    return start, start + length
