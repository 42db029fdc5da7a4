"""Benchmark of the exact bounded least-squares solver on the tracker's ICT problem.

Run ``python -m studio.bench.solver --json OUT.json`` (or ``python main.py bench solver --json OUT.json``)
with ``STUDIO_ASSETS_DIR`` pointing at the assets (or the asset manager's cache filled).

The problem is the tracker's rig inversion: ``A`` is the ICT rig's 53 blendshapes at 478 surface points,
``(1434, 53)`` centimetres per unit control — MediaPipe's landmark embedding when the packaged one
(``studio/resources/landmarks/``) can be loaded, else random points on the face (random triangles of the
``face`` group, random barycentrics). Targets are realistic random expressions: 2–8 controls on,
uniform in [0.1, 1] with about one frame in two pushing a control to 1, the rest 0, plus Gaussian noise
of 0.01 cm (0.1 mm) per coordinate. Many controls end at a bound, which is what makes the problem hard.

* ``frames_per_s``: one :meth:`BoundedLeastSquares.solve` call on the whole batch (``q = Aᵀb``, the
  active-set iterations, certificates and residuals), best of ``repeats``.
* ``ms_per_frame_live``: single-frame calls on a smooth 30 fps take (keyframes every 0.5 s, linear in
  between, the same noise) with ``warm_start`` = the previous frame's solution, median; the cold-start
  figure (no warm start) is reported beside it.
* ``max_abs_diff_vs_scipy``: max over 200 frames of ``|x − x_scipy|`` with scipy's
  ``lsq_linear(..., method='bvls', tol=1e-12)`` (``max_iter`` raised so that BVLS converges).
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np
import torch

from studio.core.geometry.bounded_least_squares import BoundedLeastSquares
from studio.core.rig.rig import Rig, SurfacePoints

NUM_POINTS = 478
NOISE_CM = 0.01


def random_face_points(rig: Rig, num_points: int, rng: np.random.Generator) -> SurfacePoints:
    """Random points on the rig's ``face`` group: random triangles with random barycentrics.

    Parameters
    ----------
    rig : Rig
        The rig (needs a ``face`` vertex group).
    num_points : int
        ``N``, the number of points.
    rng : np.random.Generator
        Random source.

    Returns
    -------
    SurfacePoints
        ``N`` points, distinct triangles.
    """
    face = rig.group_vertices("face")
    on_face = np.flatnonzero(np.isin(rig.triangles, face).all(axis=1))
    triangle_ids = rng.choice(on_face, size=num_points, replace=False).astype(np.int64)
    barycentrics = rng.dirichlet(np.ones(3), size=num_points).astype(np.float32)
    return SurfacePoints(triangle_ids, barycentrics)


def _landmark_points(rig: Rig, rng: np.random.Generator) -> tuple[SurfacePoints, str]:
    """The packaged MediaPipe landmark embedding when it loads, else random face points."""
    try:
        from studio.core.tracking.landmark_embedding import LandmarkEmbedding

        embedding = LandmarkEmbedding.ict()
        embedding.check_rig(rig)
        return embedding.points, "mediapipe478_embedding"
    except Exception:  # module or packaged file not there yet
        return random_face_points(rig, NUM_POINTS, rng), "random_face_points"


def design_matrix(rig: Rig, points: SurfacePoints, device: str | torch.device = "cpu") -> torch.Tensor:
    """The tracker's rig at surface points: ``A``, shape ``(3N, K)``, float64, cm per unit control."""
    _, delta_points = rig.tensors(device=device, dtype=torch.float64).surface_basis(points)
    return delta_points.reshape(rig.num_controls, -1).T.contiguous()


def random_expressions(rng: np.random.Generator, count: int, num_controls: int) -> np.ndarray:
    """Sparse moderate expressions: 2–8 controls in [0.1, 1], one at 1 in about half; shape ``(B, K)``."""
    controls = np.zeros((count, num_controls))
    for row in controls:
        chosen = rng.choice(num_controls, size=int(rng.integers(2, 9)), replace=False)
        row[chosen] = rng.uniform(0.1, 1.0, size=len(chosen))
        if rng.random() < 0.5:
            row[chosen[0]] = 1.0
    return controls


