"""Fisher information of the policy and the mean KL divergence that TRPO constrains.

Lecture, "Aside: KL-divergence and Fisher information matrix":

    F = E_{s, a ~ pi_phi} [ grad_phi log pi_phi(a|s) grad_phi log pi_phi(a|s)^T ]
    KL-bar(phi_old, phi) = E_s KL(pi_old(.|s) || pi_phi(.|s)) ~ 1/2 dphi^T F dphi.

For the diagonal Gaussian policy the expectation over actions is closed form. With J_s the
Jacobian of the distribution's parameters (mean(s), log_std) w.r.t. phi and
M = diag(1/sigma^2 for the mean components, 2 for the log-std components)
(``distributions.fisher_weights``),

    F = (1/N) sum_s J_s^T M J_s        (the mean over the N sampled states).

``make_fvp`` never forms F: a Fisher-vector product is one forward-mode pass (J v), a
weighting by M and one reverse-mode pass (J^T M J v), so its cost is linear in the number of
parameters ("TRPO: Avoiding matrix inversion"). ``dense_fisher`` and ``empirical_fisher`` build
F explicitly for tests and small problems. All verified in ``tests/test_fisher.py``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from refimpl import distributions as dist
from refimpl.errors import NumericalError
from refimpl.policy import GaussianPolicy


def _validate(policy: GaussianPolicy, obs: np.ndarray | None = None,
              actions: np.ndarray | None = None, **vectors: np.ndarray) -> list[np.ndarray]:
    """Check shapes against ``policy`` and finiteness; return the given arrays as float64.

    Order of the result: obs, actions (when given), then the keyword vectors (phi, v, ...),
    each of which must have shape (n_params,). A wrong shape is a one-line ValueError naming
    the argument; a NaN or infinity a NumericalError naming it (inside training a non-finite
    parameter or state is a numerical failure, not a user mistake).
    """
    n = np.shape(obs)[0] if np.ndim(obs) == 2 else 0
    want = {"obs": ((n, policy.obs_dim), f"(N, {policy.obs_dim}) with N >= 1"),
            "actions": ((n, policy.act_dim), f"({n}, {policy.act_dim}), one row per state")}
    out = []
    for name, value in {"obs": obs, "actions": actions, **vectors}.items():
        if value is None:
            continue
        value = np.asarray(value, dtype=np.float64)
        shape, shown = want.get(name, ((policy.n_params,), f"({policy.n_params},)"))
        if value.shape != shape or value.size == 0:
            raise ValueError(f"{name} must have shape {shown}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise NumericalError(f"{name} contains non-finite values")
        out.append(value)
    return out


def make_fvp(policy: GaussianPolicy, phi: np.ndarray, obs: np.ndarray,
             damping: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Matrix-free Fisher-vector product v -> (F + damping I) v, F = (1/N) sum_s J_s^T M J_s.

    Lecture, "TRPO: Avoiding matrix inversion": like a gradient, the product costs O(N P),
    linear in the number of parameters P; no P x P matrix is formed.
    The policy's forward pass runs once here; each call is one ``policy.jvp`` (J v), a weighting
    by M (1/sigma^2 on the mean, 2 on the state-independent log-std, so that block is simply
    2 v_log_std), and one ``policy.vjp`` (J^T M J v).

    Parameters
    ----------
    policy : GaussianPolicy
    phi : ndarray, shape (n_params,)
        Where F is evaluated (phi_old in TRPO).
    obs : ndarray, shape (N, obs_dim)
        The sampled states s; F averages over them.
    damping : float
        lambda >= 0 added on the diagonal (an implementation detail, not in the lecture: it
        keeps CG well posed when F is singular, e.g. more parameters than N * act_dim).

    Returns
    -------
    fvp : callable, ndarray (n_params,) -> ndarray (n_params,)

    Tested in ``tests/test_fisher.py::test_fvp_equals_dense_fisher_times_v`` and the
    finite-difference-Hessian, Monte-Carlo and damping tests next to it.
    """
    obs, phi = _validate(policy, obs, phi=phi)
    if not (np.isfinite(damping) and damping >= 0.0):
        raise ValueError(f"damping must be a finite number >= 0, got {damping}")
    phi = phi.copy()  # the cache below belongs to this phi, even if the caller's changes
    _, log_std, cache = policy.forward(phi, obs)
    w_mean, w_log_std = dist.fisher_weights(log_std)
    w_mean = w_mean / obs.shape[0]  # the 1/N of the mean over states

    def fvp(v: np.ndarray) -> np.ndarray:
        (v,) = _validate(policy, v=v)
        dmean, dlog_std = policy.jvp(phi, cache, v)                 # J v
        # J^T M J v; log_std is shared by all states, so its block is (1/N) sum_s 2 v = 2 v
        return policy.vjp(phi, cache, w_mean * dmean, w_log_std * dlog_std) + damping * v

    return fvp


