"""Frame sources: videos, image sequences, cameras and synthetic performers behind one interface.

Every source is iterated for :class:`Frame` objects (an RGB image with its index and time) and describes
itself with ``fps``, ``num_frames`` (``None`` for live sources), ``size`` and ``name``. Sources are context
managers; :meth:`FrameSource.close` releases what they hold.

:func:`open_frame_source` turns a user's text into a source: a video file, a folder of images or
``camera:N``. Synthetic performers are rendered, so they live in the render layer, whose
:func:`studio.render.sources.open_source` is the one opener of every source the studio offers (it hands
these three here).

Problems are reported as :class:`FrameSourceError` with one line naming the source and what is wrong.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from studio.core.errors import StudioError

# OpenCV and FFmpeg print their own diagnostics on stderr ("moov atom not found" for a corrupt file, backend
# warnings); the studio reports such problems itself in one line, so theirs stay quiet unless set otherwise.
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

if TYPE_CHECKING:
    from studio.core.rig.state import RigState

#: File extensions read as videos (lower case, with the dot).
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm")
#: File extensions read as images of an image sequence.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


class FrameSourceError(StudioError):
    """A frame source cannot be opened or read (one-line message naming the source and the problem)."""


@dataclass
class Frame:
    """One image of a frame source.

    Attributes
    ----------
    index : int
        Frame number from 0 in the order the source delivers frames.
    time_s : float
        Time of the frame in seconds from the start of the source (strictly increasing within a source).
    image : np.ndarray
        Shape ``(H, W, 3)``, uint8, RGB, row 0 at the top.
    truth_controls : np.ndarray or None
        Ground-truth expression controls, shape ``(K,)``, float32 in [0, 1]; synthetic frames only.
    truth_state : RigState or None
        Ground-truth rig state (controls, identity, head rotation in degrees, translation in cm) that was
        rendered; synthetic frames only.
    """

    index: int
    time_s: float
    image: np.ndarray
    truth_controls: np.ndarray | None = None
    truth_state: RigState | None = None

    @property
    def size(self) -> tuple[int, int]:
        """Image ``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


class FrameSource(ABC):
    """A stream of :class:`Frame` objects with a known frame rate and size.

    Attributes
    ----------
    name : str
        Short human-readable name (file name, ``camera:0``, ``synthetic:0``).
    fps : float or None
        Nominal frames per second, or ``None`` when unknown.
    num_frames : int or None
        Number of frames one iteration delivers, or ``None`` for live sources.
    size : tuple of int
        Image ``(width, height)`` in pixels.

    Notes
    -----
    Iterating a finite source starts from its first frame each time. Use a source as a context manager
    or call :meth:`close` when done.
    """

    name: str
    fps: float | None
    num_frames: int | None
    size: tuple[int, int]

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Yield the frames in order."""

    def close(self) -> None:  # noqa: B027 - sources without resources need not override it
        """Release files, devices or GL contexts held by the source (idempotent)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        width, height = self.size
        frames = "live" if self.num_frames is None else f"{self.num_frames} frames"
        fps = "?" if self.fps is None else f"{self.fps:g}"
        return f"<{type(self).__name__} {self.name!r}: {width}×{height}, {frames} at {fps} fps>"


# ----------------------------------------------------------------------------------------------------------
# Video files
# ----------------------------------------------------------------------------------------------------------


def _check_file(path: Path, extensions: tuple[str, ...], kind: str) -> None:
    if not path.exists():
        raise FrameSourceError(f"{path}: no such file")
    if path.is_dir():
        raise FrameSourceError(f"{path}: is a folder, not a {kind} file")
    if path.suffix.lower() not in extensions:
        raise FrameSourceError(
            f"{path}: unsupported extension {path.suffix or '(none)'!r} for a {kind} "
            f"(use {' '.join(extensions)})"
        )


def _bgr_to_rgb(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 3 and image.dtype == np.uint8:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)  # 0.01 ms at 512×512; a reversed-view copy takes 0.8
    return np.ascontiguousarray(image[:, :, 2::-1])


