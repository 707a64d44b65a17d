"""Registers one tiny environment per gymnasium action space that refimpl refuses
(``test/MultiDiscrete-v0``, ``test/MultiBinary-v0``, ``test/Dict-v0``, ``test/Tuple-v0``,
``test/Box2x2-v0``), and one with a Discrete space that does not count from 0
(``test/DiscreteFrom1-v0``), for the tests of the one-line error that names the space
(``rollout.action_head``); one per observation space refimpl refuses (``ODD_OBSERVATIONS``,
``vector.observation_size``); and two whose observations do not have their space's shape, from
``reset`` and from ``step`` (``vector.check_observation``)."""
import gymnasium as gym
import numpy as np

BOX = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)

ODD_SPACES = {
    "test/MultiDiscrete-v0": gym.spaces.MultiDiscrete([2, 3]),
    "test/MultiBinary-v0": gym.spaces.MultiBinary(3),
    "test/Dict-v0": gym.spaces.Dict({"a": gym.spaces.Discrete(2)}),
    "test/Tuple-v0": gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Discrete(2))),
    "test/DiscreteFrom1-v0": gym.spaces.Discrete(3, start=1),
    "test/Box2x2-v0": gym.spaces.Box(-1.0, 1.0, (2, 2), np.float64),
}
"""Environment id -> its action space."""

ODD_OBSERVATIONS = {
    "test/DictObservation-v0": gym.spaces.Dict({"x": BOX}),
    "test/TupleObservation-v0": gym.spaces.Tuple((gym.spaces.Discrete(2), BOX)),
}
"""Environment id -> its observation space (its action space is a Box of shape (1,))."""

WRONG_SHAPES = {"test/WrongShapeFromReset-v0": ((2,), (3,)),
                "test/WrongShapeFromStep-v0": ((3,), (2,))}
"""Environment id -> the shapes of its observations from reset and from step; its observation
space is a Box of shape (3,)."""


class OddSpaceEnv(gym.Env):
    """A one-step environment with the given action and observation spaces, whose observations
    from ``reset`` and ``step`` are zeros of the given shapes (by default the space's)."""

    def __init__(self, action_space: gym.Space = BOX, observation_space: gym.Space = BOX,
                 shapes: tuple[tuple, tuple] | None = None):
        self.action_space, self.observation_space = action_space, observation_space
        self.shapes = shapes or (observation_space.shape,) * 2

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.shapes[0]), {}

    def step(self, action):
        return np.zeros(self.shapes[1]), 0.0, True, False, {}

    def get_state(self):
        return np.zeros(1)

    def set_state(self, state):
        pass


for _id, _kwargs in [*((i, {"action_space": s}) for i, s in ODD_SPACES.items()),
                     *((i, {"observation_space": s}) for i, s in ODD_OBSERVATIONS.items()),
                     *((i, {"observation_space": gym.spaces.Box(-1.0, 1.0, (3,), np.float64),
                            "shapes": s}) for i, s in WRONG_SHAPES.items())]:
    if _id not in gym.registry:
        gym.register(_id, entry_point=OddSpaceEnv, kwargs=_kwargs)
