"""refimpl/core/policy.py: vjp, jvp and score of both policy heads (Gaussian and categorical, drawn by
``strategies.policy_problems``) against finite differences, and their initialisation."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import special, stats

from support.gradcheck import assert_directional_derivative
from refimpl.core import categorical as cat
from refimpl.core.policy import POLICY_HEAD_GAIN, CategoricalPolicy, GaussianPolicy, make_policy
from support.strategies import policy_problems, random_actions


def _dist_params(policy, phi, obs):
    """The distribution's parameters (mean, log_std) or (logits,) flattened into one vector:
    the function whose derivatives we check."""
    params, _ = policy.dist_params(phi, obs)
    return np.concatenate([p.ravel() for p in params])


def _cotangent(policy, phi, obs, rng):
    """Random dparams shaped like ``dist_params``' output (for the Gaussian, dlog_std of shape
    (act_dim,): already summed over the batch) and the same as one flat vector."""
    params, _ = policy.dist_params(phi, obs)
    dparams = tuple(rng.standard_normal(p.shape) for p in params)
    return dparams, np.concatenate([d.ravel() for d in dparams])


@given(policy_problems())
def test_jvp_matches_finite_differences_of_forward(problem):
    policy, phi, obs, rng = problem
    _, cache = policy.dist_params(phi, obs)
    jvp = lambda u: np.concatenate([a.ravel() for a in policy.jvp(phi, cache, u)])  # noqa: E731
    assert_directional_derivative(lambda p: _dist_params(policy, p, obs), phi, jvp, rng)


@given(policy_problems())
def test_vjp_matches_finite_differences_of_forward(problem):
    policy, phi, obs, rng = problem
    _, cache = policy.dist_params(phi, obs)
    dparams, dy = _cotangent(policy, phi, obs, rng)
    grad = policy.vjp(phi, cache, *dparams)
    # f = <dy, params> can cancel far below its summands, whose size sets the rounding
    terms = np.abs(dy * _dist_params(policy, phi, obs)).sum()
    assert_directional_derivative(lambda p: dy @ _dist_params(policy, p, obs), phi,
                                  lambda u: grad @ u, rng, f_scale=terms)


@given(policy_problems(kinds=("gaussian",)))
def test_gaussian_vjp_sums_a_per_state_dlog_std_over_the_batch(problem):
    """dlog_std of shape (N, act_dim) (one row per state, as ``score_of`` gives it) and its sum
    over the batch, shape (act_dim,), give the same gradient: log_std is shared by all rows."""
    policy, phi, obs, rng = problem
    _, cache = policy.dist_params(phi, obs)
    dmean, dlog_std = rng.standard_normal((2, len(obs), policy.act_dim))
    np.testing.assert_array_equal(policy.vjp(phi, cache, dmean, dlog_std),
                                  policy.vjp(phi, cache, dmean, dlog_std.sum(axis=0)))


@given(policy_problems())
def test_bound_dist_params_equal_dist_params_bit_for_bit_and_follow_phi_in_place(problem):
    # bind only hoists the network's layer views out of the pass: exact equality
    policy, phi, obs, rng = problem
    bound = policy.bind(phi)
    for _ in range(2):
        for b, p in zip(bound(obs), policy.dist_params(phi, obs)[0], strict=True):
            np.testing.assert_array_equal(b, p)
        phi += 0.5 * rng.standard_normal(phi.shape)  # an optimiser's in-place step


@given(policy_problems())
def test_score_matches_finite_differences_of_log_prob(problem):
    """score = sum_n w_n grad_phi log pi_phi(a_n|s_n), the policy-gradient building block."""
    policy, phi, obs, rng = problem
    act = random_actions(policy, len(obs), rng)
    w = rng.standard_normal(len(obs))
    g = policy.score(phi, obs, act, w)
    terms = np.abs(w * policy.log_prob(phi, obs, act)).sum()  # as in the vjp test: cancellation
    assert_directional_derivative(lambda p: w @ policy.log_prob(p, obs, act), phi,
                                  lambda u: g @ u, rng, f_scale=terms)


@given(policy_problems())
def test_jvp_and_vjp_are_adjoint(problem):
    """<dy, J v> = <J^T dy, v> to rounding: two evaluations of the same bilinear form."""
    policy, phi, obs, rng = problem
    _, cache = policy.dist_params(phi, obs)
    v = rng.standard_normal(policy.n_params)
    dparams, dy = _cotangent(policy, phi, obs, rng)
    jv = np.concatenate([a.ravel() for a in policy.jvp(phi, cache, v)])
    grad = policy.vjp(phi, cache, *dparams)
    lhs, rhs = dy @ jv, grad @ v
    # rounding of sums of O(P) products, relative to the sum of the magnitudes of their terms
    scale = np.abs(dy * jv).sum() + np.abs(grad * v).sum()
    assert abs(lhs - rhs) <= 1e-12 * (1.0 + scale)


def test_init_has_head_gain_0_01_hidden_gain_sqrt2_and_the_given_log_std():
    """The mean head is orthogonal with gain 0.01: its (hidden, act_dim) weight has orthogonal
    columns of norm 0.01 (act_dim <= hidden); the log-std entries are ``log_std``."""
    assert POLICY_HEAD_GAIN == 0.01
    policy = GaussianPolicy.build(5, 3, (8, 6))
    phi = policy.init(np.random.default_rng(0), log_std=-0.5)
    w_out, b_out = policy.net.views(policy.split(phi)[0])[-1]
    # QR rounding of a 6 x 3 orthonormal factor, scaled by 0.01
    np.testing.assert_allclose(w_out.T @ w_out, 1e-4 * np.eye(3), rtol=0, atol=1e-18)
    np.testing.assert_array_equal(b_out, 0.0)
    np.testing.assert_array_equal(policy.split(phi)[1], -0.5)
    # hidden layers keep gain sqrt(2) (5 x 8: orthonormal rows, scaled), log_std 0 by default
    w_hidden = policy.net.views(policy.split(phi)[0])[0][0]
    np.testing.assert_allclose(w_hidden @ w_hidden.T, 2.0 * np.eye(5), atol=1e-12)
    np.testing.assert_array_equal(policy.split(policy.init(np.random.default_rng(0)))[1], 0.0)


def test_categorical_init_has_head_gain_0_01_and_a_nearly_uniform_first_policy():
    """phi is the logits network alone (no log-std); its (hidden, K) output weight has
    orthogonal columns of norm 0.01, so at |h| <= sqrt(hidden) (tanh units) every logit is
    within 0.01 sqrt(6) of 0 and every probability within a few percent of 1/K."""
    policy = CategoricalPolicy.build(5, 3, (8, 6))
    phi = policy.init(np.random.default_rng(0))
    assert phi.shape == (policy.net.n_params,) == (policy.n_params,)
    w_out, b_out = policy.net.views(phi)[-1]
    # as for the Gaussian head: QR rounding of a 6 x 3 orthonormal factor, scaled by 0.01
    np.testing.assert_allclose(w_out.T @ w_out, 1e-4 * np.eye(3), rtol=0, atol=1e-18)
    np.testing.assert_array_equal(b_out, 0.0)
    obs = np.random.default_rng(1).standard_normal((50, 5)) * 10
    (logits,), _ = policy.dist_params(phi, obs)
    assert np.abs(logits).max() <= 0.01 * np.sqrt(6) + 1e-15
    # |z_a - z_b| <= 0.049, so p_a / p_b <= e^0.049 ~ 1.05 and |p - 1/3| < 0.02
    assert np.abs(cat.probs(logits) - 1 / 3).max() < 0.02


def test_make_policy_picks_the_class_and_refuses_an_unknown_head():
    assert isinstance(make_policy("gaussian", 3, 2, (4,)), GaussianPolicy)
    assert isinstance(make_policy("categorical", 3, 2, (4,)), CategoricalPolicy)
    assert make_policy("categorical", 3, 2, (4,)).n_params == 3 * 4 + 4 + 4 * 2 + 2
    with pytest.raises(ValueError, match="^unknown policy head 'beta'; choose one of gaussian, "
                                         "categorical$"):
        make_policy("beta", 3, 2)


@given(policy_problems())
def test_interface_log_prob_and_kl_equal_scipy_distributions(problem):
    """log_prob_of and kl_of, the head's closed forms behind the common interface, against
    SciPy: the Gaussian's per-dimension normal log-density and the textbook normal KL; the
    categorical's multinomial pmf of one draw and scipy.stats.entropy(p, q)."""
    policy, phi, obs, rng = problem
    params, _ = policy.dist_params(phi, obs)
    params_q, _ = policy.dist_params(phi + 0.3 * rng.standard_normal(policy.n_params), obs)
    act = random_actions(policy, len(obs), rng)
    if policy.kind == "gaussian":
        (mean, log_std), (mean_q, log_std_q) = params, params_q
        logp = stats.norm.logpdf(act, mean, np.exp(log_std)).sum(axis=1)
        var, var_q = np.exp(2 * log_std), np.exp(2 * log_std_q)
        kl = np.sum(log_std_q - log_std + (var + (mean - mean_q) ** 2) / (2 * var_q) - 0.5, axis=1)
    else:
        p, q = special.softmax(params[0], axis=1), special.softmax(params_q[0], axis=1)
        k = policy.act_dim
        logp = [stats.multinomial(1, ps).logpmf(np.eye(k)[a]) for ps, a in zip(p, act)]
        kl = stats.entropy(p, q, axis=1)
    # sums of a few O(1..10) terms in other orders: rounding far below 1e-12
    np.testing.assert_allclose(policy.log_prob_of(params, act), logp, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(policy.kl_of(params, params_q), kl, rtol=1e-10, atol=1e-12)


@given(policy_problems())
def test_fisher_metric_applies_the_head_fisher_divided_by_n(problem):
    """fisher_metric(params, N) maps dparams to M dparams / N, with M written out here:
    Gaussian (dmean / (N sigma^2), 2 dlog_std) -- the shared log-std's (1/N) sum_s 2 v = 2 v --
    and categorical ((diag(p) - p p^T) u / N) per state; fisher_blocks is the same M."""
    policy, phi, obs, rng = problem
    n = len(obs)
    params, _ = policy.dist_params(phi, obs)
    dparams, _ = _cotangent(policy, phi, obs, rng)
    out = policy.fisher_metric(params, n)(*dparams)
    if policy.kind == "gaussian":
        sigma2 = np.exp(2 * params[1])
        expected = (dparams[0] / (n * sigma2), 2 * dparams[1])
        blocks = [np.diag(np.r_[1 / sigma2, np.full(policy.act_dim, 2.0)])] * n
    else:
        p = special.softmax(params[0], axis=1)
        blocks = [np.diag(ps) - np.outer(ps, ps) for ps in p]
        expected = (np.array([b @ u for b, u in zip(blocks, dparams[0])]) / n,)
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)  # a few roundings
    np.testing.assert_allclose(policy.fisher_blocks(params), blocks, rtol=1e-14, atol=1e-16)


