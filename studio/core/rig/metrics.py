"""Animator metrics of tracked control curves (paper 001, Sec. 10.5), per frame and over a take.

All functions take control values of shape ``(T, K)`` (unitless, in [0, 1]); frames without a face are NaN
rows and are skipped by the take-level means.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A control counts as active above this value (paper 001, Sec. 10.5).
ACTIVE_THRESHOLD = 0.1


def sparsity(values: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Fraction of controls active (above ``threshold``) per frame, shape ``(T,)``; NaN where no face."""
    values = np.asarray(values, np.float64)
    active = (values > threshold).mean(axis=1)
    return np.where(np.isnan(values).any(axis=1), np.nan, active)


def tweaker_usage(values: np.ndarray, tweaker_indices: Sequence[int]) -> np.ndarray:
    """Sum of the tweaker controls per frame, shape ``(T,)``; NaN where no face."""
    values = np.asarray(values, np.float64)
    return values[:, np.asarray(tweaker_indices, int)].sum(axis=1)


def control_errors(values: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame control errors against ground truth, each shape ``(T,)``.

    Returns
    -------
    dict
        ``l2`` (Euclidean norm of the error vector), ``linf`` (largest absolute error) and ``mae`` (mean
        absolute error over the controls).
    """
    error = np.asarray(values, np.float64) - np.asarray(truth, np.float64)
    return {
        "l2": np.linalg.norm(error, axis=1),
        "linf": np.abs(error).max(axis=1),
        "mae": np.abs(error).mean(axis=1),
    }


def take_mean(per_frame: np.ndarray) -> float:
    """Mean over the frames that have a value (NaN frames skipped); NaN when there are none."""
    per_frame = np.asarray(per_frame, np.float64)
    finite = np.isfinite(per_frame)
    return float(per_frame[finite].mean()) if finite.any() else float("nan")


def vertex_error_mm(posed: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean per-vertex distance between two posed meshes (or landmark sets), per frame, shape ``(T,)``, mm.

    Parameters
    ----------
    posed, truth : np.ndarray
        Positions, shape ``(T, V, 3)``, centimetres (the rig's units).
    """
    return 10.0 * np.linalg.norm(np.asarray(posed, np.float64) - np.asarray(truth, np.float64), axis=2).mean(axis=1)


def animation_metrics(
    values: np.ndarray,
    tweaker_indices: Sequence[int],
    truth: np.ndarray | None = None,
    vertex_error: np.ndarray | None = None,
    threshold: float = ACTIVE_THRESHOLD,
) -> dict[str, dict[str, object]]:
    """The animator metrics of a take (paper 001 Sec. 10.5 and Table 3), per frame and averaged.

    Parameters
    ----------
    values : np.ndarray
        Tracked controls, shape ``(T, K)``; NaN rows where no face.
    tweaker_indices : sequence of int
        The rig definition's tweaker controls.
    truth : np.ndarray, optional
        Ground-truth controls ``(T, K)``: adds ``control_l2`` and ``control_linf``.
    vertex_error : np.ndarray, optional
        Per-frame vertex error ``(T,)`` in mm (:func:`vertex_error_mm`): reported as ``vertex_mm``.
    threshold : float
        Sparsity's activity threshold.

    Returns
    -------
    dict
        ``{name: {"per_frame": (T,) array, "mean": float}}`` for ``sparsity`` and ``tweaker`` (and the
        optional ``control_l2``, ``control_linf``, ``vertex_mm``); means skip frames without a value.
    """
    per_frame = {
        "sparsity": sparsity(values, threshold),
        "tweaker": tweaker_usage(values, tweaker_indices),
    }
    if truth is not None:
        errors = control_errors(values, truth)
        per_frame["control_l2"], per_frame["control_linf"] = errors["l2"], errors["linf"]
    if vertex_error is not None:
        per_frame["vertex_mm"] = np.asarray(vertex_error, np.float64)
    return {name: {"per_frame": frames, "mean": take_mean(frames)} for name, frames in per_frame.items()}
