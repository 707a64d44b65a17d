"""refimpl/engine/trainer.py, checkpoint.py, evaluate.py: smoke tests on HalfCheetah-v5, bitwise
determinism, exact resume, and checkpoint round trips."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from refimpl.engine import checkpoint
from refimpl.engine.config import ALGOS, Config
from refimpl.engine.evaluate import SavedPolicy, evaluate
from refimpl.engine.trainer import Run, train
from refimpl.engine.logs import TIMING_COLUMNS

SMALL = dict(horizon=128, epochs=2, minibatch=64, vf_epochs=2, cg_iters=5)


def _rows(out):
    with (out / "progress.csv").open() as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


@pytest.mark.parametrize("algo", ALGOS)
def test_halfcheetah_smoke_two_updates_checkpoint_and_eval(algo, tmp_path):
    cfg = Config.for_algo(algo, steps=256, **SMALL)
    run = train(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    assert [int(r["update"]) for r in rows] == [1, 2]
    for r in rows:
        assert np.isfinite(float(r["policy_loss"])) and np.isfinite(float(r["value_loss"]))
    for name in ("latest.npz", "final.npz"):
        assert (tmp_path / "run" / "checkpoints" / name).is_file()
    assert (tmp_path / "run" / "learning_curve.png").stat().st_size > 0
    # the reloaded policy acts exactly as the trained one on the same observations
    saved = SavedPolicy.load(tmp_path / "run" / "checkpoints" / "final.npz")
    obs = np.random.default_rng(0).standard_normal((5, 17))
    expected = run.agent.policy.forward(run.agent.phi, run.collector.normalize(obs))[0]
    np.testing.assert_array_equal(saved.act(obs, None), expected)
    ckpt = tmp_path / "run" / "checkpoints" / "final.npz"
    np.testing.assert_array_equal(evaluate(ckpt, episodes=1), evaluate(ckpt, episodes=1))


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_same_seed_gives_bitwise_identical_progress(algo, tmp_path):
    cfg = Config.for_algo(algo, steps=256, **SMALL)
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False)
    assert _rows(tmp_path / "a") == _rows(tmp_path / "b")
    other = Config.for_algo(algo, steps=256, seed=1, **SMALL)
    train(other, tmp_path / "c", progress=False)
    assert _rows(tmp_path / "a") != _rows(tmp_path / "c")


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_resumed_run_reproduces_uninterrupted_run(algo, tmp_path):
    """Stop after 2 of 4 updates (mid-episode: 256 of 1000 steps), resume from the checkpoint;
    every logged number and the final parameters equal the uninterrupted run's, bit for bit."""
    cfg = Config.for_algo(algo, steps=4 * 128, **SMALL)
    full = train(cfg, tmp_path / "full", progress=False)
    part = Run(cfg, tmp_path / "part")
    for _ in range(2):
        part.append_progress(part.step())
        part.save()
    part.append_progress(part.step())  # a row past the checkpoint, as after a crash: redone
    part.close()
    resumed = train(None, tmp_path / "part", resume=True, progress=False)
    assert _rows(tmp_path / "part") == _rows(tmp_path / "full")
    np.testing.assert_array_equal(resumed.agent.phi, full.agent.phi)
    np.testing.assert_array_equal(resumed.agent.theta_v, full.agent.theta_v)


def test_checkpoint_is_plain_arrays_and_round_trips(tmp_path):
    arrays = {"config": np.array('{"a": 1}'), "env_id": np.array("X"), "obs_dim": np.array(3),
              "act_dim": np.array(1), "update": np.array(2), "env_steps": np.array(9),
              "phi": np.arange(4.0), "theta_v": np.ones(2)}
    checkpoint.save(tmp_path / "c.npz", arrays)
    loaded = checkpoint.read_npz(tmp_path / "c.npz")  # allow_pickle=False
    for k, v in arrays.items():
        np.testing.assert_array_equal(loaded[k], v)
    assert int(loaded["format_version"]) == checkpoint.FORMAT_VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left


