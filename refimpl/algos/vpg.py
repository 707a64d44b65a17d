"""Vanilla policy gradient with a value baseline (lecture, "Policy gradient methods":
phi <- phi + alpha grad L(phi)), here one Adam ascent step per batch on
    g = 1/N sum_t grad log pi_phi(a_t|s_t) A_t.
Metrics: ``policy_loss`` = -(L_TRPO(phi_new) - L_TRPO(phi_old)) as in ``npg.py``.
"""
from __future__ import annotations

from refimpl.critic import then_fit_critic
from refimpl.objectives import surrogate_and_kl
from refimpl.optim import clip_grad_norm
from refimpl.returns import standardize


def policy_update(agent, data, cfg, rng, lr_scale=1.0):
    """One Adam ascent step on the policy gradient."""
    policy, phi_old = agent.policy, agent.phi.copy()
    adv = standardize(data.adv) if cfg.norm_adv else data.adv
    g = policy.score(phi_old, data.obs, data.actions, adv / len(data))
    g, _ = clip_grad_norm(g, cfg.max_grad_norm)
    agent.pi_opt.step(agent.phi, -g, cfg.lr * lr_scale)
    L_old, _ = surrogate_and_kl(policy, phi_old, data, adv)
    L_new, kl = surrogate_and_kl(policy, agent.phi, data, adv)
    return {"policy_loss": -(L_new - L_old), "improvement": L_new - L_old, "kl": kl,
            "entropy": policy.mean_entropy(agent.phi, data.obs)}


update = then_fit_critic(policy_update)
