"""Finite-horizon episodes on a ``tabular.FiniteMDP``: exact time-dependent values, advantages,
state marginals and returns by backward and forward recursion, and sampled trajectories for
the Monte Carlo checks. The slides "Comparing the performance measure of two policies (1)-(2)"
use T-step episodes with gamma = 1; these functions take their own ``gamma`` (default 1) and
ignore ``mdp.gamma``. Tested in ``tests/exact/test_exact_tabular.py``.
"""
from __future__ import annotations

import numpy as np

from refimpl.exact.tabular import FiniteMDP, policy_dynamics, _check_policy


def _check_horizon(T, gamma):
    if int(T) != T or T < 1:
        raise ValueError(f"T must be a positive integer, got {T}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")


def finite_horizon_values(mdp: FiniteMDP, pi: np.ndarray, T: int, gamma: float = 1.0) -> np.ndarray:
    """Backward induction V_T = 0, V_t = r_pi + gamma P_pi V_{t+1} (t = T-1, ..., 0).

    The time-dependent value of a T-step episode ('Comparing ... (1)' with V(s_T) = 0
    "terminal"); ``mdp.gamma`` is ignored. Returns V, shape (T+1, S).
    Tested in ``test_finite_horizon_expected_advantage_sum``.
    """
    _check_horizon(T, gamma)
    P_pi, r_pi = policy_dynamics(mdp, pi)
    V = np.zeros((T + 1, mdp.n_states))
    for t in range(T - 1, -1, -1):
        V[t] = r_pi + gamma * P_pi @ V[t + 1]
    return V


def finite_horizon_advantages(mdp: FiniteMDP, pi: np.ndarray, T: int,
                              gamma: float = 1.0) -> np.ndarray:
    """A_t(s, a) = r(s, a) + gamma sum_s' P(s' | s, a) V_{t+1}(s') - V_t(s), t < T. Shape (T, S, A).

    The expectation over s_{t+1} of the lecture's one-sample advantage of 'Comparing ... (1)'.
    Tested in ``test_finite_horizon_expected_advantage_sum``.
    """
    V = finite_horizon_values(mdp, pi, T, gamma)
    return mdp.R[None] + gamma * np.einsum("sau,tu->tsa", mdp.P, V[1:]) - V[:-1, :, None]


def state_marginals(mdp: FiniteMDP, pi: np.ndarray, T: int) -> np.ndarray:
    """p_t(s) = P(s_t = s | pi): p_0 = p0, p_{t+1} = P_pi^T p_t. Shape (T+1, S).

    Used in ``test_finite_horizon_expected_advantage_sum``.
    """
    _check_horizon(T, 1.0)
    P_pi, _ = policy_dynamics(mdp, pi)
    p = np.empty((T + 1, mdp.n_states))
    p[0] = mdp.p0
    for t in range(T):
        p[t + 1] = p[t] @ P_pi
    return p


def eta_finite(mdp: FiniteMDP, pi: np.ndarray, T: int, gamma: float = 1.0) -> float:
    """Lecture, 'Performance measures of policies': eta_T(pi) = E[sum_{t<T} gamma^t r_t] = p0.V_0.

    Finite horizon T, its own gamma (default 1). Tested in
    ``test_finite_horizon_expected_advantage_sum``.
    """
    return float(mdp.p0 @ finite_horizon_values(mdp, pi, T, gamma)[0])


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs`` (N, K) by inverse CDF. Returns ints, shape (N,)."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])
    return np.minimum(np.sum(u[:, None] >= cdf, axis=1), probs.shape[1] - 1)


def sample_trajectory(mdp: FiniteMDP, pi: np.ndarray, rng: np.random.Generator,
                      T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Roll out T steps: s_0 ~ p0, a_t ~ pi(.|s_t), r_t = r(s_t, a_t), s_{t+1} ~ P(.|s_t, a_t).

    Returns (s, shape (T+1,) including the final state s_T; a, shape (T,); r, shape (T,)).
    Used in ``test_telescoping_sum_of_one_sample_advantages``.
    """
    pi = _check_policy(mdp, pi)
    _check_horizon(T, 1.0)
    s = np.empty(T + 1, dtype=int)
    a = np.empty(T, dtype=int)
    s[0] = _categorical(mdp.p0[None], rng)[0]
    for t in range(T):
        a[t] = _categorical(pi[s[t]][None], rng)[0]
        s[t + 1] = _categorical(mdp.P[s[t], a[t]][None], rng)[0]
    return s, a, mdp.R[s[:-1], a]


def sample_visitation(mdp: FiniteMDP, pi: np.ndarray, rng: np.random.Generator,
                      n: int) -> tuple[np.ndarray, np.ndarray]:
    """n independent pairs s ~ d_pi = (1 - gamma) rho_pi, a ~ pi(.|s), by geometric stopping.

    Each chain starts at s_0 ~ p0 and, before every transition, stops with probability
    1 - gamma; the state it stops in has law sum_t (1 - gamma) gamma^t P(s_t = s) = d_pi(s).
    Returns (s, a), ints of shape (n,). Tested in
    ``test_geometric_stopping_samples_normalised_visitation``.
    """
    pi = _check_policy(mdp, pi)
    s = _categorical(np.broadcast_to(mdp.p0, (n, mdp.n_states)), rng)
    running = rng.random(n) < mdp.gamma
    while np.any(running):
        idx = np.flatnonzero(running)
        a = _categorical(pi[s[idx]], rng)
        s[idx] = _categorical(mdp.P[s[idx], a], rng)
        running[idx] = rng.random(idx.size) < mdp.gamma
    return s, _categorical(pi[s], rng)
