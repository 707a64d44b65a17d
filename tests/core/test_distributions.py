"""refimpl/core/distributions.py: the diagonal Gaussian against SciPy, finite differences, Monte Carlo,
and the lecture's linear-quadratic example (slide "Ill-conditioned gradients")."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from support.gradcheck import assert_directional_derivative, directional_error
from refimpl.core import distributions as dist
from support.strategies import batch_sizes, seeds

act_dims = st.integers(1, 4)


def _gaussians(n, d, seed):
    """rng, mean (n, d) ~ N(0, 1), log_std (d,) ~ U[-1, 1], and actions a (n, d)."""
    rng = np.random.default_rng(seed)
    mean, log_std = rng.standard_normal((n, d)), rng.uniform(-1.0, 1.0, d)
    return rng, mean, log_std, mean + np.exp(log_std) * rng.standard_normal((n, d)) * 1.5


@given(batch_sizes, act_dims, seeds)
def test_log_prob_matches_scipy(n, d, seed):
    _, mean, log_std, a = _gaussians(n, d, seed)
    ours = dist.log_prob(mean, log_std, a)
    per_dim = stats.norm.logpdf(a, loc=mean, scale=np.exp(log_std)).sum(axis=1)
    joint = [stats.multivariate_normal(m, np.diag(np.exp(2 * log_std))).logpdf(x)
             for m, x in zip(mean, a)]
    # a sum of d O(1..10) terms computed in two orders: rounding ~1e-15, 1e-12 leaves 1e3 ulp
    np.testing.assert_allclose(ours, per_dim, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, joint, rtol=1e-12, atol=1e-12)


@given(act_dims, seeds)
def test_entropy_matches_scipy(d, seed):
    log_std = np.random.default_rng(seed).uniform(-1.0, 1.0, d)
    expected = stats.multivariate_normal(np.zeros(d), np.diag(np.exp(2 * log_std))).entropy()
    # SciPy goes through log det of the covariance: rounding of d O(1) terms
    np.testing.assert_allclose(dist.entropy(log_std), expected, rtol=1e-12, atol=1e-12)


def test_entropy_sums_the_last_axis_only():
    log_std = np.array([[0.1, -0.3], [0.5, 0.2], [0.0, 0.0]])  # one row per state
    expected = [stats.multivariate_normal(np.zeros(2), np.diag(np.exp(2 * ls))).entropy()
                for ls in log_std]
    # as in test_entropy_matches_scipy
    np.testing.assert_allclose(dist.entropy(log_std), expected, rtol=1e-12, atol=1e-12)


@given(batch_sizes, act_dims, seeds)
def test_log_prob_grad_matches_finite_differences(n, d, seed):
    rng, mean, log_std, a = _gaussians(n, d, seed)
    dmean, dlog_std = dist.log_prob_grad(mean, log_std, a)
    log_std_n = np.tile(log_std, (n, 1))  # per-sample log-std so both gradients are (n, d)
    assert_directional_derivative(lambda m: dist.log_prob(m, log_std_n, a), mean,
                                  lambda u: np.sum(dmean * u, axis=1), rng)
    assert_directional_derivative(lambda s: dist.log_prob(mean, s, a), log_std_n,
                                  lambda u: np.sum(dlog_std * u, axis=1), rng)


@given(batch_sizes, act_dims, seeds)
def test_kl_grad_q_matches_finite_differences(n, d, seed):
    rng, mean_p, log_std_p, _ = _gaussians(n, d, seed)
    mean_q, log_std_q = mean_p + rng.standard_normal((n, d)), rng.uniform(-1, 1, (n, d))
    dmean, dlog_std = dist.kl_grad_q(mean_p, log_std_p, mean_q, log_std_q)
    assert_directional_derivative(lambda m: dist.kl(mean_p, log_std_p, m, log_std_q), mean_q,
                                  lambda u: np.sum(dmean * u, axis=1), rng)
    assert_directional_derivative(lambda s: dist.kl(mean_p, log_std_p, mean_q, s), log_std_q,
                                  lambda u: np.sum(dlog_std * u, axis=1), rng)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_has_mean_and_std_within_monte_carlo_bound(seed):
    rng = np.random.default_rng(seed)
    mean, log_std, m = rng.standard_normal(3), rng.uniform(-1.0, 1.0, 3), 40_000
    a = dist.sample(np.tile(mean, (m, 1)), log_std, rng)
    sigma = np.exp(log_std)
    # 5 standard errors: SE(mean) = sigma / sqrt(m), SE(std) ~ sigma / sqrt(2 m) (normal data)
    assert np.all(np.abs(a.mean(axis=0) - mean) <= 5 * sigma / np.sqrt(m))
    assert np.all(np.abs(a.std(axis=0, ddof=1) - sigma) <= 5 * sigma / np.sqrt(2 * m))


def test_sample_is_mean_plus_sigma_times_the_generators_normals():
    # the reparameterisation a = mu + sigma xi with xi the generator's next normals, in this
    # order: the action a seed gives (and so every training number) depends on it
    mean, log_std = np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([0.3, -0.7])
    xi = np.random.default_rng(11).standard_normal((2, 2))
    np.testing.assert_array_equal(dist.sample(mean, log_std, np.random.default_rng(11)),
                                  mean + np.exp(log_std) * xi)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kl_matches_monte_carlo(seed):
    """KL(p || q) = E_{a ~ p}[log p(a) - log q(a)], estimated from m samples of p."""
    rng = np.random.default_rng(seed)
    mean_p, mean_q = rng.standard_normal((2, 1, 3))
    log_std_p, log_std_q = rng.uniform(-1.0, 1.0, (2, 3))
    m = 100_000
    a = dist.sample(np.tile(mean_p, (m, 1)), log_std_p, rng)
    terms = dist.log_prob(mean_p, log_std_p, a) - dist.log_prob(mean_q, log_std_q, a)
    closed = dist.kl(mean_p, log_std_p, mean_q, log_std_q)[0]
    # 5 standard errors of the sample mean (the log-ratio has finite variance for Gaussians)
    assert abs(terms.mean() - closed) <= 5 * terms.std(ddof=1) / np.sqrt(m)


@given(batch_sizes, act_dims, seeds, st.floats(1e-3, 1.0))
def test_kl_is_zero_iff_distributions_equal(n, d, seed, size):
    """Zero at p = q; strictly positive once any mean or log-std differs (here by >= 1e-3)."""
    rng, mean, log_std, _ = _gaussians(n, d, seed)
    log_std_n = np.tile(log_std, (n, 1))
    # at p = q every per-dimension term is exactly 0 in floating point: 1e-15 is a few ulp
    assert np.all(np.abs(dist.kl(mean, log_std_n, mean, log_std_n)) <= 1e-15)
    for which in range(2):
        params = [mean.copy(), log_std_n.copy()]
        params[which][:, rng.integers(d)] += size * rng.choice([-1.0, 1.0])
        assert np.all(dist.kl(mean, log_std_n, *params) > 0.0)
        assert np.all(dist.kl(*params, mean, log_std_n) > 0.0)


def _lq_log_prob(k, sigma, s, a):
    """Lecture's example, exactly: log pi = -(k s - a)^2 / (2 sigma^2) - log sigma - log(2 pi)/2."""
    return dist.log_prob(np.array([[k * s]]), np.array([np.log(sigma)]), np.array([[a]]))[0]


