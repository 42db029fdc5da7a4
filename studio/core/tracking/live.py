"""Live tracking: one frame at a time, from a camera (or a video or a synthetic performer) to controls.

:class:`LiveTracker` is the pure per-frame model: it wraps a :class:`~studio.core.tracking.tracker.Tracker` and a
causal :class:`~studio.core.geometry.temporal_filters.OneEuroFilter`. The first ``neutral_frames`` frames with a
face (about a second; the user is asked to look at the camera with a relaxed face) are collected as the
performer's neutral; from then on every frame is aligned, solved (a batch of one) and filtered.

:func:`live_tracking_job` is the generator job (GUIDE §2) that runs it over a frame source: it yields one
:class:`LiveResult` per tracked frame and checks for cancellation between frames. The source is read in a
thread of its own (:class:`LatestFrameReader`) that keeps only the newest unread frame, so when tracking
(or whoever consumes the results) is slower than the source, stale frames are dropped instead of queueing
up as latency. A consumer that is slower still (a GUI drawing at its own pace) should keep only the latest
result too; see :mod:`studio.ui.tools.live_view`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from studio.core.geometry.temporal_filters import OneEuroFilter
from studio.core.jobs import Cancel, JobCancelled, is_cancelled, torch_threads
from studio.core.tracking.face_landmarker import NUM_LANDMARKS
from studio.core.tracking.frame_sources import Frame, FrameSource
from studio.core.tracking.inversion.tracker import NetworkTracker
from studio.core.tracking.neutral import neutral_from_range
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.tracker import PerformerNeutral, Tracker

#: Frames with a face collected as the performer's neutral (about one second at 30 fps).
DEFAULT_NEUTRAL_FRAMES = 30
#: One-Euro settings for live controls (as ``python main.py track --filter one-euro``).
DEFAULT_MIN_CUTOFF_HZ = 1.5
DEFAULT_BETA = 2.0
#: Stages timed per frame, in pipeline order (``draw`` is added by a display).
STAGES = ("landmarks", "alignment", "solve", "filter")


@dataclass(frozen=True)
class LiveResult:
    """What live tracking made of one frame.

    Attributes
    ----------
    frame_index : int
        The frame's index in its source.
    time_s : float
        The frame's time, seconds from the start of the source.
    face_found : bool
        Whether MediaPipe found a face.
    landmarks_px : np.ndarray
        MediaPipe's landmarks, shape ``(478, 3)``, float32, pixels (``x·W`` right, ``y·H`` down, ``z·W``);
        NaN when no face.
    controls : np.ndarray or None
        Filtered expression controls, shape ``(K,)``, float32 in [0, 1]; ``None`` while the neutral is
        being captured and in frames without a face.
    residual_mm : float
        Mean landmark residual of the solve, millimetres; NaN when nothing was solved.
    stage_ms : dict of str to float
        Milliseconds this frame spent in each stage that ran (keys from :data:`STAGES`).
    neutral_captured : int
        Frames with a face collected for the performer's neutral so far (``neutral_required`` once done).
    neutral_required : int
        Frames the neutral needs.
    image : np.ndarray or None
        The frame, shape ``(H, W, 3)``, uint8 RGB (set by :func:`live_tracking_job`).
    frames_dropped : int
        Source frames skipped so far because a newer one arrived before they were tracked.
    source_fps : float
        Rate at which the source delivered frames over the last second, frames per second (0 at first).
    read_at_s : float
        ``time.perf_counter()`` when the frame came out of the source (for end-to-end latency), seconds.
    """

    frame_index: int
    time_s: float
    face_found: bool
    landmarks_px: np.ndarray
    controls: np.ndarray | None
    residual_mm: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    neutral_captured: int = 0
    neutral_required: int = DEFAULT_NEUTRAL_FRAMES
    image: np.ndarray | None = None
    frames_dropped: int = 0
    source_fps: float = 0.0
    read_at_s: float = float("nan")

    @property
    def capturing_neutral(self) -> bool:
        """Whether the performer's neutral is still being collected."""
        return self.neutral_captured < self.neutral_required

    @property
    def tracking_ms(self) -> float:
        """Milliseconds of all stages together."""
        return float(sum(self.stage_ms.values()))


