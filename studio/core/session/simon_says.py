"""The guided Simon-Says capture (paper 001 Sec. 8, Fig. 3) as one long-running generator job.

:func:`simon_says_job` runs for as long as the performer works through the set. Per frame it reconstructs
the face (MediaPipe), removes head pose, solves the rig's controls once the neutral is captured, and yields
a :class:`PromptFrame` for the screen: the mirror image with landmarks, how still the face is held, a
**match meter** per face region (how close the live controls are to the prompted expression), and the
reference pose on the performer's own face. When the face has held still for ``hold_s`` after the prompt
settled -- and, for an expression, has left the neutral -- it records a burst, saves it into the session
(atomically, with quality flags), and moves on to the next expression not yet captured.

The GUI steers the job through :class:`SimonSaysCommands` (thread-safe: move to an expression, capture now,
retake, auto-capture on/off). A source with a ``perform(controls)`` method -- the render layer's prompted
synthetic performer -- is told each prompt's target controls, so the whole workflow runs with no camera.

Once the neutral is captured, the rig's identity modes are fitted to it (:func:`performer_identity`), so the
reference pose shows the prompted expression on a face like the performer's.

Units: landmarks in pixels (raw) or rig space centimetres (aligned); speeds mm/s; displacements mm.
"""

from __future__ import annotations

import math
import queue
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from studio.core.capture.burst import (
    DEFAULT_STILLNESS_MM_PER_S,
    NEUTRAL,
    BurstCapture,
    CaptureError,
    StillnessDetector,
    burst_from_frames,
)
from studio.core.capture.expression_sets import SimonSaysExpression, SimonSaysSet
from studio.core.capture.quality import QualityFlag, assess_burst
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import fit_identity_coefficients, sample_surface
from studio.core.session.calibrate import capture_yardsticks
from studio.core.session.folder import Session, SessionStatus
from studio.core.tracking.frame_sources import FrameSource
from studio.core.tracking.live import LatestFrameReader
from studio.core.tracking.reconstruction import FaceObservation, GeometryReconstructor
from studio.core.tracking.tracker import PerformerNeutral, Tracker

#: Phases of :attr:`PromptFrame.phase`.
PHASES = ("no_face", "settling", "holding", "capturing", "complete")
#: Identity modes fitted to the performer's neutral, and the ridge prior (cm² per point).
IDENTITY_MODES = 30
IDENTITY_PRIOR = 2e-3
#: Weight of the depth coordinate in the identity fit.
DEPTH_WEIGHT = 0.5


@dataclass(frozen=True)
class SimonSaysSettings:
    """How the guided capture decides to record.

    Attributes
    ----------
    burst_frames : int
        Frames recorded per capture once the face holds still.
    settle_s : float
        Seconds after a prompt appears before auto-capture may start (time to read and react).
    hold_s : float
        Seconds the face must hold still (the stillness window).
    stillness_mm_per_s : float
        Largest mean landmark speed that counts as still, mm/s.
    min_motion_mm : float
        An expression is auto-captured only once some landmark moved this far from the neutral, mm.
    auto_capture : bool
        Whether holding still records by itself (otherwise only :meth:`SimonSaysCommands.capture_now`).
    match_tolerance : float
        For a region that must keep still: the control value at which its match reaches 0 (see
        :func:`region_match`).
    """

    burst_frames: int = 30
    settle_s: float = 0.8
    hold_s: float = 0.5
    stillness_mm_per_s: float = DEFAULT_STILLNESS_MM_PER_S
    min_motion_mm: float = 1.5
    auto_capture: bool = True
    match_tolerance: float = 0.6


