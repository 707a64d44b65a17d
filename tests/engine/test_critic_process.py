"""The critic's fit, after the policy's steps of every update, run while the next batch is
collected (``Run.step`` with ``overlap``), in a process of its own (``critic.CriticProcess``,
``--critic-process``): the same numbers as the lecture's order, collect -> advantages ->
policy -> critic, bit for bit, and a process that dies stops the run with one line, leaving a
checkpoint to resume from."""
import csv
import dataclasses
import multiprocessing

import numpy as np
import pytest
from support.batches import agent_and_batch
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.engine import checkpoint
from refimpl.algos import ALGORITHMS
from refimpl.algos.loop import annealed
from refimpl.cli import main
from refimpl.engine.config import Config
from refimpl.engine.critic_fit import CriticFit, CriticProcess, make_critic_fit
from refimpl.engine.trainer import Run, train
from refimpl.engine.logs import TIMING_COLUMNS

# Hopper: 1,000-step episodes of a chaotic system, so a difference in any bit of the critic
# (through the advantages into phi) or of the actions shows in the returns; with norm_obs, an
# evaluation given the normaliser of the wrong moment shows in eval.csv
HOPPER = dict(env="Hopper-v5", horizon=256, epochs=1, vf_epochs=2, steps=1280, seed=1,
              eval_every=512, eval_episodes=1, checkpoint_every=1)


@settings(max_examples=12, deadline=None)
@given(algo=st.sampled_from(sorted(ALGORITHMS)), seed=st.integers(0, 2**16),
       lr_scale=st.floats(0.1, 1.0))
def test_the_policy_update_neither_reads_nor_writes_the_critic(algo, seed, lr_scale):
    """What lets the critic fit apart from the policy's steps: each algorithm's
    ``policy_update`` (the steps after the advantages) gives the same phi, metrics and draws
    from the update stream, bit for bit, when theta_v and the critic's Adam state are replaced
    by others, and leaves both as it found them."""
    outcomes = []
    for critic_seed in (0, 1):
        cfg, agent, data = agent_and_batch(algo, seed=seed)
        other = np.random.default_rng(critic_seed)
        agent.theta_v[:] = other.standard_normal(agent.theta_v.size)
        agent.v_opt.step(agent.theta_v.copy(), other.standard_normal(agent.theta_v.size))
        theta_v, v_opt = agent.theta_v.copy(), agent.v_opt.state()
        rng = np.random.default_rng(seed)
        metrics = ALGORITHMS[algo].policy_update(agent, data,
                                                  annealed(cfg.algorithm_params(), lr_scale), rng)
        assert "value_loss" not in metrics
        np.testing.assert_array_equal(agent.theta_v, theta_v)
        for key, value in agent.v_opt.state().items():
            np.testing.assert_array_equal(value, v_opt[key])
        outcomes.append((agent.phi.copy(), metrics, rng.bit_generator.state))
    (phi0, metrics0, rng0), (phi1, metrics1, rng1) = outcomes
    np.testing.assert_array_equal(phi0, phi1)
    assert metrics0 == metrics1 and rng0 == rng1


def _rows(path):
    with path.open() as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


def _checkpoints(out):
    """Every checkpoint of a run but for the keys that may differ: the wall time and the
    configuration (which records critic_process)."""
    return {p.name: {k: v for k, v in checkpoint.load(p).items()
                     if k not in ("wall_time", "config")}
            for p in sorted((out / "checkpoints").glob("*.npz"))}


def _in_the_lecture_order(cfg, out):
    """The reference: each update's critic fit in this process, before the next collection."""
    run = Run(dataclasses.replace(cfg, critic_process=False), out)
    try:
        while run.update < run.num_updates:
            run.record(run.step())
        run.finish_evaluation(wait=True)
        run.save("final.npz")
    finally:
        run.close()


@pytest.mark.parametrize("algo", ["ppo", "trpo", "npg", "vpg"])
def test_fitting_the_critic_during_the_next_collection_changes_no_bit(tmp_path, algo):
    """progress.csv and eval.csv (but for their timing columns) and every checkpoint written
    (update_000001.npz ... final.npz) are those of the lecture's order, whether the overlapped
    fit runs in a process of its own or in this one. PPO anneals its learning rates, so the
    fit's step size must follow the update too."""
    cfg = Config.for_algo(algo, **HOPPER)
    _in_the_lecture_order(cfg, tmp_path / "lecture")
    for on in (True, False):
        train(dataclasses.replace(cfg, critic_process=on), tmp_path / str(on), progress=False)
    reference = _checkpoints(tmp_path / "lecture")
    assert len(reference) == 7  # update_000001 ... update_000005, latest, final
    for on in ("True", "False"):
        for name in ("progress.csv", "eval.csv"):
            assert _rows(tmp_path / on / name) == _rows(tmp_path / "lecture" / name), (on, name)
        ours = _checkpoints(tmp_path / on)
        assert ours.keys() == reference.keys()
        for name, arrays in reference.items():
            assert ours[name].keys() == arrays.keys()
            for key, value in arrays.items():
                np.testing.assert_array_equal(ours[name][key], value, err_msg=f"{on} {name} {key}")
    assert len(_rows(tmp_path / "True" / "eval.csv")) == 2


