"""Geometry reconstruction: MediaPipe's 478 face landmarks (and its 52 blendshapes) for each frame.

:class:`GeometryReconstructor` turns a :class:`~studio.core.tracking.frame_sources.Frame` into a
:class:`FaceObservation` in pixel units; :func:`reconstruct_frames` does it for a whole source as a
generator job (GUIDE §2) that yields ``(done, total)`` progress and checks for cancellation between frames.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.tracking.face_landmarker import NUM_LANDMARKS, FaceLandmarker
from studio.core.tracking.frame_sources import Frame, FrameSource
from studio.core.tracking.inversion.crops import face_crop

#: MediaPipe's blendshape names in the order it returns them: ``_neutral``, then the 51 ARKit names it
#: estimates, alphabetical (no ``tongueOut``).
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)

_BLENDSHAPE_INDEX = {name.lower(): i for i, name in enumerate(BLENDSHAPE_NAMES)}

#: Progress of :func:`reconstruct_frames`: frames done, and the source's frame count (``None`` when live).
Progress = tuple[int, int | None]


@dataclass(frozen=True)
class FaceObservation:
    """What geometry reconstruction saw in one frame.

    Attributes
    ----------
    index : int
        The frame's index in its source.
    time_s : float
        The frame's time, seconds from the start of the source.
    face_found : bool
        Whether MediaPipe found a face; when not, ``landmarks``, ``blendshapes`` and ``transform`` are NaN.
    landmarks : np.ndarray
        Shape ``(478, 3)``, float32, pixels: ``x · W`` (right), ``y · H`` (down) and ``z · W`` (MediaPipe's
        relative depth, which has the scale of x; smaller is nearer the camera). NaN when no face.
    blendshapes : np.ndarray
        MediaPipe's blendshape scores in [0, 1], shape ``(52,)``, float32, in :data:`BLENDSHAPE_NAMES`
        order. NaN when no face (or for a name MediaPipe did not return).
    transform : np.ndarray
        MediaPipe's facial transformation matrix (canonical face → camera, centimetres), shape ``(4, 4)``,
        float32, column vectors. NaN when no face.
    image_size : tuple of int
        The frame's ``(width, height)`` in pixels.
    crop : np.ndarray or None
        The learned tracker's face crop (:func:`studio.core.tracking.inversion.crops.face_crop`), ``(s, s, 3)``
        uint8 RGB, when the reconstructor was asked for crops and found a face; else None.
    """

    index: int
    time_s: float
    face_found: bool
    landmarks: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray
    image_size: tuple[int, int]
    crop: np.ndarray | None = None

    def blendshape(self, name: str) -> float:
        """One of MediaPipe's blendshape scores by ARKit name (case-insensitive); NaN when no face."""
        try:
            return float(self.blendshapes[_BLENDSHAPE_INDEX[name.lower()]])
        except KeyError:
            raise KeyError(f"{name!r} is not one of MediaPipe's blendshapes") from None


def _missing_observation(frame: Frame) -> FaceObservation:
    return FaceObservation(
        index=frame.index,
        time_s=frame.time_s,
        face_found=False,
        landmarks=np.full((NUM_LANDMARKS, 3), np.nan, np.float32),
        blendshapes=np.full(len(BLENDSHAPE_NAMES), np.nan, np.float32),
        transform=np.full((4, 4), np.nan, np.float32),
        image_size=frame.size,
    )


