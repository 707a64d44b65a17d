"""Exact ground truths on finite MDPs: values, visitation, eta, surrogate, gradients, Fisher, KL.

Everything is computed by linear algebra (``np.linalg.solve``), never by iteration or sampling,
so the policy-improvement theory of the lecture ("Comparing the performance measure of two
policies (1)-(4)", "TRPO: The surrogate loss function", "TRPO: Approximation error", the
natural-policy-gradient slides) can be checked to rounding error in
``tests/exact/test_exact_tabular.py``.

Conventions (each function repeats the one it uses):

* ``eta(pi) = E[sum_t gamma^t r_t]`` is the *unnormalised* discounted return, ``p0 . V^pi``.
* ``rho_pi(s) = sum_t gamma^t P(s_t = s)`` is the lecture's discounted state distribution. It is
  *unnormalised*: it sums to ``1 / (1 - gamma)``. Its normalised version
  ``d_pi = (1 - gamma) rho_pi`` is a probability vector (``normalized=True``); sampling
  "s ~ rho" in practice draws from ``d_pi``.
* The tabular softmax policy ``pi_theta(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])`` has
  ``theta`` of shape (S, A); matrices over parameters (the Fisher) use the flat index
  ``s * A + a`` (``theta.ravel()``).
* The finite-horizon functions take their own ``gamma`` (default 1, as on the slides
  "Comparing ... (1)-(2)") and ignore ``mdp.gamma``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

ROW_SUM_TOL = 1e-10
"""Tolerance on sum_s' P(s' | s, a) = 1, sum_a pi(a|s) = 1 and sum_s p0(s) = 1 in input validation."""


@dataclass(frozen=True)
class FiniteMDP:
    """A finite discounted MDP (S states, A actions).

    Attributes
    ----------
    P : ndarray, shape (S, A, S)
        Transition probabilities P[s, a, s'] = P(s_{t+1} = s' | s_t = s, a_t = a).
    R : ndarray, shape (S, A)
        Reward r(s, a) (deterministic given (s, a); it is the expected reward of a stochastic one).
    p0 : ndarray, shape (S,)
        Initial state distribution.
    gamma : float
        Discount factor, in [0, 1) so that every infinite-horizon quantity is finite.
    """

    P: np.ndarray
    R: np.ndarray
    p0: np.ndarray
    gamma: float

    def __post_init__(self):
        for name in ("P", "R", "p0"):
            arr = np.array(getattr(self, name), dtype=np.float64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        _check_mdp_shapes(self.P, self.R, self.p0)
        _check_distribution(self.P, "P")
        _check_distribution(self.p0, "p0")
        if not np.all(np.isfinite(self.R)):
            raise ValueError("R must be finite")
        if not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"gamma must lie in [0, 1), got {self.gamma}")

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def n_actions(self) -> int:
        return self.P.shape[1]


def _check_mdp_shapes(P, R, p0):
    if P.ndim != 3 or P.shape[0] != P.shape[2] or P.shape[0] < 1 or P.shape[1] < 1:
        raise ValueError(f"P must have shape (S, A, S) with S, A >= 1, got {P.shape}")
    if R.shape != P.shape[:2]:
        raise ValueError(f"R must have shape {P.shape[:2]} (S, A), got {R.shape}")
    if p0.shape != P.shape[:1]:
        raise ValueError(f"p0 must have shape {P.shape[:1]} (S,), got {p0.shape}")


def _check_distribution(p, name):
    if np.any(p < 0) or np.any(np.abs(p.sum(axis=-1) - 1.0) > ROW_SUM_TOL):
        raise ValueError(f"{name} must be non-negative and sum to 1 over its last axis")


def _check_policy(mdp: FiniteMDP, pi: np.ndarray, name: str = "pi") -> np.ndarray:
    pi = np.asarray(pi, dtype=np.float64)
    if pi.shape != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"{name} must have shape {(mdp.n_states, mdp.n_actions)}, got {pi.shape}")
    _check_distribution(pi, name)
    return pi


def random_mdp(rng: np.random.Generator, S: int, A: int, gamma: float,
               concentration: float = 1.0) -> FiniteMDP:
    """Random MDP: P[s, a, :] and p0 ~ Dirichlet(concentration), R[s, a] ~ N(0, 1)."""
    if S < 1 or A < 1:
        raise ValueError(f"S and A must be >= 1, got S={S}, A={A}")
    alpha = np.full(S, float(concentration))
    return FiniteMDP(P=rng.dirichlet(alpha, size=(S, A)), R=rng.standard_normal((S, A)),
                     p0=rng.dirichlet(alpha), gamma=gamma)


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    """Tabular softmax pi_theta(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b]).

    Parameters
    ----------
    theta : ndarray, shape (S, A)

    Returns
    -------
    pi : ndarray, shape (S, A), rows sum to 1.

    Invariant to theta[s, :] += c(s): ``test_per_state_shifts_of_theta_are_invisible``.
    """
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim != 2:
        raise ValueError(f"theta must have shape (S, A), got {theta.shape}")
    z = np.exp(theta - theta.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def policy_dynamics(mdp: FiniteMDP, pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """State chain of a policy: P_pi[s, s'] = sum_a pi(a|s) P[s, a, s'], r_pi[s] = sum_a pi R.

    Returns (P_pi, shape (S, S); r_pi, shape (S,)). The oracle of
    ``test_values_equal_truncated_power_series``.
    """
    pi = _check_policy(mdp, pi)
    return np.einsum("sa,sat->st", pi, mdp.P), np.sum(pi * mdp.R, axis=1)


def state_values(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """V^pi = (I - gamma P_pi)^-1 r_pi, solving the Bellman equation V = r_pi + gamma P_pi V.

    Shape (S,). Tested in ``tests/exact/test_exact_tabular.py::test_values_satisfy_bellman_equation``
    and ``::test_values_equal_truncated_power_series``.
    """
    P_pi, r_pi = policy_dynamics(mdp, pi)
    return np.linalg.solve(np.eye(mdp.n_states) - mdp.gamma * P_pi, r_pi)


def action_values(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """Q^pi(s, a) = r(s, a) + gamma sum_s' P(s' | s, a) V^pi(s'). Shape (S, A).

    Tested with the Bellman equation in ``test_values_satisfy_bellman_equation``.
    """
    return mdp.R + mdp.gamma * mdp.P @ state_values(mdp, pi)


def advantages(mdp: FiniteMDP, pi: np.ndarray) -> np.ndarray:
    """A^pi(s, a) = Q^pi(s, a) - V^pi(s); sum_a pi(a|s) A^pi(s, a) = 0. Shape (S, A).

    The lecture's "Comparing ... (1)" writes the one-sample version r_t + V(s_{t+1}) - V(s_t);
    this is its expectation over s_{t+1}. Tested in
    ``test_advantage_has_zero_mean_under_its_policy`` and by the identities it enters.
    """
    return action_values(mdp, pi) - state_values(mdp, pi)[:, None]


def eta(mdp: FiniteMDP, pi: np.ndarray) -> float:
    """Lecture, 'Performance measures of policies': eta(pi) = E[sum_t gamma^t r_t] = p0 . V^pi.

    Unnormalised (no (1 - gamma) factor). Tested in ``test_performance_difference_identity``.
    """
    return float(mdp.p0 @ state_values(mdp, pi))


def discounted_visitation(mdp: FiniteMDP, pi: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Lecture, 'Comparing ... (3)': rho_pi(s) = sum_t gamma^t P(s_t = s | pi).

    rho^T = p0^T (I - gamma P_pi)^-1. With ``normalized=False`` (the lecture's rho) it sums to
    1 / (1 - gamma); with ``normalized=True`` it returns d_pi = (1 - gamma) rho_pi, a probability
    vector (the distribution "s ~ rho" is sampled from in practice, see ``sample_visitation``).

    Shape (S,). Tested in ``test_visitation_equals_truncated_power_series`` and
    ``test_geometric_stopping_samples_normalised_visitation``.
    """
    P_pi, _ = policy_dynamics(mdp, pi)
    rho = np.linalg.solve((np.eye(mdp.n_states) - mdp.gamma * P_pi).T, mdp.p0)
    return (1.0 - mdp.gamma) * rho if normalized else rho


def policy_gradient(mdp: FiniteMDP, theta: np.ndarray) -> np.ndarray:
    """Exact grad_theta eta(pi_theta) for the tabular softmax policy (policy gradient theorem).

    d eta / d theta[s, a] = rho(s) pi(a|s) A^pi(s, a), rho unnormalised: the lecture's
    eq. Adv_TRPO_gradient, E_{s~rho, a~pi}[grad log pi(a|s) A(s, a)], evaluated exactly with
    grad_{theta[s, .]} log pi(a|s) = e_a - pi(.|s).

    Parameters
    ----------
    theta : ndarray, shape (S, A)

    Returns
    -------
    g : ndarray, shape (S, A)

    Tested against central differences of eta in
    ``test_policy_gradient_matches_finite_differences``.
    """
    pi = softmax_policy(theta)
    return discounted_visitation(mdp, pi)[:, None] * pi * advantages(mdp, pi)


def fisher(mdp: FiniteMDP, theta: np.ndarray, normalized: bool = True) -> np.ndarray:
    """Natural-PG slides: F = E_{s~d, a~pi}[grad log pi(a|s) grad log pi(a|s)^T], exactly.

    For the tabular softmax it is block-diagonal over states::

        F[(s, .), (s, .)] = d(s) (diag(pi(.|s)) - pi(.|s) pi(.|s)^T).

    ``normalized=True``: d = (1 - gamma) rho, a probability (what a sample average estimates);
    ``normalized=False``: d = rho (sums to 1 / (1 - gamma)).

    Returns F, shape (S*A, S*A), flat index s * A + a. Tested in
    ``test_fisher_equals_outer_product_loop``, ``test_fisher_is_hessian_of_mean_kl`` (F is the
    Hessian of ``kl_mean``) and ``test_per_state_shifts_of_theta_are_invisible`` (PSD, null space).
    """
    pi = softmax_policy(theta)
    d = discounted_visitation(mdp, pi, normalized=normalized)
    blocks = [d_s * (np.diag(p) - np.outer(p, p)) for d_s, p in zip(d, pi)]
    return scipy.linalg.block_diag(*blocks)


def natural_gradient(mdp: FiniteMDP, theta: np.ndarray) -> np.ndarray:
    """Closed form of F^+ grad eta for the tabular softmax (Kakade 2001, Theorem 1).

    With F = fisher(normalized=True) and g = policy_gradient (unnormalised rho), on every state
    with rho(s) > 0::

        (F^+ g)[s, a] = (A^pi(s, a) - mean_b A^pi(s, b)) / (1 - gamma).

    Derivation: the block of F at s is (1 - gamma) rho(s) (diag(pi) - pi pi^T) and
    (diag(pi) - pi pi^T) A(s, .) = pi * A(s, .) because sum_a pi A = 0, so w = A / (1 - gamma)
    solves F w = g; the pseudo-inverse takes the solution orthogonal to the per-state constants
    (the null space), i.e. subtracts the uniform mean over actions. The 1 / (1 - gamma) is the
    ratio of the two normalisations of rho; it is 1 if both use the same one. On states with
    rho(s) = 0, F^+ g is 0 (this function does not mask them).

    Returns shape (S, A). Tested in ``test_natural_gradient_is_centred_advantage``.
    """
    adv = advantages(mdp, softmax_policy(theta))
    return (adv - adv.mean(axis=1, keepdims=True)) / (1.0 - mdp.gamma)


def kl_per_state(pi_old: np.ndarray, pi_new: np.ndarray) -> np.ndarray:
    """KL(pi_old(.|s) || pi_new(.|s)) = sum_a pi_old log(pi_old / pi_new), per state. Shape (S,).

    Terms with pi_old(a|s) = 0 contribute 0; pi_new(a|s) = 0 < pi_old(a|s) gives +inf.
    Tested in ``test_kl_per_state_and_kl_max_closed_form``.
    """
    pi_old, pi_new = np.asarray(pi_old, float), np.asarray(pi_new, float)
    if pi_old.shape != pi_new.shape:
        raise ValueError(f"pi_new must have the shape of pi_old {pi_old.shape}, got {pi_new.shape}")
    support = pi_old > 0
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(support, pi_old, 1.0)) - np.log(pi_new)
    return np.sum(np.where(support, pi_old * log_ratio, 0.0), axis=1)


