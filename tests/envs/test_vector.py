"""refimpl/envs/vector.py: the direct loop, gymnasium's SyncVectorEnv and its AsyncVectorEnv give
identical batches, episode ends and checkpoints, so the choice is one of speed only."""
import numpy as np
import pytest

from refimpl.engine.config import VECTORS, Config
from refimpl.core.policy import GaussianPolicy
from refimpl.envs.rollout import Collector
from refimpl.engine.trainer import Run

# Hopper-v5 ends episodes by termination (falling) after some tens of steps under a random
# policy, and by truncation at 1000 steps; 3 environments x 400 steps see both kinds of
# autoreset, at different times in different environments.
ENV, K, T = "Hopper-v5", 3, 400


def _batch(vector, seed=0):
    c = Collector(ENV, K, seed=seed, gamma=0.99, norm_obs=True, obs_clip=10.0,
                  norm_reward=True, clip_actions=True, vector=vector)
    policy = GaussianPolicy.build(c.obs_dim, c.act_dim, (8,))
    phi = policy.init(np.random.default_rng(seed), log_std=0.5)
    batch = c.collect(policy, phi, T, np.random.default_rng(seed + 1))
    state = c.state()
    c.close()
    return batch, state


@pytest.fixture(scope="module")
def sync():
    return _batch("sync")


@pytest.mark.parametrize("vector", [v for v in VECTORS if v != "sync"])
def test_batches_equal_the_sync_vector_envs(sync, vector):
    batch, state = _batch(vector)
    ref_batch, ref_state = sync
    assert ref_batch.terminated.sum() >= K  # every environment autoreset at least once
    for name in ("obs", "next_obs", "actions", "rewards", "terminated", "ends"):
        np.testing.assert_array_equal(getattr(batch, name), getattr(ref_batch, name), name)
    assert state.keys() == ref_state.keys()
    for key in state:
        np.testing.assert_array_equal(state[key], ref_state[key], key)


@pytest.mark.parametrize("first, then", [("async", "direct"), ("direct", "async")])
def test_a_run_resumed_with_another_vector_continues_bit_for_bit(tmp_path, first, then):
    """Two updates, a resume that changes --vector, two more: the same parameters as four
    updates without interruption."""
    cfg = dict(algo="trpo", env=ENV, num_envs=K, horizon=64, vf_minibatch=64, steps=4 * K * 64,
               hidden=(8,))
    whole = Run(Config.for_algo(**{**cfg, "vector": "sync"}), tmp_path / "whole")
    for _ in range(4):
        whole.step()
    whole.close()
    part = Run(Config.for_algo(**{**cfg, "vector": first}), tmp_path / "part")
    for _ in range(2):
        part.append_progress(part.step())  # a resumed run's log must agree with its checkpoint
    part.save()
    part.close()
    resumed = Run({"vector": then}, tmp_path / "part", resume=True)
    assert resumed.cfg.vector == then
    for _ in range(2):
        resumed.step()
    resumed.close()
    np.testing.assert_array_equal(resumed.agent.phi, whole.agent.phi)
    np.testing.assert_array_equal(resumed.agent.theta_v, whole.agent.theta_v)
