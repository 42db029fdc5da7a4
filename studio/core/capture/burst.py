"""Burst capture of one held expression (paper 001, Sec. 8): wait for stillness, record a burst, average it.

A Simon-Says expression is recorded as a *burst*: the performer makes the expression, the studio waits
until the face holds still (:class:`StillnessDetector` on the head-pose-free landmarks), records
``burst_frames`` frames, and averages them robustly (:func:`average_burst`) into one face, rig space,
centimetres (:func:`burst_from_frames`). The guided capture that prompts, waits and records is the session's
(:func:`studio.core.session.simon_says.simon_says_job`).

Conventions: landmarks are MediaPipe's ``N = 478``; raw landmarks are pixels (x right, y down, z MediaPipe's
relative depth in the scale of x); aligned landmarks are rig space, centimetres, +y up; speeds are mm/s;
spreads are mm. Frames without a face are NaN.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from studio.core.errors import StudioError
from studio.core.tracking.inversion.crops import CROP_SIZE, face_crop
from studio.core.tracking.reconstruction import FaceObservation

#: The capture every session starts with; the tracker's performer neutral comes from it.
NEUTRAL = "neutral"
#: Default stillness threshold: mean over the window of the median landmark speed, mm/s. MediaPipe's
#: frame-to-frame jitter of the aligned landmarks alone reads as roughly 5–15 mm/s at 30 fps.
DEFAULT_STILLNESS_MM_PER_S = 20.0
#: Default outlier cut of :func:`average_burst`, in (normal-scaled) MADs above the median RMS distance.
DEFAULT_OUTLIER_MADS = 3.0
#: Thumbnails kept per burst (first, middle and last burst frames) and their largest side in pixels.
NUM_THUMBNAILS = 3
THUMBNAIL_MAX_SIDE = 160
#: Face crops kept per burst for the learned tracker's calibration (evenly spread over the frames with a face).
NUM_CROPS = 10
#: Smallest MAD used by :func:`average_burst` (cm): a perfectly steady burst does not reject rounding noise.
_MIN_MAD_CM = 1e-3
_MAD_TO_SIGMA = 1.4826

class CaptureError(StudioError):
    """A burst could not be captured (no face, never still, source ended); one-line message."""


# ----------------------------------------------------------------------------------------------------------
# Stillness
# ----------------------------------------------------------------------------------------------------------


class StillnessDetector:
    """Whether the face holds still, from head-pose-free landmarks frame by frame.

    Per frame the speed is the *median over landmarks* (see ``landmark_quantile``) of each landmark's displacement from the previous
    frame divided by the time step (robust to a few jumpy landmarks), in mm/s. The face is still when the
    last ``window_s`` seconds of frames all had a face and their mean speed is below the threshold.

    Parameters
    ----------
    fps : float
        Nominal frame rate; the window holds ``ceil(window_s · fps)`` speeds (at least one).
    window_s : float
        How long the face must hold, seconds.
    threshold_mm_per_s : float
        Largest mean speed that counts as still, mm/s.
    landmark_quantile : float
        Which quantile over landmarks is the frame's speed: 0.5 (the median) by default. The median barely
        sees motion confined to less than half the face (a jaw opening moves the lower face only); 0.75
        or 0.9 is stricter there, still robust to a few jumpy landmarks.

    Attributes
    ----------
    speed_mm_per_s : float
        The window's mean speed after the last :meth:`update` (NaN until two frames with a face).
    """

    def __init__(
        self,
        fps: float,
        window_s: float = 0.3,
        threshold_mm_per_s: float = DEFAULT_STILLNESS_MM_PER_S,
        landmark_quantile: float = 0.5,
    ) -> None:
        if fps <= 0 or window_s <= 0 or threshold_mm_per_s <= 0:
            raise ValueError("fps, window_s and threshold_mm_per_s must be positive")
        if not 0.0 <= landmark_quantile <= 1.0:
            raise ValueError(f"landmark_quantile must be in [0, 1], got {landmark_quantile}")
        self.landmark_quantile = float(landmark_quantile)
        self.fps = float(fps)
        self.window_s = float(window_s)
        self.threshold_mm_per_s = float(threshold_mm_per_s)
        self.window_frames = max(1, math.ceil(self.window_s * self.fps - 1e-9))
        self._speeds: deque[float] = deque(maxlen=self.window_frames)
        self._previous: tuple[float, np.ndarray] | None = None
        self.speed_mm_per_s = math.nan

    def reset(self) -> None:
        """Forget every frame seen so far."""
        self._speeds.clear()
        self._previous = None
        self.speed_mm_per_s = math.nan

    @property
    def held_fraction(self) -> float:
        """How far the face is through the hold, in [0, 1]: the share of the window filled with frames
        whose mean speed is below the threshold (0 while it moves)."""
        if not self._speeds or not self.speed_mm_per_s < self.threshold_mm_per_s:
            return 0.0
        return len(self._speeds) / self.window_frames

    def update(self, time_s: float, aligned: np.ndarray) -> bool:
        """Add one frame and say whether the face is still.

        Parameters
        ----------
        time_s : float
            The frame's time, seconds (increasing).
        aligned : np.ndarray
            Head-pose-free landmarks, shape ``(N, 3)``, rig space, cm; NaN when no face (resets the window).

        Returns
        -------
        bool
            True when the last ``window_s`` seconds held still.
        """
        aligned = np.asarray(aligned, np.float64)
        if aligned.ndim != 2 or aligned.shape[1] != 3:
            raise ValueError(f"aligned landmarks must have shape (N, 3), got {aligned.shape}")
        if not np.isfinite(aligned).all():
            self.reset()
            return False
        previous, self._previous = self._previous, (float(time_s), aligned)
        if previous is not None:
            dt = float(time_s) - previous[0]
            if dt <= 0:
                dt = 1.0 / self.fps
            step_mm = 10.0 * np.linalg.norm(aligned - previous[1], axis=1)  # (N,) mm
            self._speeds.append(float(np.quantile(step_mm, self.landmark_quantile)) / dt)
        if not self._speeds:
            return False
        self.speed_mm_per_s = float(np.mean(self._speeds))
        return len(self._speeds) == self.window_frames and self.speed_mm_per_s < self.threshold_mm_per_s


# ----------------------------------------------------------------------------------------------------------
# Burst averaging
# ----------------------------------------------------------------------------------------------------------


def average_burst(
    aligned: np.ndarray, outlier_mads: float = DEFAULT_OUTLIER_MADS
) -> tuple[np.ndarray, np.ndarray, float]:
    """Robust mean face of a burst.

    Frames without a face (any NaN) are dropped. For the others the RMS distance over landmarks to the
    per-coordinate median face is computed; frames whose distance exceeds the median distance by more than
    ``outlier_mads`` normal-scaled MADs (``1.4826 · MAD``, at least 0.01 mm) are dropped too (blinks, a
    twitch, a tracking glitch). The kept frames are averaged.

    Parameters
    ----------
    aligned : np.ndarray
        Head-pose-free landmarks of the burst, shape ``(F, N, 3)``, rig space, cm; NaN when no face.
    outlier_mads : float
        The ``k`` of the outlier cut.

    Returns
    -------
    mean : np.ndarray
        Mean of the kept frames, shape ``(N, 3)``, float64, cm.
    kept : np.ndarray
        Which frames were averaged, shape ``(F,)``, bool.
    spread_mm : float
        RMS distance of the kept frames' landmarks to the mean, mm (the burst's steadiness).

    Raises
    ------
    CaptureError
        No frame has a face.
    """
    aligned = np.asarray(aligned, np.float64)
    if aligned.ndim != 3 or aligned.shape[2] != 3:
        raise ValueError(f"aligned landmarks must have shape (F, N, 3), got {aligned.shape}")
    finite = np.isfinite(aligned).all(axis=(1, 2))
    if not finite.any():
        raise CaptureError("no frame of the burst has a face")
    median = np.median(aligned[finite], axis=0)  # (N, 3)
    rms = np.full(len(aligned), np.inf)
    rms[finite] = np.sqrt(((aligned[finite] - median) ** 2).sum(axis=2).mean(axis=1))  # (F,) cm
    centre = float(np.median(rms[finite]))
    mad = float(np.median(np.abs(rms[finite] - centre)))
    kept = finite & (rms <= centre + outlier_mads * max(_MAD_TO_SIGMA * mad, _MIN_MAD_CM))
    mean = aligned[kept].mean(axis=0)
    spread_mm = 10.0 * float(np.sqrt(((aligned[kept] - mean) ** 2).sum(axis=2).mean()))
    return mean, kept, spread_mm


# ----------------------------------------------------------------------------------------------------------
# The capture
# ----------------------------------------------------------------------------------------------------------


@dataclass
class BurstCapture:
    """One captured expression: the burst's raw and aligned landmarks and their robust average.

    Attributes
    ----------
    landmarks_px : np.ndarray
        MediaPipe landmarks per burst frame, shape ``(F, 478, 3)``, float32, pixels; NaN without a face.
    time_s : np.ndarray
        Frame times, shape ``(F,)``, float64, seconds from the start of the source.
    face_found : np.ndarray
        Shape ``(F,)``, bool.
    aligned : np.ndarray
        Head-pose-free landmarks, shape ``(F, 478, 3)``, float32, rig space, cm; NaN without a face.
    averaged : np.ndarray
        Robust mean of the kept aligned frames, shape ``(478, 3)``, float64, rig space, cm.
    kept : np.ndarray
        Frames that went into ``averaged``, shape ``(F,)``, bool.
    blendshapes : np.ndarray
        MediaPipe's blendshape scores per frame, shape ``(F, 52)``, float32 in [0, 1] in
        :data:`~studio.core.tracking.reconstruction.BLENDSHAPE_NAMES` order; NaN without a face.
    stillness_mm_per_s : float
        The stillness detector's speed when the burst started, mm/s (NaN when not measured).
    spread_mm : float
        RMS distance of the kept frames to ``averaged``, mm.
    aligned_to : str
        What the frames were aligned onto: ``"rig_neutral"`` or ``"performer_neutral"``.
    flags : list
        Quality flags (JSON-serialisable items, e.g. from ``studio.core.capture.quality``); empty when none.
    thumbnails : list of np.ndarray
        A few small RGB images of the burst, each ``(h, w, 3)`` uint8 (not stored in ``burst.npz``; the
        session writes them as JPEGs and does not read them back).
    crops : np.ndarray or None
        The learned tracker's face crops (:func:`~studio.core.tracking.inversion.crops.face_crop`) of up to
        :data:`NUM_CROPS` burst frames with a face, evenly spread, ``(C, s, s, 3)`` uint8 RGB; None for captures
        made before crops were kept. The learned tracker's calibration per performer trains on them.
    crop_frames : np.ndarray or None
        The burst frames the crops are of, ``(C,)`` int64.
    """

    landmarks_px: np.ndarray
    time_s: np.ndarray
    face_found: np.ndarray
    aligned: np.ndarray
    averaged: np.ndarray
    kept: np.ndarray
    blendshapes: np.ndarray
    stillness_mm_per_s: float = math.nan
    spread_mm: float = math.nan
    aligned_to: str = "rig_neutral"
    flags: list = field(default_factory=list)
    thumbnails: list = field(default_factory=list)
    crops: np.ndarray | None = None
    crop_frames: np.ndarray | None = None

    def __post_init__(self) -> None:
        frames = len(self.time_s)
        expected = {
            "landmarks_px": (frames, None, 3),
            "aligned": (frames, None, 3),
            "face_found": (frames,),
            "kept": (frames,),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name))
            if value.ndim != len(shape) or any(
                s is not None and s != v for s, v in zip(shape, value.shape, strict=True)
            ):
                raise ValueError(
                    f"BurstCapture.{name} has shape {value.shape}, expected {shape} (F = {frames})"
                )
        if self.averaged.shape != self.aligned.shape[1:]:
            raise ValueError(f"BurstCapture.averaged has shape {self.averaged.shape}, expected (N, 3)")
        if len(self.blendshapes) != frames:
            raise ValueError(f"BurstCapture.blendshapes has {len(self.blendshapes)} rows, expected {frames}")
        if self.crops is not None:
            chosen = np.asarray(self.crop_frames if self.crop_frames is not None else [], np.int64)
            if self.crops.ndim != 4 or self.crops.shape[3] != 3 or len(chosen) != len(self.crops) or (
                    chosen.size and (chosen.min() < 0 or chosen.max() >= frames)):
                raise ValueError(f"BurstCapture.crops has shape {self.crops.shape}, expected (C, s, s, 3) with C "
                                 f"burst frames in crop_frames")

    @property
    def num_frames(self) -> int:
        """``F``, the burst's frame count."""
        return int(len(self.time_s))

    def damage(self) -> str | None:
        """What makes the capture unusable, in words (``None`` when it is sound): NaN or infinite values in
        ``averaged``, in the kept aligned frames or in the landmarks of frames with a face, or kept frames
        without a face."""
        averaged = np.asarray(self.averaged)
        if not np.isfinite(averaged).all():
            bad = int((~np.isfinite(averaged).all(axis=-1)).sum())
            return f"has NaN or infinite values in its averaged face ({bad} of {len(averaged)} landmarks)"
        kept, found = np.asarray(self.kept, bool), np.asarray(self.face_found, bool)
        if (kept & ~found).any():
            return "keeps frames in which no face was found"
        for name, rows in (("aligned", kept), ("landmarks_px", found)):
            values = np.asarray(getattr(self, name))
            for frame in np.flatnonzero(rows):
                bad = int((~np.isfinite(values[frame]).all(axis=-1)).sum())
                if bad:
                    return f"has NaN or infinite values in {name} of frame {frame} ({bad} landmarks)"
        return None

    def quality(self) -> dict[str, Any]:
        """The figures written to ``quality.json`` (see docs/session-format.md)."""
        return {
            "frames_total": self.num_frames,
            "frames_used": int(np.count_nonzero(self.kept)),
            "frames_rejected": int(np.count_nonzero(self.face_found & ~self.kept)),
            "frames_without_face": int(np.count_nonzero(~self.face_found)),
            "stillness_mm_per_s": _json_float(self.stillness_mm_per_s),
            "spread_mm": _json_float(self.spread_mm),
            "aligned_to": self.aligned_to,
            "flags": list(self.flags),
        }