def test_failed_write_leaves_previous_checkpoint_and_no_temporary(tmp_path):
    path = tmp_path / "c.npz"
    path.write_bytes(b"old")

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        checkpoint.atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_presets_apply_between_algorithm_defaults_and_overrides():
    cfg = Config.for_algo("trpo", "tianshou", seed=3, vf_epochs=5)
    assert (cfg.preset, cfg.num_envs, cfg.horizon, cfg.log_std_init) == ("tianshou", 16, 64, -0.5)
    assert (cfg.seed, cfg.vf_epochs, cfg.delta) == (3, 5, 0.01)  # override wins; default kept
    assert Config.for_algo("ppo").preset == "default"
    with pytest.raises(ValueError, match="unknown preset"):
        Config.for_algo("ppo", "fast")


@pytest.mark.parametrize("algo", ALGOS)
def test_former_preset_name_paper_still_reads_as_default(algo):
    """config.json files of runs made before the rename say "preset": "paper"."""
    old = {**Config.for_algo(algo).to_dict(), "preset": "paper"}
    assert Config.from_dict(old) == Config.for_algo(algo) == Config.for_algo(algo, "paper")


def test_run_stored_with_preset_paper_resumes_and_evaluates(tmp_path):
    """A finished run whose config.json and checkpoint say "paper" (as earlier runs do) is
    continued to a longer length and its checkpoint evaluated."""
    out = tmp_path / "run"
    train(Config.for_algo("trpo", steps=128, **SMALL), out, progress=False)
    for name in ("latest.npz", "final.npz"):
        d = checkpoint.load(out / "checkpoints" / name)
        cfg = {**json.loads(str(d["config"])), "preset": "paper"}
        checkpoint.save(out / "checkpoints" / name, {**d, "config": np.array(json.dumps(cfg))})
    (out / "config.json").write_text(json.dumps(cfg))
    run = train({"steps": 256}, out, resume=True, progress=False)
    assert (run.update, run.cfg.preset) == (2, "default")
    assert evaluate(out / "checkpoints" / "final.npz", episodes=1).shape == (1,)


def test_extended_run_equals_a_run_trained_to_the_longer_length(tmp_path):
    """--steps on resume (anneal_lr off: TRPO's default) lengthens a finished run; its rows
    and parameters equal those of a run given the longer length from the start, bit for bit,
    and config.json records the new length."""
    full = train(Config.for_algo("trpo", steps=3 * 128, **SMALL), tmp_path / "full",
                 progress=False)
    train(Config.for_algo("trpo", steps=128, **SMALL), tmp_path / "ext", progress=False)
    ext = train({"steps": 3 * 128}, tmp_path / "ext", resume=True, progress=False)
    assert _rows(tmp_path / "ext") == _rows(tmp_path / "full")
    np.testing.assert_array_equal(ext.agent.phi, full.agent.phi)
    np.testing.assert_array_equal(ext.agent.theta_v, full.agent.theta_v)
    assert json.loads((tmp_path / "ext" / "config.json").read_text())["steps"] == 3 * 128


@pytest.mark.parametrize("algo", ALGOS)
def test_lr_scale_zero_freezes_the_critic(algo, tmp_path):
    """Config.anneal_lr decays both Adam step sizes: at lr_scale = 0 (the end of the schedule)
    Adam's step is exactly zero, so the critic is bit-for-bit unchanged; at 1 it moves."""
    from refimpl.algos import ALGORITHMS
    from refimpl.algos.loop import annealed

    for scale, moves in ((0.0, False), (1.0, True)):
        run = Run(Config.for_algo(algo, steps=256, **SMALL), tmp_path / f"{algo}-{scale}")
        theta_v = run.agent.theta_v.copy()
        hp = annealed(run.cfg.algorithm_params(), scale)
        ALGORITHMS[algo].update(run.agent, run.collect_batch(), hp, run.update_rng)
        run.close()
        assert np.array_equal(run.agent.theta_v, theta_v) != moves


