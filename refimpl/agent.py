"""What every algorithm updates: the actor pi_phi, the critic V_theta_v, their optimisers, and
the batch they learn from. The critic is a separate MLP (the lecture, "Drawback C": TRPO cannot
share a network between actor and critic), fitted by Adam on minibatches for every algorithm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl import distributions as dist
from refimpl.config import Config
from refimpl.nn import MLP
from refimpl.objectives import surrogate, value_loss
from refimpl.optim import Adam, clip_grad_norm
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
        policy = GaussianPolicy.build(obs_dim, act_dim, cfg.hidden, cfg.activation)
        critic = MLP((obs_dim, *cfg.hidden, 1), cfg.activation)
        phi = policy.init(rng, cfg.log_std_init)
        theta_v = critic.init(rng, output_gain=1.0)
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


def surrogate_and_kl(agent, data, adv, phi):
    """(L_TRPO(phi), mean KL(pi_old || pi_phi)) on the batch (lecture eq. Adv_TRPO_Opt): the
    objective and constraint of TRPO, and every algorithm's logged ``kl``."""
    mean, log_std, _ = agent.policy.forward(phi, data.obs)
    logp = dist.log_prob(mean, log_std, data.actions)
    kl = np.mean(dist.kl(data.mean_old, data.log_std_old, mean, log_std))
    return surrogate(logp, data.logp_old, adv)[0], float(kl)


ADV_EPS = 1e-8
"""Added to the standard deviation in ``standardize`` so a constant batch stays finite."""


def standardize(adv: np.ndarray) -> np.ndarray:
    """Implementation detail (not in the lecture): (A - mean A) / (std A + ADV_EPS), per batch
    (NPG, TRPO, VPG) or per minibatch (PPO), switch ``Config.norm_adv``."""
    # np.mean/np.std spelled as their reductions (same operations, same bits), as this runs
    # once per PPO minibatch and the wrappers cost more than the arithmetic at 64 rows
    n = len(adv)
    dev = adv - np.add.reduce(adv) / n
    return dev / (np.sqrt(np.add.reduce(dev * dev) / n) + ADV_EPS)


def minibatches(n: int, size: int, rng: np.random.Generator):
    """Index arrays of a random partition of range(n) into chunks of ``size`` (last may be short)."""
    perm = rng.permutation(n)
    return [perm[i:i + size] for i in range(0, n, size)]


def fit_critic(agent: Agent, data: FlatBatch, cfg: Config, rng: np.random.Generator,
               lr: float) -> float:
    """Regress V_theta_v on the GAE returns: minimise 1/2 mean (V(s) - ret)^2 (optionally
    clipped around the old values) by ``cfg.vf_epochs`` Adam passes over shuffled minibatches.

    Returns the mean minibatch loss of the last epoch.
    """
    losses, clip = [], cfg.vf_clip is not None
    for _ in range(cfg.vf_epochs):
        losses.clear()
        for idx in minibatches(len(data), cfg.vf_minibatch, rng):
            v, cache = agent.critic.forward(agent.theta_v, data.obs[idx])
            loss, dv = value_loss(v[:, 0], data.ret[idx], data.values[idx] if clip else None,
                                  cfg.vf_clip)
            grad, _ = agent.critic.vjp(agent.theta_v, cache, dv[:, None])
            grad, _ = clip_grad_norm(grad, cfg.max_grad_norm)
            agent.v_opt.step(agent.theta_v, grad, lr)
            losses.append(loss)
    return float(np.mean(losses))
