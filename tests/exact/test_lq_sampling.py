"""refimpl's sampling code (rollout.Collector, rollout.estimate_advantages, policy.score,
fisher.make_fvp, fisher.empirical_fisher) on the lecture's linear-quadratic example, against the
closed forms of refimpl/exact/lq.py, within stated Monte-Carlo bounds.

Policy: ``GaussianPolicy.build(1, 1, hidden=())`` has phi = [w, b, log_std] and mean w s + b;
with w = k, b = 0 and log_std = log sigma it is the slide's pi_phi(a|s) = N(k s, sigma^2)
("Ill-conditioned gradients"). Its (k, sigma) coordinates follow by the chain rule:
d/dk = d/dw, d/dsigma = d/dlog_std / sigma.

Which states the Fisher averages over: the lecture's F uses s ~ rho, the normalised discounted state
distribution (weights gamma^t / sum_t gamma^t), and so does ``exact.lq.fisher``. ``fisher.make_fvp``
on a batch averages the visited states uniformly over t, which is a different distribution; so the
rho-Fisher is compared through the explicit discounted weights on s^2, and make_fvp is checked to
be exactly the uniform average of the same states (and that average against its own closed form).

Batches are whole episodes: E environments run exactly H = 200 steps from their reset, so column e of
the (T, E) batch is episode e, row t its step t. Every estimator below is a mean over the E
independent episodes of a per-episode quantity X_e, so its standard error is SE = std(X_e) / sqrt(E);
the bounds are 5 SE. The per-episode quantities are products of Gaussians with heavy-ish tails
(measured excess kurtosis 7 .. 36), which makes 5 SE less conservative than for a normal mean but still
a rare failure for a correct implementation; the seeds are fixed.

Discounting: J = E[sum_t gamma^t r_t] and its exact gradient is E[sum_t gamma^t grad log pi(a_t|s_t) G_t]
with the discounted reward-to-go G_t = sum_l gamma^l r_{t+l} (GAE with lam = 1 and a zero critic);
the lecture's s ~ rho is the normalised discounted state distribution, weights gamma^t / sum_t gamma^t.
"""
import functools

import numpy as np
import pytest

from refimpl.exact.lq import PRESETS, fisher, return_gradient, state_second_moment
from refimpl.core.fisher import empirical_fisher, make_fvp
from refimpl.core.nn import MLP
from refimpl.core.policy import GaussianPolicy
from refimpl.envs.rollout import Collector, estimate_advantages

E = 1024          # episodes per batch; ~2 s of environment steps per case
POLICY = GaussianPolicy.build(1, 1, hidden=())
CASES = [("lecture", -0.2, 0.1), ("peters", -0.3, 0.5), ("lecture", -1.3, 0.6)]
"""(preset, k, sigma): stable gains away from k*, where |dJ/dk| is ~10 SE (so the test has power)."""


def phi_of(k, sigma):
    return np.array([k, 0.0, np.log(sigma)])


@functools.cache
def rollout(name, k, sigma):
    """Whole episodes of pi = N(k s, sigma^2): obs, actions, G (each (H, E)), discounts gamma^t."""
    p = PRESETS[name]
    collector = Collector(f"refimpl/LQ-{name.capitalize()}-v0", num_envs=E, seed=1, gamma=p.gamma,
                          norm_obs=False, obs_clip=np.inf, norm_reward=False, clip_actions=False)
    batch = collector.collect(POLICY, phi_of(k, sigma), p.horizon, np.random.default_rng(2))
    collector.close()
    ends = np.flatnonzero(batch.ends.any(axis=1))
    assert list(ends) == [p.horizon - 1] and batch.ends[-1].all(), "every column is one whole episode"
    G, _, _ = estimate_advantages(MLP((1, 1)), np.zeros(2), batch, p.gamma, lam=1.0)
    return batch.obs[..., 0], batch.actions[..., 0], G, p.gamma ** np.arange(p.horizon)


def mean_and_se(X):
    """Mean over episodes (axis 0) and its standard error."""
    return X.mean(axis=0), X.std(axis=0, ddof=1) / np.sqrt(len(X))


def bias_gradient_loop(name, k, sigma):
    """dJ/db at b = 0 for the mean k s + b, from a naive moment recursion (an independent oracle).

    With b: m_{t+1} = (1 + k) m_t + b, v_{t+1} = (1 + k)^2 v_t + 2 (1 + k) b m_t + b^2 + sigma^2,
    E[a_t^2] = k^2 v_t + 2 k b m_t + b^2 + sigma^2. J is a quadratic polynomial in b, so the central
    difference (J(1) - J(-1)) / 2 is its exact derivative at 0. It is not zero: E[s_0] = 0.3 != 0.
    """
    p = PRESETS[name]

    def J(b):
        m, v, total = p.s0_mean, p.s0_mean ** 2 + p.s0_std ** 2, 0.0
        for t in range(p.horizon):
            a2 = k * k * v + 2 * k * b * m + b * b + sigma * sigma
            total -= p.gamma ** t * p.scale * (p.q * v + p.r_cost * a2)
            m, v = (1 + k) * m + b, (1 + k) ** 2 * v + 2 * (1 + k) * b * m + b * b + sigma ** 2
        return total

    return (J(1.0) - J(-1.0)) / 2


