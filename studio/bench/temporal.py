"""``bench temporal``: raw, One-Euro, zero-phase smoothing and the learned temporal model on tracked curves.

The real path: synthetic performers of seeds the model was not trained on (701, 702) perform takes — held
expressions with rests between them, and an emotional take with speech and blinks — rendered, with 10
frames blanked in the middle (no face: a gap), seen by MediaPipe and solved by the landmark tracker without a
filter; each method then filters the raw curves. Measured against the performed truth:

- ``jitter``: mean absolute second difference over frames where the truth rests (all three frames of the
  second difference still), all controls — what a user sees as shaking at rest;
- ``lag_frames``: the shift (frames, sub-frame by a parabola) that best aligns the output with the truth
  over frames where the truth moves;
- ``error``: mean absolute control error over frames with a face;
- ``gap_error``: over the 10 blanked frames; methods that leave a gap empty are scored holding their last
  value (what an export would show), the learned model fills it.

``learned`` is the offline model (8 frames of lookahead, for takes); ``learned_causal`` the live one (no
future), which is the one to compare with One-Euro (also causal). The same figures on synthetic noisy curves
(the training noise model, no image) are the ``diagnostic``.
"""

from __future__ import annotations

import time

import numpy as np

from studio.core.expression.temporal import TemporalModels, denoise_curves, noisy_curves
from studio.core.tracking.take import filter_curves

__all__ = ["curve_figures", "run_temporal_benchmark"]

PERFORMER_SEEDS = (701, 702)
GAP_FRAMES = 10


def _hold_last(curves: np.ndarray) -> np.ndarray:
    out = curves.copy()
    for t in range(1, len(out)):
        if not np.isfinite(out[t]).all():
            out[t] = out[t - 1]
    return out


def curve_figures(output: np.ndarray, truth: np.ndarray, found: np.ndarray, gap: np.ndarray) -> dict:
    """``jitter``, ``lag_frames``, ``error`` and ``gap_error`` of ``output`` (T, K) against ``truth`` (T, K);
    ``found`` marks frames with a face, ``gap`` the blanked ones."""
    output = _hold_last(np.asarray(output, np.float64))
    truth = np.asarray(truth, np.float64)
    second_truth = np.abs(truth[2:] - 2 * truth[1:-1] + truth[:-2]).max(axis=1)
    still = np.abs(np.diff(truth, axis=0)).max(axis=1)
    rest = (second_truth < 1e-6) & (still[1:] < 1e-6) & (still[:-1] < 1e-6) & found[2:] & found[1:-1] & found[:-2]
    second = np.abs(output[2:] - 2 * output[1:-1] + output[:-2])
    jitter = float(second[rest].mean()) if rest.any() else float("nan")
    moving = np.zeros(len(truth), bool)
    moving[1:] = still > 1e-3
    valid = found & moving
    shifts = np.arange(-3, 11)
    costs = []
    for s in shifts:
        index = np.arange(len(truth))
        source = index - s
        ok = valid & (source >= 0) & (source < len(truth))
        costs.append(np.abs(output[index[ok]] - truth[source[ok]]).mean() if ok.any() else np.inf)
    costs = np.array(costs)
    best = int(np.argmin(costs))
    lag = float(shifts[best])
    if 0 < best < len(costs) - 1:
        a, b, c = costs[best - 1], costs[best], costs[best + 1]
        denominator = a - 2 * b + c
        if denominator > 0:
            lag += 0.5 * (a - c) / denominator
    error_frames = found & ~gap
    return {
        "jitter": jitter,
        "lag_frames": lag,
        "error": float(np.abs(output[error_frames] - truth[error_frames]).mean()),
        "gap_error": float(np.abs(output[gap] - truth[gap]).mean()) if gap.any() else float("nan"),
    }


def _methods(raw: np.ndarray, fps: float, models: TemporalModels) -> dict[str, np.ndarray]:
    """Each method's curves, with the settings the studio uses (``track --filter``)."""
    times = np.arange(len(raw)) / fps
    return {
        "raw": raw,
        "one_euro": filter_curves(raw, times, "one-euro", fps),
        "zero_phase": filter_curves(raw, times, "smooth", fps),
        "learned": denoise_curves(models, raw),
        "learned_causal": denoise_curves(models, raw, causal=True),
    }


