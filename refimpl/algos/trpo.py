"""TRPO (lecture, "TRPO: Final algorithm"; Schulman et al. 2015): the natural-gradient direction
of ``npg.py`` with step size beta = sqrt(2 delta / x^T g), then a backtracking line search on
gamma = alpha^j that accepts the first step improving L_TRPO with mean KL <= delta; if none is
accepted the parameters stay bit-for-bit unchanged. Metrics: those of ``npg.natural_update``.
"""
from refimpl.algos.npg import natural_update
from refimpl.critic import then_fit_critic


def policy_update(agent, data, cfg, rng, lr_scale=1.0):
    """TRPO: lecture steps 3-7 for the policy (``lr_scale`` anneals only the critic's Adam step
    size, in ``then_fit_critic``)."""
    return natural_update(agent, data, cfg, rng, line_search=True)


update = then_fit_critic(policy_update)
