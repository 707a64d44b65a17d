"""Natural policy gradient (lecture, "Natural policy gradient", eq. Adv_NPG; Kakade 2001):

    phi <- phi + alpha F^-1 g,   x = F^-1 g by truncated CG on (F + damping I) x = g,

with alpha fixed (``step='fixed'``) or alpha = sqrt(2 delta / g^T F^-1 g) (``'normalized'``, the
lecture's step size of eq. Adv_TRPO_step, without TRPO's line search). TRPO (``trpo.py``) takes
the same steps 3-5 through the same core functions, then searches along the step.

Metrics: ``policy_loss`` = -(L_TRPO(phi_new) - L_TRPO(phi_old)), the negated surrogate
improvement; ``improvement`` (its negation); ``kl``; ``entropy``; ``cg_iters``, ``cg_residual``;
``step_norm`` (||Delta phi||); ``value_loss``. When g = 0 no step is taken: phi is unchanged and
the CG and step metrics are 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refimpl.core.critic import CriticFitParams, fit_critic
from refimpl.core.fisher import make_fvp, subsample_states
from refimpl.core.natural import NO_STEP, natural_step, npg_step
from refimpl.core.objectives import surrogate_and_kl, surrogate_change
from refimpl.core.returns import standardize

@dataclass(frozen=True)
class NaturalParams:
    """What NPG and TRPO share: the direction x ~ F^-1 g and its step size's KL bound (the TRPO
    paper and baselines trpo_mpi)."""

    delta: float = 0.01
    """KL bound delta of the step sqrt(2 delta / x^T g) x (TRPO paper: 0.01)."""
    cg_iters: int = 10
    """Truncated-CG iterations (lecture: 10 to 20)."""
    damping: float = 0.1
    """Tikhonov damping lambda: CG solves (F + lambda I) x = g (baselines trpo_mpi: 0.1)."""
    fvp_fraction: float = 1.0
    """Share of the batch's states on which F is estimated (TRPO paper: 0.1 subsampling)."""
    norm_adv: bool = True
    """Implementation detail: standardise the batch's advantages."""
    critic: CriticFitParams = field(default_factory=lambda: CriticFitParams(lr=1e-3))
    """The critic's fit after the policy step."""


@dataclass(frozen=True)
class NPGParams(NaturalParams):
    """NPG's hyperparameters: the shared ones and the step rule."""

    step: str = "normalized"
    """'normalized': alpha = sqrt(2 delta / g^T F^-1 g); 'fixed': alpha = ``alpha``."""
    alpha: float = 0.05
    """The fixed step size alpha."""


def update(agent, data, hp: NPGParams, rng: np.random.Generator) -> dict:
    """The natural-gradient step on the batch ``data``, then the critic's fit."""
    metrics = policy_update(agent, data, hp, rng)
    metrics["value_loss"] = fit_critic(agent.critic, agent.theta_v, agent.v_opt, data,
                                       hp.critic, rng)
    return metrics


def policy_update(agent, data, hp: NPGParams, rng: np.random.Generator) -> dict:
    """phi <- phi + alpha x, x ~ F^-1 g."""
    policy, phi_old = agent.policy, agent.phi
    adv = standardize(data.adv) if hp.norm_adv else data.adv
    L_old = surrogate_and_kl(policy, phi_old, data, adv)[0]
    # g = grad L(phi) at phi_old, the policy gradient
    g = policy.score(phi_old, data.obs, data.actions, adv / len(data))
    if not g.any():
        return {**NO_STEP, **surrogate_change(policy, phi_old, phi_old, data, adv, L_old)}
    # x ~ F^-1 g by truncated CG, F only through products v -> F v on the batch states
    fvp = make_fvp(policy, phi_old, subsample_states(data.obs, hp.fvp_fraction, rng),
                   hp.damping)
    if hp.step == "fixed":
        step = npg_step(g, fvp, hp.alpha, hp.cg_iters)                   # alpha x
    else:
        step = natural_step(g, fvp, hp.delta, hp.cg_iters)               # sqrt(2 delta / x^T g) x
    # phi <- phi + alpha F^-1 g
    agent.phi = phi_old + step.step
    return {**step.diagnostics(), **surrogate_change(policy, phi_old, agent.phi, data, adv, L_old)}
