"""A thin wrapper over MediaPipe's Face Landmarker (Tasks API): 478 landmarks, 52 blendshapes, head pose.

MediaPipe is imported lazily (when the first :class:`FaceLandmarker` is created) to keep start-up fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from studio.core.assets import asset_path
from studio.core.errors import StudioError


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 to /dev/null for the ``with`` block.

    MediaPipe's C++ logging (absl, TensorFlow Lite) prints start-up chatter on stderr while the graph is
    created and runs its first frame, and no environment variable turns it off. The studio's command line
    promises one-line errors, so that chatter is dropped; Python exceptions still propagate normally.
    Set ``STUDIO_DEBUG=1`` to keep it. Process-wide while it lasts (about 0.1 s at start-up).
    """
    if os.environ.get("STUDIO_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

class MediaPipeDelegateError(StudioError):
    """MediaPipe cannot run on the asked delegate (its GPU delegate without a GPU); one-line message."""


def gpu_delegate_status(model_path: Path | None = None) -> tuple[bool, str]:
    """Whether MediaPipe's face landmarker runs on its GPU delegate here: ``(True, "")`` or ``(False, why)``."""
    try:
        FaceLandmarker(model_path, running_mode="video", delegate="gpu").close()
    except MediaPipeDelegateError as error:
        return False, str(error)
    return True, ""


#: Number of landmarks in MediaPipe's face mesh (468 mesh points + 10 iris points).
NUM_LANDMARKS = 478


@dataclass(frozen=True)
class FaceLandmarks:
    """One detected face.

    Attributes
    ----------
    landmarks : np.ndarray
        Shape ``(478, 3)``, float32, MediaPipe's normalized image coordinates: ``x`` and ``y`` in [0, 1]
        across the image width and height (x right, y down; multiply by ``(W, H)`` for pixels), ``z`` depth
        relative to the face's centre at roughly the scale of ``x`` (smaller is closer to the camera).
    blendshapes : dict of str to float
        MediaPipe's blendshape scores in [0, 1] by name (``_neutral`` and 51 ARKit names).
    transform : np.ndarray
        Facial transformation matrix, shape ``(4, 4)``, float32: canonical face model → camera space
        (MediaPipe's metric space, centimetres), acting on column vectors.
    """

    landmarks: np.ndarray
    blendshapes: dict[str, float]
    transform: np.ndarray

    def pixels(self, size: tuple[int, int]) -> np.ndarray:
        """Landmark positions in pixels for an image of ``(width, height)``, shape ``(478, 2)``, float64."""
        return self.landmarks[:, :2].astype(np.float64) * np.asarray(size, np.float64)


def default_model_path() -> Path:
    """The face landmarker model bundle, located (or downloaded) by the asset manager."""
    return Path(asset_path("face_landmarker"))


class FaceLandmarker:
    """MediaPipe Face Landmarker for one face, with blendshapes and the facial transformation matrix.

    Parameters
    ----------
    model_path : Path, optional
        The ``face_landmarker.task`` bundle; by default the asset manager's copy.
    running_mode : {"image", "video"}
        ``"image"``: every frame on its own. ``"video"``: frames of one stream with increasing timestamps
        (tracking between frames; faster and steadier).
    min_confidence : float
        Minimum face detection, presence and tracking confidence in [0, 1].
    delegate : {"cpu", "gpu"}
        Where MediaPipe runs its models. ``"gpu"`` needs a physical GPU with OpenGL ES (mediapipe 1.2's
        Linux wheel refuses Mesa's CPU rasterizer: "GPU emulation detected, but not supported"); see
        :func:`gpu_delegate_status`.

    Raises
    ------
    MediaPipeDelegateError
        ``delegate="gpu"`` and MediaPipe cannot run there (one line, with MediaPipe's reason).

    Notes
    -----
    Use as a context manager or call :meth:`close` to release MediaPipe's graph.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        running_mode: Literal["image", "video"] = "image",
        min_confidence: float = 0.5,
        delegate: Literal["cpu", "gpu"] = "cpu",
    ) -> None:
        if running_mode not in ("image", "video"):
            raise ValueError(f"running_mode must be 'image' or 'video', got {running_mode!r}")
        if delegate not in ("cpu", "gpu"):
            raise ValueError(f"delegate must be 'cpu' or 'gpu', got {delegate!r}")
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import FaceLandmarker as MediaPipeFaceLandmarker
        from mediapipe.tasks.python.vision import FaceLandmarkerOptions, RunningMode

        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path}: face landmarker model not found")
        self.running_mode = running_mode
        options = FaceLandmarkerOptions(
            base_options=BaseOptions(
                model_asset_path=str(self.model_path),
                delegate=BaseOptions.Delegate.GPU if delegate == "gpu" else BaseOptions.Delegate.CPU,
            ),
            running_mode=RunningMode.VIDEO if running_mode == "video" else RunningMode.IMAGE,
            num_faces=1,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        self.delegate = delegate
        with _native_stderr_silenced():
            try:
                self._landmarker = MediaPipeFaceLandmarker.create_from_options(options)
            except RuntimeError as error:
                if delegate != "gpu":
                    raise
                reason = str(error).strip().rsplit(": ", 1)[-1]  # MediaPipe's last clause is the reason
                raise MediaPipeDelegateError(f"MediaPipe's GPU delegate is not available here: {reason}") from None
        self._last_timestamp_ms = -1
        self._first_frame_done = False

    def detect(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceLandmarks | None:
        """Find the face in an image.

        Parameters
        ----------
        rgb : np.ndarray
            Image, shape ``(H, W, 3)``, uint8, RGB.
        timestamp_ms : int, optional
            Frame time in milliseconds (video mode; must increase). When omitted in video mode, the last
            timestamp plus 33 ms is used. Ignored in image mode.

        Returns
        -------
        FaceLandmarks or None
            The face, or ``None`` when no face was found.
        """
        import mediapipe as mp

        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self.running_mode == "video" and timestamp_ms is None:
            timestamp_ms = self._last_timestamp_ms + 33
        with _native_stderr_silenced() if not self._first_frame_done else nullcontext():
            if self.running_mode == "video":
                self._last_timestamp_ms = int(timestamp_ms)
                result = self._landmarker.detect_for_video(image, int(timestamp_ms))
            else:
                result = self._landmarker.detect(image)
        self._first_frame_done = True
        if not result.face_landmarks:
            return None
        landmarks = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], dtype=np.float32)
        blendshapes = (
            {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
            if result.face_blendshapes
            else {}
        )
        transform = (
            np.asarray(result.facial_transformation_matrixes[0], dtype=np.float32).reshape(4, 4)
            if result.facial_transformation_matrixes
            else np.eye(4, dtype=np.float32)
        )
        return FaceLandmarks(landmarks=landmarks, blendshapes=blendshapes, transform=transform)

    def close(self) -> None:
        """Release MediaPipe's resources (idempotent)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
