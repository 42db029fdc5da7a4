"""A learned temporal model for tracked curves: a 1-D CNN + GRU that removes jitter and fills frames where no
face was found.

Paper 001 names missing temporal consistency as its own limitation (Sec. 11) and jitter at rest is the first
complaint about webcam trackers. :class:`TemporalDenoiser` reads the raw tracked curves frame by frame — each
frame's controls (the last seen value where no face was found) and a flag saying whether a face was found —
through a causal convolution (5 frames) and a GRU, and writes a correction to the controls. It is causal: its
output at frame ``t`` depends on frames up to ``t`` only. With ``lookahead = L`` it estimates frame ``t − L``
(offline use: a take's curves are shifted back by ``L`` frames after it, so it sees ``L`` frames of the
future); with ``L = 0`` it runs live (:class:`CausalDenoiserStream`, one frame at a time).

It is trained (:func:`train_temporal_job`) on synthetic performances (held expressions, emotional takes with
speech and blinks) made noisy by a tracking-noise model measured on real footage
(:func:`measure_tracking_noise`): per control the noise's robust standard deviation and its frame-to-frame
correlation, and dropouts (runs of frames without a face).

Shapes: ``T`` frames, ``K`` controls, ``B`` sequences; controls in [0, 1].
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from studio.core.expression.emotions import EmotionPrototypes, emotion_take_curves
from studio.core.expression.model_files import load_model_file, model_path, save_model_file
from studio.core.geometry.temporal_filters import true_runs
from studio.core.jobs import Cancel, JobCancelled, is_cancelled
from studio.core.rig.control_curves import moderate_expression_curves
from studio.core.rig.definition import RigDefinition

__all__ = [
    "OFFLINE_LOOKAHEAD",
    "CausalDenoiserStream",
    "TemporalDenoiser",
    "TemporalModels",
    "TrackingNoise",
    "denoise_curves",
    "measure_tracking_noise",
    "noisy_curves",
    "train_temporal_job",
]

OFFLINE_LOOKAHEAD = 8
"""Frames of the future the offline model sees (its output is shifted back by as many)."""

#: Frames of each training sequence.
SEQUENCE_FRAMES = 96

#: Synthetic performances trained on (each step draws a batch of them and new noise).
TRUTH_POOL = 1200

#: The noise of each training sequence is the measured one times a factor drawn in this range: a webcam in
#: good light, or a rendered face, is far quieter than the footage (rendered takes tracked here jitter about a
#: tenth as much), a dim one noisier.
NOISE_SCALE = (0.1, 2.0)


@dataclass(frozen=True)
class TrackingNoise:
    """What a tracker adds to the true curves, measured on footage.

    Attributes
    ----------
    sigma : tuple of float
        Per control, the noise's standard deviation, ``K`` values (from the robust spread of the curves'
        frame-to-frame differences and their correlation, :func:`measure_tracking_noise`).
    correlation : float
        The noise's frame-to-frame correlation (the noise is AR(1) with it); 0 when measured on footage
        (:func:`measure_tracking_noise` says why).
    dropout_fraction : float
        Fraction of frames without a face.
    gap_frames_mean : float
        Mean length of a run of frames without a face (1 where none was seen).
    frames : int
        Frames measured.
    difference_ratio : float
        ``Var(Δ²) / Var(Δ)`` of the curves (robust, median over controls): 3 for white noise alone.
    controls_measured : int
        Controls active often enough on the footage to be measured (the others get the median σ).
    clips : tuple of str
        The footage measured.
    """

    sigma: tuple[float, ...]
    correlation: float
    dropout_fraction: float
    gap_frames_mean: float
    frames: int
    difference_ratio: float = float("nan")
    controls_measured: int = 0
    clips: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)


def measure_tracking_noise(takes: list[np.ndarray], fps: float, clips: tuple[str, ...] = ()) -> TrackingNoise:
    """The noise model of raw tracked curves (unfiltered, NaN rows where no face was found).

    Parameters
    ----------
    takes : list of np.ndarray
        Raw curves, each ``(T, K)``.
    fps : float
        Their frame rate (kept for the record; the statistics are per frame).
    clips : tuple of str
        Names of the footage measured (kept for the record).
    """
    first, second, found_all, gaps = [], [], [], []
    for curves in takes:
        curves = np.asarray(curves, np.float64)
        found = np.isfinite(curves).all(axis=1)
        found_all.append(found)
        gaps += [stop - start for start, stop in true_runs(~found)]
        # only where the control is away from its bound 0 in all three frames (the solve clamps there)
        active = (curves[2:] > 0.02) & (curves[1:-1] > 0.02) & (curves[:-2] > 0.02)
        first.append(np.where(active, curves[1:-1] - curves[:-2], np.nan))
        second.append(np.where(active, curves[2:] - 2 * curves[1:-1] + curves[:-2], np.nan))
    # The noise is taken as white, of the size that gives the footage's robust spread of second differences
    # (Var(Δ²) = 6σ² for white noise; blinks and onsets are outliers to a median). On talking footage the
    # true motion dominates the first differences (their spread against the second's says so:
    # ``difference_ratio``, 3 for white noise, lower with motion), so a frame-to-frame correlation of the
    # noise cannot be told from the motion and is not modelled; what real motion adds to Δ² makes σ an
    # upper bound.
    first_all, second_all = np.concatenate(first), np.concatenate(second)

    def spread(values: np.ndarray) -> np.ndarray:
        out = np.full(values.shape[1], np.nan)
        for k in range(values.shape[1]):
            column = values[:, k][np.isfinite(values[:, k])]
            if len(column) >= 30:
                out[k] = 1.4826 * np.median(np.abs(column - np.median(column)))
        return out

    spread_first, spread_second = spread(first_all), spread(second_all)
    measured = np.isfinite(spread_second) & (spread_second > 0)
    sigma = spread_second / np.sqrt(6.0)
    fallback = float(np.median(sigma[measured])) if measured.any() else 0.01
    sigma = np.where(measured, sigma, fallback)
    both = measured & np.isfinite(spread_first) & (spread_first > 0)
    ratio = float(np.median(spread_second[both] ** 2 / spread_first[both] ** 2)) if both.any() else float("nan")
    correlation = 0.0
    found = np.concatenate(found_all)
    return TrackingNoise(
        sigma=tuple(float(s) for s in sigma),
        correlation=correlation,
        dropout_fraction=float(1.0 - found.mean()),
        gap_frames_mean=float(np.mean(gaps)) if gaps else 1.0,
        frames=int(len(found)),
        difference_ratio=ratio,
        controls_measured=int(measured.sum()),
        clips=tuple(clips),
    )


def noisy_curves(truth: np.ndarray, noise: TrackingNoise, rng: np.random.Generator,
                 scale: tuple[float, float] = (0.5, 2.0), gap_probability: float = 0.5,
                 gap_frames: tuple[int, int] = (1, 15)) -> np.ndarray:
    """True curves ``(B, T, K)`` as a tracker would report them: AR(1) noise of the measured size (times a
    random factor per sequence in ``scale``), and with ``gap_probability`` one run of frames without a face
    (NaN rows) of a length in ``gap_frames``; the measured dropout rate is added on top as single frames."""
    b, t, k = truth.shape
    sigma = np.asarray(noise.sigma, np.float64)[None, None] * rng.uniform(*scale, (b, 1, 1))
    rho = float(np.clip(noise.correlation, -0.9, 0.95))
    white = rng.normal(0.0, 1.0, (b, t, k))
    ar = white.copy()
    if rho:
        for i in range(1, t):
            ar[:, i] = rho * ar[:, i - 1] + np.sqrt(1.0 - rho * rho) * white[:, i]
    noisy = np.clip(truth + sigma * ar, 0.0, 1.0)
    for s in range(b):
        if rng.random() < gap_probability:
            length = int(rng.integers(gap_frames[0], gap_frames[1] + 1))
            start = int(rng.integers(0, max(1, t - length)))
            noisy[s, start:start + length] = np.nan
    noisy[rng.random((b, t)) < noise.dropout_fraction] = np.nan
    return noisy.astype(np.float32)


def _inputs(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw curves ``(B, T, K)`` with NaN rows → ``(held (B, T, K), found (B, T, 1))``: a frame without a face
    holds the last value seen (0 before the first)."""
    found = np.isfinite(curves).all(axis=2, keepdims=True)
    held = np.where(found, curves, np.nan)
    b, t, _ = held.shape
    index = np.where(found[..., 0], np.arange(t)[None], 0)
    np.maximum.accumulate(index, axis=1, out=index)
    held = np.take_along_axis(held, index[..., None], axis=1)
    return np.nan_to_num(held, nan=0.0).astype(np.float32), found.astype(np.float32)


