"""Write a θ_GT for ``bench calibration --gt-rig``: a performer variation that is *not* a gain on θ_A.

The built-in model (:mod:`studio.core.rig.performer_model`) reshapes each shape's own motion. This one scales
each shape by ``exp(N(0, 0.25))`` and then *adds* a smooth random displacement field (random Fourier
features, wavelength about 6 cm) under a broad Gaussian window around the shape's motion (centred on its
motion-weighted centroid, width its motion spread + 2 cm), with an RMS of 25 % of the shape's RMS motion
inside the window. Skin that the shape does not move in θ_A moves a little in θ_GT, so a calibration that
only rescales θ_A's motion cannot explain it.

Usage::

    python scripts/additive_performer.py --seed 0 --out /tmp/additive0.npz
    python main.py bench calibration --seed 0 --gt-rig /tmp/additive0.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from studio.core.io.atomic_files import write_npz_atomic
from studio.core.rig.rig import Rig

FEATURES = 8
WAVELENGTH_CM = 6.0
AMPLITUDE_SIGMA = 0.25
FIELD_FRACTION = 0.25
WINDOW_MARGIN_CM = 2.0


def additive_performer(rig: Rig, seed: int) -> np.ndarray:
    """θ_GT offsets ``(K, V, 3)`` float32, cm, for ``rig`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    neutral = rig.neutral.astype(np.float64)
    base = rig.expression_deltas.astype(np.float64)
    rigid = np.zeros(rig.num_vertices, bool)
    rigid[rig.rigid_vertices] = True
    out = base * np.exp(rng.normal(0.0, AMPLITUDE_SIGMA, rig.num_controls))[:, None, None]
    for k in range(rig.num_controls):
        motion = np.linalg.norm(base[k], axis=1)
        if motion.max() <= 0:
            continue
        weight = motion / motion.sum()
        centroid = weight @ neutral
        spread = np.sqrt(weight @ ((neutral - centroid) ** 2).sum(axis=1))
        window = np.exp(-((neutral - centroid) ** 2).sum(axis=1) / (2.0 * (spread + WINDOW_MARGIN_CM) ** 2))
        frequencies = rng.normal(size=(FEATURES, 3)) * (2 * np.pi / WAVELENGTH_CM) / np.sqrt(3.0)
        phases = rng.uniform(0.0, 2 * np.pi, FEATURES)
        field = np.cos(neutral @ frequencies.T + phases) @ rng.normal(size=(FEATURES, 3))  # (V, 3)
        field *= window[:, None]
        inside = window > 0.5
        scale = FIELD_FRACTION * np.sqrt((base[k, inside] ** 2).sum(axis=1).mean())
        scale /= max(np.sqrt((field[inside] ** 2).sum(axis=1).mean()), 1e-12)
        out[k] += scale * field
    out[:, rigid] = base[:, rigid]
    return out.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="npz with expression_names and expression_deltas")
    args = parser.parse_args()
    rig = Rig.ict()
    deltas = additive_performer(rig, args.seed)
    write_npz_atomic(args.out, {"expression_names": np.array(rig.expression_names), "expression_deltas": deltas})
    print(f"wrote {args.out}: {deltas.shape[0]} shapes on {deltas.shape[1]} vertices (cm)")


if __name__ == "__main__":
    main()
