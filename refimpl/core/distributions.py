"""Diagonal Gaussian action distribution N(mean, diag(exp(log_std)^2)) in closed form.

Every function is per state: ``mean`` has shape (N, d) and ``log_std`` is broadcastable to it
(the policy's log-std is a state-independent vector of shape (d,)). Gradients are given with
respect to ``mean`` and ``log_std``; the policy chains them through the network (``policy.py``).

The parameterisation by log sigma (not sigma, as on the lecture's slide "Ill-conditioned
gradients") keeps sigma > 0 without constraints; ``tests/core/test_distributions.py`` relates the two.
"""
from __future__ import annotations

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)


def log_prob(mean: np.ndarray, log_std: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log pi(a|s) = sum_j [ -(a_j - mu_j)^2 / (2 sigma_j^2) - log sigma_j - log(2 pi)/2 ].

    Shapes: mean, a (N, d); log_std broadcastable to (N, d). Returns (N,).
    Tested in ``tests/core/test_distributions.py::test_log_prob_matches_scipy``.
    """
    z = (a - mean) * np.exp(-log_std)
    # np.sum spelled as its reduction (the same bits): this runs at every PPO minibatch, where the
    # wrapper costs more than the sum of 64 rows
    return -0.5 * np.add.reduce(z * z, axis=-1) - np.add.reduce(log_std, axis=-1) \
        - 0.5 * mean.shape[-1] * LOG_2PI


def log_prob_grad(mean: np.ndarray, log_std: np.ndarray,
                  a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score w.r.t. the distribution's parameters, per sample.

    d log pi / d mu_j        = (a_j - mu_j) / sigma_j^2
    d log pi / d log sigma_j = (a_j - mu_j)^2 / sigma_j^2 - 1

    Returns (dmean, dlog_std), each of shape (N, d). Verified against finite differences in
    ``tests/core/test_distributions.py::test_log_prob_grad_matches_finite_differences``.
    """
    inv_var = np.exp(-2.0 * log_std)
    diff = a - mean
    return diff * inv_var, diff * diff * inv_var - 1.0


def entropy(log_std: np.ndarray) -> np.ndarray:
    """H = sum_j [ log sigma_j + (1 + log 2 pi) / 2 ] (last axis summed)."""
    log_std = np.asarray(log_std)
    return np.sum(log_std, axis=-1) + 0.5 * log_std.shape[-1] * (1.0 + LOG_2PI)


def kl(mean_p: np.ndarray, log_std_p: np.ndarray,
       mean_q: np.ndarray, log_std_q: np.ndarray) -> np.ndarray:
    """KL(p || q) per state (lecture, "Aside: KL-divergence and Fisher information matrix"):

    KL = sum_j [ log(sigma_q/sigma_p) + (sigma_p^2 + (mu_p - mu_q)^2) / (2 sigma_q^2) - 1/2 ].

    Shapes: means (N, d), log-stds broadcastable. Returns (N,). Checked against Monte Carlo in
    ``tests/core/test_distributions.py::test_kl_matches_monte_carlo``.
    """
    var_ratio = np.exp(2.0 * (log_std_p - log_std_q))
    dmu = (mean_p - mean_q) * np.exp(-log_std_q)
    per_dim = (log_std_q - log_std_p) + 0.5 * (var_ratio + dmu * dmu - 1.0)
    return np.sum(np.broadcast_to(per_dim, mean_p.shape), axis=-1)


def kl_grad_q(mean_p: np.ndarray, log_std_p: np.ndarray,
              mean_q: np.ndarray, log_std_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of KL(p || q) w.r.t. the second argument's (mean_q, log_std_q), per state.

    d KL / d mu_q        = (mu_q - mu_p) / sigma_q^2
    d KL / d log sigma_q = 1 - (sigma_p^2 + (mu_p - mu_q)^2) / sigma_q^2

    This is the direction TRPO moves: p = pi_old (fixed), q = pi_new. Returns two (N, d) arrays.
    """
    inv_var_q = np.exp(-2.0 * log_std_q)
    dmu = mean_q - mean_p
    dlog = 1.0 - (np.exp(2.0 * log_std_p) + dmu * dmu) * inv_var_q
    return dmu * inv_var_q, dlog


def fisher_weights(log_std: np.ndarray) -> tuple[np.ndarray, float]:
    """Fisher information of N(mu, sigma^2) in the coordinates (mu, log sigma), per dimension:

    F = diag(1 / sigma^2, 2): block-diagonal, no mean/log-std cross terms.

    Returns (weight of the mean block, shape like log_std; weight of the log-std block, 2.0).
    """
    return np.exp(-2.0 * log_std), 2.0


def sample(mean: np.ndarray, log_std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a = mu + sigma * xi, xi ~ N(0, I). Shape of ``mean``."""
    return mean + np.exp(log_std) * rng.standard_normal(mean.shape)
