"""Track a recorded take: reconstruction → head-pose removal → performer neutral → solve → filter.

:func:`track_take` is a generator job (GUIDE §2): it yields ``(stage, done, total)`` progress tuples,
checks ``cancel`` between frames and returns a :class:`TakeTracking` (use
:func:`studio.core.jobs.run_job` to drive it to completion).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from studio.core.geometry.temporal_filters import OneEuroFilter, jitter, true_runs, zero_phase_smooth
from studio.core.io.curves import TakeCurves
from studio.core.jobs import Cancel, JobCancelled, is_cancelled, torch_threads
from studio.core.rig.metrics import sparsity, take_mean, tweaker_usage
from studio.core.tracking.frame_sources import FrameSource, VideoFileSource
from studio.core.tracking.head_pose import camera_head_pose, relative_head_pose
from studio.core.tracking.inversion.tracker import NetworkTracker
from studio.core.tracking.neutral import (
    expression_ratios,
    landmark_motion,
    neutral_from_range,
    pick_resting_frames,
    pick_resting_window,
)
from studio.core.tracking.reconstruction import FaceObservation, GeometryReconstructor, reconstruct_frames
from studio.core.tracking.tracker import Tracker, TrackingError

FILTERS = ("none", "one-euro", "smooth", "learned")

Progress = tuple[str, int, int]


@dataclass(frozen=True)
class NeutralRange:
    """Frames ``start`` (inclusive) to ``stop`` (exclusive) that show the performer's resting face."""

    start: int
    stop: int
    chosen: str  # "auto" or "range"


def parse_neutral(spec: str) -> str | tuple[int, int]:
    """``"auto"`` or ``"A:B"`` (frames A to B, B exclusive) → ``"auto"`` or ``(A, B)``; one-line ValueError."""
    if spec == "auto":
        return spec
    start, sep, stop = spec.partition(":")
    try:
        parsed = int(start), int(stop)
    except ValueError:
        parsed = None
    if not sep or parsed is None or parsed[0] < 0 or parsed[1] <= parsed[0]:
        raise ValueError(f"--neutral must be 'auto' or a frame range A:B with 0 <= A < B, got {spec!r}")
    return parsed


@dataclass
class TakeTracking:
    """Result of tracking a take: curves plus the figures of ``STATS.json``.

    Attributes
    ----------
    curves : TakeCurves
        Filtered controls per frame (NaN where no face).
    raw_controls : np.ndarray
        Unfiltered controls, shape ``(T, K)``.
    residual_mm : np.ndarray
        Mean landmark residual per frame after the solve, shape ``(T,)``, mm.
    observations : list of FaceObservation
        The geometry reconstruction of each frame (landmarks and MediaPipe's own blendshapes); empty when the
        take was streamed (``track_take(..., keep_observations=False)``).
    neutral : NeutralRange
        Frames used as the performer's neutral.
    timings_ms : dict
        Milliseconds per frame of each stage (landmarks, alignment, solve, filter).
    stats : TakeStats or None
        Summary figures (:func:`take_stats`).
    """

    curves: TakeCurves
    raw_controls: np.ndarray
    residual_mm: np.ndarray
    observations: list[FaceObservation]
    neutral: NeutralRange
    timings_ms: dict[str, float]
    stats: TakeStats | None = None


def filter_curves(controls: np.ndarray, time_s: np.ndarray, name: str, fps: float) -> np.ndarray:
    """Apply the named temporal filter (``none``, ``one-euro``, ``smooth``, ``learned``) to controls ``(T, K)``.

    ``learned`` is the offline temporal model (:mod:`studio.core.expression.temporal`, 8 frames of lookahead;
    the shipped ``models/temporal/denoiser.pt``); it also fills frames without a face (NaN rows).
    """
    if name == "none":
        return controls.copy()
    if name == "learned":
        from studio.core.expression.temporal import TemporalModels, denoise_curves

        models, _ = TemporalModels.load(None, None)
        if models.causal.num_controls != controls.shape[1]:
            raise ValueError(f"the temporal model is for {models.causal.num_controls} controls, not {controls.shape[1]}")
        return denoise_curves(models, controls)
    if name == "smooth":
        return zero_phase_smooth(controls, fps).astype(np.float32)
    if name == "one-euro":
        one_euro = OneEuroFilter(min_cutoff=1.5, beta=2.0)
        return np.stack([one_euro(float(t), row) for t, row in zip(time_s, controls, strict=True)]).astype(np.float32)
    raise ValueError(f"unknown filter {name!r}: choose one of {', '.join(FILTERS)}")


