"""Gymnasium environments of the lecture's examples; importing this package registers them.

    refimpl/LQ-Peters-v0   linear-quadratic example of Peters & Schaal 2008 (preset "peters")
    refimpl/LQ-Lecture-v0  the lecture's r = -s^2 - a^2 (preset "lecture")

Both are registered with max_episode_steps = the preset's horizon, so ``gymnasium.make`` wraps them
in a TimeLimit that reports truncation (never termination) after H steps.
"""
import gymnasium

from refimpl.exact.lq import PRESETS

ENV_IDS = {"refimpl/LQ-Peters-v0": "peters", "refimpl/LQ-Lecture-v0": "lecture"}
"""Registered environment id -> preset name."""

for _env_id, _name in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point="refimpl.envs.lq:LinearQuadraticEnv",
                           kwargs={"preset": _name}, max_episode_steps=PRESETS[_name].horizon)
