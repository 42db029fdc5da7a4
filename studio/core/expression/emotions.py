"""The seven emotions of paper 000 written in a rig's controls, and synthetic expressions made from them.

An emotion's *prototype* is a set of FACS action units with intensities (EMFACS-style; the combinations and
their sources are in ``studio/resources/expressions/emotions.json``). The rig definition says which controls
carry each action unit (``facs`` of each control), so a prototype becomes a control vector of any rig with a
definition; action units the rig has no shape for are written as their nearest shape (the file's
``aliases``, each with its reason).

Synthetic expressions (:class:`ExpressionSampler`) vary what a person does with an emotion: its intensity,
each action unit's share and its left/right balance, optional units of the emotion's variants, a person's
own gain per control and resting tone, speech visemes on the mouth at the same time (co-articulation),
blinks and glances, and tracking noise. They train and test the emotion classifier
(:mod:`studio.core.expression.classifier`) and the generator; :func:`emotion_take_curves` strings them
into takes (held emotions with eased transitions and speech).

Shapes: ``K`` controls, ``N`` samples, ``T`` frames, ``E = 7`` emotions. Controls in [0, 1].
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from studio.core.errors import StudioError
from studio.core.io.resources import RESOURCES_DIR
from studio.core.rig.definition import RigDefinition

__all__ = [
    "EMOTIONS",
    "EMOTIONS_FILE",
    "EmotionPrototypes",
    "ExpressionSampler",
    "PersonStyle",
    "emotion_take_curves",
]

EMOTIONS: tuple[str, ...] = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
"""The seven classes of paper 000, in the order of every probability vector (``E = 7``)."""

EMOTIONS_FILE = RESOURCES_DIR / "expressions" / "emotions.json"
"""The prototypes, aliases, visemes and their sources."""

#: Controls of glances (a distractor) and blinks, by name prefix.
_GAZE_PREFIX = "eyeLook"
_BLINK_PREFIX = "eyeBlink"


class EmotionError(StudioError):
    """The emotions file cannot be used with a rig (an action unit no control carries, a wrong file)."""


@dataclass(frozen=True)
class EmotionPrototypes:
    """The emotions' action units as control vectors of one rig.

    Attributes
    ----------
    control_names : tuple of str
        The rig's ``K`` controls.
    required : np.ndarray
        Per emotion, the control vector of its required action units at full intensity, shape ``(E, K)``.
    optional : np.ndarray
        Per emotion, the control vector of its optional action units (variants), shape ``(E, K)``.
    visemes : dict of str to np.ndarray
        Speech visemes, each a control vector ``(K,)``.
    sources : dict of str to str
        Per emotion, the FACS combination and where it comes from.
    """

    control_names: tuple[str, ...]
    required: np.ndarray
    optional: np.ndarray
    visemes: dict[str, np.ndarray]
    sources: dict[str, str]

    @classmethod
    def for_rig(cls, definition: RigDefinition, path=EMOTIONS_FILE) -> EmotionPrototypes:
        """Write the packaged prototypes in ``definition``'s controls.

        Raises
        ------
        EmotionError
            The file is unreadable, or an action unit of a prototype has no control (nor alias) in the rig.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            aliases: Mapping[str, Mapping] = data["aliases"]
            emotions: Mapping[str, Mapping] = data["emotions"]
            visemes: Mapping[str, Mapping[str, float]] = data["visemes"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise EmotionError(f"{path}: unreadable emotions file ({type(error).__name__})") from None
        names = definition.control_names
        carriers: dict[str, list[int]] = {}
        for k, control in enumerate(definition.controls):
            for unit in control.facs:
                carriers.setdefault(unit, []).append(k)

        def units_vector(units: Mapping[str, float], emotion: str) -> np.ndarray:
            vector = np.zeros(len(names), np.float32)
            for unit, weight in units.items():
                scale = 1.0
                if unit not in carriers and unit in aliases:
                    scale, unit = float(aliases[unit]["scale"]), str(aliases[unit]["as"])
                if unit not in carriers:
                    raise EmotionError(f"{path}: {emotion} needs {unit}, which no control of {definition.name} carries")
                vector[carriers[unit]] = np.maximum(vector[carriers[unit]], scale * float(weight))
            return vector

        missing = set(EMOTIONS) - set(emotions)
        if missing:
            raise EmotionError(f"{path}: no prototype for {', '.join(sorted(missing))}")
        required = np.stack([units_vector(emotions[e]["required"], e) for e in EMOTIONS])
        optional = np.stack([units_vector(emotions[e]["optional"], e) for e in EMOTIONS])
        index = {name: k for k, name in enumerate(names)}
        viseme_vectors = {}
        for viseme, controls in visemes.items():
            vector = np.zeros(len(names), np.float32)
            for name, value in controls.items():
                if name in index:  # a rig without the control shows the viseme without it
                    vector[index[name]] = float(value)
            viseme_vectors[viseme] = vector
        sources = {e: str(emotions[e].get("source", "")) for e in EMOTIONS}
        return cls(tuple(names), required, optional, viseme_vectors, sources)

    def prototype(self, emotion: str, intensity: float = 1.0) -> np.ndarray:
        """The emotion's required action units at ``intensity``, shape ``(K,)``, clipped to [0, 1]."""
        return np.clip(self.required[EMOTIONS.index(emotion)] * intensity, 0.0, 1.0)


@dataclass(frozen=True)
class PersonStyle:
    """How one synthetic person makes expressions: a gain per control (some move more, some less) and a
    resting tone (controls slightly active at rest), both shape ``(K,)``."""

    gain: np.ndarray
    rest: np.ndarray

    @classmethod
    def random(cls, num_controls: int, rng: np.random.Generator) -> PersonStyle:
        gain = np.exp(rng.normal(0.0, 0.2, num_controls)).astype(np.float32)
        rest = np.abs(rng.normal(0.0, 0.025, num_controls)).astype(np.float32)
        return cls(gain, rest)


class ExpressionSampler:
    """Synthetic expressions of the seven emotions as a range of persons make them.

    Parameters
    ----------
    prototypes : EmotionPrototypes
        The emotions in the rig's controls.
    persons : int
        How many persons (each a :class:`PersonStyle`); samples are spread over them.
    seed : int
        Seed of the persons and of every sample (held-out sets use other seeds: other persons).
    intensity : tuple of float
        ``(lowest, highest)`` intensity of an emotion (the neutral has none).
    noise : float
        Standard deviation of the tracking noise added to every control.
    distractors : bool
        Whether speech, blinks, glances and a neutral face's stray activations are added (for recognition);
        without them the samples are the emotions alone, as a person would pose them (for generation).
    """

    def __init__(self, prototypes: EmotionPrototypes, persons: int = 64, seed: int = 0,
                 intensity: tuple[float, float] = (0.3, 1.0), noise: float = 0.02, distractors: bool = True) -> None:
        self.prototypes = prototypes
        self.rng = np.random.default_rng(seed)
        k = len(prototypes.control_names)
        self.styles = [PersonStyle.random(k, self.rng) for _ in range(max(1, persons))]
        self.intensity = intensity
        self.noise = float(noise)
        self.distractors = bool(distractors)
        names = prototypes.control_names
        self._gaze = np.array([n.startswith(_GAZE_PREFIX) for n in names])
        self._blink = np.array([n.startswith(_BLINK_PREFIX) for n in names])
        self._mirror = _mirror_sides(names)
        self._visemes = np.stack(list(prototypes.visemes.values())) if prototypes.visemes else np.zeros((0, k))

    def sample(self, count: int, emotions: Sequence[int] | None = None,
               intensities: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``count`` synthetic expressions.

        Parameters
        ----------
        count : int
            ``N``.
        emotions : sequence of int, optional
            The emotion of each sample (indices into :data:`EMOTIONS`), length ``N``; by default balanced.
        intensities : np.ndarray, optional
            The intensity of each sample, shape ``(N,)``; by default uniform in ``intensity``.

        Returns
        -------
        controls : np.ndarray
            Shape ``(N, K)``, float32 in [0, 1].
        labels : np.ndarray
            Emotion index per sample, shape ``(N,)``, int64.
        intensity : np.ndarray
            Shape ``(N,)``; 0 for the neutral.
        """
        rng = self.rng
        labels = (np.arange(count) % len(EMOTIONS) if emotions is None else np.asarray(emotions)).astype(np.int64)
        level = (rng.uniform(*self.intensity, count) if intensities is None
                 else np.asarray(intensities, np.float64)).astype(np.float32)
        level = np.where(labels == 0, 0.0, level).astype(np.float32)
        required = self.prototypes.required[labels]
        optional = self.prototypes.optional[labels] * (rng.random((count, 1)) < 0.5)
        share = rng.uniform(0.7, 1.25, required.shape).astype(np.float32)  # each unit's own strength
        balance = 1.0 + rng.uniform(-0.2, 0.2, required.shape).astype(np.float32) * self._mirror  # L/R
        expression = (required + optional) * share * balance * level[:, None]
        person = rng.integers(0, len(self.styles), count)
        gain = np.stack([self.styles[p].gain for p in person])
        rest = np.stack([self.styles[p].rest for p in person])
        controls = expression * gain + rest
        if self.distractors:
            # a neutral face still moves a little: a few controls slightly active
            quiet = rng.random(controls.shape) < 0.08
            controls += np.where(quiet & (labels == 0)[:, None], rng.uniform(0.0, 0.15, controls.shape), 0.0)
            controls = self._distract(controls, rng)
        if self.noise:
            controls += rng.normal(0.0, self.noise, controls.shape)
        return np.clip(controls, 0.0, 1.0).astype(np.float32), labels, level

    def _distract(self, controls: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Speech on the mouth (half the samples), blinks (15 %) and glances (30 %)."""
        count = len(controls)
        if len(self._visemes):
            speaking = rng.random(count) < 0.5
            which = rng.integers(0, len(self._visemes), count)
            amount = rng.uniform(0.4, 1.2, count)[:, None] * speaking[:, None]
            controls = controls + self._visemes[which] * amount
        blink = (rng.random(count) < 0.15)[:, None] & self._blink[None]
        controls = np.where(blink, np.maximum(controls, rng.uniform(0.6, 1.0, (count, 1))), controls)
        glance = rng.random(count) < 0.3
        if self._gaze.any():
            gaze_values = rng.uniform(0.0, 0.6, (count, int(self._gaze.sum()))) * (rng.random((count, 1)) < 0.5)
            controls[:, self._gaze] = np.where(glance[:, None], gaze_values, controls[:, self._gaze])
        return controls


def _mirror_sides(names: Sequence[str]) -> np.ndarray:
    """+1 for left controls, −1 for right ones, 0 otherwise, shape ``(K,)``."""
    return np.array([1.0 if n.endswith("_L") else -1.0 if n.endswith("_R") else 0.0 for n in names], np.float32)


def emotion_take_curves(
    prototypes: EmotionPrototypes,
    num_frames: int,
    fps: float = 30.0,
    seed: int = 0,
    hold_s: tuple[float, float] = (1.2, 2.4),
    transition_s: float = 0.4,
    speech: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic take: emotions held in turn, eased from one to the next, with speech and blinks.

    Parameters
    ----------
    prototypes : EmotionPrototypes
        The emotions in the rig's controls.
    num_frames : int
        ``T``.
    fps : float
        Frames per second.
    seed : int
        The person and the sequence of emotions.
    hold_s : tuple of float
        Shortest and longest hold of an emotion, seconds.
    transition_s : float
        Length of each eased transition, seconds.
    speech : bool
        Whether visemes move the mouth over the whole take (a new one every 0.12–0.25 s).

    Returns
    -------
    curves : np.ndarray
        Shape ``(T, K)`` in [0, 1].
    labels : np.ndarray
        The emotion held (or being reached) per frame, shape ``(T,)``; a transition's frames belong to the
        emotion it goes to from its midpoint on.
    """
    rng = np.random.default_rng(seed)
    k = len(prototypes.control_names)
    style = PersonStyle.random(k, rng)
    curves = np.zeros((num_frames, k), np.float32)
    labels = np.zeros(num_frames, np.int64)
    previous = np.zeros(k, np.float32)
    previous_label = 0
    frame = 0
    ramp = max(1, int(round(transition_s * fps)))
    order = list(rng.permutation(len(EMOTIONS)))
    while frame < num_frames:
        if not order:
            order = list(rng.permutation(len(EMOTIONS)))
        label = int(order.pop())
        level = 0.0 if label == 0 else float(rng.uniform(0.5, 1.0))
        share = rng.uniform(0.8, 1.2, k).astype(np.float32)
        target = (prototypes.required[label] * share * level) * style.gain + style.rest
        hold = int(round(rng.uniform(*hold_s) * fps))
        for step in range(ramp + hold):
            if frame >= num_frames:
                break
            s = min(1.0, (step + 1) / ramp)
            eased = s * s * (3.0 - 2.0 * s)
            curves[frame] = previous + (target - previous) * eased
            labels[frame] = label if s >= 0.5 else previous_label
            frame += 1
        previous, previous_label = target, label
    if speech and prototypes.visemes:
        visemes = np.stack(list(prototypes.visemes.values()))
        mouth = np.zeros_like(curves)
        frame = 0
        current = np.zeros(k, np.float32)
        while frame < num_frames:
            length = max(2, int(round(rng.uniform(0.12, 0.25) * fps)))
            nxt = visemes[rng.integers(0, len(visemes))] * rng.uniform(0.4, 1.0) * (rng.random() < 0.8)
            for step in range(length):
                if frame >= num_frames:
                    break
                s = (step + 1) / length
                mouth[frame] = current + (nxt - current) * s
                frame += 1
            current = nxt
        curves += mouth
    blink_every = int(3.5 * fps)
    blink = np.array([n.startswith(_BLINK_PREFIX) for n in prototypes.control_names])
    for start in range(int(rng.integers(0, blink_every)), num_frames, blink_every):
        for offset, value in enumerate((0.5, 1.0, 1.0, 0.5)):
            if start + offset < num_frames:
                curves[start + offset, blink] = np.maximum(curves[start + offset, blink], value)
    return np.clip(curves, 0.0, 1.0), labels
