"""The exact oracle for the categorical head: a CategoricalPolicy with no hidden layer, fed one-hot
state vectors, IS the tabular softmax pi_theta(a|s) ∝ exp theta[s, a] of
``refimpl/exact/tabular.py``, with theta = W + 1 b^T (W the (S, A) weight, b the bias).

So the network code that training runs (policy.score, fisher.make_fvp, the NPG step of
natural.py) can be checked against the exact theory, not only "close": the Fisher-vector product
over a batch of states equals the tabular Fisher with the batch's state weights, the policy
gradient from the exact state-action distribution equals ``tabular.policy_gradient``, and one
NPG step fed exact advantages equals Kakade's natural gradient up to per-state constants.

In phi = (W, b) coordinates, d theta = J d phi with J (v_W, v_b) = v_W + 1 v_b^T and
J^T U = (U, sum_s U[s, :]); the tests map the tabular quantities through J explicitly.
Tolerances: every exact quantity here is a linear solve of condition <= ~40 (visitation) or sums
of O(S A) products of numbers <= max|V|; rounding is ~1e-14 of that scale, and 1e-11 leaves room.
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from refimpl.exact.tabular import (advantages, discounted_visitation, fisher, kl_per_state,
                                   natural_gradient, policy_gradient, random_mdp, softmax_policy)
from refimpl.core.fisher import kl_mean, make_fvp
from refimpl.core.natural import npg_step
from refimpl.core.policy import CategoricalPolicy
from support.strategies import seeds

TOL = 1e-11


@st.composite
def tabular_problems(draw):
    """(mdp, policy, phi, theta, rng): a random MDP with S in 1..5 states and A in 2..4 actions,
    the hidden-layer-free categorical policy on one-hot states, phi = (W, b) ~ N(0, 1) and the
    tabular parameters theta = W + b it represents."""
    S, A = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(seeds))
    mdp = random_mdp(rng, S, A, draw(st.floats(0.0, 0.9)))
    policy = CategoricalPolicy.build(S, A, hidden=())
    phi = rng.standard_normal(policy.n_params)
    W, b = policy.net.views(phi)[0]
    return mdp, policy, phi, W + b, rng


def _J(policy, v):
    """d theta = J v: the tabular direction a network direction v = (v_W, v_b) moves theta by."""
    v_W, v_b = policy.net.views(v)[0]
    return v_W + v_b


def _JT(U):
    """J^T U = (U row-major, sum over states of U): a tabular cotangent U (S, A) in phi."""
    return np.concatenate([U.ravel(), U.sum(axis=0)])


def _scale(mdp):
    return max(np.max(np.abs(mdp.R)), 1.0) / (1.0 - mdp.gamma)


@given(tabular_problems())
def test_network_policy_is_the_tabular_softmax(problem):
    """pi_phi(.|e_s) = softmax(theta[s, :]), and the mean KL over all states is the mean of
    ``tabular.kl_per_state``."""
    mdp, policy, phi, theta, rng = problem
    S = mdp.n_states
    (logits,), _ = policy.dist_params(phi, np.eye(S))
    pi = softmax_policy(theta)
    np.testing.assert_allclose(np.exp(policy.log_prob_of((logits,), np.arange(S) % mdp.n_actions)),
                               pi[np.arange(S), np.arange(S) % mdp.n_actions], rtol=1e-14)
    phi_new = phi + rng.standard_normal(phi.size)
    kl = np.mean(kl_per_state(pi, softmax_policy(theta + _J(policy, phi_new - phi))))
    assert abs(kl_mean(policy, phi, phi_new, np.eye(S)) - kl) <= TOL * max(kl, 1.0)


@given(tabular_problems(), st.integers(1, 30))
def test_fvp_equals_tabular_fisher_with_the_batchs_state_weights(problem, n):
    """make_fvp over n states s_1..s_n (drawn from d_pi) is J^T F_w J v, F_w the tabular Fisher
    with state weights w(s) = #{i: s_i = s} / n. ``tabular.fisher`` weights state s's block
    d(s) (diag pi_s - pi_s pi_s^T); each block is re-weighted here by w(s) / d(s)."""
    mdp, policy, phi, theta, rng = problem
    S, A = mdp.n_states, mdp.n_actions
    d = discounted_visitation(mdp, softmax_policy(theta), normalized=True)
    states = rng.choice(S, size=n, p=d / d.sum())
    w = np.bincount(states, minlength=S) / n
    F_w = fisher(mdp, theta) * np.repeat(w / d, A)[:, None]  # block rows scaled by w(s) / d(s)
    v = rng.standard_normal(policy.n_params)
    expected = _JT((F_w @ _J(policy, v).ravel()).reshape(S, A))
    got = make_fvp(policy, phi, np.eye(S)[states])(v)
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL * (1.0 + np.abs(v).max()))


@given(tabular_problems())
def test_score_on_the_exact_state_action_distribution_is_the_policy_gradient(problem):
    """policy.score over every (s, a) pair with weights rho(s) pi(a|s) A(s, a) (rho the
    unnormalised discounted visitation, the lecture's eq. Adv_TRPO_gradient evaluated exactly)
    equals J^T ``tabular.policy_gradient``."""
    mdp, policy, phi, theta, _ = problem
    S, A = mdp.n_states, mdp.n_actions
    pi = softmax_policy(theta)
    weights = discounted_visitation(mdp, pi)[:, None] * pi * advantages(mdp, pi)
    s, a = np.divmod(np.arange(S * A), A)
    g = policy.score(phi, np.eye(S)[s], a, weights.ravel())
    np.testing.assert_allclose(g, _JT(policy_gradient(mdp, theta)), rtol=0,
                               atol=TOL * _scale(mdp))


@given(tabular_problems())
def test_npg_step_with_exact_advantages_is_kakades_natural_gradient(problem):
    """One NPG step of the training code (g = policy.score, F by make_fvp, x ~ F^-1 g by CG in
    natural.npg_step) on a batch holding every state once, with the exact state-action
    distribution: the tabular direction J x equals (1 - gamma) ``tabular.natural_gradient`` =
    the centred advantage A(s, a) - mean_b A(s, b) up to a per-state constant (Kakade 2001,
    Theorem 1: the batch's state weights cancel between F and g, and the softmax is blind to
    theta[s, :] + c(s), F's null space). CG runs to convergence (P iterations, tolerance
    1e-13) without damping: g lies in F's range, so the Krylov iterates stay there."""
    mdp, policy, phi, theta, _ = problem
    S, A = mdp.n_states, mdp.n_actions
    pi = softmax_policy(theta)
    adv = advantages(mdp, pi)
    s, a = np.divmod(np.arange(S * A), A)
    g = policy.score(phi, np.eye(S)[s], a, (pi * adv).ravel() / S)   # (1/S) sum_s E_a[score A]
    step = npg_step(g, make_fvp(policy, phi, np.eye(S)), 1.0, cg_iters=policy.n_params,
                    cg_tol=1e-13)
    direction = _J(policy, step.step)
    centred = direction - direction.mean(axis=1, keepdims=True)
    # CG's residual 1e-13 |g| is amplified by 1 / (smallest nonzero eigenvalue of F) ~ 1e3
    np.testing.assert_allclose(centred, (1.0 - mdp.gamma) * natural_gradient(mdp, theta),
                               rtol=0, atol=1e-8 * np.abs(adv).max() + 1e-12)