def smooth_take(rng: np.random.Generator, frames: int, num_controls: int, key_every: int = 15) -> np.ndarray:
    """A smooth take: random expressions every ``key_every`` frames, linear in between; ``(T, K)``."""
    keys = random_expressions(rng, frames // key_every + 2, num_controls)
    times = np.arange(frames) / key_every
    return np.stack([np.interp(times, np.arange(len(keys)), keys[:, k]) for k in range(num_controls)], axis=1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_solver_benchmark(
    batch: int = 10000,
    seed: int = 0,
    device: str = "cpu",
    points: SurfacePoints | None = None,
    live_frames: int = 300,
    scipy_frames: int = 200,
    repeats: int = 3,
) -> dict:
    """Time the exact bounded solver on the ICT tracking problem.

    Parameters
    ----------
    batch : int
        Frames solved in one batched call.
    seed : int
        Seed of the points, expressions and noise.
    device : str
        Torch device (``cpu``, ``cuda``).
    points : SurfacePoints, optional
        The 478 surface points; the packaged landmark embedding or random face points when omitted.
    live_frames : int
        Frames of the smooth take solved one at a time.
    scipy_frames : int
        Frames compared with scipy's BVLS.
    repeats : int
        Batched solves timed; the best is reported.

    Returns
    -------
    dict
        ``frames_per_s``, ``batch_s``, ``ms_per_frame_live`` (warm start, median), ``ms_per_frame_live_p95``,
        ``ms_per_frame_live_cold``, ``live_iterations_mean`` / ``live_iterations_mean_cold``,
        ``certified_fraction``, ``fallback_fraction``, ``iterations_mean``, ``iterations_max``,
        ``max_abs_diff_vs_scipy``, ``max_rel_objective_diff_vs_scipy``, ``free_controls_mean``,
        ``at_bound_fraction``, ``design_shape``, ``design_cond``, ``points``, ``device``,
        ``torch_threads``, ``cpu_count``, ``machine``, ``setup_s``.
    """
    from scipy.optimize import lsq_linear

    rng = np.random.default_rng(seed)
    torch_device = torch.device(device)
    rig = Rig.ict()
    if points is None:
        points, points_source = _landmark_points(rig, rng)
    else:
        points_source = "given"
    design = design_matrix(rig, points, torch_device)
    num_controls = rig.num_controls

    controls = torch.as_tensor(random_expressions(rng, batch, num_controls), device=torch_device)
    noise = torch.as_tensor(rng.normal(0.0, NOISE_CM, size=(batch, design.shape[0])), device=torch_device)
    targets = controls @ design.T + noise

    start = time.perf_counter()
    solver = BoundedLeastSquares(design)
    setup_s = time.perf_counter() - start
    solver.solve(targets[: min(batch, 256)])  # warm-up: allocator, threads
    times = []
    for _ in range(repeats):
        _sync(torch_device)
        start = time.perf_counter()
        solution = solver.solve(targets)
        _sync(torch_device)
        times.append(time.perf_counter() - start)
    batch_s = min(times)

    # Live: one frame per call on a smooth take, warm-started from the previous frame (and cold).
    take = torch.as_tensor(smooth_take(rng, live_frames, num_controls), device=torch_device)
    take_targets = take @ design.T + torch.as_tensor(
        rng.normal(0.0, NOISE_CM, size=(live_frames, design.shape[0])), device=torch_device
    )
    live: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for mode in ("warm", "cold"):
        previous = solver.solve(take_targets[:1])
        ms, iterations = [], []
        for frame in range(live_frames):
            _sync(torch_device)
            start = time.perf_counter()
            previous = solver.solve(take_targets[frame : frame + 1], warm_start=previous if mode == "warm" else None)
            _sync(torch_device)
            ms.append((time.perf_counter() - start) * 1000.0)
            iterations.append(int(previous.iterations[0]))
        live[mode] = (np.asarray(ms), np.asarray(iterations))

    # Exactness against scipy's BVLS on a subset.
    design_np = design.cpu().numpy()
    subset = targets[:scipy_frames].cpu().numpy()
    ours = solution.x[:scipy_frames].cpu().numpy()
    max_diff, max_rel_objective = 0.0, 0.0
    for frame, target in enumerate(subset):
        reference = lsq_linear(design_np, target, bounds=(0.0, 1.0), method="bvls", tol=1e-12, max_iter=100 * num_controls)
        max_diff = max(max_diff, float(np.abs(ours[frame] - reference.x).max()))
        objective = float(np.sum((design_np @ ours[frame] - target) ** 2))
        reference_objective = float(np.sum((design_np @ reference.x - target) ** 2))
        max_rel_objective = max(max_rel_objective, abs(objective - reference_objective) / reference_objective)

    free = ~(solution.active_lower | solution.active_upper)
    iterations = solution.iterations.double()
    warm_ms, warm_iterations = live["warm"]
    cold_ms, cold_iterations = live["cold"]
    return {
        "benchmark": "solver",
        "batch": batch,
        "seed": seed,
        "frames_per_s": round(batch / batch_s, 1),
        "batch_s": round(batch_s, 4),
        "ms_per_frame_live": round(float(np.median(warm_ms)), 4),
        "ms_per_frame_live_p95": round(float(np.percentile(warm_ms, 95)), 4),
        "ms_per_frame_live_cold": round(float(np.median(cold_ms)), 4),
        "live_iterations_mean": round(float(warm_iterations.mean()), 3),
        "live_iterations_mean_cold": round(float(cold_iterations.mean()), 3),
        "certified_fraction": float(solution.certified.double().mean()),
        "fallback_fraction": float(solution.fallback.double().mean()),
        "iterations_mean": round(float(iterations.mean()), 3),
        "iterations_max": int(solution.iterations.max()),
        "max_abs_diff_vs_scipy": max_diff,
        "max_rel_objective_diff_vs_scipy": max_rel_objective,
        "scipy_frames": min(scipy_frames, batch),
        "free_controls_mean": round(float(free.double().sum(1).mean()), 2),
        "at_bound_fraction": round(float((~free).double().mean()), 4),
        "design_shape": list(design.shape),
        "design_cond": float(torch.linalg.cond(design.cpu())),
        "points": points_source,
        "noise_cm": NOISE_CM,
        "device": str(torch_device) if torch_device.type != "cuda" else torch.cuda.get_device_name(torch_device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "setup_s": round(setup_s, 4),
    }


if __name__ == "__main__":  # the CLI is ``python main.py bench ...``; this prints the defaults
    print(json.dumps(run_solver_benchmark(), indent=2))
