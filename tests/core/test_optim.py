"""refimpl/core/optim.py: Adam against the published update written as a plain loop; first-step size;
convergence on a convex quadratic; bit-identical resume; gradient-norm clipping."""
import io
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.core.optim import CLIP_NORM_EPS, Adam, clip_grad_norm
from support.strategies import seeds

sizes = st.integers(1, 20)


def _textbook_adam(theta, grads, lr, b1, b2, eps):
    """Kingma & Ba (2015), Algorithm 1, coordinate by coordinate in plain Python floats."""
    theta = [float(x) for x in theta]
    m, v = [0.0] * len(theta), [0.0] * len(theta)
    for t, g in enumerate(grads, start=1):
        for i, gi in enumerate(g):
            m[i] = b1 * m[i] + (1.0 - b1) * gi
            v[i] = b2 * v[i] + (1.0 - b2) * (gi * gi)
            mhat = m[i] / (1.0 - b1 ** t)
            vhat = v[i] / (1.0 - b2 ** t)
            theta[i] = theta[i] - lr * mhat / (math.sqrt(vhat) + eps)
    return np.array(theta)


@given(sizes, st.integers(1, 30), seeds)
def test_adam_equals_textbook_loop_bit_for_bit(n, steps, seed):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-4, 4)
    theta0, grads = rng.standard_normal(n), scale * rng.standard_normal((steps, n))
    theta = theta0.copy()
    opt = Adam(n, lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8)
    for g in grads:
        opt.step(theta, g)
    # exact: the same IEEE operations (*, +, /, sqrt are correctly rounded) in the same order
    np.testing.assert_array_equal(theta, _textbook_adam(theta0, grads, 1e-2, 0.8, 0.99, 1e-8))
    assert opt.t == steps


@given(sizes, seeds)
def test_adam_first_step_moves_every_coordinate_by_lr_times_sign_of_g(n, seed):
    """t = 1: mhat = g and vhat = g^2 exactly in exact arithmetic, so the step is
    lr g / (|g| + eps) = lr sign(g) (1 - eps / (|g| + eps)): off lr sign(g) by < lr eps / |g|."""
    rng = np.random.default_rng(seed)
    g = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-3, 3, n)
    theta = np.zeros(n)
    lr, eps = 1e-3, 1e-8
    Adam(n, lr=lr, eps=eps).step(theta, g)
    # plus rounding: 1 - b1 and 1 - b1^1 round alike, a few ulps of lr in the bias corrections
    bound = lr * eps / np.abs(g) + 8 * np.finfo(float).eps * lr
    assert np.all(np.abs(-theta - lr * np.sign(g)) <= bound)


