"""Takes inside a session: a video tracked with every rig the session has (θ_A, θ_S, θ̂_S).

A take lives in ``takes/<name>/`` of the session folder (``docs/session-format.md``):

- ``curves_<rig>.csv`` — the filtered controls per frame tracked with that rig (``theta_A``, and
  ``theta_S`` / ``theta_S_hat`` once the session has them), :class:`studio.core.io.curves.TakeCurves` layout;
- ``video.mp4`` — the take as recorded from a camera (:func:`record_take_job`; imported videos stay
  where they are); ``truth.npz`` beside it when the camera was a synthetic performer: the controls it
  performed per frame (``controls`` ``(T, K)``), for the review page's geometry-error heatmap;
- ``take.json`` — :class:`TakeReport`: source, frames, frame rate, neutral frames, and per rig the tracking
  figures and the animator metrics (sparsity, tweaker usage: paper 001 Table 5 for this take).
  ``seconds``/``fps`` of θ_S and θ̂_S time their solve alone (the reconstruction is θ_A's).

:func:`track_session_take_job` reconstructs the video once (MediaPipe) and solves the same observations
with each rig (:func:`studio.core.tracking.take.solve_observations`). :func:`record_take_job` records a
camera (or a synthetic performer) into ``video.mp4`` first. Every file is written atomically,
``take.json`` last, so a take without it is incomplete and is not listed.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.errors import StudioError
from studio.core.geometry.temporal_filters import jitter
from studio.core.io.atomic_files import write_json_atomic, write_npz_atomic
from studio.core.io.curves import TakeCurves
from studio.core.io.media import MediaError, TakeVideoWriter, smpte_timecode
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.metrics import sparsity, take_mean, tweaker_usage
from studio.core.rig.response import ResponseSet
from studio.core.session.folder import TAKE_FILE, TAKE_TRUTH_FILE, TAKE_VIDEO_FILE, Session, SessionError
from studio.core.tracking.frame_sources import FrameSource, VideoFileSource
from studio.core.tracking.inversion.crops import CROP_SIZE
from studio.core.tracking.inversion.tracker import NetworkTracker, network_path
from studio.core.tracking.live import LatestFrameReader
from studio.core.tracking.reconstruction import GeometryReconstructor
from studio.core.tracking.rig_bundle import RigBundle
from studio.core.tracking.take import TakeStats, network_tracking, solve_observations, track_take

__all__ = [
    "GENERATED_RIG",
    "Take",
    "TakeReport",
    "load_take",
    "record_take_job",
    "save_generated_take",
    "track_session_take_job",
]

GENERATED_RIG = "generated"
"""The rig label of a take made by the generative expression model (no tracking: its controls are the rig's
own, ``curves_generated.csv``)."""


@dataclass(frozen=True)
class TakeReport:
    """A session take's ``take.json``: where it came from and how each rig tracked it.

    Attributes
    ----------
    name : str
        The take's name (its folder).
    source : str
        The video or camera it was tracked from.
    frames : int
        Frames tracked.
    fps : float
        The take's frame rate.
    neutral_frames : tuple of int
        ``(start, stop)`` of the frames used as the performer's neutral.
    filter : str
        The temporal filter (``none``, ``one-euro``, ``smooth``).
    rigs : tuple of str
        The rigs it was tracked with, in order (``theta_A``, ``theta_S``, ``theta_S_hat``).
    stats : dict of str to TakeStats
        Per rig, the tracking figures and animator metrics.
    video : str
        The take's footage: ``video.mp4`` (in the take's folder) when it was recorded, the video's absolute
        path when it was imported, ``""`` when it has none (generated, or tracked from images).
    audio : bool
        Whether the footage has a sound track.
    start_timecode : str
        SMPTE timecode of the first frame (the recording's time of day, or the imported video's own), or ``""``.
    response : dict
        The session's per-shape response when the take was tracked (a response file's JSON,
        :mod:`studio.core.rig.response`), which reviews and exports apply; empty for none. The curves files
        stay raw, so the take can always be exported without it.
    """

    name: str
    source: str
    frames: int
    fps: float
    neutral_frames: tuple[int, int]
    filter: str
    rigs: tuple[str, ...]
    stats: dict[str, TakeStats]
    video: str = ""
    audio: bool = False
    start_timecode: str = ""
    response: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as ``take.json`` holds it."""
        return {
            "name": self.name,
            "source": self.source,
            "frames": self.frames,
            "fps": self.fps,
            "neutral_frames": list(self.neutral_frames),
            "filter": self.filter,
            "rigs": list(self.rigs),
            "stats": {rig: stats.summary_json() for rig, stats in self.stats.items()},
            "video": self.video,
            "audio": self.audio,
            "start_timecode": self.start_timecode,
            "response": self.response,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TakeReport:
        """A report from ``take.json``'s data (``KeyError``/``TypeError``/``ValueError`` when it is not one)."""
        return cls(
            name=str(data["name"]),
            source=str(data.get("source", "")),
            frames=int(data["frames"]),
            fps=float(data["fps"]),
            neutral_frames=tuple(int(i) for i in data.get("neutral_frames", (0, 0))),
            filter=str(data.get("filter", "")),
            rigs=tuple(str(rig) for rig in data["rigs"]),
            stats={str(rig): TakeStats.from_json(stats) for rig, stats in data.get("stats", {}).items()},
            video=str(data.get("video", "")),
            audio=bool(data.get("audio", False)),
            start_timecode=str(data.get("start_timecode", "")),
            response=dict(data.get("response") or {}),
        )

    def response_set(self) -> ResponseSet:
        """The response recorded with the take (the identity when none); :class:`ResponseError` if damaged."""
        return ResponseSet.from_json(self.response, where=f"take {self.name}") if self.response else ResponseSet()

    def video_path(self, folder: Path) -> Path | None:
        """The footage's file for a take in ``folder`` (its own folder), or None when it has none."""
        if not self.video:
            return None
        path = Path(self.video)
        return path if path.is_absolute() else folder / path


@dataclass(frozen=True)
class Take:
    """A session take read back.

    Attributes
    ----------
    report : TakeReport
        Its ``take.json``.
    curves : dict of str to TakeCurves
        Its curves per rig, in :attr:`TakeReport.rigs` order.
    truth_controls : np.ndarray or None
        The controls a synthetic performer performed per frame, ``(T, K)`` (``truth.npz``), else ``None``.
    """

    report: TakeReport
    curves: dict[str, TakeCurves]
    truth_controls: np.ndarray | None = None

    def with_response(self, rig: str) -> TakeCurves:
        """The curves tracked with ``rig`` after the take's per-shape response (as reviewed and exported)."""
        curves = self.curves[rig]
        response = self.report.response_set()
        if response.is_identity:
            return curves
        return curves.with_values(curves.control_names,
                                  response.apply(curves.values, curves.control_names, curves.time_s))  # fmt: skip


def load_take(session: Session, name: str) -> Take:
    """Read a take of the session.

    Raises
    ------
    SessionError
        ``take.json`` is missing or unreadable.
    TakeFileError
        A curves file is malformed.
    """
    path = session.take_folder(name) / TAKE_FILE
    try:
        report = TakeReport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SessionError(f"{path}: unreadable take ({type(error).__name__}: {error})") from None
    curves = {rig: TakeCurves.read_csv(session.take_curves_path(name, rig)) for rig in report.rigs}
    truth = session.take_folder(name) / TAKE_TRUTH_FILE
    if not truth.is_file():
        return Take(report, curves)
    try:
        with np.load(truth, allow_pickle=False) as data:
            controls = data["controls"].astype(np.float64)
    except (OSError, ValueError, KeyError) as error:
        raise SessionError(f"{truth}: unreadable ({type(error).__name__}: {error})") from None
    return Take(report, curves, controls)


def session_networks(session: Session, bundle: RigBundle, device: str = "cpu") -> dict[str, NetworkTracker]:
    """The learned trackers a session's takes are tracked with: ``network`` (the shipped network,
    when installed) and ``network_calibrated`` (``calibration/network_calibrated.pt``, when the performer's
    calibration was made). A file that cannot be read is left out; the take is still tracked."""
    networks: dict[str, NetworkTracker] = {}
    for label, path in (("network", network_path()), ("network_calibrated", session.network_path())):
        if path.is_file():
            try:
                networks[label] = NetworkTracker.load(path, bundle.rig.expression_names, device)
            except StudioError:
                continue
    return networks


def track_session_take_job(
    session: Session,
    source: FrameSource,
    name: str,
    bundle: RigBundle | None = None,
    neutral: str | tuple[int, int] = "auto",
    filter_name: str = "smooth",
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, TakeReport]:
    """Track a video into the session as take ``name`` with each of its rigs; returns its ``take.json``.

    MediaPipe runs once (with θ_A's tracker); the same observations are then solved with θ_S and θ̂_S when the
    session has them, and their face crops tracked by the learned tracker — as trained (``network``) and
    calibrated to the performer (``network_calibrated``) — when the studio and the session have them
    (:func:`session_networks`; the crops are held in memory while the take is tracked, 48 KB a frame). Yields
    ``(stage, done, total)``: ``landmarks`` per frame, then ``solve`` per rig and ``network`` per network.

    Raises
    ------
    JobCancelled
        ``cancel`` was set (nothing written).
    TrackingError
        The take has no face.
    SessionError
        The session's ``response.json`` is damaged (said before any work).
    """
    folder = session.take_folder(name)
    bundle = bundle if bundle is not None else RigBundle.load(session.rig_name)
    response = _recorded_response(session.response(bundle.definition.control_names))  # a bad file: before the work
    tweakers = bundle.definition.tweaker_indices()
    rigs = session.tracking_rigs()
    networks = session_networks(session, bundle)
    reconstructor = GeometryReconstructor(running_mode="video", crop_size=CROP_SIZE) if networks else None
    try:
        base = yield from track_take(
            source, bundle.tracker(), neutral, filter_name, tweakers, reconstructor=reconstructor, cancel=cancel
        )
    finally:
        if reconstructor is not None:
            reconstructor.close()
    results = {"theta_A": base}
    neutral_range = (base.neutral.start, base.neutral.stop)
    for index, (label, parameters) in enumerate(rigs.items()):
        yield ("solve", index, len(rigs))
        if parameters is not None:
            results[label] = solve_observations(
                base.observations, bundle.tracker(parameters), neutral_range, filter_name, source.fps, tweakers
            )
    yield ("solve", len(rigs), len(rigs))
    for index, (label, network) in enumerate(networks.items()):
        yield ("network", index, len(networks))
        results[label] = network_tracking(base.observations, network, filter_name, source.fps, tweakers)
    folder.mkdir(parents=True, exist_ok=True)
    for label, result in results.items():
        result.curves.write_csv(session.take_curves_path(name, label))
    footage = _footage(source, folder)
    report = TakeReport(
        name=name, source=str(source.name), frames=base.curves.num_frames, fps=base.curves.fps,
        neutral_frames=neutral_range, filter=filter_name, rigs=tuple(results),
        stats={label: result.stats for label, result in results.items()}, video=footage,
        audio=source.audio is not None and footage != "", start_timecode=source.start_timecode or "",
        response=response,
    )  # fmt: skip
    write_json_atomic(folder / TAKE_FILE, report.to_json())
    return report


def record_take_job(
    session: Session,
    source: FrameSource,
    name: str,
    seconds: float,
    realtime: bool = True,
    stop: Cancel = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, Path]:
    """Record a take from a camera into ``takes/<name>/video.mp4`` (a generator job); returns the file.

    The video is written to a temporary file and renamed when complete, so a cancelled or failed recording
    leaves nothing behind. When the frames carry ground truth (a synthetic performer), the performed controls
    are saved as ``truth.npz`` (``controls``, ``(T, K)``) first. Frames keep the source's size; the file's frame rate is the source's (30 when
    unknown).

    Parameters
    ----------
    session : Session
        The session.
    source : FrameSource
        The camera (read in a thread of its own: the newest frame when ``realtime``), not closed here.
    name : str
        The take's name (letters, digits, ``_ - + .``).
    seconds : float
        Longest recording, seconds of source time.
    realtime : bool
        As in :class:`studio.core.tracking.live.LatestFrameReader`.
    stop : callable, object with ``is_set()``, or None
        Ends the recording early, keeping what was recorded.
    cancel : callable, object with ``is_set()``, or None
        Ends it and discards it.

    Yields
    ------
    tuple
        ``("recording", frames_done, frames_total)``.

    Raises
    ------
    JobCancelled
        ``cancel`` was set.
    SessionError
        The source gave no frame, or the video cannot be written.
    """
    path = session.take_folder(name)
    if (path / TAKE_FILE).exists():
        raise SessionError(f"take {name!r} exists already in {session.folder}; choose another name")
    fps = float(source.fps or 30.0)
    total = max(1, int(round(seconds * fps)))
    path.mkdir(parents=True, exist_ok=True)
    writer: TakeVideoWriter | None = None
    frames = 0
    first_s = sound_s = 0.0
    truth: list[np.ndarray] = []
    reader = LatestFrameReader(source, realtime=realtime, name="take-recorder").start()
    try:
        while frames < total and not is_cancelled(stop):
            if is_cancelled(cancel):
                raise JobCancelled(f"recording of {name} cancelled")
            frame = reader.take(timeout_s=0.05)
            if frame is None:
                if reader.finished:
                    break
                continue
            if writer is None:
                first_s = sound_s = frame.time_s
                writer = TakeVideoWriter(
                    path / TAKE_VIDEO_FILE, frame.size, fps,
                    audio_rate=None if source.audio is None else source.audio.rate,
                    audio_channels=1 if source.audio is None else source.audio.channels,
                    start_timecode=source.start_timecode or smpte_timecode(_seconds_since_midnight(), fps),
                )  # fmt: skip
            writer.add_frame(frame.image, frame.time_s - first_s)  # the camera's own times: a late frame stays late
            if source.audio is not None:  # the sound up to this frame, whatever frames were dropped meanwhile
                writer.add_audio(source.audio.samples(sound_s, frame.time_s))
                sound_s = frame.time_s
            if frame.truth_controls is not None:
                truth.append(np.asarray(frame.truth_controls, np.float32))
            frames += 1
            yield ("recording", frames, total)
        if writer is None:
            raise SessionError(f"{source.name}: no frame came from the camera")
        if source.audio is not None:  # the last frame's own span of sound
            writer.add_audio(source.audio.samples(sound_s, sound_s + 1.0 / fps))
        if len(truth) == frames:
            write_npz_atomic(path / TAKE_TRUTH_FILE, {"controls": np.stack(truth)})
        return writer.close()
    except MediaError as error:
        raise SessionError(str(error)) from None
    finally:
        reader.stop()
        if writer is not None:
            writer.discard()  # after close() only removes nothing: the file is in place


def _recorded_response(response: ResponseSet) -> dict[str, Any]:
    return {} if response.is_identity else response.to_json()


def _footage(source: FrameSource, folder: Path) -> str:
    """What a take's ``video`` field says of the source it was tracked from (see :class:`TakeReport`)."""
    path = getattr(source, "path", None)
    if not isinstance(source, VideoFileSource) or path is None:
        return ""
    path = Path(path).resolve()
    return path.name if path.parent == folder.resolve() else str(path)


def _seconds_since_midnight() -> float:
    now = datetime.datetime.now()
    return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6


def save_generated_take(session: Session, name: str, controls: np.ndarray, fps: float, description: str
                        ) -> TakeReport:
    """Keep controls made by the generator (a transition, variations) as take ``name`` of the session, so it is
    reviewed, retargeted and exported like any take.

    Parameters
    ----------
    session : Session
        The session.
    name : str
        The take's name (letters, digits, ``_ - + .``); it must not exist yet.
    controls : np.ndarray
        ``(T, K)`` in the session rig's control order, in [0, 1].
    fps : float
        Frame rate of the take.
    description : str
        What was generated (kept as the take's source).

    Raises
    ------
    SessionError
        The take exists, or the controls are not finite ``(T, K)`` values in [0, 1] of the session's rig.
    """
    folder = session.take_folder(name)
    if (folder / TAKE_FILE).exists():
        raise SessionError(f"take {name!r} exists already in {session.folder}; choose another name")
    bundle = RigBundle.load(session.rig_name)
    controls = np.asarray(controls, np.float32)
    names = bundle.definition.control_names
    if (controls.ndim != 2 or controls.shape[1] != len(names) or len(controls) < 1 or not np.isfinite(controls).all()
            or controls.min() < 0.0 or controls.max() > 1.0):
        raise SessionError(f"generated take {name!r}: controls must be finite values in [0, 1] of shape (T, {len(names)})")
    if not fps > 0:
        raise SessionError(f"generated take {name!r}: the frame rate must be positive, got {fps}")
    count = len(controls)
    curves = TakeCurves(names, np.arange(count) / float(fps), np.ones(count, bool), controls)
    stats = TakeStats(
        frames=count, frames_with_face=count, face_fraction=1.0, seconds=0.0, fps=0.0,
        take_seconds=float(curves.time_s[-1]), take_fps=float(fps), fit_residual_mm=float("nan"),
        jitter=jitter(controls), jitter_unfiltered=jitter(controls), sparsity=take_mean(sparsity(controls)),
        tweaker=take_mean(tweaker_usage(controls, bundle.definition.tweaker_indices())), neutral_frames=[0, 0], neutral_choice="generated",
    )  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    curves.write_csv(session.take_curves_path(name, GENERATED_RIG))
    report = TakeReport(name=name, source=description, frames=count, fps=float(fps), neutral_frames=(0, 0),
                        filter="none", rigs=(GENERATED_RIG,), stats={GENERATED_RIG: stats})
    write_json_atomic(folder / TAKE_FILE, report.to_json())
    return report
