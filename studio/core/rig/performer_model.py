"""A parametric model of how a performer's motion signature differs from a rig's: ground truth θ_GT.

The calibration benchmark needs a performer whose rig parameters θ_GT differ from the animation rig's θ_A
in the ways real people differ, while sharing the rig's neutral (the performer neutral is removed by the
tracker anyway). :func:`performer_rig_parameters` builds θ_GT from θ_A with four documented effects:

1. **Per-shape amplitude** — each shape is scaled by ``exp(N(0, amplitude_sigma))`` (one performer opens
   the jaw further, smiles less).
2. **Cross-talk between shapes** — each shape picks up a little of 1–2 other shapes of the same facial
   region (``N(0, crosstalk_sigma)`` times the other shape): a smile that also raises the cheeks.
3. **Spatially smooth shape differences** — each shape's offsets are multiplied, per coordinate, by a smooth
   random field over the neutral face (a sum of random Fourier features with wavelength about
   ``wavelength_cm``), so where and how a shape moves the skin changes smoothly, not per vertex.
4. **Asymmetry** — a smooth left/right gradient (``x``-dependent gain of ``±asymmetry``) on every shape.

Offsets stay zero where θ_A's are zero (the effects only reshape motion that the shape already has, or add
motion of another shape of the same region), so eyeballs and teeth stay rigid as in the rig.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig, RigParameters


@dataclass(frozen=True)
class PerformerVariation:
    """Strengths of the four effects (see the module docstring); defaults give a clearly different person."""

    amplitude_sigma: float = 0.25
    crosstalk_sigma: float = 0.12
    field_sigma: float = 0.25
    wavelength_cm: float = 6.0
    asymmetry: float = 0.15
    num_features: int = 8


def _smooth_field(points: np.ndarray, rng: np.random.Generator, variation: PerformerVariation) -> np.ndarray:
    """A smooth random gain field at ``points`` (V,3) → (V,3), mean 1, std about ``field_sigma``."""
    frequencies = rng.normal(size=(variation.num_features, 3)) * (2 * np.pi / variation.wavelength_cm)
    phases = rng.uniform(0, 2 * np.pi, size=variation.num_features)
    weights = rng.normal(size=(variation.num_features, 3)) * variation.field_sigma * np.sqrt(2.0 / variation.num_features)
    features = np.cos(points @ frequencies.T + phases)  # (V, F)
    return 1.0 + features @ weights


def performer_rig_parameters(
    rig: Rig, definition: RigDefinition, seed: int, variation: PerformerVariation | None = None
) -> RigParameters:
    """θ_GT for a synthetic performer of ``rig`` (see the module docstring).

    Returns
    -------
    RigParameters
        Offsets of shape ``(K, V, 3)``, float32, centimetres, same control names as ``rig``.
    """
    variation = variation or PerformerVariation()
    rng = np.random.default_rng(seed)
    base = rig.expression_deltas.astype(np.float64)
    num_controls = rig.num_controls
    amplitude = np.exp(rng.normal(0.0, variation.amplitude_sigma, num_controls))
    deltas = base * amplitude[:, None, None]
    regions = definition.by_region()
    for indices in regions.values():
        for k in indices:
            others = [j for j in indices if j != k]
            if not others:
                continue
            for j in rng.choice(others, size=min(len(others), int(rng.integers(1, 3))), replace=False):
                deltas[k] += rng.normal(0.0, variation.crosstalk_sigma) * base[j]
    x = rig.neutral[:, 0].astype(np.float64)
    side_gain = 1.0 + variation.asymmetry * np.tanh(x / 3.0)[:, None] * rng.choice([-1.0, 1.0])
    for k in range(num_controls):
        deltas[k] *= _smooth_field(rig.neutral.astype(np.float64), rng, variation) * side_gain
    moves = np.abs(base).sum(axis=0).sum(axis=1) > 0  # vertices some shape moves
    deltas[:, ~moves] = 0.0
    return RigParameters(rig.expression_names, deltas.astype(np.float32), {"stage": "theta_GT", "seed": str(seed)})
