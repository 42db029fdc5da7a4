"""Live tracking: one frame at a time, from a camera (or a video or a synthetic performer) to controls.

:class:`LiveTracker` is the pure per-frame model: it wraps a :class:`~studio.core.tracking.tracker.Tracker` and a
causal :class:`~studio.core.geometry.temporal_filters.OneEuroFilter`. The first ``neutral_frames`` frames with a
face (about a second; the user is asked to look at the camera with a relaxed face) are collected as the
performer's neutral; from then on every frame is aligned, solved (a batch of one) and filtered.

:func:`live_tracking_job` is the generator job (GUIDE §2) that runs it over a frame source: it yields one
:class:`LiveResult` per tracked frame and checks for cancellation between frames. The stages overlap on
threads of their own: the source is read by a :class:`LatestFrameReader`, MediaPipe runs in an
:class:`ObservationStage`, and the job's thread solves, filters and poses. Each hand-off keeps only the
newest item not yet taken, so when a stage (or whoever consumes the results) is slower than the source,
stale frames are dropped instead of queueing up as latency: a result is never more than one frame per stage
behind the camera. A consumer that is slower still (a GUI drawing at its own pace) should keep only the
latest result too; see :mod:`studio.ui.tools.live_view`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from studio.core.geometry.temporal_filters import OneEuroFilter
from studio.core.jobs import Cancel, JobCancelled, is_cancelled, torch_threads
from studio.core.tracking.face_landmarker import NUM_LANDMARKS
from studio.core.tracking.frame_sources import Frame, FrameSource
from studio.core.tracking.inversion.tracker import NetworkTracker
from studio.core.tracking.neutral import neutral_from_range
from studio.core.tracking.reconstruction import FaceObservation, GeometryReconstructor
from studio.core.tracking.tracker import PerformerNeutral, Tracker

#: Frames with a face collected as the performer's neutral (about one second at 30 fps).
DEFAULT_NEUTRAL_FRAMES = 30
#: One-Euro settings for live controls (as ``python main.py track --filter one-euro``).
DEFAULT_MIN_CUTOFF_HZ = 1.5
DEFAULT_BETA = 2.0
#: Stages timed per frame, in pipeline order (``draw`` is added by a display): ``decode`` the source's own
#: time for the frame (decoding a video; a camera's wait for its next frame), ``mediapipe`` the landmarks,
#: ``handoff`` the time the frame and its observation waited between the threads, ``alignment`` head-pose
#: removal, ``solve`` the rig inversion (or the learned tracker), ``gaze`` the eyeLook controls from the
#: irises, ``filter`` the One-Euro filter and ``pose`` what the display asked to be made of the controls
#: (the posed mesh) off its thread.
STAGES = ("decode", "mediapipe", "handoff", "alignment", "solve", "gaze", "filter", "pose")
#: The stages that compute (not ``decode``, a source's own time, nor ``handoff``, waiting).
TRACKING_STAGES = ("mediapipe", "alignment", "solve", "gaze", "filter", "pose")


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
    posed : object
        What :func:`live_tracking_job`'s ``pose`` made of ``controls`` (e.g. the posed mesh), or None.
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
    posed: object = None

    @property
    def capturing_neutral(self) -> bool:
        """Whether the performer's neutral is still being collected."""
        return self.neutral_captured < self.neutral_required

    @property
    def tracking_ms(self) -> float:
        """Milliseconds of the computing stages together (:data:`TRACKING_STAGES`)."""
        return float(sum(ms for name, ms in self.stage_ms.items() if name in TRACKING_STAGES))


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
                tracked = self.tracker.solve(aligned, self.neutral, gaze=False)
                solved_at = time.perf_counter()
                self.tracker.read_gaze(tracked.controls, aligned, self.neutral)
                gaze_at = time.perf_counter()
                filtered = self.one_euro(float(time_s), tracked.controls[0])
                controls = np.clip(filtered, 0.0, 1.0).astype(np.float32)
                residual_mm = float(tracked.residual_mm[0])
                stage_ms["solve"] = 1e3 * (solved_at - aligned_at)
                stage_ms["gaze"] = 1e3 * (gaze_at - solved_at)
                stage_ms["filter"] = 1e3 * (time.perf_counter() - gaze_at)
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


