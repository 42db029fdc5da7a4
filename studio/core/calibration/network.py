"""Calibrating the learned tracker to one performer (paper 001, Eq. 2–3, for a tracker that skips rig
inversion — its Sec. 11 leaves this open).

The Simon-Says captures are pairs ``(I_k, c_k)``: face crops of the performer holding expression ``k`` and
the controls ``c_k`` the prompt asked for (the neutral: all zero). The network is differentiable, so its
calibration is plain gradient descent on

    Σ_k Σ_{I ∈ I_k} |(1 + g) ⊙ N(I) + b − c_k|₁ / n  +  λ (‖g‖² + ‖b‖²)

over a gain ``g`` and a bias ``b`` per control on the network's output, the network itself kept as trained
on the renders: a few hundred crops of one person overfit anything larger (measured: fine-tuning the MLP head
made held-out expressions 1–37 % worse, whatever its regularisation; docs/inversion.md). ``λ`` is chosen per
performer by leaving expressions out (:data:`LAMBDAS`, the strongest on ties), so a performer whose captures
hold nothing systematic keeps the generic network.

:func:`held_out_network_errors` is the report card for this tracker: the captures are split into folds, the
calibration (with its own choice of ``λ``) is made without each fold and the fold's captures are tracked with
the generic and the calibrated network; the error is ``‖mean_I N(I) − c_k‖`` over the controls, as the
landmark tracker's card measures.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from studio.core.jobs import Cancel, JobCancelled, is_cancelled, run_job
from studio.core.tracking.inversion.network import InversionNetwork, to_input
from studio.core.tracking.inversion.tracker import NetworkTracker

__all__ = ["LAMBDAS", "NetworkPairs", "calibrate_network", "held_out_network_errors", "network_outputs"]

LAMBDAS: tuple[float, ...] = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3)
"""The regularisation weights the calibration chooses from, strongest first."""
STEPS = 300
LEARNING_RATE = 1e-2
INNER_FOLDS = 4


@dataclass
class NetworkPairs:
    """The captures as the network sees them.

    Attributes
    ----------
    names : tuple of str
        The captured expressions (``E``), the neutral included.
    crops : np.ndarray
        ``(n, s, s, 3)`` uint8 face crops, all expressions' together.
    normals : np.ndarray or None
        ``(n, s, s, 3)`` uint8 normal maps of MediaPipe's mesh in the crops (two-branch networks).
    expression : np.ndarray
        ``(n,)`` int64: the expression of each crop, an index into ``names``.
    targets : np.ndarray
        ``(E, K)`` float32: the controls each expression asked for.
    """

    names: tuple[str, ...]
    crops: np.ndarray
    normals: np.ndarray | None
    expression: np.ndarray
    targets: np.ndarray


@torch.no_grad()
def network_outputs(tracker: NetworkTracker, pairs: NetworkPairs, batch: int = 128) -> torch.Tensor:
    """The generic network's raw output (before any calibration, unclamped) for every crop, ``(n, K)``."""
    network = tracker.network.eval()
    parts = []
    for start in range(0, len(pairs.crops), batch):
        rgb = to_input(pairs.crops[start:start + batch], tracker.device)
        normal = to_input(pairs.normals[start:start + batch], tracker.device) if network.uses_normals else None
        parts.append(network.head(network.features(rgb, normal)))
    return torch.cat(parts).cpu() if parts else torch.zeros((0, len(tracker.control_names)))


