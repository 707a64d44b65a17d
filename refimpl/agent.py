"""What every algorithm updates, and the batch it learns from: plain containers, no math.

``Agent`` holds the actor pi_phi (``policy.GaussianPolicy`` or ``policy.CategoricalPolicy``, as
the action space requires, and its flat parameters phi), the
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
from refimpl.policy import CategoricalPolicy, GaussianPolicy, make_policy


@dataclass
class Agent:
    """Actor and critic parameters with their Adam states (``pi_opt`` unused by NPG/TRPO)."""

    policy: GaussianPolicy | CategoricalPolicy
    phi: np.ndarray
    critic: MLP
    theta_v: np.ndarray
    pi_opt: Adam
    v_opt: Adam

    @classmethod
    def create(cls, cfg: Config, obs_dim: int, act_dim: int, rng: np.random.Generator,
               kind: str = "gaussian") -> "Agent":
        """Policy (head ``kind``, ``policy.HEADS``; act_dim is K for the categorical) and critic
        of ``cfg.hidden`` widths, initialised from ``rng`` (policy first)."""
        policy = make_policy(kind, obs_dim, act_dim, cfg.hidden, cfg.activation)
        critic = MLP((obs_dim, *cfg.hidden, 1), cfg.activation)
        phi = policy.init(rng, cfg.log_std_init) if kind == "gaussian" else policy.init(rng)
        theta_v = init_critic(critic, rng)
        return cls(policy, phi, critic, theta_v, Adam(phi.size, cfg.lr, eps=cfg.adam_eps),
                   Adam(theta_v.size, cfg.vf_lr, eps=cfg.adam_eps))


@dataclass
class FlatBatch:
    """A rollout flattened to N rows, with what the updates need.

    obs (N, obs_dim); actions (N, act_dim) floats (Gaussian) or (N,) int64 (categorical);
    logp_old (N,) = log pi_old(a|s); params_old, pi_old's distribution parameters in the form of
    ``policy.dist_params`` ((mean (N, act_dim), log_std (act_dim,)) or (logits (N, K),)), owned
    by the batch (not views into phi); adv, ret, values (N,).
    """

    obs: np.ndarray
    actions: np.ndarray
    logp_old: np.ndarray
    params_old: tuple
    adv: np.ndarray
    ret: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.adv)
