"""Instructions executed by a short training run at two commits, counted by valgrind's callgrind.

    python benchmarks/bench_instructions.py REV_A REV_B [--algos ppo trpo] [--steps 4096]

Wall-clock timings on a shared machine drift by tens of percent within minutes; the number of
instructions a deterministic run executes does not depend on what else the machine is doing
(the same total twice, with the other core loaded). So a change that must not cost speed, such
as moving code between modules, is measured here as the ratio of instruction counts of the same
``refimpl train`` at both commits: one process (no critic or evaluation process, no
evaluations), one BLAS thread. The counts include the interpreter's start-up and imports, the
same work at both commits. Needs valgrind (Debian's package) and runs each training about 50
times slower than natively, the two commits side by side on two cores.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def count(tree: Path, algo: str, steps: int, work: Path) -> subprocess.Popen:
    """Start callgrind on ``refimpl train`` from ``tree``; its total goes to work/ALGO.out."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    python = os.path.realpath(sys.executable)  # not a shim script, or callgrind counts the shim
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work / algo}.out", python,
            "-m", "refimpl.cli", "train", "--algo", algo, "--steps", str(steps), "--out",
            str(work / f"run-{algo}"), "--no-progress", "--no-critic-process",
            "--no-eval-process", "--eval-every", "0"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def total(out: Path) -> int:
    """The instruction total of a callgrind output file."""
    return int(re.search(r"^summary: (\d+)", out.read_text(), re.M).group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("revs", nargs=2, metavar="REV")
    p.add_argument("--algos", nargs="+", default=["ppo", "trpo"])
    p.add_argument("--steps", type=int, default=4096)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = [Path(tmp) / f"tree{i}" for i in range(2)]
        for tree, rev in zip(trees, args.revs):
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q",
                            str(tree), rev], check=True)
        try:
            for algo in args.algos:
                works = [tree.with_name(tree.name + "-out") for tree in trees]
                for w in works:
                    w.mkdir(exist_ok=True)
                procs = [count(t, algo, args.steps, w) for t, w in zip(trees, works)]
                if any(proc.wait() for proc in procs):
                    raise SystemExit(f"{algo}: a training under callgrind failed")
                a, b = (total(w / f"{algo}.out") for w in works)
                print(f"{algo} {args.steps} steps: {args.revs[0]} {a:,}  {args.revs[1]} {b:,}  "
                      f"ratio {b / a:.5f}")
        finally:
            for tree in trees:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                                str(tree)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
