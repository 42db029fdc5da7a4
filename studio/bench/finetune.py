"""Fine-tuning benchmark: the synthetic study of paper 001 Sec. 10.4 (Table 3) and the metrics of Sec. 10.5.

A synthetic performer with rig parameters θ_GT (the parametric model of :mod:`studio.core.rig.performer_model`,
or an npz given with ``--gt-rig``) performs the ``ict_full`` Simon-Says set at geometry level with the
capture noise model of ``bench calibration`` (30-frame bursts of σ = ``noise_mm`` per coordinate, averaged;
the same captures, so θ_S is the one ``bench calibration`` reports for the seed). θ_A and θ_S are fine-tuned
on those captures into θ̂_A and θ̂_S. Then θ_GT performs the unseen ``animator`` and ``random`` sets, each
pose captured the same way (relative to the session's neutral), and four trackers — the studio's bounded
rig inversion with θ_A, θ̂_A, θ_S, θ̂_S as its rig — track them. Per set and tracker, averaged over poses:
``control_l2`` and ``control_linf`` (against the poses' controls), ``sparsity`` (fraction of controls above
0.1), ``tweaker`` (sum of the tweaker controls), ``vertex_mm`` (mean face-vertex distance between the
animation rig posed with the tracked controls — θ_A for θ_A and θ̂_A, θ_S for θ_S and θ̂_S — and θ_GT posed
with the truth). ``seconds`` is the wall time of θ_S → θ̂_S (``seconds_theta_A_hat`` of θ_A → θ̂_A).
"""

from __future__ import annotations

import json
import time

import numpy as np

TRACKERS = ("theta_A", "theta_A_hat", "theta_S", "theta_S_hat")


def run_finetune_benchmark(
    seed: int = 0,
    gt_rig: str | None = None,
    noise_mm: float = 1.0,
    device: str = "cpu",
    settings: dict | None = None,
) -> dict:
    """Fine-tune θ_A and θ_S on a synthetic performer's captures and compare four trackers (module docstring).

    ``settings`` overrides fields of :class:`studio.core.calibration.finetune.FinetuneSettings` (``noise_margin``...).
    """
    import torch

    from studio.bench.calibration import SyntheticStudy, geometry_captures
    from studio.core.calibration.calibrate import calibrate, mesh_propagator
    from studio.core.calibration.finetune import FinetuneSettings, finetune
    from studio.core.capture.expression_sets import animator_set, random_set
    from studio.core.rig.metrics import animation_metrics, vertex_error_mm
    from studio.core.rig.rig import RigParameters
    from studio.core.tracking.tracker import Tracker

    study = SyntheticStudy(seed, gt_rig, "ict_full")
    rig, definition, embedding, gt, rng = study.rig, study.definition, study.embedding, study.gt, study.rng
    simon_says, rig_points, gt_points = study.simon_says, study.rig_points, study.gt_points
    pairs, neutral = study.captures(noise_mm)
    mesh_propagator(rig, embedding, definition)  # per-rig setup, shared by calibration and fine-tuning
    theta_s = calibrate(rig, embedding, pairs, definition).parameters
    theta_a = RigParameters(rig.expression_names, rig.expression_deltas, {"stage": "theta_A"})
    parameters = {"theta_A": theta_a, "theta_S": theta_s}
    finetune_settings = FinetuneSettings(**(settings or {}))
    reports, seconds = {}, {}
    for base in ("theta_A", "theta_S"):
        started = time.perf_counter()
        result = finetune(
            rig, parameters[base], pairs, definition, simon_says, stage_name=f"{base}_hat",
            tracker_options={"device": device}, settings=finetune_settings,
        )
        seconds[base] = time.perf_counter() - started
        parameters[f"{base}_hat"] = result.parameters
        reports[base] = {k: v for k, v in result.report.to_json().items() if k not in ("per_expression", "spurious")}

    animator, animator_names = animator_set(rig.expression_names)
    evaluation = {"animator": animator, "random": random_set(rig.expression_names, 50, seed + 1000)}
    face = rig.group_vertices("face")
    tweakers = definition.tweaker_indices()
    figures: dict[str, dict[str, dict[str, float]]] = {
        name: {s: {} for s in evaluation} for name in ("control_l2", "control_linf", "sparsity", "tweaker", "vertex_mm")
    }
    for set_name, truth in evaluation.items():
        captured, _ = geometry_captures(
            gt_points, truth, [str(i) for i in range(len(truth))], rng, noise_mm, rig_points, neutral=neutral
        )
        landmarks = np.stack([p.landmarks for p in captured])
        truth_mesh = gt.evaluate(truth)[:, face]
        for label in TRACKERS:
            tracker = Tracker(rig.with_parameters(parameters[label]), embedding, device=device)
            tracked = tracker.solve(landmarks, tracker.performer_neutral(rig_points)).controls
            animation_rig = rig.with_parameters(parameters[label.removesuffix("_hat")])
            vertex = vertex_error_mm(animation_rig.evaluate(tracked)[:, face], truth_mesh)
            metrics = animation_metrics(tracked, tweakers, truth=truth, vertex_error=vertex)
            for name in figures:
                figures[name][set_name][label] = metrics[name]["mean"]
    reduction = {
        name: {
            s: {label: 1.0 - values[label] / values["theta_A"] for label in TRACKERS[1:]} for s, values in sets.items()
        }
        for name, sets in figures.items()
        if name != "vertex_mm"
    }
    return {
        "benchmark": "finetune",
        "seed": seed,
        "noise_mm": noise_mm,
        "gt_rig": gt_rig or "parametric (studio.core.rig.performer_model)",
        "expression_set": simon_says.name,
        "expressions": len(pairs),
        **figures,
        "reduction_vs_theta_A": reduction,
        "seconds": seconds["theta_S"],
        "seconds_theta_A_hat": seconds["theta_A"],
        "device": device if device != "cuda" else f"cuda ({torch.cuda.get_device_name(0)})",
        "finetune_reports": reports,
        "animator_expressions": list(animator_names),
    }


if __name__ == "__main__":
    print(json.dumps(run_finetune_benchmark(), indent=2))
