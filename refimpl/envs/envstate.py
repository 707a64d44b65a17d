"""Save and restore the exact state of gymnasium environments, so a resumed run reproduces the
uninterrupted one bit for bit.

An environment's state is: the simulator (MuJoCo's full integration state, which includes the
solver's warm start; ``get_state``/``set_state`` of an environment that provides them; or the
``state`` vector of gymnasium's classic-control environments, CartPole and Acrobot among them), the
environment's own random generator (used by ``reset``), and the time-limit step counter.
States are dicts of plain arrays so they go into ``.npz`` checkpoints without pickling.
"""
from __future__ import annotations

import json

import gymnasium as gym
import numpy as np


def _time_limit(env: gym.Env):
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def _simulator(env: gym.Env):
    """(get, set) functions for the simulator state of ``env.unwrapped``."""
    base = env.unwrapped
    if hasattr(base, "get_state") and hasattr(base, "set_state"):
        return base.get_state, base.set_state
    if hasattr(base, "model") and hasattr(base, "data"):
        import mujoco
        spec = mujoco.mjtState.mjSTATE_INTEGRATION

        def get():
            out = np.empty(mujoco.mj_stateSize(base.model, spec))
            mujoco.mj_getState(base.model, base.data, out, spec)
            return out

        def put(state):
            mujoco.mj_setState(base.model, base.data, np.asarray(state, dtype=np.float64), spec)
        return get, put
    if isinstance(getattr(base, "state", None), np.ndarray):
        return _state_vector(base)
    raise ValueError(f"cannot save the state of environment {env.spec.id if env.spec else env}: "
                     "it is neither a MuJoCo environment nor a classic-control one with a state "
                     "vector, nor provides get_state/set_state")


def _state_vector(base):
    """(get, set) for a classic-control environment's ``state`` vector, saved as float64 (a
    float32 state, as Acrobot's after ``reset``, converts exactly; its next step computes in
    float64 either way). CartPole's ``steps_beyond_terminated`` is not saved: under same-step
    autoreset it is None whenever training stops between updates."""
    def put(saved):
        base.state = np.array(saved, dtype=np.float64)
    return (lambda: base.state), put


def get_state(env: gym.Env) -> dict[str, np.ndarray]:
    """Everything needed to continue ``env`` exactly: simulator, RNG, elapsed steps."""
    limit = _time_limit(env)
    return {
        "sim": np.asarray(_simulator(env)[0](), dtype=np.float64),
        "rng": np.array(json.dumps(env.unwrapped.np_random.bit_generator.state)),
        "elapsed": np.array(limit._elapsed_steps if limit is not None else -1),
    }


def set_state(env: gym.Env, state: dict[str, np.ndarray]) -> None:
    """Inverse of ``get_state``: afterwards ``env`` continues as the saved one would have."""
    _simulator(env)[1](state["sim"])
    env.unwrapped.np_random.bit_generator.state = json.loads(str(state["rng"]))
    limit = _time_limit(env)
    if limit is not None:
        limit._elapsed_steps = int(state["elapsed"])
