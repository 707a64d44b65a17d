"""The lecture's 1-D linear-quadratic MDP as a gymnasium environment (slide "Ill-conditioned gradients").

    s_{t+1} = s_t + a_t,    r_t = -scale (q s_t^2 + r_cost a_t^2),    s_0 ~ N(s0_mean, s0_std^2).

The presets, the Riccati gain and the closed forms of J, its gradient and the Fisher matrix live in
``refimpl/exact/lq.py`` (pure numpy, no gymnasium); this module only adds the I/O edge.

Design choices:
  * The episode length H comes from gymnasium's TimeLimit (registered with max_episode_steps = H),
    which reports ``truncated=True`` after H steps; the environment itself never terminates and
    counts no steps. Constructed directly (without ``gymnasium.make``) it runs forever.
  * Observation and action are unbounded Box(-inf, inf, (1,), float64); the action is applied as
    is (no clipping), as the closed forms assume. There is no divergence guard: an unstable gain
    (|1 + k| > 1) makes |s| grow like |1 + k|^t, which stays finite in float64 for the H = 200 of the
    presets unless |1 + k| > ~30; the rewards then overflow to -inf rather than being cut off, so
    the environment remains exactly the MDP of the closed forms.
"""
from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from refimpl.exact.lq import LQPreset, get_preset


class LinearQuadraticEnv(gymnasium.Env):
    """s' = s + a, r = -scale (q s^2 + r_cost a^2); observation = s, shape (1,); action a, shape (1,).

    ``preset``: an LQPreset or a key of PRESETS ("peters", "lecture"). Its horizon is used only at
    registration (TimeLimit); its gamma only by the closed forms (environments do not discount).
    Tested in ``tests/exact/test_lq.py::test_env_reward_and_dynamics_follow_preset``.
    """

    metadata = {"render_modes": []}

    def __init__(self, preset: LQPreset | str = "lecture"):
        self.preset = get_preset(preset)
        self.observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.action_space = spaces.Box(-np.inf, np.inf, (1,), np.float64)
        self.s = 0.0

    def _obs(self) -> np.ndarray:
        return np.array([self.s], dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        p = self.preset
        self.s = float(p.s0_mean + p.s0_std * self.np_random.standard_normal())
        return self._obs(), {}

    def get_state(self) -> np.ndarray:
        """The simulator state (s,), for exact checkpoint/resume (``refimpl.envs.envstate``)."""
        return np.array([self.s])

    def set_state(self, state: np.ndarray) -> None:
        self.s = float(state[0])

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (1,):
            raise ValueError(f"action must have shape (1,), got {np.shape(action)}")
        p, s, a = self.preset, self.s, float(a[0])
        with np.errstate(over="ignore"):
            reward = -p.scale * (p.q * s * s + p.r_cost * a * a)
        self.s = s + a
        return self._obs(), float(reward), False, False, {}