def fisher_vector_product(policy: GaussianPolicy, phi: np.ndarray, obs: np.ndarray,
                          v: np.ndarray, damping: float = 0.0) -> np.ndarray:
    """(F + damping I) v in one call: ``make_fvp(policy, phi, obs, damping)(v)``.

    Shapes as in ``make_fvp``; v : ndarray, shape (n_params,). Returns shape (n_params,).
    Tested with ``make_fvp`` in ``tests/test_fisher.py``.
    """
    return make_fvp(policy, phi, obs, damping)(v)


def _jacobian(policy: GaussianPolicy, phi: np.ndarray, obs: np.ndarray):
    """Per-state Jacobian of (mean(s), log_std) w.r.t. phi, shape (N, 2 act_dim, n_params).

    Built column by column from ``policy.jvp`` of unit vectors (P forward-mode passes).
    Also returns (mean, log_std) at phi.
    """
    mean, log_std, cache = policy.forward(phi, obs)
    n, d = mean.shape
    jac = np.empty((n, 2 * d, policy.n_params))
    for i, e in enumerate(np.eye(policy.n_params)):
        dmean, dlog_std = policy.jvp(phi, cache, e)
        jac[:, :d, i] = dmean
        jac[:, d:, i] = dlog_std
    return jac, mean, log_std


