"""A synthetic performer: a rig rendered offscreen along control curves, with its ground truth.

:class:`SyntheticPerformerSource` is a :class:`~studio.core.tracking.frame_sources.FrameSource` whose frames are
offscreen renders of a rig (EGL, no display needed) posed by control curves ``(T, K)``, an identity and a
gentle head motion; every frame carries the rendered controls and rig state as ground truth, and the source
has a voice (:class:`PerformerVoice`: a hum as loud as the jaw is open) for takes recorded with sound.

:class:`PromptedPerformerSource` follows Simon-Says prompts instead. Users name either as a source
(``synthetic[:SEED]``, ``prompted[:SEED]``): :func:`studio.render.sources.open_source`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from studio.core.rig.rig import Rig
from studio.core.rig.state import RigState
from studio.core.tracking.frame_sources import AudioSource, Frame, FrameSource
from studio.render.face_scene import Camera, DecimatedSkin
from studio.render.offscreen import OffscreenRenderer

#: Camera for tracking renders: at 640×480 MediaPipe's face mesh spans ~56 % of the image height
#: (the default :class:`Camera` at 70 cm frames the whole head, ~46 %).
TRACKING_CAMERA = Camera(fov_deg=30.0, distance_cm=58.0, target=(0.0, 0.5, 6.0))

def head_motion_curves(
    num_frames: int,
    fps: float = 30.0,
    seed: int = 0,
    rotation_deg: tuple[float, float, float] = (4.0, 3.0, 2.0),
    translation_cm: tuple[float, float, float] = (0.5, 0.4, 0.5),
) -> tuple[np.ndarray, np.ndarray]:
    """A gentle, smooth head motion: per axis, the sum of two slow sinusoids with random phases.

    Parameters
    ----------
    num_frames : int
        ``T``, number of frames.
    fps : float
        Frames per second.
    seed : int
        Seed of the frequencies (0.05–0.3 Hz) and phases.
    rotation_deg : tuple of float
        Peak yaw, pitch and roll, degrees.
    translation_cm : tuple of float
        Peak translation along x, y, z, centimetres.

    Returns
    -------
    rotation : np.ndarray
        Yaw, pitch, roll per frame, shape ``(T, 3)``, float64, degrees, within ``±rotation_deg``.
    translation : np.ndarray
        Translation per frame, shape ``(T, 3)``, float64, centimetres, within ``±translation_cm``.
    """
    rng = np.random.default_rng([int(seed), 0x4EAD])
    t = np.arange(int(num_frames)) / float(fps)
    amplitude = np.asarray((*rotation_deg, *translation_cm), np.float64)
    frequency = rng.uniform(0.05, 0.3, size=(6, 2))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(6, 2))
    weights = np.array([0.65, 0.35])  # the two sinusoids together peak at most at the amplitude
    waves = np.sin(2.0 * np.pi * frequency[None] * t[:, None, None] + phase[None]) @ weights
    motion = waves * amplitude
    return motion[:, :3], motion[:, 3:]


#: Samples per second of a synthetic performer's voice.
VOICE_RATE = 16000
#: The voice's pitch and its two overtones, Hz, with their loudness at a fully open mouth.
VOICE_PARTIALS = ((180.0, 0.35), (360.0, 0.15), (540.0, 0.08))


class PerformerVoice(AudioSource):
    """A synthetic performer's voice: a hum whose loudness follows how far the mouth is open, so sound and
    picture can be checked for sync (loud exactly where the jaw opens).

    Parameters
    ----------
    mouth_open : np.ndarray
        How open the mouth is per frame, shape ``(T,)``, in [0, 1] (the ``jawOpen`` curve).
    fps : float
        Frames per second: frame ``t`` is at ``t / fps`` seconds.
    rate : int
        Samples per second.
    """

    channels = 1

    def __init__(self, mouth_open: np.ndarray, fps: float, rate: int = VOICE_RATE) -> None:
        self.mouth_open = np.clip(np.asarray(mouth_open, np.float64), 0.0, 1.0)
        self.fps = float(fps)
        self.rate = int(rate)

    def samples(self, start_s: float, stop_s: float) -> np.ndarray:
        first, last = int(round(start_s * self.rate)), int(round(stop_s * self.rate))
        t = np.arange(first, max(last, first)) / self.rate
        loudness = np.interp(t * self.fps, np.arange(len(self.mouth_open)), self.mouth_open, right=0.0)
        hum = sum(level * np.sin(2.0 * np.pi * pitch * t) for pitch, level in VOICE_PARTIALS)
        return (loudness * hum).astype(np.float32)[:, None]


class SyntheticPerformerSource(FrameSource):
    """Frames rendered from a rig along control curves, with ground truth.

    Parameters
    ----------
    rig : Rig
        The rig to perform (its own neutral is used unless ``identity`` is given).
    curves : np.ndarray
        Expression controls per frame, shape ``(T, K)`` with ``K = rig.num_controls``, in [0, 1].
    fps : float
        Frames per second; frame ``t`` is at ``t / fps`` seconds.
    identity : np.ndarray, optional
        Identity coefficients, shape ``(M,)`` (see :meth:`RigState.vertices`); ``None`` keeps the rig's own.
    head_motion : bool
        Whether the head moves gently (:func:`head_motion_curves`); otherwise it faces the camera.
    size : tuple of int
        Image ``(width, height)`` in pixels.
    camera : Camera, optional
        Camera in rig space; by default :data:`TRACKING_CAMERA`.
    seed : int
        Seed of the head motion.
    skin : DecimatedSkin, optional
        Render this lighter mesh (the live view's, where the performer is rendered beside tracking on the
        same cores) instead of the full one; the benchmarks render the full rig.

    Notes
    -----
    Each iteration opens an :class:`~studio.render.offscreen.OffscreenRenderer` in the iterating thread
    (GL contexts belong to one thread) and closes it when the iteration ends. Frames are deterministic:
    the same arguments give the same images and truth.
    """

    def __init__(
        self,
        rig: Rig,
        curves: np.ndarray,
        fps: float = 30.0,
        identity: np.ndarray | None = None,
        head_motion: bool = True,
        size: tuple[int, int] = (640, 480),
        camera: Camera | None = None,
        seed: int = 0,
        skin: DecimatedSkin | None = None,
    ) -> None:
        curves = np.asarray(curves, np.float32)
        if curves.ndim != 2 or curves.shape[1] != rig.num_controls:
            raise ValueError(f"curves must have shape (T, {rig.num_controls}), got {curves.shape}")
        if not np.isfinite(curves).all():
            raise ValueError("curves must be finite")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.identity = np.zeros(0, np.float32) if identity is None else np.asarray(identity, np.float32)
        if self.identity.size and self.identity.shape != (rig.num_identity_modes,):
            raise ValueError(
                f"identity must have shape ({rig.num_identity_modes},), got {self.identity.shape}"
            )
        self.rig = rig
        self.curves = curves
        self.fps = float(fps)
        self.num_frames = int(curves.shape[0])
        self.size = (int(size[0]), int(size[1]))
        self.camera = camera if camera is not None else TRACKING_CAMERA
        self.seed = int(seed)
        self.skin = skin
        self.head_motion = bool(head_motion)
        self.name = f"synthetic:{self.seed}"
        if self.head_motion:
            self.head_rotation_deg, self.head_translation_cm = head_motion_curves(
                self.num_frames, self.fps, self.seed
            )
        else:
            self.head_rotation_deg = np.zeros((self.num_frames, 3))
            self.head_translation_cm = np.zeros((self.num_frames, 3))
        self._renderer = None
        jaw = rig.expression_names.index("jawOpen") if "jawOpen" in rig.expression_names else None
        self.audio = PerformerVoice(self.curves[:, jaw] if jaw is not None else np.zeros(self.num_frames), self.fps)

    def truth_state(self, index: int) -> RigState:
        """The rig state rendered for frame ``index`` (controls, identity, head pose); no rendering."""
        return RigState(
            controls=self.curves[index].copy(),
            identity=self.identity,
            head_rotation_deg=self.head_rotation_deg[index].copy(),
            head_translation_cm=self.head_translation_cm[index].copy(),
        )

    def __iter__(self) -> Iterator[Frame]:
        renderer = OffscreenRenderer(self.rig, size=self.size, camera=self.camera, skin=self.skin)
        self._renderer = renderer
        try:
            for index in range(self.num_frames):
                state = self.truth_state(index)
                image = renderer.render(state)
                yield Frame(
                    index=index,
                    time_s=index / self.fps,
                    image=image,
                    truth_controls=state.controls,
                    truth_state=state,
                )
        finally:
            renderer.close()
            self._renderer = None

    def close(self) -> None:
        """Close the renderer of an unfinished iteration (call from the iterating thread; idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class PromptedPerformerSource(FrameSource):
    """A synthetic performer who follows Simon-Says prompts: the camera of the demo session.

    :meth:`perform` (thread-safe) gives the expression to make; after ``reaction_s`` the face eases into it
    over ``ease_s`` and holds it, with gentle head motion, until the next prompt. Frames are rendered
    offscreen as in :class:`SyntheticPerformerSource`, and the stream runs until :meth:`close` (or for
    ``max_seconds``).

    Parameters
    ----------
    rig : Rig
        The performer's rig (θ_GT applied, its identity as its neutral).
    fps : float
        Frames per second of source time.
    seed : int
        Seed of the head motion.
    size : tuple of int
        Image ``(width, height)``, pixels.
    reaction_s, ease_s : float
        Seconds before the face starts to move after a prompt, and seconds it takes to get there.
    max_seconds : float
        Length of the stream, seconds of source time.
    head_motion : bool
        Whether the head moves gently.
    """

    def __init__(
        self,
        rig: Rig,
        fps: float = 30.0,
        seed: int = 0,
        size: tuple[int, int] = (640, 480),
        reaction_s: float = 0.3,
        ease_s: float = 0.4,
        max_seconds: float = 1800.0,
        head_motion: bool = True,
    ) -> None:
        if fps <= 0 or ease_s <= 0 or reaction_s < 0 or max_seconds <= 0:
            raise ValueError("fps, ease_s and max_seconds must be positive, reaction_s not negative")
        self.rig = rig
        self.fps = float(fps)
        self.seed = int(seed)
        self.size = (int(size[0]), int(size[1]))
        self.reaction_s = float(reaction_s)
        self.ease_s = float(ease_s)
        self.num_frames = int(round(max_seconds * self.fps))
        self.name = f"prompted-synthetic:{self.seed}"
        period = int(round(60.0 * self.fps))  # a minute of head motion, repeated
        if head_motion:
            self._rotation, self._translation = head_motion_curves(period, self.fps, self.seed)
        else:
            self._rotation = self._translation = np.zeros((period, 3))
        self._lock = threading.Lock()
        zeros = np.zeros(rig.num_controls, np.float32)
        self._from, self._to, self._prompted_at = zeros, zeros, 0.0
        self._time_s = 0.0
        self._renderer = None

    def perform(self, controls: np.ndarray) -> None:
        """Make this expression next: controls ``(K,)`` in [0, 1] (thread-safe)."""
        controls = np.asarray(controls, np.float32)
        if controls.shape != (self.rig.num_controls,) or not np.isfinite(controls).all():
            raise ValueError(f"controls must be finite with shape ({self.rig.num_controls},)")
        with self._lock:
            self._from = self._controls_at(self._time_s)
            self._to = controls.copy()
            self._prompted_at = self._time_s

    def _controls_at(self, time_s: float) -> np.ndarray:
        ramp = float(np.clip((time_s - self._prompted_at - self.reaction_s) / self.ease_s, 0.0, 1.0))
        ramp = ramp * ramp * (3.0 - 2.0 * ramp)
        return ((1.0 - ramp) * self._from + ramp * self._to).astype(np.float32)

    def __iter__(self) -> Iterator[Frame]:
        renderer = OffscreenRenderer(self.rig, size=self.size, camera=TRACKING_CAMERA)
        self._renderer = renderer
        try:
            for index in range(self.num_frames):
                time_s = index / self.fps
                with self._lock:
                    self._time_s = time_s
                    controls = self._controls_at(time_s)
                wrapped = index % len(self._rotation)
                state = RigState(
                    controls=controls,
                    head_rotation_deg=self._rotation[wrapped].copy(),
                    head_translation_cm=self._translation[wrapped].copy(),
                )
                yield Frame(
                    index=index, time_s=time_s, image=renderer.render(state),
                    truth_controls=controls, truth_state=state,
                )
        finally:
            renderer.close()
            self._renderer = None

    def close(self) -> None:
        """Close the renderer of an unfinished iteration (call from the iterating thread; idempotent)."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
