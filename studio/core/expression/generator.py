"""A generative expression model in control space (paper 000): a conditional VAE with an adversarial term.

:class:`ExpressionGenerator` is conditioned on an emotion and an intensity (1 = the emotion as people pose
it, above 1 exaggerated, up to :data:`MAX_INTENSITY`). Its decoder turns a latent code (8 numbers, normal
prior) and the condition into the rig's controls (a sigmoid: always in [0, 1]). Sampling the prior gives
*variations* of one emotion; moving the latent code and the condition smoothly between two expressions
gives a *transition* (the latent space is smooth, so each frame is a valid face too).

Training (:func:`train_generator_job`) reconstructs synthetic expressions — the seven emotions' FACS
prototypes as many persons pose them, intensities up to exaggerated (:class:`~studio.core.expression.
emotions.ExpressionSampler` without distractors) — with a KL term towards the prior, a discriminator that
tells prior samples from real ones (so samples look like expressions, not averages), and a penalty on
impossible combinations: ``mouthClose`` beyond ``jawOpen`` (lips through each other) and opposite
controls on together (:mod:`studio.core.rig.validity`).

Shapes: ``K`` controls, ``N`` samples, ``T`` frames; latent ``Z = 8``; the condition is the emotion one-hot
and the intensity, ``(N, E + 1)``.
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
from studio.core.rig.validity import OPPOSITE_LEVEL, opposite_pairs

__all__ = ["MAX_INTENSITY", "ExpressionGenerator", "train_generator_job"]

MAX_INTENSITY = 1.5
"""The most exaggerated intensity the generator is trained for."""


def _mlp(inputs: int, hidden: int, outputs: int, slope: float | None = None) -> nn.Sequential:
    act = (lambda: nn.LeakyReLU(slope)) if slope is not None else nn.SiLU
    return nn.Sequential(nn.Linear(inputs, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, outputs))


class ExpressionGenerator(nn.Module):
    """Conditional VAE (encoder, decoder) and its discriminator."""

    def __init__(self, control_names: tuple[str, ...], latent: int = 8, hidden: int = 128,
                 mouth_close: int = -1, jaw_open: int = -1, opposites: tuple = ()) -> None:
        super().__init__()
        self.control_names = tuple(control_names)
        self.latent, self.hidden = int(latent), int(hidden)
        self.mouth_close, self.jaw_open = int(mouth_close), int(jaw_open)
        self.opposites = tuple(tuple(int(i) for i in pair) for pair in opposites)
        k, c = len(self.control_names), len(EMOTIONS) + 1
        self.encoder = _mlp(k + c, hidden, 2 * latent)
        self.decoder = _mlp(latent + c, hidden, k)
        self.discriminator = _mlp(k + c, hidden, 1, slope=0.2)

    def config(self) -> dict:
        return {"control_names": list(self.control_names), "latent": self.latent, "hidden": self.hidden,
                "mouth_close": self.mouth_close, "jaw_open": self.jaw_open,
                "opposites": [list(pair) for pair in self.opposites]}

    @classmethod
    def for_rig(cls, definition: RigDefinition, **kwargs) -> ExpressionGenerator:
        names = definition.control_names
        return cls(names, mouth_close=names.index("mouthClose") if "mouthClose" in names else -1,
                   jaw_open=names.index("jawOpen") if "jawOpen" in names else -1,
                   opposites=tuple(opposite_pairs(definition)), **kwargs)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, control_names: tuple[str, ...] | None = None
             ) -> tuple[ExpressionGenerator, dict]:
        """Read a generator (by default the shipped ``models/generator/cvae.pt``): ``(generator, metadata)``.

        Raises
        ------
        ModelFileError
            One line naming the file and the problem.
        """
        generator, _, metadata = load_model_file(Path(path) if path is not None else model_path("generator"),
                                                 "generator", cls, control_names)
        return generator, metadata

    # -- the model ------------------------------------------------------------------------------------

    @staticmethod
    def condition(emotions: torch.Tensor, intensity: torch.Tensor) -> torch.Tensor:
        """``(N,)`` emotion indices and ``(N,)`` intensities → ``(N, E + 1)``."""
        onehot = nn.functional.one_hot(emotions.long(), len(EMOTIONS)).float()
        return torch.cat([onehot, intensity.float()[:, None]], dim=1)

    def encode(self, controls: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.encoder(torch.cat([controls, condition], 1)).chunk(2, dim=1)
        return mean, log_var.clamp(-8.0, 4.0)

    def decode(self, latent: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(torch.cat([latent, condition], 1)))

    def penalty(self, controls: torch.Tensor) -> torch.Tensor:
        """Per sample, how far it is into impossible combinations ``(N,)``."""
        out = torch.zeros(controls.shape[0])
        if self.mouth_close >= 0 and self.jaw_open >= 0:
            out = out + torch.relu(controls[:, self.mouth_close] - controls[:, self.jaw_open] - 0.02)
        for a, b in self.opposites:
            out = out + torch.relu(controls[:, a] - OPPOSITE_LEVEL) * torch.relu(controls[:, b] - OPPOSITE_LEVEL)
        return out

    # -- use ------------------------------------------------------------------------------------------

    def _decode_numpy(self, latent: np.ndarray, emotions: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            condition = self.condition(torch.as_tensor(emotions), torch.as_tensor(intensity, dtype=torch.float32))
            return self.decode(torch.as_tensor(latent, dtype=torch.float32), condition).numpy()

    def sample(self, emotion: str, intensity: float, count: int, seed: int = 0, spread: float = 1.0) -> np.ndarray:
        """``count`` variations of ``emotion`` at ``intensity`` (0 … :data:`MAX_INTENSITY`), ``(N, K)``.

        ``spread`` scales the latent prior: 0 gives the emotion's typical face, 1 the variety of the data.
        """
        if emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {emotion!r}: choose one of {', '.join(EMOTIONS)}")
        if not 0.0 <= intensity <= MAX_INTENSITY:
            raise ValueError(f"intensity must be in [0, {MAX_INTENSITY}], got {intensity}")
        latent = np.random.default_rng(seed).normal(0.0, 1.0, (count, self.latent)) * spread
        level = 0.0 if emotion == "neutral" else intensity
        return self._decode_numpy(latent, np.full(count, EMOTIONS.index(emotion)), np.full(count, level))

    def transition(self, start: tuple[str, float], end: tuple[str, float], frames: int, seed: int = 0,
                   spread: float = 0.5) -> np.ndarray:
        """``frames`` frames from one expression to another, ``(T, K)``: the latent codes (one random
        variation each) and the conditions eased together (smoothstep), each frame decoded."""
        if frames < 2:
            raise ValueError("a transition needs at least 2 frames")
        for emotion, intensity in (start, end):
            if emotion not in EMOTIONS or not 0.0 <= intensity <= MAX_INTENSITY:
                raise ValueError(f"unknown emotion {emotion!r} or intensity {intensity} outside [0, {MAX_INTENSITY}]")
        rng = np.random.default_rng(seed)
        z = rng.normal(0.0, 1.0, (2, self.latent)) * spread
        s = np.linspace(0.0, 1.0, frames)
        eased = s * s * (3.0 - 2.0 * s)
        latent = z[0][None] * (1 - eased)[:, None] + z[1][None] * eased[:, None]
        onehot = np.zeros((frames, len(EMOTIONS)))
        onehot[:, EMOTIONS.index(start[0])] += 1 - eased
        onehot[:, EMOTIONS.index(end[0])] += eased
        level = lambda e, i: 0.0 if e == "neutral" else i  # noqa: E731
        intensity = level(*start) * (1 - eased) + level(*end) * eased
        condition = np.concatenate([onehot, intensity[:, None]], axis=1)
        with torch.no_grad():
            return self.decode(torch.as_tensor(latent, dtype=torch.float32),
                               torch.as_tensor(condition, dtype=torch.float32)).numpy()


def train_generator_job(
    definition: RigDefinition,
    out: str | os.PathLike,
    steps: int = 3000,
    batch: int = 256,
    learning_rate: float = 2e-3,
    seed: int = 0,
    kl_weight: float = 0.02,
    adversarial_weight: float = 0.02,
    cancel: Cancel = None,
    command: str = "",
) -> Generator[tuple[str, int, int], None, dict]:
    """Train the generator (module docstring) and write it to ``out``; nothing is written when cancelled.

    Returns
    -------
    dict
        ``seconds``, ``steps``, ``parameters`` (the discriminator included), ``reconstruction`` (mean absolute
        control error of the last 200 steps), ``file_bytes``.
    """
    torch.manual_seed(seed)
    prototypes = EmotionPrototypes.for_rig(definition)
    sampler = ExpressionSampler(prototypes, persons=200, seed=seed, intensity=(0.2, MAX_INTENSITY), noise=0.0,
                                distractors=False)
    model = ExpressionGenerator.for_rig(definition)
    vae_params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    optimiser = torch.optim.Adam(vae_params, lr=learning_rate)
    critic = torch.optim.Adam(model.discriminator.parameters(), lr=learning_rate * 0.5, betas=(0.5, 0.9))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps, pct_start=0.1)
    bce = nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    reconstruction = []
    for step in range(steps):
        if is_cancelled(cancel):
            raise JobCancelled(f"training cancelled at step {step}; nothing written")
        controls, labels, level = sampler.sample(batch)
        real = torch.from_numpy(controls)
        condition = model.condition(torch.from_numpy(labels), torch.from_numpy(level))
        # the VAE
        mean, log_var = model.encode(real, condition)
        latent = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        decoded = model.decode(latent, condition)
        recon = (decoded - real).abs().sum(1).mean()
        kl = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1).mean()
        prior = model.decode(torch.randn_like(mean), condition)
        fool = bce(model.discriminator(torch.cat([prior, condition], 1)), torch.ones(batch, 1))
        penalty = (model.penalty(decoded) + model.penalty(prior)).mean()
        loss = recon + kl_weight * kl + adversarial_weight * len(model.control_names) * fool + 10.0 * penalty
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        # the discriminator: real expressions against prior samples
        with torch.no_grad():
            fake = model.decode(torch.randn_like(mean), condition)
        judged = model.discriminator(torch.cat([torch.cat([real, fake]), torch.cat([condition, condition])], 1))
        critic_loss = bce(judged, torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)]))
        critic.zero_grad()
        critic_loss.backward()
        critic.step()
        reconstruction.append(float((decoded - real).abs().mean().detach()))
        if step % 50 == 0 or step == steps - 1:
            yield ("training", step + 1, steps)
    figures = {"seconds": round(time.perf_counter() - started, 1), "steps": steps,
               "parameters": int(sum(p.numel() for p in model.parameters())),
               "reconstruction": float(np.mean(reconstruction[-200:]))}
    metadata = {"seed": seed, "batch": batch, "learning_rate": learning_rate, "kl_weight": kl_weight,
                "adversarial_weight": adversarial_weight, "command": command, **figures}
    path = save_model_file(out, "generator", model, model.config(), metadata)
    figures["file_bytes"] = path.stat().st_size
    return figures
