"""Calibration benchmark: how much closer θ_S is to a performer's true rig θ_GT than the animation rig θ_A.

A synthetic performer with rig parameters θ_GT (a parametric model, :mod:`studio.core.rig.performer_model`, or
an npz given with ``--gt-rig``) performs a packaged Simon-Says set (``ict_full`` by default). At geometry level
each capture is a burst of 30 frames of its embedded landmarks with independent Gaussian noise of
σ = ``noise_mm`` per coordinate, averaged (the neutral likewise); the captures are laid onto the rig's neutral
and calibrated into θ_S. At image level the performer is rendered and goes through MediaPipe, burst capture
and the tracker's pose removal exactly as a session does; the rig itself (θ_A) performs the same session so
that MediaPipe's systematic error per expression can be measured and removed (``theta_S``; ``theta_S_raw``
is calibrated from the uncorrected captures). θ_A and θ_S are then compared with θ_GT on two unseen expression sets, ``animator`` and ``random``: the vertex error is the
mean per-vertex L2 distance over the face region between R(c; θ) and R(c; θ_GT), in millimetres; the
landmark error is the same at the 478 embedded landmarks. ``seconds`` times the calibration alone;
``setup_seconds`` the per-rig setup (:func:`studio.core.calibration.calibrate.mesh_propagator`, built once per rig).
"""

from __future__ import annotations

import json
import time

import numpy as np

BURST_FRAMES = 30


def _rig_parameters_from_file(path: str, rig) -> object:
    from studio.core.rig.rig import RigFileError, RigParameters

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


def burst_means(clean: np.ndarray, rng, noise_mm: float) -> np.ndarray:
    """What a burst capture of each exact landmark set ``(E, N, 3)`` (cm) averages to: 30 frames with
    independent Gaussian noise of σ = ``noise_mm`` per coordinate, robustly averaged. Returns ``(E, N, 3)``."""
    from studio.core.capture.burst import average_burst

    sigma_cm = noise_mm / 10.0
    means = []
    for points in clean:
        burst = points[None] + rng.normal(0.0, sigma_cm, size=(BURST_FRAMES,) + points.shape)
        means.append(average_burst(burst)[0])
    return np.stack(means)


def geometry_captures(
    gt_points, controls: np.ndarray, names, rng, noise_mm: float, rig_points: np.ndarray, neutral=None
):
    """Simon-Says captures at geometry level: noisy 30-frame bursts averaged, laid onto the rig's neutral.

    ``gt_points(controls (E,K)) -> (E,N,3)`` evaluates θ_GT at the landmarks. The performer's neutral is
    captured first the same way, unless the ``neutral`` ``(N, 3)`` measured earlier in the session is given.
    Returns the pairs and the neutral.
    """
    from studio.core.calibration.calibrate import CalibrationPair

    if neutral is None:
        means = burst_means(gt_points(np.vstack([np.zeros((1, controls.shape[1])), controls])), rng, noise_mm)
        neutral, means = means[0], means[1:]
    else:
        means = burst_means(gt_points(controls), rng, noise_mm)
    noise_of_mean_mm = noise_mm / np.sqrt(BURST_FRAMES)
    pairs = [
        CalibrationPair(name, c, rig_points + (v - neutral), noise_mm=noise_of_mean_mm)
        for name, c, v in zip(names, controls, means, strict=True)
    ]
    return pairs, neutral


def image_captures(rig, definition, theta_gt, seed: int, expression_set: str) -> tuple[list, dict]:
    """Simon-Says captures at image level: the synthetic performer (θ_GT, identity and head motion from
    ``seed``) rendered, MediaPipe, burst capture and the tracker's pose removal, as in a real session.

    Returns the pairs and the capture-quality flags per expression.
    """
    import tempfile

    from studio.core.jobs import run_job
    from studio.core.session.calibrate import calibration_pairs
    from studio.core.session.synthetic import synthetic_session_job
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.synthetic_performer import PromptedPerformerSource

    def source_for(performer):
        return PromptedPerformerSource(performer, seed=seed)

    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as folder:
        job = synthetic_session_job(folder, seed, source_for, expression_set=expression_set, theta_gt=theta_gt)
        session = run_job(job)
        bundle = RigBundle.load(session.rig_name)
        return calibration_pairs(session, bundle.tracker(), definition, session.expression_set_definition())