def _json_float(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _thumbnail(image: np.ndarray) -> np.ndarray:
    step = max(1, math.ceil(max(image.shape[:2]) / THUMBNAIL_MAX_SIDE))
    return np.ascontiguousarray(image[::step, ::step])


def burst_from_frames(
    observations: Sequence[FaceObservation],
    aligned_frames: Sequence[np.ndarray],
    images: Sequence[np.ndarray],
    stillness_mm_per_s: float,
    aligned_to: str,
    outlier_mads: float = DEFAULT_OUTLIER_MADS,
    source_name: str = "burst",
) -> BurstCapture:
    """A :class:`BurstCapture` from the frames recorded once the face held still.

    Parameters
    ----------
    observations : sequence of FaceObservation
        MediaPipe's result per burst frame (``F`` of them).
    aligned_frames : sequence of np.ndarray
        Head-pose-free landmarks per frame, each ``(N, 3)``, rig space, cm; NaN when no face.
    images : sequence of np.ndarray
        The frames' RGB images (thumbnails are taken from the first, middle and last).
    stillness_mm_per_s : float
        The speed that let the burst start, mm/s.
    aligned_to : str
        ``"rig_neutral"`` or ``"performer_neutral"``.
    outlier_mads : float
        Outlier cut of :func:`average_burst`.
    source_name : str
        Named in the error.

    Raises
    ------
    CaptureError
        No frame of the burst has a face.
    """
    aligned_burst = np.stack(aligned_frames)
    try:
        averaged, kept, spread_mm = average_burst(aligned_burst, outlier_mads)
    except CaptureError:
        raise CaptureError(f"{source_name}: no face in any of the {len(aligned_burst)} burst frames") from None
    picks = sorted({0, len(images) // 2, len(images) - 1})[:NUM_THUMBNAILS]
    with_face = np.flatnonzero([o.face_found for o in observations])
    chosen = with_face[np.unique(np.linspace(0, len(with_face) - 1, min(NUM_CROPS, len(with_face))).round()
                                 .astype(np.int64))] if len(with_face) and len(images) == len(observations) else \
        np.zeros(0, np.int64)
    crops = np.stack([face_crop(images[i], observations[i].landmarks, CROP_SIZE) for i in chosen]) if len(chosen) \
        else np.zeros((0, CROP_SIZE, CROP_SIZE, 3), np.uint8)
    return BurstCapture(
        landmarks_px=np.stack([o.landmarks for o in observations]).astype(np.float32),
        time_s=np.array([o.time_s for o in observations], np.float64),
        face_found=np.array([o.face_found for o in observations], bool),
        aligned=aligned_burst.astype(np.float32),
        averaged=averaged,
        kept=kept,
        blendshapes=np.stack([o.blendshapes for o in observations]).astype(np.float32),
        stillness_mm_per_s=stillness_mm_per_s,
        spread_mm=spread_mm,
        aligned_to=aligned_to,
        thumbnails=[_thumbnail(images[i]) for i in picks],
        crops=crops,
        crop_frames=chosen,
    )
