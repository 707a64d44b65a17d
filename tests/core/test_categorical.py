"""refimpl/core/categorical.py: the categorical distribution against SciPy, finite differences, Monte
Carlo and written-out sums; stability at logits of +-1e3 and at logits 1e-12 apart; bad actions."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from support.gradcheck import assert_directional_derivative
from refimpl.core import categorical as cat
from support.strategies import batch_sizes, seeds

EPS = np.finfo(np.float64).eps
n_actions = st.integers(2, 5)


def _logits(n, k, seed, scale=2.0):
    """rng, logits (n, k) ~ N(0, scale^2), and actions a (n,) drawn uniformly from [0, k)."""
    rng = np.random.default_rng(seed)
    return rng, scale * rng.standard_normal((n, k)), rng.integers(0, k, n)


@given(batch_sizes, n_actions, seeds)
def test_log_softmax_matches_scipy(n, k, seed):
    _, z, _ = _logits(n, k, seed)
    # the same max-shifted formula up to the order of k <= 5 additions: a few ulp of |log p|
    np.testing.assert_allclose(cat.log_softmax(z), special.log_softmax(z, axis=1), rtol=1e-14,
                               atol=1e-14)
    np.testing.assert_allclose(cat.probs(z).sum(axis=1), 1.0, rtol=0, atol=k * EPS)


@given(batch_sizes, n_actions, seeds)
def test_log_prob_matches_scipy(n, k, seed):
    """log pi(a|s) against SciPy's multinomial pmf of one draw (a different formula: log of the
    probability of the one-hot count vector)."""
    _, z, a = _logits(n, k, seed)
    p = special.softmax(z, axis=1)
    expected = [stats.multinomial(1, p_s).logpmf(np.eye(k)[a_s]) for p_s, a_s in zip(p, a)]
    # SciPy normalises p and goes through gammaln: rounding ~1e-15 of O(1..10) values
    np.testing.assert_allclose(cat.log_prob(z, a), expected, rtol=1e-12, atol=1e-12)


@given(batch_sizes, n_actions, seeds)
def test_entropy_and_kl_match_scipy(n, k, seed):
    rng, z, _ = _logits(n, k, seed)
    zq = z + rng.standard_normal((n, k))
    p, q = special.softmax(z, axis=1), special.softmax(zq, axis=1)
    # scipy.stats.entropy(p) = -sum p log p and entropy(p, q) = sum p log(p / q): sums of k O(1)
    # terms in another order
    np.testing.assert_allclose(cat.entropy(z), stats.entropy(p, axis=1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cat.kl(z, zq), stats.entropy(p, q, axis=1), rtol=1e-12,
                               atol=1e-14)


@given(batch_sizes, n_actions, seeds)
def test_log_prob_grad_matches_finite_differences(n, k, seed):
    rng, z, a = _logits(n, k, seed)
    grad = cat.log_prob_grad(z, a)
    assert_directional_derivative(lambda x: cat.log_prob(x, a), z,
                                  lambda u: np.sum(grad * u, axis=1), rng)


@given(batch_sizes, n_actions, seeds)
def test_entropy_grad_matches_finite_differences(n, k, seed):
    rng, z, _ = _logits(n, k, seed)
    grad = cat.entropy_grad(z)
    assert_directional_derivative(cat.entropy, z, lambda u: np.sum(grad * u, axis=1), rng)


@given(batch_sizes, n_actions, seeds)
def test_kl_grad_q_matches_finite_differences(n, k, seed):
    """d KL(p || q) / d z_q = q - p. KL = cross-entropy - entropy cancels to a small value when
    q is near p: rounding is that of the cross-entropy, passed as f_scale."""
    rng, zp, _ = _logits(n, k, seed)
    zq = zp + rng.standard_normal((n, k))
    grad = cat.kl_grad_q(zp, zq)
    cross_entropy = np.max(cat.entropy(zp) + cat.kl(zp, zq))
    assert_directional_derivative(lambda x: cat.kl(zp, x), zq,
                                  lambda u: np.sum(grad * u, axis=1), rng, f_scale=cross_entropy)


@given(batch_sizes, n_actions, seeds)
def test_fisher_matrix_is_expected_score_outer_product(n, k, seed):
    """M = E_a[score score^T] = sum_a p_a (e_a - p)(e_a - p)^T, written out as a loop over the
    actions; M 1 = 0 (the null vector of the softmax's shift invariance), rank K - 1; and M is
    NOT diag(1/p), the Fisher in probability coordinates."""
    _, z, _ = _logits(n, k, seed)
    p = special.softmax(z, axis=1)
    expected = np.zeros((n, k, k))
    for a in range(k):
        score = np.eye(k)[a] - p
        expected += p[:, a, None, None] * score[:, :, None] * score[:, None, :]
    M = cat.fisher_matrix(z)
    # k terms of products of probabilities <= 1: rounding a few ulp
    np.testing.assert_allclose(M, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(M @ np.ones(k), 0.0, rtol=0, atol=4 * EPS)
    # p > 1e-5 here (|z| <= ~10), so the K - 1 nonzero eigenvalues are far above rounding
    assert all(np.linalg.matrix_rank(m, tol=1e-12) == k - 1 for m in M)
    assert not np.allclose(M, [np.diag(1 / ps) for ps in p])


@given(batch_sizes, n_actions, seeds)
def test_fisher_matrix_is_hessian_of_kl_at_q_equal_p(n, k, seed):
    """M = d^2 KL(p || q) / d z_q^2 at q = p: central differences of the exact gradient q - p.
    Its derivative is linear in the step up to O(h^2); h = 1e-5 leaves truncation ~1e-10."""
    rng, z, _ = _logits(n, k, seed)
    M = cat.fisher_matrix(z)
    for _ in range(3):
        u = rng.standard_normal((n, k))
        fd = (cat.kl_grad_q(z, z + 1e-5 * u) - cat.kl_grad_q(z, z - 1e-5 * u)) / 2e-5
        np.testing.assert_allclose(fd, np.einsum("nij,nj->ni", M, u), rtol=0, atol=1e-9)


@given(batch_sizes, n_actions, seeds)
def test_fisher_product_equals_matrix_times_u(n, k, seed):
    rng, z, _ = _logits(n, k, seed)
    u = rng.standard_normal((n, k))
    # p * u - p (p . u) vs the matrix product: rounding of k-term sums of O(1) products
    np.testing.assert_allclose(cat.fisher_product(cat.probs(z), u),
                               np.einsum("nij,nj->ni", cat.fisher_matrix(z), u), rtol=0,
                               atol=1e-14)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sample_frequencies_within_monte_carlo_bound(seed):
    """Each action's frequency over m draws lies within 5 binomial standard errors
    sqrt(p (1 - p) / m) of p; a zero-probability action is never drawn; and sampling consumes
    exactly one ``rng.random`` draw per state (the generator ends where rng.random(m) leaves it)."""
    rng = np.random.default_rng(seed)
    z, m = np.array([rng.standard_normal(4)]), 40_000
    z[0, 2] = -np.inf if seed == 2 else z[0, 2]  # exp(-inf) = 0: an impossible action
    twin = np.random.default_rng(seed)
    twin.standard_normal(4)
    a = cat.sample(np.repeat(z, m, axis=0), rng)
    twin.random(m)
    assert rng.bit_generator.state == twin.bit_generator.state
    assert a.dtype == np.int64 and a.shape == (m,)
    p = special.softmax(z[0])
    freq = np.bincount(a, minlength=4) / m
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / m))
    if seed == 2:
        assert freq[2] == 0.0


def test_sample_maps_uniforms_through_the_inverse_cdf():
    """With p = (0.2, 0.5, 0.3): u in [0, 0.2) -> 0, [0.2, 0.7) -> 1, [0.7, 1) -> 2. The draws of
    a generator are replayed to know u."""
    z = np.log(np.array([[0.2, 0.5, 0.3]] * 6))
    u = np.random.default_rng(3).random(6)
    expected = np.where(u < 0.2, 0, np.where(u < 0.7, 1, 2))
    np.testing.assert_array_equal(cat.sample(z, np.random.default_rng(3)), expected)


def test_mode_is_the_argmax_first_on_ties():
    z = np.array([[0.1, 2.0, -1.0], [3.0, 3.0, 0.0], [-5.0, -4.0, -4.5]])
    np.testing.assert_array_equal(cat.mode(z), [1, 0, 1])


def test_huge_logits_are_stable():
    """Logits of +-1e3: exp(1e3) overflows, but the max-shift keeps everything exact: log p =
    (0, -2000, -1000), p = (1, 0, 0), H = 0, and KL against the mirrored logits is 2000."""
    z = np.array([[1e3, -1e3, 0.0]])
    np.testing.assert_array_equal(cat.log_softmax(z), [[0.0, -2000.0, -1000.0]])
    np.testing.assert_array_equal(cat.probs(z), [[1.0, 0.0, 0.0]])
    assert cat.entropy(z)[0] == 0.0
    np.testing.assert_array_equal(cat.log_prob(np.repeat(z, 3, axis=0), np.arange(3)),
                                  [0.0, -2000.0, -1000.0])
    np.testing.assert_array_equal(cat.log_prob_grad(z, np.array([1])), [[-1.0, 1.0, 0.0]])
    assert cat.kl(z, -z)[0] == 2000.0
    np.testing.assert_array_equal(cat.sample(np.repeat(z, 100, axis=0),
                                             np.random.default_rng(0)), 0)
    assert np.all(np.isfinite(cat.entropy_grad(z))) and np.all(np.isfinite(cat.fisher_matrix(z)))


@given(batch_sizes, n_actions, seeds)
def test_each_state_is_shifted_by_its_own_max(n, k, seed):
    """Rows whose logits lie 1e3 apart (state i's logits offset by 1e3 i): each row's softmax is
    shifted by that row's max, not the batch's. Shifted by the batch's max, the low rows' exp
    underflows to 0 and their log p is -inf. log_softmax is invariant to a row's offset, so each
    row must match SciPy's log-softmax of the same row without its offset (rounding of the
    offset, 1e3 i, is a few ulp of it: <= 2e-13 * (n + 1))."""
    _, z, _ = _logits(n, k, seed)
    offsets = 1e3 * np.arange(n)[:, None]
    got = cat.log_softmax(z + offsets)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, special.log_softmax(z, axis=1), rtol=0, atol=2e-13 * (n + 1))


class _Uniforms:
    """A generator stub whose ``random(n)`` returns given uniforms: the inverse CDF at its
    edges, where a real generator lands with probability 2^-53 per draw."""

    def __init__(self, u):
        self.u = np.asarray(u, dtype=np.float64)

    def random(self, n):
        assert n == len(self.u)
        return self.u


def test_sample_at_a_cdf_edge_takes_the_next_action():
    """a = k iff cdf_{k-1} <= u < cdf_k, so u exactly at an edge belongs to the action above it:
    with p = (0.5, 0.5), u = 0.5 gives action 1; with p_0 = 0 (logit -800, exp underflows),
    u = 0 must not give the action of probability zero."""
    z = np.array([[0.0, 0.0], [-800.0, 0.0], [0.0, 0.0]])
    assert cat.probs(z)[1, 0] == 0.0
    np.testing.assert_array_equal(cat.sample(z, _Uniforms([0.5, 0.0, 0.0])), [1, 1, 0])


@pytest.mark.parametrize("offset", [0.0, 1e3])
def test_logits_differing_by_1e_12_keep_their_difference(offset):
    """z = (c, c + d), d ~ 1e-12: log p_1 - log p_0 must equal the stored difference d (the
    max-shift subtracts nearby numbers exactly, Sterbenz), p_1 - p_0 = tanh(d / 2) ~ d / 2, and
    KL(p || mirrored p) = (p_1 - p_0) d ~ d^2 / 2 ~ 5e-25, positive, not lost to rounding."""
    z = np.array([[offset, offset + 1e-12]])
    d = z[0, 1] - z[0, 0]  # the representable difference (1e-12 rounded at magnitude c)
    logp = cat.log_softmax(z)[0]
    # log p ~ -0.69 is stored to ~1e-16 absolute: the difference carries that rounding
    assert abs((logp[1] - logp[0]) - d) <= 4 * EPS
    p = cat.probs(z)[0]
    # p_1 - p_0 ~ 5e-13 from two values near 0.5 with ~1e-16 rounding each: relative 1e-3
    assert (p[1] - p[0]) == pytest.approx(np.tanh(d / 2), rel=1e-3)
    kl = cat.kl(z, z[:, ::-1])[0]
    assert kl > 0 and kl == pytest.approx(np.tanh(d / 2) * d, rel=1e-3)
    assert cat.entropy(z)[0] == pytest.approx(np.log(2.0), abs=4 * EPS)


@pytest.mark.parametrize("a, match", [
    (np.array([0.0, 1.0]), r"must be integers in \[0, 3\), got dtype float64"),
    (np.array([0.5, 1.0]), "must be integers"),
    (np.array([True, False]), "must be integers"),
    (np.array([0, 3]), r"must lie in \[0, 3\), got values in \[0, 3\]"),
    (np.array([-1, 2]), r"must lie in \[0, 3\)"),
])
def test_log_prob_rejects_non_integer_actions(a, match):
    """An action of a categorical policy is an index: floats (even whole ones, which mean a
    continuous action reached a discrete policy), booleans and indices outside [0, K) are
    one-line ValueErrors, from log_prob and from the score alike."""
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=match):
        cat.log_prob(z, a)
    with pytest.raises(ValueError, match=match):
        cat.log_prob_grad(z, a)


def test_check_actions_returns_int64_indices_of_any_integer_dtype():
    a = cat.check_actions(np.array([0, 2, 1], dtype=np.int32), 3)
    assert a.dtype == np.int64
    np.testing.assert_array_equal(a, [0, 2, 1])
    assert cat.check_actions(np.array([], dtype=np.uint8), 3).shape == (0,)
