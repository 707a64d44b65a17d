"""Natural policy gradient (lecture, "Natural policy gradient", eq. Adv_NPG; Kakade 2001), and
the update it shares with TRPO, which is NPG's direction plus a line search.

    phi <- phi + alpha F^-1 g,   x = F^-1 g by truncated CG on (F + damping I) x = g,
    alpha fixed (``npg_step='fixed'``) or alpha = sqrt(2 delta / g^T F^-1 g) (``'normalized'``,
    the lecture's step size of eq. Adv_TRPO_step, without TRPO's line search).

Metrics: ``policy_loss`` = -(L_TRPO(phi_new) - L_TRPO(phi_old)), the negated surrogate
improvement; ``improvement`` (its negation); ``cg_iters``, ``cg_residual``; ``step_norm``
(||Delta phi||); TRPO adds ``accepted`` and ``step_fraction`` (the accepted gamma = alpha^j).
When g = 0 no step is taken: phi is unchanged, the CG and step metrics are 0 and TRPO's two
keys are absent.
"""
from __future__ import annotations

import numpy as np

from refimpl.critic import then_fit_critic
from refimpl.fisher import make_fvp, subsample_states
from refimpl.linesearch import backtracking
from refimpl.natural import natural_step, npg_step
from refimpl.objectives import surrogate_and_kl
from refimpl.returns import standardize


def natural_direction_step(policy, phi_old, data, g, cfg, rng):
    """Lecture "TRPO: Final algorithm", steps 4-5: x ~ F^-1 g by truncated CG, Delta phi = beta x,
    with F on ``cfg.fvp_fraction`` of the batch's states. beta = ``cfg.npg_alpha`` for NPG with
    ``npg_step='fixed'``, else sqrt(2 delta / x^T g). Returns a ``natural.NaturalStep``."""
    fisher_obs = subsample_states(data.obs, cfg.fvp_fraction, rng)
    fvp = make_fvp(policy, phi_old, fisher_obs, cfg.damping)
    if cfg.algo == "npg" and cfg.npg_step == "fixed":
        return npg_step(g, fvp, cfg.npg_alpha, cfg.cg_iters)
    return natural_step(g, fvp, cfg.delta, cfg.cg_iters)


def natural_update(agent, data, cfg, rng, line_search: bool):
    """Lecture "TRPO: Final algorithm", steps 3-7 (steps 6-7 only when ``line_search``) of the
    policy; the critic's fit follows (``then_fit_critic``)."""
    policy, phi_old = agent.policy, agent.phi
    adv = standardize(data.adv) if cfg.norm_adv else data.adv
    L_old = surrogate_and_kl(policy, phi_old, data, adv)[0]
    # step 3: g = 1/|B| sum grad log pi_phi(a|s) A(s, a)
    g = policy.score(phi_old, data.obs, data.actions, adv / len(data))
    metrics = {"cg_iters": 0, "cg_residual": 0.0, "step_norm": 0.0}
    phi_new = phi_old
    if g.any():
        step = natural_direction_step(policy, phi_old, data, g, cfg, rng)       # steps 4-5
        metrics.update(cg_iters=step.cg.iterations, cg_residual=step.cg.residual_norm,
                       step_norm=float(np.linalg.norm(step.step)))
        if line_search:
            # steps 6-7: backtracking on gamma = alpha^j until L improves and KL <= delta
            def evaluate(candidate):
                L, kl = surrogate_and_kl(policy, candidate, data, adv)
                return L - L_old, kl
            phi_new, info = backtracking(phi_old, step.step, evaluate, cfg.delta,
                                         cfg.backtrack_alpha, cfg.backtrack_iters)
            metrics.update(accepted=int(info.accepted), step_fraction=info.fraction)
        else:
            phi_new = phi_old + step.step
    L_new, kl = surrogate_and_kl(policy, phi_new, data, adv)
    agent.phi = phi_new
    return {**metrics, "policy_loss": -(L_new - L_old), "improvement": L_new - L_old,
            "kl": kl, "entropy": policy.mean_entropy(phi_new, data.obs)}


def policy_update(agent, data, cfg, rng, lr_scale=1.0):
    """NPG: steps 3-5 of the TRPO algorithm and phi <- phi + Delta phi, no line search."""
    return natural_update(agent, data, cfg, rng, line_search=False)


update = then_fit_critic(policy_update)
