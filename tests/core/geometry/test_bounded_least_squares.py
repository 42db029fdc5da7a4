"""The exact bounded least-squares solver against scipy's BVLS (pure, fast, no GL)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear

from studio.core.geometry.bounded_least_squares import BoundedLeastSquares, BoundedSolution, bounded_lstsq
from studio.core.rig.rig import SurfacePoints


def scipy_reference(design: np.ndarray, targets: np.ndarray, lower=0.0, upper=1.0, ridge=None) -> np.ndarray:
    """scipy's BVLS per frame, ``(B, K)``; ``max_iter`` raised (its default ``K`` often stops early)."""
    num_controls = design.shape[1]
    if ridge is not None:
        ridge = np.broadcast_to(np.asarray(ridge, float), (num_controls,))
        design = np.vstack([design, np.diag(np.sqrt(ridge))])
        targets = np.hstack([targets, np.zeros((targets.shape[0], num_controls))])
    lower = np.broadcast_to(np.asarray(lower, float), (num_controls,))
    upper = np.broadcast_to(np.asarray(upper, float), (num_controls,))
    fixed = lower == upper  # scipy wants lower < upper: eliminate fixed controls
    loose = ~fixed
    solutions = []
    for target in targets:
        result = lsq_linear(
            design[:, loose],
            target - design[:, fixed] @ lower[fixed],
            bounds=(lower[loose], upper[loose]),
            method="bvls",
            tol=1e-12,
            max_iter=100 * num_controls,
        )
        assert result.status > 0, "scipy's BVLS did not converge"
        x = lower.copy()
        x[loose] = result.x
        solutions.append(x)
    return np.asarray(solutions)


def objective(design: np.ndarray, targets: np.ndarray, x: np.ndarray, ridge=0.0) -> np.ndarray:
    """``||A x − b||² + Σ λ x²`` per frame, ``(B,)``."""
    residual = x @ design.T - targets
    return (residual**2).sum(1) + (np.asarray(ridge) * x**2).sum(1)


def random_problem(rng: np.random.Generator, rows: int, cols: int, frames: int, cond: float | None = None):
    """A design with singular values log-spaced over ``cond`` (or Gaussian) and targets hitting bounds."""
    if cond is None:
        design = rng.standard_normal((rows, cols))
    else:
        left, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
        right, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
        design = (left * np.logspace(0.0, -np.log10(cond), cols)) @ right.T
    truth = np.clip(rng.uniform(-0.5, 1.5, size=(frames, cols)), 0.0, 1.0)  # about half at a bound
    targets = truth @ design.T + 0.01 * rng.standard_normal((frames, rows))
    return design, targets


def solve(design: np.ndarray, targets: np.ndarray, **kwargs) -> BoundedSolution:
    return BoundedLeastSquares(torch.as_tensor(design), **kwargs).solve(torch.as_tensor(targets))


def assert_kkt(solution: BoundedSolution, lower=0.0, upper=1.0) -> None:
    x = solution.x
    assert solution.certified.all()
    assert (x >= torch.as_tensor(lower, dtype=x.dtype)).all() and (x <= torch.as_tensor(upper, dtype=x.dtype)).all()
    assert not (solution.active_lower & solution.active_upper).any()


# ----------------------------------------------------------------------------------------------------------
# (a) well-conditioned random problems
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "cols"), [(12, 3), (40, 10), (120, 30), (300, 53)])
def test_matches_scipy_on_random_problems(rows, cols):
    rng = np.random.default_rng(rows)
    design, targets = random_problem(rng, rows, cols, frames=40)
    solution = solve(design, targets)
    assert_kkt(solution)
    assert solution.x.shape == (40, cols) and solution.x.dtype == torch.float64
    assert solution.iterations.shape == (40,) and solution.iterations.dtype == torch.int64
    np.testing.assert_allclose(solution.x.numpy(), scipy_reference(design, targets), rtol=0, atol=1e-6)
    # The sets match x, and the residual is ||A x − b||.
    x = solution.x.numpy()
    assert np.all(x[solution.active_lower.numpy()] == 0.0) and np.all(x[solution.active_upper.numpy()] == 1.0)
    direct = np.linalg.norm(x @ design.T - targets, axis=1)
    np.testing.assert_allclose(solution.residual.numpy(), direct, rtol=1e-9)


