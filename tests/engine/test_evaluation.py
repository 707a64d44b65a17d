"""Deterministic evaluation during training (``--eval-every``, ``evaluate.Evaluation``)."""
import csv
import dataclasses
import multiprocessing

import numpy as np
import pytest
from gymnasium import make

from refimpl.cli import main
from refimpl.engine.config import Config
from refimpl.engine.evaluate import Evaluation, EvaluationProcess, make_evaluation
from refimpl.core.seeding import RunSeeds
from refimpl.engine.trainer import Run, train
from refimpl.engine.logs import EVAL_COLUMNS, TIMING_COLUMNS

# The lecture's LQ task with a linear policy: its evaluation return has a closed form
LQ = dict(env="refimpl/LQ-Lecture-v0", hidden=(), norm_reward=False, horizon=100, minibatch=50,
          vf_minibatch=50, epochs=2, vf_epochs=2, steps=600, seed=3)


def _rows(path, drop=TIMING_COLUMNS):
    with path.open() as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def test_training_is_the_same_with_and_without_evaluation(tmp_path):
    """Evaluation draws from no training stream and updates no statistic: progress.csv (but for
    the timing columns) and the final parameters are identical bit for bit, and eval.csv has a
    row at each multiple of eval_every (200, 400, 600 with a batch of 100)."""
    on = train(Config.for_algo("ppo", **LQ, eval_every=200, eval_episodes=2), tmp_path / "on",
               progress=False)
    off = train(Config.for_algo("ppo", **LQ, eval_every=0), tmp_path / "off", progress=False)
    assert _rows(tmp_path / "on" / "progress.csv") == _rows(tmp_path / "off" / "progress.csv")
    np.testing.assert_array_equal(on.agent.phi, off.agent.phi)
    np.testing.assert_array_equal(on.agent.theta_v, off.agent.theta_v)
    assert not (tmp_path / "off" / "eval.csv").exists()
    rows = _rows(tmp_path / "on" / "eval.csv", drop=())
    assert list(rows[0]) == list(EVAL_COLUMNS)
    assert [int(r["env_steps"]) for r in rows] == [200, 400, 600]
    assert [int(r["update"]) for r in rows] == [2, 4, 6]


@pytest.mark.parametrize("norm_obs", [False, True])
def test_evaluation_return_is_the_closed_form_of_the_mean_action(tmp_path, norm_obs):
    """On s' = s + a, r = -(s^2 + a^2) (the lecture preset: q = r_cost = scale = 1) the mean
    action of the linear policy is a = k z + b with z the (frozen-)normalised state, so an
    episode's return from s_0 is sum_t -(s_t^2 + a_t^2), computed here with a plain loop from
    the reset states that gymnasium draws for the run's evaluation seeds. The normaliser must
    not move while evaluating."""
    cfg = Config.for_algo("ppo", **{**LQ, "norm_obs": norm_obs}, eval_every=100, eval_episodes=3)
    run = Run(cfg, tmp_path / "r")
    run.step()
    rms = run.collector.obs_rms
    before = None if rms is None else (rms.mean.copy(), rms.var.copy(), rms.count)
    row = run.evaluate()
    k, b = run.agent.phi[:2]
    env = make("refimpl/LQ-Lecture-v0")
    returns = []
    for seed in RunSeeds(cfg.seed).evaluation_seeds(3):
        s, total = float(env.reset(seed=seed)[0][0]), 0.0
        for _ in range(200):  # the preset's horizon H
            z = s if rms is None else np.clip((s - rms.mean[0]) / np.sqrt(rms.var[0] + 1e-8),
                                              -cfg.obs_clip, cfg.obs_clip)
            a = k * z + b
            total += -(s * s + a * a)
            s += a
        returns.append(total)
    # same operations in a different order: relative error a few ulps of the sum's terms
    np.testing.assert_allclose(row["mean"], np.mean(returns), rtol=1e-12)
    np.testing.assert_allclose([row["min"], row["max"]], [min(returns), max(returns)], rtol=1e-12)
    if rms is not None:
        assert (rms.mean.tolist(), rms.var.tolist(), rms.count) == \
            (before[0].tolist(), before[1].tolist(), before[2])
    run.close()


