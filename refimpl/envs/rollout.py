"""Lecture steps 1-2 of every algorithm: data collection and advantage estimation.

``Collector`` runs the current policy in the training environments (``refimpl.envs.vector``;
same-step autoreset: when an episode ends, ``step`` returns the first observation of the next
episode and puts the true last observation in ``info["final_obs"]``). ``estimate_advantages`` evaluates the
critic on the batch and runs GAE, bootstrapping a truncated episode from V(final observation)
and a terminated one from 0 ("truncation is not termination").
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import refimpl.envs  # noqa: F401  (registers the lecture's environments with gymnasium)

from refimpl.envs.make import held_warnings
from refimpl.envs.vector import STATE, make_training_envs, observation_size
from refimpl.core.errors import NumericalError
from refimpl.core.normalize import RewardScaler, RunningMeanStd
from refimpl.core.returns import gae
from refimpl.core.seeding import RunSeeds
from refimpl.core.state import subdict

EPISODE_WINDOW = 20
"""Finished episodes averaged in ``Collector.episode_stats``, the ``ep_return`` and ``ep_length``
of progress.csv and the "mean episode return (last 20)" of the learning curves: long enough to
average out single-episode noise, short enough to follow learning (20 HalfCheetah episodes of
1000 steps are the last 20k steps, about ten PPO updates of 2048)."""


class NonFiniteError(NumericalError):
    """A NaN or infinity appeared in training data or parameters; the message says where."""


def check_finite(where: str, **arrays) -> None:
    """Raise NonFiniteError naming ``where`` and the first array holding a NaN or infinity."""
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"non-finite {name} {where}")


def action_head(space: gym.Space, env_id: str) -> str:
    """The policy head an action space needs (``policy.HEADS``): ``"gaussian"`` for a Box of
    one dimension, shape (d,), ``"categorical"`` for a Discrete space counting from 0; a
    one-line ValueError naming any other space (a Box of shape (2, 2), MultiDiscrete,
    MultiBinary, Dict, Tuple, ...)."""
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return "gaussian"
    if isinstance(space, gym.spaces.Discrete) and int(space.start) == 0:
        return "categorical"
    shape = f" of shape {space.shape}" if isinstance(space, gym.spaces.Box) else ""
    raise ValueError(f"{env_id} has the action space {space} ({type(space).__name__}{shape}); "
                     "refimpl handles Box spaces of one dimension, shape (d,) (Gaussian policy), "
                     "and Discrete spaces counting from 0 (categorical policy)")


def clips_actions(clip_actions: bool, kind: str) -> bool:
    """Whether actions go to the environment clipped to its action space: ``clip_actions`` (the
    config field) for a Gaussian policy, never for a categorical one, whose actions are the
    space's own integers. Used by collection and by evaluation."""
    return clip_actions and kind == "gaussian"


def make_envs(env_id: str, num_envs: int, vector: str = "direct"):
    """The training environments (``refimpl.envs.vector``); a one-line ValueError for an
    environment that cannot be made (``refimpl.envs.make``), whose observations are not arrays
    (``vector.observation_size``) or whose action space is neither a Box of shape (d,) nor
    Discrete (``action_head``)."""
    envs = make_training_envs(env_id, num_envs, vector)
    try:
        action_head(envs.single_action_space, env_id)
    except ValueError:
        envs.close()
        raise
    return envs


@dataclass
class Batch:
    """One rollout of T steps in E envs, flattened to N = T * E rows where noted.

    obs, next_obs : (T, E, obs_dim) normalised observations s_t and true successors s_{t+1}
    actions : (T, E, act_dim) sampled (unclipped) actions a_t; (T, E) int64 for a Discrete space
    rewards : (T, E) rewards fed to learning (scaled if reward scaling is on)
    terminated, ends : (T, E) bool; ends = terminated or truncated
    """

    obs: np.ndarray
    next_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    ends: np.ndarray


