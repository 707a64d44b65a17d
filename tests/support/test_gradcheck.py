"""The gradient checker itself: it accepts exact derivatives and rejects ones 0.1% wrong."""
import numpy as np
import pytest
from hypothesis import given

from support.gradcheck import assert_directional_derivative
from support.strategies import mlps, seeds


def _f_and_grad(mlp, seed):
    rng = np.random.default_rng(seed)
    theta = 0.7 * rng.standard_normal(mlp.n_params)
    x = rng.standard_normal((4, mlp.sizes[0]))
    dy = rng.standard_normal((4, mlp.sizes[-1]))
    f = lambda t: np.sum(dy * mlp.forward(t, x)[0])
    grad = mlp.vjp(theta, mlp.forward(theta, x)[1], dy)[0]
    return rng, theta, f, grad


@given(mlps(), seeds)
def test_checker_rejects_gradient_off_by_a_tenth_of_a_percent(mlp, seed):
    rng, theta, f, grad = _f_and_grad(mlp, seed)
    assert_directional_derivative(f, theta, lambda u: grad @ u, rng)
    with pytest.raises(AssertionError):
        assert_directional_derivative(f, theta, lambda u: 1.001 * (grad @ u), rng)


def test_checker_accepts_closed_form_and_rejects_wrong_one():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda z: np.sum(np.sin(z) * z**2)
    g = np.cos(x) * x**2 + 2 * x * np.sin(x)
    rng = np.random.default_rng(0)
    assert_directional_derivative(f, x, lambda u: g @ u, rng)
    with pytest.raises(AssertionError):
        assert_directional_derivative(f, x, lambda u: (g + 1e-3 * np.abs(g)) @ u, rng)
