"""Objectives of VPG/TRPO/PPO and their gradients.

The per-sample objectives take arrays of shape (N,) and return their value together with the
gradient w.r.t. ``logp`` (or ``v``); the caller chains that through the policy
(``policy.score_of`` then ``policy.vjp``) or the critic. Two functions at the end
do that chaining on a batch: ``ppo_objective`` (PPO's minibatch objective and its gradient
w.r.t. phi) and ``surrogate_and_kl`` (TRPO's objective and constraint). Objectives are
MAXIMISED (L_TRPO, L_CLIP); the value loss is MINIMISED.
"""
from __future__ import annotations

import numpy as np

from refimpl.core.fisher import kl_mean_of
from refimpl.core.returns import standardize


def _check_same_1d(**arrays: np.ndarray) -> int:
    (first_name, first), *rest = arrays.items()
    if np.ndim(first) != 1:
        raise ValueError(f"{first_name} must have shape (N,), got {np.shape(first)}")
    for name, x in rest:
        if np.shape(x) != np.shape(first):
            raise ValueError(f"{name} has shape {np.shape(x)}, expected {np.shape(first)}")
    return len(first)


def ratio(logp: np.ndarray, logp_old: np.ndarray) -> np.ndarray:
    """kappa = pi_phi(a|s) / pi_old(a|s) = exp(logp - logp_old), the importance sampling ratio
    (lecture, "TRPO: Sampling the correct expectation"; kappa_t in "The clipped surrogate objective
    in PPO"). Shapes (N,) -> (N,).
    Tested in ``tests/core/test_objectives.py::test_importance_sampling_identity_monte_carlo``.
    """
    return np.exp(logp - logp_old)


def surrogate(logp: np.ndarray, logp_old: np.ndarray,
              adv: np.ndarray) -> tuple[float, np.ndarray]:
    """L_TRPO(phi) = mean_n kappa_n A_n (= L_CPI), the lecture's "TRPO: The surrogate optimization
    problem", and its gradient d L / d logp_n = kappa_n A_n / N (since d kappa / d logp = kappa).

    Parameters
    ----------
    logp, logp_old, adv : ndarray, shape (N,)

    Returns
    -------
    value : float
    dvalue_dlogp : ndarray, shape (N,)

    Tested in ``tests/core/test_objectives.py``: finite differences, and at phi = phi_old the chained
    gradient equals the plain policy gradient ("The Policy gradient for the TRPO surrogate loss").
    """
    N = _check_same_1d(logp=logp, logp_old=logp_old, adv=adv)
    weighted = ratio(logp, logp_old) * adv
    return float(np.mean(weighted)), weighted / N


def clip_objective(logp: np.ndarray, logp_old: np.ndarray, adv: np.ndarray,
                   clip_eps: float) -> tuple[float, np.ndarray, float]:
    """L_CLIP = mean_n min(kappa_n A_n, clip(kappa_n, 1 - eps, 1 + eps) A_n), the lecture's
    "The clipped surrogate objective in PPO" (Eq. Adv_PPO_Objective), and its gradient::

        d L_CLIP / d logp_n = 0                if A_n > 0 and kappa_n > 1 + eps
                                               or A_n < 0 and kappa_n < 1 - eps (clipped term
                                               strictly active, "Understanding ... (2)")
                            = kappa_n A_n / N  otherwise (the unclipped term is the minimum).

    Ties (kappa exactly at 1 +- eps, where both terms are equal) take the unclipped gradient:
    the one-sided derivative from inside the band, as PyTorch's clamp/min also yield.

    Parameters
    ----------
    logp, logp_old, adv : ndarray, shape (N,)
    clip_eps : float > 0
        epsilon, "typically 0.1 or 0.2" (lecture); 0.2 in the PPO paper's MuJoCo runs.

    Returns
    -------
    value : float
    dvalue_dlogp : ndarray, shape (N,)
    clip_fraction : float
        Fraction of samples whose gradient the clip removes (the two strict cases above).
        Samples with A_n = 0 have zero gradient too but are not counted: nothing was clipped.

    Tested in ``tests/core/test_objectives.py`` (pessimism bounds, gradient zero pattern, finite
    differences, L_CLIP = L_CPI at phi = phi_old).
    """
    N = _check_same_1d(logp=logp, logp_old=logp_old, adv=adv)
    if not clip_eps > 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    lo, hi = 1.0 - clip_eps, 1.0 + clip_eps
    kappa = ratio(logp, logp_old)
    unclipped = kappa * adv
    # np.clip and np.mean spelled as their ufuncs (same operations, same bits): at PPO's 64-row
    # minibatches the wrappers cost more than the arithmetic
    value = np.add.reduce(np.minimum(unclipped, np.minimum(np.maximum(kappa, lo), hi) * adv)) / N
    clipped = ((adv > 0) & (kappa > hi)) | ((adv < 0) & (kappa < lo))
    grad = unclipped / N
    grad[clipped] = 0.0
    return float(value), grad, np.count_nonzero(clipped) / N


