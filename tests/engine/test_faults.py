"""Fault injection: a training process killed at a random point (``kill -9``) or interrupted
(Ctrl-C, SIGINT) and then continued as its message says ends exactly where an uninterrupted
run ends: the same progress.csv and eval.csv rows (without the timing columns) and the same final
parameters, bit for bit. The kill point is drawn from a seeded generator: the number of
finished updates to wait for (0: right after config.json appears), plus a delay of up to
0.1 s, so the signal also lands between an update's progress row and its checkpoint."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from refimpl.engine import checkpoint
from refimpl.cli import main
from refimpl.engine.logs import TIMING_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
UPDATES, KILL_WITHIN = 40, 10
"""Updates of the run, and the first updates among which the signal lands: the 30 or more that
follow take far longer than the signal's delay of at most 0.1 s even on a fast, idle machine
(an update of 128 steps takes some 30 ms), so the run never finishes before it is signalled."""
EVAL_EVERY = 640
ARGS = ["--steps", str(UPDATES * 128), "--horizon", "128", "--epochs", "2", "--vf-epochs", "2",
        "--eval-every", str(EVAL_EVERY), "--eval-episodes", "1", "--no-progress"]


def _rows(out, name="progress.csv"):
    with (out / name).open() as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


def _finished_updates(out) -> int:
    """Rows of progress.csv so far; -1 while config.json does not exist yet."""
    if not (out / "config.json").exists():
        return -1
    try:
        return max(0, len((out / "progress.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def _signalled(out, sig, wait_for: int, delay: float) -> subprocess.CompletedProcess:
    """Start ``refimpl train`` in a subprocess, send ``sig`` once ``wait_for`` updates have
    finished and ``delay`` seconds have passed, and return how it ended."""
    # SIGINT back to its default in the child: a shell starts background jobs with SIGINT
    # ignored, and Python keeps an ignored SIGINT ignored, so under `cmd &` Ctrl-C would not reach
    # the training process at all
    proc = subprocess.Popen([sys.executable, "-m", "refimpl.cli", "train", "--out", str(out),
                             *ARGS], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while _finished_updates(out) < wait_for:
        assert proc.poll() is None, f"training ended before the signal: {proc.communicate()}"
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "full"
    assert main(["train", "--out", str(out), *ARGS]) == 0
    return out


@pytest.mark.parametrize("sig, seed", [(signal.SIGKILL, 1), (signal.SIGINT, 2)])
def test_signalled_run_continued_equals_uninterrupted_run(uninterrupted, tmp_path, sig, seed):
    rng = np.random.default_rng(seed)
    wait_for, delay = int(rng.integers(0, KILL_WITHIN)), float(rng.uniform(0.0, 0.1))
    out = tmp_path / "run"
    ended = _signalled(out, sig, wait_for, delay)
    latest = out / "checkpoints" / "latest.npz"
    if sig == signal.SIGKILL:
        assert ended.returncode == -signal.SIGKILL
        argv = ["train", "--resume", str(out), "--no-progress"]
    else:
        assert ended.returncode == 130, ended.stderr
        line = ended.stderr.strip().splitlines()[-1]
        if latest.exists():
            assert line.endswith(f"continue with: refimpl train --resume {out}"), line
            argv = ["train", "--resume", str(out), "--no-progress"]
        else:  # interrupted in update 1: nothing kept, the same command starts again
            assert line.endswith("nothing was kept; run the command again") and not out.exists()
            argv = ["train", "--out", str(out), *ARGS]
    assert main(argv) == 0
    assert _rows(out) == _rows(uninterrupted)
    assert _rows(out, "eval.csv") == _rows(uninterrupted, "eval.csv")
    assert len(_rows(out, "eval.csv")) == UPDATES * 128 // EVAL_EVERY
    a = checkpoint.load(out / "checkpoints" / "final.npz")
    b = checkpoint.load(uninterrupted / "checkpoints" / "final.npz")
    for key in ("phi", "theta_v", "pi_opt/m", "v_opt/v"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not list(out.glob("**/.*.tmp"))


# ---- one writer per run directory, and Ctrl-C on a sweep

def _start(argv: list[str], **popen) -> subprocess.Popen:
    """``python -m refimpl.cli ARGV`` with SIGINT at its default (see ``_signalled``)."""
    return subprocess.Popen([sys.executable, "-m", "refimpl.cli", *argv],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            **popen)


def _wait_for(condition, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert proc.poll() is None, f"ended before the test was ready: {proc.communicate()}"
        assert time.monotonic() < deadline, "made no progress"
        time.sleep(0.002)


def test_a_second_writer_is_refused_naming_the_first_and_a_killed_run_resumes(
        uninterrupted, tmp_path, capsys):
    """While a run trains (held still by SIGSTOP, so that it cannot finish first), a second
    ``train --out`` or ``--resume`` of its directory exits 2 in one line naming the first
    process's PID and writes nothing; once the first is killed (SIGKILL: the kernel releases its
    lock, its lock file stays), ``--resume`` continues it to the uninterrupted run's rows."""
    out = tmp_path / "run"
    first = _start(["train", "--out", str(out), *ARGS])
    try:
        _wait_for(lambda: _finished_updates(out) >= 1, first)
        first.send_signal(signal.SIGSTOP)
        before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        for argv in (["train", "--out", str(out), *ARGS],
                     ["train", "--resume", str(out), "--no-progress"]):
            capsys.readouterr()
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
            assert f"in use by another refimpl process (PID {first.pid})" in err, err
        assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    finally:
        first.kill()
        first.communicate(timeout=120)
    from refimpl.engine.lock import LOCK
    assert (out / LOCK).read_text().strip() == str(first.pid)  # left behind, no longer locked
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert _rows(out) == _rows(uninterrupted)
    assert _rows(out, "eval.csv") == _rows(uninterrupted, "eval.csv")
    assert not (out / LOCK).exists()  # a run that ends removes its lock file