@given(st.integers(2, 6), seeds)
@example(n=2, seed=2_775_869_390)
def test_adam_minimises_a_convex_quadratic(n, seed):
    """f(theta) = 1/2 (theta - c)^T H (theta - c) with H SPD (condition number 100); Adam with
    a step size annealed from 0.1 to 0 drives f from O(n) to below 1e-6 of its start.

    The slow part is the flat eigendirection when H is rotated: Adam scales each coordinate by
    the gradient's size, which the steep direction sets. Over 300 random problems the worst
    f_end / f_0 was 2.6e-7 after 2,000 steps (the example above, found by hypothesis, 2.0e-6)
    and 6e-19 after 4,000, so 4,000 steps leave a wide margin under the 1e-6 claimed."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    H = Q @ np.diag(np.geomspace(0.1, 10.0, n)) @ Q.T
    c, theta = rng.standard_normal(n), rng.standard_normal(n)
    f = lambda th: 0.5 * (th - c) @ H @ (th - c)  # noqa: E731
    f0, opt, steps = f(theta), Adam(n), 4000
    for k in range(steps):
        opt.step(theta, H @ (theta - c), lr=0.1 * (1.0 - k / steps))
    assert f(theta) <= 1e-6 * f0


def _npz_round_trip(d):
    buf = io.BytesIO()
    np.savez(buf, **d)
    buf.seek(0)
    return dict(np.load(buf))


@given(sizes, st.integers(0, 10), seeds)
def test_adam_state_round_trip_continues_identically(n, k, seed):
    rng = np.random.default_rng(seed)
    theta, grads = rng.standard_normal(n), rng.standard_normal((k + 5, n))
    opt = Adam(n, lr=1e-2)
    for g in grads[:k]:
        opt.step(theta, g)
    restored, theta2 = Adam.from_state(_npz_round_trip(opt.state())), theta.copy()
    for g in grads[k:]:
        opt.step(theta, g)
        restored.step(theta2, g)
    assert theta.tobytes() == theta2.tobytes() and restored.t == opt.t


def test_adam_rejects_bad_arguments_naming_the_argument_first():
    for kwargs, name in (({"lr": 0.0}, "lr"), ({"beta1": 1.0}, "beta1"),
                         ({"beta2": -0.1}, "beta2"), ({"eps": -1.0}, "eps")):
        with pytest.raises(ValueError, match=rf"^{name} must"):
            Adam(3, **kwargs)
    with pytest.raises(ValueError, match="theta and grad"):
        Adam(3).step(np.zeros(3), np.zeros(2))


@given(sizes, st.floats(1e-3, 1e3), seeds)
def test_clip_grad_norm_bounds_norm_and_keeps_direction(n, max_norm, seed):
    rng = np.random.default_rng(seed)
    grad = rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 4)
    clipped, norm = clip_grad_norm(grad, max_norm)
    assert norm == np.linalg.norm(grad)
    assert np.linalg.norm(clipped) <= max_norm or clipped is grad
    cos = clipped @ grad / (np.linalg.norm(clipped) * norm)
    assert abs(cos - 1.0) <= 1e-14  # rounding of an n <= 20 term dot product
    if norm <= max_norm - CLIP_NORM_EPS:
        assert clipped is grad  # no-op below the threshold


@given(sizes, seeds)
def test_clip_grad_norm_above_max_lands_just_inside_the_ball(n, seed):
    grad = np.random.default_rng(seed).standard_normal(n) + 5.0
    clipped, norm = clip_grad_norm(grad, 0.5)
    # scale max_norm / (norm + 1e-6): the new norm is 0.5 norm / (norm + 1e-6), up to rounding
    assert 0.5 * norm / (norm + CLIP_NORM_EPS) * (1 - 1e-14) <= np.linalg.norm(clipped) <= 0.5


def test_clip_grad_norm_scales_a_norm_just_below_max_norm():
    """PyTorch rule: norm = max_norm - 1e-7 still gets c = max_norm / (norm + 1e-6) < 1."""
    grad = np.array([1.0 - 1e-7, 0.0])
    clipped, _ = clip_grad_norm(grad, 1.0)
    assert clipped is not grad and clipped[0] < grad[0]


def test_clip_grad_norm_disabled_by_none_or_inf():
    grad = np.array([3.0, 4.0])
    for max_norm in (None, np.inf):
        clipped, norm = clip_grad_norm(grad, max_norm)
        assert clipped is grad and norm == 5.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(grad, 0.0)


def test_adam_stays_finite_on_a_coordinate_whose_gradient_has_been_zero():
    """Coordinate 1 has had gradient 0 at every step: m = v = 0, so its step is
    lr * 0 / (sqrt(0) + eps) = 0 only because eps > 0 (without it 0/0 = NaN)."""
    opt, theta = Adam(2), np.array([1.0, 2.0])
    for _ in range(5):
        opt.step(theta, np.array([0.5, 0.0]))
    assert np.all(np.isfinite(theta)) and theta[1] == 2.0
    assert opt.eps == 1e-8  # Kingma & Ba (2015), Algorithm 1's default


def test_clip_norm_eps_is_pytorchs_1e_6():
    """torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (total_norm + 1e-6)."""
    assert CLIP_NORM_EPS == 1e-6


@given(st.floats(0.0, 0.999), st.floats(1e-3, 1e3), seeds)
@example(0.6, 1.0, 0)
def test_clip_grad_norm_never_scales_a_gradient_up(ratio, max_norm, seed):
    """||g|| = ratio * max_norm < max_norm: c = max_norm / (||g|| + 1e-6) > 1 whenever
    ||g|| + 1e-6 < max_norm, and then g must be returned unchanged (clipping only shrinks);
    the pinned example has norm 0.6, max 1, where c = 1.67."""
    direction = np.random.default_rng(seed).standard_normal(4)
    grad = direction / np.linalg.norm(direction) * (ratio * max_norm)
    clipped, _ = clip_grad_norm(grad, max_norm)
    assert np.linalg.norm(clipped) <= np.linalg.norm(grad)
    if np.linalg.norm(grad) + 1e-6 < max_norm:
        assert clipped is grad


def test_adam_defaults_are_kingma_and_ba_and_the_ppo_paper_step_size():
    """lr 3e-4 (PPO paper, Table 3), beta1 0.9, beta2 0.999, eps 1e-8 (Kingma & Ba 2015); the
    closed ends of their ranges, beta = 0 and eps = 0, are valid settings."""
    opt = Adam(3)
    assert (opt.lr, opt.beta1, opt.beta2, opt.eps) == (3e-4, 0.9, 0.999, 1e-8)
    Adam(3, beta1=0.0, beta2=0.0, eps=0.0)


def test_adam_state_restores_non_default_hyperparameters():
    opt = Adam(2, lr=0.1, beta1=0.5, beta2=0.7, eps=1e-3)
    restored = Adam.from_state(opt.state())
    assert (restored.lr, restored.beta1, restored.beta2, restored.eps) == (0.1, 0.5, 0.7, 1e-3)


def test_clip_grad_norm_at_exactly_max_norm_returns_grad_itself():
    """The scale c = max_norm / (||g|| + CLIP_NORM_EPS) is exactly 1 when max_norm = ||g|| +
    CLIP_NORM_EPS (||(3, 4)|| = 5 exactly): nothing is clipped, so the docstring's "``grad``
    itself (the same object) when not clipped" holds, not a scaled copy."""
    g = np.array([3.0, 4.0])
    out, norm = clip_grad_norm(g, 5.0 + CLIP_NORM_EPS)
    assert norm == 5.0 and out is g
