"""Tracker fine-tuning ``θ_R → θ̂`` by implicit differentiation (paper 001, Eq. 10–12 and Sec. 9).

A calibrated animation rig θ_R (θ_S, or the shipped θ_A) still lets the tracker explain geometry with the
wrong controls. Fine-tuning changes the *tracker's* rig θ_T, starting from θ_R, to minimise Eq. 10 over the
Simon-Says pairs ``(c_k, v_k)``:

``Σ_k γ1 ||T(v_k; θ_T) − c_k||² + γ2 ||R(T(v_k; θ_T); θ_R) − v_k||² + γε ||θ_T − θ_R||²``

The animation rig θ_R is never changed; the result θ̂ is a tracking rig (use it with ``track --rig-params``
and apply the tracked controls to θ_R).

**The tracker is a black box.** Its forward pass is the studio's bounded rig inversion
(:func:`studio.core.tracking.tracker.rig_inversion_solver`, the exact active-set solver). ``dT/dθ`` is never
obtained by differentiating the solver; it comes from the implicit equation Eq. 12 with ``∂ṽ/∂θ = 0``,

``∂R/∂c_F · dT_F/dθ = −∂R/∂θ``

solved in least squares over the controls ``F`` that are not at a bound, using only the rig's Jacobians at
the tracker's output (:func:`implicit_jacobian`). For the landmark tracker the rig as the tracker fits it is
``W·(S θ c + rigid)`` with LM rows ``√λ c`` (its coordinate weights and ridge; the 7 rigid-correction
unknowns are unbounded controls of that rig), so Eq. 12 becomes
``dc_F = −Q_FF⁻¹ A_Fᵀ W (dA c)`` and one adjoint solve per frame gives the gradient of any loss
(:meth:`TrackerInversion.vjp`). Optionally the residual term ``Q_FF⁻¹ dA_Fᵀ W r`` — the estimate of
``∂ṽ/∂θ`` that the paper leaves to its supplementary material — is added, which makes the gradient the
exact derivative of the solver's output.

**Parameters.** The tracker sees its rig only at the landmark embedding ``S``, so θ_T is parameterised by
corrections ``δ`` at the corrected landmarks, shape ``(K, Nc, 3)`` cm, spread over the mesh by the
calibration's propagation ``P`` (:class:`studio.core.calibration.calibrate.MeshPropagator`):
``θ_T = θ_R + P δ``; the tracker sees ``S θ_T = S θ_R + (S P) δ`` exactly. ``γε ||θ_T − θ_R||²`` is taken
as ``Σ_j mean_n ||δ_jn||²`` in mm².

**Strategy (Sec. 9.1).** Four stages, each a sequence of short optimisations (Adam on the implicit
gradient) that only *propose* candidates: every iterate is tracked by the full tracker ``T`` on all pairs
and the one with the lowest overall control error (mean L2 over the solved controls) is kept, the
starting point included, so no stage makes the full tracker worse on the pairs.

1. Per expression ``k``, its primary controls ``D_k`` (the expression set's controls that the rig
   definition calls primary; all of its controls when none is) with the restricted tracker ``T_D`` and rig
   ``R_D``: ``γ1 ||T_D(v_k) − c_k,D||² + γ2 ||R_D(T_D(v_k)) − v_k||²`` over θ_D.
2. The same with the filtered tracker ``T_H`` (the full solve, output kept on ``D_k`` only).
3. Stage 2 plus ``γs ||T(v_k)_S||²`` on the expression's spurious controls ``S_k``: controls it does not ask
   for that the full tracker moves above ``spurious_threshold`` (above half of it when the expression set
   lists them as ``must_not_move``).
4. The parameters of each spurious control ``j`` in turn (most spuriously used first), with the full
   ``γ1`` and ``γ2`` terms summed over every relevant expression (where ``j`` is spurious or asked for).

**Noise.** One capture per expression is one noisy sample, and a per-expression optimisation can fit its
noise. Errors and spurious values within ``noise_margin`` standard deviations of what the captures' noise
alone makes of a control (:func:`control_noise_std`) are not fitted, and controls noisier than
``max_noise_std`` (on ICT the gaze and ``eyeWide`` shapes, which barely move the landmarks) are not tuned
at all; they still count when the full tracker judges candidates (``docs/finetuning.md``).

Units: centimetres inside, millimetres in the γ2 and γε terms and in reports; controls unitless.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from studio.core.calibration.calibrate import CalibrationPair, mesh_propagator, per_shape
from studio.core.calibration.reports import BeforeAfter, FinetuneReport, FinetuneStage
from studio.core.capture.expression_sets import SimonSaysSet, must_not_move_indices
from studio.core.geometry.bounded_least_squares import BoundedSolution
from studio.core.jobs import Cancel, JobCancelled, is_cancelled, run_job, with_torch_threads
from studio.core.rig.definition import RigDefinition
from studio.core.rig.rig import Rig, RigParameters
from studio.core.tracking.gaze import GazeModel
from studio.core.tracking.landmark_embedding import LandmarkEmbedding
from studio.core.tracking.tracker import NUM_RIGID, Tracker, rig_inversion_solver, rigid_correction_basis

STAGES = ("primaries", "filtered", "spurious suppressed", "spurious controls")
"""The four stages of paper 001 Sec. 9.1, in order."""


@dataclass(frozen=True)
class FinetuneSettings:
    """Weights and optimiser settings of Eq. 10 and the four stages.

    Attributes
    ----------
    gamma_controls : float
        ``γ1``, per squared control unit.
    gamma_geometry : float
        ``γ2``, per mm² of mean squared landmark error of the animation rig at the tracked controls.
    gamma_parameters : float
        ``γε``, per mm² of ``Σ_j mean_n ||δ_jn||²``.
    gamma_spurious : float
        Weight of stage 3's second ``γ1`` term on the spurious controls.
    iterations : int
        Adam steps per optimisation (each step's iterate is a candidate).
    step_cm : float
        Adam's step size, cm.
    spurious_threshold : float
        A control the expression does not ask for is spurious above this tracked value.
    noise_margin : float
        ``z``: control errors and spurious values within ``z`` standard deviations of what the captures'
        noise alone makes of each control (:func:`control_noise_std`) are not fitted.
    max_noise_std : float
        Controls whose noise standard deviation exceeds this are left alone: their errors do not drive the
        optimisation, they are never spurious and their parameters do not change (the landmarks barely see
        them; fitting them fits the noise). They still count in the full tracker's judgement.
    residual_term : bool
        Add the ``∂ṽ/∂θ`` estimate to Eq. 12 (module docstring); the paper's method leaves it out.
    stages : tuple of int
        Which of the stages 1–4 to run.
    """

    gamma_controls: float = 1.0
    gamma_geometry: float = 0.1
    gamma_parameters: float = 0.01
    gamma_spurious: float = 1.0
    iterations: int = 15
    step_cm: float = 0.005
    spurious_threshold: float = 0.1
    noise_margin: float = 2.0
    max_noise_std: float = 0.025
    residual_term: bool = False
    stages: tuple[int, ...] = (1, 2, 3, 4)


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune_job` returns.

    Attributes
    ----------
    parameters : RigParameters
        θ̂ for the full mesh, deltas ``(K, V, 3)`` float32, cm (a tracking rig).
    landmark_basis : np.ndarray
        θ̂ at the landmarks as the tracker sees it, ``(K, N, 3)``, float64, cm.
    corrections : np.ndarray
        ``δ`` at the corrected landmarks, ``(K, Nc, 3)``, float64, cm.
    report : FinetuneReport
        The settings, per stage the optimisations run and kept, the control L2 before/after (mean and per
        expression), the controls stage 3 suppressed, seconds.
    """

    parameters: RigParameters
    landmark_basis: np.ndarray
    corrections: np.ndarray
    report: FinetuneReport = field(default_factory=FinetuneReport)


# ----------------------------------------------------------------------------------------------------------
# Eq. 12
# ----------------------------------------------------------------------------------------------------------


def implicit_jacobian(
    rig_jacobian: torch.Tensor,
    parameter_jacobian: torch.Tensor,
    free: torch.Tensor,
    ridge: torch.Tensor | None = None,
) -> torch.Tensor:
    """``dT/dθ`` of a tracker from Eq. 12 (``∂ṽ/∂θ = 0``), batched.

    Solves ``∂R/∂c_F · dT_F/dθ = −∂R/∂θ`` in least squares (with LM rows ``√λ I`` when ``ridge`` is given)
    for the free controls; controls at a bound do not move (zero rows).

    Parameters
    ----------
    rig_jacobian : torch.Tensor
        ``∂R/∂c`` at the tracker's output, shape ``(..., M, K)``.
    parameter_jacobian : torch.Tensor
        ``∂R/∂θ`` at the tracker's output, shape ``(..., M, P)``.
    free : torch.Tensor
        Controls not at a bound, shape ``(..., K)``, bool.
    ridge : torch.Tensor, optional
        The tracker's ridge ``λ`` per control, shape ``(K,)``.

    Returns
    -------
    torch.Tensor
        ``dT/dθ``, shape ``(..., K, P)``.
    """
    jacobian = rig_jacobian * free[..., None, :].to(rig_jacobian.dtype)
    normal = jacobian.mT @ jacobian
    if ridge is not None:
        normal = normal + torch.diag_embed(ridge.to(normal.dtype).expand(free.shape))
    pinned = torch.diag_embed((~free).to(normal.dtype))
    return torch.linalg.solve(normal + pinned, -(jacobian.mT @ parameter_jacobian))


# ----------------------------------------------------------------------------------------------------------
# The landmark tracker as a function of its rig
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inversion:
    """The tracker's rig inversion of ``B`` frames with ``C`` of its unknowns.

    Attributes
    ----------
    columns : np.ndarray
        Which unknowns were used, ``(C,)``: controls ``0..K-1``, then the rigid correction ``K..K+R-1``.
    x : np.ndarray
        Solution, ``(B, C)``.
    free : np.ndarray
        Unknowns not at a bound, ``(B, C)``, bool.
    design : np.ndarray
        The weighted design ``W·A`` of the columns, ``(M, C)``, cm.
    normal : np.ndarray
        ``AᵀWA + diag(λ)`` of the columns, ``(C, C)``.
    residual : np.ndarray
        Weighted ``W·(v − A x)``, ``(B, M)``, cm.
    solution : BoundedSolution, optional
        The solver's solution (its active sets warm-start the next inversion of the same frames).
    """

    columns: np.ndarray
    x: np.ndarray
    free: np.ndarray
    design: np.ndarray
    normal: np.ndarray
    residual: np.ndarray
    solution: BoundedSolution | None = None

    def controls(self, num_controls: int) -> np.ndarray:
        """The solved controls laid out over all ``K``, ``(B, K)`` (unused controls 0)."""
        out = np.zeros((self.x.shape[0], num_controls))
        used = self.columns < num_controls
        out[:, self.columns[used]] = self.x[:, used]
        return out

    def rows(self, rows: np.ndarray | Sequence[int]) -> Inversion:
        """The same inversion for some of its frames."""
        rows = np.asarray(rows, int)
        return Inversion(self.columns, self.x[rows], self.free[rows], self.design, self.normal, self.residual[rows])


class TrackerInversion:
    """The tracker's forward pass as a function of its rig at the landmarks, and Eq. 12's adjoint.

    Parameters
    ----------
    tracker : Tracker
        The tracker whose settings (coordinate weights, ridge, device, gaze) are used. Controls its gaze model
        reads are not solved for (:attr:`solved`).
    neutral_points : np.ndarray
        The performer's neutral the displacements are taken from, rig space ``(N, 3)``, cm (the rigid
        correction is solved about it); the rig's own :attr:`Tracker.rig_points` for Simon-Says pairs, which
        are laid onto the rig's neutral.
    """

    def __init__(self, tracker: Tracker, neutral_points: np.ndarray) -> None:
        neutral_points = np.asarray(neutral_points, np.float64)
        if neutral_points.shape != tracker.rig_points.shape or not np.isfinite(neutral_points).all():
            raise ValueError(f"neutral_points must be finite with shape {tracker.rig_points.shape}")
        self.num_controls = tracker.rig.num_controls
        self.coordinate_weights = np.asarray(tracker.coordinate_weights, np.float64)
        self.num_points = len(neutral_points)
        self.weights = np.tile(self.coordinate_weights, self.num_points)  # (M,)
        self.rigid = rigid_correction_basis(neutral_points)  # (R, N, 3)
        self.ridge = float(tracker.ridge)
        self.device = tracker.device
        self.solved = np.ones(self.num_controls, bool)
        if tracker.gaze is not None:
            self.solved[[tracker.control_names.index(n) for n in tracker.gaze.gaze_control_names]] = False

    def invert(
        self,
        basis: np.ndarray,
        displacements: np.ndarray,
        controls: np.ndarray | None = None,
        warm_start: Inversion | None = None,
    ) -> Inversion:
        """Solve ``B`` frames with the rig ``basis``.

        Parameters
        ----------
        basis : np.ndarray
            The tracker's rig at the landmarks, ``(K, N, 3)``, cm.
        displacements : np.ndarray
            Landmarks minus the performer's neutral, head pose removed, ``(B, N, 3)``, cm.
        controls : np.ndarray, optional
            Indices of the controls the solve may use (the restricted tracker ``T_D``); all by default.
            The rigid correction is always used.
        warm_start : Inversion, optional
            A previous inversion of the same frames and columns (a nearby rig): its active sets start the
            solver, which then certifies in one or two iterations instead of four or more. The result is
            the same exact optimum.

        Returns
        -------
        Inversion
        """
        total = self.num_controls + NUM_RIGID
        full = np.concatenate([np.asarray(basis, np.float64), self.rigid])
        if controls is None:
            columns = np.arange(total)
        else:
            columns = np.r_[np.sort(np.asarray(controls, int)), np.arange(self.num_controls, total)]
        solver = rig_inversion_solver(full, self.coordinate_weights, self.num_controls, self.ridge, columns, self.device)
        targets = (np.asarray(displacements, np.float64) * self.coordinate_weights).reshape(len(displacements), -1)
        start = warm_start.solution if warm_start is not None and len(warm_start.columns) == len(columns) else None
        solution = solver.solve(torch.as_tensor(targets, device=self.device), warm_start=start)
        x = solution.x.cpu().numpy()
        free = ~(solution.active_lower | solution.active_upper).cpu().numpy()
        design = (full[columns] * self.coordinate_weights).reshape(len(columns), -1).T
        normal = solver.normal_matrix.cpu().numpy()
        return Inversion(columns, x, free, design, normal, targets - x @ design.T, solution)

    def vjp(self, inversion: Inversion, grad_x: np.ndarray, residual_term: bool = False) -> np.ndarray:
        """Gradient of a loss of the solved values with respect to the rig at the landmarks (Eq. 12).

        Parameters
        ----------
        inversion : Inversion
            The forward pass, ``B`` frames, ``C`` columns.
        grad_x : np.ndarray
            ``∂loss/∂x``, ``(B, C)`` (the rigid columns normally 0).
        residual_term : bool
            Add the ``∂ṽ/∂θ`` estimate (module docstring), which makes the result exact.

        Returns
        -------
        np.ndarray
            ``∂loss/∂θ_T`` at the landmarks, ``(K, N, 3)``, cm⁻¹ per loss unit (zero for unused controls).
        """
        free = inversion.free
        g = np.where(free, grad_x, 0.0)
        both = free[:, :, None] & free[:, None, :]
        system = np.where(both, inversion.normal[None], 0.0) + np.eye(free.shape[1])[None] * (~free)[:, :, None]
        adjoint = np.linalg.solve(system, g[:, :, None])[:, :, 0]  # (B, C), zero where bound
        grad_design = -(inversion.design @ adjoint.T) @ inversion.x  # (M, C)
        if residual_term:
            grad_design += inversion.residual.T @ adjoint
        grad_rig = grad_design * self.weights[:, None]
        out = np.zeros((self.num_controls, self.num_points * 3))
        used = inversion.columns < self.num_controls
        out[inversion.columns[used]] = grad_rig[:, used].T
        return out.reshape(self.num_controls, self.num_points, 3)


# ----------------------------------------------------------------------------------------------------------
# The four stages
# ----------------------------------------------------------------------------------------------------------


class _Problem:
    """Eq. 10 over ``E`` pairs with ``θ_T = θ_R + (S P) δ`` (module docstring).

    ``margin`` ``(K,)`` is the dead zone of each control's error: ``z`` times its noise standard deviation.
    """

    def __init__(
        self,
        inversion: TrackerInversion,
        base_basis: np.ndarray,
        targets: np.ndarray,
        displacements: np.ndarray,
        operator: np.ndarray,
        corrected: np.ndarray,
        margin: np.ndarray,
        tuned: np.ndarray,
        settings: FinetuneSettings,
    ) -> None:
        self.inversion, self.settings = inversion, settings
        self.tuned = tuned  # (K,) controls whose errors drive the optimisation and whose columns change
        self.base = base_basis  # θ_R at the landmarks: the tracker's start and the animation rig R
        self.targets = targets  # (E, K)
        self.displacements = displacements  # (E, N, 3) cm
        self.operator, self.corrected = operator, corrected
        self.margin = margin  # (K,)
        self.solved = inversion.solved
        self.num_controls, self.num_points = base_basis.shape[:2]
        self.animation = base_basis.reshape(self.num_controls, -1)  # (K, M)

    def basis(self, delta: np.ndarray) -> np.ndarray:
        """The tracker's rig at the landmarks for corrections ``δ`` ``(K, Nc, 3)`` → ``(K, N, 3)``."""
        out = self.base.copy()
        out[:, self.corrected] += per_shape(self.operator, delta)
        return out

    def invert_all(self, delta: np.ndarray, warm_start: Inversion | None = None) -> Inversion:
        """The full tracker on every pair."""
        return self.inversion.invert(self.basis(delta), self.displacements, warm_start=warm_start)

    def control_l2(self, inversion: Inversion) -> np.ndarray:
        """Per pair control L2 error over the solved controls of a full inversion of every pair, ``(E,)``."""
        error = inversion.controls(self.num_controls) - self.targets
        return np.linalg.norm(error[:, self.solved], axis=1)

    def outside_margin(self, values: np.ndarray) -> np.ndarray:
        """Errors or spurious values ``(B, K)`` shrunk towards 0 by the noise margin (the dead zone)."""
        return np.sign(values) * np.maximum(np.abs(values) - self.margin, 0.0)

    def loss(
        self,
        inversion: Inversion,
        rows: np.ndarray,
        asked: Sequence[np.ndarray] | None,
        spurious: Sequence[np.ndarray] | None,
    ) -> tuple[float, np.ndarray]:
        """The γ1 and γ2 terms for the inverted ``rows`` and their gradient ``∂/∂controls`` ``(B, K)``.

        ``asked`` (per row, the controls ``D`` the output is filtered to; all tuned controls when None)
        and ``spurious`` (per row, controls pushed to 0 with ``γs``; none when None).
        """
        s = self.settings
        controls = inversion.controls(self.num_controls)
        keep = np.zeros_like(controls, dtype=bool)
        if asked is None:
            keep[:] = self.tuned
        else:
            for i, d in enumerate(asked):
                keep[i, d] = True
        # R(T_H(v)) sees the filtered output; with the full output (asked None) R sees every control
        kept = controls if asked is None else np.where(keep, controls, 0.0)
        error = self.outside_margin(np.where(keep, controls - self.targets[rows], 0.0))
        value = s.gamma_controls * float((error**2).sum())
        grad = 2.0 * s.gamma_controls * error
        # γ2: mean squared landmark error (mm²) of the animation rig (R_D when filtered) at the output
        difference = kept @ self.animation - self.displacements[rows].reshape(len(rows), -1)
        scale = 100.0 / self.num_points
        value += s.gamma_geometry * scale * float((difference**2).sum())
        grad += s.gamma_geometry * 2.0 * scale * (difference @ self.animation.T) * keep
        if spurious is not None:
            extra = np.zeros_like(controls)
            for i, j in enumerate(spurious):
                extra[i, j] = self.outside_margin(controls[i : i + 1])[0, j]
            value += s.gamma_spurious * float((extra**2).sum())
            grad += 2.0 * s.gamma_spurious * extra
        return value, grad

    def optimize(
        self,
        delta: np.ndarray,
        columns: np.ndarray,
        loss: Callable[[np.ndarray, Inversion], tuple[float, np.ndarray]],
    ) -> tuple[np.ndarray, float, float, float]:
        """Adam on ``δ[columns]``; every iterate is a candidate judged by the full tracker on all pairs.

        ``loss(basis, full_inversion) -> (γ1 + γ2 objective, ∂/∂basis (K, N, 3))``. Returns the iterate with
        the lowest mean control L2 over all pairs (the start when none beats it) and that error, and the
        objective (γε included) at the start and at the chosen iterate.
        """
        s = self.settings
        current = delta.copy()
        first = np.zeros_like(delta[columns])
        second = np.zeros_like(delta[columns])
        full: Inversion | None = None
        best: tuple[np.ndarray, float, float] | None = None
        start_objective = 0.0
        scale = 100.0 / delta.shape[1]  # γε term: Σ_j mean_n ||δ_jn||², mm²
        for step in range(s.iterations + 1):
            basis = self.basis(current)
            full = self.inversion.invert(basis, self.displacements, warm_start=full)
            error = float(self.control_l2(full).mean())
            objective, grad_basis = loss(basis, full)
            objective += s.gamma_parameters * scale * float((current**2).sum())
            if step == 0:
                start_objective = objective
            if best is None or error < best[1] - 1e-12:
                best = (current.copy(), error, objective)
            if step == s.iterations:
                break
            grad = per_shape(self.operator.T, grad_basis[columns][:, self.corrected])
            grad = grad + s.gamma_parameters * 2.0 * scale * current[columns]
            first = 0.9 * first + 0.1 * grad
            second = 0.999 * second + 0.001 * grad**2
            step_size = s.step_cm * np.sqrt(1 - 0.999 ** (step + 1)) / (1 - 0.9 ** (step + 1))
            current[columns] -= step_size * first / (np.sqrt(second) + 1e-12)
        assert best is not None
        return best[0], best[1], start_objective, best[2]


def control_noise_std(inversion: TrackerInversion, basis: np.ndarray, noise_cm: float) -> np.ndarray:
    """Standard deviation of each solved control caused by landmark noise alone, ``(K,)``.

    The unconstrained linearisation of the tracker's solve with ``basis`` ``(K, N, 3)`` for independent
    noise of ``noise_cm`` per coordinate: ``σ² Q⁻¹ AᵀW²A Q⁻¹`` (``A`` the weighted design, ``Q`` its normal
    matrix with ridge). Controls the landmarks barely see (ICT's gaze shapes) have the largest.
    """
    probe = inversion.invert(basis, np.zeros((1, inversion.num_points, 3)))
    weighted = probe.design * inversion.weights[:, None]
    inverse = np.linalg.pinv(probe.normal)
    covariance = noise_cm**2 * inverse @ (weighted.T @ weighted) @ inverse
    return np.sqrt(np.clip(np.diag(covariance), 0.0, None))[: inversion.num_controls]


def _spurious_sets(
    tracked: np.ndarray,
    targets: np.ndarray,
    solved: np.ndarray,
    must_not_move: Sequence[np.ndarray],
    threshold: np.ndarray,
) -> list[np.ndarray]:
    """Per pair, the controls it does not ask for that the tracker moves above ``threshold`` ``(K,)`` (above
    half of it when the expression lists them as ``must_not_move``); ``(E, K)`` tracked → index arrays."""
    out = []
    for values, target, listed in zip(tracked, targets, must_not_move, strict=True):
        limit = threshold.copy()
        limit[listed] *= 0.5
        out.append(np.flatnonzero((target == 0) & solved & (values > limit)))
    return out


def finetune_job(
    rig: Rig,
    parameters: RigParameters,
    pairs: Sequence[CalibrationPair],
    definition: RigDefinition,
    expression_set: SimonSaysSet | None = None,
    *,
    embedding: LandmarkEmbedding | None = None,
    gaze: GazeModel | None = None,
    settings: FinetuneSettings | None = None,
    stage_name: str = "theta_hat",
    tracker_options: dict[str, Any] | None = None,
    cancel: Cancel = None,
) -> Generator[tuple[str, int, int], None, FinetuneResult]:
    """Fine-tune the tracking rig θ_R → θ̂ on Simon-Says pairs (module docstring), as a generator job.

    Parameters
    ----------
    rig : Rig
        The rig (mesh, θ_A); ``parameters`` are applied to it.
    parameters : RigParameters
        θ_R, the animation rig the tracked controls drive (θ_S after calibration, or θ_A).
    pairs : sequence of CalibrationPair
        ``E`` pairs: controls ``(K,)`` and landmarks ``(N, 3)`` cm laid onto the rig's neutral, as
        :func:`studio.core.session.calibrate.calibration_pairs` makes them; their ``noise_mm`` (median)
        sets the noise margin.
    definition : RigDefinition
        Primary and tweaker roles; the propagation's seams.
    expression_set : SimonSaysSet, optional
        Gives each pair's ``must_not_move`` controls (matched by name).
    embedding : LandmarkEmbedding, optional
        The landmark embedding (ICT's by default).
    gaze : GazeModel, optional
        The tracker's gaze model: the controls it reads are neither fitted nor tuned.
    settings : FinetuneSettings, optional
        γ weights and optimiser settings.
    stage_name : str
        ``metadata['stage']`` of the result (``theta_S_hat``, ``theta_A_hat``).
    tracker_options : dict, optional
        Passed to :class:`Tracker` (``ridge``, ``depth_weight``); use the same when tracking with θ̂.
    cancel : callable or event-like, optional
        Checked between optimisations; raises :class:`JobCancelled` with the θ̂ reached so far as
        ``partial`` (a :class:`FinetuneResult`).

    Yields
    ------
    tuple of (str, int, int)
        ``(what, done, total)``, once per optimisation.

    Returns
    -------
    FinetuneResult
    """
    # the solves are small: extra threads cost 3x more than they give (bench finetune)
    return (yield from with_torch_threads(_finetune(
        rig, parameters, pairs, definition, expression_set, embedding, gaze, settings, stage_name,
        tracker_options, cancel,
    ), 1))


def _finetune(
    rig: Rig,
    parameters: RigParameters,
    pairs: Sequence[CalibrationPair],
    definition: RigDefinition,
    expression_set: SimonSaysSet | None,
    embedding: LandmarkEmbedding | None,
    gaze: GazeModel | None,
    settings: FinetuneSettings | None,
    stage_name: str,
    tracker_options: dict[str, Any] | None,
    cancel: Cancel,
) -> Generator[tuple[str, int, int], None, FinetuneResult]:
    started = time.perf_counter()
    s = settings or FinetuneSettings()
    if not pairs:
        raise ValueError("fine-tuning needs at least one (c, v) pair")
    unknown = sorted(set(s.stages) - {1, 2, 3, 4})
    if unknown:
        raise ValueError(f"unknown fine-tuning stages {unknown}: use 1, 2, 3, 4")
    embedding = embedding or LandmarkEmbedding.ict()
    tracker = Tracker(rig.with_parameters(parameters), embedding, gaze=gaze, **(tracker_options or {}))
    inversion = TrackerInversion(tracker, tracker.rig_points)  # the pairs are laid onto the rig's neutral
    targets = np.stack([np.asarray(p.controls, np.float64) for p in pairs])
    if targets.shape[1] != rig.num_controls:
        raise ValueError(f"pair controls must have shape ({rig.num_controls},), got {targets.shape[1:]}")
    landmarks = np.stack([np.asarray(p.landmarks, np.float64) for p in pairs])
    if landmarks.shape[1:] != tracker.rig_points.shape or not np.isfinite(landmarks).all():
        raise ValueError(f"pair landmarks must be finite with shape {tracker.rig_points.shape}")
    propagator = mesh_propagator(rig, embedding, definition)
    noise = [p.noise_mm for p in pairs if p.noise_mm is not None and np.isfinite(p.noise_mm)]
    noise_cm = float(np.median(noise)) / 10.0 if noise else 0.0
    noise_std = control_noise_std(inversion, tracker.landmark_basis, noise_cm)
    margin = s.noise_margin * noise_std
    tuned = inversion.solved & (noise_std <= s.max_noise_std)
    problem = _Problem(
        inversion, tracker.landmark_basis.copy(), targets, landmarks - tracker.rig_points,
        propagator.landmark_operator, np.flatnonzero(propagator.corrected_landmarks), margin, tuned, s,
    )
    names = [p.name for p in pairs]
    primary = np.zeros(rig.num_controls, bool)
    primary[definition.primary_indices()] = True  # a definition lists the controls in its rig's order
    asked = [np.flatnonzero((t != 0) & tuned) for t in targets]
    primaries = [a[primary[a]] if primary[a].any() else a for a in asked]
    must_not_move = [
        must_not_move_indices(expression_set.expression(name), definition)
        if expression_set is not None and name in expression_set.names
        else np.zeros(0, int)
        for name in names
    ]
    threshold = np.maximum(s.spurious_threshold, margin)

    delta = np.zeros((rig.num_controls, len(problem.corrected), 3))
    before = problem.control_l2(problem.invert_all(delta))
    current_error = float(before.mean())
    expressions = [k for k in range(len(pairs)) if len(primaries[k])]
    total = sum(len(expressions) for stage in s.stages if stage < 4)
    done = 0
    stage_reports: list[FinetuneStage] = []
    spurious: list[np.ndarray] = [np.zeros(0, int) for _ in pairs]

    def expression_loss(stage: int, k: int) -> Callable[[np.ndarray, Inversion], tuple[float, np.ndarray]]:
        rows = np.array([k])

        def loss(basis: np.ndarray, full: Inversion) -> tuple[float, np.ndarray]:
            if stage == 1:  # T_D and R_D
                inv = inversion.invert(basis, problem.displacements[rows], controls=primaries[k])
            else:  # T_H: the full solve, filtered to D
                inv = full.rows(rows)
            value, grad = problem.loss(inv, rows, [primaries[k]], [spurious[k]] if stage == 3 else None)
            return value, inversion.vjp(inv, _columns_grad(inv, grad), s.residual_term)

        return loss

    def joint_loss(rows: np.ndarray) -> Callable[[np.ndarray, Inversion], tuple[float, np.ndarray]]:
        def loss(basis: np.ndarray, full: Inversion) -> tuple[float, np.ndarray]:
            inv = full.rows(rows)
            value, grad = problem.loss(inv, rows, None, None)
            return value, inversion.vjp(inv, _columns_grad(inv, grad), s.residual_term)

        return loss

    for stage in s.stages:
        report: dict[str, Any] = {"stage": stage, "name": STAGES[stage - 1], "runs": 0, "accepted": 0,
                                  "objective_before": 0.0, "objective_after": 0.0}
        if stage >= 3:
            tracked = problem.invert_all(delta).controls(rig.num_controls)
            spurious = _spurious_sets(tracked, targets, tuned, must_not_move, threshold)
        if stage < 4:
            runs = [(names[k], primaries[k], expression_loss(stage, k)) for k in expressions]
        else:  # each spurious control in turn, most used first, over every expression it matters to
            usage = np.zeros(rig.num_controls)
            for k, indices in enumerate(spurious):
                usage[indices] += tracked[k, indices]
            order = [int(j) for j in np.argsort(-usage) if usage[j] > 0]
            runs = []
            for j in order:
                rows = np.flatnonzero(np.array([j in sp for sp in spurious]) | (targets[:, j] != 0))
                runs.append((rig.expression_names[j], np.array([j]), joint_loss(rows)))
            total = done + len(runs)
        for label, columns, loss in runs:
            if is_cancelled(cancel):
                partial = _assemble(rig, parameters, propagator, problem, delta, stage_name,
                                    FinetuneReport(control_l2_after=current_error, cancelled_in_stage=stage))
                raise JobCancelled("fine-tuning cancelled", partial=partial)
            yield (f"stage {stage}/4, {STAGES[stage - 1]}: {label}", done, total)
            chosen, error, objective_before, objective_after = problem.optimize(delta, columns, loss)
            report["runs"] += 1
            report["objective_before"] += objective_before
            report["objective_after"] += objective_after
            if error < current_error - 1e-12:
                delta, current_error = chosen, error
                report["accepted"] += 1
            done += 1
        report["control_l2"] = current_error
        stage_reports.append(FinetuneStage(**report))
    yield ("done", total, total)

    after = problem.control_l2(problem.invert_all(delta))
    result_report = FinetuneReport(
        settings=asdict(s),
        theta_R=str(parameters.metadata.get("stage", "theta_R")),
        noise_mm=noise_cm * 10.0,
        untuned=[rig.expression_names[j] for j in np.flatnonzero(inversion.solved & ~tuned)],
        stages=stage_reports,
        control_l2_before=float(before.mean()),
        control_l2_after=float(after.mean()),
        per_expression={n: BeforeAfter(float(b), float(a)) for n, b, a in zip(names, before, after, strict=True)},
        spurious={n: [rig.expression_names[j] for j in sp] for n, sp in zip(names, spurious, strict=True) if len(sp)},
        num_pairs=len(pairs),
    )
    result = _assemble(rig, parameters, propagator, problem, delta, stage_name, result_report)
    return replace(result, report=replace(result.report, seconds=time.perf_counter() - started))


def _columns_grad(inversion: Inversion, grad_controls: np.ndarray) -> np.ndarray:
    """``∂loss/∂controls`` ``(B, K)`` → ``∂loss/∂x`` over the inversion's columns ``(B, C)``."""
    out = np.zeros(inversion.x.shape)
    used = inversion.columns < grad_controls.shape[1]
    out[:, used] = grad_controls[:, inversion.columns[used]]
    return out


def _assemble(
    rig: Rig,
    parameters: RigParameters,
    propagator: Any,
    problem: _Problem,
    delta: np.ndarray,
    stage_name: str,
    report: FinetuneReport,
) -> FinetuneResult:
    """θ̂ on the full mesh: θ_R plus the propagated corrections."""
    deltas = parameters.expression_deltas.astype(np.float64) + propagator.propagate(delta)
    metadata = {
        **{k: v for k, v in parameters.metadata.items() if isinstance(v, str | int | float)},
        "stage": stage_name,
        "theta_R": str(parameters.metadata.get("stage", "theta_R")),
        "created_by": "studio.core.calibration.finetune",
    }
    theta_hat = RigParameters(rig.expression_names, deltas.astype(np.float32), metadata)
    return FinetuneResult(theta_hat, problem.basis(delta), delta, report)


def finetune(
    rig: Rig,
    parameters: RigParameters,
    pairs: Sequence[CalibrationPair],
    definition: RigDefinition,
    expression_set: SimonSaysSet | None = None,
    **options: Any,
) -> FinetuneResult:
    """Fine-tune synchronously: :func:`run_job` of :func:`finetune_job` (same parameters)."""
    return run_job(finetune_job(rig, parameters, pairs, definition, expression_set, **options))