def _performances(definition, seconds: float, fps: float, seed: int) -> list[tuple[str, np.ndarray]]:
    from studio.core.expression.emotions import EmotionPrototypes, emotion_take_curves
    from studio.core.rig.control_curves import moderate_expression_curves

    frames = int(seconds * fps)
    held = moderate_expression_curves(definition.control_names, frames, fps=fps, seed=seed, max_value=0.8)
    emotional, _ = emotion_take_curves(EmotionPrototypes.for_rig(definition), frames, fps, seed)
    return [("held expressions", held), ("emotional take with speech", emotional)]


def run_temporal_benchmark(seconds: float = 20.0, model: str | None = None, fps: float = 30.0) -> dict:
    """Run both measurements (module docstring).

    Returns
    -------
    dict
        ``methods.<raw|one_euro|zero_phase|learned|learned_causal>.<jitter|lag_frames|error|gap_error>``
        (means over the takes of the real path), ``takes`` (the same per take), ``diagnostic`` (synthetic
        noisy curves), ``targets`` (each target and whether it is met), ``seconds``.
    """
    from studio.core.jobs import run_job
    from studio.core.tracking.rig_bundle import RigBundle
    from studio.render.emotion_data import track_rendered

    started = time.perf_counter()
    bundle = RigBundle.load()
    models, metadata = TemporalModels.load(model, bundle.definition.control_names)
    takes = []
    for seed in PERFORMER_SEEDS:
        for label, truth in _performances(bundle.definition, seconds, fps, seed):
            gap = np.zeros(len(truth), bool)
            start = len(truth) // 2
            gap[start:start + GAP_FRAMES] = True
            raw, _, found = run_job(track_rendered(bundle, truth, seed, fps, blank=gap))
            raw = raw.astype(np.float64)
            figures = {name: curve_figures(out, truth, found, gap) for name, out in _methods(raw, fps, models).items()}
            takes.append({"seed": seed, "take": label, "frames": len(truth), "face_fraction": float(found.mean()),
                          "methods": figures})
    names = list(takes[0]["methods"])
    keys = list(takes[0]["methods"]["raw"])
    methods = {name: {key: float(np.nanmean([t["methods"][name][key] for t in takes])) for key in keys}
               for name in names}

    # the diagnostic: the training noise model on synthetic curves, no image
    from studio.core.expression.temporal import TrackingNoise

    noise = TrackingNoise(**{**metadata["noise"], "sigma": tuple(metadata["noise"]["sigma"]),
                             "clips": tuple(metadata["noise"].get("clips", ()))})
    rng = np.random.default_rng(7)
    diagnostic_takes = []
    for seed in PERFORMER_SEEDS:
        for _, truth in _performances(bundle.definition, seconds, fps, seed + 1000):
            gap = np.zeros(len(truth), bool)
            gap[len(truth) // 2: len(truth) // 2 + GAP_FRAMES] = True
            noisy = noisy_curves(truth[None], noise, rng, scale=(1.0, 1.0), gap_probability=0.0)[0]
            noisy[gap] = np.nan
            found = ~gap
            diagnostic_takes.append({name: curve_figures(out, truth, found, gap)
                                     for name, out in _methods(noisy.astype(np.float64), fps, models).items()})
    diagnostic = {name: {key: float(np.nanmean([t[name][key] for t in diagnostic_takes])) for key in keys}
                  for name in names}
    causal, one_euro, learned, zero = (methods[n] for n in ("learned_causal", "one_euro", "learned", "zero_phase"))
    targets = {
        "causal_jitter_at_most_half_one_euro": causal["jitter"] <= 0.5 * one_euro["jitter"],
        "causal_lag_at_most_one_euro": causal["lag_frames"] <= one_euro["lag_frames"],
        "offline_error_at_most_zero_phase": learned["error"] <= zero["error"],
    }
    return {"benchmark": "temporal", "model": metadata.get("command", ""), "seconds_per_take": seconds,
            "gap_frames": GAP_FRAMES, "methods": methods, "takes": takes, "diagnostic": diagnostic,
            "targets": targets, "seconds": round(time.perf_counter() - started, 1)}
