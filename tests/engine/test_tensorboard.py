"""``--tensorboard DIR`` (refimpl/engine/tensorboard.py): every cell of progress.csv and eval.csv
is a TensorBoard scalar under Stable-Baselines3's name where SB3 has one, at step env_steps;
read back with tests/support/tfevents.py, a reader written from the file format, not
tensorboardX's. The tests that write need the ``tensorboard`` extra (tensorboardX) and are
skipped, saying so, without it; CI installs it and runs them (.ci/run). Without the extra the
flag is refused in one line."""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refimpl.cli import main
from support import tfevents

LQ = ["--env", "refimpl/LQ-Lecture-v0", "--horizon", "200", "--hidden", "--no-norm-obs",
      "--epochs", "1", "--vf-epochs", "1", "--eval-every", "200", "--eval-episodes", "2",
      "--no-eval-process", "--no-critic-process", "--no-progress"]

SB3_NAMES = {"update": "time/iterations", "wall_time": "time/time_elapsed", "sps": "time/fps",
             "ep_return": "rollout/ep_rew_mean", "ep_length": "rollout/ep_len_mean",
             "value_loss": "train/value_loss", "entropy": "train/entropy_loss",
             "approx_kl": "train/approx_kl", "clip_fraction": "train/clip_fraction",
             "explained_variance": "train/explained_variance",
             "accepted": "train/is_line_search_success"}
"""progress.csv columns whose quantity SB3 (or sb3-contrib's TRPO) logs, and SB3's names;
eval.csv's mean is EvalCallback's eval/mean_reward, PPO's policy_loss SB3's
train/policy_gradient_loss."""


@pytest.fixture
def tensorboardx():
    return pytest.importorskip("tensorboardX", reason="the 'tensorboard' extra is not installed: "
                               "pip install -e '.[tensorboard]' (CI runs these tests)")


def _expected(run_dir: Path, algo: str) -> dict[str, list[tuple[int, float]]]:
    """Every non-empty cell of the run's logs as (step, float32 value) under its tag."""
    out: dict[str, list[tuple[int, float]]] = {}
    for name in ("progress.csv", "eval.csv"):
        with (run_dir / name).open() as f:
            for row in csv.DictReader(f):
                for column, cell in row.items():
                    if column == "env_steps" or cell == "":
                        continue
                    if name == "eval.csv":
                        tag = "eval/mean_reward" if column == "mean" else f"refimpl/eval_{column}"
                    elif column == "policy_loss" and algo == "ppo":
                        tag = "train/policy_gradient_loss"
                    else:
                        tag = SB3_NAMES.get(column, f"refimpl/{column}")
                    value = -float(cell) if column == "entropy" and name == "progress.csv" \
                        else float(cell)
                    # TensorBoard's simple_value is a 32-bit float
                    out.setdefault(tag, []).append((int(row["env_steps"]),
                                                    float(np.float32(value))))
    return out


def _same(seen: dict, expected: dict) -> None:
    assert set(seen) == set(expected), set(seen) ^ set(expected)
    for tag in expected:  # NaN (no episode finished yet) equals NaN
        assert sorted(seen[tag]) == sorted(expected[tag]) or \
            np.array_equal(np.array(sorted(seen[tag])), np.array(sorted(expected[tag])),
                           equal_nan=True), tag


@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_event_file_holds_every_logged_cell_at_its_env_steps(algo, tmp_path, tensorboardx):
    out, tb = tmp_path / "run", tmp_path / "tb"
    assert main(["train", "--algo", algo, "--steps", "400", *LQ, "--out", str(out),
                 "--tensorboard", str(tb)]) == 0
    assert len(list(tb.glob("events.out.tfevents.*"))) == 1
    expected = _expected(out, algo)
    assert {"train/approx_kl", "train/policy_gradient_loss"} <= set(expected) if algo == "ppo" \
        else {"train/is_line_search_success", "refimpl/cg_iters"} <= set(expected)
    _same(tfevents.scalars(tb), expected)


def test_the_sb3_names_are_those_sb3_logs(tensorboardx):
    """Each SB3-style tag refimpl writes is logged by Stable-Baselines3 or sb3-contrib: found as
    ``logger.record("TAG"`` in their installed source (the ``peers`` extra, installed by CI
    before this step)."""
    pytest.importorskip("stable_baselines3", reason="the 'peers' extra is not installed")
    sb3_contrib = pytest.importorskip("sb3_contrib", reason="the 'peers' extra is not installed")
    import stable_baselines3

    from refimpl.engine.tensorboard import TAGS

    source = "".join(p.read_text() for pkg in (stable_baselines3, sb3_contrib)
                     for p in Path(pkg.__file__).parent.rglob("*.py"))
    ours = {t for tags in TAGS.values() for t in tags.values() if not t.startswith("refimpl/")}
    ours.add("train/policy_gradient_loss")
    assert ours >= set(SB3_NAMES.values()) | {"eval/mean_reward"}
    for tag in ours:
        assert f'logger.record("{tag}"' in source, tag