class SimonSaysCommands:
    """What the GUI asks of a running :func:`simon_says_job` (thread-safe; acted on at the next frame)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def go_to(self, name: str) -> None:
        """Prompt this expression next (a captured one is shown, not retaken, unless asked)."""
        self._queue.put(("go_to", str(name)))

    def step(self, offset: int) -> None:
        """Prompt the expression ``offset`` places after (negative: before) the current one."""
        self._queue.put(("step", int(offset)))

    def capture_now(self) -> None:
        """Record the current expression now (a retake when it is captured; the old one stays until the new
        one is saved)."""
        self._queue.put(("capture", None))

    def retake(self, name: str) -> None:
        """Prompt ``name`` and record it again when held (auto-capture re-armed for it)."""
        self._queue.put(("retake", str(name)))

    def set_auto_capture(self, enabled: bool) -> None:
        """Turn auto-capture on or off."""
        self._queue.put(("auto", bool(enabled)))

    def drain(self) -> list[tuple[str, Any]]:
        """The commands given since the last call, oldest first (called by the job)."""
        commands = []
        while True:
            try:
                commands.append(self._queue.get_nowait())
            except queue.Empty:
                return commands


@dataclass(frozen=True)
class PromptFrame:
    """What the guided capture shows for one frame.

    Attributes
    ----------
    expression : SimonSaysExpression
        The prompted expression.
    index, count : int
        Its position in the set and the set's size.
    phase : str
        One of :data:`PHASES`.
    hold : float
        How far along the hold-still is, in [0, 1] (1: recording).
    speed_mm_per_s : float
        The face's mean landmark speed over the stillness window, mm/s (NaN without a face).
    burst_done, burst_frames : int
        Burst frames recorded so far (while capturing) and per burst.
    match : dict of str to float
        Per face region the expression moves or must keep still, in [0, 1] (:func:`region_match`). Empty
        before the neutral is captured.
    controls : np.ndarray or None
        The live controls, shape ``(K,)``, once the neutral is captured and a face is found.
    motion_mm : float
        Largest landmark displacement from the performer's neutral, mm (NaN before it exists).
    image : np.ndarray or None
        The frame, RGB ``(H, W, 3)`` uint8.
    landmarks_px : np.ndarray
        MediaPipe landmarks, ``(478, 3)`` pixels; NaN without a face.
    status : SessionStatus
        The session's captured / missing / flagged expressions.
    armed : bool
        Whether auto-capture will record this expression when held (not for a captured one, unless
        retaken).
    saved : str or None
        The expression whose capture was saved at this frame.
    flags : tuple of dict
        The quality flags of ``saved`` (``code``, ``message``, ``severity``, ``controls``).
    message : str
        One line for the performer (a flag's advice, an error), empty when there is nothing to say.
    reference_vertices : np.ndarray or None
        The rig posed as the prompted expression on the performer's identity, ``(V, 3)`` cm; only when the
        prompt or the identity changed (``None`` otherwise: keep showing the last one).
    """

    expression: SimonSaysExpression
    index: int
    count: int
    phase: str
    hold: float
    speed_mm_per_s: float
    burst_done: int
    burst_frames: int
    match: dict[str, float]
    controls: np.ndarray | None
    motion_mm: float
    image: np.ndarray | None
    landmarks_px: np.ndarray
    status: SessionStatus
    armed: bool
    saved: str | None = None
    flags: tuple[dict, ...] = ()
    message: str = ""
    reference_vertices: np.ndarray | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------------------------------------
# Pieces
# ----------------------------------------------------------------------------------------------------------


def performer_identity(
    tracker: Tracker,
    aligned_neutral: np.ndarray,
    num_modes: int = IDENTITY_MODES,
    prior_weight: float = IDENTITY_PRIOR,
) -> np.ndarray:
    """The rig's identity coefficients that best explain the performer's neutral landmarks.

    Fits the leading identity modes, sampled at the landmark embedding, to the neutral's well-embedded
    landmarks with a ridge prior (:func:`studio.core.rig.rig.fit_identity_coefficients`), depth weighted by
    :data:`DEPTH_WEIGHT`: MediaPipe's depth is a guess.

    Parameters
    ----------
    tracker : Tracker
        Gives the rig, its landmark embedding and the anchor landmarks.
    aligned_neutral : np.ndarray
        The performer's neutral, head pose removed, ``(N, 3)``, rig space, cm.
    num_modes : int
        Identity modes fitted (the rest stay 0).
    prior_weight : float
        Ridge weight, cm² per point.

    Returns
    -------
    np.ndarray
        Shape ``(M,)``, float32, zeros beyond ``num_modes``.
    """
    rig = tracker.rig
    if rig.identity_deltas is None:
        raise ValueError(f"rig {rig.name} has no identity modes")
    neutral = np.asarray(aligned_neutral, np.float64)
    if neutral.shape != tracker.rig_points.shape or not np.isfinite(neutral).all():
        raise ValueError(f"aligned_neutral must be finite with shape {tracker.rig_points.shape}")
    modes = min(int(num_modes), rig.num_identity_modes)
    points = tracker.embedding.points
    tensors = rig.tensors()
    identity_points = sample_surface(
        torch.as_tensor(rig.identity_deltas[:modes], dtype=torch.float64),
        tensors.triangles,
        torch.as_tensor(points.triangle_ids),
        torch.as_tensor(points.barycentrics, dtype=torch.float64),
    )  # (M, N, 3)
    depth = torch.tensor([1.0, 1.0, DEPTH_WEIGHT], dtype=torch.float64)  # MediaPipe's depth is a guess
    weights = torch.as_tensor(np.asarray(tracker.embedding.spread_mm) < 2.0, dtype=torch.float64)
    coefficients = fit_identity_coefficients(
        torch.as_tensor(neutral[None]) * depth,
        torch.as_tensor(tracker.rig_points) * depth,
        identity_points * depth,
        prior_weight=prior_weight,
        weights=weights,
    )[0].numpy()
    full = np.zeros(rig.num_identity_modes, np.float32)
    full[:modes] = coefficients
    return full


def region_match(
    expression: SimonSaysExpression,
    controls: np.ndarray,
    control_names: tuple[str, ...],
    definition: RigDefinition,
    tolerance: float = 0.6,
) -> dict[str, float]:
    """How close live controls are to an expression, per face region, in [0, 1].

    Parameters
    ----------
    expression : SimonSaysExpression
        The target; its unlisted controls are 0.
    controls : np.ndarray
        Live controls, shape ``(K,)``, in ``control_names`` order.
    control_names : tuple of str
        The rig's controls, in the definition's order.
    definition : RigDefinition
        Regions of the controls.
    tolerance : float
        Control error that scores 0.

    Returns
    -------
    dict of str to float
        Per region, in [0, 1]. A region the expression moves scores its *reach*: the mean over its prompted
        controls of ``min(c / t, 1)`` (an under-responding rig still shows progress). A region it must keep
        still (a ``must_not_move`` region, or the region of a ``must_not_move`` control) scores
        ``1 − max |c| / tolerance`` over those controls. A region that is both takes the lower score. For
        the neutral every region is kept still. Gaze controls are left out (not part of an expression).
    """
    controls = np.asarray(controls, np.float64)
    index = {name: k for k, name in enumerate(control_names)}
    region_of = {name: definition.control(name).region for name in control_names}
    reach: dict[str, list[float]] = {}
    for name, target in expression.controls.items():
        if target > 0 and name in index:
            reach.setdefault(region_of[name], []).append(min(controls[index[name]] / target, 1.0))
    still: dict[str, list[str]] = {}
    keep = (
        sorted(set(region_of.values())) if expression.is_neutral else expression.must_not_move
    )
    for entry in keep:
        names = [entry] if entry in index else [n for n in control_names if region_of[n] == entry]
        for name in names:
            if name not in expression.controls and not name.startswith("eyeLook"):
                still.setdefault(region_of[name], []).append(name)
    match = {region: float(np.clip(np.mean(values), 0.0, 1.0)) for region, values in reach.items()}
    for region, names in still.items():
        error = float(np.max(np.abs(controls[[index[n] for n in names]])))
        score = float(np.clip(1.0 - error / tolerance, 0.0, 1.0))
        match[region] = min(score, match.get(region, 1.0))
    return match


# ----------------------------------------------------------------------------------------------------------
# The job
# ----------------------------------------------------------------------------------------------------------


class _Prompt:
    """Which expression is prompted, since when, and whether auto-capture records it."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.index = 0
        self.since_s = -math.inf
        self.armed = True
        self.changed = True

    def move(self, index: int, armed: bool) -> None:
        self.index = int(np.clip(index, 0, len(self.names) - 1))
        self.armed = armed
        self.changed = True
        self.since_s = -math.inf  # set from the next frame's time

    @property
    def name(self) -> str:
        return self.names[self.index]


@dataclass
class _Seen:
    """One frame as the guided capture sees it: the face, head pose removed, and how it compares."""

    observation: FaceObservation
    aligned: np.ndarray  # (N, 3) rig space, cm; NaN without a face
    still: bool
    controls: np.ndarray | None = None
    match: dict[str, float] = field(default_factory=dict)
    motion_mm: float = math.nan


@dataclass
class _Saved:
    """What the frame that completed a burst tells the performer."""

    name: str | None = None
    flags: tuple[dict, ...] = ()
    message: str = ""


class _GuidedCapture:
    """The state of one guided capture and its steps (:func:`simon_says_job` drives it frame by frame).

    The performer's neutral is an explicit value: loaded from the session's neutral capture when there is
    one, replaced when the neutral is (re)captured, handed to every alignment and solve.
    """

    def __init__(
        self,
        session: Session,
        expression_set: SimonSaysSet,
        definition: RigDefinition,
        tracker: Tracker,
        settings: SimonSaysSettings,
        start_at: str | None,
        fps: float,
    ) -> None:
        self.session = session
        self.definition = definition
        self.tracker = tracker
        self.settings = settings
        self.names = session.expression_names
        self.expressions = {name: expression_set.expression(name) for name in self.names}
        self.targets = {
            name: expression.control_vector(tracker.control_names) for name, expression in self.expressions.items()
        }
        self.expression_set = expression_set  # for the captures' yardsticks (what MediaPipe makes of each)
        # each capture's averaged face, read once: a capture is judged among the others without rereading them
        self.faces = {name: capture.averaged for name in self.names if name != NEUTRAL
                      and (capture := session.capture(name)) is not None}
        self.prompt = _Prompt(self.names)
        status = session.status()
        first = start_at if start_at is not None else (status.missing[0] if status.missing else self.names[-1])
        self.prompt.move(self.names.index(first), armed=not session.is_captured(first))
        self.auto = settings.auto_capture
        self.detector = StillnessDetector(fps, settings.hold_s, settings.stillness_mm_per_s)
        self.neutral: PerformerNeutral | None = None
        self.performer_rig = tracker.rig
        captured_neutral = session.capture(NEUTRAL)
        if captured_neutral is not None:
            self._use_neutral(captured_neutral.averaged)
        self.burst: list[tuple[FaceObservation, np.ndarray, np.ndarray]] | None = None
        self.still_speed = math.nan

    # -- the performer's neutral and face ---------------------------------------------------------------

    def _use_neutral(self, averaged: np.ndarray) -> None:
        """Make ``averaged`` (a neutral capture's face) the performer's neutral, and fit their identity."""
        self.neutral = self.tracker.performer_neutral(averaged)
        self.performer_rig = self.tracker.rig.with_identity(performer_identity(self.tracker, averaged))

    # -- commands and prompts ---------------------------------------------------------------------------

    def apply(self, commands: list[tuple[str, Any]]) -> None:
        """Act on the GUI's commands (:class:`SimonSaysCommands`), oldest first."""
        names, prompt = self.names, self.prompt
        for command, value in commands:
            if command == "go_to" and value in names:
                prompt.move(names.index(value), armed=not self.session.is_captured(value))
            elif command == "step":
                target = int(np.clip(prompt.index + value, 0, len(names) - 1))
                prompt.move(target, armed=not self.session.is_captured(names[target]))
            elif command == "retake" and value in names:
                prompt.move(names.index(value), armed=True)
            elif command == "capture":
                self.burst, self.still_speed = [], self.detector.speed_mm_per_s
            elif command == "auto":
                self.auto = bool(value)
            if command in ("go_to", "step", "retake"):
                self.burst = None

    def prompted(self, perform: Any) -> np.ndarray | None:
        """When the prompt changed: restart the hold-still, tell a prompted performer, and pose the reference
        (the prompted expression on the performer's face, ``(V, 3)`` cm); ``None`` when nothing changed."""
        if not self.prompt.changed:
            return None
        self.prompt.changed = False
        self.detector.reset()
        if callable(perform):
            perform(self.targets[self.prompt.name])
        return self.performer_rig.evaluate(self.targets[self.prompt.name])

    # -- a frame --------------------------------------------------------------------------------------------

    def see(self, observation: FaceObservation, time_s: float) -> _Seen:
        """Remove head pose, update the hold-still, and (once the neutral exists) solve and compare."""
        face = observation.face_found
        aligned = (
            self.tracker.align(observation.landmarks[None], self.neutral)[0]
            if face else np.full((len(observation.landmarks), 3), np.nan)
        )
        seen = _Seen(observation, aligned, self.detector.update(time_s, aligned))
        if face and self.neutral is not None:
            tracked = self.tracker.solve(aligned[None], self.neutral)
            seen.controls = np.clip(tracked.controls[0], 0.0, 1.0)
            seen.match = region_match(
                self.expressions[self.prompt.name], seen.controls, self.tracker.control_names, self.definition,
                self.settings.match_tolerance,
            )
            seen.motion_mm = 10.0 * float(
                np.max(np.linalg.norm(tracked.pose_corrected[0] - self.neutral.points, axis=1))
            )
        return seen

    def settled(self, time_s: float) -> bool:
        """Whether the prompt has been up long enough to read and react to."""
        return time_s - self.prompt.since_s >= self.settings.settle_s

    def maybe_start_burst(self, seen: _Seen, settled: bool) -> None:
        """Start recording when auto-capture is on, the expression is armed, the prompt settled, the face holds
        still and (for an expression) has left the neutral."""
        moved = self.prompt.name == NEUTRAL or seen.motion_mm >= self.settings.min_motion_mm
        if self.burst is None and self.auto and self.prompt.armed and settled and seen.still and moved:
            self.burst, self.still_speed = [], self.detector.speed_mm_per_s

    def record(self, seen: _Seen, image: np.ndarray) -> _Saved:
        """Add a frame to the burst; once it is full, average, judge and save it and prompt the next one."""
        if self.burst is None:
            return _Saved()
        self.burst.append((seen.observation, seen.aligned, image))
        if len(self.burst) < self.settings.burst_frames:
            return _Saved()
        burst, self.burst = self.burst, None
        name = self.prompt.name
        try:
            capture = self._averaged(name, burst)
        except CaptureError as error:
            return _Saved(message=f"{error}; try again")
        quality = self._judged(name, capture)
        self.session.save_capture(name, capture, quality)
        flags = tuple(
            {"code": f.code, "message": f.message, "severity": f.severity, "controls": list(f.controls)}
            for f in quality
        )
        self._advance()
        return _Saved(name, flags, " ".join(f["message"] for f in flags))

    def _averaged(self, name: str, burst: list[tuple[FaceObservation, np.ndarray, np.ndarray]]) -> BurstCapture:
        """The burst as one capture. A retaken neutral is aligned onto the rig's neutral like the first one
        (not onto the old neutral it replaces)."""
        aligned_to = "rig_neutral" if self.neutral is None else "performer_neutral"
        aligned_frames = [b[1] for b in burst]
        if name == NEUTRAL and self.neutral is not None:
            aligned_to = "rig_neutral"
            aligned_frames = [
                self.tracker.align(b[0].landmarks[None])[0] if b[0].face_found else b[1] for b in burst
            ]
        return burst_from_frames(
            [b[0] for b in burst], aligned_frames, [b[2] for b in burst], self.still_speed, aligned_to,
            source_name=name,
        )

    def _judged(self, name: str, capture: BurstCapture) -> list[QualityFlag]:
        """The capture's quality flags; a new neutral becomes the performer's neutral (no flags of its own)."""
        if name == NEUTRAL:
            self._use_neutral(capture.averaged)
            return []
        self.faces[name] = capture.averaged
        yardstick = capture_yardsticks(self.session, self.tracker, self.neutral, self.expression_set,
                                       self.faces).get(name)
        return assess_burst(self.expressions[name], capture, self.tracker, self.neutral, self.definition,
                            yardstick)[1]

    def _advance(self) -> None:
        """Prompt the next expression still missing (after this one, else from the start), or disarm."""
        missing = self.session.status().missing
        after = [n for n in self.names[self.prompt.index + 1:] if n in missing] or list(missing)
        if after:
            self.prompt.move(self.names.index(after[0]), armed=True)
        else:
            self.prompt.armed = False

    def phase(self, face: bool, settled: bool, status: SessionStatus) -> str:
        """One of :data:`PHASES` for the frame just seen."""
        if self.burst is not None:
            return "capturing"
        if not face:
            return "no_face"
        if status.complete and not self.prompt.armed:
            return "complete"
        return "holding" if settled else "settling"


def simon_says_job(
    session: Session,
    source: FrameSource,
    expression_set: SimonSaysSet,
    definition: RigDefinition,
    tracker: Tracker,
    reconstructor: GeometryReconstructor,
    commands: SimonSaysCommands | None = None,
    settings: SimonSaysSettings | None = None,
    cancel: Cancel = None,
    start_at: str | None = None,
    realtime: bool = True,
) -> Generator[PromptFrame, None, SessionStatus]:
    """Guide a performer through a Simon-Says set and record each expression into ``session``.

    Parameters
    ----------
    session : Session
        Captures are saved into it as each finishes (replacing an earlier one only once the new one is
        complete).
    source : FrameSource
        The camera (or a video, or a prompted synthetic performer: anything with ``perform(controls)`` is
        told each prompt's ``(K,)`` target controls). Read in a thread of its own
        (:class:`~studio.core.tracking.live.LatestFrameReader`); not closed.
    expression_set : SimonSaysSet
        Cues and targets; the session's expressions are prompted in session order.
    definition : RigDefinition
        Regions and roles of the rig's controls (match meter, quality flags).
    tracker : Tracker
        Head-pose removal and the solve; its performer neutral is set from the session's neutral capture.
    reconstructor : GeometryReconstructor
        MediaPipe (``"video"`` running mode), not closed here.
    commands : SimonSaysCommands, optional
        The GUI's requests.
    settings : SimonSaysSettings, optional
        Defaults as documented there.
    cancel : callable, object with ``is_set()``, or None
        Checked before each frame; captures saved so far stay.
    start_at : str, optional
        The first expression prompted; by default the first one not captured (neutral first).
    realtime : bool
        As in :class:`~studio.core.tracking.live.LatestFrameReader`: ``True`` takes the newest frame (a
        camera), ``False`` every frame as fast as the job goes (a video or synthetic performer, faster
        than real time).

    Yields
    ------
    PromptFrame
        One per processed frame.

    Returns
    -------
    SessionStatus
        When the source ends.

    Raises
    ------
    JobCancelled
        ``cancel`` was set; ``partial`` is the session's status.
    """
    settings = settings or SimonSaysSettings()
    commands = commands or SimonSaysCommands()
    capture = _GuidedCapture(session, expression_set, definition, tracker, settings, start_at, source.fps or 30.0)
    perform = getattr(source, "perform", None)
    reference: np.ndarray | None = None
    reader = LatestFrameReader(source, realtime=realtime, name="simon-says-reader").start()
    try:
        while True:
            if is_cancelled(cancel):
                raise JobCancelled("Simon-Says capture stopped", session.status())
            capture.apply(commands.drain())
            posed = capture.prompted(perform)
            reference = posed if posed is not None else reference  # shown with the next frame
            frame = reader.take(timeout_s=0.05)
            if frame is None:
                if reader.finished:
                    return session.status()
                continue
            prompt = capture.prompt
            if prompt.since_s == -math.inf:
                prompt.since_s = frame.time_s
            seen = capture.see(reconstructor.observe(frame), frame.time_s)
            settled = capture.settled(frame.time_s)
            capture.maybe_start_burst(seen, settled)
            saved = capture.record(seen, frame.image)
            status = session.status()
            face = seen.observation.face_found
            yield PromptFrame(
                expression=capture.expressions[prompt.name],
                index=prompt.index,
                count=len(capture.names),
                phase=capture.phase(face, settled, status),
                hold=1.0 if capture.burst is not None else capture.detector.held_fraction,
                speed_mm_per_s=capture.detector.speed_mm_per_s if face else math.nan,
                burst_done=0 if capture.burst is None else len(capture.burst),
                burst_frames=settings.burst_frames,
                match=seen.match,
                controls=seen.controls,
                motion_mm=seen.motion_mm,
                image=frame.image,
                landmarks_px=seen.observation.landmarks,
                status=status,
                armed=prompt.armed,
                saved=saved.name,
                flags=saved.flags,
                message=saved.message,
                reference_vertices=reference,
            )
            reference = None
    finally:
        reader.stop()
