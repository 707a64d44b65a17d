"""Every user mistake on ``refimpl train`` is one line on stderr, exit status 2, and leaves no
directory behind (docs/running.md, "Failures"); the run directory lifecycle of
refimpl/engine/trainer.py: no dead ends before the first checkpoint, and a resumed run keeps its
stored configuration."""
import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from refimpl.engine import checkpoint
from refimpl.algos import ALGORITHMS
from refimpl.cli import main
from refimpl.engine.config import Config
from refimpl.engine.trainer import Run
from support import odd_spaces  # noqa: F401  (registers test/MultiBinary-v0, test/Box2x2-v0...)

SMALL = ["--horizon", "128", "--epochs", "1", "--vf-epochs", "1", "--no-progress"]
BOUNDED = ["--steps", "128", *SMALL]
"""Before the flags under test (the later flag wins), so that a value wrongly accepted trains
for one short update instead of a million steps."""

INVALID = [  # (field, flags, what the one line must say)
    ("algo", ["--algo", "sac"], "invalid choice: 'sac'"),
    ("env", ["--env", "NoSuchEnv-v9"], "cannot make environment"),
    ("env", ["--env", "test/MultiBinary-v0"], "action space MultiBinary(3)"),
    ("env", ["--env", "test/Box2x2-v0"], "(Box of shape (2, 2)); refimpl handles Box spaces of "
     "one dimension"),
    ("env", ["--env", "Blackjack-v1"], "Blackjack-v1 has the observation space Tuple(Discrete(32)"),
    ("env", ["--env", "test/DictObservation-v0"], "has the observation space Dict('x': Box("),
    ("env", ["--env", "test/WrongShapeFromReset-v0"], "returned an observation of shape (2,) "
     "from reset, but its observation space Box(-1.0, 1.0, (3,), float64) has shape (3,)"),
    ("env", ["--env", "LunarLander-v3"], "'LunarLander-v3': refimpl does not support Box2D"),
    ("env", ["--env", "no_such_module:Env-v0"], "No module named 'no_such_module'; the form "
     "MODULE:ID imports MODULE"),
    ("steps", ["--steps", "0"], "--steps must be an integer >= 1, got 0"),
    ("steps", ["--steps", "-5"], "--steps must be an integer >= 1"),
    ("steps", ["--steps", "abc"], "invalid int value"),
    ("seed", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("num_envs", ["--num-envs", "0"], "--num-envs must be an integer >= 1"),
    ("num_envs", ["--env", "refimpl/LQ-Lecture-v0", "--num-envs", "1025"],
     "--num-envs must be an integer >= 1 and <= 1024 (each environment is a simulator of its own"),
    ("horizon", ["--horizon", "0"], "--horizon must be an integer >= 1"),
    ("horizon", ["--horizon", "32"], "--minibatch 64 is larger than the batch"),
    ("horizon", ["--horizon", "512.5"], "invalid int value"),
    ("hidden", ["--hidden", "64", "0"], "--hidden must be widths >= 1"),
    ("critic_hidden", ["--critic-hidden", "64", "0"], "--critic-hidden must be widths >= 1 or none"),
    ("critic_hidden", ["--critic-hidden", "64", "none"],
     "--critic-hidden takes widths or the one word none, got 64 none"),
    ("init", ["--init", "he"], "--init must be one of orthogonal, xavier, torch"),
    ("activation", ["--activation", "sigmoid"], "--activation must be one of tanh, relu"),
    ("log_std_init", ["--log-std-init", "nan"], "--log-std-init must be a finite number"),
    ("log_std_init", ["--log-std-init", "inf"], "--log-std-init must be a finite number"),
    ("gamma", ["--gamma", "1.5"], "--gamma must be a finite number in [0, 1]"),
    ("lam", ["--lam", "-0.1"], "--lam must be a finite number in [0, 1]"),
    ("norm_obs", ["--norm-obs=yes"], "ignored explicit argument"),
    ("obs_clip", ["--obs-clip", "-1"], "--obs-clip must be a finite number > 0"),
    ("obs_clip", ["--obs-clip", "0"], "--obs-clip must be a finite number > 0 or none"),
    ("reward_clip", ["--reward-clip", "0"], "--reward-clip must be a finite number > 0 or none"),
    ("reward_clip", ["--reward-clip", "-10"], "--reward-clip must be a finite number > 0 or none"),
    ("norm_reward", ["--norm-reward=no"], "ignored explicit argument"),
    ("norm_adv", ["--norm-adv=1"], "ignored explicit argument"),
    ("clip_actions", ["--clip-actions=0"], "ignored explicit argument"),
    ("vf_lr", ["--vf-lr", "0"], "--vf-lr must be a finite number > 0"),
    ("vf_lr", ["--vf-lr", "inf"], "--vf-lr must be a finite number > 0"),
    ("vf_epochs", ["--algo", "trpo", "--vf-epochs", "0"], "--vf-epochs must be an integer >= 1"),
    ("vf_minibatch", ["--vf-minibatch", "0"], "--vf-minibatch must be an integer >= 1"),
    ("vf_minibatch", ["--algo", "trpo", "--vf-minibatch", "129"],
     "--vf-minibatch 129 is larger than the batch, horizon * num_envs = 128"),
    ("vf_clip", ["--vf-clip", "0"], "--vf-clip must be a finite number > 0 or none"),
    ("max_grad_norm", ["--max-grad-norm", "-1"], "--max-grad-norm must be a finite number > 0"),
    ("max_grad_norm", ["--max-grad-norm", "nan"], "--max-grad-norm must be a finite number > 0"),
    ("grad_clip_scope", ["--grad-clip-scope", "global"],
     "--grad-clip-scope must be one of each, joint"),
    ("grad_clip_scope", ["--algo", "trpo", "--grad-clip-scope", "joint"],
     "--grad-clip-scope joint is PPO's joint actor-critic loss; trpo fits its critic after"),
    ("grad_clip_scope", ["--grad-clip-scope", "joint", "--vf-epochs", "2"],
     "--grad-clip-scope joint trains the critic on the policy's minibatches: --vf-epochs 2 must "
     "equal --epochs 1"),
    ("grad_clip_scope", ["--grad-clip-scope", "joint", "--vf-minibatch", "32"],
     "--vf-minibatch 32 must equal --minibatch 64"),
    ("vf_coef", ["--vf-coef", "0"], "--vf-coef must be a finite number > 0"),
    ("vf_coef", ["--vf-coef", "none"], "argument --vf-coef: invalid float value"),
    ("adam_eps", ["--adam-eps", "0"], "--adam-eps must be a finite number > 0"),
    ("adam_eps", ["--adam-eps", "none"], "argument --adam-eps: invalid float value"),
    ("lr", ["--lr", "nan"], "--lr must be a finite number > 0"),
    ("lr", ["--lr=-3e-4"], "--lr must be a finite number > 0"),
    ("anneal_lr", ["--anneal-lr=off"], "ignored explicit argument"),
    ("epochs", ["--epochs", "0"], "--epochs must be an integer >= 1"),
    ("minibatch", ["--minibatch", "0"], "--minibatch must be an integer >= 1"),
    ("minibatch", ["--minibatch", "129"],
     "--minibatch 129 is larger than the batch, horizon * num_envs = 128"),
    ("clip_eps", ["--clip-eps", "-1"], "--clip-eps must be a finite number > 0"),
    ("anneal_clip", ["--anneal-clip=yes"], "ignored explicit argument"),
    ("ent_coef", ["--ent-coef", "nan"], "--ent-coef must be a finite number, got nan"),
    ("target_kl", ["--target-kl", "0"], "--target-kl must be a finite number > 0 or none"),
    ("delta", ["--delta", "0"], "--delta must be a finite number > 0"),
    ("delta", ["--delta", "-1"], "--delta must be a finite number > 0"),
    ("delta_final", ["--delta-final", "0"], "--delta-final must be a finite number > 0 or none"),
    ("delta_final", ["--delta-final", "inf"], "--delta-final must be a finite number > 0 or none"),
    ("cg_iters", ["--cg-iters", "0"], "--cg-iters must be an integer >= 1"),
    ("damping", ["--damping", "-1"], "--damping must be a finite number >= 0"),
    ("fvp_fraction", ["--fvp-fraction", "0"], "--fvp-fraction must be a finite number in (0, 1]"),
    ("fvp_fraction", ["--fvp-fraction", "1.5"], "--fvp-fraction must be a finite number in (0, 1]"),
    ("backtrack_alpha", ["--backtrack-alpha", "1.5"],
     "--backtrack-alpha must be a finite number in (0, 1)"),
    ("backtrack_alpha", ["--backtrack-alpha", "1"], "--backtrack-alpha must be a finite number in"),
    ("backtrack_iters", ["--backtrack-iters", "0"], "--backtrack-iters must be an integer >= 1"),
    ("npg_step", ["--npg-step", "big"], "--npg-step must be one of normalized, fixed"),
    ("npg_alpha", ["--npg-alpha", "0"], "--npg-alpha must be a finite number > 0"),
    ("vector", ["--vector", "threads"], "--vector must be one of direct, sync, async"),
    ("eval_every", ["--eval-every", "-5"], "--eval-every must be an integer >= 0"),
    ("eval_episodes", ["--eval-episodes", "0"], "--eval-episodes must be an integer >= 1"),
    ("eval_process", ["--no-eval-process=1"], "ignored explicit argument"),
    ("critic_process", ["--critic-process=no"], "ignored explicit argument"),
    ("checkpoint_every", ["--checkpoint-every", "0"], "--checkpoint-every must be an integer >= 1"),
    ("preset", ["--preset", "paperish"], "invalid choice: 'paperish'"),
    ("preset", ["--preset", "zoo", "--env", "Hopper-v5"],
     "preset 'zoo' holds settings for HalfCheetah-v5, not Hopper-v5"),
    ("preset", ["--algo", "trpo", "--preset", "engstrom-ppo", "--env", "Hopper-v5"],
     "preset 'engstrom-ppo' holds settings for ppo, not trpo"),
    ("preset", ["--preset", "engstrom-ppo-m"],
     "preset 'engstrom-ppo-m' holds settings for Hopper-v5, Walker2d-v5, Humanoid-v5, not "
     "HalfCheetah-v5"),
]
"""At least one invalid value per Config field (``test_every_field_has_an_invalid_value``)."""


def _status(argv) -> int:
    """main's exit status, also when argparse exits (SystemExit) on a flag it cannot parse."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def _one_line(capsys, argv, match, status=2) -> str:
    """Run ``refimpl argv``; assert its status and that stderr is the one line containing
    ``match``; return that line."""
    assert _status(argv) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


def test_num_envs_is_bounded_by_max_envs():
    """MAX_ENVS environments are a valid configuration, one more is not."""
    from refimpl.envs.vector import MAX_ENVS

    assert Config(num_envs=MAX_ENVS).num_envs == MAX_ENVS == 1024
    with pytest.raises(ValueError, match="--num-envs must be an integer >= 1 and <= 1024"):
        Config(num_envs=MAX_ENVS + 1)


def test_env_of_a_module_is_made_after_importing_the_module(capsys, tmp_path, monkeypatch):
    """gymnasium's MODULE:ID form: MODULE (not imported before) registers ID when imported, as
    third-party environment packages do; the run trains, and its evaluation process (which
    makes the environment anew) finds it too."""
    (tmp_path / "refimpl_test_envs.py").write_text(
        "import gymnasium\n"
        "gymnasium.register('test/FromModule-v0', max_episode_steps=64,\n"
        "                   entry_point='refimpl.envs.lq:LinearQuadraticEnv',\n"
        "                   kwargs={'preset': 'lecture'})\n")
    monkeypatch.syspath_prepend(tmp_path)  # spawned processes start with this sys.path
    out = tmp_path / "run"
    assert main(["train", "--env", "refimpl_test_envs:test/FromModule-v0", "--out", str(out),
                 *BOUNDED, "--eval-every", "128", "--eval-episodes", "1"]) == 0, \
        capsys.readouterr().err
    assert len((out / "eval.csv").read_text().splitlines()) == 2  # header and one evaluation


def test_every_field_has_an_invalid_value():
    """A new Config field without validation (and a row here) fails this test."""
    assert {f for f, _, _ in INVALID} == {f.name for f in dataclasses.fields(Config)}


@pytest.mark.parametrize("field, flags, match", INVALID,
                         ids=[f"{f}:{' '.join(a)}" for f, a, _ in INVALID])
def test_invalid_value_is_one_line_exit_2_and_creates_nothing(capsys, tmp_path, monkeypatch,
                                                              field, flags, match):
    monkeypatch.chdir(tmp_path)  # the default --out (runs/...) would land here too
    _one_line(capsys, ["train", "--out", str(tmp_path / "run"), *BOUNDED, *flags], match)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("d, match", [
    ({"bogus": 1, "lr_anneal": True}, "unknown config field(s): bogus, lr_anneal"),
    ({"norm_obs": "yes"}, "--norm-obs must be true or false"),
    ({"horizon": 512.5}, "--horizon must be an integer >= 1, got 512.5"),
    ({"horizon": True}, "--horizon must be an integer"),
    ({"hidden": "64"}, "--hidden must be widths >= 1"),
    ({"vf_clip": "0.2"}, "--vf-clip must be a finite number > 0 or none"),
    ({"env": 3}, "--env must be a string"),
])
def test_from_dict_refuses_unknown_fields_and_wrong_types_in_one_line(d, match):
    with pytest.raises(ValueError) as e:
        Config.from_dict({**Config().to_dict(), **d})
    assert match in str(e.value) and "\n" not in str(e.value)


def _with_nan_after_update(monkeypatch, algo="ppo"):
    """The real policy update of ``algo``, then a NaN in phi: what a numerical blow-up looks
    like."""
    update = ALGORITHMS[algo].policy_update

    def blown_up(agent, *args):
        metrics = update(agent, *args)
        agent.phi[0] = np.nan
        return metrics
    monkeypatch.setattr(ALGORITHMS[algo], "policy_update", blown_up)


def test_nan_in_update_1_exits_1_without_pointing_at_a_checkpoint_and_leaves_nothing(
        capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--steps", "256", *SMALL]
    with monkeypatch.context() as m:
        _with_nan_after_update(m)
        err = _one_line(capsys, argv, "non-finite policy parameters after update 1", status=1)
    assert "no checkpoint was kept" in err and "latest.npz" not in err
    assert not out.exists()
    assert main(argv) == 0  # the same command then starts cleanly


def test_nan_after_a_finished_update_names_the_kept_checkpoint(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    step, calls = Run.step, []

    def second_blows_up(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            _with_nan_after_update(monkeypatch)
        return step(self, *args, **kwargs)
    monkeypatch.setattr(Run, "step", second_blows_up)
    err = _one_line(capsys, ["train", "--out", str(out), "--steps", "512", *SMALL],
                    "non-finite policy parameters after update 2", status=1)
    latest = out / "checkpoints" / "latest.npz"
    assert f"the last good checkpoint is {latest} (update 1)" in err
    assert int(checkpoint.load(latest)["update"]) == 1


def test_ctrl_c_in_update_1_exits_130_and_leaves_nothing(capsys, tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = ["train", "--out", str(out), "--steps", "256", *SMALL]
    with monkeypatch.context() as m:
        m.setattr(Run, "step", lambda self, **_: (_ for _ in ()).throw(KeyboardInterrupt))
        err = _one_line(capsys, argv, "interrupted; nothing was kept", status=130)
    assert "--resume" not in err and not out.exists()
    assert main(argv) == 0


def test_failure_in_update_1_keeps_what_was_there_before(capsys, tmp_path, monkeypatch):
    """Only what this invocation created is removed: an existing, empty --out stays (one that
    holds other files is refused before: test_out_holding_other_files_is_refused_writing_nothing),
    and the same command then trains in it."""
    out = tmp_path / "out"
    out.mkdir()
    argv = ["train", "--out", str(out), "--steps", "256", *SMALL]
    with monkeypatch.context() as m:
        _with_nan_after_update(m)
        _one_line(capsys, argv, "non-finite", status=1)
    assert out.is_dir() and list(out.iterdir()) == []
    assert main(argv) == 0


def _holding(*names: str):
    """A directory ``out`` that holds ``names`` (a name ending in / is a directory; a file
    named config.json holds JSON that is not a refimpl configuration)."""
    def make(tmp_path):
        out = tmp_path / "out"
        out.mkdir()
        for name in names:
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir() if name.endswith("/") else path.write_text(
                '{"model": "resnet"}' if path.name == "config.json" else "mine")
        return out
    return make


FOREIGN_OUT = {  # --out: a directory that is not empty and holds no refimpl run
    "the root directory": (lambda tmp_path: Path("/"),
                           "/ is not empty and holds no refimpl run"),
    "a file of the user's": (_holding("notes.txt"), "(it holds notes.txt)"),
    "a hidden directory": (_holding(".git/"), "(it holds .git)"),
    "a refimpl name beside another": (_holding("progress.csv", "data.bin"), "(it holds data.bin)"),
    "a checkpoints/ of another program": (_holding("checkpoints/model.pt"),
                                          "(it holds checkpoints/model.pt)"),
    "a config.json of another program": (_holding("config.json"), "unknown config field(s): model"),
}


def _listing(out: Path) -> list[str]:
    """The names in ``out`` and in its checkpoints/ (not further: ``out`` may be /)."""
    ckpt = out / "checkpoints"
    return sorted([*os.listdir(out), *(f"checkpoints/{n}" for n in (
        os.listdir(ckpt) if ckpt.is_dir() else []))])


@pytest.mark.parametrize("case", FOREIGN_OUT)
def test_out_holding_other_files_is_refused_writing_nothing(case, capsys, tmp_path, monkeypatch):
    """A non-empty --out that is not a refimpl run (``/``, a directory of the user's files) is
    refused in one line before anything is written; were it not, the test stops the run before
    it writes its files."""
    from refimpl.engine.rundir import RunDirectory

    make, match = FOREIGN_OUT[case]
    out = make(tmp_path)
    before = _listing(out)
    monkeypatch.setattr(RunDirectory, "_create_directory",
                        lambda *a: pytest.fail(f"the run began writing into {out}"))
    line = _one_line(capsys, ["train", "--out", str(out), *BOUNDED], match)
    assert str(out) in line
    assert _listing(out) == before


def _killed_before_first_checkpoint(out, cfg):
    """What ``kill -9`` in update 1's record leaves: config.json, the rows of update 1 in
    progress.csv and, if it evaluates, eval.csv (written before its checkpoint), an empty
    checkpoints/ but for a temporary file of an interrupted write."""
    run = Run(cfg, out)
    run.append_progress(run.step())
    if run.evaluation_due():
        run.append_eval(run.evaluate())
    run.close()
    (out / "checkpoints" / ".latest.npz.abc123.tmp").write_bytes(b"partial")


def test_leftover_of_a_killed_first_update_is_no_dead_end(capsys, tmp_path):
    """A new run replaces it, and --resume starts it from update 0: both equal an untouched
    run bit for bit, logs included (update 1's rows are not kept twice), and the stale
    temporary file is gone."""
    from refimpl.engine.logs import EVAL_COLUMNS, read_csv, read_progress

    argv = ["--steps", "256", "--eval-every", "128", "--eval-episodes", "1", "--no-eval-process",
            *SMALL]
    assert main(["train", "--out", str(tmp_path / "clean"), *argv]) == 0
    cfg = Config.from_dict(json.loads((tmp_path / "clean" / "config.json").read_text()))
    for name, how in (("new", ["--out"]), ("resumed", ["--resume"])):
        out = tmp_path / name
        _killed_before_first_checkpoint(out, cfg)
        assert main(["train", *how, str(out), *(argv if name == "new" else ["--no-progress"])]) == 0
        for col, values in read_progress(out / "progress.csv").items():
            if col not in ("wall_time", "sps"):
                np.testing.assert_array_equal(values, read_progress(
                    tmp_path / "clean" / "progress.csv")[col])
        for col, values in read_csv(out / "eval.csv", EVAL_COLUMNS).items():
            if col != "wall_time":
                np.testing.assert_array_equal(values, read_csv(
                    tmp_path / "clean" / "eval.csv", EVAL_COLUMNS)[col])
        a = checkpoint.load(out / "checkpoints" / "final.npz")
        b = checkpoint.load(tmp_path / "clean" / "checkpoints" / "final.npz")
        np.testing.assert_array_equal(a["phi"], b["phi"])
        assert not list(out.glob("**/.*.tmp"))
    capsys.readouterr()


@pytest.mark.parametrize("kept", ["everything", "its logs (checkpoints deleted)"])
def test_existing_run_is_not_overwritten(capsys, tmp_path, kept):
    """Neither a run nor the logs of one whose checkpoints were deleted (as in results/, which
    keeps logs only): progress.csv with rows past update 1, more than a run killed before its
    first checkpoint leaves."""
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "256", *SMALL]) == 0
    capsys.readouterr()
    if kept != "everything":
        shutil.rmtree(out / "checkpoints")
    before = (out / "progress.csv").read_bytes()
    _one_line(capsys, ["train", "--out", str(out), "--steps", "256", *SMALL], "already holds a run")
    assert (out / "progress.csv").read_bytes() == before


def _finished(tmp_path, capsys, *flags):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "256", *SMALL, *flags]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize("flags, match", [
    (["--lr", "1e-3"], "--lr 0.001 conflicts with the run's stored lr = 0.0003"),
    (["--horizon", "64"], "--horizon 64 conflicts with the run's stored horizon = 128"),
    (["--algo", "trpo"], "--algo 'trpo' conflicts with the run's stored algo = 'ppo'"),
    (["--preset", "tianshou"], "--preset 'tianshou' conflicts"),
    (["--no-norm-obs"], "--norm-obs False conflicts"),
    (["--out", "elsewhere"], "--out elsewhere conflicts with --resume"),
    (["--steps", "512"], "--steps cannot change the length of a run with anneal_lr: its "
                         "schedule runs over its 2 updates"),
    (["--lr", "0"], "--lr must be a finite number > 0"),
])
def test_resume_refuses_flags_that_conflict_with_the_stored_config(capsys, tmp_path, flags, match):
    out = _finished(tmp_path, capsys)
    before = (out / "progress.csv").read_bytes()
    _one_line(capsys, ["train", "--resume", str(out), *flags, "--no-progress"], match)
    assert (out / "progress.csv").read_bytes() == before


@pytest.mark.parametrize("flags, match", [
    (["--algo", "ppo", "--no-anneal-lr", "--anneal-clip"], "run with anneal_clip:"),
    (["--algo", "trpo", "--delta-final", "0.02"], "run with delta_final:"),
    (["--algo", "npg", "--delta-final", "0.02"], "run with delta_final:"),
])
def test_resume_refuses_a_new_length_for_a_run_with_a_schedule(capsys, tmp_path, flags, match):
    """anneal_clip and delta_final spread their schedules over the run's updates, as anneal_lr
    does: a resumed run keeps its length. Without a schedule (TRPO's default) it may change
    (tests/engine/test_train.py::test_extended_run_equals_a_run_trained_to_the_longer_length)."""
    out = _finished(tmp_path, capsys, *flags)
    _one_line(capsys, ["train", "--resume", str(out), "--steps", "512", "--no-progress"],
              f"--steps cannot change the length of a {match}")


def test_resume_accepts_flags_equal_to_the_stored_config(capsys, tmp_path):
    out = _finished(tmp_path, capsys)
    assert main(["train", "--resume", str(out), "--out", str(out), "--algo", "ppo",
                 "--lr", "0.0003", "--horizon", "128", "--steps", "256", "--preset", "default",
                 "--no-progress"]) == 0


def test_config_json_edited_to_another_algorithm_is_refused(capsys, tmp_path):
    out = _finished(tmp_path, capsys)
    d = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**d, "algo": "trpo"}))
    _one_line(capsys, ["train", "--resume", str(out), "--no-progress"],
              "config.json says algo = 'trpo', but")


@pytest.mark.parametrize("damage, match", [
    ("missing", "config.json is missing"),
    ("not json", "does not hold a JSON configuration"),
    ("unknown field", "unknown config field(s): bogus"),
])
def test_damaged_config_json_is_one_line_before_training(capsys, tmp_path, monkeypatch,
                                                         damage, match):
    out = _finished(tmp_path, capsys)
    path = out / "config.json"
    if damage == "missing":
        path.unlink()
    else:
        path.write_text("{" if damage == "not json" else
                        json.dumps({**json.loads(path.read_text()), "bogus": 1}))
    monkeypatch.setattr(Run, "step", lambda self: pytest.fail("trained before the error"))
    _one_line(capsys, ["train", "--resume", str(out), "--no-progress"], match)


def test_resume_of_a_directory_without_a_run_is_one_line(capsys, tmp_path):
    _one_line(capsys, ["train", "--resume", str(tmp_path / "none"), "--no-progress"],
              "holds no run to resume")
    assert not (tmp_path / "none").exists()


def test_stale_temporaries_are_removed_on_resume(capsys, tmp_path):
    out = _finished(tmp_path, capsys)
    for name in ("checkpoints/.latest.npz.x1.tmp", ".progress.csv.x2.tmp", ".config.json.x3.tmp"):
        (out / name).write_bytes(b"left by kill -9")
    (out / "keep.tmp").write_bytes(b"not ours")
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert [p.name for p in out.glob("**/*.tmp")] == ["keep.tmp"]


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of ``request.param`` bytes mounted for the test (needs root); skipped, with
    mount's own message, where it cannot be mounted."""
    import subprocess

    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={request.param}", "tmpfs",
                           str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk case: {proc.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


CHECKPOINT_BYTES = 282_314
"""Size of one checkpoint of this test's PPO run (HalfCheetah, 64-64 networks)."""


@pytest.mark.parametrize("small_disk, unwritable", [
    (8192, "run.json"),  # two pages: the lock file and config.json fit, run.json, the next, not
    (64 * 1024, "checkpoints/latest.npz"),  # config.json, run.json and progress.csv fit, a
                                            # checkpoint not
], indirect=["small_disk"])
def test_disk_too_small_for_the_first_checkpoint_is_one_line_and_leaves_nothing(
        capsys, small_disk, unwritable):
    out = small_disk / "run"
    err = _one_line(capsys, ["train", "--out", str(out), "--steps", "256", *SMALL],
                    "No space left on device")
    assert f"cannot write {out / unwritable}" in err
    assert "no checkpoint was kept" in err
    assert list(small_disk.iterdir()) == []


@pytest.mark.parametrize("small_disk", [CHECKPOINT_BYTES * 3 // 2], indirect=True)
def test_disk_full_after_update_1_keeps_it_and_the_run_continues_elsewhere(
        capsys, tmp_path, small_disk):
    """One checkpoint fits, its atomic replacement (a second copy) does not: update 1 stays
    the last good checkpoint, and the run copied to a disk with room resumes to the very
    numbers of an uninterrupted run."""
    import shutil

    from refimpl.engine.logs import read_progress

    out, argv = small_disk / "run", ["--steps", "384", *SMALL]
    err = _one_line(capsys, ["train", "--out", str(out), *argv], "No space left on device")
    latest = out / "checkpoints" / "latest.npz"
    assert f"the last good checkpoint is {latest} (update 1)" in err
    assert int(checkpoint.load(latest)["update"]) == 1
    shutil.copytree(out, tmp_path / "moved")
    assert main(["train", "--resume", str(tmp_path / "moved"), "--no-progress"]) == 0
    assert main(["train", "--out", str(tmp_path / "full"), *argv]) == 0
    moved, full = (read_progress(tmp_path / d / "progress.csv") for d in ("moved", "full"))
    for col in moved:
        if col not in ("wall_time", "sps"):
            np.testing.assert_array_equal(moved[col], full[col])
    np.testing.assert_array_equal(
        checkpoint.load(tmp_path / "moved" / "checkpoints" / "final.npz")["phi"],
        checkpoint.load(tmp_path / "full" / "checkpoints" / "final.npz")["phi"])


def test_resume_refuses_steps_below_those_already_done(capsys, tmp_path):
    out = _finished(tmp_path, capsys, "--algo", "trpo")  # TRPO: anneal_lr off, 2 updates done
    _one_line(capsys, ["train", "--resume", str(out), "--steps", "128", "--no-progress"],
              "--steps 128 is fewer than the 256 steps the run has already done")


def test_failure_in_update_1_removes_the_parent_directories_it_made(capsys, tmp_path,
                                                                    monkeypatch):
    _with_nan_after_update(monkeypatch)
    _one_line(capsys, ["train", "--out", str(tmp_path / "a" / "b" / "run"), "--steps", "256",
                       *SMALL], "non-finite", status=1)
    assert list(tmp_path.iterdir()) == []


def test_failure_in_update_1_of_a_resumed_leftover_keeps_its_config_json(capsys, tmp_path,
                                                                         monkeypatch):
    """A kill -9 leftover resumed from update 0 with a new length, failing again in update 1,
    stays resumable: its config.json (with the new length) is the run's own and stays."""
    out = tmp_path / "run"
    _killed_before_first_checkpoint(out, Config.for_algo("trpo", steps=256, horizon=128))
    _with_nan_after_update(monkeypatch, "trpo")
    _one_line(capsys, ["train", "--resume", str(out), "--steps", "384", "--no-progress"],
              "non-finite", status=1)
    assert json.loads((out / "config.json").read_text())["steps"] == 384
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