def subsample_states(obs: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random subset of round(fraction * N) >= 1 rows of ``obs`` (N, obs_dim),
    without replacement; ``obs`` itself when fraction = 1 (no random numbers are drawn).

    Implementation detail (TRPO paper, appendix C): Fisher-vector products on a subsample. The
    subsample's F is an unbiased estimate of the batch's: averaged over all subsets of one size
    it equals the full-batch F exactly
    (``tests/test_fisher.py::test_subsampled_fisher_is_unbiased``).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    if fraction == 1.0:
        return obs
    n = len(obs)
    return obs[np.sort(rng.choice(n, size=max(1, round(fraction * n)), replace=False))]


def dense_fisher(policy: GaussianPolicy, phi: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """F = (1/N) sum_s J_s^T M J_s as an explicit (P, P) matrix (for tests and small P).

    Lecture, "Aside: KL-divergence and Fisher information matrix", with the Gaussian's Fisher
    M = diag(1/sigma^2 (mean), 2 (log-std)) in closed form. Costs P forward-mode passes and
    O(N d P^2) memory-bound work; the matrix-free ``make_fvp`` is what the algorithms use.

    Parameters
    ----------
    policy : GaussianPolicy
    phi : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    F : ndarray, shape (n_params, n_params), symmetric positive semi-definite.

    Tested in ``tests/test_fisher.py::test_fisher_is_symmetric_positive_semidefinite``.
    """
    obs, phi = _validate(policy, obs, phi=phi)
    jac, _, log_std = _jacobian(policy, phi, obs)
    w_mean, w_log_std = dist.fisher_weights(log_std)
    m = np.concatenate([w_mean, np.full(policy.act_dim, w_log_std)])
    rows = jac.reshape(-1, policy.n_params)                      # (N 2d, P): J_s stacked
    return rows.T @ (jac * m[:, None]).reshape(rows.shape) / obs.shape[0]


def empirical_fisher(policy: GaussianPolicy, phi: np.ndarray, obs: np.ndarray,
                     actions: np.ndarray) -> np.ndarray:
    """F_hat = (1/N) sum_n score_n score_n^T, score_n = grad_phi log pi_phi(a_n|s_n).

    The lecture's definition F = E[score score^T] ("Aside: KL-divergence and Fisher information
    matrix") estimated from samples; it converges to ``dense_fisher`` when a_n ~ pi_phi(.|s_n).

    Parameters
    ----------
    policy : GaussianPolicy
    phi : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)
    actions : ndarray, shape (N, act_dim)

    Returns
    -------
    F_hat : ndarray, shape (n_params, n_params)

    Tested in ``tests/test_fisher.py::test_fvp_matches_empirical_fisher_within_monte_carlo_bound``.
    """
    obs, actions, phi = _validate(policy, obs, actions, phi=phi)
    jac, mean, log_std = _jacobian(policy, phi, obs)
    dmean, dlog_std = dist.log_prob_grad(mean, log_std, actions)
    u = np.concatenate([dmean, dlog_std], axis=1)                # d log pi / d(mean, log_std)
    scores = (u[:, None, :] @ jac)[:, 0, :]                      # score_n = J_n^T u_n
    return scores.T @ scores / obs.shape[0]


def kl_mean(policy: GaussianPolicy, phi_old: np.ndarray, phi_new: np.ndarray,
            obs: np.ndarray) -> float:
    """KL-bar = (1/N) sum_s KL(pi_phi_old(.|s) || pi_phi_new(.|s)), the TRPO constraint.

    Lecture, "TRPO: The surrogate optimization problem" (the average KL over visited states).

    Parameters
    ----------
    policy : GaussianPolicy
    phi_old, phi_new : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    kl : float, >= 0, zero at phi_new = phi_old.

    Tested in ``tests/test_fisher.py::test_kl_mean_is_zero_at_phi_old`` and by the quadratic
    expansion test ``test_kl_minus_half_quadratic_form_is_third_order``.
    """
    obs, phi_old, phi_new = _validate(policy, obs, phi_old=phi_old, phi_new=phi_new)
    mean_p, log_std_p, _ = policy.forward(phi_old, obs)
    mean_q, log_std_q, _ = policy.forward(phi_new, obs)
    return kl_mean_of(mean_p, log_std_p, mean_q, log_std_q)


def kl_mean_of(mean_p: np.ndarray, log_std_p: np.ndarray, mean_q: np.ndarray,
               log_std_q: np.ndarray) -> float:
    """KL-bar = (1/N) sum_s KL(p(.|s) || q(.|s)) from the distributions' parameters: the mean
    KL of ``kl_mean`` after its two forward passes, for callers that already hold the means
    (TRPO's line search keeps pi_old's means from data collection, ``agent.FlatBatch``).

    Parameters
    ----------
    mean_p, mean_q : ndarray, shape (N, act_dim)
    log_std_p, log_std_q : ndarray, shape (act_dim,)

    Returns
    -------
    kl : float

    Tested through ``kl_mean`` (``tests/test_fisher.py``) and
    ``tests/test_algos.py::test_update_metrics_recomputed_from_returned_phi``.
    """
    return float(np.mean(dist.kl(mean_p, log_std_p, mean_q, log_std_q)))


def kl_mean_grad(policy: GaussianPolicy, phi_old: np.ndarray, phi_new: np.ndarray,
                 obs: np.ndarray) -> np.ndarray:
    """grad_{phi_new} KL-bar(phi_old, phi_new) = (1/N) sum_s J_s(phi_new)^T dKL_s/d(mean, log_std).

    The per-state gradient w.r.t. the new distribution's parameters is
    ``distributions.kl_grad_q``; one ``policy.vjp`` chains it to phi_new.

    Parameters
    ----------
    policy : GaussianPolicy
    phi_old, phi_new : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    grad : ndarray, shape (n_params,), zero at phi_new = phi_old.

    Tested in ``tests/test_fisher.py::test_kl_mean_grad_matches_finite_differences``.
    """
    obs, phi_old, phi_new = _validate(policy, obs, phi_old=phi_old, phi_new=phi_new)
    mean_p, log_std_p, _ = policy.forward(phi_old, obs)
    mean_q, log_std_q, cache = policy.forward(phi_new, obs)
    dmean, dlog_std = dist.kl_grad_q(mean_p, log_std_p, mean_q, log_std_q)
    n = obs.shape[0]
    return policy.vjp(phi_new, cache, dmean / n, dlog_std / n)