@given(st.floats(-2, 2), st.floats(0.2, 3), st.floats(-2, 2), st.floats(-3, 3), seeds)
def test_linear_quadratic_score_has_minus_one_over_sigma(k, sigma, s, a, seed):
    """Slide "Ill-conditioned gradients": log pi = -(k s - a)^2 / (2 sigma^2) + C, phi = (k, sigma).

    Our score is in (mean, log sigma) coordinates; the chain rule with mu = k s and
    log sigma = log(sigma) gives d/dk = s d/dmu and d/dsigma = (1/sigma) d/dlog sigma. The
    k-component equals the slide's -(k s - a) s / sigma^2. The sigma-component equals
    (k s - a)^2 / sigma^3 - 1/sigma: the -1/sigma comes from the normalising constant
    C = -log sigma - log(2 pi)/2, which depends on sigma. The slide's (k s - a)^2 / sigma^3 is
    therefore right only if C is (wrongly) treated as sigma-independent; the second half of
    the test shows that the slide's vector fails the finite-difference check.
    """
    rng = np.random.default_rng(seed)
    dmu, dlog_sigma = dist.log_prob_grad(np.array([[k * s]]), np.array([np.log(sigma)]),
                                         np.array([[a]]))
    ours = np.array([s * dmu[0, 0], dlog_sigma[0, 0] / sigma])
    err = k * s - a
    slide = np.array([-err * s / sigma**2, err**2 / sigma**3])
    # same closed form evaluated in another order: rounding of O(1/sigma^3) <= 125 terms
    np.testing.assert_allclose(ours, slide - [0.0, 1.0 / sigma], rtol=1e-12, atol=1e-12)
    f = lambda phi: _lq_log_prob(phi[0], phi[1], s, a)  # noqa: E731
    phi = np.array([k, sigma])
    assert_directional_derivative(f, phi, lambda u: ours @ u, rng, h=1e-6)
    miss, bound = directional_error(f, phi, np.array([0.0, 1.0]), lambda u: slide @ u, h=1e-6)
    assert miss > 100 * bound, "the slide's sigma-component should miss the -1/sigma term"


@given(st.floats(-3, 3), st.floats(-2, 2))
def test_fisher_weights_are_the_expected_outer_product_of_the_score(mu, log_sigma):
    """F = E_a[score score^T] of N(mu, sigma^2) in (mu, log sigma) coordinates, computed by
    20-point Gauss-Hermite quadrature of ``log_prob_grad``'s outer product (exact for the
    polynomials of degree <= 4 in a that occur): diag(1/sigma^2, 2), with no cross term."""
    z, w = np.polynomial.hermite_e.hermegauss(20)
    w = w / np.sqrt(2 * np.pi)                       # weights of the standard normal
    sigma = np.exp(log_sigma)
    a = (mu + sigma * z)[:, None]
    dmu, dlog = dist.log_prob_grad(np.full_like(a, mu), np.array([log_sigma]), a)
    scores = np.column_stack([dmu[:, 0], dlog[:, 0]])
    F = (scores * w[:, None]).T @ scores
    w_mean, w_log_std = dist.fisher_weights(np.array([log_sigma]))
    # quadrature is exact here; rounding of 20 terms of size up to exp(4) / sigma^2
    np.testing.assert_allclose(F, np.diag([w_mean[0], w_log_std]), rtol=1e-12,
                               atol=1e-12 * max(1.0, w_mean[0]))
