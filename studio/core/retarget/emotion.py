"""Emotion consistency of retargeting: the emotion recognised on the performer and on a target, per frame.

A retargeted take should tell the same emotion as the performer's. The recognizer reads ICT controls, so a
target with ICT's controls (another identity, a stylized character, whose gains exaggerate) is read as it
is, and a game rig through its own controls' ICT shapes (:meth:`RetargetTarget.ict_controls`): what the
game character shows, not what it was asked to show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.expression.classifier import EmotionRecognizer, emotion_agreement
from studio.core.retarget.targets import RetargetTarget

__all__ = ["EmotionTracks", "emotion_tracks", "retarget_emotions", "shown_controls"]


@dataclass(frozen=True)
class EmotionTracks:
    """Per frame the emotion on the performer and on the target (indices into ``EMOTIONS``; −1 without a
    face), ``(T,)`` each, and the fraction of frames where they agree."""

    performer: np.ndarray
    target: np.ndarray
    agreement: float


def emotion_tracks(performer: np.ndarray, shown: np.ndarray, recognizer: EmotionRecognizer,
                   smooth_frames: int = 0) -> EmotionTracks:
    """The emotion tracks of the performer's controls and of what the target shows (both ICT controls
    ``(T, K)``, NaN rows without a face); ``smooth_frames`` averages each side's probabilities first."""
    performer_labels = recognizer.labels(performer, smooth_frames)
    target_labels = recognizer.labels(shown, smooth_frames)
    return EmotionTracks(performer_labels, target_labels, emotion_agreement(performer_labels, target_labels))


def shown_controls(controls: np.ndarray, target: RetargetTarget) -> np.ndarray:
    """What ``target`` shows of a take's ICT controls ``(T, K)``, as ICT controls ``(T, K)`` (module notes)."""
    return target.ict_controls(target.retarget(np.asarray(controls, np.float32)))


def retarget_emotions(controls: np.ndarray, target: RetargetTarget, recognizer: EmotionRecognizer,
                      smooth_frames: int = 0) -> EmotionTracks:
    """The emotion tracks of a take ``controls`` ``(T, K)`` (ICT controls, NaN rows without a face) retargeted
    to ``target``; ``smooth_frames`` averages each side's probabilities over that many frames first."""
    return emotion_tracks(controls, shown_controls(controls, target), recognizer, smooth_frames)