def value_loss(v: np.ndarray, ret: np.ndarray, v_old: np.ndarray | None = None,
               clip_eps: float | None = None) -> tuple[float, np.ndarray]:
    """Critic regression loss and its gradient w.r.t. the predictions v.

    Without clipping:  L_V = 1/2 mean_n (v_n - ret_n)^2,   d L_V / d v_n = (v_n - ret_n) / N.

    With ``v_old`` and ``clip_eps`` (implementation detail, not in the lecture: the clipped value
    loss of OpenAI baselines' PPO2):

        v_clip = v_old + clip(v - v_old, -eps, eps)
        L_V    = 1/2 mean_n max((v_n - ret_n)^2, (v_clip_n - ret_n)^2)

    The clipped term can only be strictly larger when |v - v_old| > eps, where v_clip does not
    depend on v; so the gradient is (v_n - ret_n) / N where the unclipped term is the maximum
    (ties included) and 0 elsewhere.

    Parameters
    ----------
    v, ret : ndarray, shape (N,)
    v_old : ndarray, shape (N,), optional
        Predictions of the critic that collected the data.
    clip_eps : float > 0, optional
        Given together with v_old; 0.2 in baselines' PPO2.

    Returns
    -------
    loss : float
    dloss_dv : ndarray, shape (N,)

    Tested in ``tests/core/test_objectives.py::test_value_loss_gradient_matches_finite_differences``.
    """
    N = _check_same_1d(v=v, ret=ret)
    if (v_old is None) != (clip_eps is None):
        raise ValueError("v_old and clip_eps must be given together (or neither)")
    err = v - ret
    sq = err * err
    if v_old is None:  # np.mean spelled as its reduction (same bits): it runs per minibatch
        return float(0.5 * (np.add.reduce(sq) / N)), err / N
    _check_same_1d(v=v, v_old=v_old)
    if not clip_eps > 0:
        raise ValueError(f"clip_eps must be > 0, got {clip_eps}")
    err_clip = v_old + np.clip(v - v_old, -clip_eps, clip_eps) - ret
    sq_clip = err_clip * err_clip
    unclipped_active = sq >= sq_clip
    return float(0.5 * np.mean(np.maximum(sq, sq_clip))), np.where(unclipped_active, err / N, 0.0)


def explained_variance(pred: np.ndarray, target: np.ndarray) -> float:
    """EV = 1 - Var[target - pred] / Var[target] (population variances), a critic diagnostic:
    1 for a perfect critic, 0 for predicting the mean, negative for worse than that.

    Returns nan when Var[target] = 0 (the ratio is undefined). Shapes (N,) -> float.
    Tested in ``tests/core/test_objectives.py::test_explained_variance_*``.
    """
    _check_same_1d(pred=pred, target=target)
    var_target = np.var(target)
    if var_target == 0:
        return float("nan")
    return float(1.0 - np.var(target - pred) / var_target)


