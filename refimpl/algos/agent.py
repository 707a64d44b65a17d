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

from refimpl.core.critic import init_critic
from refimpl.core.nn import MLP
from refimpl.core.optim import Adam
from refimpl.core.policy import CategoricalPolicy, GaussianPolicy, make_policy


@dataclass(frozen=True)
class AgentSpec:
    """What the actor and critic are made of."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of the policy, and of the critic unless ``critic_hidden`` (PPO paper: 64,
    64)."""
    critic_hidden: tuple[int, ...] | None = None
    """Hidden widths of the critic; None: ``hidden``'s."""
    activation: str = "tanh"
    """Hidden nonlinearity, tanh | relu (PPO paper: tanh)."""
    init: str = "orthogonal"
    """Weight initialisation of both networks, one of ``nn.INITS``."""
    log_std_init: float = 0.0
    """Initial log sigma of the Gaussian head (PPO paper: 0, sigma = 1)."""
    lr: float = 3e-4
    """The policy's Adam step size (unused by NPG and TRPO)."""
    vf_lr: float = 3e-4
    """The critic's Adam step size."""
    adam_eps: float = 1e-8
    """Adam's epsilon, policy and critic (Kingma & Ba: 1e-8)."""

    @property
    def critic_widths(self) -> tuple[int, ...]:
        """The critic's hidden widths: ``critic_hidden``, or ``hidden`` when it is None."""
        return self.hidden if self.critic_hidden is None else self.critic_hidden


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
    def create(cls, spec: AgentSpec, obs_dim: int, act_dim: int, rng: np.random.Generator,
               kind: str = "gaussian") -> "Agent":
        """Policy (head ``kind``, ``policy.HEADS``; act_dim is K for the categorical) of
        ``spec.hidden`` widths and critic of ``spec.critic_widths``, initialised by
        ``spec.init`` from ``rng`` (policy first)."""
        policy = make_policy(kind, obs_dim, act_dim, spec.hidden, spec.activation)
        critic = MLP((obs_dim, *spec.critic_widths, 1), spec.activation)
        phi = policy.init(rng, spec.log_std_init, spec.init) if kind == "gaussian" \
            else policy.init(rng, spec.init)
        theta_v = init_critic(critic, rng, spec.init)
        return cls(policy, phi, critic, theta_v, Adam(phi.size, spec.lr, eps=spec.adam_eps),
                   Adam(theta_v.size, spec.vf_lr, eps=spec.adam_eps))


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

    @classmethod
    def of(cls, agent: Agent, batch, adv, ret, values) -> "FlatBatch":
        """The rollout ``batch`` (``envs.rollout.Batch``, T x E steps) as N = T * E rows, with
        pi_old's log-probabilities and distribution parameters, and step 2's adv, ret and
        values (T, E)."""
        obs = batch.obs.reshape(-1, batch.obs.shape[-1])
        actions = batch.actions.reshape(-1, *agent.policy.action_shape)
        # pi_old's parameters are kept for the KL of every later update, so the forward pass
        # is spelled out here rather than hidden in policy.log_prob (which would run it twice)
        params, _ = agent.policy.dist_params(agent.phi, obs)
        return cls(obs, actions, agent.policy.log_prob_of(params, actions),
                   tuple(p.copy() for p in params), adv.ravel(), ret.ravel(), values.ravel())