def test_a_critic_process_that_dies_stops_the_run_and_resume_finishes_it(tmp_path, monkeypatch,
                                                                           capsys):
    """The process killed (as the kernel's OOM killer would) before the third update's fit:
    ``refimpl train`` prints one line naming the fit and the update, exits with status 1 and
    keeps update 2's checkpoint; ``--resume`` then ends where an uninterrupted run ends."""
    args = ["--algo", "trpo", "--env", "Hopper-v5", "--steps", "1280", "--horizon", "256",
            "--vf-epochs", "2", "--eval-every", "0", "--no-progress"]
    submit, calls = CriticProcess.submit, []

    def killed_before_the_third(self, *request):
        calls.append(1)
        if len(calls) == 3:
            self.process.kill()
            self.process.join()
        return submit(self, *request)
    monkeypatch.setattr(CriticProcess, "submit", killed_before_the_third)
    out = tmp_path / "cut"
    assert main(["train", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [err]
    assert ("critic fit failed: the critic fit process ended (exit status -9), in update 3 "
            "(trpo)") in err and "(update 2)" in err
    assert int(checkpoint.load(out / "checkpoints" / "latest.npz")["update"]) == 2
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert main(["train", "--out", str(tmp_path / "whole"), *args]) == 0
    assert _rows(out / "progress.csv") == _rows(tmp_path / "whole" / "progress.csv")
    whole, resumed = _checkpoints(tmp_path / "whole"), _checkpoints(out)
    for key, value in whole["final.npz"].items():
        np.testing.assert_array_equal(resumed["final.npz"][key], value, err_msg=key)


def test_a_failing_fit_is_one_line_naming_it(tmp_path, capsys):
    """An exception inside the fit in the process (here: called without a critic or batch) comes
    back as a WorkerError naming the fit and the exception."""
    from refimpl.engine.errors import WorkerError

    process = CriticProcess()
    try:
        future = process.submit(None, None, None, None, None, None)
        with pytest.raises(WorkerError, match=r"^critic fit failed: AttributeError: "):
            future.result()
    finally:
        process.close()


def test_the_fit_runs_in_a_process_of_its_own_unless_it_cannot_have_children():
    cfg = Config.for_algo("ppo")
    assert isinstance(make_critic_fit(cfg.critic_process), CriticProcess)
    assert type(make_critic_fit(False)) is CriticFit
    process = multiprocessing.current_process()
    daemon = process.daemon
    process.daemon = True  # as in a Dask worker, which may not start processes
    try:
        assert type(make_critic_fit(cfg.critic_process)) is CriticFit
    finally:
        process.daemon = daemon


def test_the_critic_process_starts_up_while_the_first_batch_is_collected(tmp_path):
    """The process starts before the first collection, not at the first fit's request: it
    imports the main module again as it starts (``spawn``), seconds for a heavy one, which the
    first fit would otherwise wait for instead of the collection hiding it."""
    run = Run(Config.for_algo("trpo", horizon=64, steps=128, eval_every=0), tmp_path / "run")
    seen = []
    collect = run.collector.collect

    def collecting(*args):
        process = run.critic_fit.process
        seen.append(process is not None and process.is_alive())
        return collect(*args)
    run.collector.collect = collecting
    try:
        assert run.critic_fit.process is None  # a Run that never steps starts no process
        run.step(overlap=True)
        run.finish()
    finally:
        run.close()
    assert seen == [True]


def test_the_trainer_imports_neither_matplotlib_nor_scipy_stats():
    """Each helper process imports the main module again as it starts, and a script that
    trains (a benchmark, a user's) imports the trainer: matplotlib and SciPy's statistics,
    three quarters of a second on their own, are imported by the functions that draw
    (``engine.logs``), when they are called."""
    import subprocess
    import sys

    code = ("import sys, refimpl.engine.trainer; "
            "print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