def test_evaluation_time_is_not_training_time(tmp_path, monkeypatch):
    """An evaluation that takes 1,000 s (on a clock that it moves on by that much, so that no
    load on the machine can make training take as long) shows in eval.csv's wall_time, not in
    progress.csv's wall_time or sps. In the training process, where the patched evaluation runs
    (an evaluation in its own process does not hold training up at all)."""
    import time

    from refimpl.engine import evaluate

    real, skipped = time.perf_counter, [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: real() + skipped[0])

    def slow(self, policy, phi, obs_rms):
        skipped[0] += 1000.0
        return np.zeros(len(self.seeds))
    monkeypatch.setattr(evaluate.Evaluation, "__call__", slow)
    run = train(Config.for_algo("vpg", **{**LQ, "steps": 300}, eval_every=100, eval_episodes=1,
                                eval_process=False), tmp_path / "r", progress=False)
    evals = _rows(tmp_path / "r" / "eval.csv", drop=())
    assert len(evals) == 3 and all(float(r["wall_time"]) >= 1000 for r in evals)
    assert run.wall_time < 1000
    progress = _rows(tmp_path / "r" / "progress.csv", drop=())
    assert all(float(r["sps"]) > 100 / 1000 for r in progress)


def test_an_evaluation_process_gives_the_rows_of_the_training_process(tmp_path):
    """``eval_process`` changes where the episodes run, not their numbers: eval.csv (but for
    wall_time) and progress.csv are the same bit for bit, on a MuJoCo task whose returns are
    sensitive to every bit of the actions (Hopper: 1,000-step episodes of a chaotic system)."""
    cfg = dict(env="Hopper-v5", horizon=256, epochs=1, vf_epochs=1, steps=768, seed=1,
               eval_every=256, eval_episodes=2)
    runs = {on: train(Config.for_algo("ppo", **cfg, eval_process=on), tmp_path / str(on),
                      progress=False) for on in (True, False)}
    for name in ("eval.csv", "progress.csv"):
        assert _rows(tmp_path / "True" / name) == _rows(tmp_path / "False" / name)
    assert len(_rows(tmp_path / "True" / "eval.csv")) == 3
    np.testing.assert_array_equal(runs[True].agent.phi, runs[False].agent.phi)


def test_evaluations_run_in_a_process_of_their_own_unless_it_cannot_have_children():
    seeds = RunSeeds(0).evaluation_seeds(1)
    cfg = Config.for_algo("ppo", **LQ)
    assert isinstance(make_evaluation(cfg, seeds), EvaluationProcess)
    inline = make_evaluation(dataclasses.replace(cfg, eval_process=False), seeds)
    assert isinstance(inline, Evaluation)
    inline.close()
    process = multiprocessing.current_process()
    daemon = process.daemon
    process.daemon = True  # as in a Dask worker, which may not start processes
    try:
        assert isinstance(make_evaluation(cfg, seeds), Evaluation)
    finally:
        process.daemon = daemon


@pytest.mark.parametrize("pending_update", [4, 6])
def test_an_evaluation_cut_off_by_a_crash_is_done_on_resume(tmp_path, pending_update):
    """A run that dies after its checkpoint passed an update whose evaluation, running in its
    own process, has not written its row (``checkpoints/evaluation.npz`` left behind) writes
    that row on resume: eval.csv and progress.csv end as an uninterrupted run's. Update 4: the
    checkpoint is at update 5 when the process dies. Update 6: the file is of an update after
    the checkpoint's (the process died between it and the checkpoint) and is stale, the update
    and its evaluation are redone."""
    cfg = Config.for_algo("ppo", **LQ, eval_every=200, eval_episodes=2)
    whole = tmp_path / "whole"
    train(cfg, whole, progress=False)
    run = Run(cfg, tmp_path / "cut")
    while run.update < max(5, pending_update):
        run.append_progress(run.step())
        if run.evaluation_due():  # updates 2, 4, 6
            run.start_evaluation()
            if run.update != pending_update:
                run.finish_evaluation(wait=True)
        if run.update <= 5:
            run.save()
    assert run.pending[0] == pending_update  # submitted, its row never written
    assert (run.ckpt_dir / "evaluation.npz").exists()
    run.close()  # the evaluation process is gone with its answer
    train(None, tmp_path / "cut", resume=True, progress=False)
    assert not (tmp_path / "cut" / "checkpoints" / "evaluation.npz").exists()
    for name in ("eval.csv", "progress.csv"):
        assert _rows(tmp_path / "cut" / name) == _rows(whole / name)


@pytest.mark.parametrize("damage", [b"not an npz", "wrong policy"])
def test_a_damaged_evaluation_file_is_one_line_on_resume(tmp_path, capsys, damage):
    """What was left in checkpoints/evaluation.npz and cannot be that run's evaluation stops
    the resume with one line naming the file and exit status 2."""
    out = tmp_path / "r"
    train(Config.for_algo("trpo", **LQ), out, progress=False)  # TRPO: no annealing, may extend
    path = out / "checkpoints" / "evaluation.npz"
    if damage == "wrong policy":
        np.savez(path, update=np.array(6), env_steps=np.array(600), phi=np.zeros(7))
    else:
        path.write_bytes(damage)
    assert main(["train", "--resume", str(out), "--steps", "800", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "remove it" in err