class NewestSlot:
    """The hand-off between two threads that keeps only the newest item not yet taken.

    Parameters
    ----------
    realtime : bool
        ``True``: an item not taken before the next one is put is dropped (counted in :attr:`dropped`).
        ``False``: :meth:`put` waits until the previous item was taken (nothing is dropped).

    Attributes
    ----------
    dropped : int
        Items replaced by a newer one before they were taken.
    error : BaseException or None
        What the producer failed with (re-raised by :meth:`take` once nothing is waiting).
    """

    def __init__(self, realtime: bool = True) -> None:
        self.realtime = bool(realtime)
        self.dropped = 0
        self.error: BaseException | None = None
        self._item: object | None = None
        self._finished = False
        self._stopping = False
        self._changed = threading.Condition()

    def put(self, item: object) -> None:
        """Hand ``item`` over (a non-realtime slot first waits until the previous one was taken or stop)."""
        with self._changed:
            if not self.realtime:
                while self._item is not None and not self._stopping:
                    self._changed.wait(0.1)
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._changed.notify_all()

    def take(self, timeout_s: float = 0.05) -> object | None:
        """The newest item not yet taken, waiting up to ``timeout_s`` for one; ``None`` if none came.

        Raises
        ------
        Exception
            What the producer failed with, once the items before the failure were taken.
        """
        with self._changed:
            if self._item is None and not self._finished:
                self._changed.wait(timeout_s)
            item, self._item = self._item, None
            if item is not None:
                self._changed.notify_all()  # a non-realtime producer waits for the slot to empty
            elif self._finished and self.error is not None:
                raise self.error
            return item

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done (with ``error`` if it failed)."""
        with self._changed:
            self.error = error if error is not None else self.error
            self._finished = True
            self._changed.notify_all()

    def stop(self) -> None:
        """Release a producer waiting in :meth:`put`."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    @property
    def finished(self) -> bool:
        """Whether the producer is done and nothing is waiting."""
        with self._changed:
            return self._finished and self._item is None


class _SlotThread:
    """A thread that produces into a :class:`NewestSlot` (the reader, the MediaPipe stage)."""

    def __init__(self, realtime: bool, name: str) -> None:
        self.realtime = bool(realtime)
        self._slot = NewestSlot(realtime)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self):
        """Start the thread; returns ``self``."""
        self._thread.start()
        return self

    @property
    def frames_dropped(self) -> int:
        """Items replaced by a newer one before they were taken."""
        return self._slot.dropped

    @property
    def finished(self) -> bool:
        """Whether the producer has ended (or failed, or was stopped) and nothing is waiting."""
        return self._slot.finished

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def _stop_thread(self, timeout_s: float) -> None:
        self._stop.set()
        self._slot.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        raise NotImplementedError


