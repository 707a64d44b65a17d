"""Vanilla policy gradient with a value baseline (lecture, "Policy gradient methods":
phi <- phi + alpha grad L(phi)), here one Adam ascent step per batch on::

    g = 1/N sum_t grad log pi_phi(a_t|s_t) A_t,

then the critic's fit. Metrics: ``policy_loss`` = -(L_TRPO(phi_new) - L_TRPO(phi_old)),
``improvement`` (its negation), ``kl``, ``entropy``, ``value_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refimpl.core.critic import CriticFitParams, fit_critic
from refimpl.core.objectives import surrogate_and_kl
from refimpl.core.optim import clip_grad_norm
from refimpl.core.returns import standardize


@dataclass(frozen=True)
class VPGParams:
    """VPG's hyperparameters (Spinning Up's ``vpg`` defaults)."""

    lr: float = 3e-4
    """Adam step size of the policy (Spinning Up: 3e-4)."""
    norm_adv: bool = True
    """Implementation detail: standardise the batch's advantages."""
    max_grad_norm: float | None = 0.5
    """Implementation detail: clip the gradient to this norm; None: no clipping."""
    critic: CriticFitParams = field(default_factory=lambda: CriticFitParams(lr=1e-3))
    """The critic's fit after the policy step."""


def update(agent, data, hp: VPGParams, rng: np.random.Generator) -> dict:
    """One policy-gradient step on the batch ``data``, then the critic's fit."""
    metrics = policy_update(agent, data, hp, rng)
    metrics["value_loss"] = fit_critic(agent.critic, agent.theta_v, agent.v_opt, data,
                                       hp.critic, rng)
    return metrics


def policy_update(agent, data, hp: VPGParams, rng: np.random.Generator) -> dict:
    """phi <- Adam step along g = 1/N sum grad log pi(a|s) A (``rng`` is not drawn from)."""
    policy, phi_old = agent.policy, agent.phi.copy()
    adv = standardize(data.adv) if hp.norm_adv else data.adv
    g = policy.score(phi_old, data.obs, data.actions, adv / len(data))
    g, _ = clip_grad_norm(g, hp.max_grad_norm)
    agent.pi_opt.step(agent.phi, -g, hp.lr)
    L_old, _ = surrogate_and_kl(policy, phi_old, data, adv)
    L_new, kl = surrogate_and_kl(policy, agent.phi, data, adv)
    return {"policy_loss": -(L_new - L_old), "improvement": L_new - L_old, "kl": kl,
            "entropy": policy.mean_entropy(agent.phi, data.obs)}
