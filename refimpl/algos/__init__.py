"""The lecture's algorithms, each a module with the same three names:

``update(agent, data, hp, rng) -> metrics``
    Everything after data collection and advantage estimation, as the lecture's numbered steps:
    the policy's step (``policy_update``), then the critic's fit (``core.critic.fit_critic``).
``policy_update(agent, data, hp, rng) -> metrics``
    The policy's steps alone (the engine fits the critic while the next batch is collected).

A frozen dataclass of hyperparameters (``PPOParams``, ``TRPOParams``, ``NPGParams``,
``VPGParams``), ``hp`` above, whose ``critic`` field holds the critic's fit settings.

``loop.py`` is the lecture's loop around them. Metrics every update returns: ``policy_loss``,
``value_loss``, ``entropy`` (of pi after the step), ``kl`` (exact mean KL(pi_old || pi_new) over
the batch states); plus the algorithm's own keys, documented in its module.
"""
from refimpl.algos import npg, ppo, trpo, vpg

ALGORITHMS = {"ppo": ppo, "trpo": trpo, "npg": npg, "vpg": vpg}
"""Name -> module."""
PARAMS = {"ppo": ppo.PPOParams, "trpo": trpo.TRPOParams, "npg": npg.NPGParams,
          "vpg": vpg.VPGParams}
"""Name -> the algorithm's hyperparameter dataclass."""
