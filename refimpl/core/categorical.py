"""Categorical action distribution over K actions from logits z, in closed form.

pi(a|s) = softmax(z(s))_a = exp(z_a) / sum_b exp(z_b). Every function is per state: ``logits``
has shape (N, K) and actions ``a`` shape (N,), integers in [0, K). Gradients are given with
respect to the logits; the policy chains them through the network (``policy.py``). The
sibling of ``distributions.py`` (the diagonal Gaussian): the same functions, the same names.

All arithmetic goes through the max-shifted log-softmax, log p = z - max z - log sum exp(z - max
z), so logits of +-1e3 neither overflow nor lose the probabilities of the likely actions
(``tests/core/test_categorical.py::test_huge_logits_are_stable``).
"""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log p_a = z_a - m - log sum_b exp(z_b - m), m = max_b z_b (stable for any finite z).

    Shape (N, K) -> (N, K). Tested in ``tests/core/test_categorical.py::test_log_softmax_matches_scipy``.
    """
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def probs(logits: np.ndarray) -> np.ndarray:
    """p = softmax(z) = exp(log_softmax(z)), shape (N, K); rows sum to 1."""
    return np.exp(log_softmax(logits))


def check_actions(a: np.ndarray, n_actions: int) -> np.ndarray:
    """``a`` as an int64 array, or a one-line ValueError if it is not integers in [0, K).

    A float array is refused even when its values are whole numbers: a categorical action is an
    index, and a float here means a continuous action was passed to a discrete policy.
    Tested in ``tests/core/test_categorical.py::test_log_prob_rejects_non_integer_actions``.
    """
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"actions of a categorical policy must be integers in [0, {n_actions}), "
                         f"got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= n_actions):
        raise ValueError(f"actions of a categorical policy must lie in [0, {n_actions}), got "
                         f"values in [{a.min()}, {a.max()}]")
    return a.astype(np.int64, copy=False)


def log_prob(logits: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log pi(a|s) = log_softmax(z)_a. Shapes: logits (N, K), a (N,) integers. Returns (N,).

    Tested in ``tests/core/test_categorical.py::test_log_prob_matches_scipy``.
    """
    a = check_actions(a, logits.shape[-1])
    return np.take_along_axis(log_softmax(logits), a[:, None], axis=-1)[:, 0]


def log_prob_grad(logits: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Score w.r.t. the logits, per sample: d log pi(a|s) / d z = onehot(a) - p.

    Shapes: logits (N, K), a (N,). Returns (N, K). Verified against finite differences in
    ``tests/core/test_categorical.py::test_log_prob_grad_matches_finite_differences``.
    """
    a = check_actions(a, logits.shape[-1])
    grad = -probs(logits)
    grad[np.arange(len(a)), a] += 1.0
    return grad


def entropy(logits: np.ndarray) -> np.ndarray:
    """H = -sum_a p_a log p_a per state (0 log 0 = 0). Shape (N, K) -> (N,).

    Tested in ``tests/core/test_categorical.py::test_entropy_and_kl_match_scipy``.
    """
    logp = log_softmax(logits)
    return -np.sum(np.exp(logp) * logp, axis=-1)


def entropy_grad(logits: np.ndarray) -> np.ndarray:
    """d H / d z_a = -p_a (log p_a + H), per state. Shape (N, K) -> (N, K).

    Derivation: d p_b / d z_a = p_b (delta_ab - p_a), so
    dH/dz_a = -sum_b (log p_b + 1) p_b (delta_ab - p_a) = -p_a log p_a - p_a H.
    Tested in ``tests/core/test_categorical.py::test_entropy_grad_matches_finite_differences``.
    """
    logp = log_softmax(logits)
    p = np.exp(logp)
    h = -np.sum(p * logp, axis=-1, keepdims=True)
    return -p * (logp + h)


def kl(logits_p: np.ndarray, logits_q: np.ndarray) -> np.ndarray:
    """KL(p || q) = sum_a p_a (log p_a - log q_a) per state (lecture, "Aside: KL-divergence and
    Fisher information matrix"). Shapes (N, K) -> (N,).

    Tested in ``tests/core/test_categorical.py::test_entropy_and_kl_match_scipy``.
    """
    logp, logq = log_softmax(logits_p), log_softmax(logits_q)
    return np.sum(np.exp(logp) * (logp - logq), axis=-1)


def kl_grad_q(logits_p: np.ndarray, logits_q: np.ndarray) -> np.ndarray:
    """Gradient of KL(p || q) w.r.t. the second argument's logits: d KL / d z_q = q - p.

    (KL = const - sum_a p_a log q_a and d log q_a / d z_q = onehot(a) - q.) This is the
    direction TRPO moves: p = pi_old (fixed), q = pi_new. Shapes (N, K) -> (N, K).
    Tested in ``tests/core/test_categorical.py::test_kl_grad_q_matches_finite_differences``.
    """
    return probs(logits_q) - probs(logits_p)


def fisher_matrix(logits: np.ndarray) -> np.ndarray:
    """Fisher information of the categorical in logit coordinates, per state:

    M = E_a[(onehot(a) - p)(onehot(a) - p)^T] = diag(p) - p p^T, shape (N, K, K).

    M is singular: M 1 = p - p (1^T p) = 0, so it has rank K - 1 (for p > 0) with null vector 1,
    the direction z -> z + c that leaves softmax unchanged. The policy's Fisher J^T M J inherits
    the null space, and CG on it relies on the damping (``Config.damping``) to be well posed.
    Mind the trap: diag(1/p) is the Fisher in *probability* coordinates, not this one.
    Tested in ``tests/core/test_categorical.py::test_fisher_matrix_is_expected_score_outer_product``.
    """
    p = probs(logits)
    return p[:, :, None] * np.eye(p.shape[-1]) - p[:, :, None] * p[:, None, :]


def fisher_product(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """M u = p * u - p (p^T u) per state, without forming M (``fisher_matrix``).

    Shapes: p (probabilities, not logits) and u (N, K). Returns (N, K). Tested against
    ``fisher_matrix`` in ``tests/core/test_categorical.py::test_fisher_product_equals_matrix_times_u``.
    """
    return p * (u - np.sum(p * u, axis=-1, keepdims=True))


def sample(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a ~ softmax(z) by the inverse CDF: one uniform u ~ U[0, 1) per state (``rng.random(N)``,
    N draws), a = #{k < K - 1 : cdf_k <= u}, cdf_k = p_0 + ... + p_k.

    P(a = k) = P(cdf_{k-1} <= u < cdf_k) = p_k; rounding in the last cdf entry cannot produce an
    index K. Shape (N, K) -> (N,) int64. Tested in
    ``tests/core/test_categorical.py::test_sample_frequencies_within_monte_carlo_bound``.
    """
    cdf = np.cumsum(probs(logits), axis=-1)
    u = rng.random(len(logits))
    return np.sum(cdf[:, :-1] <= u[:, None], axis=-1).astype(np.int64)


def mode(logits: np.ndarray) -> np.ndarray:
    """The most probable action argmax_a z_a (the first on ties), for deterministic evaluation.
    Shape (N, K) -> (N,) int64."""
    return np.argmax(logits, axis=-1).astype(np.int64)
