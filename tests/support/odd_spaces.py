"""Registers one tiny environment per gymnasium action space that refimpl refuses
(``test/MultiDiscrete-v0``, ``test/MultiBinary-v0``, ``test/Dict-v0``, ``test/Tuple-v0``), and
one with a Discrete space that does not count from 0 (``test/DiscreteFrom1-v0``), for the tests
of the one-line error that names the space (``rollout.action_head``)."""
import gymnasium as gym
import numpy as np

ODD_SPACES = {
    "test/MultiDiscrete-v0": gym.spaces.MultiDiscrete([2, 3]),
    "test/MultiBinary-v0": gym.spaces.MultiBinary(3),
    "test/Dict-v0": gym.spaces.Dict({"a": gym.spaces.Discrete(2)}),
    "test/Tuple-v0": gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(2))),
    "test/DiscreteFrom1-v0": gym.spaces.Discrete(3, start=1),
}
"""Environment id -> its action space."""


class OddSpaceEnv(gym.Env):
    """A one-step environment with a 1-d observation and the given action space."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)

    def __init__(self, action_space: gym.Space):
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1), {}

    def step(self, action):
        return np.zeros(1), 0.0, True, False, {}


for _id, _space in ODD_SPACES.items():
    if _id not in gym.registry:
        gym.register(_id, entry_point=OddSpaceEnv, kwargs={"action_space": _space})
