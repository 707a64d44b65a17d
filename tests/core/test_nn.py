"""refimpl/core/nn.py: backprop (VJP) and forward-mode JVP against central differences; the
three initialisations against their distributions."""
import numpy as np
import pytest
from hypothesis import example, given
from scipy import stats

from support.gradcheck import assert_directional_derivative
from refimpl.core.nn import INITS, MLP, orthogonal, torch_linear, xavier_uniform
from support.strategies import batch_sizes, mlps, seeds


def _problem(mlp, n, seed):
    rng = np.random.default_rng(seed)
    theta = 0.7 * rng.standard_normal(mlp.n_params)
    x = rng.standard_normal((n, mlp.sizes[0]))
    return rng, theta, x


@given(mlps(), batch_sizes, seeds)
# relu, so no truncation error: <dy, y> = 0.0016 from terms summing to 36 in size, and central
# differences inherit their rounding, 2.7e-10; a bound from |<dy, y>| alone allowed only 2.0e-10
@example(MLP((6, 5, 5, 4), "relu"), 8, 1572596)
def test_vjp_matches_finite_differences_in_params_and_input(mlp, n, seed):
    rng, theta, x = _problem(mlp, n, seed)
    dy = rng.standard_normal((n, mlp.sizes[-1]))
    _, cache = mlp.forward(theta, x)
    dtheta, dx = mlp.vjp(theta, cache, dy, need_dx=True)
    # <dy, y> can cancel to far below the size of its summands, while its rounding error (and so
    # that of the central differences) stays ~eps times that size: the f_scale of the checker
    terms = np.abs(dy * mlp.forward(theta, x)[0]).sum()
    # <dy, f(theta)> is a scalar whose gradient is J^T dy
    assert_directional_derivative(lambda t: np.sum(dy * mlp.forward(t, x)[0]), theta,
                                  lambda u: dtheta @ u, rng, f_scale=terms)
    assert_directional_derivative(lambda z: np.sum(dy * mlp.forward(theta, z)[0]), x,
                                  lambda u: np.sum(dx * u), rng, f_scale=terms)


@given(mlps(), batch_sizes, seeds)
def test_jvp_matches_finite_differences(mlp, n, seed):
    rng, theta, x = _problem(mlp, n, seed)
    _, cache = mlp.forward(theta, x)
    assert_directional_derivative(lambda t: mlp.forward(t, x)[0], theta,
                                  lambda u: mlp.jvp(theta, cache, u), rng)


@given(mlps(), batch_sizes, seeds)
def test_jvp_and_vjp_are_adjoint(mlp, n, seed):
    """<dy, J v> = <J^T dy, v> to rounding: both sides are the same bilinear form."""
    rng, theta, x = _problem(mlp, n, seed)
    v, dy = rng.standard_normal(mlp.n_params), rng.standard_normal((n, mlp.sizes[-1]))
    _, cache = mlp.forward(theta, x)
    lhs = np.sum(dy * mlp.jvp(theta, cache, v))
    rhs = mlp.vjp(theta, cache, dy)[0] @ v
    # rounding of two O(P)-term dot products of O(1) entries
    assert abs(lhs - rhs) <= 1e-12 * (1 + np.abs(dy).sum() * np.abs(v).sum())