def test_resumed_run_hides_the_redone_updates_and_fills_a_new_directory(tmp_path, tensorboardx):
    """A run stopped after its checkpoint of update 1 with update 2's rows already logged (as
    after a crash), then resumed: TensorBoard's view (with its purge) equals the logs, each
    step once. The same run resumed with --tensorboard given only then gets every row, the
    ones from before the resume too."""
    from refimpl.engine.config import Config
    from refimpl.engine.trainer import Run

    cfg = Config.for_algo("ppo", env="refimpl/LQ-Lecture-v0", steps=800, horizon=200, hidden=(),
                          norm_obs=False, epochs=1, vf_epochs=1, eval_every=200, eval_episodes=2,
                          eval_process=False, critic_process=False)
    out, tb = tmp_path / "run", tmp_path / "tb"
    run = Run(cfg, out, tensorboard=tb)
    run.record(run.step())
    row = run.step()
    run.append_progress(row)  # logged, but the checkpoint stays at update 1
    run.append_eval(run.evaluate())
    run.close()
    shutil.copytree(out, tmp_path / "copy")
    assert [s for s, _ in tfevents.scalars(tb)["time/iterations"]] == [200, 400]

    assert main(["train", "--resume", str(out), "--no-progress", "--tensorboard", str(tb)]) == 0
    seen = tfevents.scalars(tb)
    assert [s for s, _ in seen["time/iterations"]] == [200, 400, 600, 800]
    _same(seen, _expected(out, "ppo"))

    fresh = tmp_path / "tb-fresh"
    assert main(["train", "--resume", str(tmp_path / "copy"), "--no-progress",
                 "--tensorboard", str(fresh)]) == 0
    _same(tfevents.scalars(fresh), _expected(tmp_path / "copy", "ppo"))


def test_a_new_event_file_sorts_after_the_files_already_there(tmp_path, tensorboardx):
    """tensorboardX names an event file after the second it was opened and the host, and
    TensorBoard reads them in name order: a file already there, named after the next second
    (or this one: a resume within the second its run started), is neither overwritten nor read
    after the new one."""
    import time

    from refimpl.engine.tensorboard import TensorBoardLog

    last = f"events.out.tfevents.{int(time.time()) + 1:010d}.zzzz.99999.9"
    (tmp_path / last).write_bytes(b"")
    log = TensorBoardLog(tmp_path, tmp_path / "run", "ppo", purge_step=1)
    log.write("eval.csv", {"update": 1, "env_steps": 200, "mean": -3.0, "std": 0.5,
                           "min": -4.0, "max": -2.5, "wall_time": 0.1})
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == last and len(names) == 2
    assert tfevents.scalars(tmp_path)["eval/mean_reward"] == [(200, -3.0)]


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_event_file(tmp_path,
                                                                          monkeypatch, capsys,
                                                                          tensorboardx):
    from refimpl.engine import checkpoint

    def full_disk(path, arrays):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(checkpoint, "save", full_disk)  # the first checkpoint, after a row
    out, tb = tmp_path / "run", tmp_path / "logs" / "tb"
    assert main(["train", "--steps", "200", *LQ, "--out", str(out), "--tensorboard",
                 str(tb)]) == 2
    assert "No space left" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sweep_writes_one_directory_per_run(tmp_path, tensorboardx):
    out, tb = tmp_path / "sweep", tmp_path / "tb"
    assert main(["sweep", "--algo", "ppo", "--seeds", "0-1", "--workers", "1", "--out", str(out),
                 "--env", "refimpl/LQ-Lecture-v0", "--steps", "200", "--eval-episodes", "2",
                 "--set", "horizon=200", "hidden=[]", "norm_obs=false", "epochs=1",
                 "vf_epochs=1", "eval_every=200", "--tensorboard", str(tb)]) == 0
    assert sorted(p.name for p in tb.iterdir()) == ["ppo-s0", "ppo-s1"]
    for name in ("ppo-s0", "ppo-s1"):
        _same(tfevents.scalars(tb / name), _expected(out / name, "ppo"))


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_without_the_extra_the_flag_is_one_line_and_writes_nothing(command, tmp_path,
                                                                   monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import tensorboardX fails
    out, tb = tmp_path / "out", tmp_path / "tb"
    argv = {"train": ["train", "--steps", "200", *LQ, "--out", str(out)],
            "sweep": ["sweep", "--algo", "ppo", "--seeds", "0", "--env",
                      "refimpl/LQ-Lecture-v0", "--out", str(out)]}[command]
    assert main([*argv, "--tensorboard", str(tb)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("refimpl: error: --tensorboard needs tensorboardX, which is not installed: "
                   "pip install 'refimpl[tensorboard]' (tensorboardX)"), err
    assert list(tmp_path.iterdir()) == []


def test_refimpl_imports_tensorboardx_only_for_the_flag():
    code = ("import sys, refimpl.cli, refimpl.engine.trainer, refimpl.engine.sweep, "
            "refimpl.engine.tensorboard; assert 'tensorboardX' not in sys.modules, 'imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
