"""Emotion consistency of retargeting: the emotion recognised on the performer and on a target, per frame.

A retargeted take should tell the same emotion as the performer's. The recognizer reads ICT controls, so a
target with ICT's controls (another identity, a stylized character, whose gains exaggerate) is read as it
is, and a game rig through its own controls' ICT shapes (:meth:`RetargetTarget.ict_controls`): what the
game character shows, not what it was asked to show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.expression.classifier import EmotionRecognizer, emotion_agreement, smooth_probabilities
from studio.core.retarget.targets import RetargetTarget

__all__ = ["EmotionTracks", "retarget_emotions"]


@dataclass(frozen=True)
class EmotionTracks:
    """Per frame the emotion on the performer and on the target (indices into ``EMOTIONS``; −1 without a
    face), ``(T,)`` each, and the fraction of frames where they agree."""

    performer: np.ndarray
    target: np.ndarray
    agreement: float


def retarget_emotions(controls: np.ndarray, target: RetargetTarget, recognizer: EmotionRecognizer,
                      smooth_frames: int = 0) -> EmotionTracks:
    """The emotion tracks of a take ``controls`` ``(T, K)`` (ICT controls, NaN rows without a face) retargeted
    to ``target``; ``smooth_frames`` averages each side's probabilities over that many frames first."""
    controls = np.asarray(controls, np.float32)
    on_target = target.ict_controls(target.retarget(controls))

    def labels(values: np.ndarray) -> np.ndarray:
        probabilities = smooth_probabilities(recognizer.probabilities(values), smooth_frames)
        found = np.isfinite(probabilities).all(axis=1)
        return np.where(found, np.nan_to_num(probabilities).argmax(axis=1), -1)

    performer, target_labels = labels(controls), labels(on_target)
    return EmotionTracks(performer, target_labels, emotion_agreement(performer, target_labels))