def test_flat_layout_is_weight_row_major_then_bias():
    """The documented layout: per layer W (in, out) row-major, then b (out,)."""
    mlp = MLP((2, 3, 1))
    theta = np.arange(mlp.n_params, dtype=float)
    (w1, b1), (w2, b2) = mlp.views(theta)
    np.testing.assert_array_equal(w1, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(b1, [6, 7, 8])
    np.testing.assert_array_equal(w2.ravel(), [9, 10, 11])
    np.testing.assert_array_equal(b2, [12])
    x = np.array([[1.0, -1.0]])
    expected = np.tanh(x @ w1 + b1) @ w2 + b2
    np.testing.assert_array_equal(mlp.forward(theta, x)[0], expected)


@given(mlps(), seeds)
def test_init_is_orthogonal_with_gains_and_zero_bias(mlp, seed):
    theta = mlp.init(np.random.default_rng(seed), output_gain=0.01)
    layers = mlp.views(theta)
    for i, (w, b) in enumerate(layers):
        gain = 0.01 if i == len(layers) - 1 else np.sqrt(2)
        small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
        # QR gives orthonormal columns to rounding; 1e-12 is ~1e3 ulp of O(1) entries
        np.testing.assert_allclose(small, gain**2 * np.eye(len(small)), atol=1e-12)
        assert not b.any()


def test_init_default_gains_are_sqrt2_hidden_and_1_output():
    layers = MLP((3, 4, 2)).views(MLP((3, 4, 2)).init(np.random.default_rng(0)))
    for (w, _), gain in zip(layers, (np.sqrt(2.0), 1.0)):
        small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
        # orthonormal to rounding, as in the test above
        np.testing.assert_allclose(small, gain**2 * np.eye(len(small)), atol=1e-12)


def _gram_schmidt(a):
    """Q of the QR factorisation with positive diag(R), column by column (modified Gram-Schmidt):
    the unique one, so it must equal Householder QR with the signs of diag(R) folded into Q."""
    q = np.zeros_like(a)
    for j in range(a.shape[1]):
        v = a[:, j].copy()
        for i in range(j):
            v -= (q[:, i] @ v) * q[:, i]
        q[:, j] = v / np.linalg.norm(v)
    return q


@pytest.mark.parametrize("n_in, n_out", [(3, 3), (5, 2), (2, 5), (1, 4)])
def test_orthogonal_is_q_of_a_gaussian_draw_with_positive_r_transposed_when_wide(n_in, n_out):
    # the (max, min) standard-normal draw of the docstring, from the same generator state
    a = np.random.default_rng(7).standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q = _gram_schmidt(a)
    expected = 0.5 * (q if n_in >= n_out else q.T)
    # Gram-Schmidt of a well-conditioned <= 5x5 Gaussian draw vs Householder: rounding, 1e-12
    np.testing.assert_allclose(orthogonal(np.random.default_rng(7), n_in, n_out, 0.5), expected,
                               rtol=0, atol=1e-12)


ENTRIES = 10_000
"""At least this many entries of each kind (weights, biases) are drawn per layer shape below.
For x ~ U(-a, a) the sample mean of x^2 has a relative standard deviation sqrt(Var[x^2]) /
E[x^2] / sqrt(n) = sqrt(4/5) / sqrt(n) <= 0.0089 at n >= 10,000, so the 3% tolerances below are
>= 3.3 standard deviations (the draws are seeded: the test is deterministic). The KS test's
critical statistic at p = 0.001 is 1.95 / sqrt(n) <= 0.0195, while a bound 10% off moves the
CDF by up to 0.1 / 2.2 = 0.045: such an error fails."""
SHAPES = [(17, 64), (64, 64), (64, 6), (6, 4)]


def _draws(draw, n_in, n_out):
    """``draw(rng, n_in, n_out)`` repeated until its output holds ENTRIES values per bias
    (n_out each), from one seeded generator: a list of the draws."""
    rng = np.random.default_rng(11)
    return [draw(rng, n_in, n_out) for _ in range(-(-ENTRIES // n_out))]


@pytest.mark.parametrize("n_in, n_out", SHAPES)
def test_xavier_weights_are_uniform_with_variance_2_over_fan_sum(n_in, n_out):
    """Glorot & Bengio (2010): W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)), so Var[w] =
    2 / (fan_in + fan_out) -- measured over many draws; no entry beyond a; and the entries pass
    a Kolmogorov-Smirnov test against SciPy's uniform on [-a, a] (p > 0.001, see ENTRIES)."""
    w = np.concatenate([m.ravel() for m in _draws(xavier_uniform, n_in, n_out)])
    a = np.sqrt(6.0 / (n_in + n_out))
    assert np.mean(w ** 2) == pytest.approx(2.0 / (n_in + n_out), rel=0.03)
    assert abs(np.mean(w)) < 0.03 * a  # sd of the mean: a / sqrt(3 n) <= 0.0058 a
    assert np.max(np.abs(w)) <= a
    assert stats.kstest(w, stats.uniform(-a, 2 * a).cdf).pvalue > 1e-3


@pytest.mark.parametrize("n_in, n_out", SHAPES)
def test_torch_init_draws_weights_and_biases_within_1_over_sqrt_fan_in(n_in, n_out):
    """PyTorch's nn.Linear default, kaiming_uniform_(a=sqrt(5)): bound = gain sqrt(3 / fan_in)
    with gain = sqrt(2 / (1 + 5)), i.e. 1 / sqrt(fan_in), for W and for b alike. Measured: both
    uniform on that interval (KS test), E[x^2] = bound^2 / 3 = 1 / (3 fan_in) within 3% (see
    ENTRIES), nothing beyond the bound."""
    draws = _draws(torch_linear, n_in, n_out)
    bound = np.sqrt(3.0 / n_in) * np.sqrt(2.0 / (1.0 + np.sqrt(5.0) ** 2))
    for x in (np.concatenate([w.ravel() for w, _ in draws]), np.concatenate([b for _, b in draws])):
        assert np.max(np.abs(x)) <= bound
        assert np.mean(x ** 2) == pytest.approx(bound ** 2 / 3, rel=0.03)
        assert stats.kstest(x, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    assert draws[0][0].shape == (n_in, n_out) and draws[0][1].shape == (n_out,)


def test_init_schemes_fill_every_layer_by_their_rule_and_ignore_the_gains():
    """MLP.init's schemes layer by layer: 'xavier' draws each W by xavier_uniform (heads too:
    the gains are the orthogonal scheme's) with zero biases, 'torch' each (W, b) by torch_linear,
    from the same generator in layer order; the default is 'orthogonal', bit for bit."""
    mlp = MLP((5, 7, 3))
    for scheme in ("xavier", "torch"):
        theta = mlp.init(np.random.default_rng(2), output_gain=0.01, scheme=scheme)
        rng = np.random.default_rng(2)
        for w, b in mlp.views(theta):
            if scheme == "xavier":
                np.testing.assert_array_equal(w, xavier_uniform(rng, *w.shape))
                assert not b.any()
            else:
                w_ref, b_ref = torch_linear(rng, *w.shape)
                np.testing.assert_array_equal(w, w_ref)
                np.testing.assert_array_equal(b, b_ref)
    np.testing.assert_array_equal(mlp.init(np.random.default_rng(2), 0.01),
                                  mlp.init(np.random.default_rng(2), 0.01, scheme="orthogonal"))
    assert INITS == ("orthogonal", "xavier", "torch")
    with pytest.raises(ValueError, match="scheme must be one of"):
        mlp.init(np.random.default_rng(2), scheme="he")


def test_init_is_reproducible_from_seed():
    mlp = MLP((4, 8, 2))
    a = mlp.init(np.random.default_rng(3))
    np.testing.assert_array_equal(a, mlp.init(np.random.default_rng(3)))
    assert not np.array_equal(a, mlp.init(np.random.default_rng(4)))


@pytest.mark.parametrize("sizes, activation", [((3,), "tanh"), ((3, 0, 2), "tanh"),
                                                ((3, 2), "sigmoid")])
def test_bad_layout_is_a_value_error(sizes, activation):
    with pytest.raises(ValueError):
        MLP(sizes, activation)


def test_sizes_are_stored_as_a_tuple_of_python_ints():
    mlp = MLP([np.int64(3), 2.0, 1])  # any integral widths, in a list
    assert mlp.sizes == (3, 2, 1) and type(mlp.sizes) is tuple
    assert all(type(s) is int for s in mlp.sizes)


def test_vjp_returns_dx_only_when_asked():
    mlp = MLP((2, 3, 1))
    theta, x = mlp.init(np.random.default_rng(0)), np.ones((4, 2))
    _, cache = mlp.forward(theta, x)
    assert mlp.vjp(theta, cache, np.ones((4, 1)))[1] is None
    assert mlp.vjp(theta, cache, np.ones((4, 1)), need_dx=True)[1].shape == (4, 2)


def test_orthogonal_rows_when_wide():
    q = orthogonal(np.random.default_rng(0), 2, 5, 1.0)
    np.testing.assert_allclose(q @ q.T, np.eye(2), atol=1e-12)


@given(mlps(), batch_sizes, seeds)
def test_bound_forward_equals_forward_bit_for_bit_and_follows_theta_in_place(mlp, n, seed):
    # bind only hoists the layer views out of forward: the same operations, so equality is exact
    rng, theta, x = _problem(mlp, n, seed)
    bound = mlp.bind(theta)
    np.testing.assert_array_equal(bound(x)[0], mlp.forward(theta, x)[0])
    theta += 0.5 * rng.standard_normal(mlp.n_params)  # an optimiser's in-place step
    y, cache = bound(x)
    np.testing.assert_array_equal(y, mlp.forward(theta, x)[0])
    assert len(cache) == len(mlp.sizes)


@given(mlps(), batch_sizes, seeds)
def test_vjp_writes_dtheta_into_out_when_given(mlp, n, seed):
    rng, theta, x = _problem(mlp, n, seed)
    _, cache = mlp.forward(theta, x)
    dy = rng.standard_normal((n, mlp.sizes[-1]))
    out = np.full(mlp.n_params, np.nan)
    dtheta, _ = mlp.vjp(theta, cache, dy, out=out)
    assert dtheta is out
    np.testing.assert_array_equal(out, mlp.vjp(theta, cache, dy)[0])  # the same products
