"""A take's video and sound on disk (PyAV, i.e. FFmpeg), and SMPTE timecode.

* :class:`TakeVideoWriter` writes an ``.mp4`` of H.264 pictures (yuv420p) at their **true times** — each
  frame's presentation timestamp is the time the camera gave it, in a 1/90,000 s time base, so a variable
  frame rate stays variable — with, when there is sound, an AAC track of the samples given. It writes under a
  temporary name beside the destination and renames when :meth:`~TakeVideoWriter.close` completes, so a
  cancelled or failed recording leaves nothing.
* :func:`read_audio` reads a file's first sound track as float32 samples (or says it has none).
* :func:`smpte_timecode` formats a time of day as SMPTE timecode at a take's rate (the ``timecode``
  package: drop-frame at 29.97 and 59.94).

Errors are :class:`MediaError` with one line naming the file.

Shapes: ``N`` audio samples, ``C`` channels; images ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from studio.core.errors import StudioError

__all__ = [
    "AudioTrack",
    "MediaError",
    "TakeVideoWriter",
    "VideoFrameReader",
    "read_audio",
    "smpte_timecode",
    "timecode_rate",
    "timecode_seconds",
]

#: The time base of written video timestamps (MPEG's 90 kHz clock): exact for every common frame rate.
VIDEO_TIME_BASE = Fraction(1, 90000)


class MediaError(StudioError):
    """A video or sound file cannot be read or written (one line naming the file)."""


@dataclass(frozen=True)
class AudioTrack:
    """Sound as samples.

    Attributes
    ----------
    samples : np.ndarray
        Shape ``(N, C)``, float32 in [-1, 1].
    rate : int
        Samples per second.
    start_s : float
        Time of the first sample relative to the video's first frame, seconds.
    """

    samples: np.ndarray
    rate: int
    start_s: float = 0.0

    @property
    def duration_s(self) -> float:
        """Length, seconds."""
        return len(self.samples) / float(self.rate)

    def envelope(self, time_s: np.ndarray, window_s: float = 0.05) -> np.ndarray:
        """Root-mean-square loudness around each time, shape ``(T,)`` for times ``(T,)`` (seconds, the video's
        clock): what a waveform strip draws, and how sync is checked."""
        mono = np.abs(self.samples).mean(axis=1) if self.samples.size else np.zeros(0)
        half = max(1, int(window_s * self.rate / 2))
        out = np.zeros(len(time_s))
        for i, t in enumerate(np.asarray(time_s, np.float64)):
            centre = int(round((t - self.start_s) * self.rate))
            part = mono[max(centre - half, 0) : max(centre + half, 0)]
            out[i] = float(np.sqrt(np.mean(part**2))) if part.size else 0.0
        return out


def read_audio(path: str | os.PathLike) -> AudioTrack | None:
    """A file's first sound track, or None when it has none.

    Parameters
    ----------
    path : str or os.PathLike
        A video or sound file.

    Returns
    -------
    AudioTrack or None
        All its samples, float32 ``(N, C)``; ``start_s`` is the first sample's time relative to the first
        video frame (0 for a file without pictures).

    Raises
    ------
    MediaError
        The file cannot be opened or its sound cannot be decoded.
    """
    import av

    path = Path(path)
    av.logging.set_level(None)
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise MediaError(f"{path}: cannot open ({_reason(error)})") from None
    try:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video_start = _stream_start_s(container.streams.video[0]) if container.streams.video else 0.0
        audio_start = _stream_start_s(stream)
        resampler = av.AudioResampler(format="flt", layout=stream.layout.name if stream.layout else "mono")
        chunks = []
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                chunks.append(converted.to_ndarray().reshape(-1, converted.layout.nb_channels))
        rate = int(stream.rate or stream.codec_context.sample_rate)
    except av.error.FFmpegError as error:
        raise MediaError(f"{path}: cannot decode its sound ({_reason(error)})") from None
    finally:
        container.close()
    channels = chunks[0].shape[1] if chunks else 1
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, channels), np.float32)
    return AudioTrack(samples, rate, audio_start - video_start)


def _stream_start_s(stream) -> float:
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _reason(error: BaseException) -> str:
    return str(getattr(error, "strerror", None) or error).splitlines()[0][:100]


class TakeVideoWriter:
    """Writes a take's pictures at their true times, and its sound, into an ``.mp4`` (module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.mp4`` to write; nothing is there until :meth:`close` succeeds.
    size : tuple of int
        ``(width, height)`` of every frame, pixels (odd sizes are cropped by one pixel: H.264 needs even).
    fps : float
        The nominal frame rate (the stream's announced rate; timestamps are each frame's own).
    audio_rate : int, optional
        Samples per second of the sound; None: no sound track.
    audio_channels : int
        1 or 2.
    start_timecode : str, optional
        SMPTE timecode of the first frame (:func:`smpte_timecode`), kept as the video's ``timecode`` tag
        (a ``tmcd`` track, which editors read).

    Raises
    ------
    MediaError
        The folder cannot be written.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, audio_rate: int | None = None,
                 audio_channels: int = 1, start_timecode: str | None = None) -> None:
        import av

        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise MediaError(f"{self.path}: cannot write here: the folder {self.path.parent} does not exist")
        self.partial = self.path.with_name(f".{self.path.stem}.tmp.mp4")
        width, height = (int(size[0]) // 2) * 2, (int(size[1]) // 2) * 2
        if width < 2 or height < 2:
            raise MediaError(f"{self.path}: frames of {size[0]}×{size[1]} pixels are too small for a video")
        av.logging.set_level(None)
        try:
            self.container = av.open(str(self.partial), mode="w", format="mp4")
        except av.error.FFmpegError as error:
            raise MediaError(f"{self.path}: cannot write ({_reason(error)})") from None
        rate = Fraction(fps).limit_denominator(1001) if fps and math.isfinite(fps) and fps > 0 else Fraction(30)
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width, self.video.height = width, height
        self.video.pix_fmt = "yuv420p"
        self.video.time_base = VIDEO_TIME_BASE
        self.video.codec_context.time_base = VIDEO_TIME_BASE
        self.video.options = {"preset": "veryfast", "crf": "20"}
        if start_timecode:
            self.video.metadata["timecode"] = start_timecode
        self.audio = None
        self.audio_samples = 0
        if audio_rate is not None:
            if audio_channels not in (1, 2):
                raise MediaError(f"{self.path}: sound must have 1 or 2 channels, got {audio_channels}")
            self.audio = self.container.add_stream("aac", rate=int(audio_rate))
            self.audio.layout = "mono" if audio_channels == 1 else "stereo"
            self.audio_channels = audio_channels
        self.size = (width, height)
        self.frames = 0
        self.last_pts = -1
        self.closed = False

    def add_frame(self, image: np.ndarray, time_s: float) -> None:
        """Encode one picture, ``(H, W, 3)`` uint8 RGB, at ``time_s`` seconds from the take's start.

        Raises
        ------
        MediaError
            The time is not after the previous frame's (by at least one tick of 1/90,000 s).
        """
        import av

        pts = int(round(float(time_s) / VIDEO_TIME_BASE))
        if pts <= self.last_pts:
            raise MediaError(f"{self.path}: frame {self.frames} at {time_s:.6f} s is not after the previous frame")
        width, height = self.size
        picture = np.ascontiguousarray(np.asarray(image, np.uint8)[:height, :width, :3])
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        self._mux(self.video.encode(frame))
        self.last_pts = pts
        self.frames += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Append sound samples ``(N, C)`` (float, [-1, 1]) following those already added."""
        import av

        if self.audio is None:
            raise MediaError(f"{self.path}: this video was opened without sound")
        block = np.clip(np.asarray(samples, np.float32).reshape(-1, self.audio_channels), -1.0, 1.0)
        if not len(block):
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block.T), format="fltp",
                                           layout=self.audio.layout.name)  # fmt: skip
        frame.sample_rate = self.audio.rate
        frame.pts, frame.time_base = self.audio_samples, Fraction(1, self.audio.rate)
        self.audio_samples += len(block)
        self._mux(self.audio.encode(frame))

    def _mux(self, packets) -> None:
        import av

        try:
            self.container.mux(packets)
        except av.error.FFmpegError as error:
            raise MediaError(f"{self.path}: cannot write ({_reason(error)})") from None

    def close(self) -> Path:
        """Flush the encoders and put the file in place; returns it.

        Raises
        ------
        MediaError
            No frame was added (nothing is written), or the file could not be completed.
        """
        if self.closed:
            return self.path
        try:
            if self.frames == 0:
                raise MediaError(f"{self.path}: no frame to write")
            self._mux(self.video.encode(None))
            if self.audio is not None:
                self._mux(self.audio.encode(None))
            self.container.close()
            self.closed = True
            os.replace(self.partial, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        """Drop the recording: close and remove the temporary file (idempotent)."""
        if not self.closed:
            self.closed = True
            try:
                self.container.close()
            except Exception:  # noqa: BLE001 - already failing; the file goes either way
                pass
        self.partial.unlink(missing_ok=True)


def timecode_rate(fps: float) -> str:
    """The SMPTE rate a take of ``fps`` frames per second is timed at: the nearest of 23.976, 24, 25, 29.97,
    30, 48, 50, 59.94 and 60 (as the ``timecode`` package spells it)."""
    rates = {23.976: "23.976", 24.0: "24", 25.0: "25", 29.97: "29.97", 30.0: "30", 48.0: "48", 50.0: "50",
             59.94: "59.94", 60.0: "60"}  # fmt: skip
    nearest = min(rates, key=lambda r: abs(r - float(fps)))
    return rates[nearest]


def smpte_timecode(seconds_since_midnight: float, fps: float) -> str:
    """SMPTE timecode ``HH:MM:SS:FF`` (``;`` before the frames for drop-frame rates) of a time of day.

    Parameters
    ----------
    seconds_since_midnight : float
        The time, seconds (0 ≤ t < 86,400).
    fps : float
        The take's frame rate; timed at :func:`timecode_rate` of it.
    """
    from timecode import Timecode

    if not (math.isfinite(seconds_since_midnight) and 0.0 <= seconds_since_midnight < 86400.0):
        raise ValueError(f"a time of day is in [0, 86400) seconds, got {seconds_since_midnight}")
    rate = timecode_rate(fps)
    frames = int(math.floor(seconds_since_midnight * float(rate) + 1e-6))
    return str(Timecode(rate, frames=frames + 1))  # the package counts frames from 1


def timecode_seconds(timecode: str, fps: float) -> float:
    """The time of day, seconds since midnight, of SMPTE timecode ``HH:MM:SS:FF`` (``;`` for drop-frame) at
    the take's rate (:func:`timecode_rate`); the inverse of :func:`smpte_timecode` to the frame.

    Raises
    ------
    ValueError
        Not a timecode, or a frame number past the rate (one line).
    """
    import re

    from timecode import Timecode

    text = str(timecode).strip()
    match = re.fullmatch(r"(\d{2}):(\d{2}):(\d{2})[:;.](\d{2,3})", text)
    rate = timecode_rate(fps)
    if match is None or int(match[2]) > 59 or int(match[3]) > 59 or int(match[4]) >= math.ceil(float(rate)):
        raise ValueError(f"timecode {timecode!r}: expected HH:MM:SS:FF at {rate} frames per second")
    return (Timecode(rate, text).frame_number) / float(rate)


class VideoFrameReader:
    """The picture of a video shown at any time, for a review: sequential times decode forward, a jump back
    (or far ahead) seeks to the key frame before it. Not thread-safe: one reader per thread.

    Parameters
    ----------
    path : str or os.PathLike
        The video.
    max_width : int
        Pictures wider than this are scaled down (keeping the aspect), pixels.

    Raises
    ------
    MediaError
        The file cannot be opened or has no video stream.
    """

    #: A jump ahead by more than this is a seek rather than decoding through, seconds.
    SEEK_AHEAD_S = 2.0

    def __init__(self, path: str | os.PathLike, max_width: int = 640) -> None:
        import av

        self.path = Path(path)
        av.logging.set_level(None)
        try:
            self.container = av.open(str(self.path))
        except (av.error.FFmpegError, UnicodeDecodeError) as error:
            raise MediaError(f"{self.path}: cannot open ({_reason(error)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise MediaError(f"{self.path}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.time_base = float(self.stream.time_base)
        self.origin = self.stream.start_time or 0
        width, height = self.stream.codec_context.width, self.stream.codec_context.height
        scale = min(1.0, max_width / max(width, 1))
        self.size = (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))
        self._frames = None
        self._current = None  # (time_s, image) of the last decoded frame
        self._next = None

    def _restart(self, time_s: float) -> None:
        self.container.seek(int(self.origin + max(time_s, 0.0) / self.time_base), stream=self.stream, backward=True)
        self._frames = self.container.decode(self.stream)
        self._current = self._next = None

    def _decode_next(self):
        import av

        try:
            frame = next(self._frames)
        except (StopIteration, av.error.FFmpegError):
            return None
        time_s = ((frame.pts if frame.pts is not None else self.origin) - self.origin) * self.time_base
        return time_s, frame

    def frame_at(self, time_s: float) -> tuple[float, np.ndarray] | None:
        """The picture shown at ``time_s`` (seconds from the first frame): the last frame starting at or before
        it, as ``(its time, (H, W, 3) uint8 RGB)``; None for a time before the first frame or a file that
        ends before it has any."""
        behind = self._current is not None and time_s < self._current[0]
        far = self._current is not None and time_s > self._current[0] + self.SEEK_AHEAD_S
        if self._frames is None or behind or far:
            self._restart(time_s)
        if self._next is None:
            self._next = self._decode_next()
        while self._next is not None and self._next[0] <= time_s + 1e-6:
            self._current, self._next = self._next, self._decode_next()
        if self._current is None:
            return None
        time, frame = self._current
        if not isinstance(frame, np.ndarray):  # convert once, only the frame shown
            frame = frame.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1])
            self._current = (time, frame)
        return time, frame

    def close(self) -> None:
        """Close the file (idempotent)."""
        self.container.close()
