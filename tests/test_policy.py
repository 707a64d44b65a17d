"""refimpl/policy.py: vjp, jvp and score of the Gaussian policy against finite differences, and its
initialisation."""
import numpy as np
from hypothesis import given

from gradcheck import assert_directional_derivative
from refimpl.policy import POLICY_HEAD_GAIN, GaussianPolicy
from strategies import policy_problems


def _dist_params(policy, phi, obs):
    """(mean, log_std) flattened into one vector: the function whose derivatives we check."""
    mean, log_std, _ = policy.forward(phi, obs)
    return np.concatenate([mean.ravel(), log_std])


@given(policy_problems())
def test_jvp_matches_finite_differences_of_forward(problem):
    policy, phi, obs, rng = problem
    _, _, cache = policy.forward(phi, obs)
    jvp = lambda u: np.concatenate([a.ravel() for a in policy.jvp(phi, cache, u)])  # noqa: E731
    assert_directional_derivative(lambda p: _dist_params(policy, p, obs), phi, jvp, rng)


@given(policy_problems())
def test_vjp_matches_finite_differences_of_forward(problem):
    policy, phi, obs, rng = problem
    _, _, cache = policy.forward(phi, obs)
    dmean, dlog_std = rng.standard_normal((2, len(obs), policy.act_dim))
    dy = np.concatenate([dmean.ravel(), dlog_std.sum(axis=0)])  # log_std is shared by all rows
    grad = policy.vjp(phi, cache, dmean, dlog_std)
    # f = <dy, (mean, log_std)> can cancel far below its summands, whose size sets the rounding
    terms = np.abs(dy * _dist_params(policy, phi, obs)).sum()
    assert_directional_derivative(lambda p: dy @ _dist_params(policy, p, obs), phi,
                                  lambda u: grad @ u, rng, f_scale=terms)
    # the (act_dim,) form of dlog_std means "already summed over the batch"
    np.testing.assert_array_equal(grad, policy.vjp(phi, cache, dmean, dlog_std.sum(axis=0)))


@given(policy_problems())
def test_score_matches_finite_differences_of_log_prob(problem):
    """score = sum_n w_n grad_phi log pi_phi(a_n|s_n), the policy-gradient building block."""
    policy, phi, obs, rng = problem
    act = rng.standard_normal((len(obs), policy.act_dim))
    w = rng.standard_normal(len(obs))
    g = policy.score(phi, obs, act, w)
    terms = np.abs(w * policy.log_prob(phi, obs, act)).sum()  # as in the vjp test: cancellation
    assert_directional_derivative(lambda p: w @ policy.log_prob(p, obs, act), phi,
                                  lambda u: g @ u, rng, f_scale=terms)


@given(policy_problems())
def test_jvp_and_vjp_are_adjoint(problem):
    """<dy, J v> = <J^T dy, v> to rounding: two evaluations of the same bilinear form."""
    policy, phi, obs, rng = problem
    _, _, cache = policy.forward(phi, obs)
    v = rng.standard_normal(policy.n_params)
    dmean = rng.standard_normal((len(obs), policy.act_dim))
    dlog_std = rng.standard_normal(policy.act_dim)
    jm, jl = policy.jvp(phi, cache, v)
    lhs = np.sum(dmean * jm) + dlog_std @ jl
    grad = policy.vjp(phi, cache, dmean, dlog_std)
    rhs = grad @ v
    # rounding of sums of O(P) products, relative to the sum of the magnitudes of their terms
    scale = np.abs(dmean * jm).sum() + np.abs(dlog_std * jl).sum() + np.abs(grad * v).sum()
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
