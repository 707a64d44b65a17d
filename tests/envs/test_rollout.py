"""refimpl/envs/rollout.py: collection on gymnasium vector envs, and truncation vs termination."""
import warnings

import gymnasium as gym
import numpy as np
import pytest

from refimpl.core.nn import MLP
from refimpl.core.policy import GaussianPolicy
from refimpl.envs.rollout import EPISODE_WINDOW, Collector, estimate_advantages
from refimpl.envs.vector import VECTORS
from support.odd_spaces import ODD_OBSERVATIONS, ODD_SPACES

EPISODE = 3


class CounterEnv(gym.Env):
    """Observation = steps taken in the episode; reward 1 per step. Ends after EPISODE steps,
    by termination (``terminal=True``) or, registered with a TimeLimit, by truncation."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)

    def __init__(self, terminal: bool):
        self.terminal, self.t = terminal, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0]), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)]), 1.0, self.terminal and self.t == EPISODE, False, {}


gym.register("test/Terminating-v0", entry_point=CounterEnv, kwargs={"terminal": True})
gym.register("test/Truncating-v0", entry_point=CounterEnv, kwargs={"terminal": False},
             max_episode_steps=EPISODE)


def _collect(env_id, num_envs=2, horizon=7):
    c = Collector(env_id, num_envs, seed=0, gamma=0.9, norm_obs=False, obs_clip=10.0,
                  norm_reward=False, clip_actions=True)
    policy = GaussianPolicy.build(1, 1, ())
    batch = c.collect(policy, policy.init(np.random.default_rng(0)), horizon,
                      np.random.default_rng(1))
    c.close()
    return batch


@pytest.mark.parametrize("env_id, terminated", [("test/Terminating-v0", True),
                                                ("test/Truncating-v0", False)])
def test_episode_ends_carry_true_final_observation_and_flags(env_id, terminated):
    b = _collect(env_id)
    t_end = np.arange(7) % EPISODE == EPISODE - 1  # steps 2, 5 end an episode
    np.testing.assert_array_equal(b.ends, np.repeat(t_end[:, None], 2, axis=1))
    np.testing.assert_array_equal(b.terminated, b.ends if terminated else np.zeros_like(b.ends))
    # s_{t+1} is the episode's last observation (EPISODE), not the reset observation (0) ...
    np.testing.assert_array_equal(b.next_obs[t_end, :, 0], EPISODE)
    # ... while the next row starts the new episode
    np.testing.assert_array_equal(b.obs[np.flatnonzero(t_end)[:-1] + 1, :, 0], 0.0)
    np.testing.assert_array_equal(b.obs[:, :, 0], np.tile(np.arange(7)[:, None] % EPISODE, 2))


@pytest.mark.parametrize("env_id, bootstrap", [("test/Terminating-v0", False),
                                               ("test/Truncating-v0", True)])
def test_truncation_bootstraps_from_final_value_and_termination_does_not(env_id, bootstrap):
    """With V = c everywhere, the TD error of an episode's last step is r + gamma c - c when the
    time limit truncated it and r - c when it terminated; GAE with lambda = 0 returns exactly
    these TD errors."""
    b = _collect(env_id)
    c, gamma = 2.5, 0.9
    critic = MLP((1, 1))
    theta_v = np.array([0.0, c])  # weight 0, bias c: V(s) = c
    adv, ret, values = estimate_advantages(critic, theta_v, b, gamma, lam=0.0)
    last = b.ends
    expected_last = 1.0 + (gamma * c if bootstrap else 0.0) - c
    np.testing.assert_allclose(adv[last], expected_last, rtol=0, atol=1e-15)  # one rounding
    np.testing.assert_allclose(adv[~last], 1.0 + gamma * c - c, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ret, adv + values)


def test_same_seed_collects_identical_batches():
    a, b = _collect("test/Truncating-v0"), _collect("test/Truncating-v0")
    for name in ("obs", "next_obs", "actions", "rewards"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("env_id", ODD_SPACES)
def test_unsupported_action_space_is_rejected_in_one_line_naming_it(env_id):
    """MultiDiscrete, MultiBinary, Dict, Tuple and a Discrete space not counting from 0: a
    one-line ValueError that names the environment, the space and its type."""
    from refimpl.envs.rollout import action_head

    space = ODD_SPACES[env_id]
    with pytest.raises(ValueError) as err:
        Collector(env_id, 1, 0, 0.99, True, 10.0, True, True)
    message = str(err.value)
    assert "\n" not in message and env_id in message and str(space) in message
    assert type(space).__name__ in message
    with pytest.raises(ValueError, match="refimpl handles Box"):
        action_head(space, env_id)


@pytest.mark.parametrize("vector", VECTORS)
@pytest.mark.parametrize("env_id", ODD_OBSERVATIONS)
def test_observations_that_are_not_arrays_are_rejected_in_one_line_naming_them(env_id, vector):
    """Dict and Tuple observation spaces, which have no shape to flatten, whichever way the
    environments are stepped: a one-line ValueError naming the environment, the space and its
    type (it was a TypeError of int(None))."""
    space = ODD_OBSERVATIONS[env_id]
    with pytest.raises(ValueError) as err:
        Collector(env_id, 2, 0, 0.99, True, 10.0, True, True, vector)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{env_id} has the observation space")
    assert f"{space} ({type(space).__name__})" in message


@pytest.mark.parametrize("vector", VECTORS)
def test_observation_of_another_shape_than_its_space_is_one_line_naming_both(vector):
    """An environment whose reset returns (2,) for a space of shape (3,): one line naming
    both shapes, whichever way it is stepped (it was NumPy's reshape or broadcast error, and
    gymnasium's worker traceback with async)."""
    env_id = "test/WrongShapeFromReset-v0"
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with pytest.raises(ValueError) as err:
            Collector(env_id, 2, 0, 0.99, True, 10.0, True, True, vector)
    assert not shown, [str(w.message) for w in shown]  # gymnasium's worker traceback: dropped
    assert str(err.value) == (f"{env_id} returned an observation of shape (2,) from reset, but "
                              "its observation space Box(-1.0, 1.0, (3,), float64) has shape "
                              "(3,)")


@pytest.mark.filterwarnings("ignore:.*not within the observation space")  # gymnasium's checker
def test_observation_of_another_shape_from_step_is_one_line_naming_both():
    env_id = "test/WrongShapeFromStep-v0"
    c = Collector(env_id, 2, 0, 0.99, False, 10.0, False, True)
    policy = GaussianPolicy.build(c.obs_dim, c.act_dim, ())
    try:
        with pytest.raises(ValueError, match=r"returned an observation of shape \(2,\) from "
                                             r"step, but its observation space"):
            c.collect(policy, policy.init(np.random.default_rng(0)), 2, np.random.default_rng(1))
    finally:
        c.close()


@pytest.mark.parametrize("env_id, kind, act_dim", [("CartPole-v1", "categorical", 2),
                                                   ("Acrobot-v1", "categorical", 3),
                                                   ("test/Terminating-v0", "gaussian", 1)])
def test_the_action_space_picks_the_policy_head(env_id, kind, act_dim):
    """Discrete(K) -> a categorical head over K actions, Box -> the Gaussian; a categorical
    policy's actions are stored as int64 of shape (T, E), unclipped."""
    from refimpl.core.policy import make_policy

    c = Collector(env_id, 2, 0, 0.99, False, 10.0, False, True)
    try:
        assert (c.kind, c.act_dim) == (kind, act_dim)
        policy = make_policy(kind, c.obs_dim, c.act_dim, ())
        batch = c.collect(policy, policy.init(np.random.default_rng(0)), 5,
                          np.random.default_rng(1))
    finally:
        c.close()
    if kind == "categorical":
        assert c.low is None and batch.actions.dtype == np.int64 and batch.actions.shape == (5, 2)
        assert set(np.unique(batch.actions)) <= set(range(act_dim))
    else:
        assert batch.actions.dtype == np.float64 and batch.actions.shape == (5, 2, 1)
    assert batch.actions.shape == (5, 2, *policy.action_shape)


def test_unknown_environment_is_a_value_error():
    with pytest.raises(ValueError, match="cannot make environment"):
        Collector("NoSuchEnv-v9", 1, 0, 0.99, True, 10.0, True, True)


def test_episode_stats_average_the_last_20_finished_episodes():
    """25 one-step episodes with returns 1, ..., 25: the logged mean is that of the last 20,
    (6 + 25) / 2 = 15.5, and their length 1."""
    assert EPISODE_WINDOW == 20
    c = Collector("test/Terminating-v0", 1, seed=0, gamma=0.9, norm_obs=False, obs_clip=10.0,
                  norm_reward=False, clip_actions=True)
    assert np.isnan(c.episode_stats()[0])
    for r in range(1, 26):
        c._record_episodes(np.array([float(r)]), np.array([True]))
    c.close()
    assert c.episode_stats() == (15.5, 1.0)


def test_check_finite_names_where_and_the_first_bad_array():
    from refimpl.core.errors import NumericalError
    from refimpl.envs.rollout import NonFiniteError, check_finite

    check_finite("here", a=np.zeros(3), b=np.ones((2, 2)))  # all finite: no error
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(NonFiniteError, match="^non-finite b after update 3$"):
            check_finite("after update 3", a=np.zeros(3), b=np.array([1.0, bad]), c=np.nan)
    assert issubclass(NonFiniteError, NumericalError)  # the CLI reports it with exit 1


def test_make_envs_steps_k_copies_with_same_step_autoreset():
    """make_envs: K independent copies; at an episode end the step returns the next episode's
    first observation and the true last one in info["final_obs"] (same-step autoreset)."""
    from refimpl.envs.rollout import make_envs

    envs = make_envs("test/Terminating-v0", 3)
    try:
        assert envs.num_envs == 3
        envs.reset(seed=[0, 1, 2])
        for t in range(1, EPISODE + 1):
            obs, _, term, _, info = envs.step(np.zeros((3, 1)))
            assert term.all() == (t == EPISODE)
        np.testing.assert_array_equal(obs, np.zeros((3, 1)))       # the next episode's start
        np.testing.assert_array_equal(np.stack(info["final_obs"]), np.full((3, 1), EPISODE))
    finally:
        envs.close()
    with pytest.raises(ValueError, match="MultiDiscrete"):
        make_envs("test/MultiDiscrete-v0", 1)


def test_clips_actions_only_for_a_gaussian_policy_that_asks_for_it():
    """The one rule collection and evaluation share: a categorical policy's actions are the
    Discrete space's integers and never clipped; a Gaussian's are clipped iff clip_actions."""
    from refimpl.envs.rollout import clips_actions
    assert clips_actions(True, "gaussian") and not clips_actions(False, "gaussian")
    assert not clips_actions(True, "categorical") and not clips_actions(False, "categorical")


def _halfcheetah_batch(reward_clip):
    """A batch of 64 steps in 2 HalfCheetah-v5 environments with reward scaling, and the
    collector's running episode returns."""
    c = Collector("HalfCheetah-v5", 2, seed=0, gamma=0.99, norm_reward=True,
                  reward_clip=reward_clip)
    policy = GaussianPolicy.build(c.obs_dim, c.act_dim, (8,))
    try:
        batch = c.collect(policy, policy.init(np.random.default_rng(0)), 64,
                          np.random.default_rng(1))
        return batch, c.ep_return.copy()
    finally:
        c.close()


def test_reward_clip_bounds_the_scaled_rewards_and_changes_nothing_else():
    """reward_clip c clips the rewards learning sees after reward scaling: they equal
    np.clip(scaled, -c, c), never exceed c in size, and everything else the batch holds (and the
    episode returns, which count the environment's own rewards) is what it is without
    clipping. c is the median |scaled reward|, so that half of them are clipped."""
    plain, returns = _halfcheetah_batch(None)
    c = float(np.median(np.abs(plain.rewards)))
    clipped, clipped_returns = _halfcheetah_batch(c)
    np.testing.assert_array_equal(clipped.rewards, np.clip(plain.rewards, -c, c))
    assert np.abs(clipped.rewards).max() <= c
    assert (np.abs(plain.rewards) > c).sum() >= plain.rewards.size // 3  # the clip is active
    for name in ("obs", "next_obs", "actions", "terminated", "ends"):
        np.testing.assert_array_equal(getattr(clipped, name), getattr(plain, name))
    np.testing.assert_array_equal(clipped_returns, returns)
