"""Benchmark of the offscreen renderer: random moderate ICT expressions rendered to RGB images.

Run ``python -m studio.bench.render --json OUT.json`` (or ``python main.py bench render --json OUT.json``)
with ``STUDIO_ASSETS_DIR`` pointing at the assets (or the asset manager's cache filled).

Each timed frame is one :meth:`OffscreenRenderer.render` call on a :class:`RigState`: rig evaluation,
vertex normals, upload, draw and read-back of the ``(H, W, 3)`` uint8 image.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

from studio.core.rig.rig import Rig
from studio.core.rig.state import RigState


def random_moderate_controls(rng: np.random.Generator, num_controls: int) -> np.ndarray:
    """3–5 random controls at 0.2–0.6, the rest 0; shape ``(K,)``, float32."""
    controls = np.zeros(num_controls, np.float32)
    chosen = rng.choice(num_controls, size=int(rng.integers(3, 6)), replace=False)
    controls[chosen] = rng.uniform(0.2, 0.6, size=len(chosen))
    return controls


def run_render_benchmark(size: int = 512, frames: int = 100, seed: int = 0, warmup: int = 5) -> dict:
    """Render ``frames`` random moderate expressions of the ICT rig at ``size``×``size`` pixels.

    Parameters
    ----------
    size : int
        Image width and height in pixels.
    frames : int
        Number of timed renders.
    seed : int
        Seed of the random expressions.
    warmup : int
        Untimed renders first (shader compilation, buffer allocation).

    Returns
    -------
    dict
        ``renders_per_s``, ``ms_per_render_mean``, ``ms_per_render_p95``, ``ms_per_render_median``,
        ``frames``, ``size``, ``device`` (GL renderer, e.g. ``cpu (llvmpipe (LLVM 15.0.6, 256 bits))``),
        ``gl_renderer``, ``cpu_count``, ``machine``, ``setup_s`` (renderer creation).
    """
    from studio.render.offscreen import OffscreenRenderer

    rig = Rig.ict()
    rng = np.random.default_rng(seed)
    states = [RigState(random_moderate_controls(rng, rig.num_controls)) for _ in range(frames + warmup)]
    start = time.perf_counter()
    with OffscreenRenderer(rig, size=(size, size)) as renderer:
        setup_s = time.perf_counter() - start
        gl_renderer = renderer.gl_renderer
        for state in states[:warmup]:
            renderer.render(state)
        times = []
        for state in states[warmup:]:
            start = time.perf_counter()
            renderer.render(state)
            times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000.0
    software = any(name in gl_renderer.lower() for name in ("llvmpipe", "softpipe", "swrast"))
    return {
        "benchmark": "render",
        "size": size,
        "frames": frames,
        "seed": seed,
        "renders_per_s": round(float(frames / (ms.sum() / 1000.0)), 2),
        "ms_per_render_mean": round(float(ms.mean()), 3),
        "ms_per_render_median": round(float(np.median(ms)), 3),
        "ms_per_render_p95": round(float(np.percentile(ms, 95)), 3),
        "setup_s": round(setup_s, 3),
        "device": f"cpu ({gl_renderer})" if software else f"gpu ({gl_renderer})",
        "gl_renderer": gl_renderer,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


if __name__ == "__main__":  # the CLI is ``python main.py bench ...``; this prints the defaults
    print(json.dumps(run_render_benchmark(), indent=2))