def _detector_bias_corrected(rig, definition, gt_points, a_points, pairs: list, seed: int, expression_set: str):
    """Remove MediaPipe's systematic error per expression, measured on the rig itself.

    The rig with θ_A performs the same session (same renders, head motion and pipeline); what its captures
    differ from θ_A's exact landmarks is the detector's bias for that expression, subtracted from the
    performer's captures. ``gt_points`` / ``a_points`` map controls ``(E, K)`` to exact landmarks
    ``(E, N, 3)`` of θ_GT / θ_A. Returns the corrected pairs and RMS figures (mm per landmark, mean over
    captures) of the bias, of the corrected captures' remaining error against θ_GT's exact landmarks, and
    of the signal (θ_GT − θ_A at the landmarks) that calibration is after.
    """
    from dataclasses import replace

    from studio.core.rig.rig import RigParameters

    theta_a = RigParameters(rig.expression_names, rig.expression_deltas, {"stage": "theta_A"})
    reference = {p.name: p for p in image_captures(rig, definition, theta_a, seed, expression_set)[0]}
    pairs = [p for p in pairs if p.name in reference]
    controls = np.stack([p.controls for p in pairs]).astype(np.float64)
    exact_a, exact_gt = a_points(controls), gt_points(controls)
    bias = np.stack([reference[p.name].landmarks for p in pairs]) - exact_a
    corrected = [replace(p, landmarks=p.landmarks - b) for p, b in zip(pairs, bias, strict=True)]

    def rms_mm(x: np.ndarray) -> float:
        return float(10.0 * np.sqrt((x**2).sum(axis=2).mean(axis=1)).mean())

    figures = {
        "bias_rms_mm": rms_mm(bias),
        "corrected_error_rms_mm": rms_mm(np.stack([p.landmarks for p in corrected]) - exact_gt),
        "raw_error_rms_mm": rms_mm(np.stack([p.landmarks for p in pairs]) - exact_gt),
        "signal_rms_mm": rms_mm(exact_gt - exact_a),
    }
    return corrected, figures


class SyntheticStudy:
    """The setup that the geometry-level studies share (``bench calibration``, ``bench finetune``).

    The ICT rig (θ_A), its definition and landmark embedding; the performer's θ_GT (``gt_rig`` or the
    parametric model for ``seed``) and its rig ``gt``; the seeded noise generator ``rng``; the packaged
    Simon-Says set and its expressions without the neutral with their controls ``(E, K)``; the rig's neutral
    landmark points ``rig_points`` ``(N, 3)`` cm.
    """

    def __init__(self, seed: int, gt_rig: str | None = None, expression_set: str = "ict_full") -> None:
        import torch

        from studio.core.capture.expression_sets import SimonSaysSet
        from studio.core.rig.performer_model import performer_rig_parameters
        from studio.core.tracking.rig_bundle import RigBundle

        bundle = RigBundle.load()
        self.rig, self.definition, self.embedding = bundle.rig, bundle.definition, bundle.embedding
        self.theta_gt = (
            _rig_parameters_from_file(gt_rig, self.rig)
            if gt_rig
            else performer_rig_parameters(self.rig, self.definition, seed)
        )
        self.gt = self.rig.with_parameters(self.theta_gt)
        self.rng = np.random.default_rng(seed)
        self.simon_says = SimonSaysSet.packaged(expression_set)
        self.expressions = [e for e in self.simon_says.expressions if e.name != "neutral"]
        self.controls = np.stack([self.simon_says.control_vector(e, self.rig.expression_names) for e in self.expressions])
        self._gt_tensors = self.gt.tensors(dtype=torch.float64)
        self._a_tensors = self.rig.tensors(dtype=torch.float64)
        self.rig_points = self._a_tensors.surface_basis(self.embedding.points)[0].numpy()

    def _points(self, tensors, controls: np.ndarray) -> np.ndarray:
        import torch

        return tensors.evaluate_at(torch.as_tensor(controls, dtype=torch.float64), self.embedding.points).numpy()

    def gt_points(self, controls: np.ndarray) -> np.ndarray:
        """θ_GT's exact landmarks for controls ``(E, K)`` → ``(E, N, 3)`` cm."""
        return self._points(self._gt_tensors, controls)

    def a_points(self, controls: np.ndarray) -> np.ndarray:
        """θ_A's exact landmarks for controls ``(E, K)`` → ``(E, N, 3)`` cm."""
        return self._points(self._a_tensors, controls)

    def captures(self, noise_mm: float):
        """The Simon-Says set performed at geometry level (:func:`geometry_captures`): pairs and neutral."""
        names = [e.name for e in self.expressions]
        return geometry_captures(self.gt_points, self.controls, names, self.rng, noise_mm, self.rig_points)


