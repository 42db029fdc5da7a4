"""Emotions seen through the image path: synthetic performers render expressions, MediaPipe and the tracker
read them back.

The emotion classifier learns what the tracker makes of each emotion from these (``python main.py train
emotion`` renders training performers), and ``bench emotion`` measures it on performers of other seeds.
A performer has its own identity (20 leading identity modes at 1 sd) and motion signature θ_GT
(:func:`~studio.core.rig.performer_model.performer_rig_parameters`), and moves its head gently; it starts with
a neutral lead-in the tracker takes as its neutral, then holds each expression for a few frames (the last
one is read).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from studio.core.expression.emotions import EMOTIONS, EmotionPrototypes, ExpressionSampler
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.tracking.rig_bundle import RigBundle

__all__ = ["HOLD_FRAMES", "NEUTRAL_FRAMES", "TrackedExpressions", "track_rendered", "tracked_expressions_job"]

HOLD_FRAMES = 3
"""Frames each expression is held; the last is read."""

NEUTRAL_FRAMES = 20
"""The neutral lead-in of each performer, frames (the tracker's neutral)."""


@dataclass(frozen=True)
class TrackedExpressions:
    """Expressions as performed and as read back, ``N`` samples of ``K`` controls.

    Attributes
    ----------
    truth : np.ndarray
        The performed controls, ``(N, K)``.
    labels : np.ndarray
        Emotion index per sample, ``(N,)``.
    tracked : np.ndarray
        The landmark tracker's controls (no temporal filter), ``(N, K)``; NaN rows where no face was found.
    mediapipe : np.ndarray
        MediaPipe's own 52 blendshapes written in the rig's controls (``RigDefinition.from_arkit``), ``(N, K)``.
    performer : np.ndarray
        The seed of each sample's performer, ``(N,)``.
    """

    truth: np.ndarray
    labels: np.ndarray
    tracked: np.ndarray
    mediapipe: np.ndarray
    performer: np.ndarray


def _performer(bundle: RigBundle, seed: int):
    from studio.core.rig.performer_model import performer_rig_parameters

    rng = np.random.default_rng(seed)
    identity = np.zeros(bundle.rig.num_identity_modes, np.float32)
    identity[:20] = rng.normal(0.0, 1.0, 20)
    rig = bundle.rig.with_parameters(performer_rig_parameters(bundle.rig, bundle.definition, seed))
    return rig, identity


def track_rendered(bundle: RigBundle, curves: np.ndarray, seed: int, fps: float = 30.0,
                   cancel: Cancel = None, blank: np.ndarray | None = None,
                   ) -> Generator[tuple[str, int, int], None, tuple]:
    """Render performer ``seed`` along ``curves`` (after the neutral lead-in) and track it; frames of
    ``curves`` marked in ``blank`` (``(T,)`` bool) are black (no face, as when the performer leaves).

    Returns
    -------
    tuple
        ``(tracked (T, K) without a temporal filter, mediapipe (T, K), face_found (T,))`` for the frames of
        ``curves``.
    """
    from studio.core.tracking.frame_sources import FrameSource
    from studio.core.tracking.reconstruction import BLENDSHAPE_NAMES
    from studio.core.tracking.take import track_take
    from studio.render.synthetic_performer import SyntheticPerformerSource

    rig, identity = _performer(bundle, seed)
    lead = np.zeros((NEUTRAL_FRAMES, curves.shape[1]), np.float32)
    performer = SyntheticPerformerSource(rig, np.concatenate([lead, curves]), fps=fps, identity=identity, seed=seed)

    class Rendered(FrameSource):
        def __init__(self) -> None:
            self.fps, self.num_frames, self.size, self.name = fps, performer.num_frames, performer.size, performer.name

        def __iter__(self):
            for frame in performer:
                if is_cancelled(cancel):
                    raise JobCancelled("cancelled while rendering")
                index = frame.index - NEUTRAL_FRAMES
                if blank is not None and 0 <= index < len(blank) and blank[index]:
                    frame = replace(frame, image=np.zeros_like(frame.image))
                yield frame

    job = track_take(Rendered(), bundle.tracker(), (0, NEUTRAL_FRAMES), "none", bundle.definition.tweaker_indices())
    try:
        while True:
            what, done, total = next(job)
            yield (f"performer {seed}: {what}", done, total)
    except StopIteration as end:
        result = end.value
    finally:
        performer.close()
    mediapipe = np.full_like(result.raw_controls, np.nan)
    for t, observation in enumerate(result.observations):
        if observation.face_found:
            mediapipe[t] = bundle.definition.from_arkit(
                dict(zip(BLENDSHAPE_NAMES, observation.blendshapes, strict=True)))
    found = result.curves.face_found
    return result.raw_controls[NEUTRAL_FRAMES:], mediapipe[NEUTRAL_FRAMES:], found[NEUTRAL_FRAMES:]


def tracked_expressions_job(bundle: RigBundle, seeds: Sequence[int], per_emotion: int, cancel: Cancel = None,
                            ) -> Generator[tuple[str, int, int], None, TrackedExpressions]:
    """Each performer of ``seeds`` holds ``per_emotion`` random expressions of each emotion (its own person
    style, no added noise); all are tracked. A generator job: yields ``(what, performer, performers)``."""
    prototypes = EmotionPrototypes.for_rig(bundle.definition)
    parts: list[tuple] = []
    for number, seed in enumerate(seeds):
        sampler = ExpressionSampler(prototypes, persons=1, seed=seed, noise=0.0)
        labels = np.repeat(np.arange(len(EMOTIONS)), per_emotion)
        np.random.default_rng(seed).shuffle(labels)
        truth, labels, _ = sampler.sample(len(labels), emotions=labels)
        job = track_rendered(bundle, np.repeat(truth, HOLD_FRAMES, axis=0), seed, cancel=cancel)
        try:
            while True:
                what, done, total = next(job)
                yield (what, number * 1000 + done * 1000 // max(total, 1), len(seeds) * 1000)
        except StopIteration as end:
            tracked, mediapipe, found = end.value
        last = np.arange(len(labels)) * HOLD_FRAMES + HOLD_FRAMES - 1
        tracked, mediapipe = tracked[last].copy(), mediapipe[last].copy()
        tracked[~found[last]] = np.nan
        mediapipe[~found[last]] = np.nan
        parts.append((truth, labels, tracked, mediapipe, np.full(len(labels), seed)))
    return TrackedExpressions(*(np.concatenate([p[i] for p in parts]) for i in range(5)))