def test_monotone_primal_phase_and_fallback_are_exact():
    rng = np.random.default_rng(7)
    design, targets = random_problem(rng, 60, 20, frames=30, cond=1e2)
    reference = scipy_reference(design, targets)
    # Primal-dual for one iteration only: most frames finish in the monotone primal active-set phase.
    primal = solve(design, targets, primal_dual_iterations=1)
    assert_kkt(primal)
    assert not primal.fallback.any() and (primal.iterations > 1).any()
    np.testing.assert_allclose(primal.x.numpy(), reference, rtol=0, atol=1e-6)
    # One iteration in all: frames not certified by then go to the BVLS fallback, and come back exact.
    fallback = solve(design, targets, max_iterations=1)
    assert fallback.fallback.any() and fallback.certified.all()
    np.testing.assert_allclose(fallback.x.numpy(), reference, rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# (b) ill-conditioned problems
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cond", [1e2, 1e3, 1e4])
def test_ill_conditioned_matches_scipy_x(cond):
    """Strictly convex with cond(AᵀA) = cond² ≤ 1e8: x itself is determined to 1e-6."""
    rng = np.random.default_rng(int(np.log10(cond)))
    design, targets = random_problem(rng, 80, 20, frames=30, cond=cond)
    solution = solve(design, targets)
    assert_kkt(solution)
    np.testing.assert_allclose(solution.x.numpy(), scipy_reference(design, targets), rtol=0, atol=1e-6)


def _near_duplicates(rng: np.random.Generator, rows: int, cols: int, perturbation: float) -> np.ndarray:
    design = rng.standard_normal((rows, cols))
    for k in range(0, cols - 1, 3):  # every third column nearly repeats the one before (L/R split shapes)
        design[:, k + 1] = design[:, k] + perturbation * rng.standard_normal(rows)
    return design


@pytest.mark.parametrize("case", ["cond1e6", "cond1e8", "duplicates1e-7", "exact_duplicates"])
def test_ill_conditioned_matches_scipy_objective(case):
    """cond(AᵀA) ≥ 1e12 or singular: x may not be unique, the optimal objective is (relative 1e-9)."""
    rng = np.random.default_rng(11)
    if case.startswith("cond"):
        design, targets = random_problem(rng, 80, 20, frames=30, cond=float(case[4:]))
    else:
        design = _near_duplicates(rng, 60, 15, 0.0 if case == "exact_duplicates" else 1e-7)
        truth = np.clip(rng.uniform(-0.5, 1.5, size=(30, 15)), 0.0, 1.0)
        targets = truth @ design.T + 0.01 * rng.standard_normal((30, 60))
    solution = solve(design, targets)
    assert_kkt(solution)
    ours = objective(design, targets, solution.x.numpy())
    theirs = objective(design, targets, scipy_reference(design, targets))
    assert np.all(ours <= theirs * (1 + 1e-9))  # never worse than BVLS …
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)  # … and the same optimum
    if case == "exact_duplicates":  # singular free systems: these frames went through the fallback
        assert solution.fallback.any()


# ----------------------------------------------------------------------------------------------------------
# (c) the real ICT rig, (h) why exactness matters
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ict_problem(ict_rig):
    """The ICT rig at 478 random face points: ``A`` (1434, 53) in cm, and targets with many bounds hit."""
    rng = np.random.default_rng(0)
    face = ict_rig.group_vertices("face")
    on_face = np.flatnonzero(np.isin(ict_rig.triangles, face).all(axis=1))
    points = SurfacePoints(
        rng.choice(on_face, size=478, replace=False).astype(np.int64),
        rng.dirichlet(np.ones(3), size=478).astype(np.float32),
    )
    _, delta_points = ict_rig.tensors(dtype=torch.float64).surface_basis(points)
    design = delta_points.reshape(ict_rig.num_controls, -1).T.contiguous().numpy()
    truth = np.clip(rng.uniform(-0.8, 1.2, size=(60, ict_rig.num_controls)), 0.0, 1.0)
    sparse = rng.random((60, ict_rig.num_controls)) < 0.7
    truth[:30][sparse[:30]] = 0.0  # half the frames sparse, as real expressions are
    targets = truth @ design.T + 0.01 * rng.standard_normal((60, design.shape[0]))  # 0.1 mm noise
    return design, targets


def test_ict_rig_matches_scipy(ict_problem):
    design, targets = ict_problem
    assert design.shape == (1434, 53)
    solution = solve(design, targets)
    assert_kkt(solution)
    bound = (solution.active_lower | solution.active_upper).double().mean()
    assert bound > 0.3 and solution.active_upper.any()  # many controls at a bound
    np.testing.assert_allclose(solution.x.numpy(), scipy_reference(design, targets), rtol=0, atol=1e-6)