@pytest.mark.parametrize("name, k, sigma", CASES)
def test_sampled_policy_gradient_matches_closed_form_within_5_standard_errors(name, k, sigma):
    obs, actions, G, disc = rollout(name, k, sigma)
    phi = phi_of(k, sigma)
    # per-episode contribution X_e = sum_t gamma^t grad log pi(a_t|s_t) G_t, in (w, b, log_std)
    X = np.array([POLICY.score(phi, obs[:, [e]], actions[:, [e]], disc * G[:, e]) for e in range(E)])
    est, se = mean_and_se(X)
    # one score call with weights gamma^t G_t / E is the same estimator (rounding of E sums: 1e-12)
    weights = (disc[:, None] * G / E).ravel()
    one_call = POLICY.score(phi, obs.reshape(-1, 1), actions.reshape(-1, 1), weights)
    np.testing.assert_allclose(one_call, est, rtol=1e-12, atol=1e-12 * np.abs(X).max())
    chain = np.array([1.0, 1.0, 1.0 / sigma])                 # (d/dk, d/db, d/dsigma)
    est, se = est * chain, se * chain
    exact = np.array([*return_gradient(name, k, sigma)])
    exact = np.array([exact[0], bias_gradient_loop(name, k, sigma), exact[1]])
    # fixed seed; 5 standard errors of a mean over E independent episodes
    assert np.all(np.abs(est - exact) <= 5 * se), (est, exact, se)
    # power: the k and sigma bounds are tighter than the gradient itself, so a sign error or a
    # missing gamma^t (which changes the estimate by O(|g|)) would fail
    assert np.all(5 * se[[0, 2]] < np.abs(exact[[0, 2]]))


@pytest.mark.parametrize("name, k, sigma", CASES)
def test_discounted_fisher_of_sampled_states_matches_closed_form(name, k, sigma):
    obs, _, _, disc = rollout(name, k, sigma)
    # E_rho[s^2] with rho the normalised discounted state distribution: per episode
    # Y_e = sum_t gamma^t s_t^2 / sum_t gamma^t (the states are NOT weighted uniformly over t)
    Y = (disc[:, None] * obs ** 2).sum(axis=0) / disc.sum()
    Es2, se = mean_and_se(Y)
    # Fisher of N(k s, sigma^2) in (k, sigma): [[E_rho s^2 / sigma^2, 0], [0, 2 / sigma^2]]; in the
    # policy's (w, log_std) the log-std entry is 2 and d log_std = d sigma / sigma
    F_hat = np.diag([Es2 / sigma ** 2, 2.0 / sigma ** 2])
    F = fisher(name, k, sigma)
    # fixed seed; 5 standard errors of the k entry; the sigma entry is deterministic (rounding)
    assert abs(F_hat[0, 0] - F[0, 0]) <= 5 * se / sigma ** 2
    assert F_hat[1, 1] == pytest.approx(F[1, 1], rel=1e-14)
    assert F[0, 1] == F[1, 0] == 0.0
    assert Es2 == pytest.approx(state_second_moment(name, k, sigma), abs=5 * se)


def uniform_second_moment_loop(name, k, sigma):
    """(1/H) sum_t E[s_t^2]: the state distribution weighted uniformly over t (a plain loop)."""
    p = PRESETS[name]
    v, total = p.s0_mean ** 2 + p.s0_std ** 2, 0.0
    for _ in range(p.horizon):
        total += v
        v = (1 + k) ** 2 * v + sigma ** 2
    return total / p.horizon


@pytest.mark.parametrize("name, k, sigma", CASES)
def test_make_fvp_on_visited_states_is_their_uniform_average(name, k, sigma):
    obs, _, _, _ = rollout(name, k, sigma)
    s = obs.reshape(-1, 1)
    fvp = make_fvp(POLICY, phi_of(k, sigma), s)
    F_hat = np.column_stack([fvp(v) for v in np.eye(3)])
    # J_s = [[s, 1, 0], [0, 0, 1]] and M = diag(1 / sigma^2, 2): F = mean_s J_s^T M J_s
    m1, m2 = s.mean(), (s * s).mean()
    F_ref = np.array([[m2 / sigma ** 2, m1 / sigma ** 2, 0.0], [m1 / sigma ** 2, 1 / sigma ** 2, 0.0],
                      [0.0, 0.0, 2.0]])
    # same sums in another order: rounding of N = 204800 terms, 1e-12 relative
    np.testing.assert_allclose(F_hat, F_ref, rtol=1e-12, atol=1e-12 * np.abs(F_ref).max())
    # so make_fvp on a batch estimates the Fisher under the uniform-in-t state distribution
    # (fixed seed; 5 standard errors of the per-episode means of s^2)
    m2_e, se = mean_and_se((obs ** 2).mean(axis=0))
    assert m2 == pytest.approx(m2_e, rel=1e-12)
    assert abs(m2 - uniform_second_moment_loop(name, k, sigma)) <= 5 * se


@pytest.mark.parametrize("name, k, sigma", CASES)
def test_empirical_fisher_matches_analytic_fvp_within_monte_carlo_bound(name, k, sigma):
    obs, actions, _, _ = rollout(name, k, sigma)
    phi = phi_of(k, sigma)
    # Per episode: D_e = mean_t (score score^T - F(s_t)). Given s_t, a_t ~ pi(.|s_t), so each term
    # has conditional mean 0 (a martingale difference); episodes are independent.
    D = []
    for e in range(E):
        s, a = obs[:, [e]], actions[:, [e]]
        fvp = make_fvp(POLICY, phi, s)
        D.append(empirical_fisher(POLICY, phi, s, a) - np.column_stack([fvp(v) for v in np.eye(3)]))
    mean, se = mean_and_se(np.array(D))
    # fixed seed; 5 standard errors per entry (6 distinct entries of a symmetric 3x3)
    assert np.all(np.abs(mean) <= 5 * se), (mean, se)
    # power: the bound on each diagonal entry is small next to the Fisher itself
    fvp_all = make_fvp(POLICY, phi, obs.reshape(-1, 1))
    F_all = np.column_stack([fvp_all(u) for u in np.eye(3)])
    assert np.all(5 * np.diag(se) < 0.1 * np.diag(F_all))
