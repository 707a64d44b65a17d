"""The K training environments of a run, stepped one of three ways that give identical batches::

    direct   refimpl's own loop over the K environments in this process (the default): no
             vector-env layer between the policy and ``env.step``
    sync     gymnasium's ``SyncVectorEnv``, the same loop inside gymnasium
    async    gymnasium's ``AsyncVectorEnv`` with shared memory: one process per environment, so
             the environments step on every core while the update stays in this process

All three use gymnasium's same-step autoreset: when an episode ends, ``step`` returns the first
observation of the next episode (``reset()`` without a seed, so the environment's generator
continues) and puts the true last observation into ``info["final_obs"]``. They step the same
environments (each wrapped in ``TrainingEnv``) with the same actions in the same order, so the
batches agree bit for bit (``tests/envs/test_vector.py``). What differs is the cost:
``SyncVectorEnv`` adds its per-step bookkeeping, and ``AsyncVectorEnv`` its start-up (one
process per environment) and a pipe round trip per step, which only pays when environment steps
cost more than that and there are cores to spare (docs/speed.md, "How the environments are
stepped").
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

from refimpl.envs import envstate
from refimpl.envs.make import make_env, make_vector_env

VECTORS = ("direct", "sync", "async")
"""Ways of stepping the training environments (``make_training_envs``)."""

MAX_ENVS = 1024
"""Most training environments a run may have (``--num-envs``, checked by the Config). Each is a
simulator of its own, all made one after another when the run starts: 1024 HalfCheetahs take
about 10 s and 1 GB of memory (about 10 ms and 1 MB each, measured), while the presets use at
most 16. A larger number is a mistake that would otherwise run silently for minutes before the
first update (100,000: about 17 minutes and 100 GB)."""

STATE = "exact_state"
"""``TrainingEnv``'s attribute holding the environment's exact state, read and written through
the vector envs' ``get_attr``/``set_attr``, which reach environments in other processes too."""


def observation_size(space: gym.Space, env_id: str) -> int:
    """obs_dim, the number of entries of an observation of ``space``, which training flattens
    into one float64 vector; a one-line ValueError naming a space whose observations are not
    arrays (Dict, Tuple, Text, Graph, Sequence, ...: gymnasium gives them no shape).
    Tested in tests/envs/test_rollout.py and tests/engine/test_bad_input.py."""
    if space.shape is None:
        raise ValueError(f"{env_id} has the observation space {space} ({type(space).__name__}); "
                         "refimpl handles observations that are arrays (Box, Discrete, "
                         "MultiBinary, MultiDiscrete), flattened into one vector")
    return int(np.prod(space.shape))


class TrainingEnv(gym.Wrapper):
    """Training's wrapper of every environment. ``step`` returns an empty ``info``: training
    reads no per-step info, and merging HalfCheetah's four info entries costs ``SyncVectorEnv``
    several microseconds a step (the vector env still reports ``final_obs``).
    ``reset`` refuses, in one line, an observation whose shape is not its space's (once per
    episode: no cost per step).
    ``exact_state`` is ``envstate.get_state`` of the environment, and assigning it
    ``envstate.set_state``, so checkpoints work the same for every way of stepping."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        check_observation(obs, self.observation_space, self.spec.id if self.spec else "the "
                          "environment", "reset")
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, reward, terminated, truncated, {}

    @property
    def exact_state(self) -> dict[str, np.ndarray]:
        return envstate.get_state(self.env)

    @exact_state.setter
    def exact_state(self, state: dict[str, np.ndarray]) -> None:
        envstate.set_state(self.env, state)


def check_observation(obs, space: gym.Space, env_id: str, where: str) -> None:
    """A one-line ValueError unless observation ``obs`` has the shape of ``space``."""
    if np.shape(obs) != space.shape:
        raise ValueError(f"{env_id} returned an observation of shape {np.shape(obs)} from "
                         f"{where}, but its observation space {space} has shape {space.shape}")


class DirectVectorEnv:
    """K environments stepped in turn in this process, with the interface of gymnasium's vector
    envs that training uses (``reset``, ``step``, ``get_attr``, ``set_attr``, ``close``) and
    their same-step autoreset. Observations are returned as float64 arrays (K, obs_dim) that
    the caller owns."""

    def __init__(self, envs: list[gym.Env]):
        self.envs = envs
        self.num_envs = len(envs)
        self.single_observation_space = envs[0].observation_space
        self.single_action_space = envs[0].action_space
        self._obs_dim = int(np.prod(self.single_observation_space.shape))
        self._env_id = envs[0].spec.id if envs[0].spec else "the environment"

    def reset(self, seed: list[int]):
        obs = [env.reset(seed=s)[0] for env, s in zip(self.envs, seed)]
        return np.array(obs, dtype=np.float64).reshape(self.num_envs, self._obs_dim), {}

    def step(self, actions: np.ndarray):
        K = self.num_envs
        obs = np.empty((K, self._obs_dim))
        rewards = np.empty(K)
        terminated, truncated = np.empty(K, dtype=bool), np.empty(K, dtype=bool)
        final = None
        for i, env in enumerate(self.envs):
            o, rewards[i], terminated[i], truncated[i], _ = env.step(actions[i])
            if terminated[i] or truncated[i]:
                if final is None:
                    final = np.empty(K, dtype=object)
                check_observation(o, self.single_observation_space, self._env_id, "step")
                final[i] = o
                o, _ = env.reset()
            try:
                obs[i] = np.reshape(o, -1)
            except ValueError:  # not broadcastable: NumPy's message would not name the env
                check_observation(o, self.single_observation_space, self._env_id, "step")
                raise
        return obs, rewards, terminated, truncated, ({} if final is None else {"final_obs": final})

    def get_attr(self, name: str) -> tuple:
        return tuple(env.get_wrapper_attr(name) for env in self.envs)

    def set_attr(self, name: str, values) -> None:
        for env, value in zip(self.envs, values):
            env.set_wrapper_attr(name, value)

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_training_envs(env_id: str, num_envs: int, vector: str = "direct"):
    """The ``num_envs`` training environments of ``env_id``, each wrapped in ``TrainingEnv``,
    stepped the ``vector`` way (one of VECTORS); a one-line ValueError if they cannot be made
    (``refimpl.envs.make``), if ``num_envs`` is not in [1, MAX_ENVS], or if their observations
    are not arrays (``observation_size``).

    The gymnasium vector envs are made with ``copy=False``: ``step`` returns their own
    observation buffer, which the next ``step`` overwrites, so callers copy what they keep.
    """
    if vector not in VECTORS:
        raise ValueError(f"unknown vector {vector!r}; choose one of {', '.join(VECTORS)}")
    if not 1 <= num_envs <= MAX_ENVS:
        raise ValueError(f"num_envs must be in [1, {MAX_ENVS}], got {num_envs}")
    if vector == "direct":  # the environments gym.make_vec would make, without its vector layer
        first = TrainingEnv(make_env(env_id))
        try:
            observation_size(first.observation_space, env_id)
        except ValueError:
            first.close()
            raise
        return DirectVectorEnv([first, *(TrainingEnv(make_env(env_id))
                                         for _ in range(num_envs - 1))])
    kwargs = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP, "copy": False}
    if vector == "async":
        kwargs["shared_memory"] = True
    envs = make_vector_env(env_id, num_envs, vector, wrappers=[TrainingEnv], vector_kwargs=kwargs)
    try:
        observation_size(envs.single_observation_space, env_id)
    except ValueError:
        envs.close()
        raise
    return envs