def test_ict_float32_normal_equations_are_not_exact(ict_problem):
    """Why float64 is the default: in float32 the squared conditioning costs about 2 digits of 1e-6."""
    design, targets = ict_problem
    exact = solve(design, targets).x
    rough = solve(design, targets, dtype=torch.float32).x
    assert rough.dtype == torch.float32
    assert (rough.double() - exact).abs().max() > 1e-4


def test_projected_gradient_with_fixed_budget_is_not_exact(ict_problem):
    """A fixed-budget projected gradient method stops far from the optimum; the active-set solver does not."""
    design, targets = ict_problem
    reference = scipy_reference(design, targets[:10])
    normal = design.T @ design
    rhs = targets[:10] @ design
    step = 1.0 / np.linalg.eigvalsh(normal)[-1]
    x = np.zeros_like(rhs)
    for _ in range(200):
        x = np.clip(x - step * (x @ normal - rhs), 0.0, 1.0)
    assert np.abs(x - reference).max() > 0.05  # cond(AᵀA) ≈ 1e5: 200 steps barely move the small modes
    ours = solve(design, targets[:10]).x.numpy()
    assert np.abs(ours - reference).max() < 1e-6


# ----------------------------------------------------------------------------------------------------------
# (d) ridge, (e) other bounds
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("per_control", [False, True])
def test_ridge_matches_augmented_scipy(per_control):
    rng = np.random.default_rng(3)
    design = _near_duplicates(rng, 50, 12, 1e-3)
    truth = np.clip(rng.uniform(-0.5, 1.5, size=(25, 12)), 0.0, 1.0)
    targets = truth @ design.T + 0.05 * rng.standard_normal((25, 50))
    ridge = rng.uniform(0.0, 0.5, size=12) if per_control else 0.1
    solution = solve(design, targets, ridge=torch.as_tensor(ridge) if per_control else ridge)
    assert_kkt(solution)
    np.testing.assert_allclose(solution.x.numpy(), scipy_reference(design, targets, ridge=ridge), rtol=0, atol=1e-6)
    # residual excludes the ridge term
    direct = np.linalg.norm(solution.x.numpy() @ design.T - targets, axis=1)
    np.testing.assert_allclose(solution.residual.numpy(), direct, rtol=1e-9)