class LatestFrameReader(_SlotThread):
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
    source_ms : float
        Milliseconds the source took to produce that frame (decoding, rendering, a camera's wait).
    """

    #: Falling further behind the source's clock than this (seconds) restarts the clock (no catch-up burst).
    MAX_LAG_S = 0.1

    def __init__(self, source: FrameSource, realtime: bool = True, name: str = "live-frame-reader") -> None:
        super().__init__(realtime, name)
        self.source = source
        self.frames_read = 0
        self.read_at_s = float("nan")
        self.source_ms = float("nan")
        self._read_times: deque[float] = deque(maxlen=240)
        self._times_lock = threading.Lock()

    @property
    def error(self) -> BaseException | None:
        """What the source raised, if it failed."""
        return self._slot.error

    def source_fps(self) -> float:
        """Frames read per second over the last second (0 before two frames)."""
        now = time.perf_counter()
        with self._times_lock:
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
        item = self._slot.take(timeout_s)
        if item is None:
            return None
        frame, self.read_at_s, self.source_ms = item
        return frame

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the reader to stop after the frame it is reading and wait for its thread (idempotent)."""
        self._stop_thread(timeout_s)

    def _wait_until(self, deadline: float) -> None:
        delay = deadline - time.perf_counter()
        if delay > 0:
            self._stop.wait(delay)

    def _run(self) -> None:
        frames: Iterator[Frame] | None = None
        clock_start: float | None = None
        first_time_s = 0.0
        failure: BaseException | None = None
        try:
            frames = iter(self.source)
            while not self._stop.is_set():
                asked_at = time.perf_counter()
                frame = next(frames, None)
                source_ms = 1e3 * (time.perf_counter() - asked_at)
                if frame is None:
                    break
                if self.realtime:
                    now = time.perf_counter()
                    if clock_start is None or now - (clock_start + frame.time_s - first_time_s) > self.MAX_LAG_S:
                        clock_start, first_time_s = now, frame.time_s
                    self._wait_until(clock_start + frame.time_s - first_time_s)
                    if self._stop.is_set():
                        break
                read_at = time.perf_counter()
                with self._times_lock:
                    self._read_times.append(read_at)
                self.frames_read += 1
                self._slot.put((frame, read_at, source_ms))
        except Exception as error:  # handed to the consumer by take()
            failure = error
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # end the iteration here, in the thread that iterated (decoder, GL context)
            self._slot.finish(failure)


@dataclass(frozen=True)
class ObservedFrame:
    """A frame and MediaPipe's observation of it, as :class:`ObservationStage` hands them on.

    Attributes
    ----------
    frame : Frame
        The frame.
    observation : FaceObservation
        Its landmarks (and crop, when asked for).
    read_at_s : float
        ``time.perf_counter()`` when the frame came out of the source, seconds.
    decode_ms, mediapipe_ms, waited_ms : float
        The source's time for the frame, MediaPipe's, and how long the frame waited for MediaPipe.
    observed_at_s : float
        ``time.perf_counter()`` when the observation was made, seconds.
    """

    frame: Frame
    observation: FaceObservation
    read_at_s: float
    decode_ms: float
    mediapipe_ms: float
    waited_ms: float
    observed_at_s: float


class ObservationStage(_SlotThread):
    """MediaPipe on a thread of its own, between a :class:`LatestFrameReader` and the solve.

    It takes the newest frame from the reader, observes it and keeps only the newest observation not yet
    taken, so MediaPipe works on frame ``n + 1`` while the solve (and the display) handle frame ``n``; MediaPipe
    runs in native code without Python's lock, so on two cores the stages truly overlap.

    Parameters
    ----------
    reader : LatestFrameReader
        The frames (started; stopped by :meth:`stop`).
    reconstructor : GeometryReconstructor
        MediaPipe (used only from this stage's thread while it runs; not closed here).
    realtime : bool
        ``False``: wait until each observation is taken (nothing dropped; as fast as the consumer goes).

    Attributes
    ----------
    frames_dropped : int
        Observations replaced by a newer one before they were taken.
    """

    def __init__(self, reader: LatestFrameReader, reconstructor: GeometryReconstructor, realtime: bool = True) -> None:
        super().__init__(realtime, "live-mediapipe")
        self.reader = reader
        self.reconstructor = reconstructor

    def take(self, timeout_s: float = 0.05) -> ObservedFrame | None:
        """The newest observation not yet taken, waiting up to ``timeout_s``; ``None`` if none came.

        Raises
        ------
        Exception
            What the source or MediaPipe raised (once the observations before the failure were taken).
        """
        return self._slot.take(timeout_s)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the frame being observed, wait for the thread, then stop the reader (idempotent)."""
        self._stop_thread(timeout_s)
        self.reader.stop()

    def _run(self) -> None:
        failure: BaseException | None = None
        try:
            while not self._stop.is_set():
                frame = self.reader.take(timeout_s=0.05)
                if frame is None:
                    if self.reader.finished:
                        break
                    continue
                started = time.perf_counter()
                observation = self.reconstructor.observe(frame)
                observed_at = time.perf_counter()
                self._slot.put(ObservedFrame(
                    frame, observation, self.reader.read_at_s, self.reader.source_ms,
                    1e3 * (observed_at - started), 1e3 * (started - self.reader.read_at_s), observed_at,
                ))  # fmt: skip
        except Exception as error:  # handed to the consumer by take()
            failure = error
        finally:
            self._slot.finish(failure)


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
    pose: Callable[[np.ndarray], object] | None = None,
) -> Generator[LiveResult, None, LiveSummary]:
    """Track a source frame by frame, newest frame first (a generator job).

    Three threads overlap: the source is read by a :class:`LatestFrameReader`, MediaPipe runs in an
    :class:`ObservationStage`, and the job's own thread solves, filters and poses. Each hand-off keeps only
    the newest item, so a slow stage drops frames instead of queueing them as latency.

    Parameters
    ----------
    source : FrameSource
        Camera, video or synthetic performer.
    live_tracker : LiveTracker
        Neutral capture, alignment, solve and filter.
    reconstructor : GeometryReconstructor
        MediaPipe, in ``"video"`` running mode for a stream (used from the stage's thread; not closed here).
    cancel : callable, object with ``is_set()``, or None
        Checked before and after each frame and while waiting for one.
    realtime : bool
        See :class:`LatestFrameReader`: ``True`` plays recorded sources at their frame rate and drops
        frames the tracking could not keep up with; ``False`` tracks every frame as fast as possible.
    solver_threads : int or None
        torch intra-op threads while a frame is solved (:func:`studio.core.jobs.torch_threads`: the
        caller's setting is back at every ``yield``): one frame's ``53×53`` solve is
        fastest on one thread (0.8 ms on two cores), while two threads that wait for each other on a busy
        two-core machine take 6 ms on average and 28 ms at the 95th percentile. ``None`` leaves torch's
        setting alone.
    pose : callable, optional
        ``pose(controls) -> object`` run on each frame's controls in the job's thread (timed as ``pose``),
        its value handed on as :attr:`LiveResult.posed`: what a display needs made off its own thread.

    Yields
    ------
    LiveResult
        One per tracked frame, with ``image``, ``frames_dropped``, ``source_fps``, ``read_at_s``, ``posed``
        and the times of all :data:`STAGES` set.

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
    stage = ObservationStage(reader, reconstructor, realtime=realtime).start()
    tracked = 0

    def dropped() -> int:
        return reader.frames_dropped + stage.frames_dropped

    def summary() -> LiveSummary:
        return LiveSummary(reader.frames_read, tracked, dropped(), time.perf_counter() - started)

    try:
        while True:
            if is_cancelled(cancel):
                raise JobCancelled(f"{source.name}: live tracking stopped after {tracked} frames", summary())
            observed = stage.take(timeout_s=0.05)
            if observed is None:
                if stage.finished:
                    return summary()
                continue
            taken_at = time.perf_counter()
            frame, observation = observed.frame, observed.observation
            with torch_threads(solver_threads):
                result = live_tracker.process(frame.index, frame.time_s, observation.landmarks, observation.crop)
                posed, pose_ms = None, {}
                if pose is not None and result.controls is not None:
                    posing = time.perf_counter()
                    posed = pose(result.controls)
                    pose_ms = {"pose": 1e3 * (time.perf_counter() - posing)}
            tracked += 1
            if is_cancelled(cancel):
                raise JobCancelled(f"{source.name}: live tracking stopped after {tracked} frames", summary())
            yield replace(
                result,
                stage_ms={
                    "decode": observed.decode_ms,
                    "mediapipe": observed.mediapipe_ms,
                    "handoff": observed.waited_ms + 1e3 * (taken_at - observed.observed_at_s),
                    **result.stage_ms,
                    **pose_ms,
                },
                image=frame.image,
                frames_dropped=dropped(),
                source_fps=reader.source_fps(),
                read_at_s=observed.read_at_s,
                posed=posed,
            )
    finally:
        stage.stop()
