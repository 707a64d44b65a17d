"""Fisher information of the policy and the mean KL divergence that TRPO constrains.

Lecture, "Aside: KL-divergence and Fisher information matrix":

    F = E_{s, a ~ pi_phi} [ grad_phi log pi_phi(a|s) grad_phi log pi_phi(a|s)^T ]
    KL-bar(phi_old, phi) = E_s KL(pi_old(.|s) || pi_phi(.|s)) ~ 1/2 dphi^T F dphi.

The expectation over actions is closed form for both heads. With J_s the Jacobian of the
distribution's parameters at s w.r.t. phi and M_s the head's Fisher in those coordinates,

    F = (1/N) sum_s J_s^T M_s J_s        (the mean over the N sampled states),

Gaussian: parameters (mean(s), log_std), M = diag(1/sigma^2 for the mean components, 2 for the
log-std components) (``distributions.fisher_weights``); categorical: the logits z(s),
M_s = diag(p) - p p^T (``categorical.fisher_matrix``, singular: CG relies on the damping).
Every function speaks to the policy's common interface (``policy.py``), so one text serves
both heads.

``make_fvp`` never forms F: a Fisher-vector product is one forward-mode pass (J v), a
weighting by M and one reverse-mode pass (J^T M J v), so its cost is linear in the number of
parameters ("TRPO: Avoiding matrix inversion"). ``dense_fisher`` and ``empirical_fisher`` build
F explicitly for tests and small problems. All verified in ``tests/core/test_fisher.py``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from refimpl.core.errors import NumericalError
from refimpl.core.policy import CategoricalPolicy, GaussianPolicy

Policy = GaussianPolicy | CategoricalPolicy


def _validate(policy: Policy, obs: np.ndarray | None = None,
              actions: np.ndarray | None = None, **vectors: np.ndarray) -> list[np.ndarray]:
    """Check shapes against ``policy`` and finiteness; return the given arrays as float64.

    Order of the result: obs, actions (when given; kept in their own dtype, which the head
    checks), then the keyword vectors (phi, v, ...), each of which must have shape (n_params,). A wrong shape is a one-line ValueError naming
    the argument; a NaN or infinity a NumericalError naming it (inside training a non-finite
    parameter or state is a numerical failure, not a user mistake).
    """
    n = np.shape(obs)[0] if np.ndim(obs) == 2 else 0
    want = {"obs": ((n, policy.obs_dim), f"(N, {policy.obs_dim}) with N >= 1"),
            "actions": ((n, *policy.action_shape),
                        f"{(n, *policy.action_shape)}, one row per state")}
    out = []
    for name, value in {"obs": obs, "actions": actions, **vectors}.items():
        if value is None:
            continue
        value = np.asarray(value) if name == "actions" else np.asarray(value, dtype=np.float64)
        shape, shown = want.get(name, ((policy.n_params,), f"({policy.n_params},)"))
        if value.shape != shape or value.size == 0:
            raise ValueError(f"{name} must have shape {shown}, got {value.shape}")
        if not np.all(np.isfinite(value)):
            raise NumericalError(f"{name} contains non-finite values")
        out.append(value)
    return out


def make_fvp(policy: Policy, phi: np.ndarray, obs: np.ndarray,
             damping: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    """Matrix-free Fisher-vector product v -> (F + damping I) v, F = (1/N) sum_s J_s^T M J_s.

    Lecture, "TRPO: Avoiding matrix inversion": like a gradient, the product costs O(N P),
    linear in the number of parameters P; no P x P matrix is formed.
    The policy's forward pass runs once here; each call is one ``policy.jvp`` (J v), the head's
    ``policy.fisher_metric`` (Gaussian: 1/sigma^2 on the mean, 2 on the state-independent
    log-std, so that block is simply 2 v_log_std; categorical: (diag(p) - p p^T) u per state),
    and one ``policy.vjp`` (J^T M J v). No dense matrix, no second-order backprop.

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi : ndarray, shape (n_params,)
        Where F is evaluated (phi_old in TRPO).
    obs : ndarray, shape (N, obs_dim)
        The sampled states s; F averages over them.
    damping : float
        lambda >= 0 added on the diagonal (an implementation detail, not in the lecture: it
        keeps CG well posed when F is singular, e.g. more parameters than N * act_dim, and
        always for the categorical head, whose M has the null vector 1 at every state).

    Returns
    -------
    fvp : callable, ndarray (n_params,) -> ndarray (n_params,)

    Tested in ``tests/core/test_fisher.py::test_fvp_equals_dense_fisher_times_v`` and the
    finite-difference-Hessian, Monte-Carlo and damping tests next to it.
    """
    obs, phi = _validate(policy, obs, phi=phi)
    if not (np.isfinite(damping) and damping >= 0.0):
        raise ValueError(f"damping must be a finite number >= 0, got {damping}")
    phi = phi.copy()  # the cache below belongs to this phi, even if the caller's changes
    params, cache = policy.dist_params(phi, obs)
    metric = policy.fisher_metric(params, obs.shape[0])  # M / N, the 1/N of the mean over states

    def fvp(v: np.ndarray) -> np.ndarray:
        (v,) = _validate(policy, v=v)
        jv = policy.jvp(phi, cache, v)                                # J v
        return policy.vjp(phi, cache, *metric(*jv)) + damping * v     # J^T M J v

    return fvp


def fisher_vector_product(policy: Policy, phi: np.ndarray, obs: np.ndarray,
                          v: np.ndarray, damping: float = 0.0) -> np.ndarray:
    """(F + damping I) v in one call: ``make_fvp(policy, phi, obs, damping)(v)``.

    Shapes as in ``make_fvp``; v : ndarray, shape (n_params,). Returns shape (n_params,).
    Tested with ``make_fvp`` in ``tests/core/test_fisher.py``.
    """
    return make_fvp(policy, phi, obs, damping)(v)


def _jacobian(policy: Policy, phi: np.ndarray, obs: np.ndarray):
    """Per-state Jacobian of the distribution's parameters w.r.t. phi, shape (N, k, n_params)
    (k = 2 act_dim for the Gaussian's (mean(s), log_std), K for the categorical's logits).

    Built column by column from ``policy.jvp`` of unit vectors (P forward-mode passes), each
    laid out per state by ``policy.per_state``. Also returns the parameters at phi.
    """
    params, cache = policy.dist_params(phi, obs)
    n = obs.shape[0]
    cols = [policy.per_state(policy.jvp(phi, cache, e), n) for e in np.eye(policy.n_params)]
    return np.stack(cols, axis=-1), params


def subsample_states(obs: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random subset of round(fraction * N) >= 1 rows of ``obs`` (N, obs_dim),
    without replacement; ``obs`` itself when fraction = 1 (no random numbers are drawn).

    Implementation detail (TRPO paper, appendix C): Fisher-vector products on a subsample. The
    subsample's F is an unbiased estimate of the batch's: averaged over all subsets of one size
    it equals the full-batch F exactly
    (``tests/core/test_fisher.py::test_subsampled_fisher_is_unbiased``).
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    if fraction == 1.0:
        return obs
    n = len(obs)
    return obs[np.sort(rng.choice(n, size=max(1, round(fraction * n)), replace=False))]


def dense_fisher(policy: Policy, phi: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """F = (1/N) sum_s J_s^T M_s J_s as an explicit (P, P) matrix (for tests and small P).

    Lecture, "Aside: KL-divergence and Fisher information matrix", with the head's Fisher M_s as
    an explicit matrix (``policy.fisher_blocks``): the Gaussian's diag(1/sigma^2 (mean),
    2 (log-std)), the categorical's diag(p) - p p^T. Costs P forward-mode passes and
    O(N k P^2) memory-bound work; the matrix-free ``make_fvp`` is what the algorithms use.

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    F : ndarray, shape (n_params, n_params), symmetric positive semi-definite.

    Tested in ``tests/core/test_fisher.py::test_fisher_is_symmetric_positive_semidefinite``.
    """
    obs, phi = _validate(policy, obs, phi=phi)
    jac, params = _jacobian(policy, phi, obs)
    m_jac = policy.fisher_blocks(params) @ jac                   # (N, k, P): M_s J_s
    rows = jac.reshape(-1, policy.n_params)                      # (N k, P): J_s stacked
    return rows.T @ m_jac.reshape(rows.shape) / obs.shape[0]


def empirical_fisher(policy: Policy, phi: np.ndarray, obs: np.ndarray,
                     actions: np.ndarray) -> np.ndarray:
    """F_hat = (1/N) sum_n score_n score_n^T, score_n = grad_phi log pi_phi(a_n|s_n).

    The lecture's definition F = E[score score^T] ("Aside: KL-divergence and Fisher information
    matrix") estimated from samples; it converges to ``dense_fisher`` when a_n ~ pi_phi(.|s_n).

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)
    actions : ndarray, shape (N, act_dim) (Gaussian) or (N,) integers (categorical)

    Returns
    -------
    F_hat : ndarray, shape (n_params, n_params)

    Tested in ``tests/core/test_fisher.py::test_fvp_matches_empirical_fisher_within_monte_carlo_bound``.
    """
    obs, actions, phi = _validate(policy, obs, actions, phi=phi)
    jac, params = _jacobian(policy, phi, obs)
    u = policy.per_state(policy.score_of(params, actions), obs.shape[0])  # d log pi / d params
    scores = (u[:, None, :] @ jac)[:, 0, :]                      # score_n = J_n^T u_n
    return scores.T @ scores / obs.shape[0]


def kl_mean(policy: Policy, phi_old: np.ndarray, phi_new: np.ndarray,
            obs: np.ndarray) -> float:
    """KL-bar = (1/N) sum_s KL(pi_phi_old(.|s) || pi_phi_new(.|s)), the TRPO constraint.

    Lecture, "TRPO: The surrogate optimization problem" (the average KL over visited states).

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi_old, phi_new : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    kl : float, >= 0, zero at phi_new = phi_old.

    Tested in ``tests/core/test_fisher.py::test_kl_mean_is_zero_at_phi_old`` and by the quadratic
    expansion test ``test_kl_minus_half_quadratic_form_is_third_order``.
    """
    obs, phi_old, phi_new = _validate(policy, obs, phi_old=phi_old, phi_new=phi_new)
    params_p, _ = policy.dist_params(phi_old, obs)
    params_q, _ = policy.dist_params(phi_new, obs)
    return kl_mean_of(policy, params_p, params_q)


def kl_mean_of(policy: Policy, params_p: tuple, params_q: tuple) -> float:
    """KL-bar = (1/N) sum_s KL(p(.|s) || q(.|s)) from the distributions' parameters: the mean
    KL of ``kl_mean`` after its two forward passes, for callers that already hold them (TRPO's
    line search keeps pi_old's parameters from data collection, ``agent.FlatBatch``).

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    params_p, params_q : tuple
        ``policy.dist_params`` output: (mean (N, act_dim), log_std (act_dim,)) for the
        Gaussian, (logits (N, K),) for the categorical.

    Returns
    -------
    kl : float

    Tested through ``kl_mean`` (``tests/core/test_fisher.py``) and
    ``tests/algos/test_algos.py::test_update_metrics_recomputed_from_returned_phi``.
    """
    return float(np.mean(policy.kl_of(params_p, params_q)))


def kl_mean_grad(policy: Policy, phi_old: np.ndarray, phi_new: np.ndarray,
                 obs: np.ndarray) -> np.ndarray:
    """grad_{phi_new} KL-bar(phi_old, phi_new) = (1/N) sum_s J_s(phi_new)^T dKL_s/d(params).

    The per-state gradient w.r.t. the new distribution's parameters is ``policy.kl_grad_of``
    (``distributions.kl_grad_q``, ``categorical.kl_grad_q``); one ``policy.vjp`` chains it to
    phi_new.

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi_old, phi_new : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)

    Returns
    -------
    grad : ndarray, shape (n_params,), zero at phi_new = phi_old.

    Tested in ``tests/core/test_fisher.py::test_kl_mean_grad_matches_finite_differences``.
    """
    obs, phi_old, phi_new = _validate(policy, obs, phi_old=phi_old, phi_new=phi_new)
    params_p, _ = policy.dist_params(phi_old, obs)
    params_q, cache = policy.dist_params(phi_new, obs)
    n = obs.shape[0]
    return policy.vjp(phi_new, cache, *(d / n for d in policy.kl_grad_of(params_p, params_q)))