@given(policy_problems(), st.one_of(st.just(0.0), st.floats(1e-3, 1.0)))
def test_add_entropy_grad_adds_c_times_the_gradient_of_the_mean_entropy(problem, ent_coef):
    """add_entropy_grad(grad, c, ...) = grad + c grad_phi mean_entropy(phi, obs), the latter by
    central differences of mean_entropy (Gaussian: sum log sigma_j + const at every state;
    categorical: the mean over states of -sum p log p). c >= 1e-3 or 0: the test reads c grad
    back as added - grad, which loses a c far below the rounding of grad's entries."""
    policy, phi, obs, rng = problem
    params, cache = policy.dist_params(phi, obs)
    base = rng.standard_normal(policy.n_params)
    added = policy.add_entropy_grad(base.copy(), ent_coef, phi, params, cache)
    assert_directional_derivative(lambda p: ent_coef * policy.mean_entropy(p, obs), phi,
                                  lambda u: (added - base) @ u, rng,
                                  f_scale=ent_coef * (1 + np.log(policy.act_dim + 1)))
    if policy.kind == "categorical":
        h = np.mean(-np.sum(special.softmax(params[0], 1) * special.log_softmax(params[0], 1), 1))
        assert policy.mean_entropy(phi, obs) == pytest.approx(h, rel=1e-12, abs=1e-14)


