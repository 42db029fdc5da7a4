"""Exact batched box-constrained linear least squares: the tracker's rig inversion.

Per frame ``b`` (a row of ``targets``) this solves

    ``min_c ||A c − b||² + Σ_k λ_k c_k²   subject to   lo ≤ c ≤ hi``

with one design matrix ``A`` shared by all frames. For the tracker (paper 001, Sec. 3–4) ``A`` is the
tracking rig restricted to the landmark embedding, ``S·θ_T`` reshaped to ``(M, K) = (478·3, 53)``
(centimetres per unit control), ``b`` is the head-pose-free landmark displacement ``v̂ − S·neutral``
(centimetres) and ``c`` are the controls, ``0 ≤ c ≤ 1``. The ridge ``λ ≥ 0`` is an optional small
regularizer (cm² per unit control², per control) that makes near-duplicate controls (left/right splits)
unique; it is 0 by default.

Method
------
Because ``A`` is shared, everything happens on the ``K×K`` quadratic program
``min ½ cᵀQc − qᵀc`` with ``Q = AᵀA + diag(λ)`` (formed once) and ``q = Aᵀb`` (one GEMM per batch).

1. **Batched primal-dual active set** (Hintermüller, Ito & Kunisch 2002, a semismooth Newton method).
   Given lower/upper sets, the free controls solve ``Q_FF c_F = q_F − Q_FN c_N`` with the bound controls
   clamped; the sets are then updated from ``c − g/diag(Q)`` with the gradient ``g = Qc − q``. The free
   sets differ per frame, so frames are grouped by free-set size and each group is gathered into one
   dense ``(n, |F|, |F|)`` batch for Cholesky (work ``|F|³``, not ``K³``). Frames leave the loop as soon
   as they are certified, so later iterations only touch the few frames still moving. The start is the
   clamped unconstrained optimum ``Q⁻¹q`` (one ``K×K`` product) or a previous solution's sets
   (``warm_start``). On the ICT rig at MediaPipe's 478 landmarks (sparse expressions, 0.1 mm noise)
   99.9 % of frames certify within 8 iterations, mean ≈ 4.3 (``studio/bench/solver.py``).
2. **Monotone primal active set** (Nocedal & Wright, Alg. 16.3) for frames still moving after
   ``primal_dual_iterations`` (12): the primal-dual method can cycle when ``Q`` is not an M-matrix.
   Feasible iterates, one working-set change per iteration, strictly decreasing objective: finite for
   ``Q ≻ 0``.
3. **KKT certificate** per frame, checked after every solve: free controls inside the bounds and
   stationary (``g_F ≈ 0``), ``g ≥ 0`` on controls at the lower bound and ``g ≤ 0`` at the upper bound,
   each to ``tolerance`` relative to the rounding scale ``(|Q|·max(|c|, |bounds|) + |q|)_k`` of ``g_k``.
   A certified active set determines the optimum; ``c`` is that set's linear solve.
4. **Finite fallback**: frames that did not certify within ``max_iterations``, or whose free system is
   numerically singular (exactly duplicated controls without ridge), are solved by scipy's BVLS (Stark &
   Parker, a finite active-set method) on the equivalent ``K×K`` problem ``min ||R c − d||``, ``R`` the
   triangular QR factor of ``[A; diag(√λ)]`` (conditioned like ``A``, not ``AᵀA``); BVLS's sets are
   polished by one free solve and certified the same way.

Warm starts: with per-frame landmark noise the near-zero controls of a sparse expression flip between
free and bound from frame to frame, so on the ICT rig the previous frame's sets are a *worse* start than
the clamped unconstrained optimum (≈ 4.7 vs 3.8 iterations on a smooth noisy take, and never fewer on a
noise-free one). ``warm_start`` is there for callers whose consecutive active sets do persist.

Precision: working with normal equations squares the condition number, so the working dtype is float64
by default: the free-set solves then carry a relative error of about ``cond(AᵀA)·1e-16`` (the ICT rig at
the 478 landmarks has ``cond(A) ≈ 3.2e2``, ``cond(AᵀA) ≈ 1e5``: measured ``|x − x_scipy| ≤ 1.3e-13``).
In float32 the same solves are off by up to ``1.4e-2`` (median ``1e-5``) on that rig, far from exact;
float32 is accepted but only for rough work. Where ``cond(AᵀA)`` approaches ``1e16`` (exactly or nearly
duplicated controls without ridge) ``x`` is not determined, and the certificate and objective are what
remain exact.

Shapes follow kornia's habit: batch first, checked at entry, torch in and torch out, on the device of
the design matrix (CPU or CUDA).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["BoundedLeastSquares", "BoundedSolution", "bounded_lstsq"]


def _check_shape(name: str, tensor: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {tuple(tensor.shape)}")


def _check_finite(name: str, tensor: torch.Tensor) -> None:
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values; drop frames without a face before solving")


@dataclass(frozen=True)
class BoundedSolution:
    """Solutions of a batch of box-constrained least-squares problems.

    Attributes
    ----------
    x : torch.Tensor
        Optimal controls, shape ``(B, K)``, the solver's working dtype, inside the bounds.
    active_lower : torch.Tensor
        Controls held at the lower bound, shape ``(B, K)``, bool.
    active_upper : torch.Tensor
        Controls held at the upper bound, shape ``(B, K)``, bool.
    iterations : torch.Tensor
        Active-set iterations per frame (primal-dual, then primal, then BVLS's for fallback frames),
        shape ``(B,)``, int64.
    residual : torch.Tensor
        ``||A x − b||``, shape ``(B,)``, working dtype, same units as ``b`` (the ridge term excluded);
        NaN from :meth:`BoundedLeastSquares.solve_normal` unless ``targets_squared_norm`` is given.
    certified : torch.Tensor
        Whether ``x`` passed the KKT check, shape ``(B,)``, bool.
    fallback : torch.Tensor
        Whether the frame needed the BVLS fallback, shape ``(B,)``, bool.
    """

    x: torch.Tensor
    active_lower: torch.Tensor
    active_upper: torch.Tensor
    iterations: torch.Tensor
    residual: torch.Tensor
    certified: torch.Tensor
    fallback: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


class BoundedLeastSquares:
    """Exact solver of ``min ||A c − b||² + Σ λ_k c_k²`` s.t. ``lo ≤ c ≤ hi`` for many ``b`` and one ``A``.

    Parameters
    ----------
    design : torch.Tensor
        Design matrix ``A``, shape ``(M, K)`` with ``M ≥ 1``; for the tracker ``S·θ_T`` as
        ``(478·3, 53)``, centimetres per unit control. Its device is the solver's device.
    lower, upper : float or torch.Tensor
        Bounds ``lo`` and ``hi``, scalars or shape ``(K,)``; ``-inf``/``inf`` allowed, ``lo ≤ hi``.
    ridge : float or torch.Tensor
        Ridge ``λ ≥ 0``, scalar or shape ``(K,)``, in units of ``b²`` per unit control²: a small
        regularizer that makes near-duplicate controls unique (e.g. ``1e-6·mean(diag(AᵀA))``).
    dtype : torch.dtype
        Working precision; float64 (default) is needed for exact answers on ill-conditioned rigs.
    max_iterations : int, optional
        Active-set iterations (primal-dual, then primal) before a frame goes to the BVLS fallback;
        default ``10·K``.
    primal_dual_iterations : int
        Primal-dual iterations before a frame still moving switches to the monotone primal method.
    tolerance : float, optional
        Relative KKT tolerance of the certificate; default ``1000·eps(dtype)`` (``2.2e-13`` in float64).

    Notes
    -----
    Construction forms ``Q = AᵀA + diag(λ)`` in float64 and the pseudo-inverse of ``Q`` (for cold
    starts), once: ``O(M K²)``. The QR factor ``R`` of ``[A; diag(√λ)]`` that the BVLS fallback needs is
    formed the first time a frame falls back (fine-tuning builds a solver per rig and rarely needs it).
    """

    def __init__(
        self,
        design: torch.Tensor,
        lower: float | torch.Tensor = 0.0,
        upper: float | torch.Tensor = 1.0,
        ridge: torch.Tensor | float = 0.0,
        dtype: torch.dtype = torch.float64,
        *,
        max_iterations: int | None = None,
        primal_dual_iterations: int = 12,
        tolerance: float | None = None,
    ) -> None:
        if not isinstance(design, torch.Tensor):
            raise TypeError(f"design must be a torch.Tensor, got {type(design).__name__}")
        _check_shape("design", design, (None, None))
        if design.shape[0] < 1 or design.shape[1] < 1:
            raise ValueError(f"design must have shape (M, K) with M, K ≥ 1, got {tuple(design.shape)}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        _check_finite("design", design)
        device = design.device
        num_controls = design.shape[1]
        f64 = dict(dtype=torch.float64, device=device)

        def per_control(name: str, value: float | torch.Tensor) -> torch.Tensor:
            tensor = torch.as_tensor(value, **f64)
            if tensor.ndim == 0:
                tensor = tensor.expand(num_controls)
            _check_shape(name, tensor, (num_controls,))
            if torch.isnan(tensor).any():
                raise ValueError(f"{name} contains NaN")
            return tensor.clone()

        lo, hi, lam = per_control("lower", lower), per_control("upper", upper), per_control("ridge", ridge)
        if (lo > hi).any() or (lo == np.inf).any() or (hi == -np.inf).any():
            raise ValueError("bounds must satisfy lower ≤ upper, lower < inf and upper > -inf for every control")
        if not bool(torch.isfinite(lam).all()) or (lam < 0).any():
            raise ValueError("ridge must be finite and ≥ 0")

        self.dtype = dtype
        self.device = device
        self.max_iterations = 10 * num_controls if max_iterations is None else int(max_iterations)
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be ≥ 1, got {max_iterations}")
        self.primal_dual_iterations = max(1, min(self.max_iterations, int(primal_dual_iterations)))
        self.tolerance = 1000.0 * torch.finfo(dtype).eps if tolerance is None else float(tolerance)
        if not self.tolerance > 0:
            raise ValueError(f"tolerance must be > 0, got {tolerance}")

        # The QP, formed in float64 whatever the working dtype.
        a64 = design.to(torch.float64)
        gram = a64.T @ a64
        normal = gram + torch.diag(lam)
        normal = 0.5 * (normal + normal.T)
        diagonal = normal.diagonal()
        # Cold start x0 = Q⁺ q (a pseudo-inverse, so that a singular Q still gives a start).
        evals, evecs = torch.linalg.eigh(normal)
        keep = evals > evals.max().clamp_min(0) * num_controls * torch.finfo(torch.float64).eps
        inv_evals = torch.where(keep, 1.0 / torch.where(keep, evals, torch.ones_like(evals)), torch.zeros_like(evals))

        self._design = a64.to(dtype)  # (M, K)
        self._design_t = self._design.T.contiguous()  # (K, M)
        self._gram = gram.to(dtype)  # AᵀA (K, K)
        self._normal = normal.to(dtype)  # Q (K, K)
        self._normal_flat = self._normal.reshape(-1)
        self._normal_abs = self._normal.abs()
        self._inv_diag = (1.0 / torch.where(diagonal > 0, diagonal, torch.ones_like(diagonal))).to(dtype)
        self._pinv = ((evecs * inv_evals) @ evecs.T).to(dtype)
        self._design64, self._ridge64 = a64, lam  # for the fallback's QR
        self._qr: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # fallback's, built on first use

        # Bounds and tolerances.
        self._lower, self._upper = lo.to(dtype), hi.to(dtype)
        self._lower_finite, self._upper_finite = torch.isfinite(lo), torch.isfinite(hi)
        self._finite_box = bool(self._lower_finite.all() and self._upper_finite.all())
        self._movable = (lo < hi) if bool((lo == hi).any()) else None  # None: no control is fixed
        self._zero = torch.zeros((), dtype=dtype, device=device)
        box = torch.maximum(  # the largest finite |bound| of each control
            torch.where(self._lower_finite, lo.abs(), torch.zeros_like(lo)),
            torch.where(self._upper_finite, hi.abs(), torch.zeros_like(hi)),
        ).to(dtype)
        self._box = box
        self._gtol_box = self.tolerance * (box @ self._normal_abs)
        slack = self.tolerance * torch.clamp(box, min=1.0)
        self._lower_tol, self._upper_tol = self._lower - slack, self._upper + slack

    # -- sizes and data -----------------------------------------------------------------------------------

    @property
    def num_controls(self) -> int:
        """``K``, the number of unknowns per frame."""
        return int(self._design.shape[1])

    @property
    def num_targets(self) -> int:
        """``M``, the number of target coordinates per frame (rows of ``A``)."""
        return int(self._design.shape[0])

    @property
    def normal_matrix(self) -> torch.Tensor:
        """``Q = AᵀA + diag(λ)``, shape ``(K, K)``, working dtype."""
        return self._normal

    @property
    def lower(self) -> torch.Tensor:
        """Lower bounds, shape ``(K,)``, working dtype."""
        return self._lower

    @property
    def upper(self) -> torch.Tensor:
        """Upper bounds, shape ``(K,)``, working dtype."""
        return self._upper

    # -- solving ------------------------------------------------------------------------------------------

    @torch.no_grad()
    def solve(self, targets: torch.Tensor, warm_start: BoundedSolution | None = None) -> BoundedSolution:
        """Solve one problem per row of ``targets``.

        Parameters
        ----------
        targets : torch.Tensor
            Right-hand sides ``b``, shape ``(B, M)`` (``B ≥ 0``), same units as ``A``'s rows (centimetres
            for the tracker); moved to the solver's device and dtype. No NaN or infinite values.
        warm_start : BoundedSolution, optional
            A previous solution whose active sets start the iteration (live tracking: the previous
            frame); its ``active_lower``/``active_upper`` have shape ``(B, K)`` or ``(1, K)``.

        Returns
        -------
        BoundedSolution
            ``x`` ``(B, K)`` and the per-frame sets, iterations, ``residual = ||A x − b||`` and
            certificates, on the solver's device. Not differentiable (computed under ``no_grad``).

        Raises
        ------
        ValueError
            On a wrong shape or NaN/infinite targets (one line).
        """
        _check_shape("targets", targets, (None, self.num_targets))
        targets = targets.to(device=self.device, dtype=self.dtype)
        rhs = targets @ self._design
        _check_finite("targets", rhs)  # NaN/inf in b reach q = Aᵀb (0·NaN = NaN); checked again below
        solution = self._solve_qp(rhs, warm_start, targets=targets)
        # ||Ax − b||² = ||b||² − 2qᵀx + xᵀAᵀAx without a second (B, M) product; frames where that
        # cancels more than 6 digits (a near-exact fit) are recomputed directly.
        x = solution.x
        targets_squared = (targets * targets).sum(1)
        squared = targets_squared - 2.0 * (rhs * x).sum(1) + ((x @ self._gram) * x).sum(1)
        _check_finite("targets", squared)
        residual = squared.clamp_min(0.0).sqrt()
        close = torch.nonzero(squared <= 1e-6 * targets_squared).squeeze(1)
        if close.numel():
            residual[close] = torch.linalg.vector_norm(x[close] @ self._design_t - targets[close], dim=1)
        return dataclasses.replace(solution, x=x, residual=residual)

    @torch.no_grad()
    def solve_normal(
        self,
        rhs: torch.Tensor,
        warm_start: BoundedSolution | None = None,
        targets_squared_norm: torch.Tensor | None = None,
    ) -> BoundedSolution:
        """Solve from ``q = Aᵀb`` directly, for callers that already have it.

        Parameters
        ----------
        rhs : torch.Tensor
            ``q = Aᵀb``, shape ``(B, K)``, units of ``A·b``.
        warm_start : BoundedSolution, optional
            As in :meth:`solve`.
        targets_squared_norm : torch.Tensor, optional
            ``||b||²``, shape ``(B,)``; when given, ``residual`` is computed as
            ``sqrt(max(||b||² − 2qᵀx + xᵀAᵀAx, 0))`` (subject to cancellation when the fit is close),
            otherwise it is NaN.

        Returns
        -------
        BoundedSolution
            As in :meth:`solve`.
        """
        _check_shape("rhs", rhs, (None, self.num_controls))
        rhs = rhs.to(device=self.device, dtype=self.dtype)
        _check_finite("rhs", rhs)
        solution = self._solve_qp(rhs, warm_start, targets=None)
        if targets_squared_norm is None:
            residual = torch.full((rhs.shape[0],), float("nan"), dtype=self.dtype, device=self.device)
        else:
            _check_shape("targets_squared_norm", targets_squared_norm, (rhs.shape[0],))
            x = solution.x
            squared = targets_squared_norm.to(self.device, self.dtype) - 2.0 * (rhs * x).sum(1)
            residual = (squared + ((x @ self._gram) * x).sum(1)).clamp_min(0.0).sqrt()
        return dataclasses.replace(solution, residual=residual)

    # -- internals ----------------------------------------------------------------------------------------

    def _initial_sets(self, rhs: torch.Tensor, warm_start: BoundedSolution | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Starting lower/upper sets ``(B, K)``: the warm start's, or those of the clamped unconstrained optimum."""
        batch = rhs.shape[0]
        if warm_start is None:
            unconstrained = rhs @ self._pinv  # Q⁺ q: the pseudo-inverse also gives a start when Q is singular
            lower_set = unconstrained < self._lower
            return lower_set, (unconstrained > self._upper) & ~lower_set
        masks = []
        for name, mask in (("active_lower", warm_start.active_lower), ("active_upper", warm_start.active_upper)):
            if mask.ndim != 2 or mask.shape[1] != self.num_controls or mask.shape[0] not in (1, batch):
                raise ValueError(
                    f"warm_start.{name} must have shape ({batch}, {self.num_controls}) or "
                    f"(1, {self.num_controls}), got {tuple(mask.shape)}"
                )
            masks.append(mask.to(device=self.device, dtype=torch.bool).expand(batch, -1))
        lower_set = masks[0] & self._lower_finite
        return lower_set, masks[1] & ~lower_set & self._upper_finite

    def _solve_free(
        self, rhs: torch.Tensor, lower_set: torch.Tensor, upper_set: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Controls with the bound sets clamped and the free ones solving ``Q_FF c_F = q_F − Q_FN c_N``.

        Frames are grouped by the size of their free set; each group is gathered into one dense batch
        of ``(n, |F|, |F|)`` systems for Cholesky.

        Returns
        -------
        x : torch.Tensor
            Shape ``(B, K)``.
        ok : torch.Tensor
            Shape ``(B,)`` bool, False where the free system is not numerically positive definite.
        free : torch.Tensor
            Shape ``(B, K)`` bool, the free controls.
        """
        batch = rhs.shape[0]
        x = torch.where(lower_set, self._lower, torch.where(upper_set, self._upper, self._zero))
        free = ~(lower_set | upper_set)
        reduced = rhs - x @ self._normal
        counts = free.sum(1)
        sizes = torch.bincount(counts, minlength=self.num_controls + 1).tolist()
        ok = torch.ones(batch, dtype=torch.bool, device=rhs.device)
        order = None if batch in sizes else torch.argsort(counts)  # frames sorted by free-set size
        end = 0
        for count, size in enumerate(sizes):
            begin, end = end, end + size
            if count == 0 or size == 0:
                continue
            rows = None if order is None else order[begin:end]
            cols = torch.nonzero(free if rows is None else free[rows])[:, 1].reshape(size, count)
            system = self._normal_flat.take(cols[:, :, None] * self.num_controls + cols[:, None, :])
            factor, info = torch.linalg.cholesky_ex(system)
            group_rhs = (reduced if rows is None else reduced[rows]).gather(1, cols)[..., None]
            half = torch.linalg.solve_triangular(factor, group_rhs, upper=False)
            solved = torch.linalg.solve_triangular(factor.mT, half, upper=True)[..., 0]
            if rows is None:
                x.scatter_(1, cols, solved)
                ok = info == 0
            else:
                x[rows] = x[rows].scatter_(1, cols, solved)
                ok[rows] = info == 0
        return x, ok, free

    def _violations(
        self,
        x: torch.Tensor,
        gradient: torch.Tensor,
        gtol: torch.Tensor | None,
        rhs_scale: torch.Tensor,
        lower_set: torch.Tensor,
        upper_set: torch.Tensor,
        free: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """KKT violations beyond tolerance (see the module docstring).

        ``gtol`` ``(B, K)`` is the gradient tolerance when it does not depend on ``x`` (finite bounds),
        else None and it is formed from ``x`` and ``rhs_scale = tolerance·|q|``.

        Returns
        -------
        violated : torch.Tensor
            Shape ``(B, K)`` bool: a free control outside the bounds, or a bound control whose gradient
            points into the box (its multiplier has the wrong sign).
        unsolved : torch.Tensor
            Shape ``(B,)`` bool: a free control has a non-zero gradient, so the free solve itself is
            inaccurate (numerically singular ``Q_FF``).
        """
        if gtol is None:
            gtol = self.tolerance * (torch.maximum(x.abs(), self._box) @ self._normal_abs) + rhs_scale
        outside = (x < self._lower_tol) | (x > self._upper_tol)
        violated = torch.where(lower_set, gradient < -gtol, torch.where(upper_set, gradient > gtol, outside))
        if self._movable is not None:  # a control with lower = upper has a multiplier of either sign
            violated = violated & (self._movable | ~(lower_set | upper_set))
        unsolved = (free & (gradient.abs() > gtol)).any(1)
        return violated, unsolved

    def _solve_qp(
        self, rhs: torch.Tensor, warm_start: BoundedSolution | None, targets: torch.Tensor | None
    ) -> BoundedSolution:
        """The phases of the module docstring; returns a solution with an empty ``residual``."""
        batch = rhs.shape[0]
        lower_set, upper_set = self._initial_sets(rhs, warm_start)
        rhs_scale = self.tolerance * rhs.abs()
        # With finite bounds the rounding scale max(|c|, |bounds|) is the bounds' (x stays inside).
        gtol = self._gtol_box + rhs_scale if self._finite_box else None
        iterations = torch.zeros(batch, dtype=torch.int64, device=self.device)
        work: torch.Tensor | None = None  # frames still iterating; None while that is all of them
        w_rhs, w_scale, w_gtol, w_lower, w_upper = rhs, rhs_scale, gtol, lower_set, upper_set
        for iteration in range(1, self.primal_dual_iterations + 1):
            w_x, ok, free = self._solve_free(w_rhs, w_lower, w_upper)
            gradient = w_x @ self._normal - w_rhs
            violated, unsolved = self._violations(w_x, gradient, w_gtol, w_scale, w_lower, w_upper, free)
            moving = violated.any(1) & ok
            settled = ~ok | (unsolved & ~moving)  # the sets are right but the free solve is not
            if work is None:
                x, certified = w_x, ~(moving | settled)
                iterations.fill_(iteration)
            else:
                x[work], iterations[work], certified[work] = w_x, iteration, ~(moving | settled)
            if not bool(moving.any()):
                break
            # Primal-dual step: all sets at once from c − g/diag(Q).
            trial = w_x - gradient * self._inv_diag
            new_lower = trial < self._lower
            new_upper = (trial > self._upper) & ~new_lower
            if work is None and bool(moving.all()):
                w_lower = lower_set = new_lower
                w_upper = upper_set = new_upper
                continue
            stay = torch.nonzero(moving).squeeze(1)
            if work is None:
                work, certified = stay, certified.clone()
            else:
                work = work[stay]
            w_rhs, w_scale = w_rhs[stay], w_scale[stay]
            w_gtol = None if w_gtol is None else w_gtol[stay]
            w_lower, w_upper = new_lower[stay], new_upper[stay]
            lower_set[work], upper_set[work] = w_lower, w_upper
        else:
            # Frames still moving (the primal-dual method can cycle unless Q is an M-matrix): finish them
            # with the monotone primal active-set method, from their last iterate.
            moving = torch.arange(batch, device=self.device) if work is None else work
            budget = self.max_iterations - self.primal_dual_iterations
            p_x, p_lower, p_upper, p_steps, p_certified = self._primal_active_set(
                rhs[moving], x[moving], lower_set[moving], upper_set[moving], budget
            )
            x, lower_set, upper_set = x.clone(), lower_set.clone(), upper_set.clone()
            x[moving], lower_set[moving], upper_set[moving] = p_x, p_lower, p_upper
            iterations[moving] += p_steps
            certified = certified.clone()
            certified[moving] = p_certified
        fallback = ~certified
        if bool(fallback.any()):
            self._fallback(rhs, targets, x, lower_set, upper_set, iterations, certified, fallback)
        x = torch.minimum(torch.maximum(x, self._lower), self._upper)
        return BoundedSolution(x, lower_set, upper_set, iterations, x.new_empty(0), certified, fallback)

    def _primal_active_set(
        self, rhs: torch.Tensor, x: torch.Tensor, lower_set: torch.Tensor, upper_set: torch.Tensor, budget: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Monotone primal active-set method (Nocedal & Wright, Alg. 16.3) for the frames given.

        Starts from ``x`` clamped into the box, with every control at a bound in the working set. Each
        iteration solves the free system; a step that would leave the box is shortened to the first bound
        it meets, which joins the working set; a full step that lands on a subspace minimum either
        certifies or releases the bound control with the most wrong-signed multiplier. The objective
        decreases monotonically, so no working set repeats and the method is finite for ``Q ≻ 0``.

        Returns ``x``, the lower and upper sets, the iterations used ``(B,)`` and the certificates ``(B,)``.
        """
        batch = rhs.shape[0]
        x = torch.minimum(torch.maximum(x, self._lower), self._upper)
        lower_set = (lower_set | (x <= self._lower)) & self._lower_finite
        upper_set = (upper_set | (x >= self._upper)) & ~lower_set & self._upper_finite
        x = torch.where(lower_set, self._lower, torch.where(upper_set, self._upper, x))
        steps = torch.zeros(batch, dtype=torch.int64, device=self.device)
        certified = torch.zeros(batch, dtype=torch.bool, device=self.device)
        active = torch.ones(batch, dtype=torch.bool, device=self.device)
        scale = self.tolerance * rhs.abs()
        infinity = torch.tensor(float("inf"), dtype=self.dtype, device=self.device)
        for _ in range(budget):
            rows = torch.nonzero(active).squeeze(1)
            if rows.numel() == 0:
                break
            r_x, r_lower, r_upper = x[rows], lower_set[rows], upper_set[rows]
            target, ok, free = self._solve_free(rhs[rows], r_lower, r_upper)
            direction = target - r_x
            ratio = torch.where(
                free & (direction < 0),
                (self._lower - r_x) / direction,
                torch.where(free & (direction > 0), (self._upper - r_x) / direction, infinity),
            ).clamp_min(0.0)
            alpha, blocking = ratio.min(1)
            blocked = (alpha < 1.0) & ok
            # Shortened step: move to the first bound met and add it to the working set.
            step_x = r_x + alpha.clamp(max=1.0)[:, None] * direction
            hit = torch.zeros_like(free).scatter_(1, blocking[:, None], True) & blocked[:, None]
            hit_lower = hit & (direction < 0)
            hit_upper = hit & (direction > 0)
            step_x = torch.where(hit_lower, self._lower, torch.where(hit_upper, self._upper, step_x))
            # Full step: a subspace minimum. Certify, or release the most wrong-signed bound control.
            gradient = target @ self._normal - rhs[rows]
            violated, unsolved = self._violations(target, gradient, None, scale[rows], r_lower, r_upper, free)
            wrong = torch.where(r_lower, -gradient, gradient) * self._inv_diag
            release = torch.zeros_like(free).scatter_(
                1, torch.where(violated, wrong, -infinity).argmax(1, keepdim=True), True
            ) & violated
            done = ~blocked & ok & ~violated.any(1)
            x[rows] = torch.where(blocked[:, None], step_x, target)
            lower_set[rows] = torch.where(blocked[:, None], r_lower | hit_lower, r_lower & ~release)
            upper_set[rows] = torch.where(blocked[:, None], r_upper | hit_upper, r_upper & ~release)
            steps[rows] += 1
            certified[rows] = done & ~unsolved
            active[rows] = ~done & ok
        return x, lower_set, upper_set, steps, certified

    def _fallback_factors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fallback's equivalent ``K×K`` problem ``||R c − d||² = ||A c − b||² + Σλc² − const``, with
        ``[A; diag(√λ)] = Q_R R``, ``d = Q_Rᵀ [b; 0]`` (from b) or ``d = R⁻ᵀ q`` (from q alone): returns
        ``Q_R``'s first ``M`` rows ``(M, K)``, ``R`` ``(K, K)`` and ``pinv(Rᵀ)`` ``(K, K)``, float64."""
        if self._qr is None:
            a64 = self._design64
            orthonormal, triangular = torch.linalg.qr(
                torch.cat([a64, torch.diag(self._ridge64.sqrt())]), mode="reduced"
            )
            self._qr = (orthonormal[: a64.shape[0]], triangular, torch.linalg.pinv(triangular.T))
        return self._qr

    def _fallback(
        self,
        rhs: torch.Tensor,
        targets: torch.Tensor | None,
        x: torch.Tensor,
        lower_set: torch.Tensor,
        upper_set: torch.Tensor,
        iterations: torch.Tensor,
        certified: torch.Tensor,
        fallback: torch.Tensor,
    ) -> None:
        """BVLS on the equivalent ``K×K`` problem ``min ||R c − d||`` for the flagged frames (in place).

        BVLS's active sets are then polished by this solver's own free solve and certified the same way;
        where the polished point does not certify, BVLS's own point is kept and checked.
        """
        from scipy.optimize import lsq_linear

        rows = torch.nonzero(fallback).squeeze(1)
        orthonormal, triangular_t, triangular_t_pinv = self._fallback_factors()
        if targets is not None:
            reduced_targets = targets[rows].to(torch.float64) @ orthonormal
        else:
            reduced_targets = rhs[rows].to(torch.float64) @ triangular_t_pinv.T
        triangular = triangular_t.cpu().numpy()
        lower, upper = self._lower.double().cpu().numpy(), self._upper.double().cpu().numpy()
        fixed = lower == upper  # scipy wants lower < upper: fixed controls are eliminated first
        loose = np.flatnonzero(~fixed)
        reduced_targets = reduced_targets.cpu().numpy() - triangular[:, fixed] @ lower[fixed]
        solved = np.broadcast_to(np.where(fixed, lower, 0.0), (rows.shape[0], self.num_controls)).copy()
        masks = np.broadcast_to(np.where(fixed, -1, 0), (rows.shape[0], self.num_controls)).copy()
        steps = np.zeros(rows.shape[0], np.int64)
        for i, d in enumerate(reduced_targets):
            if loose.size == 0:
                continue
            result = lsq_linear(
                triangular[:, loose],
                d,
                bounds=(lower[loose], upper[loose]),
                method="bvls",
                tol=1e-14,
                max_iter=20 * self.num_controls,
            )
            solved[i, loose], masks[i, loose], steps[i] = result.x, result.active_mask, result.nit
        f_rhs, f_scale = rhs[rows], self.tolerance * rhs[rows].abs()
        mask = torch.as_tensor(masks, device=self.device)
        f_lower = (mask < 0) & self._lower_finite
        f_upper = (mask > 0) & ~f_lower & self._upper_finite
        polished, ok, free = self._solve_free(f_rhs, f_lower, f_upper)
        violated, unsolved = self._violations(
            polished, polished @ self._normal - f_rhs, None, f_scale, f_lower, f_upper, free
        )
        polished_ok = ok & ~violated.any(1) & ~unsolved
        own = torch.as_tensor(solved, dtype=self.dtype, device=self.device)
        own = torch.minimum(torch.maximum(own, self._lower), self._upper)
        violated, unsolved = self._violations(own, own @ self._normal - f_rhs, None, f_scale, f_lower, f_upper, free)
        x[rows] = torch.where(polished_ok[:, None], polished, own)
        lower_set[rows], upper_set[rows] = f_lower, f_upper
        iterations[rows] += torch.as_tensor(steps, device=self.device)
        certified[rows] = polished_ok | (~violated.any(1) & ~unsolved)


def bounded_lstsq(
    design: torch.Tensor,
    targets: torch.Tensor,
    lower: float | torch.Tensor = 0.0,
    upper: float | torch.Tensor = 1.0,
    ridge: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """``argmin_{lo ≤ c ≤ hi} ||A c − b||² + Σ λ_k c_k²`` for each row ``b`` of ``targets`` (exact).

    One-shot convenience around :class:`BoundedLeastSquares` (build it once when ``A`` is reused).

    Parameters
    ----------
    design : torch.Tensor
        ``A``, shape ``(M, K)``.
    targets : torch.Tensor
        ``b``, shape ``(B, M)``, or ``(M,)`` for one frame.
    lower, upper : float or torch.Tensor
        Bounds, scalars or shape ``(K,)``.
    ridge : float or torch.Tensor
        Ridge ``λ ≥ 0``, scalar or shape ``(K,)``.

    Returns
    -------
    torch.Tensor
        Controls, shape ``(B, K)`` (or ``(K,)``), dtype of ``targets`` when floating, else float64.
    """
    single = targets.ndim == 1
    batch = targets[None] if single else targets
    solution = BoundedLeastSquares(design, lower, upper, ridge).solve(batch)
    out_dtype = targets.dtype if targets.is_floating_point() else torch.float64
    x = solution.x.to(out_dtype)
    return x[0] if single else x
