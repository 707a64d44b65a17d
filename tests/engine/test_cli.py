"""refimpl/cli.py: user mistakes give one line on stderr, exit status 2, and leave nothing
behind; non-finite values stop training with a message naming where, keeping the last good
checkpoint; Ctrl-C exits 130 with the last finished update saved."""
import gymnasium as gym
import numpy as np
import pytest

from refimpl.engine import checkpoint
from refimpl.cli import main
from refimpl.engine.trainer import Run

SMALL = ["--horizon", "128", "--epochs", "1", "--vf-epochs", "1", "--no-progress"]


class NaNAfterEnv(gym.Env):
    """Finite observations for 150 steps, then NaN."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2), {}

    def step(self, action):
        self.t += 1
        return np.full(2, np.nan if self.t > 150 else 0.1), 0.0, False, False, {}

    def get_state(self):
        return np.array([self.t], dtype=float)

    def set_state(self, state):
        self.t = int(state[0])


gym.register("test/NaNAfter-v0", entry_point=NaNAfterEnv)


def _fails_with(capsys, argv, match, status=2):
    assert main(argv) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    return err


@pytest.mark.parametrize("argv, match", [
    (["train", "--algo", "sac"], "invalid choice"),
    (["train", "--steps", "abc"], "invalid int value"),
])
def test_bad_flags_are_one_line_errors(capsys, argv, match):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_unwritable_run_directory_is_a_one_line_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _fails_with(capsys, ["train", "--out", str(blocker / "run"), "--steps", "128", *SMALL],
                "cannot create run directory")


@pytest.mark.parametrize("content, match", [
    (b"not a zip file", "not a readable refimpl checkpoint"),
    ("npy", "a single array, not an .npz archive"),
    (None, "missing"),
])
def test_corrupt_checkpoint_is_a_one_line_error(capsys, tmp_path, content, match):
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, phi=np.zeros(3))
    elif content == "npy":  # np.load returns a bare array for .npy bytes, whatever the name
        with path.open("wb") as f:
            np.save(f, np.zeros(3))
    else:
        path.write_bytes(content)
    _fails_with(capsys, ["eval", str(path)], match)
    _fails_with(capsys, ["eval", str(tmp_path / "absent.npz")], "no checkpoint")


def _trained(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "128", *SMALL]) == 0
    capsys.readouterr()
    return out, checkpoint.load(out / "checkpoints" / "final.npz")


def test_mismatched_checkpoints_are_one_line_errors(capsys, tmp_path):
    out, d = _trained(tmp_path, capsys)
    checkpoint.save(tmp_path / "v.npz", {**d, "format_version": np.array(99)})
    _fails_with(capsys, ["eval", str(tmp_path / "v.npz")], "format 99")
    checkpoint.save(tmp_path / "o.npz", {**d, "obs_dim": np.array(5)})
    _fails_with(capsys, ["eval", str(tmp_path / "o.npz")], "parameters")
    checkpoint.save(out / "checkpoints" / "latest.npz", {**d, "obs_dim": np.array(5)})
    _fails_with(capsys, ["train", "--resume", str(out), "--no-progress"], "obs/act sizes")


def test_eval_prints_mean_and_std(capsys, tmp_path):
    out, _ = _trained(tmp_path, capsys)
    assert main(["eval", str(out / "checkpoints" / "final.npz"), "--episodes", "1",
                 "--deterministic"]) == 0
    assert "return over 1 deterministic episodes" in capsys.readouterr().out


def test_non_finite_observation_stops_and_keeps_last_good_checkpoint(capsys, tmp_path):
    out = tmp_path / "run"
    err = _fails_with(capsys, ["train", "--env", "test/NaNAfter-v0", "--out", str(out),
                               "--steps", "512", "--no-norm-obs", *SMALL],
                      "non-finite observations from the environment", status=1)
    assert f"the last good checkpoint is {out / 'checkpoints' / 'latest.npz'} (update 1)" in err
    assert int(checkpoint.load(out / "checkpoints" / "latest.npz")["update"]) == 1


def test_ctrl_c_exits_130_with_last_update_saved(capsys, tmp_path, monkeypatch):
    step = Run.step
    calls = []

    def interrupted(self, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # while update 1's critic fit runs
            raise KeyboardInterrupt
        return step(self, **kwargs)
    monkeypatch.setattr(Run, "step", interrupted)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "512", *SMALL]) == 130
    assert "--resume" in capsys.readouterr().err
    assert int(checkpoint.load(out / "checkpoints" / "latest.npz")["update"]) == 1
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["latest.npz"]


def test_crosscheck_is_reachable_from_the_main_command(capsys, tmp_path):
    assert main(["crosscheck", "--make-example", str(tmp_path / "in.npz")]) == 0
    assert main(["crosscheck", str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]) == 0
    assert set(np.load(tmp_path / "out.npz")) >= {"grad", "fvp", "cg_x", "step", "clip_grad"}
    _fails_with(capsys, ["crosscheck", str(tmp_path / "absent.npz"), str(tmp_path / "o2.npz")],
                "absent.npz")
    assert not (tmp_path / "o2.npz").exists()


def test_eval_renders_a_gif_with_the_tracking_camera(tmp_path, capsys):
    """End to end in a subprocess (the OpenGL back end is chosen when MuJoCo first renders),
    with MUJOCO_GL unset so the default back end is what is tested. Skipped, with the
    renderer's own message, only where no offscreen OpenGL is installed. The actions are
    sampled (--stochastic): the barely trained policy's mode hardly moves the cheetah, and the
    GIF format merges equal consecutive frames."""
    import os
    import subprocess
    import sys

    from PIL import Image

    out, _ = _trained(tmp_path, capsys)
    gif = tmp_path / "run.gif"
    proc = subprocess.run([sys.executable, "-m", "refimpl.cli", "eval",
                           str(out / "checkpoints" / "final.npz"), "--episodes", "1",
                           "--stochastic", "--render", str(gif)], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "MUJOCO_GL"})
    if proc.returncode == 2 and "offscreen rendering failed" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr
    with Image.open(gif) as im:
        assert im.n_frames == 300 and im.size == (480, 480)


def test_train_help_lists_every_config_field_with_its_documentation(capsys, monkeypatch):
    """The flags come from the dataclass fields' metadata, not from the source text: the parser
    builds with inspect.getsource broken (as where only .pyc files are installed)."""
    import dataclasses
    import inspect

    from refimpl.engine.config import Config

    def no_source(obj):
        raise OSError("could not get source code")
    monkeypatch.setattr(inspect, "getsource", no_source)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse rewraps the help text
    for f in dataclasses.fields(Config):
        assert "--" + f.name.replace("_", "-") in text, f.name
        assert "".join(f.metadata["doc"].split()) in text, f.name


def test_train_flag_names_are_unchanged(capsys):
    """Scripts and the numerics check call these flags; renaming one breaks them."""
    import re

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", capsys.readouterr().out))
    assert flags == {
        "--help", "--algo", "--env", "--steps", "--seed", "--num-envs", "--vector", "--horizon",
        "--hidden", "--critic-hidden", "--init", "--reward-clip", "--grad-clip-scope",
        "--vf-coef", "--anneal-clip", "--no-anneal-clip", "--delta-final",
        "--activation", "--log-std-init", "--gamma", "--lam", "--norm-obs", "--no-norm-obs",
        "--obs-clip", "--norm-reward", "--no-norm-reward", "--norm-adv", "--no-norm-adv",
        "--clip-actions", "--no-clip-actions", "--vf-lr", "--vf-epochs", "--vf-minibatch",
        "--vf-clip", "--max-grad-norm", "--adam-eps", "--lr", "--anneal-lr", "--no-anneal-lr",
        "--epochs", "--minibatch", "--clip-eps", "--ent-coef", "--target-kl", "--delta",
        "--cg-iters", "--damping", "--fvp-fraction", "--backtrack-alpha", "--backtrack-iters", "--npg-step",
        "--npg-alpha", "--eval-every", "--eval-episodes", "--eval-process", "--no-eval-process",
        "--critic-process", "--no-critic-process", "--checkpoint-every", "--preset",
        "--out", "--resume", "--no-progress", "--tensorboard"}


CARTPOLE = ["--env", "CartPole-v1", "--no-critic-process"]  # PPO's batch there: 8 x 32 = 256


def _cartpole_policy(tmp_path, capsys):
    out = tmp_path / "cartpole"
    assert main(["train", *CARTPOLE, "--steps", "256", "--eval-every", "0", "--out", str(out),
                 "--no-progress"]) == 0
    capsys.readouterr()
    return out / "checkpoints" / "final.npz"


def test_eval_acts_with_the_policys_mode_by_default(tmp_path, capsys):
    """``refimpl eval``'s default is the protocol of eval.csv and the results: the policy's mode.
    The oracle plays the episodes here with gymnasium alone, acting with the argmax of the
    saved policy's logits (CartPole's settings keep observations unnormalised), reset seeds
    10000, 10001 (eval's --seed); the printed mean is compared as printed (one decimal)."""
    from refimpl.engine.evaluate import SavedPolicy

    ckpt = _cartpole_policy(tmp_path, capsys)
    saved = SavedPolicy.load(ckpt)
    assert saved.obs_rms is None
    env, returns = gym.make("CartPole-v1"), []
    for seed in (10_000, 10_001):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            (logits,), _ = saved.policy.dist_params(saved.phi, np.asarray(obs, float)[None])
            obs, r, term, trunc, _ = env.step(int(np.argmax(logits[0])))
            total, done = total + r, term or trunc
        returns.append(total)
    expected = f"{np.mean(returns):.1f} ± {np.std(returns):.1f}"
    for flags in ([], ["--deterministic"]):
        assert main(["eval", str(ckpt), "--episodes", "2", *flags]) == 0
        out = capsys.readouterr().out
        assert out.startswith("return over 2 deterministic episodes (the policy's mode") \
            and out.rstrip().endswith(expected), out
    assert main(["eval", str(ckpt), "--episodes", "2", "--stochastic"]) == 0
    assert capsys.readouterr().out.startswith("return over 2 stochastic episodes (actions "
                                              "sampled")
    with pytest.raises(SystemExit) as e:
        main(["eval", str(ckpt), "--deterministic", "--stochastic"])
    assert e.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_train_ends_with_the_final_evaluation_and_the_learning_curve(tmp_path, capsys):
    """The evaluation of the last update runs in its own process and ends after the last
    update: the closing line and the progress bar's last frame still give its mean return
    (eval.csv's last row, read here with the csv module), and the line names the learning
    curve, which exists."""
    import csv

    out = tmp_path / "run"
    assert main(["train", *CARTPOLE, "--steps", "256", "--eval-every", "256", "--out",
                 str(out)]) == 0
    captured = capsys.readouterr()
    with (out / "eval.csv").open() as f:
        last = list(csv.DictReader(f))[-1]
    mean, std = float(last["mean"]), float(last["std"])
    line = captured.out.strip()
    assert len(line.splitlines()) == 1, line
    assert f"final evaluation (step 256, 10 episodes of the policy's mode): {mean:.1f} ± " \
           f"{std:.1f}" in line, line
    assert line.endswith(f"learning curve {out / 'learning_curve.png'}"), line
    assert (out / "learning_curve.png").stat().st_size > 0
    frames = [f for f in captured.err.replace("\n", "\r").split("\r") if "step/s" in f]
    assert f"eval={mean:.0f}]" in frames[-1], frames[-1]


def test_steps_below_one_batch_train_one_batch_and_say_so(tmp_path, capsys):
    import csv

    out = tmp_path / "run"
    assert main(["train", *CARTPOLE, "--steps", "100", "--eval-every", "0", "--out", str(out),
                 "--no-progress"]) == 0
    err = capsys.readouterr().err.strip()
    assert err == ("refimpl: note: --steps 100 is less than one batch (--horizon 32 x "
                   "--num-envs 8 = 256 steps); training one batch of 256 steps"), err
    with (out / "progress.csv").open() as f:
        assert [int(r["env_steps"]) for r in csv.DictReader(f)] == [256]


def _subparser(name):
    from refimpl.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if hasattr(a, "choices") and a.choices
              and name in a.choices]
    return sub.choices[name]


