"""The lecture's loop, in one function: what to read first.

    For iterations k = 0, 1, 2, ...                      ("TRPO: Final algorithm",
        1. Data collection with pi_phi_k                  "PPO: Final algorithm")
        2. Advantage estimation
        3. ... the algorithm's policy update, then the critic's fit

``train`` runs it in this process and writes nothing; it yields one row per update. Example::

    from refimpl.algos import ppo
    from refimpl.algos.agent import AgentSpec
    from refimpl.algos.loop import make_agent, train
    from refimpl.envs.rollout import Collector

    collector = Collector("HalfCheetah-v5", num_envs=1, seed=0, gamma=0.99)
    agent = make_agent(AgentSpec(), collector, seed=0)
    for row in train(ppo.update, ppo.PPOParams(), agent, collector, seed=0, updates=5,
                     horizon=2048, gamma=0.99, lam=0.95):
        print(row["update"], row["ep_return"])

``refimpl train`` (``refimpl.engine.trainer``) runs the same steps with the critic's fit and the
evaluations in processes of their own, timing, checkpoints and logs; it computes the same numbers
bit for bit (``tests/engine/test_engine_is_the_loop.py``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

from refimpl.algos.agent import Agent, AgentSpec, FlatBatch
from refimpl.core.objectives import explained_variance
from refimpl.core.seeding import RunSeeds
from refimpl.envs.rollout import Batch, Collector, check_finite, estimate_advantages


def make_agent(spec: AgentSpec, collector: Collector, seed: int) -> Agent:
    """The agent of run ``seed``: actor and critic for ``collector``'s spaces, initialised from the
    run's ``weights`` stream (``core.seeding``)."""
    return Agent.create(spec, collector.obs_dim, collector.act_dim,
                        RunSeeds(seed).generator("weights"), collector.kind)


def advantages(agent: Agent, batch: Batch, gamma: float, lam: float) -> FlatBatch:
    """Step 2: GAE(gamma, lambda) advantages with the critic V_theta_v, and the batch flattened
    to N rows with pi_old's log-probabilities (``FlatBatch.of``)."""
    adv, ret, values = estimate_advantages(agent.critic, agent.theta_v, batch, gamma, lam)
    return FlatBatch.of(agent, batch, adv, ret, values)


def train(update: Callable, hp, agent: Agent, collector: Collector, seed: int, updates: int,
          horizon: int, gamma: float, lam: float, anneal_lr: bool = False,
          anneal_clip: bool = False, delta_final: float | None = None) -> Iterator[dict]:
    """Run ``updates`` iterations of the loop; yields each update's row: the metrics of
    ``update`` (an algorithm's, ``refimpl.algos``) with ``update``, ``env_steps``, the recent
    training episodes' ``ep_return`` and ``ep_length``, and the critic's ``explained_variance``
    on the batch before its fit. Update k takes ``scheduled(hp, k, updates, anneal_lr,
    anneal_clip, delta_final)``: with ``anneal_lr`` the Adam step sizes decay linearly to 0."""
    seeds = RunSeeds(seed)
    action_rng, update_rng = seeds.generator("actions"), seeds.generator("update")
    for k in range(updates):
        hp_k = scheduled(hp, k, updates, anneal_lr, anneal_clip, delta_final)
        batch = collector.collect(agent.policy, agent.phi, horizon, action_rng)          # 1
        data = advantages(agent, batch, gamma, lam)                                      # 2
        metrics = update(agent, data, hp_k, update_rng)                                  # 3-
        check_finite(f"after update {k + 1}", **{"policy parameters": agent.phi,
                                                 "critic parameters": agent.theta_v})
        yield row(metrics, k + 1, (k + 1) * len(data), collector, data)


def scheduled(hp, k: int, updates: int, anneal_lr: bool = False, anneal_clip: bool = False,
              delta_final: float | None = None):
    """The hyperparameters of update k = 0, ..., K - 1 of K = ``updates`` (implementation
    details, not in the lecture; ``hp`` itself when every switch is off):

    * ``anneal_lr``: the Adam step sizes times 1 - k / K (``annealed``; baselines ppo2);
    * ``anneal_clip``: PPO's clip_eps times 1 - k / K, the same decay (the PPO paper's Atari
      setting epsilon = 0.1 alpha; rl-baselines3-zoo's ``lin_0.2``, whose SB3 schedule runs one
      update ahead, 1 - (k + 1) / K);
    * ``delta_final``: TRPO's and NPG's KL bound moved linearly from ``hp.delta`` towards it,
      delta_k = delta_final + (delta - delta_final) (K - 1 - k) / K, so update k takes
      delta + (k + 1) / K (delta_final - delta) and the last one delta_final exactly (Engstrom et
      al. 2020's TRPO+: ``max_kl += (max_kl_final - max_kl) / train_steps`` before each step).

    Tested in ``tests/algos/test_loop.py::
    test_scheduled_clip_and_kl_bound_are_linear_with_their_endpoints``.
    """
    if anneal_lr:
        hp = annealed(hp, 1.0 - k / updates)
    if anneal_clip:
        hp = dataclasses.replace(hp, clip_eps=hp.clip_eps * (1.0 - k / updates))
    if delta_final is not None:
        hp = dataclasses.replace(
            hp, delta=delta_final + (hp.delta - delta_final) * ((updates - 1 - k) / updates))
    return hp


def annealed(hp, scale: float):
    """``hp`` with its Adam step sizes, the policy's ``lr`` (PPO, VPG) and the critic's
    ``critic.lr``, multiplied by ``scale`` (implementation detail, not in the lecture: the linear
    decay 1 - k / K of update k of K, baselines ppo2's schedule).

    Tested in ``tests/algos/test_loop.py::test_annealed_scales_only_the_adam_step_sizes``."""
    critic = dataclasses.replace(hp.critic, lr=hp.critic.lr * scale)
    if hasattr(hp, "lr"):
        return dataclasses.replace(hp, lr=hp.lr * scale, critic=critic)
    return dataclasses.replace(hp, critic=critic)


def row(metrics: dict, update: int, env_steps: int, collector: Collector,
        data: FlatBatch) -> dict:
    """An update's log row: its metrics, its number, the environment steps so far, the
    training episodes' statistics and explained_variance(V_old, ret) on its batch."""
    ep_return, ep_length = collector.episode_stats()
    return {**metrics, "update": update, "env_steps": env_steps, "ep_return": ep_return,
            "ep_length": ep_length,
            "explained_variance": explained_variance(data.values, data.ret)}