def kl_mean(mdp: FiniteMDP, pi_old: np.ndarray, pi_new: np.ndarray) -> float:
    """Eq. Adv_TRPO_Opt: D_KL^avg(pi_old, pi_new) = E_{s~d_old}[KL(pi_old(.|s) || pi_new(.|s))].

    d_old = (1 - gamma) rho_old is the *normalised* visitation, so this is an average over
    states. Its Hessian in theta_new at theta_old is ``fisher(normalized=True)``
    (``test_fisher_is_hessian_of_mean_kl``).
    """
    pi_old, pi_new = _check_policy(mdp, pi_old, "pi_old"), _check_policy(mdp, pi_new, "pi_new")
    d_old = discounted_visitation(mdp, pi_old, normalized=True)
    return float(d_old @ kl_per_state(pi_old, pi_new))


def kl_max(pi_old: np.ndarray, pi_new: np.ndarray) -> float:
    """'TRPO: Approximation error': D_KL^max(pi_old, pi_new) = max_s KL(pi_old(.|s) || pi_new(.|s)).

    The maximum runs over all states, reachable or not (Schulman et al. 2015, Sec. 3).
    Tested in ``test_trpo_lower_bound``.
    """
    return float(np.max(kl_per_state(pi_old, pi_new)))


def tv_max(pi_old: np.ndarray, pi_new: np.ndarray) -> float:
    """alpha = D_TV^max(pi_old, pi_new) = max_s (1/2) sum_a |pi_old(a|s) - pi_new(a|s)|.

    Schulman et al. 2015, Theorem 1 (before Pinsker's alpha^2 <= D_KL^max). Tested in
    ``test_trpo_lower_bound``.
    """
    return float(np.max(0.5 * np.sum(np.abs(np.asarray(pi_old) - np.asarray(pi_new)), axis=1)))


