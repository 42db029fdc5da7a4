"""Calibration benchmark: how much closer θ_S is to a performer's true rig θ_GT than the animation rig θ_A.

A synthetic performer with rig parameters θ_GT (a parametric model, :mod:`studio.core.performer_model`, or
an npz given with ``--gt-rig``) performs the Simon-Says set. At geometry level each capture is a burst of 30
frames of its embedded landmarks with independent Gaussian noise of σ = ``noise_mm`` per coordinate, averaged
(the neutral likewise); the captures are laid onto the rig's neutral and calibrated into θ_S. θ_A and θ_S are
then compared with θ_GT on two unseen expression sets, ``animator`` and ``random``: the vertex error is the
mean per-vertex L2 distance over the face region between R(c; θ) and R(c; θ_GT), in millimetres; the
landmark error is the same at the 478 embedded landmarks.
"""

from __future__ import annotations

import json
import time

import numpy as np

BURST_FRAMES = 30


def _rig_parameters_from_file(path: str, rig) -> object:
    from studio.core.rig import RigFileError, RigParameters

    data = np.load(path, allow_pickle=False)
    with data:
        if "expression_names" not in data.files or "expression_deltas" not in data.files:
            raise RigFileError(f"{path}: needs expression_names (K,) and expression_deltas (K, V, 3)")
        names = tuple(str(n) for n in data["expression_names"])
        deltas = data["expression_deltas"].astype(np.float32)
    if names != rig.expression_names or deltas.shape != rig.expression_deltas.shape:
        raise RigFileError(f"{path}: expected the {rig.num_controls} ICT controls on {rig.num_vertices} vertices")
    if not np.isfinite(deltas).all():
        raise RigFileError(f"{path}: expression_deltas contains NaN or infinite values")
    return RigParameters(names, deltas, {"stage": "theta_GT", "source": str(path)})


def geometry_captures(gt_points, controls: np.ndarray, names, rng, noise_mm: float, rig_points: np.ndarray):
    """Simon-Says captures at geometry level: noisy 30-frame bursts averaged, laid onto the rig's neutral.

    ``gt_points(controls (E,K)) -> (E,N,3)`` evaluates θ_GT at the landmarks. Returns the pairs.
    """
    from studio.core.burst_capture import average_burst
    from studio.core.calibration import CalibrationPair

    clean = gt_points(np.vstack([np.zeros((1, controls.shape[1])), controls]))  # neutral first
    sigma_cm = noise_mm / 10.0
    means = []
    for points in clean:
        burst = points[None] + rng.normal(0.0, sigma_cm, size=(BURST_FRAMES,) + points.shape)
        mean, _kept, _spread = average_burst(burst)
        means.append(mean)
    neutral = means[0]
    noise_of_mean_mm = noise_mm / np.sqrt(BURST_FRAMES)
    return [
        CalibrationPair(name, c, rig_points + (v - neutral), noise_mm=noise_of_mean_mm)
        for name, c, v in zip(names, controls, means[1:], strict=True)
    ]


def run_calibration_benchmark(
    seed: int = 0, gt_rig: str | None = None, noise_mm: float = 1.0, level: str = "geometry"
) -> dict:
    """Calibrate a synthetic performer's captures and measure θ_A and θ_S against θ_GT (module docstring)."""
    import torch

    from studio.core.calibration import calibrate
    from studio.core.expression_sets import SimonSaysSet, animator_set, random_set
    from studio.core.landmark_embedding import LandmarkEmbedding
    from studio.core.performer_model import performer_rig_parameters
    from studio.core.rig import Rig
    from studio.core.rig_definition import RigDefinition

    if level != "geometry":
        raise ValueError("--level image is not available yet: use --level geometry")
    rig = Rig.ict()
    definition = RigDefinition.ict()
    embedding = LandmarkEmbedding.ict()
    theta_gt = _rig_parameters_from_file(gt_rig, rig) if gt_rig else performer_rig_parameters(rig, definition, seed)
    gt = rig.with_parameters(theta_gt)
    rng = np.random.default_rng(seed)

    simon_says = SimonSaysSet.ict_default()
    expressions = [e for e in simon_says.expressions if e.name != "neutral"]
    controls = np.stack([simon_says.control_vector(e, rig.expression_names) for e in expressions])
    gt_tensors = gt.tensors(dtype=torch.float64)
    neutral_points, _ = rig.tensors(dtype=torch.float64).surface_basis(embedding.points)

    def gt_points(c: np.ndarray) -> np.ndarray:
        return gt_tensors.evaluate_at(torch.as_tensor(c, dtype=torch.float64), embedding.points).numpy()

    pairs = geometry_captures(gt_points, controls, [e.name for e in expressions], rng, noise_mm, neutral_points.numpy())
    started = time.perf_counter()
    result = calibrate(rig, embedding, pairs, definition)
    seconds = time.perf_counter() - started
    calibrated = rig.with_parameters(result.parameters)

    face = rig.group_vertices("face")
    animator, animator_names = animator_set(rig.expression_names)
    evaluation = {"animator": animator, "random": random_set(rig.expression_names, 50, seed + 1000)}
    vertex_error, landmark_error = {}, {}
    for set_name, c in evaluation.items():
        truth = gt.evaluate(c)
        truth_points = gt_points(c)
        vertex_error[set_name], landmark_error[set_name] = {}, {}
        for label, model in (("theta_A", rig), ("theta_S", calibrated)):
            posed = model.evaluate(c)
            vertex_error[set_name][label] = float(10.0 * np.linalg.norm(posed[:, face] - truth[:, face], axis=2).mean())
            points = model.tensors(dtype=torch.float64).evaluate_at(torch.as_tensor(c, dtype=torch.float64), embedding.points)
            landmark_error[set_name][label] = float(10.0 * np.linalg.norm(points.numpy() - truth_points, axis=2).mean())
        a, s = vertex_error[set_name]["theta_A"], vertex_error[set_name]["theta_S"]
        vertex_error[set_name]["reduction"] = float(1.0 - s / a)
    return {
        "benchmark": "calibration",
        "seed": seed,
        "level": level,
        "noise_mm": noise_mm,
        "gt_rig": gt_rig or "parametric (studio.core.performer_model)",
        "expressions": len(pairs),
        "seconds": seconds,
        "vertex_error_mm": vertex_error,
        "landmark_error_mm": landmark_error,
        "animator_expressions": list(animator_names),
        "calibration_report": {k: v for k, v in result.report.items() if isinstance(v, int | float | str)},
    }


if __name__ == "__main__":
    print(json.dumps(run_calibration_benchmark(), indent=2))
