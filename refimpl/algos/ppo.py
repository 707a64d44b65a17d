"""PPO (lecture, "PPO: Final algorithm"; Schulman et al. 2017).

Step 3 of the lecture, "Optimize surrogate loss": maximise
    L_CLIP(phi) = E_hat[ min(kappa_t(phi) A_t, clip(kappa_t(phi), 1 - eps, 1 + eps) A_t) ]
(+ an entropy bonus, 0 by default) by Adam over ``cfg.epochs`` passes of shuffled minibatches.
Metrics: ``policy_loss`` = -L_CLIP averaged over the last epoch's minibatches;
``clip_fraction`` (share of samples whose gradient the clip zeroed, last epoch); ``approx_kl``
(E[(kappa - 1) - log kappa], Schulman's low-variance estimator, last epoch); ``epochs`` (run
before an optional target-KL stop).
"""
from __future__ import annotations

import numpy as np

from refimpl import distributions as dist
from refimpl.agent import fit_critic, minibatches, standardize, surrogate_and_kl
from refimpl.objectives import clip_objective, ratio
from refimpl.optim import clip_grad_norm


def policy_step(agent, data, idx, cfg, lr, want_kl=True):
    """One Adam ascent step on L_CLIP + ent_coef * H over the minibatch ``idx``.

    Returns (L_CLIP, clip fraction, approximate KL), the last NaN unless ``want_kl``."""
    policy, phi = agent.policy, agent.phi
    actions, logp_old, adv = data.actions[idx], data.logp_old[idx], data.adv[idx]
    mean, log_std, cache = policy.forward(phi, data.obs[idx])
    logp = dist.log_prob(mean, log_std, actions)
    adv = standardize(adv) if cfg.norm_adv and len(idx) > 1 else adv
    objective, dlogp, clipped = clip_objective(logp, logp_old, adv, cfg.clip_eps)
    dmean, dlog_std = dist.log_prob_grad(mean, log_std, actions)
    w = dlogp[:, None]
    grad = policy.vjp(phi, cache, dmean * w, dlog_std * w)
    grad[policy.net.n_params:] += cfg.ent_coef  # dH/dlog_std = 1 per action dimension
    grad, _ = clip_grad_norm(grad, cfg.max_grad_norm)
    agent.pi_opt.step(phi, -grad, lr)  # Adam descends; ascend the objective
    if not want_kl:
        return objective, clipped, np.nan
    kappa = ratio(logp, logp_old)
    return objective, clipped, np.mean((kappa - 1.0) - np.log(kappa))


def update(agent, data, cfg, rng, lr_scale=1.0):
    """Lecture "PPO: Final algorithm", step 3: phi_{k+1} = argmax L_CLIP by minibatch Adam
    (the slide's argmin of L_clip is a slip), then the critic's regression."""
    lr = cfg.lr * lr_scale
    for epochs in range(1, cfg.epochs + 1):
        # the approximate KL is logged for the last epoch; a target-KL stop reads it every epoch
        want_kl = cfg.target_kl is not None or epochs == cfg.epochs
        stats = [policy_step(agent, data, idx, cfg, lr, want_kl)
                 for idx in minibatches(len(data), cfg.minibatch, rng)]
        objective, clipped, approx_kl = np.mean(stats, axis=0)
        if cfg.target_kl is not None and approx_kl > cfg.target_kl:
            break
    value_loss = fit_critic(agent, data, cfg, rng, cfg.vf_lr * lr_scale)
    log_std = agent.policy.split(agent.phi)[1]
    return {"policy_loss": -float(objective), "value_loss": value_loss,
            "entropy": float(dist.entropy(log_std)),
            "kl": surrogate_and_kl(agent, data, data.adv, agent.phi)[1],
            "approx_kl": float(approx_kl), "clip_fraction": float(clipped), "epochs": epochs}