def surrogate(mdp: FiniteMDP, pi_old: np.ndarray, pi: np.ndarray) -> float:
    """Eq. Adv_surrogate_loss: L_old(pi) = eta(pi_old) + sum_s rho_old(s) sum_a pi(a|s) A_old(s, a).

    rho_old unnormalised, so L_old is directly comparable with eta (``eta`` is unnormalised).
    Tested in ``test_surrogate_matches_eta_to_first_order`` and ``test_trpo_lower_bound``.
    """
    pi_old, pi = _check_policy(mdp, pi_old, "pi_old"), _check_policy(mdp, pi, "pi")
    rho_old = discounted_visitation(mdp, pi_old)
    return eta(mdp, pi_old) + float(rho_old @ np.sum(pi * advantages(mdp, pi_old), axis=1))


def trpo_penalty_coefficient(mdp: FiniteMDP, pi_old: np.ndarray) -> float:
    """'TRPO: Approximation error': C = 4 epsilon gamma / (1 - gamma)^2, epsilon = max |A_old|.

    Schulman et al. 2015, Theorem 1 and Eq. (9): eta(pi) >= L_old(pi) - C D_KL^max(pi_old, pi).
    Tested in ``test_trpo_lower_bound``.
    """
    epsilon = np.max(np.abs(advantages(mdp, pi_old)))
    return float(4.0 * epsilon * mdp.gamma / (1.0 - mdp.gamma) ** 2)