class TemporalDenoiser(nn.Module):
    """Causal CNN + GRU: ``(held (B, T, K), found (B, T, 1))`` → controls ``(B, T, K)`` at ``t − lookahead``.

    Parameters
    ----------
    num_controls : int
        ``K``.
    hidden : int
        Width of the convolution and the GRU.
    kernel : int
        Frames the causal convolution reads.
    lookahead : int
        ``L``: the output at frame ``t`` estimates frame ``t − L``.
    """

    def __init__(self, num_controls: int, hidden: int = 64, kernel: int = 5, lookahead: int = 0) -> None:
        super().__init__()
        self.num_controls, self.hidden, self.kernel, self.lookahead = num_controls, hidden, kernel, lookahead
        self.conv = nn.Conv1d(num_controls + 1, hidden, kernel)
        self.gru = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_controls)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def config(self) -> dict:
        return {"num_controls": self.num_controls, "hidden": self.hidden, "kernel": self.kernel,
                "lookahead": self.lookahead}

    def forward(self, held: torch.Tensor, found: torch.Tensor,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([held, found], dim=2).transpose(1, 2)  # (B, K+1, T)
        x = nn.functional.pad(x, (self.kernel - 1, 0), mode="replicate")
        # the correction is added to the input frame the output estimates (t − L)
        base = held if self.lookahead == 0 else torch.cat(
            [held[:, :1].expand(-1, self.lookahead, -1), held[:, : held.shape[1] - self.lookahead]], dim=1)
        return self.step(x, base, state)

    def step(self, window: torch.Tensor, base: torch.Tensor,
             state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolution, GRU and correction: ``window`` ``(B, K+1, T + kernel − 1)`` (padded inputs and flags)
        and the frames corrected ``base`` ``(B, T, K)`` → ``(controls (B, T, K), GRU state)``; one frame at a
        time when ``T = 1`` (:class:`CausalDenoiserStream`)."""
        features = nn.functional.silu(self.conv(window)).transpose(1, 2)  # (B, T, H)
        hidden, state = self.gru(features, state)
        return (base + self.out(hidden)).clamp(0.0, 1.0), state


class TemporalModels(nn.Module):
    """The shipped pair: ``causal`` (live, ``L = 0``) and ``offline`` (``L =`` :data:`OFFLINE_LOOKAHEAD`)."""

    def __init__(self, num_controls: int, hidden: int = 64, kernel: int = 5,
                 offline_lookahead: int = OFFLINE_LOOKAHEAD, control_names: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.control_names = tuple(control_names)
        self.causal = TemporalDenoiser(num_controls, hidden, kernel, 0)
        self.offline = TemporalDenoiser(num_controls, hidden, kernel, offline_lookahead)

    def config(self) -> dict:
        return {"num_controls": self.causal.num_controls, "hidden": self.causal.hidden, "kernel": self.causal.kernel,
                "offline_lookahead": self.offline.lookahead, "control_names": list(self.control_names)}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, control_names: tuple[str, ...] | None = None
             ) -> tuple[TemporalModels, dict]:
        """Read the models (by default the shipped ``models/temporal/denoiser.pt``): ``(models, metadata)``.

        Raises
        ------
        ModelFileError
            One line naming the file and the problem.
        """
        models, _, metadata = load_model_file(Path(path) if path is not None else model_path("temporal"),
                                              "temporal", cls, control_names)
        return models, metadata


def denoise_curves(models: TemporalModels, curves: np.ndarray, causal: bool = False) -> np.ndarray:
    """Denoise a take's raw curves ``(T, K)`` (NaN rows where no face was found) → ``(T, K)``, every frame
    filled. Offline (default) the curves are run ``L`` frames past their end (the last frame held) and the
    output shifted back, so frame ``t`` is estimated from frames up to ``t + L``."""
    curves = np.asarray(curves, np.float32)
    model = models.causal if causal else models.offline
    lookahead = model.lookahead
    if lookahead:
        curves = np.concatenate([curves, np.repeat(curves[-1:], lookahead, axis=0)])
    held, found = _inputs(curves[None])
    if not found.any():
        return np.full(curves[: len(curves) - lookahead].shape, np.nan, np.float32)
    # before the first face the model has nothing: start from the first frame with one
    first = int(np.argmax(found[0, :, 0]))
    held[0, :first] = held[0, first]
    with torch.no_grad():
        out, _ = model(torch.from_numpy(held), torch.from_numpy(found))
    return out[0, lookahead:].numpy().astype(np.float32)


class CausalDenoiserStream:
    """The causal model one frame at a time, for live tracking: a drop-in for
    :class:`~studio.core.geometry.temporal_filters.OneEuroFilter` (``stream(t_s, controls)`` → ``(K,)``,
    ``reset()``).

    ``controls`` NaN (a frame without a face) continues the curves from the last frame seen. The frame time
    is not used: the model was trained at a steady 30 frames/s.
    """

    def __init__(self, models: TemporalModels) -> None:
        self.model = models.causal
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next frame starts afresh."""
        self._window: list[np.ndarray] = []
        self._state: torch.Tensor | None = None
        self._last: np.ndarray | None = None

    def __call__(self, t_s: float, controls: np.ndarray) -> np.ndarray:
        controls = np.asarray(controls, np.float32)
        found = bool(np.isfinite(controls).all())
        if found:
            self._last = controls
        if self._last is None:
            return np.full(controls.shape, np.nan, np.float32)
        row = np.concatenate([self._last, [1.0 if found else 0.0]]).astype(np.float32)
        if not self._window:
            self._window = [row] * self.model.kernel
        self._window = [*self._window[1:], row]
        window = torch.from_numpy(np.stack(self._window).T[None])  # (1, K+1, kernel)
        with torch.no_grad():
            out, self._state = self.model.step(window, torch.from_numpy(self._last)[None, None], self._state)
        return out[0, 0].numpy()


def _truth_batch(definition: RigDefinition, prototypes: EmotionPrototypes, count: int, fps: float,
                 rng: np.random.Generator) -> np.ndarray:
    """``count`` true performances ``(B, T, K)``: half held expressions through neutral, half emotional
    takes with speech and blinks; each a random window of a longer one."""
    out = np.empty((count, SEQUENCE_FRAMES, definition.num_controls), np.float32)
    for i in range(count):
        seed = int(rng.integers(0, 2**31))
        frames = SEQUENCE_FRAMES * 3
        if i % 2:
            curves = moderate_expression_curves(definition.control_names, frames, fps=fps, seed=seed, max_value=0.9)
        else:
            curves, _ = emotion_take_curves(prototypes, frames, fps, seed, speech=bool(rng.random() < 0.7))
        start = int(rng.integers(0, frames - SEQUENCE_FRAMES))
        out[i] = curves[start:start + SEQUENCE_FRAMES]
    return out


def train_temporal_job(
    definition: RigDefinition,
    noise: TrackingNoise,
    out: str | os.PathLike,
    steps: int = 1500,
    batch: int = 32,
    learning_rate: float = 3e-3,
    seed: int = 0,
    fps: float = 30.0,
    cancel: Cancel = None,
    command: str = "",
) -> Generator[tuple[str, int, int], None, dict]:
    """Train the causal and offline models together on synthetic noisy performances, write them to ``out``.

    The loss is the mean absolute error against the truth (at ``t − L``) plus, on frames where the truth
    rests, the output's second difference (jitter at rest). Returns ``{"seconds", "steps", "parameters",
    "loss", "file_bytes"}``; nothing is written when cancelled.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    prototypes = EmotionPrototypes.for_rig(definition)
    models = TemporalModels(definition.num_controls, control_names=definition.control_names)
    pool = _truth_batch(definition, prototypes, TRUTH_POOL, fps, rng)
    yield ("performances", 1, 1)
    optimiser = torch.optim.Adam(models.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, learning_rate, total_steps=steps, pct_start=0.1)
    started = time.perf_counter()
    losses = []
    for step in range(steps):
        if is_cancelled(cancel):
            raise JobCancelled(f"training cancelled at step {step}; nothing written")
        truth = pool[rng.integers(0, len(pool), batch)]
        held, found = _inputs(noisy_curves(truth, noise, rng, scale=NOISE_SCALE))
        held_t, found_t, truth_t = (torch.from_numpy(a) for a in (held, found, truth))
        loss = torch.zeros(())
        for model in (models.causal, models.offline):
            estimate, _ = model(held_t, found_t)
            lag = model.lookahead
            target = truth_t[:, : truth_t.shape[1] - lag]
            estimate = estimate[:, lag:]
            loss = loss + (estimate - target).abs().mean()
            second = estimate[:, 2:] - 2 * estimate[:, 1:-1] + estimate[:, :-2]
            true_second = (target[:, 2:] - 2 * target[:, 1:-1] + target[:, :-2]).abs()
            resting = (true_second < 1e-4).float()
            loss = loss + 2.0 * (second.abs() * resting).mean()
        optimiser.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(models.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 25 == 0 or step == steps - 1:
            yield ("training", step + 1, steps)
    figures = {"seconds": round(time.perf_counter() - started, 1), "steps": steps,
               "parameters": int(sum(p.numel() for p in models.parameters())),
               "loss": float(np.mean(losses[-50:]))}
    metadata = {"seed": seed, "batch": batch, "learning_rate": learning_rate, "fps": fps, "command": command,
                "noise": noise.to_json(), **figures}
    path = save_model_file(out, "temporal", models, models.config(), metadata)
    figures["file_bytes"] = path.stat().st_size
    return figures