def test_action_shape_and_dtype_are_what_the_rollout_stores():
    """Gaussian actions are float rows of act_dim, categorical ones int64 indices (no axis)."""
    g, c = GaussianPolicy.build(3, 2, ()), CategoricalPolicy.build(3, 4, ())
    assert (g.action_shape, g.action_dtype, g.kind) == ((2,), np.float64, "gaussian")
    assert (c.action_shape, c.action_dtype, c.kind) == ((), np.int64, "categorical")


def test_mode_of_is_the_mean_or_the_most_probable_action():
    """The deterministic (evaluation) action of ``mode_of``: the Gaussian head's mean mu(s),
    shape (N, d), not its log sigma; the categorical head's argmax_a z_a(s) as int64 (N,),
    the first on ties, from the logits that ``dist_params`` gives (``categorical.mode``)."""
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((5, 3))
    gauss = GaussianPolicy.build(3, 2, (4,), "tanh")
    phi = np.concatenate([0.5 * rng.standard_normal(gauss.net.n_params), [0.3, -0.2]])
    params, _ = gauss.dist_params(phi, obs)
    np.testing.assert_array_equal(gauss.mode_of(params), params[0])
    assert gauss.mode_of(params).shape == (5, 2)
    catp = CategoricalPolicy.build(3, 4, (4,), "tanh")
    theta = 0.5 * rng.standard_normal(catp.net.n_params)
    params, _ = catp.dist_params(theta, obs)
    mode = catp.mode_of(params)
    assert mode.dtype == np.int64
    np.testing.assert_array_equal(mode, [int(np.argmax(z)) for z in params[0]])
    np.testing.assert_array_equal(cat.mode(np.array([[0.0, 1.0, 1.0], [2.0, 2.0, 0.0]])), [1, 0])
    assert cat.mode(np.zeros((2, 3))).dtype == np.int64