def test_progress_row_cut_short_is_dropped_on_resume(tmp_path):
    """A crash or a full disk while update 12's row is appended can leave just "1" of it; that
    must not pass for a row of update 1 when the run resumes."""
    cfg = Config.for_algo("trpo", steps=2 * 128, **SMALL)
    train(cfg, tmp_path / "run", progress=False)
    rows = _rows(tmp_path / "run")
    with (tmp_path / "run" / "progress.csv").open("a") as f:
        f.write("1")
    train(None, tmp_path / "run", resume=True, progress=False)
    assert _rows(tmp_path / "run") == rows


@pytest.mark.parametrize("algo, env, stop, overrides", [
    ("trpo", "CartPole-v1", 2, dict(horizon=128, steps=4 * 128, vf_minibatch=64)),
    # 5 updates of 100 steps end where Acrobot's TimeLimit (500) truncates the episode a random
    # policy does not finish: the checkpoint holds the (float32) state that reset leaves
    ("ppo", "Acrobot-v1", 5, dict(horizon=100, steps=7 * 100)),
])
def test_categorical_run_resumes_exactly(algo, env, stop, overrides, tmp_path):
    """A Discrete-action run (categorical head, classic-control state saved) stopped after
    ``stop`` updates and resumed equals the uninterrupted run bit for bit."""
    cfg = Config.for_algo(algo, env=env, num_envs=1, epochs=2, vf_epochs=2, cg_iters=5,
                          **overrides)
    full = train(cfg, tmp_path / "full", progress=False)
    part = Run(cfg, tmp_path / "part")
    for _ in range(stop):
        part.append_progress(part.step())
        part.save()
    part.close()
    state = checkpoint.load(tmp_path / "part" / "checkpoints" / "latest.npz")
    assert str(state["policy"]) == "categorical"
    resumed = train(None, tmp_path / "part", resume=True, progress=False)
    assert _rows(tmp_path / "part") == _rows(tmp_path / "full")
    np.testing.assert_array_equal(resumed.agent.phi, full.agent.phi)


