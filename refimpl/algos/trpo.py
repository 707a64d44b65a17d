"""TRPO (lecture, "TRPO: Final algorithm"; Schulman et al. 2015)::

    for k = 0, 1, 2, ...:                                               (algos/loop.py)
        1. collect a batch with pi_phi_k
        2. estimate the advantages A(s, a)
        3. g = 1/|B| sum grad log pi_phi(a|s) A(s, a) at phi_k
        4. x ~ F^-1 g by truncated CG on F x = g (F through Fisher-vector products)
        5. beta = sqrt(2 delta / x^T F x), Delta phi = beta x
        6. backtracking: the largest gamma = alpha^j with L_TRPO(phi_k + gamma Delta phi) > 0
           and KL-bar(phi_k, phi_k + gamma Delta phi) <= delta
        7. phi_{k+1} = phi_k + gamma Delta phi, or phi_k if no gamma is accepted
        then fit the critic on the batch ("TRPO: The big picture and relation to actor-critic")

Metrics: those of ``npg.py``, plus ``accepted`` (1 if a gamma was accepted) and
``step_fraction`` (the accepted gamma, 0 if none); without a step (g = 0) these two are absent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.algos.npg import NaturalParams
from refimpl.core.critic import fit_critic
from refimpl.core.fisher import make_fvp, subsample_states
from refimpl.core.linesearch import backtracking
from refimpl.core.natural import NO_STEP, natural_step
from refimpl.core.objectives import surrogate_and_kl, surrogate_change
from refimpl.core.returns import standardize


@dataclass(frozen=True)
class TRPOParams(NaturalParams):
    """TRPO's hyperparameters: NPG's, and the line search of step 6."""

    backtrack_alpha: float = 0.8
    """Backtracking factor alpha in gamma = alpha^j, in (0, 1)."""
    backtrack_iters: int = 10
    """Candidate fractions gamma tried before the step is rejected."""


def update(agent, data, hp: TRPOParams, rng: np.random.Generator) -> dict:
    """Steps 3-7 on the batch ``data``, then the critic's fit."""
    metrics = policy_update(agent, data, hp, rng)                                   # steps 3-7
    metrics["value_loss"] = fit_critic(agent.critic, agent.theta_v, agent.v_opt, data,
                                       hp.critic, rng)                    # the critic
    return metrics


def policy_update(agent, data, hp: TRPOParams, rng: np.random.Generator) -> dict:
    """Steps 3-7 of the policy; the KL bound delta sets the step."""
    policy, phi_old = agent.policy, agent.phi
    adv = standardize(data.adv) if hp.norm_adv else data.adv
    L_old = surrogate_and_kl(policy, phi_old, data, adv)[0]
    # step 3: g = 1/|B| sum grad log pi_phi(a|s) A(s, a) at phi_k
    g = policy.score(phi_old, data.obs, data.actions, adv / len(data))
    if not g.any():
        return {**NO_STEP, **surrogate_change(policy, phi_old, phi_old, data, adv, L_old)}
    # step 4: x ~ F^-1 g by truncated CG, F only through products v -> F v on the batch states
    fvp = make_fvp(policy, phi_old, subsample_states(data.obs, hp.fvp_fraction, rng),
                   hp.damping)
    # step 5: beta = sqrt(2 delta / x^T F x) (= x^T g after CG), Delta phi = beta x
    step = natural_step(g, fvp, hp.delta, hp.cg_iters)

    def improvement_and_kl(candidate):
        L, kl = surrogate_and_kl(policy, candidate, data, adv)
        return L - L_old, kl
    # step 6: the largest gamma = alpha^j with L_TRPO improved and mean KL <= delta;
    # step 7: phi_{k+1} = phi_k + gamma Delta phi, or phi_k if no gamma is accepted
    agent.phi, search = backtracking(phi_old, step.step, improvement_and_kl, hp.delta,
                                     hp.backtrack_alpha, hp.backtrack_iters)
    return {**step.diagnostics(), "accepted": int(search.accepted),
            "step_fraction": search.fraction,
            **surrogate_change(policy, phi_old, agent.phi, data, adv, L_old)}
