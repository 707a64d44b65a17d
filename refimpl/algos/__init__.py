"""The lecture's algorithms, each an ``update(agent, data, cfg, rng, lr_scale) -> metrics``
that performs the steps after data collection and advantage estimation: the algorithm's
``policy_update`` (POLICY_UPDATES), then the critic's fit (``critic.then_fit_critic``).

Metrics every update returns: ``policy_loss`` (the negated policy objective: PPO's -L_CLIP over
its last epoch, without the entropy bonus; for NPG, TRPO and VPG the negated surrogate
improvement -(L_TRPO(phi_new) - L_TRPO(phi_old))), ``value_loss`` (critic's last-epoch loss),
``entropy`` (of pi after the step), ``kl`` (exact mean KL(pi_old || pi_new) over the batch
states); plus the algorithm's own keys, documented in its module.
"""
from refimpl.algos import npg, ppo, trpo, vpg

POLICY_UPDATES = {"ppo": ppo.policy_update, "trpo": trpo.policy_update,
                  "npg": npg.policy_update, "vpg": vpg.policy_update}
UPDATES = {"ppo": ppo.update, "trpo": trpo.update, "npg": npg.update, "vpg": vpg.update}
