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


class AudioSource(ABC):
    """Sound that goes with a frame source, on the frames' clock.

    Attributes
    ----------
    rate : int
        Samples per second.
    channels : int
        1 or 2.
    """

    rate: int
    channels: int

    @abstractmethod
    def samples(self, start_s: float, stop_s: float) -> np.ndarray:
        """The sound from ``start_s`` (inclusive) to ``stop_s`` (exclusive), seconds on the frames' clock:
        ``(round(stop·rate) − round(start·rate), C)`` float32 in [-1, 1] (silence where there is none)."""


class FileAudio(AudioSource):
    """A file's sound track (:func:`studio.core.io.media.read_audio`), decoded when first asked for samples.

    Parameters
    ----------
    path : Path
        The file.
    rate, channels : int
        Its first sound track's samples per second and channels (the decoded samples are as many channels).
    """

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.path = path
        self.rate, self.channels = int(rate), int(channels)
        self._track = None

    @property
    def track(self):
        """The decoded :class:`~studio.core.io.media.AudioTrack`.

        Raises
        ------
        FrameSourceError
            The sound cannot be decoded (one line).
        """
        if self._track is None:
            from studio.core.io.media import MediaError, read_audio

            try:
                self._track = read_audio(self.path)
            except MediaError as error:
                raise FrameSourceError(str(error)) from None
            if self._track is None:
                raise FrameSourceError(f"{self.path}: has no sound track")
            self.rate, self.channels = self._track.rate, self._track.samples.shape[1]
        return self._track

    def samples(self, start_s: float, stop_s: float) -> np.ndarray:
        track = self.track
        first, last = int(round((start_s - track.start_s) * self.rate)), int(round((stop_s - track.start_s) * self.rate))
        out = np.zeros((max(last - first, 0), self.channels), np.float32)
        low, high = max(first, 0), min(last, len(track.samples))
        if high > low:
            out[low - first : high - first] = track.samples[low:high]
        return out


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
    audio : AudioSource or None
        The sound that goes with the frames (a video's track, a synthetic performer's voice), or None.
    start_timecode : str or None
        SMPTE timecode of the first frame when the source states one (a video's ``timecode`` tag).

    Notes
    -----
    Iterating a finite source starts from its first frame each time. Use a source as a context manager
    or call :meth:`close` when done.
    """

    name: str
    fps: float | None
    num_frames: int | None
    size: tuple[int, int]
    audio: AudioSource | None = None
    start_timecode: str | None = None

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
    """Frames of a video file, decoded with PyAV (FFmpeg), at their presentation times.

    Parameters
    ----------
    path : str or os.PathLike
        A video file (see :data:`VIDEO_EXTENSIONS`).

    Notes
    -----
    ``time_s`` is each frame's presentation timestamp (PTS) less the first frame's, so a video of variable
    frame rate (a phone's, a webcam's) keeps its true times; ``fps`` is the stream's average rate and
    ``num_frames`` the number of frames its packets hold (read from the container without decoding; a file
    cut short holds fewer than its header announces).
    Frames are delivered in presentation order; a frame whose timestamp is not after the previous one's
    (timestamps going backwards) stops the iteration with a :class:`FrameSourceError` naming the frame. A
    video that ends early sets :attr:`truncated` (what was decoded, in words) when its iteration ends.
    :attr:`has_audio` says whether the file has a sound track as well (then :attr:`audio` reads it), and
    :attr:`start_timecode` is the SMPTE timecode the file states for its first frame, if any.

    Raises
    ------
    FrameSourceError
        Missing file, unsupported extension, not a video or corrupt (no decodable first frame), no video
        stream (an audio-only file).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.name = self.path.name
        _check_file(self.path, VIDEO_EXTENSIONS, "video")
        container = _open_container(self.path)
        try:
            if not container.streams.video:
                kind = "an audio-only file" if container.streams.audio else "no stream of pictures"
                raise FrameSourceError(f"{self.path}: has no video stream ({kind})")
            stream = container.streams.video[0]
            self.has_audio = bool(container.streams.audio)
            sound = container.streams.audio[0].codec_context if self.has_audio else None
            sound_format = (int(sound.sample_rate or 0), int(sound.channels or 1)) if sound is not None else None
            self._time_base = float(stream.time_base) if stream.time_base else 1.0 / 90000.0
            self._announced = int(stream.frames or 0)  # what the header says, which a cut file still claims
            self.start_timecode = _timecode_tag(container)
            self._pts = _presentation_times(container, stream)
            container.seek(0)
            first = _first_frame(self.path, container, stream)
            rate = float(stream.average_rate) if stream.average_rate else 0.0
        finally:
            container.close()
        if not (math.isfinite(rate) and 0.0 < rate < 1000.0) and len(self._pts) > 1:
            rate = (len(self._pts) - 1) / ((self._pts[-1] - self._pts[0]) * self._time_base)
        self.fps = rate if math.isfinite(rate) and 0.0 < rate < 1000.0 else None
        self.num_frames = len(self._pts) or None
        self.size = (int(first.width), int(first.height))
        self.audio = FileAudio(self.path, *sound_format) if sound_format and sound_format[0] > 0 else None
        self._container = None
        #: Set after an iteration that ended before the container's frame count: what was decoded, in words.
        self.truncated: str | None = None

    def __iter__(self) -> Iterator[Frame]:
        yield from self.frames()

    def frames(self, start: int = 0, stop: int | None = None, decoder_threads: int | None = None) -> Iterator[Frame]:
        """Frames ``start`` (inclusive) to ``stop`` (exclusive; the end by default), with their indices in the
        whole video: a segment decoded by its own decoder (two segments can be decoded at once, by two
        threads). The decoder seeks to the key frame before ``start``'s timestamp and decodes up to it.
        ``decoder_threads``: FFmpeg's threads for this decoder (default: FFmpeg's choice), e.g. 1 when several
        segments are decoded at once.

        Raises
        ------
        FrameSourceError
            The video's timestamps go backwards (naming the frame), or it can no longer be opened.
        """
        import av

        if start < 0 or (stop is not None and stop < start):
            raise ValueError(f"bad frame range {start}:{stop}")
        container = _open_container(self.path)
        self._container = container
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if decoder_threads is not None:
            stream.codec_context.thread_count = int(decoder_threads)
        step = 1.0 / (self.fps or 30.0)
        origin = int(self._pts[0]) if len(self._pts) else 0
        previous_pts: int | None = None
        previous_s: float | None = None
        index = start
        try:
            if start > 0 and start < len(self._pts):
                container.seek(int(self._pts[start]), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                pts = frame.pts
                if pts is not None and len(self._pts):
                    position = int(np.searchsorted(self._pts, pts))
                    if position < start and previous_pts is None:
                        continue  # decoded from the key frame before start: not ours yet
                    if previous_pts is not None and pts <= previous_pts:
                        raise FrameSourceError(
                            f"{self.path}: frame {index}: its timestamp ({(pts - origin) * self._time_base:.3f} s)"
                            f" is not after the previous frame's ({(previous_pts - origin) * self._time_base:.3f} s):"
                            " the video's timestamps go backwards"
                        )
                    time_s = (pts - origin) * self._time_base
                    previous_pts = pts
                else:
                    time_s = index * step if previous_s is None else previous_s + step
                if stop is not None and index >= stop:
                    break
                previous_s = time_s
                yield Frame(index=index, time_s=float(time_s), image=frame.to_ndarray(format="rgb24"))
                index += 1
        except av.error.FFmpegError as error:  # a file damaged after the start: what was decoded stands
            self.truncated = f"decoding stopped at frame {index} ({_ffmpeg_reason(error)})"
        finally:
            container.close()
            self._container = None
        announced = max(self.num_frames or 0, self._announced)
        if stop is None and index < announced and self.truncated is None:
            self.truncated = f"decoded {index} of the {announced} frames its header announces"

    def close(self) -> None:
        """Release the decoder if an iteration is under way (idempotent)."""
        if self._container is not None:
            self._container.close()
            self._container = None


def _timecode_tag(container) -> str | None:
    """The SMPTE timecode a video states for its first frame (the container's or a stream's ``timecode``)."""
    for metadata in (container.metadata, *(stream.metadata for stream in container.streams)):
        text = metadata.get("timecode") if metadata else None
        if text and re.fullmatch(r"\d{2}:\d{2}:\d{2}[:;.]\d{2,3}", text.strip()):
            return text.strip()
    return None


def _ffmpeg_reason(error: BaseException) -> str:
    return str(getattr(error, "strerror", None) or error).splitlines()[0][:100]


def _open_container(path: Path):
    """``av.open`` for reading, with FFmpeg's own messages kept quiet and failures as one line."""
    import av

    av.logging.set_level(None)
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise FrameSourceError(f"{path}: not a video or corrupt (cannot open it: {_ffmpeg_reason(error)})") from None


def _presentation_times(container, stream) -> np.ndarray:
    """The presentation timestamps of a video stream's frames, ascending, in the stream's time base (read
    from the packets: no decoding); empty when the container does not tell (then frames are timed by rate)."""
    import av

    times = []
    try:
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                times.append(packet.pts)
    except av.error.FFmpegError:
        pass  # a damaged tail: the frames before it stand
    return np.sort(np.asarray(times, np.int64))


def _first_frame(path: Path, container, stream):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as error:
        raise FrameSourceError(f"{path}: not a video or corrupt ({_ffmpeg_reason(error)})") from None
    raise FrameSourceError(f"{path}: not a video or corrupt (no decodable frame)")


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
