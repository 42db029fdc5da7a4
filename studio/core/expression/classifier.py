"""Emotion recognition on rig controls: a small classifier trained on synthetic expressions.

:class:`EmotionNetwork` is a three-layer perceptron from the rig's ``K`` controls to the seven emotions'
logits. :func:`train_emotion_job` trains it (seeded) on expressions drawn afresh each step from
:class:`~studio.core.expression.emotions.ExpressionSampler` — many persons, intensities, visemes, blinks,
glances and tracking noise — and measures it on persons it never saw. :class:`EmotionRecognizer` labels any
curves: per frame the emotion and the seven probabilities (frames without a face stay NaN). The same
recognizer labels a retargeted take: a game rig's controls go through their ICT shapes first
(:func:`emotion_agreement`).

Shapes: ``K`` controls, ``N`` samples or ``T`` frames, ``E = 7``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.expression.emotions import EMOTIONS, EmotionPrototypes, ExpressionSampler
from studio.core.expression.model_files import load_model_file, model_path, save_model_file
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.definition import RigDefinition

__all__ = [
    "EmotionNetwork",
    "EmotionRecognizer",
    "confusion_matrix",
    "emotion_agreement",
    "labels_of",
    "per_emotion_accuracy",
    "smooth_probabilities",
    "train_emotion_job",
]

#: Held-out samples per emotion measured after training.
HELD_OUT_PER_EMOTION = 600


class EmotionNetwork(nn.Module):
    """Controls ``(B, K)`` → logits ``(B, E)``."""

    def __init__(self, control_names: tuple[str, ...], hidden: int = 128) -> None:
        super().__init__()
        self.control_names = tuple(control_names)
        self.hidden = int(hidden)
        k = len(self.control_names)
        self.layers = nn.Sequential(
            nn.Linear(k, hidden), nn.SiLU(), nn.Dropout(0.1),
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(0.1),
            nn.Linear(hidden, len(EMOTIONS)),
        )

    def forward(self, controls: torch.Tensor) -> torch.Tensor:
        return self.layers(controls)

    def config(self) -> dict:
        return {"control_names": list(self.control_names), "hidden": self.hidden}


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Counts ``(E, E)``: row = true emotion, column = recognised one."""
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)), np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def per_emotion_accuracy(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Fraction right per true emotion (NaN for an emotion with no sample)."""
    matrix = confusion_matrix(truth, predicted)
    rows = matrix.sum(axis=1)
    return {name: float(matrix[e, e] / rows[e]) if rows[e] else float("nan") for e, name in enumerate(EMOTIONS)}


def train_emotion_job(
    definition: RigDefinition,
    out: str | os.PathLike,
    steps: int = 3000,
    batch: int = 256,
    learning_rate: float = 2e-3,
    seed: int = 0,
    persons: int = 200,
    seen: tuple[np.ndarray, np.ndarray] | None = None,
    seen_fraction: float = 0.5,
    hidden: int = 128,
    cancel: Cancel = None,
    command: str = "",
) -> Generator[tuple[str, int, int], None, dict]:
    """Train the emotion classifier and write it to ``out``.

    Parameters
    ----------
    definition : RigDefinition
        The rig whose controls it reads (its FACS units place the prototypes).
    out : path
        The weights file (written atomically at the end).
    steps, batch, learning_rate : int, int, float
        Adam steps on fresh batches, with a cosine schedule.
    seed : int
        Seeds torch, the training persons (``seed``) and the held-out persons (``seed + 10_000``).
    persons : int
        Training persons.
    seen : tuple of np.ndarray, optional
        Expressions as a tracker read them from images, ``(controls (M, K), labels (M,))``
        (:func:`studio.render.emotion_data.tracked_expressions_job` on training performers): a share of every
        batch (``seen_fraction``) is drawn from them (with 0.02 noise added), so the classifier knows what the image path makes of
        each emotion. Rows with NaN are left out.
    seen_fraction : float
        The share of every batch drawn from ``seen``.
    hidden : int
        Width of the network's hidden layers.
    cancel : callable or flag
        Checked every step; nothing is written when cancelled.
    command : str
        The command line, kept in the file.

    Yields
    ------
    tuple
        ``("training", step, steps)`` every 50 steps.

    Returns
    -------
    dict
        ``held_out``: accuracy overall and per emotion on persons never seen, ``confusion`` ``(E, E)`` as
        lists; ``seconds``, ``steps``, ``parameters``, ``file_bytes``.
    """
    torch.manual_seed(seed)
    prototypes = EmotionPrototypes.for_rig(definition)
    sampler = ExpressionSampler(prototypes, persons=persons, seed=seed)
    network = EmotionNetwork(definition.control_names, hidden)
    optimiser = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=1e-5)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.02)
    pool = None
    if seen is not None:
        keep = np.isfinite(seen[0]).all(axis=1)
        pool = (np.asarray(seen[0][keep], np.float32), np.asarray(seen[1][keep], np.int64))
        pool = pool if len(pool[0]) else None
    rng = np.random.default_rng(seed + 1)
    started = time.perf_counter()
    network.train()
    for step in range(steps):
        if is_cancelled(cancel):
            raise JobCancelled(f"training cancelled at step {step}; nothing written")
        controls, labels, _ = sampler.sample(batch)
        if pool is not None:
            pick = rng.integers(0, len(pool[0]), int(batch * seen_fraction))
            noisy = pool[0][pick] + rng.normal(0.0, 0.02, (len(pick), pool[0].shape[1])).astype(np.float32)
            controls[: len(pick)] = np.clip(noisy, 0.0, 1.0)
            labels[: len(pick)] = pool[1][pick]
        loss = loss_fn(network(torch.from_numpy(controls)), torch.from_numpy(labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % 50 == 0 or step == steps - 1:
            yield ("training", step + 1, steps)
    network.eval()
    held = ExpressionSampler(prototypes, persons=100, seed=seed + 10_000)
    controls, labels, _ = held.sample(HELD_OUT_PER_EMOTION * len(EMOTIONS))
    with torch.no_grad():
        predicted = network(torch.from_numpy(controls)).argmax(1).numpy()
    figures = {
        "held_out": {
            "samples": int(len(labels)),
            "accuracy": float((predicted == labels).mean()),
            "accuracy_by_emotion": per_emotion_accuracy(labels, predicted),
            "confusion": confusion_matrix(labels, predicted).tolist(),
        },
        "seconds": round(time.perf_counter() - started, 1),
        "steps": steps,
        "parameters": int(sum(p.numel() for p in network.parameters())),
    }
    figures["seen_samples"] = 0 if pool is None else int(len(pool[0]))
    metadata = {"seed": seed, "persons": persons, "batch": batch, "learning_rate": learning_rate,
                "command": command, "emotions": list(EMOTIONS), **figures}
    path = save_model_file(out, "emotion", network, network.config(), metadata)
    figures["file_bytes"] = path.stat().st_size
    return figures


class EmotionRecognizer:
    """The trained classifier, ready to label curves.

    Parameters
    ----------
    network : EmotionNetwork
        In eval mode.
    metadata : dict
        The file's provenance.
    """

    def __init__(self, network: EmotionNetwork, metadata: dict | None = None) -> None:
        self.network = network.eval()
        self.metadata = metadata or {}

    @property
    def control_names(self) -> tuple[str, ...]:
        return self.network.control_names

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, control_names: tuple[str, ...] | None = None
             ) -> EmotionRecognizer:
        """Read a classifier (by default the shipped ``models/emotion/classifier.pt``).

        Raises
        ------
        ModelFileError
            One line naming the file and the problem.
        """
        network, _, metadata = load_model_file(
            Path(path) if path is not None else model_path("emotion"), "emotion", EmotionNetwork, control_names
        )
        return cls(network, metadata)

    def probabilities(self, controls: np.ndarray) -> np.ndarray:
        """Per frame the seven probabilities, shape ``(T, E)`` for controls ``(T, K)``; NaN rows stay NaN."""
        controls = np.asarray(controls, np.float32)
        single = controls.ndim == 1
        batch = controls[None] if single else controls
        if batch.ndim != 2 or batch.shape[1] != len(self.control_names):
            raise ValueError(f"controls must have shape (T, {len(self.control_names)}), got {controls.shape}")
        found = np.isfinite(batch).all(axis=1)
        out = np.full((len(batch), len(EMOTIONS)), np.nan, np.float32)
        if found.any():
            with torch.no_grad():
                logits = self.network(torch.from_numpy(np.clip(batch[found], 0.0, 1.0)))
            out[found] = torch.softmax(logits, dim=1).numpy()
        return out[0] if single else out

    def labels(self, controls: np.ndarray, smooth_frames: int = 0) -> np.ndarray:
        """Per frame the emotion index, shape ``(T,)``; −1 where there was no face. ``smooth_frames`` averages
        the probabilities over that many frames first (:func:`smooth_probabilities`)."""
        probabilities = smooth_probabilities(self.probabilities(np.atleast_2d(controls)), smooth_frames)
        return labels_of(probabilities)


def labels_of(probabilities: np.ndarray) -> np.ndarray:
    """The most probable emotion per frame of probabilities ``(T, E)``, ``(T,)``; −1 for NaN rows (no face)."""
    found = np.isfinite(probabilities).all(axis=1)
    return np.where(found, np.nan_to_num(probabilities).argmax(axis=1), -1)


def smooth_probabilities(probabilities: np.ndarray, frames: int) -> np.ndarray:
    """Average each frame's probabilities with its neighbours' over a centred window of ``frames`` frames
    (frames without a face are left out, and stay NaN), shape ``(T, E)``. An emotion lasts longer than a
    frame: this removes single-frame flips. ``frames <= 1`` returns them as they are."""
    probabilities = np.asarray(probabilities, np.float64)
    if frames <= 1 or len(probabilities) == 0:
        return probabilities.copy()
    found = np.isfinite(probabilities).all(axis=1)
    values = np.where(found[:, None], probabilities, 0.0)
    kernel = np.ones(frames)
    total = np.stack([np.convolve(values[:, e], kernel, mode="same") for e in range(values.shape[1])], axis=1)
    count = np.convolve(found.astype(np.float64), kernel, mode="same")
    out = total / np.maximum(count, 1e-9)[:, None]
    out[~found] = np.nan
    return out


def emotion_agreement(performer_labels: np.ndarray, target_labels: np.ndarray) -> float:
    """The fraction of frames (with a face in both) where the same emotion is recognised, or NaN for none."""
    performer_labels, target_labels = np.asarray(performer_labels), np.asarray(target_labels)
    both = (performer_labels >= 0) & (target_labels >= 0)
    return float((performer_labels[both] == target_labels[both]).mean()) if both.any() else float("nan")
