"""Implicit differentiation on the paper's linear 3×3 examples (paper 001, Sec. 7, Tables 1 and 2).

The rig is ``R(c; θ) = Â c`` with ``θ`` the nine entries of ``Â`` (row-major) and the tracker solves
``Â c = v``. Eq. 14 is minimised over ``Â`` by L-BFGS with gradients that come only from Eq. 12
(:func:`studio.core.calibration.finetune.implicit_jacobian`), never from differentiating the solve.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

from studio.core.calibration.finetune import implicit_jacobian


def _parameter_jacobian(c: np.ndarray) -> np.ndarray:
    """Eq. 13: ``∂(Âc)/∂θ`` for the row-major entries of ``Â``, shape ``(3, 9)``."""
    return np.kron(np.eye(3), c[None, :])


def _tracker_jacobian(a_hat: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``dT/dθ`` from Eq. 12 at the tracker's output ``c`` (all controls free), shape ``(3, 9)``."""
    return implicit_jacobian(
        torch.as_tensor(a_hat), torch.as_tensor(_parameter_jacobian(c)), torch.ones(3, dtype=torch.bool)
    ).numpy()


def _optimize(a_rig, controls, geometry, g1=0.0, g2=0.0, geps=0.0, start=None):
    """Minimise Eq. 14 (γ3 vanishes for a square tracker) from ``start`` (identity by default)."""

    def objective(theta):
        a_hat = theta.reshape(3, 3)
        value, grad = geps * float(((a_hat - a_rig) ** 2).sum()), 2 * geps * (a_hat - a_rig).ravel()
        for c_k, v_k in zip(controls.T, geometry.T, strict=True):
            c = np.linalg.solve(a_hat, v_k)  # the tracker: a black box to the gradient
            dc = 2 * g1 * (c - c_k) + 2 * g2 * a_rig.T @ (a_rig @ c - v_k)
            value += g1 * float((c - c_k) @ (c - c_k)) + g2 * float(((a_rig @ c - v_k) ** 2).sum())
            grad += _tracker_jacobian(a_hat, c).T @ dc
        return value, grad

    x0 = (np.eye(3) if start is None else start).ravel()
    result = scipy.optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "ftol": 1e-30, "gtol": 1e-14}
    )
    return result.x.reshape(3, 3)


@pytest.fixture(scope="module")
def linear_data():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 3)) + 2 * np.eye(3)  # the animation rig A
    c = rng.uniform(0.2, 1.0, size=(3, 3))  # three independent pairs
    c = np.column_stack([c, c @ np.array([0.5, 0.3, 0.2])])  # and a fourth, dependent one
    return a, c, a @ c


def _direct_loss(a_hat, controls, geometry):
    """Eq. 15."""
    return float(((controls.T @ a_hat.T - geometry.T) ** 2).sum())


def test_eq12_is_the_derivative_of_the_linear_tracker(linear_data):
    a, c, v = linear_data
    a_hat = a + 0.1 * np.random.default_rng(1).normal(size=(3, 3))
    jacobian = _tracker_jacobian(a_hat, np.linalg.solve(a_hat, v[:, 0]))
    eps = 1e-6
    numeric = np.zeros((3, 9))
    for p in range(9):
        step = np.zeros(9)
        step[p] = eps
        plus = np.linalg.solve(a_hat + step.reshape(3, 3), v[:, 0])
        minus = np.linalg.solve(a_hat - step.reshape(3, 3), v[:, 0])
        numeric[:, p] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(jacobian, numeric, atol=1e-8)


def test_table1_underdetermined(linear_data):
    """Two pairs: the data leave one direction free; only γε brings Â to A (Table 1)."""
    a, c, v = linear_data
    c2, v2 = c[:, :2], v[:, :2]
    minimum_norm = v2 @ np.linalg.pinv(c2)  # A_2, the minimum norm solution of Eq. 15
    results = {
        "g1": _optimize(a, c2, v2, g1=1.0),
        "g2": _optimize(a, c2, v2, g2=1.0),
        "g1+eps": _optimize(a, c2, v2, g1=1.0, geps=1e-3),
        "g2+eps": _optimize(a, c2, v2, g2=1.0, geps=1e-3),
    }
    for name, a_hat in results.items():
        assert _direct_loss(a_hat, c2, v2) < 1e-8, name  # every variant fits the two pairs
        assert ((a_hat - minimum_norm) ** 2).sum() > 0.1, name  # none is the minimum norm solution
    for name in ("g1", "g2"):
        assert ((results[name] - a) ** 2).sum() > 0.1, name  # the free direction stays where it started
    for name in ("g1+eps", "g2+eps"):
        assert ((results[name] - a) ** 2).sum() < 1e-8, name  # γε: Â → A


def test_table2_perturbed_overdetermined(linear_data):
    """Two pairs with V perturbed by 1 %: γ1 wants Â₂*, γ2 wants A; γε settles the free direction."""
    a, c, v = linear_data
    rng = np.random.default_rng(3)
    c2 = c[:, :2]
    v2 = v[:, :2] * (1 + 0.01 * rng.standard_normal((3, 2)))
    third = np.cross(c2[:, 0], c2[:, 1])  # the direction the pairs leave free
    a2_star = np.column_stack([v2, a @ third]) @ np.linalg.inv(np.column_stack([c2, third]))
    g1 = _optimize(a, c2, v2, g1=1.0)
    g2 = _optimize(a, c2, v2, g2=1.0)
    g1_eps = _optimize(a, c2, v2, g1=1.0, geps=1e-4)
    g2_eps = _optimize(a, c2, v2, g2=1.0, geps=1e-4)

    def dist(x, y):
        return float(((x - y) ** 2).sum())

    assert dist(g1, a) > 0.1 and dist(g2, a) > 0.1  # from Â = I neither reaches A nor Â₂*
    assert dist(g1, a2_star) > 0.1 and dist(g2, a2_star) > 0.1
    assert dist(g1_eps, a2_star) < 1e-4  # γ1 & γε: close to Â₂* (which the perturbation keeps off A) ...
    assert dist(g1_eps, a) < 1.5 * dist(a2_star, a) < 0.1 * dist(g1, a)  # ... so only that far from A
    assert dist(g2_eps, a) < 1e-8  # γ2 & γε: Â → A
    assert _direct_loss(g1, c2, v2) < 1e-8  # γ1 fits the perturbed pairs ...
    assert _direct_loss(g2, c2, v2) > 1e-6  # ... γ2 fits the rig's own geometry instead
    # from Â = A, γ1 alone goes to Â₂* and γ2 alone stays at A (as the paper notes)
    assert dist(_optimize(a, c2, v2, g1=1.0, start=a), a2_star) < 0.01 * dist(a, a2_star)
    assert dist(_optimize(a, c2, v2, g2=1.0, start=a), a) < 1e-8