class LiveTracker:
    """Per-frame tracking with a captured performer neutral and a causal filter (no threads, no Qt).

    Parameters
    ----------
    tracker : Tracker
        The tracker (its rig is θ_T); it may serve other live trackers at the same time.
    neutral_frames : int
        Frames with a face averaged (median) into the performer's neutral.
    one_euro : OneEuroFilter, optional
        The temporal filter; by default ``OneEuroFilter(1.5, 2.0)`` (as offline ``--filter one-euro``).
    network : NetworkTracker, optional
        The learned tracker: when given, each frame's controls come from it on the frame's face crop (pass
        ``crop`` to :meth:`process`; its time counts as the ``solve`` stage), and no neutral is captured.

    Attributes
    ----------
    neutral : PerformerNeutral or None
        The performer's neutral captured from the first ``neutral_frames`` frames with a face (``None`` until
        then, and again after :meth:`recapture_neutral`).

    Notes
    -----
    Solves are batches of one and are not warm-started: :class:`BoundedLeastSquares` can start from the
    previous frame's active sets, but with landmark noise the near-zero controls flip between free and
    bound from frame to frame, and its own measurements on the ICT rig found the default start (the
    clamped unconstrained optimum) needs fewer iterations (≈ 3.8 vs 4.7).

    :meth:`recapture_neutral` may be called from another thread than :meth:`process`: it only raises a
    flag that the next :meth:`process` call acts on.
    """

    def __init__(
        self, tracker: Tracker, neutral_frames: int = DEFAULT_NEUTRAL_FRAMES, one_euro: OneEuroFilter | None = None,
        network: NetworkTracker | None = None,
    ) -> None:
        if neutral_frames < 1:
            raise ValueError(f"neutral_frames must be at least 1, got {neutral_frames}")
        self.tracker = tracker
        self.network = network
        self.neutral_frames = int(neutral_frames)
        self.one_euro = one_euro if one_euro is not None else OneEuroFilter(DEFAULT_MIN_CUTOFF_HZ, DEFAULT_BETA)
        self._samples: list[np.ndarray] = []
        self.neutral: PerformerNeutral | None = None
        self._recapture_requested = False
        self._last_time_s = -np.inf
        self._reset_neutral()

    @property
    def num_controls(self) -> int:
        """``K``, the number of expression controls."""
        return self.tracker.rig.num_controls

    @property
    def stable_landmarks(self) -> np.ndarray:
        """Indices of the landmarks that anchor head-pose removal, shape ``(S,)``, int."""
        return np.asarray(self.tracker.stable)

    @property
    def neutral_captured(self) -> int:
        """Frames collected for the neutral so far (``neutral_frames`` once it is set)."""
        return self.neutral_frames if self.has_neutral else len(self._samples)

    @property
    def has_neutral(self) -> bool:
        """Whether the performer's neutral is set (frames are being solved); always with the learned tracker."""
        return self.neutral is not None or self.network is not None

    def recapture_neutral(self) -> None:
        """Collect a new neutral from the next ``neutral_frames`` frames with a face (thread-safe)."""
        self._recapture_requested = True

    def _reset_neutral(self) -> None:
        self._recapture_requested = False
        self._samples = []
        self.neutral = None
        self.one_euro.reset()

    def process(self, frame_index: int, time_s: float, landmarks_px: np.ndarray,
                crop: np.ndarray | None = None) -> LiveResult:
        """Track one frame.

        Parameters
        ----------
        frame_index : int
            The frame's index in its source.
        time_s : float
            The frame's time, seconds. When it does not increase (a new stream), the filter restarts.
        landmarks_px : np.ndarray
            MediaPipe landmarks in pixels, shape ``(478, 3)`` (see :class:`LiveResult`); NaN when no face.
        crop : np.ndarray, optional
            The frame's face crop ``(s, s, 3)`` (the observation's ``crop``), needed with the learned tracker.

        Returns
        -------
        LiveResult
            Controls once the neutral is captured and a face is found; ``image`` is not set here.
        """
        if self._recapture_requested:
            self._reset_neutral()
        landmarks = np.asarray(landmarks_px, np.float32)
        if landmarks.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"landmarks_px must have shape ({NUM_LANDMARKS}, 3), got {landmarks.shape}")
        if time_s <= self._last_time_s:
            self.one_euro.reset()
        self._last_time_s = float(time_s)
        face_found = bool(np.isfinite(landmarks).all())
        stage_ms: dict[str, float] = {}
        controls = None
        residual_mm = float("nan")
        if face_found and self.network is not None:
            if crop is None:
                raise ValueError("the learned tracker needs the frame's face crop (GeometryReconstructor(crop_size=…))")
            start = time.perf_counter()
            raw = self.network.controls(crop[None], self.network.normal_maps([landmarks]))[0]
            solved_at = time.perf_counter()
            controls = np.clip(self.one_euro(float(time_s), raw), 0.0, 1.0).astype(np.float32)
            stage_ms["solve"] = 1e3 * (solved_at - start)
            stage_ms["filter"] = 1e3 * (time.perf_counter() - solved_at)
        elif face_found:
            start = time.perf_counter()
            aligned = self.tracker.align(landmarks[None], self.neutral)  # (1, N, 3) rig space, cm
            aligned_at = time.perf_counter()
            stage_ms["alignment"] = 1e3 * (aligned_at - start)
            if not self.has_neutral:
                self._samples.append(aligned[0])
                if len(self._samples) >= self.neutral_frames:
                    samples = np.stack(self._samples)
                    self.neutral = self.tracker.performer_neutral(neutral_from_range(samples, 0, len(samples)))
                    self._samples = []
                    self.one_euro.reset()
            else:
                tracked = self.tracker.solve(aligned, self.neutral)
                solved_at = time.perf_counter()
                filtered = self.one_euro(float(time_s), tracked.controls[0])
                controls = np.clip(filtered, 0.0, 1.0).astype(np.float32)
                residual_mm = float(tracked.residual_mm[0])
                stage_ms["solve"] = 1e3 * (solved_at - aligned_at)
                stage_ms["filter"] = 1e3 * (time.perf_counter() - solved_at)
        return LiveResult(
            frame_index=int(frame_index),
            time_s=float(time_s),
            face_found=face_found,
            landmarks_px=landmarks,
            controls=controls,
            residual_mm=residual_mm,
            stage_ms=stage_ms,
            neutral_captured=self.neutral_captured,
            neutral_required=self.neutral_frames,
        )