def ppo_objective(policy, phi: np.ndarray, obs: np.ndarray, actions: np.ndarray,
                  logp_old: np.ndarray, adv: np.ndarray, clip_eps: float, ent_coef: float,
                  norm_adv: bool) -> tuple[float, np.ndarray, float, np.ndarray]:
    """PPO's minibatch objective L_CLIP(phi) + c_H H(phi) and its gradient w.r.t. phi.

    Lecture, "PPO: Final algorithm", step 3, with the entropy bonus of the PPO paper (eq. 9,
    c_2 S[pi]; 0 by default for MuJoCo):

        J(phi) = L_CLIP(phi) + c_H H(phi),   H = the mean over the minibatch's states of H(s),
        grad J = sum_n (dL_CLIP / dlogp_n) grad_phi log pi_phi(a_n|s_n) + c_H grad_phi H

    (``policy.add_entropy_grad``. Gaussian: H = sum_j [log sigma_j + (1 + log 2 pi) / 2] at every
    state, grad_phi H = (0, ..., 0, 1, ..., 1); categorical: one more vjp of
    ``categorical.entropy_grad``). With ``norm_adv`` the
    minibatch's advantages are first standardised (``returns.standardize``), unless it has a
    single row; the standardisation does not depend on phi.

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi : ndarray, shape (n_params,)
    obs : ndarray, shape (N, obs_dim)
    actions : ndarray, shape (N, act_dim) (Gaussian) or (N,) integers (categorical)
    logp_old, adv : ndarray, shape (N,)
    clip_eps : float > 0
    ent_coef : float
        c_H.
    norm_adv : bool

    Returns
    -------
    l_clip : float
        L_CLIP(phi) alone (what PPO logs as -policy_loss).
    grad : ndarray, shape (n_params,)
        grad_phi of L_CLIP + c_H H.
    clip_fraction : float
        As in ``clip_objective``.
    logp : ndarray, shape (N,)
        log pi_phi(a_n|s_n).

    Tested in ``tests/algos/test_ppo.py::test_ppo_objective_gradient_matches_finite_differences``.
    """
    # the forward pass serves log pi and its gradient: one pass, its cache reused by vjp
    params, cache = policy.dist_params(phi, obs)
    logp = policy.log_prob_of(params, actions)
    adv = standardize(adv) if norm_adv and len(adv) > 1 else adv
    l_clip, dlogp, clipped = clip_objective(logp, logp_old, adv, clip_eps)
    w = dlogp[:, None]
    grad = policy.vjp(phi, cache, *(d * w for d in policy.score_of(params, actions)))
    grad = policy.add_entropy_grad(grad, ent_coef, phi, params, cache)
    return l_clip, grad, clipped, logp


def surrogate_and_kl(policy, phi: np.ndarray, data, adv: np.ndarray) -> tuple[float, float]:
    """(L_TRPO(phi), KL-bar(pi_old || pi_phi)) on a batch: the objective and the constraint of
    TRPO (lecture eq. Adv_TRPO_Opt), L_TRPO = mean_n kappa_n(phi) A_n (``surrogate``) and the
    mean KL of ``fisher.kl_mean`` (via ``fisher.kl_mean_of``).

    Parameters
    ----------
    policy : GaussianPolicy or CategoricalPolicy
    phi : ndarray, shape (n_params,)
    data : agent.FlatBatch
        Uses obs, actions, logp_old and pi_old's distribution parameters params_old.
    adv : ndarray, shape (N,)
        The advantages the update uses (standardised or not).

    Returns
    -------
    L : float
    kl : float

    Tested in ``tests/algos/test_algos.py::test_update_metrics_recomputed_from_returned_phi`` and
    ``test_trpo_improvement_without_advantage_normalisation``.
    """
    # one forward pass gives the parameters for the KL and log pi for L; pi_old's were kept
    # from data collection, so the KL needs no second pass
    params, _ = policy.dist_params(phi, data.obs)
    logp = policy.log_prob_of(params, data.actions)
    return surrogate(logp, data.logp_old, adv)[0], kl_mean_of(policy, data.params_old, params)


def surrogate_change(policy, phi_old: np.ndarray, phi_new: np.ndarray, data, adv: np.ndarray,
                     L_old: float | None = None) -> dict:
    """What a step from ``phi_old`` to ``phi_new`` did to TRPO's problem (eq. Adv_TRPO_Opt):
    ``improvement`` = L_TRPO(phi_new) - L_TRPO(phi_old), ``policy_loss`` = -improvement,
    ``kl`` = KL-bar(pi_old || pi_new) and ``entropy`` = the mean entropy of pi_new on the batch.
    ``L_old`` is L_TRPO(phi_old) when the caller has it. Shapes as in ``surrogate_and_kl``.

    Tested in ``tests/algos/test_algos.py::test_update_metrics_recomputed_from_returned_phi``.
    """
    if L_old is None:
        L_old = surrogate_and_kl(policy, phi_old, data, adv)[0]
    L_new, kl = surrogate_and_kl(policy, phi_new, data, adv)
    return {"policy_loss": -(L_new - L_old), "improvement": L_new - L_old, "kl": kl,
            "entropy": policy.mean_entropy(phi_new, data.obs)}
