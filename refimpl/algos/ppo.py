"""PPO (lecture, "PPO: Final algorithm"; Schulman et al. 2017).

Step 3 of the lecture, "Optimize surrogate loss": maximise
    L_CLIP(phi) = E_hat[ min(kappa_t(phi) A_t, clip(kappa_t(phi), 1 - eps, 1 + eps) A_t) ]
(+ an entropy bonus c_H H, 0 by default; ``objectives.ppo_objective``) by Adam over
``cfg.epochs`` passes of shuffled minibatches (``minibatch.minibatches``), then fit the critic.
Metrics: ``policy_loss`` = -L_CLIP averaged over the last epoch's minibatches, each evaluated
before its step; ``clip_fraction`` (share of samples whose gradient the clip zeroed, last epoch);
``approx_kl`` (E[(kappa - 1) - log kappa], Schulman's low-variance estimator, last epoch);
``epochs`` (run before an optional target-KL stop).
"""
from __future__ import annotations

import numpy as np

from refimpl.critic import then_fit_critic
from refimpl.fisher import kl_mean_of
from refimpl.minibatch import minibatches
from refimpl.objectives import ppo_objective, ratio
from refimpl.optim import clip_grad_norm


def approx_kl(logp: np.ndarray, logp_old: np.ndarray) -> float:
    """E_hat[(kappa - 1) - log kappa], kappa = pi_phi / pi_old: an estimate of KL(pi_old || pi_phi)
    from the sampled actions that is unbiased and never negative (J. Schulman, "Approximating KL
    divergence", 2020). Shapes (N,) -> float.
    Tested in ``tests/test_ppo.py::test_update_metrics_recomputed_from_the_last_epoch``.
    """
    kappa = ratio(logp, logp_old)
    return float(np.mean((kappa - 1.0) - np.log(kappa)))


def policy_step(agent, data, idx, cfg, lr, want_kl):
    """One Adam ascent step on L_CLIP + ent_coef * H over the minibatch ``idx``.

    Returns (L_CLIP, clip fraction, approximate KL) before the step, the last NaN unless
    ``want_kl``."""
    logp_old = data.logp_old[idx]
    l_clip, grad, clipped, logp = ppo_objective(
        agent.policy, agent.phi, data.obs[idx], data.actions[idx], logp_old,
        data.adv[idx], cfg.clip_eps, cfg.ent_coef, cfg.norm_adv)
    grad, _ = clip_grad_norm(grad, cfg.max_grad_norm)
    agent.pi_opt.step(agent.phi, -grad, lr)  # Adam descends; ascend the objective
    return l_clip, clipped, approx_kl(logp, logp_old) if want_kl else np.nan


def policy_update(agent, data, cfg, rng, lr_scale=1.0):
    """Lecture "PPO: Final algorithm", step 3: phi_{k+1} = argmax L_CLIP by minibatch Adam
    (the slide's argmin of L_clip is a slip). With ``cfg.target_kl`` the epochs end after the
    first one whose mean approximate KL exceeds it."""
    lr = cfg.lr * lr_scale
    for epochs in range(1, cfg.epochs + 1):
        # the approximate KL is logged for the last epoch; a target-KL stop reads it every epoch
        want_kl = cfg.target_kl is not None or epochs == cfg.epochs
        stats = [policy_step(agent, data, idx, cfg, lr, want_kl)
                 for idx in minibatches(len(data), cfg.minibatch, rng)]
        objective, clipped, kl_estimate = np.mean(stats, axis=0)
        if cfg.target_kl is not None and kl_estimate > cfg.target_kl:
            break
    params, _ = agent.policy.dist_params(agent.phi, data.obs)
    return {"policy_loss": -float(objective),
            "entropy": agent.policy.mean_entropy(agent.phi, data.obs),
            "kl": kl_mean_of(agent.policy, data.params_old, params),
            "approx_kl": float(kl_estimate), "clip_fraction": float(clipped), "epochs": epochs}


update = then_fit_critic(policy_update)
