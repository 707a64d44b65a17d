"""The engine is the lecture's loop: ``refimpl train`` (``engine.trainer``: the critic's fit
overlapping the next collection, in a process of its own or not; evaluations in a process of
their own or not; checkpoints and logs) computes what ``algos.loop.train`` computes in plain
order, in process, writing nothing: the same progress rows (timing columns aside) and the same
parameters and Adam states at every checkpoint, bit for bit, for every algorithm and both
policy heads."""
import csv

import numpy as np
import pytest

from refimpl.algos import ALGORITHMS, loop
from refimpl.engine import checkpoint
from refimpl.engine.config import Config
from refimpl.engine.logs import TIMING_COLUMNS
from refimpl.engine.trainer import train
from refimpl.envs.rollout import Collector

UPDATES = 3
HEADS = {"gaussian": "HalfCheetah-v5", "categorical": "CartPole-v1"}
ENGINES = {"processes": dict(critic_process=True, eval_process=True),
           "in process": dict(critic_process=False, eval_process=False)}


def _config(algo, env, **how):
    return Config.for_algo(algo, env=env, steps=UPDATES * 128, num_envs=2, horizon=64, epochs=2,
                           vf_epochs=2,
                           minibatch=32, vf_minibatch=32, cg_iters=3, eval_every=64,
                           eval_episodes=1, checkpoint_every=1, **how)


def _plain_loop(cfg):
    """Each update's row and (phi, theta_v, pi_opt state, v_opt state) from the plain loop."""
    collector = Collector(cfg.env, cfg.num_envs, cfg.seed, cfg.gamma, cfg.norm_obs, cfg.obs_clip,
                          cfg.norm_reward, cfg.clip_actions, reward_clip=cfg.reward_clip)
    agent = loop.make_agent(cfg.agent_spec(), collector, cfg.seed)
    rows, states = [], []
    try:
        for row in loop.train(ALGORITHMS[cfg.algo].update, cfg.algorithm_params(), agent,
                              collector, cfg.seed, UPDATES, cfg.horizon, cfg.gamma, cfg.lam,
                              **cfg.schedule()):
            rows.append(row)
            states.append({"phi": agent.phi.copy(), "theta_v": agent.theta_v.copy(),
                           **{f"pi_opt/{k}": v for k, v in agent.pi_opt.state().items()},
                           **{f"v_opt/{k}": v for k, v in agent.v_opt.state().items()}})
    finally:
        collector.close()
    return rows, states


SWITCHED = {
    "ppo": dict(grad_clip_scope="joint", vf_coef=0.7, anneal_clip=True, reward_clip=0.5,
                obs_clip=None, init="torch", critic_hidden=(16,), vf_clip=0.2),
    "trpo": dict(delta_final=0.03, init="xavier", critic_hidden=(), reward_clip=1.0),
}
"""The implementation-detail switches that are off by default, on: the engine must still be the
loop (PPO's joint loss fits the critic in its policy step, so the engine fits none after it)."""


def _compare(algo, env, tmp_path, **switches):
    rows, states = _plain_loop(_config(algo, env, **switches))
    for engine, how in ENGINES.items():
        out = tmp_path / engine.replace(" ", "-")
        train(_config(algo, env, **switches, **how), out, progress=False)
        with (out / "progress.csv").open() as f:
            logged = list(csv.DictReader(f))
        assert len(logged) == UPDATES
        for row, written in zip(rows, logged):
            for column, text in written.items():
                if column in TIMING_COLUMNS:
                    continue
                value = row.get(column, "")
                # csv writes repr(float), which reads back as the same double
                assert (text == "" and value == "") or float(text) == pytest.approx(
                    value, rel=0, abs=0, nan_ok=True), (engine, column, row["update"])
        for k, state in enumerate(states, start=1):
            saved = checkpoint.load(out / "checkpoints" / f"update_{k:06d}.npz")
            for key, value in state.items():
                np.testing.assert_array_equal(saved[key], value, err_msg=f"{engine} {key} {k}")
        assert (out / "eval.csv").exists()


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
@pytest.mark.parametrize("head", sorted(HEADS))
def test_the_engine_computes_what_the_plain_loop_computes(algo, head, tmp_path):
    _compare(algo, HEADS[head], tmp_path)


@pytest.mark.parametrize("algo", sorted(SWITCHED))
def test_the_engine_is_the_loop_with_the_switches_on(algo, tmp_path):
    _compare(algo, HEADS["gaussian"], tmp_path, **SWITCHED[algo])