def test_categorical_checkpoint_evaluates_with_the_mode_and_refuses_a_box_environment(tmp_path,
                                                                                       capsys):
    """``eval --deterministic`` acts with argmax of the logits (the trained policy's, on the
    frozen normaliser's observations); sampled evaluation draws from the softmax. A checkpoint
    whose head does not fit the environment's action space (categorical, but the config names
    the Box-action InvertedPendulum-v5 with CartPole's observation size 4) is refused in one
    line by eval and by resume."""
    from refimpl.cli import main

    cfg = Config.for_algo("ppo", env="CartPole-v1", steps=256, num_envs=2, horizon=128,
                          epochs=1, vf_epochs=1, norm_obs=True)
    run = train(cfg, tmp_path / "run", progress=False)
    ckpt = tmp_path / "run" / "checkpoints" / "final.npz"
    saved = SavedPolicy.load(ckpt)
    assert saved.policy.kind == "categorical"
    obs = np.random.default_rng(0).standard_normal((50, 4))
    (logits,), _ = run.agent.policy.dist_params(run.agent.phi, run.collector.normalize(obs))
    np.testing.assert_array_equal(saved.act(obs, None), np.argmax(logits, axis=1))
    sampled = saved.act(np.repeat(obs[:1], 4000, axis=0), np.random.default_rng(1))
    assert sampled.dtype == np.int64 and set(np.unique(sampled)) <= {0, 1}
    returns = evaluate(ckpt, episodes=2)
    assert np.all((returns >= 1) & (returns <= 500))
    np.testing.assert_array_equal(returns, evaluate(ckpt, episodes=2))

    d = checkpoint.read_npz(ckpt)
    stored = {**json.loads(str(d["config"])), "env": "InvertedPendulum-v5"}
    bad = {**d, "config": np.array(json.dumps(stored)), "env_id": np.array("InvertedPendulum-v5")}
    checkpoint.save(tmp_path / "bad.npz", bad)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "bad.npz"), "--episodes", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "holds a categorical policy" in err and "gaussian" in err
    checkpoint.save(tmp_path / "run" / "checkpoints" / "latest.npz", bad)
    (tmp_path / "run" / "config.json").write_text(json.dumps(stored))
    assert main(["train", "--resume", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "checkpoint holds a categorical policy" in err


def test_environment_family_defaults_apply_beneath_preset_and_overrides():
    """ENV_DEFAULTS (rl-baselines3-zoo's CartPole-v1 and Acrobot-v1 settings) replace the
    algorithm's MuJoCo defaults for those environments only, NPG takes TRPO's, and a flag
    still wins."""
    ppo = Config.for_algo("ppo", env="CartPole-v1")
    assert (ppo.num_envs, ppo.horizon, ppo.minibatch, ppo.epochs, ppo.gamma, ppo.lam, ppo.lr) \
        == (8, 32, 256, 20, 0.98, 0.8, 1e-3)
    assert (ppo.norm_obs, ppo.norm_reward, ppo.anneal_lr) == (False, False, True)
    trpo = Config.for_algo("trpo", env="CartPole-v1", seed=4, damping=0.05)
    assert (trpo.num_envs, trpo.horizon, trpo.vf_epochs, trpo.lam, trpo.cg_iters) \
        == (2, 512, 20, 0.98, 15)
    assert (trpo.seed, trpo.damping) == (4, 0.05)  # overrides win
    npg = Config.for_algo("npg", env="CartPole-v1")
    assert (npg.num_envs, npg.horizon, npg.damping, npg.algo) == (2, 512, 1e-3, "npg")
    acrobot = Config.for_algo("ppo", env="Acrobot-v1")
    assert (acrobot.num_envs, acrobot.horizon, acrobot.epochs, acrobot.lam, acrobot.norm_obs,
            acrobot.anneal_lr) == (16, 256, 4, 0.94, True, False)
    # SB3's Adam epsilon on both tasks; sb3-contrib's TRPO critic unclipped, SB3's PPO clipped
    for env in ("CartPole-v1", "Acrobot-v1"):
        by_algo = {a: Config.for_algo(a, env=env) for a in ("ppo", "trpo", "npg")}
        assert {a: (c.adam_eps, c.max_grad_norm) for a, c in by_algo.items()} \
            == {"ppo": (1e-5, 0.5), "trpo": (1e-5, None), "npg": (1e-5, None)}
    assert (Config.for_algo("ppo").adam_eps, Config.for_algo("vpg", env="CartPole-v1").adam_eps) \
        == (1e-8, 1e-8)
    assert Config.for_algo("ppo", env="HalfCheetah-v5") == Config.for_algo("ppo")
    assert Config.for_algo("vpg", env="Acrobot-v1").horizon == Config.for_algo("vpg").horizon


LQ = dict(env="refimpl/LQ-Lecture-v0", horizon=200, hidden=(), norm_obs=False, epochs=1,
          vf_epochs=1, eval_every=0, critic_process=False)
ROOT = Path(__file__).resolve().parents[2]


def _expected_provenance() -> dict:
    """What run.json must hold, each from another source than refimpl.engine.provenance's:
    package metadata for the versions (it reads the modules' __version__), sys.version_info,
    setup.cfg's version, ``git rev-parse HEAD`` (it reads git's files), a regular expression
    over /proc/cpuinfo."""
    import configparser
    import importlib.metadata
    import platform
    import re
    import shutil
    import subprocess
    import sys

    meta = importlib.metadata.version
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    commit = None
    if (ROOT / ".git").exists():
        assert shutil.which("git"), "a git checkout without git: cannot check the commit"
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    cpuinfo = Path("/proc/cpuinfo")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M) \
        if cpuinfo.exists() else None
    return {"refimpl": setup["metadata"]["version"], "git_commit": commit,
            "python": "{}.{}.{}".format(*sys.version_info[:3]), "numpy": meta("numpy"),
            "scipy": meta("scipy"), "gymnasium": meta("gymnasium"), "mujoco": meta("mujoco"),
            "cpu": m.group(1).strip() if m else platform.processor() or platform.machine(),
            "platform": platform.platform()}


def test_run_json_records_what_the_run_ran_on(tmp_path):
    """run.json is written when the run starts (before its first update), atomically beside
    config.json, and holds the versions, the commit, the CPU and the BLAS libraries
    threadpoolctl reports; a failure before the first checkpoint removes it with the rest."""
    from threadpoolctl import threadpool_info

    from refimpl.engine import provenance

    run = Run(Config.for_algo("trpo", steps=400, **LQ), tmp_path / "run")
    try:
        stored = json.loads((tmp_path / "run" / "run.json").read_text())
        assert tuple(stored) == provenance.FIELDS
        assert {k: stored[k] for k in _expected_provenance()} == _expected_provenance()
        loaded = {(lib["internal_api"], lib["version"], lib["num_threads"])
                  for lib in threadpool_info() if lib["user_api"] == "blas"}
        assert {(lib["internal_api"], lib["version"], lib["num_threads"])
                for lib in stored["blas"]} == loaded and loaded
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == \
            [".refimpl.lock", "checkpoints", "config.json", "progress.csv", "run.json"]
    finally:
        run.discard()
        run.close()
    assert not (tmp_path / "run").exists()


def test_git_commit_is_read_without_git(tmp_path):
    """A linked work tree (``.git`` a file naming its git directory), HEAD a ref found in the
    common directory's packed-refs; a detached HEAD; no repository at all."""
    from refimpl.engine.provenance import git_commit

    sha, other = "a" * 40, "b" * 40
    common, linked = tmp_path / "repo.git", tmp_path / "repo.git" / "worktrees" / "wt"
    linked.mkdir(parents=True)
    (common / "packed-refs").write_text(f"# pack-refs with: peeled\n{other} refs/heads/main\n"
                                        f"{sha} refs/heads/feature\n")
    (linked / "HEAD").write_text("ref: refs/heads/feature\n")
    (linked / "commondir").write_text("../..\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {linked}\n")
    assert git_commit(tmp_path / "wt") == sha
    (linked / "HEAD").write_text(other + "\n")
    assert git_commit(tmp_path / "wt") == other
    assert git_commit(tmp_path / "nothing") is None


def test_resume_on_another_machine_notes_it_and_records_it(tmp_path, capsys, monkeypatch):
    """A run resumed with another CPU and NumPy goes on, bit for bit as if uninterrupted (here
    nothing really changed), says so in one line and appends the new record to run.json; a
    second resume on that machine says nothing more; a run without run.json (from before it
    was written) resumes too, with a one-line note."""
    from refimpl.cli import main
    from refimpl.engine import provenance

    cfg = Config.for_algo("trpo", steps=200, **LQ)
    out, full = tmp_path / "run", tmp_path / "full"
    train(cfg, out, progress=False)
    train(Config.for_algo("trpo", steps=600, **LQ), full, progress=False)
    started = json.loads((out / "run.json").read_text())
    real = provenance.record
    elsewhere = {**real(), "cpu": "Another CPU", "numpy": "0.0.1"}
    monkeypatch.setattr(provenance, "record", lambda: dict(elsewhere))
    assert main(["train", "--resume", str(out), "--steps", "400", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("refimpl: note: resuming at update 1 "
                                                         "with numpy "), err
    assert f"cpu {started['cpu']} -> Another CPU" in err, err
    assert main(["train", "--resume", str(out), "--steps", "600", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert json.loads((out / "run.json").read_text()) == \
        {**started, "resumed": [{"update": 1, **elsewhere}]}
    assert _rows(out) == _rows(full)

    (out / "run.json").unlink()
    monkeypatch.setattr(provenance, "record", real)
    assert main(["train", "--resume", str(out), "--steps", "800", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip()
    assert err == (f"refimpl: note: {out / 'run.json'} is missing (a run from before refimpl "
                   "recorded what a run ran on): recording what this run runs on from update 3 "
                   "on"), err
    stored = json.loads((out / "run.json").read_text())
    assert {k: stored[k] for k in provenance.FIELDS} == dict.fromkeys(provenance.FIELDS)
    assert [r["update"] for r in stored["resumed"]] == [3]