class VideoFileSource(FrameSource):
    """Frames of a video file, decoded with OpenCV (FFmpeg).

    Parameters
    ----------
    path : str or os.PathLike
        A video file (see :data:`VIDEO_EXTENSIONS`).

    Notes
    -----
    ``time_s`` is the decoder's presentation time of each frame (``CAP_PROP_POS_MSEC``) when it is sane
    (finite, not negative, later than the previous frame's), else the previous time plus ``1 / fps``, so
    times always increase. ``num_frames`` is the container's count; a video that ends early sets
    :attr:`truncated` (what was decoded, in words) when its iteration ends.

    Raises
    ------
    FrameSourceError
        Missing file, unsupported extension, not a video or corrupt (no decodable first frame).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import cv2

        self.path = Path(path)
        self.name = self.path.name
        _check_file(self.path, VIDEO_EXTENSIONS, "video")
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        try:
            if not capture.isOpened():
                raise FrameSourceError(f"{self.path}: not a video or corrupt (cannot open it)")
            ok, first = capture.read()
            if not ok or first is None:
                raise FrameSourceError(f"{self.path}: not a video or corrupt (no decodable frame)")
            fps = float(capture.get(cv2.CAP_PROP_FPS))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        self.fps = fps if math.isfinite(fps) and 0.0 < fps < 1000.0 else None
        self.num_frames = count if count > 0 else None
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self._capture = None
        #: Set after an iteration that ended before the container's frame count: what was decoded, in words.
        self.truncated: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        yield from self.frames()

    def frames(self, start: int = 0, stop: int | None = None, decoder_threads: int | None = None) -> Iterator[Frame]:
        """Frames ``start`` (inclusive) to ``stop`` (exclusive; the end by default), with their indices in the
        whole video: a segment decoded by its own decoder (two segments can be decoded at once, by two
        threads). The decoder seeks to ``start`` and checks that it landed on that frame's time; where it
        cannot tell (a variable frame rate), it decodes from the first frame and skips. ``decoder_threads``:
        FFmpeg's threads for this decoder (default: FFmpeg's choice, one per core), e.g. 1 when several
        segments are decoded at once.
        """
        import cv2

        if start < 0 or (stop is not None and stop < start):
            raise ValueError(f"bad frame range {start}:{stop}")
        options = [] if decoder_threads is None else [cv2.CAP_PROP_N_THREADS, int(decoder_threads)]
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, options)
        if not capture.isOpened():
            raise FrameSourceError(f"{self.path}: cannot open the video any more")
        self._capture = capture
        step = 1.0 / (self.fps or 30.0)
        previous: float | None = None
        index = start
        pending = None
        try:
            if start > 0:
                pending = self._seek(capture, start, step)
            while stop is None or index < stop:
                if pending is not None:
                    (ok, image), pending = pending, None
                else:
                    ok, image = capture.read()
                if not ok or image is None:
                    break
                msec = float(capture.get(cv2.CAP_PROP_POS_MSEC))
                time_s = msec / 1000.0
                if not (math.isfinite(time_s) and time_s >= 0.0 and (previous is None or time_s > previous)):
                    time_s = index * step if previous is None else previous + step
                previous = time_s
                yield Frame(index=index, time_s=time_s, image=_bgr_to_rgb(image))
                index += 1
        finally:
            capture.release()
            self._capture = None
        if stop is None and self.num_frames is not None and index < self.num_frames:
            self.truncated = f"decoded {index} of the {self.num_frames} frames its header announces"

    def _seek(self, capture, start: int, step: float) -> tuple[bool, np.ndarray | None]:
        """Put ``capture`` on frame ``start`` and read it; returns ``capture.read()``'s pair for that frame."""
        import cv2

        capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        ok, image = capture.read()
        landed_s = float(capture.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
        if ok and math.isfinite(landed_s) and abs(landed_s - start * step) < 0.25 * step:
            return ok, image
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # could not tell where it landed: from the start, skipping
        for _ in range(start):
            if not capture.grab():
                return False, None
        return capture.read()

    def close(self) -> None:
        """Release the decoder if an iteration is under way (idempotent)."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


# ----------------------------------------------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------------------------------------------


def _natural_key(path: Path) -> list[int | str]:
    """Sort key that orders ``frame2.png`` before ``frame10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(FrameSource):
    """The PNG and JPEG images of a folder as a sequence, in natural name order (``2`` before ``10``).

    Parameters
    ----------
    folder : str or os.PathLike
        Folder holding the images (see :data:`IMAGE_EXTENSIONS`); other files are ignored.
    fps : float
        Frame rate that turns frame indices into times: ``time_s = index / fps``.

    Raises
    ------
    FrameSourceError
        Missing folder, no images in it, an unreadable image, or images of different sizes.
    """

    def __init__(self, folder: str | os.PathLike, fps: float = 30.0) -> None:
        self.folder = Path(folder)
        self.name = self.folder.name or str(self.folder)
        if not self.folder.exists():
            raise FrameSourceError(f"{self.folder}: no such folder")
        if not self.folder.is_dir():
            raise FrameSourceError(f"{self.folder}: not a folder")
        if not (math.isfinite(fps) and fps > 0):
            raise FrameSourceError(f"{self.folder}: fps must be positive, got {fps}")
        self.paths = sorted(
            (p for p in self.folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
            key=_natural_key,
        )
        if not self.paths:
            raise FrameSourceError(f"{self.folder}: empty folder (no {'/'.join(IMAGE_EXTENSIONS)} images)")
        self.fps = float(fps)
        self.num_frames = len(self.paths)
        first = self._read(self.paths[0])
        self.size = (int(first.shape[1]), int(first.shape[0]))

    def _read(self, path: Path) -> np.ndarray:
        import cv2

        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FrameSourceError(f"{path}: not an image or corrupt")
        return _bgr_to_rgb(image)

    def __iter__(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            image = self._read(path)
            if (image.shape[1], image.shape[0]) != self.size:
                raise FrameSourceError(
                    f"{path}: image is {image.shape[1]}×{image.shape[0]}, the sequence is "
                    f"{self.size[0]}×{self.size[1]}"
                )
            yield Frame(index=index, time_s=index / self.fps, image=image)


# ----------------------------------------------------------------------------------------------------------
# Cameras
# ----------------------------------------------------------------------------------------------------------


def _camera_api() -> tuple[int, str]:
    """OpenCV capture API for local cameras on this platform and its display name."""
    import cv2

    if sys.platform.startswith("linux"):
        return cv2.CAP_V4L2, "V4L2"
    if sys.platform == "darwin":
        return cv2.CAP_AVFOUNDATION, "AVFoundation"
    if sys.platform == "win32":
        return cv2.CAP_DSHOW, "DirectShow"
    return cv2.CAP_ANY, "any backend"


def _open_camera(device: int) -> object | None:
    """An opened ``cv2.VideoCapture`` for a camera, or ``None`` (without OpenCV's warnings on stderr)."""
    import cv2

    if sys.platform.startswith("linux") and not Path(f"/dev/video{device}").exists():
        return None
    from cv2.utils import logging as cv_logging

    api, _ = _camera_api()
    level = cv_logging.getLogLevel()
    cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)  # a missing camera is an ordinary answer here
    try:
        capture = cv2.VideoCapture(int(device), api)
    finally:
        cv_logging.setLogLevel(level)
    if not capture.isOpened():
        capture.release()
        return None
    return capture


def list_cameras(max_devices: int = 5) -> list[int]:
    """Device numbers ``0 .. max_devices - 1`` that open as cameras.

    Parameters
    ----------
    max_devices : int
        How many device numbers to try.

    Returns
    -------
    list of int
        Device numbers usable as ``WebcamSource(device)`` or ``camera:N``; empty when there is no camera.
    """
    found = []
    for device in range(int(max_devices)):
        capture = _open_camera(device)
        if capture is not None:
            capture.release()
            found.append(device)
    return found


class WebcamSource(FrameSource):
    """Live frames from a local camera (OpenCV; V4L2 on Linux, AVFoundation on macOS, DirectShow on Windows).

    Parameters
    ----------
    device : int
        Camera number (``/dev/videoN`` on Linux).
    size : tuple of int
        Requested ``(width, height)``; the camera may choose another, reported in :attr:`size`.
    fps : float
        Requested frame rate; :attr:`fps` is what the camera reports (or the request if it reports none).

    Notes
    -----
    Live: ``num_frames`` is ``None`` and iteration goes on until :meth:`close` is called, the consumer
    stops, or the camera stops delivering. ``time_s`` is wall-clock time since the iteration started.

    Raises
    ------
    FrameSourceError
        No camera at ``device``, or it delivers no frame.
    """

    def __init__(self, device: int = 0, size: tuple[int, int] = (640, 480), fps: float = 30.0) -> None:
        import cv2

        self.device = int(device)
        self.name = f"camera:{self.device}"
        _, api_name = _camera_api()
        capture = _open_camera(self.device)
        if capture is None:
            raise FrameSourceError(
                f"no camera found at device {self.device} (tried {api_name}): connect one or choose a video"
            )
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, int(size[0]))
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, int(size[1]))
        capture.set(cv2.CAP_PROP_FPS, float(fps))
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise FrameSourceError(
                f"camera at device {self.device} ({api_name}) opened but delivers no frames"
            )
        reported = float(capture.get(cv2.CAP_PROP_FPS))
        self.fps = reported if math.isfinite(reported) and reported > 0 else float(fps)
        self.num_frames = None
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self._capture = capture

    def __iter__(self) -> Iterator[Frame]:
        start = time.monotonic()
        previous = -math.inf
        index = 0
        while self._capture is not None:
            ok, image = self._capture.read()
            if not ok or image is None:
                return
            time_s = max(time.monotonic() - start, previous + 1e-6)
            previous = time_s
            yield Frame(index=index, time_s=time_s, image=_bgr_to_rgb(image))
            index += 1

    def close(self) -> None:
        """Release the camera (idempotent); a running iteration stops at its next frame."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None


# ----------------------------------------------------------------------------------------------------------
# Opening a source from text
# ----------------------------------------------------------------------------------------------------------

def _open_camera_spec(argument: str) -> FrameSource:
    try:
        device = int(argument or 0)
    except ValueError:
        raise FrameSourceError(
            f"camera:{argument}: the camera must be a device number, e.g. camera:0"
        ) from None
    return WebcamSource(device)


def open_frame_source(spec: str | os.PathLike) -> FrameSource:
    """Open a frame source from text.

    Parameters
    ----------
    spec : str or os.PathLike
        One of: a video file (:data:`VIDEO_EXTENSIONS`); a folder of PNG/JPEG images (30 fps);
        ``camera`` or ``camera:N`` (camera device N). Synthetic performers are rendered, so the render
        layer opens them (:func:`studio.render.sources.open_source`, which hands everything else here).

    Returns
    -------
    FrameSource
        The opened source (close it when done).

    Raises
    ------
    FrameSourceError
        Nothing usable at ``spec`` (one line saying why).
    """
    text = os.fspath(spec)
    scheme, _, argument = text.partition(":")
    if scheme == "camera":
        return _open_camera_spec(argument)
    if scheme in ("synthetic", "prompted"):
        raise FrameSourceError(
            f"{text}: synthetic performers are rendered: open them with studio.render.sources.open_source"
        )
    path = Path(text)
    if path.is_dir():
        return ImageFolderSource(path)
    if not path.exists():
        raise FrameSourceError(f"{path}: no such file or folder (or use camera:N or synthetic[:seed])")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise FrameSourceError(f"{path}: a single image; open the folder holding the image sequence instead")
    return VideoFileSource(path)