def test_eval_and_sweep_help_describe_every_flag_and_sweep_gives_its_defaults():
    """Every flag of ``eval`` and ``sweep`` has a help text; each of sweep's ends with its
    default, written as the flag takes it (the seeds as a range, the algorithms and paths as
    typed)."""
    for name in ("eval", "sweep"):
        for action in _subparser(name)._actions:
            assert action.help and action.help.strip(), (name, action.option_strings)
    defaults = {"--algo": "ppo trpo npg", "--seeds": "0-4", "--steps": "1000000",
                "--env": "HalfCheetah-v5", "--preset": "default",
                "--out": "results/halfcheetah-v5", "--eval-episodes": "10"}
    for action in _subparser("sweep")._actions:
        if action.option_strings == ["-h", "--help"]:
            continue
        flag = action.option_strings[0]
        assert "(default: " in action.help or "; default: " in action.help, flag
        if flag in defaults:
            assert action.help.endswith(f"(default: {defaults[flag]})"), (flag, action.help)
    episodes = next(a for a in _subparser("eval")._actions if "--episodes" in a.option_strings)
    assert "(default: 10)" in episodes.help


def test_crosscheck_usage_shows_its_three_forms(capsys):
    with pytest.raises(SystemExit):
        main(["crosscheck", "--help"])
    text = capsys.readouterr().out
    lines = [line.strip() for line in text.split("\n\n")[0].splitlines()]
    assert lines[0] == "usage: refimpl crosscheck IN.npz OUT.npz"
    forms = [line for line in lines if line.startswith("refimpl crosscheck")]
    assert [f.split()[2] for f in forms] == ["--make-example", "compare"], lines
    assert forms[1].startswith("refimpl crosscheck compare IN.npz THEIRS.npz"), forms
    assert "[compare]" not in text and "OUT.npz | IN.npz" not in text