class LatestFrameReader:
    """Reads a frame source in a thread of its own and keeps only the newest frame not yet taken.

    Parameters
    ----------
    source : FrameSource
        The frames. It is iterated (and its iteration closed) in the reader's thread, so a source that
        holds a per-thread resource (a synthetic performer's GL context) opens and closes it there.
    realtime : bool
        ``True``: frames are delivered no faster than their ``time_s`` says (a video plays at its frame
        rate; a camera is real time anyway) and a frame not taken before the next one arrives is dropped.
        ``False``: the reader waits until each frame is taken (every frame is delivered, as fast as the
        consumer goes; nothing is dropped).
    name : str
        Name of the thread.

    Attributes
    ----------
    frames_read : int
        Frames read from the source.
    frames_dropped : int
        Frames replaced by a newer one before they were taken.
    error : BaseException or None
        What the source raised, if it failed (re-raised by :meth:`take`).
    read_at_s : float
        ``time.perf_counter()`` when the frame last returned by :meth:`take` came out of the source.
    """

    #: Falling further behind the source's clock than this (seconds) restarts the clock (no catch-up burst).
    MAX_LAG_S = 0.1

    def __init__(self, source: FrameSource, realtime: bool = True, name: str = "live-frame-reader") -> None:
        self.source = source
        self.realtime = bool(realtime)
        self.frames_read = 0
        self.frames_dropped = 0
        self.error: BaseException | None = None
        self.read_at_s = float("nan")
        self._slot: Frame | None = None
        self._slot_read_at_s = float("nan")
        self._finished = False
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._read_times: deque[float] = deque(maxlen=240)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> LatestFrameReader:
        """Start reading; returns ``self``."""
        self._thread.start()
        return self

    @property
    def finished(self) -> bool:
        """Whether the source has ended (or failed, or the reader was stopped) and no frame is waiting."""
        with self._changed:
            return self._finished and self._slot is None

    def source_fps(self) -> float:
        """Frames read per second over the last second (0 before two frames)."""
        now = time.perf_counter()
        with self._changed:
            recent = [t for t in self._read_times if now - t <= 1.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def take(self, timeout_s: float = 0.05) -> Frame | None:
        """The newest unread frame, waiting up to ``timeout_s`` for one; ``None`` if none came.

        Raises
        ------
        Exception
            What the source raised (once the frames before the failure were taken).
        """
        with self._changed:
            if self._slot is None and not self._finished:
                self._changed.wait(timeout_s)
            frame, self._slot = self._slot, None
            if frame is not None:
                self.read_at_s = self._slot_read_at_s
                self._changed.notify_all()  # a non-realtime reader waits for the slot to empty
            elif self._finished and self.error is not None:
                raise self.error
            return frame

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the reader to stop after the frame it is reading and wait for its thread (idempotent)."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """Whether the reader's thread is running."""
        return self._thread.is_alive()

    def _wait_until(self, deadline: float) -> None:
        delay = deadline - time.perf_counter()
        if delay > 0:
            self._stop.wait(delay)

    def _run(self) -> None:
        frames: Iterator[Frame] | None = None
        clock_start: float | None = None
        first_time_s = 0.0
        try:
            frames = iter(self.source)
            while not self._stop.is_set():
                frame = next(frames, None)
                if frame is None:
                    break
                if self.realtime:
                    now = time.perf_counter()
                    if clock_start is None or now - (clock_start + frame.time_s - first_time_s) > self.MAX_LAG_S:
                        clock_start, first_time_s = now, frame.time_s
                    self._wait_until(clock_start + frame.time_s - first_time_s)
                    if self._stop.is_set():
                        break
                with self._changed:
                    if not self.realtime:
                        while self._slot is not None and not self._stop.is_set():
                            self._changed.wait(0.1)
                    if self._slot is not None:
                        self.frames_dropped += 1
                    self._slot = frame
                    self._slot_read_at_s = time.perf_counter()
                    self.frames_read += 1
                    self._read_times.append(self._slot_read_at_s)
                    self._changed.notify_all()
        except Exception as error:  # handed to the consumer by take()
            self.error = error
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # end the iteration here, in the thread that iterated (decoder, GL context)
            with self._changed:
                self._finished = True
                self._changed.notify_all()


@dataclass(frozen=True)
class LiveSummary:
    """How a live tracking run went (returned by :func:`live_tracking_job`, or ``partial`` if cancelled).

    Attributes
    ----------
    frames_read : int
        Frames the source delivered.
    frames_tracked : int
        Frames tracked (one :class:`LiveResult` each).
    frames_dropped : int
        Source frames skipped because a newer one was waiting.
    seconds : float
        Wall time of the run.
    """

    frames_read: int
    frames_tracked: int
    frames_dropped: int
    seconds: float


def live_tracking_job(
    source: FrameSource,
    live_tracker: LiveTracker,
    reconstructor: GeometryReconstructor,
    cancel: Cancel = None,
    realtime: bool = True,
    solver_threads: int | None = 1,
) -> Generator[LiveResult, None, LiveSummary]:
    """Track a source frame by frame, newest frame first (a generator job).

    Parameters
    ----------
    source : FrameSource
        Camera, video or synthetic performer; read by a :class:`LatestFrameReader` in its own thread.
    live_tracker : LiveTracker
        Neutral capture, alignment, solve and filter.
    reconstructor : GeometryReconstructor
        MediaPipe, in ``"video"`` running mode for a stream (not closed here).
    cancel : callable, object with ``is_set()``, or None
        Checked before and after each frame and while waiting for one.
    realtime : bool
        See :class:`LatestFrameReader`: ``True`` plays recorded sources at their frame rate and drops
        frames the tracking could not keep up with; ``False`` tracks every frame as fast as possible.
    solver_threads : int or None
        torch intra-op threads while a frame is tracked (:func:`studio.core.jobs.torch_threads`: the
        caller's setting is back at every ``yield``): one frame's ``53×53`` solve is
        fastest on one thread (0.8 ms on two cores), while two threads that wait for each other on a busy
        two-core machine take 6 ms on average and 28 ms at the 95th percentile. ``None`` leaves torch's
        setting alone.

    Yields
    ------
    LiveResult
        One per tracked frame, with ``image``, ``frames_dropped``, ``source_fps``, ``read_at_s`` and the
        ``landmarks`` stage time set.

    Returns
    -------
    LiveSummary
        When the source ends.

    Raises
    ------
    JobCancelled
        ``cancel`` was set; ``partial`` is the :class:`LiveSummary` so far.
    FrameSourceError
        The source failed (a corrupt video); frames before the failure were yielded.
    """
    started = time.perf_counter()
    reader = LatestFrameReader(source, realtime=realtime).start()
    tracked = 0

    def summary() -> LiveSummary:
        return LiveSummary(reader.frames_read, tracked, reader.frames_dropped, time.perf_counter() - started)

    try:
        while True:
            if is_cancelled(cancel):
                raise JobCancelled(f"{source.name}: live tracking stopped after {tracked} frames", summary())
            frame = reader.take(timeout_s=0.05)
            if frame is None:
                if reader.finished:
                    return summary()
                continue
            read_at_s = reader.read_at_s
            start = time.perf_counter()
            with torch_threads(solver_threads):
                observation = reconstructor.observe(frame)
                landmarks_ms = 1e3 * (time.perf_counter() - start)
                result = live_tracker.process(frame.index, frame.time_s, observation.landmarks, observation.crop)
            tracked += 1
            if is_cancelled(cancel):
                raise JobCancelled(f"{source.name}: live tracking stopped after {tracked} frames", summary())
            yield replace(
                result,
                stage_ms={"landmarks": landmarks_ms, **result.stage_ms},
                image=frame.image,
                frames_dropped=reader.frames_dropped,
                source_fps=reader.source_fps(),
                read_at_s=read_at_s,
            )
    finally:
        reader.stop()
