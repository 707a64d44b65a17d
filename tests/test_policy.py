"""refimpl/policy.py: vjp, jvp and score of the Gaussian policy against finite differences."""
import numpy as np
from hypothesis import given

from gradcheck import assert_directional_derivative
from refimpl.policy import GaussianPolicy
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


def test_init_has_mean_head_gain_0_01_and_log_std_0_by_default():
    policy = GaussianPolicy.build(3, 2, (4,))
    phi = policy.init(np.random.default_rng(0))
    theta, log_std = policy.split(phi)
    (w_hidden, _), (w_head, b_head) = policy.net.views(theta)
    np.testing.assert_array_equal(log_std, [0.0, 0.0])
    # orthogonal columns (4 x 2 head) to rounding: 1e-12 absolute on entries of size gain^2
    np.testing.assert_allclose(w_head.T @ w_head, 0.01**2 * np.eye(2), atol=1e-12 * 0.01**2)
    np.testing.assert_allclose(w_hidden @ w_hidden.T, 2.0 * np.eye(3), atol=1e-12)
    assert not b_head.any()
    np.testing.assert_array_equal(policy.split(policy.init(np.random.default_rng(0), -0.5))[1],
                                  [-0.5, -0.5])