def test_other_bounds_including_infinite():
    rng = np.random.default_rng(5)
    design = rng.standard_normal((40, 8))
    targets = rng.uniform(-3.0, 3.0, size=(30, 8)) @ design.T + 0.1 * rng.standard_normal((30, 40))
    lower = np.array([-1.0, -0.5, 0.0, -np.inf, 0.2, -2.0, -np.inf, 0.5])
    upper = np.array([1.0, 0.5, np.inf, 0.0, 0.2, 2.0, np.inf, 2.5])  # control 4 fixed at 0.2
    solution = solve(design, targets, lower=torch.as_tensor(lower), upper=torch.as_tensor(upper))
    assert_kkt(solution, torch.as_tensor(lower), torch.as_tensor(upper))
    np.testing.assert_allclose(solution.x.numpy(), scipy_reference(design, targets, lower, upper), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(solution.x.numpy()[:, 4], 0.2)
    # the BVLS fallback handles the fixed control too
    forced = solve(design, targets, lower=torch.as_tensor(lower), upper=torch.as_tensor(upper), max_iterations=1)
    assert forced.fallback.any() and forced.certified.all()
    torch.testing.assert_close(forced.x, solution.x, rtol=0, atol=1e-6)
    # scalar bounds other than [0, 1]
    scalar = solve(design, targets, lower=-0.25, upper=0.75)
    np.testing.assert_allclose(scalar.x.numpy(), scipy_reference(design, targets, -0.25, 0.75), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# (f) warm starts, solve_normal, convenience, errors
# ----------------------------------------------------------------------------------------------------------


def test_warm_start_gives_the_same_answer():
    rng = np.random.default_rng(9)
    design, targets = random_problem(rng, 90, 25, frames=50)
    solver = BoundedLeastSquares(torch.as_tensor(design))
    cold = solver.solve(torch.as_tensor(targets))
    # From its own sets: certified in the first iteration.
    again = solver.solve(torch.as_tensor(targets), warm_start=cold)
    assert (again.iterations == 1).all()
    torch.testing.assert_close(again.x, cold.x, rtol=0, atol=1e-12)
    # From another batch's sets, and frame by frame from the previous frame (live tracking).
    shifted = solver.solve(torch.as_tensor(targets), warm_start=solver.solve(torch.as_tensor(targets[::-1].copy())))
    torch.testing.assert_close(shifted.x, cold.x, rtol=0, atol=1e-10)
    previous = None
    for frame in range(len(targets)):
        previous = solver.solve(torch.as_tensor(targets[frame : frame + 1]), warm_start=previous)
        assert previous.certified.all()
        torch.testing.assert_close(previous.x[0], cold.x[frame], rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="warm_start.active_lower"):
        solver.solve(torch.as_tensor(targets[:3]), warm_start=solver.solve(torch.as_tensor(targets[:2])))


def test_solve_normal_and_convenience_agree_with_solve():
    rng = np.random.default_rng(4)
    design, targets = random_problem(rng, 50, 12, frames=20)
    a, b = torch.as_tensor(design), torch.as_tensor(targets)
    solver = BoundedLeastSquares(a)
    full = solver.solve(b)
    normal = solver.solve_normal(b @ a)
    torch.testing.assert_close(normal.x, full.x, rtol=0, atol=1e-12)
    assert torch.isnan(normal.residual).all()
    with_norm = solver.solve_normal(b @ a, targets_squared_norm=(b * b).sum(1))
    torch.testing.assert_close(with_norm.residual, full.residual, rtol=1e-8, atol=1e-10)
    x32 = bounded_lstsq(a, b.float())
    assert x32.dtype == torch.float32 and x32.shape == (20, 12)
    torch.testing.assert_close(x32.double(), full.x, rtol=0, atol=1e-6)
    single = bounded_lstsq(a, b[3])
    assert single.shape == (12,)
    torch.testing.assert_close(single, full.x[3], rtol=0, atol=1e-12)


def test_exact_fit_residual_and_empty_batch():
    rng = np.random.default_rng(2)
    design = rng.standard_normal((30, 6))
    truth = rng.uniform(0.1, 0.9, size=(4, 6))
    solution = solve(design, truth @ design.T)  # interior, noise-free: residual ~ rounding, not sqrt(eps)
    torch.testing.assert_close(solution.x, torch.as_tensor(truth), rtol=0, atol=1e-12)
    assert (solution.residual < 1e-12).all()
    empty = solve(design, np.zeros((0, 30)))
    assert empty.x.shape == (0, 6) and empty.residual.shape == (0,) and empty.certified.shape == (0,)


def test_bad_inputs_raise_one_line_errors():
    rng = np.random.default_rng(1)
    design = torch.as_tensor(rng.standard_normal((20, 4)))
    solver = BoundedLeastSquares(design)
    targets = torch.as_tensor(rng.standard_normal((3, 20)))
    for bad in (float("nan"), float("inf")):
        broken = targets.clone()
        broken[1, 5] = bad
        with pytest.raises(ValueError, match="NaN") as error:
            solver.solve(broken)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match=r"targets must have shape \(\*, 20\)"):
        solver.solve(targets[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        solver.solve_normal(torch.full((2, 4), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        BoundedLeastSquares(torch.full((5, 2), float("nan")))
    with pytest.raises(ValueError, match="lower ≤ upper"):
        BoundedLeastSquares(design, lower=1.0, upper=0.0)
    with pytest.raises(ValueError, match="ridge"):
        BoundedLeastSquares(design, ridge=-1.0)
    with pytest.raises(ValueError, match="lower must have shape"):
        BoundedLeastSquares(design, lower=torch.zeros(3))


# ----------------------------------------------------------------------------------------------------------
# (g) CUDA
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(8)
    design, targets = random_problem(rng, 200, 40, frames=500)
    cpu = solve(design, targets)
    solver = BoundedLeastSquares(torch.as_tensor(design, device="cuda"))
    gpu = solver.solve(torch.as_tensor(targets))  # targets follow the solver to its device
    assert gpu.x.device.type == "cuda" and gpu.certified.all()
    torch.testing.assert_close(gpu.x.cpu(), cpu.x, rtol=0, atol=1e-9)
    previous = None
    for frame in range(5):  # live: single frames on the device, warm-started
        previous = solver.solve(torch.as_tensor(targets[frame : frame + 1], device="cuda"), warm_start=previous)
        torch.testing.assert_close(previous.x.cpu()[0], cpu.x[frame], rtol=0, atol=1e-9)