def _fit(raw: torch.Tensor, targets: torch.Tensor, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    gain = torch.zeros(raw.shape[1], requires_grad=True)
    bias = torch.zeros(raw.shape[1], requires_grad=True)
    optimiser = torch.optim.Adam([gain, bias], lr=LEARNING_RATE)
    with torch.enable_grad():
        for _ in range(STEPS):
            loss = (raw * (1.0 + gain) + bias - targets).abs().mean() + lam * (gain.square().sum() + bias.square().sum())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return gain.detach(), bias.detach()


def _expression_errors(values: torch.Tensor, pairs: NetworkPairs, rows: np.ndarray,
                       expressions: Sequence[int]) -> dict[int, float]:
    """``‖mean of the clamped values of expression k's crops − c_k‖`` for each expression (``rows`` index
    ``values`` by crop)."""
    out = {}
    clamped = values.detach().clamp(0.0, 1.0).numpy()
    for k in expressions:
        mine = pairs.expression[rows] == k
        if mine.any():
            out[k] = float(np.linalg.norm(clamped[mine].mean(axis=0) - pairs.targets[k]))
    return out


def _movable(pairs: NetworkPairs, rows: np.ndarray) -> list[int]:
    present = sorted(set(pairs.expression[rows].tolist()))
    return [k for k in present if pairs.targets[k].any()]


def _choose_lambda(raw: torch.Tensor, pairs: NetworkPairs, rows: np.ndarray) -> tuple[float, dict[float, float]]:
    """λ by leaving expressions out within ``rows`` (module docstring): ``(λ, mean held-out error per λ)``."""
    movable = _movable(pairs, rows)
    folds = min(INNER_FOLDS, len(movable))
    if folds < 2:
        return LAMBDAS[0], {}
    errors: dict[float, list[float]] = {lam: [] for lam in LAMBDAS}
    for fold in range(folds):
        held = movable[fold::folds]
        train = rows[~np.isin(pairs.expression[rows], held)]
        test = rows[np.isin(pairs.expression[rows], held)]
        targets = torch.as_tensor(pairs.targets[pairs.expression[train]])
        for lam in LAMBDAS:
            gain, bias = _fit(raw[train], targets, lam)
            errors[lam] += list(_expression_errors(raw[test] * (1.0 + gain) + bias, pairs, test, held).values())
    means = {lam: float(np.mean(v)) for lam, v in errors.items()}
    best = min(means.values())
    return next(lam for lam in LAMBDAS if means[lam] <= best + 1e-9), means


def _calibrated(tracker: NetworkTracker, gain: torch.Tensor, bias: torch.Tensor, metadata: dict) -> NetworkTracker:
    config = replace(tracker.network.config, calibrated=True)
    network = InversionNetwork(config)
    state = copy.deepcopy(tracker.network.state_dict())
    state.pop("gain", None)
    state.pop("bias", None)
    network.load_state_dict({**state, "gain": gain.clone(), "bias": bias.clone()})
    return NetworkTracker(network.eval(), metadata, tracker.device)


def calibrate_network(
    tracker: NetworkTracker,
    pairs: NetworkPairs,
    raw: torch.Tensor | None = None,
    rows: np.ndarray | None = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, NetworkTracker]:
    """The tracker calibrated to the pairs (module docstring), as a generator job; the given tracker is left
    as it was. ``raw`` (:func:`network_outputs` of ``pairs``) saves recomputing the network; ``rows`` limits
    the calibration to some crops (the report card's folds)."""
    if len(pairs.crops) == 0:
        raise ValueError("no face crops to calibrate the network on")
    torch.manual_seed(0)
    yield ("calibrating the network", 0, 3)
    raw = network_outputs(tracker, pairs) if raw is None else raw
    rows = np.arange(len(pairs.crops)) if rows is None else np.asarray(rows)
    if is_cancelled(cancel):
        raise JobCancelled("calibration of the network cancelled")
    yield ("calibrating the network", 1, 3)
    lam, scores = _choose_lambda(raw, pairs, rows)
    if is_cancelled(cancel):
        raise JobCancelled("calibration of the network cancelled")
    targets = torch.as_tensor(pairs.targets[pairs.expression[rows]])
    gain, bias = _fit(raw[rows], targets, lam)
    before = float((raw[rows].clamp(0, 1) - targets).abs().mean())
    after = float(((raw[rows] * (1.0 + gain) + bias).clamp(0, 1) - targets).abs().mean())
    yield ("calibrating the network", 3, 3)
    metadata = {**tracker.metadata, "calibration": {
        "crops": int(len(rows)), "expressions": len(set(pairs.expression[rows].tolist())), "lambda": lam,
        "held_out_error_by_lambda": {str(k): v for k, v in scores.items()}, "control_l1_before": before,
        "control_l1_after": after, "largest_gain": float(gain.abs().max()), "largest_bias": float(bias.abs().max())}}
    return _calibrated(tracker, gain, bias, metadata)


def held_out_network_errors(
    tracker: NetworkTracker,
    pairs: NetworkPairs,
    folds: int,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, dict[str, dict[str, float]]]:
    """``errors[expression]["network" | "network_calibrated"]`` with every expression held out once (module
    docstring); the neutral is never held out (every calibration needs it)."""
    raw = network_outputs(tracker, pairs)
    everything = np.arange(len(pairs.crops))
    movable = _movable(pairs, everything)
    folds = max(1, min(folds, len(movable)))
    generic = _expression_errors(raw, pairs, everything, movable)
    errors: dict[str, dict[str, float]] = {}
    for fold in range(folds):
        if is_cancelled(cancel):
            raise JobCancelled("the network's report card was cancelled")
        held = movable[fold::folds]
        train = everything[~np.isin(pairs.expression, held)]
        test = everything[np.isin(pairs.expression, held)]
        calibrated = run_job(calibrate_network(tracker, pairs, raw, train, cancel))
        outputs = calibrated.network.calibrate(raw[test])
        for k, error in _expression_errors(outputs, pairs, test, held).items():
            errors[pairs.names[k]] = {"network": generic[k], "network_calibrated": error}
        yield ("report card (network)", fold + 1, folds)
    return errors

