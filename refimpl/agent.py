"""What every algorithm updates, and the batch it learns from: plain containers, no math.

``Agent`` holds the actor pi_phi (``policy.GaussianPolicy`` and its flat parameters phi), the
critic V_theta_v (``critic.py``; a separate MLP, the lecture's "Drawback C": TRPO cannot share a
network between actor and critic) and their Adam states. ``FlatBatch`` is one rollout flattened
to N rows. The algorithms (``algos/``) compose the math modules on these.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.config import Config
from refimpl.critic import init_critic
from refimpl.nn import MLP
from refimpl.optim import Adam
from refimpl.policy import GaussianPolicy


@dataclass
class Agent:
    """Actor and critic parameters with their Adam states (``pi_opt`` unused by NPG/TRPO)."""

    policy: GaussianPolicy
    phi: np.ndarray
    critic: MLP
    theta_v: np.ndarray
    pi_opt: Adam
    v_opt: Adam

    @classmethod
    def create(cls, cfg: Config, obs_dim: int, act_dim: int, rng: np.random.Generator) -> "Agent":
        """Policy and critic of ``cfg.hidden`` widths, initialised from ``rng`` (policy first)."""
        policy = GaussianPolicy.build(obs_dim, act_dim, cfg.hidden, cfg.activation)
        critic = MLP((obs_dim, *cfg.hidden, 1), cfg.activation)
        phi = policy.init(rng, cfg.log_std_init)
        theta_v = init_critic(critic, rng)
        return cls(policy, phi, critic, theta_v, Adam(phi.size, cfg.lr), Adam(theta_v.size, cfg.vf_lr))


@dataclass
class FlatBatch:
    """A rollout flattened to N rows, with what the updates need.

    obs (N, obs_dim); actions (N, act_dim); logp_old (N,) = log pi_old(a|s);
    mean_old (N, act_dim) and log_std_old (act_dim,) of pi_old; adv, ret, values (N,).
    """

    obs: np.ndarray
    actions: np.ndarray
    logp_old: np.ndarray
    mean_old: np.ndarray
    log_std_old: np.ndarray
    adv: np.ndarray
    ret: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.adv)
