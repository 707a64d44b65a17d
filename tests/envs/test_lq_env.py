"""refimpl/envs/lq.py as a gymnasium environment: its default, spaces, initial state, state for
checkpoints, and the actions it accepts. Its dynamics and rewards against the preset are
tests/exact/test_lq.py::test_env_reward_and_dynamics_follow_preset."""
import numpy as np
from gymnasium.utils.seeding import np_random
from hypothesis import given
from hypothesis import strategies as st

from refimpl.envs.lq import LinearQuadraticEnv
from refimpl.exact.lq import PRESETS
from support.strategies import seeds

presets = st.sampled_from(sorted(PRESETS))


def test_the_default_is_the_lectures_preset_with_one_dimensional_float64_spaces():
    env = LinearQuadraticEnv()
    assert env.preset == PRESETS["lecture"]
    for space in (env.observation_space, env.action_space):
        assert space.shape == (1,) and space.dtype == np.float64


@given(presets, seeds)
def test_reset_draws_s0_from_the_presets_normal_with_gymnasiums_seeded_generator(name, seed):
    """s_0 = s0_mean + s0_std xi, xi the first standard normal of the generator gymnasium makes
    from the seed."""
    p = PRESETS[name]
    obs, _ = LinearQuadraticEnv(name).reset(seed=seed)
    xi = np_random(seed)[0].standard_normal()
    assert obs.dtype == np.float64 and obs.shape == (1,)
    assert obs[0] == float(p.s0_mean + p.s0_std * xi)


@given(presets, seeds, st.lists(st.floats(-1.0, 1.0), min_size=1, max_size=5))
def test_the_state_taken_and_restored_continues_the_episode_exactly(name, seed, actions):
    env, twin = LinearQuadraticEnv(name), LinearQuadraticEnv(name)
    env.reset(seed=seed)
    twin.reset(seed=seed + 1)
    env.step(np.array([actions[0]]))
    np.testing.assert_array_equal(env.get_state(), [env.s])
    twin.set_state(env.get_state())
    for a in actions:
        assert twin.step(np.array([a]))[:2] == env.step(np.array([a]))[:2]


@given(st.floats(-1.0, 1.0))
def test_an_action_is_any_array_of_one_number(a):
    """A scalar, (1,) and (1, 1) are the same action; the next state is s + a."""
    steps = []
    for action in (a, np.array([a]), np.array([[a]])):
        env = LinearQuadraticEnv()
        env.reset(seed=0)
        s = env.s
        obs, reward, *_ = env.step(action)
        assert obs[0] == s + a
        steps.append((obs[0], reward))
    assert steps[0] == steps[1] == steps[2]


def test_an_action_of_more_than_one_number_is_refused_naming_the_shape():
    import pytest

    env = LinearQuadraticEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^action must have shape \(1,\), got \(2,\)$"):
        env.step(np.array([0.1, 0.2]))