SWEEP = ["sweep", "--algo", "ppo", "trpo", "--seeds", "0-1", "--workers", "2",
         "--env", "refimpl/LQ-Lecture-v0", "--steps", "2000", "--eval-episodes", "2",
         "--set", "horizon=200", "hidden=[]", "norm_obs=false", "epochs=1", "vf_epochs=1",
         "eval_every=1000", "critic_process=false", "eval_process=false"]
"""Four runs of 10 short updates on two workers: the first two are training, the other two
waiting, when the signal lands."""


@pytest.mark.parametrize("to", ["process group", "sweep process"])
def test_interrupted_sweep_exits_130_in_one_line_naming_the_command_that_continues_it(
        tmp_path, capsys, to):
    """Ctrl-C (SIGINT to the terminal's process group: the sweep and its workers) or SIGINT to
    the sweep process alone, once a run has its first checkpoint: exit status 130, one line on
    stderr (no worker's traceback) ending with the command that continues the sweep, which
    then finishes every run."""
    import shlex

    out = tmp_path / "sweep"
    argv = [*SWEEP, "--out", str(out)]
    proc = _start(argv, start_new_session=True)
    _wait_for(lambda: any(out.glob("*/checkpoints/latest.npz")), proc)
    if to == "process group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    line = err.strip()
    assert line.startswith("refimpl: interrupted;"), line
    command = line.split("continue with: ")[1]
    assert command == shlex.join(["refimpl", *argv]), command
    assert not (out / "summary.csv").exists()
    assert main(shlex.split(command)[1:]) == 0
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["algo"], r["seed"], r["steps"]) for r in rows] == \
        [(a, s, "2000") for a in ("ppo", "trpo") for s in ("0", "1")]
    capsys.readouterr()


def test_a_helper_process_interrupted_as_it_starts_prints_nothing():
    """Ctrl-C reaches the whole process group, so also a helper process (an evaluation's, the
    critic fit's) that is still starting: SIGINT sent to the group right after it was started,
    while it imports, neither prints a traceback nor stops it, and it serves its request."""
    script = ("import os, signal\n"
              "from refimpl.engine.worker import ServedProcess\n"
              "signal.signal(signal.SIGINT, lambda *args: print('interrupted'))  # not ignored\n"
              "helper = ServedProcess('test', dict, ({'x': 1},), 'get')\n"
              "reply = helper.submit('x')\n"
              "os.killpg(0, signal.SIGINT)\n"
              "print(reply.result())\n"
              "helper.close()\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                          timeout=120)
    assert (proc.returncode, proc.stdout.split(), proc.stderr) == (0, ["interrupted", "1"], "")