#: The longest run of frames without a face the ``learned`` filter fills (between frames with one), 0.5 s at
#: 30 frames/s; longer gaps stay empty (the performer left).
MAX_FILLED_GAP_FRAMES = 15


def filtered_curves(controls: np.ndarray, found: np.ndarray, time_s: np.ndarray, filter_name: str, fps: float,
                    missing: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A take's filtered values and which frames have them: ``(values (T, K) in [0, 1] with NaN rows,
    with_values (T,))``.

    Frames without a face have no values, except that the ``learned`` filter fills runs of at most
    :data:`MAX_FILLED_GAP_FRAMES` between frames with a face. ``missing`` is what other filters are given for a
    frame without a face (the learned tracker's takes give 0; NaN by default).
    """
    found = np.asarray(found, bool)
    with_values = found.copy()
    if filter_name == "learned":
        given = np.where(found[:, None], controls, np.nan).astype(np.float32)
        for start, stop in true_runs(~found):
            if start > 0 and stop < len(found) and stop - start <= MAX_FILLED_GAP_FRAMES:
                with_values[start:stop] = True
    else:
        given = controls if missing is None else np.where(found[:, None], controls, missing).astype(np.float32)
    filtered = filter_curves(given, time_s, filter_name, fps)
    return np.where(with_values[:, None], np.clip(filtered, 0.0, 1.0), np.nan).astype(np.float32), with_values


def filtered_head_pose(pose: np.ndarray, found: np.ndarray, with_values: np.ndarray, time_s: np.ndarray,
                       filter_name: str, fps: float) -> np.ndarray:
    """A take's head pose smoothed like its controls: ``(T, 6)`` float32, NaN rows where the curves have no
    values (:mod:`studio.core.tracking.head_pose`).

    ``smooth`` (and ``learned``, whose model is for controls) low-pass the pose without lag, ``one-euro``
    follows it causally, ``none`` keeps it; frames the ``learned`` filter fills (``with_values`` without a face)
    are interpolated between their neighbours.
    """
    found, with_values = np.asarray(found, bool), np.asarray(with_values, bool)
    pose = np.where(found[:, None], np.asarray(pose, np.float64), np.nan)
    if filter_name in ("smooth", "learned"):
        out = zero_phase_smooth(pose, fps, clip=None)
    elif filter_name == "one-euro":
        one_euro = OneEuroFilter(min_cutoff=1.5, beta=0.05)  # degrees and cm move in larger units than controls
        out = np.stack([one_euro(float(t), row) for t, row in zip(time_s, pose, strict=True)])
    else:
        out = pose.copy()
    known = np.isfinite(out).all(axis=1)
    fill = with_values & ~known
    if fill.any() and known.any():
        for j in range(out.shape[1]):
            out[fill, j] = np.interp(time_s[fill], time_s[known], out[known, j])
    out[~with_values] = np.nan
    return out.astype(np.float32)


def track_take(
    source: FrameSource,
    tracker: Tracker | NetworkTracker,
    neutral: str | tuple[int, int] = "auto",
    filter_name: str = "smooth",
    tweaker_indices: Sequence[int] = (),
    reconstructor: GeometryReconstructor | None = None,
    cancel: Cancel = None,
    keep_observations: bool = True,
    workers: int | None = None,
) -> Generator[Progress, None, TakeTracking]:
    """Track every frame of ``source`` (a generator job; see the module docstring): MediaPipe on each frame
    (:func:`~studio.core.tracking.reconstruction.reconstruct_frames`), then :func:`solve_observations`.

    With a :class:`~studio.core.tracking.inversion.tracker.NetworkTracker` the controls come from the
    learned tracker on each frame's face crop (:func:`track_network_take`; no neutral is needed).

    With ``keep_observations=False`` the take streams through in near-constant memory: each frame's landmarks
    go to a temporary file as they are observed (with a few figures per frame in memory to pick the neutral),
    and are read back a chunk at a time to be solved; the result's ``observations`` is then empty. The curves
    are the same as with the observations kept.

    Raises
    ------
    TrackingError
        No face in any frame, or none in the neutral range.
    JobCancelled
        ``cancel()`` returned True.
    """
    if isinstance(tracker, NetworkTracker):
        return (yield from track_network_take(source, tracker, filter_name, tweaker_indices, reconstructor, cancel,
                                              keep_observations))  # fmt: skip
    if not keep_observations:
        return (yield from _track_streamed(source, tracker, neutral, filter_name, tweaker_indices, reconstructor,
                                           cancel, workers))  # fmt: skip
    owns_reconstructor = reconstructor is None
    reconstructor = reconstructor or GeometryReconstructor(running_mode="video")
    started = time.perf_counter()
    job = reconstruct_frames(source, reconstructor, cancel)
    try:
        while True:
            try:
                done, total = next(job)
            except StopIteration as end:
                observations: list[FaceObservation] = end.value
                break
            yield ("landmarks", done, max(total or 0, done))
    finally:
        job.close()
        if owns_reconstructor:
            reconstructor.close()
    landmark_s = time.perf_counter() - started
    if not observations:
        raise TrackingError(f"{source.name}: no frames")
    if not any(o.face_found for o in observations):
        raise TrackingError(f"{source.name}: no face found in any of {len(observations)} frames")
    yield ("solve", 0, 1)
    result = solve_observations(observations, tracker, neutral, filter_name, source.fps, tweaker_indices)
    result.timings_ms["landmarks"] = 1e3 * landmark_s / len(observations)
    result.stats = take_stats(result, time.perf_counter() - started, tweaker_indices)
    yield ("solve", 1, 1)
    return result


def solve_observations(
    observations: Sequence[FaceObservation],
    tracker: Tracker,
    neutral: str | tuple[int, int] = "auto",
    filter_name: str = "smooth",
    fps: float | None = None,
    tweaker_indices: Sequence[int] = (),
) -> TakeTracking:
    """The steps of :func:`track_take` after reconstruction: head pose, performer neutral, solve, filter.

    Tracking the same observations with another rig (θ_S, θ̂_S) needs only this, not MediaPipe again.

    Raises
    ------
    TrackingError
        No face in any frame, or a neutral range past the take.
    """
    started = time.perf_counter()
    found = np.array([o.face_found for o in observations])
    if not found.any():
        raise TrackingError(f"no face found in any of {len(observations)} frames")
    landmarks = np.stack([o.landmarks for o in observations]).astype(np.float64)
    time_s = np.array([o.time_s for o in observations], np.float64)
    fps = fps or (len(time_s) - 1) / max(time_s[-1] - time_s[0], 1e-9)

    t0 = time.perf_counter()
    anchored = tracker.align(landmarks)  # onto the rig's neutral: used to pick and average the neutral
    if neutral == "auto":
        start, stop = pick_resting_frames(anchored, fps)
        neutral_range = NeutralRange(int(start), int(stop), "auto")
    else:
        start, stop = neutral
        if stop > len(observations):
            raise TrackingError(f"neutral range {start}:{stop} is past the take's {len(observations)} frames")
        neutral_range = NeutralRange(int(start), int(stop), "range")
    performer = tracker.performer_neutral(neutral_from_range(anchored, neutral_range.start, neutral_range.stop))
    aligned, transform = tracker.align_with_transform(landmarks, performer)
    image_size = next(o.image_size for o in observations if o.face_found)
    pose = relative_head_pose(camera_head_pose(transform, image_size), neutral_range.start, neutral_range.stop)
    t1 = time.perf_counter()
    tracked = tracker.solve(aligned, performer)
    t2 = time.perf_counter()
    filtered, with_values = filtered_curves(tracked.controls, found, time_s, filter_name, fps)
    head_pose = filtered_head_pose(pose, found, with_values, time_s, filter_name, fps)
    t3 = time.perf_counter()

    frames = len(observations)
    timings = {
        "landmarks": 0.0,
        "alignment": 1e3 * (t1 - t0) / frames,
        "solve": 1e3 * (t2 - t1) / frames,
        "filter": 1e3 * (t3 - t2) / frames,
    }
    curves = TakeCurves(tracker.control_names, time_s - time_s[0], with_values, filtered, head_pose)
    result = TakeTracking(curves, tracked.controls, tracked.residual_mm, list(observations), neutral_range, timings)
    result.stats = take_stats(result, time.perf_counter() - started, tweaker_indices, found)
    return result


#: Frames the learned tracker takes at a time.
NETWORK_BATCH_FRAMES = 32
_NO_NEUTRAL = NeutralRange(0, 0, "none")


def network_tracking(
    observations: Sequence[FaceObservation],
    tracker: NetworkTracker,
    filter_name: str = "smooth",
    fps: float | None = None,
    tweaker_indices: Sequence[int] = (),
    controls: np.ndarray | None = None,
) -> TakeTracking:
    """Curves of observations that carry face crops, by the learned tracker (or from its ``controls``
    ``(T, K)`` when already computed), filtered as :func:`solve_observations` filters; residuals are NaN (no
    landmark solve) and no neutral is used."""
    started = time.perf_counter()
    found = np.array([o.face_found for o in observations])
    if not found.any():
        raise TrackingError(f"no face found in any of {len(observations)} frames")
    time_s = np.array([o.time_s for o in observations], np.float64)
    fps = fps or (len(time_s) - 1) / max(time_s[-1] - time_s[0], 1e-9)
    t0 = time.perf_counter()
    raw = tracker.track_observations(observations) if controls is None else np.asarray(controls, np.float32)
    t1 = time.perf_counter()
    filtered, with_values = filtered_curves(raw, found, time_s, filter_name, fps, missing=0.0)
    frames = len(observations)
    timings = {"landmarks": 0.0, "alignment": 0.0, "solve": 1e3 * (t1 - t0) / frames,
               "filter": 1e3 * (time.perf_counter() - t1) / frames}
    curves = TakeCurves(tracker.control_names, time_s - time_s[0], with_values, filtered)
    result = TakeTracking(curves, raw, np.full(frames, np.nan), list(observations), _NO_NEUTRAL, timings)
    result.stats = take_stats(result, time.perf_counter() - started, tweaker_indices, found)
    return result


def track_network_take(
    source: FrameSource,
    tracker: NetworkTracker,
    filter_name: str = "smooth",
    tweaker_indices: Sequence[int] = (),
    reconstructor: GeometryReconstructor | None = None,
    cancel: Cancel = None,
    keep_observations: bool = True,
) -> Generator[Progress, None, TakeTracking]:
    """:func:`track_take` with the learned tracker: MediaPipe finds the face and makes the crop, the network
    gives the controls, :data:`NETWORK_BATCH_FRAMES` frames at a time as they come (the crops are not kept,
    so a long take streams through)."""
    owns_reconstructor = reconstructor is None
    reconstructor = reconstructor or GeometryReconstructor(running_mode="video", crop_size=tracker.size)
    if reconstructor.crop_size != tracker.size:
        raise ValueError(f"the reconstructor makes crops of {reconstructor.crop_size} px, the network takes "
                         f"{tracker.size} px")
    started = time.perf_counter()
    pending: list[FaceObservation] = []
    kept: list[FaceObservation] = []
    parts: list[np.ndarray] = []
    network_s = 0.0

    def flush() -> None:
        nonlocal network_s
        t0 = time.perf_counter()
        parts.append(tracker.track_observations(pending))
        network_s += time.perf_counter() - t0
        kept.extend(replace(o, crop=None) for o in pending)  # what is kept is small: the crops go
        pending.clear()

    def add(observation: FaceObservation) -> None:
        pending.append(observation)
        if len(pending) >= NETWORK_BATCH_FRAMES:
            flush()

    try:
        yield from (("landmarks", done, max(total or 0, done))
                    for done, total in reconstruct_frames(source, reconstructor, cancel, sink=add))  # fmt: skip
    finally:
        if owns_reconstructor:
            reconstructor.close()
    if pending:
        flush()
    if not kept:
        raise TrackingError(f"{source.name}: no frames")
    if not any(o.face_found for o in kept):
        raise TrackingError(f"{source.name}: no face found in any of {len(kept)} frames")
    yield ("network", 0, 1)
    result = network_tracking(kept, tracker, filter_name, source.fps, tweaker_indices, np.concatenate(parts))
    frames = len(kept)
    result.timings_ms["solve"] = 1e3 * network_s / frames
    result.timings_ms["landmarks"] = 1e3 * (time.perf_counter() - started - network_s) / frames
    if not keep_observations:
        result.observations = []
    result.stats = take_stats(result, time.perf_counter() - started, tweaker_indices)
    yield ("network", 1, 1)
    return result


#: Frames aligned and solved at a time when a take streams through (:func:`track_take` without observations).
STREAM_CHUNK_FRAMES = 512


class _LandmarkSpill:
    """A take's landmarks on disk as they are observed (float32, ``(478, 3)`` a frame), with what picking the
    neutral needs per frame kept in memory: times, faces, expression ratios and motion of the landmarks
    aligned onto the rig's neutral."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.file = tempfile.TemporaryFile(prefix="studio-take-")
        self.frames = 0
        self.points = 0
        self.time_s: list[np.ndarray] = []
        self.found: list[np.ndarray] = []
        self.ratios: list[np.ndarray] = []
        self.motion: list[tuple[np.ndarray, np.ndarray]] = []
        self.pending: list[FaceObservation] = []
        self.first_anchored: np.ndarray | None = None
        self.last_anchored: np.ndarray | None = None
        self.image_size: tuple[int, int] | None = None
        self.align_s = 0.0

    def add(self, observation: FaceObservation) -> None:
        self.pending.append(observation)
        if len(self.pending) >= STREAM_CHUNK_FRAMES:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        landmarks = np.stack([o.landmarks for o in self.pending]).astype(np.float32)
        self.points = landmarks.shape[1]
        self.image_size = self.image_size or self.pending[0].image_size
        self.file.write(landmarks.tobytes())
        self.time_s.append(np.array([o.time_s for o in self.pending], np.float64))
        self.found.append(np.array([o.face_found for o in self.pending]))
        started = time.perf_counter()
        anchored = self.tracker.align(landmarks.astype(np.float64))  # onto the rig's neutral
        self.align_s += time.perf_counter() - started
        self.ratios.append(expression_ratios(anchored))
        if self.first_anchored is None:
            self.first_anchored = anchored[0].copy()  # not a view: it would keep the whole chunk alive
        joined = anchored if self.last_anchored is None else np.concatenate([self.last_anchored[None], anchored])
        if len(joined) > 1:
            self.motion.append(landmark_motion(joined))
        self.last_anchored = anchored[-1].copy()
        self.frames += len(self.pending)
        self.pending = []

    def read(self, start: int, stop: int) -> np.ndarray:
        """Landmarks of frames ``start:stop``, ``(B, N, 3)``, float64, MediaPipe pixels."""
        frame_bytes = self.points * 3 * 4
        self.file.seek(start * frame_bytes)
        data = np.frombuffer(self.file.read((stop - start) * frame_bytes), np.float32)
        return data.reshape(stop - start, self.points, 3).astype(np.float64)

    def close(self) -> None:
        self.file.close()


class _SpillChain:
    """Spills of consecutive segments of one take (observed by parallel workers) read as one spill."""

    def __init__(self, spills: Sequence[_LandmarkSpill]) -> None:
        self.spills = [spill for spill in spills if spill.frames]
        self.frames = sum(spill.frames for spill in self.spills)
        self.points = self.spills[0].points if self.spills else 0
        self.image_size = self.spills[0].image_size if self.spills else None
        self.time_s = [part for spill in self.spills for part in spill.time_s]
        self.found = [part for spill in self.spills for part in spill.found]
        self.ratios = [part for spill in self.spills for part in spill.ratios]
        self.motion: list[tuple[np.ndarray, np.ndarray]] = []
        for before, spill in zip([None, *self.spills[:-1]], self.spills, strict=True):
            if before is not None:  # the step from one segment's last frame to the next one's first
                self.motion.append(landmark_motion(np.stack([before.last_anchored, spill.first_anchored])))
            self.motion.extend(spill.motion)
        self.align_s = sum(spill.align_s for spill in self.spills)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Landmarks of frames ``start:stop`` across the segments, ``(B, N, 3)``, float64, MediaPipe pixels."""
        parts, offset = [], 0
        for spill in self.spills:
            low, high = max(start - offset, 0), min(stop - offset, spill.frames)
            if low < high:
                parts.append(spill.read(low, high))
            offset += spill.frames
        return np.concatenate(parts) if parts else np.zeros((0, self.points, 3))

    def close(self) -> None:
        for spill in self.spills:
            spill.close()


#: Fewest frames per MediaPipe instance when a video is split between several (one per core).
MIN_SEGMENT_FRAMES = 120
#: Frames before its segment a MediaPipe instance observes and drops: by the segment's first frame it
#: follows the face as one pass would have (found afresh, the first frames differ by up to 0.6 in a control).
SEGMENT_LEAD_IN_FRAMES = 15
#: Most MediaPipe instances on one video (each holds its own graph, about 100 MB).
MAX_RECONSTRUCTION_WORKERS = 8


def reconstruction_workers(source: FrameSource, workers: int | None = None) -> int:
    """How many MediaPipe instances observe ``source`` at once in :func:`track_take`.

    A video file of known length is split into that many consecutive segments, each decoded and observed by
    its own thread (MediaPipe runs in native code, so two instances use two cores); other sources, and
    videos shorter than two :data:`MIN_SEGMENT_FRAMES`, take one. ``workers=None``: one per core, at most
    :data:`MAX_RECONSTRUCTION_WORKERS`.
    """
    if not isinstance(source, VideoFileSource) or not source.num_frames:
        return 1
    wanted = min(os.cpu_count() or 1, MAX_RECONSTRUCTION_WORKERS) if workers is None else int(workers)
    return max(1, min(wanted, source.num_frames // MIN_SEGMENT_FRAMES))


def _observe_segments(
    source: VideoFileSource, count: int, tracker: Tracker, cancel: Cancel
) -> Generator[Progress, None, _SpillChain | None]:
    """Observe a video in ``count`` consecutive segments at once, each by its own thread and MediaPipe, into
    one spill each (a generator job: ``("landmarks", done, total)``). Returns their chain, or None when a
    segment came up short (a video broken before its end: then observe it in one pass instead)."""
    total = int(source.num_frames)
    bounds = np.linspace(0, total, count + 1).round().astype(int)
    spills = [_LandmarkSpill(tracker) for _ in range(count)]
    done = [0] * count
    errors: list[BaseException] = []
    stop = threading.Event()
    changed = threading.Condition()

    def observe(segment: int) -> None:
        start, end = int(bounds[segment]), int(bounds[segment + 1])
        try:
            with GeometryReconstructor(running_mode="video") as reconstructor, torch_threads(1):
                first = max(start - SEGMENT_LEAD_IN_FRAMES, 0)
                for frame in source.frames(first, None if segment == count - 1 else end, decoder_threads=1):
                    if stop.is_set():
                        return
                    observation = reconstructor.observe(frame)
                    if frame.index < start:
                        continue  # the lead-in: MediaPipe settles into following the face, as in one pass
                    spills[segment].add(observation)
                    done[segment] += 1  # read by the job's thread at its own pace (no wake-up per frame)
                spills[segment].flush()
        except BaseException as error:  # handed to the job's thread below
            errors.append(error)
            stop.set()
        finally:
            with changed:
                changed.notify_all()

    threads = [threading.Thread(target=observe, args=(i,), name=f"track-mediapipe-{i}", daemon=True)
               for i in range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    complete = False
    try:
        while any(thread.is_alive() for thread in threads):
            if is_cancelled(cancel):
                raise JobCancelled(f"{source.name}: tracking cancelled after {sum(done)} frames")
            with changed:
                changed.wait(0.2)
            yield ("landmarks", sum(done), max(total, sum(done)))
        if errors:
            raise errors[0]
        complete = all(spills[i].frames == bounds[i + 1] - bounds[i] for i in range(count - 1))
    finally:
        stop.set()
        for thread in threads:
            thread.join()  # before the spills close: a worker may still be writing to one
        if not complete:
            for spill in spills:
                spill.close()
    return _SpillChain(spills) if complete else None


def _track_streamed(
    source: FrameSource,
    tracker: Tracker,
    neutral: str | tuple[int, int],
    filter_name: str,
    tweaker_indices: Sequence[int],
    reconstructor: GeometryReconstructor | None,
    cancel: Cancel,
    workers: int | None = None,
) -> Generator[Progress, None, TakeTracking]:
    """:func:`track_take` without keeping the observations (see there)."""
    started = time.perf_counter()
    count = 1 if reconstructor is not None else reconstruction_workers(source, workers)
    spill = (yield from _observe_segments(source, count, tracker, cancel)) if count > 1 else None
    observed_s = time.perf_counter() - started
    if spill is None:
        owns_reconstructor = reconstructor is None
        reconstructor = reconstructor or GeometryReconstructor(running_mode="video")
        spill = _LandmarkSpill(tracker)
        try:
            yield from (("landmarks", done, max(total or 0, done))
                        for done, total in reconstruct_frames(source, reconstructor, cancel, sink=spill.add))  # fmt: skip
        except BaseException:
            spill.close()
            raise
        finally:
            if owns_reconstructor:
                reconstructor.close()
        spill.flush()
        count, observed_s = 1, time.perf_counter() - started
    try:
        # the segments' own chunk alignments ran side by side, inside the observing
        landmark_s = observed_s - spill.align_s / count
        frames = spill.frames
        if frames == 0:
            raise TrackingError(f"{source.name}: no frames")
        found = np.concatenate(spill.found)
        if not found.any():
            raise TrackingError(f"{source.name}: no face found in any of {frames} frames")
        yield ("solve", 0, 1)
        time_s = np.concatenate(spill.time_s)
        fps = source.fps or (frames - 1) / max(time_s[-1] - time_s[0], 1e-9)
        t0 = time.perf_counter()
        if neutral == "auto":
            rms = np.concatenate([m[0] for m in spill.motion]) if spill.motion else np.zeros(0)
            scale = np.concatenate([m[1] for m in spill.motion]) if spill.motion else np.zeros(0)
            start, stop = pick_resting_window(np.concatenate(spill.ratios), rms, scale, fps)
            neutral_range = NeutralRange(int(start), int(stop), "auto")
        else:
            start, stop = neutral
            if stop > frames:
                raise TrackingError(f"neutral range {start}:{stop} is past the take's {frames} frames")
            neutral_range = NeutralRange(int(start), int(stop), "range")
        anchored = tracker.align(spill.read(neutral_range.start, neutral_range.stop))
        performer = tracker.performer_neutral(neutral_from_range(anchored, 0, len(anchored)))
        controls = np.empty((frames, tracker.rig.num_controls), np.float32)
        residual_mm = np.empty(frames)
        pose = np.empty((frames, 6))
        align_s, solve_s = time.perf_counter() - t0 + spill.align_s, 0.0
        for chunk in range(0, frames, STREAM_CHUNK_FRAMES):
            end = min(chunk + STREAM_CHUNK_FRAMES, frames)
            t1 = time.perf_counter()
            aligned, transform = tracker.align_with_transform(spill.read(chunk, end), performer)
            pose[chunk:end] = camera_head_pose(transform, spill.image_size or (0, 0))
            t2 = time.perf_counter()
            tracked = tracker.solve(aligned, performer)
            solve_s += time.perf_counter() - t2
            align_s += t2 - t1
            controls[chunk:end], residual_mm[chunk:end] = tracked.controls, tracked.residual_mm
    finally:
        spill.close()
    t3 = time.perf_counter()
    filtered, with_values = filtered_curves(controls, found, time_s, filter_name, fps)
    pose = relative_head_pose(pose, neutral_range.start, neutral_range.stop)
    head_pose = filtered_head_pose(pose, found, with_values, time_s, filter_name, fps)
    timings = {
        "landmarks": 1e3 * landmark_s / frames,
        "alignment": 1e3 * align_s / frames,
        "solve": 1e3 * solve_s / frames,
        "filter": 1e3 * (time.perf_counter() - t3) / frames,
    }
    curves = TakeCurves(tracker.control_names, time_s - time_s[0], with_values, filtered, head_pose)
    result = TakeTracking(curves, controls, residual_mm, [], neutral_range, timings)
    result.stats = take_stats(result, time.perf_counter() - started, tweaker_indices, found)
    yield ("solve", 1, 1)
    return result


@dataclass(frozen=True)
class TakeStats:
    """The figures of a tracked take (``STATS.json`` of ``track``; per rig in a session take's ``take.json``).

    Attributes
    ----------
    frames, frames_with_face : int
        Video frames, and those with a face.
    face_fraction : float
        ``frames_with_face / frames``.
    seconds, fps : float
        Wall time of tracking, and frames tracked per second of it.
    take_seconds, take_fps : float
        Length and frame rate of the video itself.
    fit_residual_mm : float
        Mean landmark residual after the solve, mm.
    jitter, jitter_unfiltered : float
        Mean |second difference| of the filtered and of the unfiltered controls.
    sparsity : float
        Mean fraction of controls above 0.1 per frame (paper 001 Sec. 10.5).
    tweaker : float
        Mean per-frame sum of tweaker controls.
    neutral_frames : list of int
        ``[start, stop)`` of the frames used as the performer's neutral.
    neutral_choice : str
        ``"auto"`` or ``"range"``.
    ms_per_frame : dict of str to float
        Milliseconds per frame of each stage (landmarks, alignment, solve, filter).
    """

    frames: int
    frames_with_face: int
    face_fraction: float
    seconds: float
    fps: float
    take_seconds: float
    take_fps: float
    fit_residual_mm: float
    jitter: float
    jitter_unfiltered: float
    sparsity: float
    tweaker: float
    neutral_frames: list[int]
    neutral_choice: str
    ms_per_frame: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The figures as ``STATS.json`` holds them, in this order."""
        return asdict(self)

    def summary_json(self) -> dict:
        """The figures without the per-stage timings (as a session's ``take.json`` keeps them per rig)."""
        return {k: v for k, v in self.to_json().items() if k != "ms_per_frame"}

    @classmethod
    def from_json(cls, data: dict) -> TakeStats:
        """Figures from JSON data; missing ones are NaN (or empty)."""
        nan = float("nan")
        return cls(
            frames=int(data.get("frames", 0)), frames_with_face=int(data.get("frames_with_face", 0)),
            face_fraction=float(data.get("face_fraction", nan)), seconds=float(data.get("seconds", nan)),
            fps=float(data.get("fps", nan)), take_seconds=float(data.get("take_seconds", nan)),
            take_fps=float(data.get("take_fps", nan)), fit_residual_mm=_number(data.get("fit_residual_mm")),
            jitter=_number(data.get("jitter")), jitter_unfiltered=_number(data.get("jitter_unfiltered")),
            sparsity=_number(data.get("sparsity")), tweaker=_number(data.get("tweaker")),
            neutral_frames=list(data.get("neutral_frames", [])), neutral_choice=str(data.get("neutral_choice", "")),
            ms_per_frame=dict(data.get("ms_per_frame", {})),
        )  # fmt: skip


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def take_stats(result: TakeTracking, seconds: float, tweaker_indices: Sequence[int],
               face_found: np.ndarray | None = None) -> TakeStats:
    """The figures of a tracked take (:class:`TakeStats`); ``seconds`` is the wall time of tracking it and
    ``face_found`` ``(T,)`` the frames where MediaPipe found a face (by default the curves' frames with values,
    which the ``learned`` filter extends over short gaps)."""
    curves = result.curves
    found = curves.face_found if face_found is None else np.asarray(face_found, bool)
    return TakeStats(
        frames=curves.num_frames,
        frames_with_face=int(found.sum()),
        face_fraction=float(found.mean()),
        seconds=float(seconds),
        fps=float(curves.num_frames / max(seconds, 1e-9)),
        take_seconds=float(curves.time_s[-1]) if curves.num_frames else 0.0,
        take_fps=curves.fps,
        fit_residual_mm=take_mean(result.residual_mm),
        jitter=jitter(curves.values),
        jitter_unfiltered=jitter(result.raw_controls),
        sparsity=take_mean(sparsity(curves.values)),
        tweaker=take_mean(tweaker_usage(curves.values, tweaker_indices)),
        neutral_frames=[result.neutral.start, result.neutral.stop],
        neutral_choice=result.neutral.chosen,
        ms_per_frame=result.timings_ms,
    )