def test_former_preset_name_paper_is_accepted_as_default(capsys):
    """config.json files of earlier runs say preset "paper", and the --preset help says the name
    still reads as 'default': so do train's and sweep's --preset."""
    from refimpl.cli import build_parser

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "'paper' reads as 'default'" in " ".join(capsys.readouterr().out.split())
    parser = build_parser()
    assert parser.parse_args(["train", "--preset", "paper"]).preset == "default"
    assert parser.parse_args(["sweep", "--preset", "paper"]).preset == "default"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--preset", "papers"])


@pytest.mark.parametrize("words, widths", [(["8", "4"], (8, 4)), (["none"], None), ([], ()),
                                           (None, None)])
def test_critic_hidden_flag_takes_widths_none_or_nothing(monkeypatch, capsys, words, widths):
    """--critic-hidden 8 4 gives the critic widths (8, 4); --critic-hidden none (or no flag) the
    policy's widths, None; --critic-hidden alone no hidden layer, (): the Config handed to
    training, read without training."""
    import types

    import refimpl.engine.trainer as trainer
    given = []

    def fake_train(cfg, out, resume=False, progress=True, **options):
        given.append(cfg)
        return types.SimpleNamespace(env_steps=0, wall_time=0.0, out=out, cfg=cfg)
    monkeypatch.setattr(trainer, "train", fake_train)
    flags = [] if words is None else ["--critic-hidden", *words]
    assert main(["train", "--hidden", "16", *flags, "--no-progress"]) == 0
    assert given[0].critic_hidden == widths and given[0].hidden == (16,)
    assert given[0].agent_spec().critic_widths == ((16,) if widths is None else widths)