class Collector:
    """Runs the policy in ``envs`` and keeps what persists across rollouts: the current
    observation, the observation normaliser, the reward scaler and episode statistics.

    Implementation details (not in the lecture), as the config switches them: observations
    normalised by running statistics (``norm_obs``) and clipped to [-obs_clip, obs_clip]
    (None: not clipped); rewards divided by the running std of the discounted return
    (``norm_reward``), then clipped to [-reward_clip, reward_clip] (None, the default: not
    clipped); sampled actions clipped to the action bounds before env.step (``clip_actions``).
    Reward clipping is tested in ``tests/envs/test_rollout.py::
    test_reward_clip_bounds_the_scaled_rewards_and_changes_nothing_else``."""

    def __init__(self, env_id: str, num_envs: int, seed: int, gamma: float,
                 norm_obs: bool = True, obs_clip: float | None = 10.0, norm_reward: bool = True,
                 clip_actions: bool = True, vector: str = "direct",
                 reward_clip: float | None = None):
        self.envs = make_envs(env_id, num_envs, vector)
        self.obs_dim = observation_size(self.envs.single_observation_space, env_id)
        space = self.envs.single_action_space
        self.kind = action_head(space, env_id)  # the policy head this space needs
        self.act_dim = int(space.n) if self.kind == "categorical" else int(np.prod(space.shape))
        self.low, self.high = (space.low.astype(np.float64), space.high.astype(np.float64)) \
            if clips_actions(clip_actions, self.kind) else (None, None)
        self.obs_rms = RunningMeanStd((self.obs_dim,)) if norm_obs else None
        self.obs_clip = obs_clip
        self.rew_scaler = RewardScaler(num_envs, gamma) if norm_reward else None
        self.reward_clip = reward_clip
        try:
            with held_warnings():  # an observation reset refuses: only its one line is shown
                raw, _ = self.envs.reset(seed=RunSeeds(seed).env_seeds(num_envs))
        except ValueError:
            self.envs.close()
            raise
        self.raw_obs = raw.reshape(num_envs, self.obs_dim).astype(np.float64)
        if self.obs_rms is not None:
            self.obs_rms.update(self.raw_obs)
        self.ep_return = np.zeros(num_envs)
        self.ep_length = np.zeros(num_envs, dtype=np.int64)
        self.recent = deque(maxlen=EPISODE_WINDOW)

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        """Implementation detail (not in the lecture): running observation normalisation."""
        return raw if self.obs_rms is None else self.obs_rms.normalize(raw, clip=self.obs_clip)

    def collect(self, policy, phi: np.ndarray, horizon: int, rng: np.random.Generator) -> Batch:
        """Lecture step 1, "Data collection": run pi_phi for ``horizon`` steps in every env."""
        E, T = len(self.raw_obs), horizon
        obs = np.empty((T, E, self.obs_dim))
        next_obs = np.empty_like(obs)
        actions = np.empty((T, E, *policy.action_shape), dtype=policy.action_dtype)
        rewards = np.empty((T, E))
        terminated = np.empty((T, E), dtype=bool)
        ends = np.empty((T, E), dtype=bool)
        dist_params = policy.bind(phi)  # phi's layer views taken once per rollout, not per step
        s = self.normalize(self.raw_obs)
        for t in range(T):
            obs[t] = s
            a = policy.sample_of(dist_params(s), rng)
            actions[t] = a
            if self.low is not None:  # np.clip as its two ufuncs: its wrapper outcosts one row
                a = np.minimum(np.maximum(a, self.low), self.high)
            raw, r, term, trunc, info = self.envs.step(a)
            raw = np.array(raw, dtype=np.float64).reshape(E, self.obs_dim)  # own copy
            end = term | trunc
            self._record_episodes(r, end)
            if self.obs_rms is not None:
                self.obs_rms.update(raw)
            s = self.normalize(raw)
            next_obs[t] = s
            if end.any():
                final = np.stack([info["final_obs"][i] for i in np.flatnonzero(end)])
                next_obs[t, end] = self.normalize(final.reshape(-1, self.obs_dim))
            rewards[t] = r
            terminated[t], ends[t] = term, end
            self.raw_obs = raw
        check_finite("from the environment", observations=next_obs, rewards=rewards)
        if self.rew_scaler is not None:
            self._scale_rewards(rewards, ends)
        if self.reward_clip is not None:
            # Implementation detail (not in the lecture): reward clipping, after scaling
            np.clip(rewards, -self.reward_clip, self.reward_clip, out=rewards)
        return Batch(obs, next_obs, actions, rewards, terminated, ends)

    def _scale_rewards(self, rewards: np.ndarray, ends: np.ndarray) -> None:
        """Implementation detail (not in the lecture): reward scaling of the batch's (T, E)
        finite rewards, in place, step after step as they came (``RewardScaler``; the scaler's
        state depends only on the rewards and episode ends, so this gives the numbers of scaling
        each step as it is taken). A NonFiniteError names the normaliser if its running
        discounted return overflows (rewards near 1e308 are finite, their sum is not)."""
        peak = float(np.max(np.abs(rewards)))
        for t in range(len(rewards)):
            rewards[t] = self.rew_scaler.scale(rewards[t], ends[t])
        if not np.all(np.isfinite(rewards)):
            raise NonFiniteError("non-finite rewards from the reward normaliser (--norm-reward): "
                                 "the running discounted return of the environment's finite "
                                 f"rewards (|r| up to {peak:.3g}) overflowed")

    def _record_episodes(self, r: np.ndarray, end: np.ndarray) -> None:
        self.ep_return += r
        self.ep_length += 1
        if end.any():
            for i in np.flatnonzero(end):
                self.recent.append((self.ep_return[i], self.ep_length[i]))
            self.ep_return[end] = 0.0
            self.ep_length[end] = 0

    def episode_stats(self) -> tuple[float, float]:
        """Mean return and length of the last (up to EPISODE_WINDOW) finished episodes; NaN if
        none yet."""
        if not self.recent:
            return float("nan"), float("nan")
        ret, length = np.array(self.recent).T
        return float(ret.mean()), float(length.mean())

    def state(self) -> dict[str, np.ndarray]:
        """Checkpointable state: env states, current observation, normalisers, episode stats."""
        out = {"raw_obs": self.raw_obs.copy(), "ep_return": self.ep_return.copy(),
               "ep_length": self.ep_length.copy(),
               "recent": np.array(self.recent, dtype=np.float64).reshape(-1, 2)}
        for i, env_state in enumerate(self.envs.get_attr(STATE)):
            out.update({f"env{i}/{k}": v for k, v in env_state.items()})
        for prefix, obj in (("obs_rms", self.obs_rms), ("rew_scaler", self.rew_scaler)):
            if obj is not None:
                out.update({f"{prefix}/{k}": np.array(v, copy=True) for k, v in obj.state().items()})
        return out

    def load_state(self, d: dict[str, np.ndarray]) -> None:
        self.raw_obs = d["raw_obs"].copy()
        self.ep_return, self.ep_length = d["ep_return"].copy(), d["ep_length"].copy()
        self.recent.clear()
        self.recent.extend((float(r), int(n)) for r, n in d["recent"])
        self.envs.set_attr(STATE, [{k: d[f"env{i}/{k}"] for k in ("sim", "rng", "elapsed")}
                                   for i in range(len(self.raw_obs))])
        if self.obs_rms is not None:
            self.obs_rms = RunningMeanStd.from_state(subdict(d, "obs_rms/"))
        if self.rew_scaler is not None:
            self.rew_scaler = RewardScaler.from_state(subdict(d, "rew_scaler/"))

    def close(self) -> None:
        self.envs.close()


def estimate_advantages(critic, theta_v: np.ndarray, batch: Batch, gamma: float, lam: float):
    """Lecture step 2, "Advantage estimation": GAE(gamma, lambda) with the critic V_theta_v.

    Returns (adv, ret, values), each of shape (T, E); ret = adv + values is the critic's target.
    """
    T, E, d = batch.obs.shape
    values = critic.forward(theta_v, batch.obs.reshape(-1, d))[0].reshape(T, E)
    next_values = critic.forward(theta_v, batch.next_obs.reshape(-1, d))[0].reshape(T, E)
    adv, ret = gae(batch.rewards, values, next_values, batch.terminated, batch.ends, gamma, lam)
    return adv, ret, values