class GeometryReconstructor:
    """MediaPipe Face Landmarker turning frames into :class:`FaceObservation` objects.

    Parameters
    ----------
    running_mode : {"video", "image"}
        ``"video"`` tracks between consecutive frames of one stream (faster, steadier; frame times must
        increase, which :meth:`observe` ensures); ``"image"`` treats every frame on its own.
    model_path : Path, optional
        The ``face_landmarker.task`` bundle; by default the asset manager's copy.
    min_confidence : float
        MediaPipe's minimum detection, presence and tracking confidence in [0, 1].
    crop_size : int, optional
        When given, each observation with a face also carries the learned tracker's face crop of this side
        (pixels), made from the frame while it is at hand.
    delegate : {"cpu", "gpu"}
        Where MediaPipe runs (see :class:`~studio.core.tracking.face_landmarker.FaceLandmarker`).

    Notes
    -----
    In video mode MediaPipe needs strictly increasing millisecond timestamps. ``observe`` uses
    ``round(frame.time_s · 1000)`` shifted by an offset that grows whenever a time would not be later than
    the previous one (a second source, or two frames within a millisecond), so spacing is kept and the
    order never breaks. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        running_mode: Literal["video", "image"] = "video",
        model_path: Path | None = None,
        min_confidence: float = 0.5,
        crop_size: int | None = None,
        delegate: Literal["cpu", "gpu"] = "cpu",
    ) -> None:
        self.running_mode = running_mode
        self.crop_size = crop_size
        self._landmarker = FaceLandmarker(
            model_path, running_mode=running_mode, min_confidence=min_confidence, delegate=delegate
        )
        self._last_timestamp_ms: int | None = None
        self._offset_ms = 0

    def _timestamp_ms(self, time_s: float) -> int:
        timestamp = round(float(time_s) * 1000.0) + self._offset_ms
        if self._last_timestamp_ms is not None and timestamp <= self._last_timestamp_ms:
            shift = self._last_timestamp_ms + 1 - timestamp
            self._offset_ms += shift
            timestamp += shift
        self._last_timestamp_ms = timestamp
        return timestamp

    def observe(self, frame: Frame) -> FaceObservation:
        """Reconstruct the face geometry of one frame.

        Parameters
        ----------
        frame : Frame
            The frame; its ``image`` is ``(H, W, 3)`` uint8 RGB.

        Returns
        -------
        FaceObservation
            Landmarks in pixels and MediaPipe's blendshapes, or a ``face_found=False`` observation with NaNs.
        """
        if self._landmarker is None:
            raise RuntimeError("GeometryReconstructor is closed")
        timestamp = self._timestamp_ms(frame.time_s) if self.running_mode == "video" else None
        face = self._landmarker.detect(frame.image, timestamp)
        if face is None:
            return _missing_observation(frame)
        width, height = frame.size
        landmarks = face.landmarks.astype(np.float32) * np.array([width, height, width], np.float32)
        blendshapes = np.full(len(BLENDSHAPE_NAMES), np.nan, np.float32)
        for name, score in face.blendshapes.items():
            index = _BLENDSHAPE_INDEX.get(name.lower())
            if index is not None:
                blendshapes[index] = score
        return FaceObservation(
            index=frame.index,
            time_s=frame.time_s,
            face_found=True,
            landmarks=landmarks,
            blendshapes=blendshapes,
            transform=np.asarray(face.transform, np.float32),
            image_size=(width, height),
            crop=None if self.crop_size is None else face_crop(frame.image, landmarks, self.crop_size),
        )

    def close(self) -> None:
        """Release MediaPipe's graph (idempotent)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> GeometryReconstructor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def reconstruct_frames(
    source: FrameSource,
    reconstructor: GeometryReconstructor,
    cancel: Cancel = None,
    sink: Callable[[FaceObservation], object] | None = None,
) -> Generator[Progress, None, list[FaceObservation]]:
    """Observe every frame of a source (a generator job).

    Parameters
    ----------
    source : FrameSource
        Frames to observe, in order. A live source runs until it ends or the job is cancelled.
    reconstructor : GeometryReconstructor
        Does the observing (not closed here).
    cancel : callable, object with ``is_set()``, or None
        Checked before each frame (see :func:`studio.core.jobs.is_cancelled`).
    sink : callable, optional
        Takes each observation as it is made, instead of the returned list (which is then empty): a long
        take streams through in constant memory.

    Yields
    ------
    tuple
        ``(done, total)`` after each frame: frames observed so far and ``source.num_frames`` (``None`` for a
        live source).

    Returns
    -------
    list of FaceObservation
        One observation per frame, in order (drive the job with :func:`studio.core.jobs.run_job`).

    Raises
    ------
    JobCancelled
        ``cancel`` was set; its ``partial`` holds the observations made so far.
    """
    observations: list[FaceObservation] = []
    keep = observations.append if sink is None else sink
    total = source.num_frames
    frames = iter(source)
    done = 0
    try:
        while True:
            if is_cancelled(cancel):
                raise JobCancelled(
                    f"{source.name}: reconstruction cancelled after {done} frames", partial=observations
                )
            frame = next(frames, None)
            if frame is None:
                break
            keep(reconstructor.observe(frame))
            done += 1
            yield (done, None if total is None else max(total, done))
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # end the source's iteration now (release its decoder or renderer)
    return observations