def run_calibration_benchmark(
    seed: int = 0,
    gt_rig: str | None = None,
    noise_mm: float = 1.0,
    level: str = "geometry",
    expression_set: str = "ict_full",
) -> dict:
    """Calibrate a synthetic performer's captures and measure θ_A and θ_S against θ_GT (module docstring)."""
    import torch

    from studio.core.calibration.calibrate import calibrate, mesh_propagator
    from studio.core.capture.expression_sets import animator_set, random_set

    if level not in ("geometry", "image"):
        raise ValueError(f"unknown level '{level}': use geometry or image")
    study = SyntheticStudy(seed, gt_rig, expression_set)
    rig, definition, embedding, theta_gt, gt = study.rig, study.definition, study.embedding, study.theta_gt, study.gt
    gt_points, a_points = study.gt_points, study.a_points

    flags: dict = {}
    raw_pairs, detector = None, None
    capture_started = time.perf_counter()
    if level == "geometry":
        pairs, _ = study.captures(noise_mm)
    else:
        pairs, flags = image_captures(rig, definition, theta_gt, seed, expression_set)
        raw_pairs = pairs
        pairs, detector = _detector_bias_corrected(
            rig, definition, gt_points, a_points, pairs, seed, expression_set
        )
    capture_seconds = time.perf_counter() - capture_started
    started = time.perf_counter()
    mesh_propagator(rig, embedding, definition)  # per-rig setup, built once when the rig loads
    setup_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = calibrate(rig, embedding, pairs, definition)
    seconds = time.perf_counter() - started
    models = {"theta_A": rig, "theta_S": rig.with_parameters(result.parameters)}
    if raw_pairs is not None:  # image level: θ_S from the captures as MediaPipe saw them, without the bias fix
        models["theta_S_raw"] = rig.with_parameters(calibrate(rig, embedding, raw_pairs, definition).parameters)

    face = rig.group_vertices("face")
    animator, animator_names = animator_set(rig.expression_names)
    evaluation = {"animator": animator, "random": random_set(rig.expression_names, 50, seed + 1000)}
    vertex_error, landmark_error = {}, {}
    for set_name, c in evaluation.items():
        truth = gt.evaluate(c)
        truth_points = gt_points(c)
        vertex_error[set_name], landmark_error[set_name] = {}, {}
        for label, model in models.items():
            posed = model.evaluate(c)
            vertex_error[set_name][label] = float(10.0 * np.linalg.norm(posed[:, face] - truth[:, face], axis=2).mean())
            points = model.tensors(dtype=torch.float64).evaluate_at(torch.as_tensor(c, dtype=torch.float64), embedding.points)
            landmark_error[set_name][label] = float(10.0 * np.linalg.norm(points.numpy() - truth_points, axis=2).mean())
        a = vertex_error[set_name]["theta_A"]
        vertex_error[set_name]["reduction"] = float(1.0 - vertex_error[set_name]["theta_S"] / a)
        if "theta_S_raw" in vertex_error[set_name]:
            vertex_error[set_name]["reduction_raw"] = float(1.0 - vertex_error[set_name]["theta_S_raw"] / a)
    return {
        "benchmark": "calibration",
        "seed": seed,
        "level": level,
        "noise_mm": noise_mm if level == "geometry" else None,
        "gt_rig": gt_rig or "parametric (studio.core.rig.performer_model)",
        "expression_set": expression_set,
        "expressions": len(pairs),
        "seconds": seconds,
        "setup_seconds": setup_seconds,
        "capture_seconds": capture_seconds,
        "flagged_captures": {name: messages for name, messages in flags.items() if messages},
        "detector": detector,
        "vertex_error_mm": vertex_error,
        "landmark_error_mm": landmark_error,
        "animator_expressions": list(animator_names),
        "calibration_report": {k: v for k, v in result.report.to_json().items() if isinstance(v, int | float | str)},
        "calibration_seconds": result.report.seconds,
    }


if __name__ == "__main__":
    print(json.dumps(run_calibration_benchmark(), indent=2))
