"""Whether the critic process pays in a sweep that already runs as many runs as there are cores.

    python benchmarks/bench_sweep_critic_process.py [--env Walker2d-v5] [--algos ppo trpo]
                                                    [--steps 100000] [--workers 2] [--rounds 2]

Each round runs, per algorithm, ``refimpl sweep --preset tianshou`` over seeds 0..workers-1
twice into a fresh directory, with ``--set critic_process=true`` and ``=false`` in alternating
order, and prints the wall time of each sweep (training and the final evaluations) and the
ratio of the speeds, on / off (the wall time off / on), so a ratio above 1 means the critic
process is faster. The last lines give each algorithm's median ratio and its range over the
rounds. Both settings compute the same numbers (tests/engine/test_critic_process.py); only the time
differs.
"""
import argparse
import subprocess
import sys
import tempfile
import time

from bench_train import on_off_rounds
from refimpl.engine.config import ALGOS


def sweep_seconds(env: str, algo: str, steps: int, workers: int, critic_process: bool) -> float:
    """Wall time of one ``refimpl sweep`` of ``workers`` seeds into a fresh directory."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "refimpl.cli", "sweep", "--env", env, "--preset", "tianshou",
               "--algo", algo, "--seeds", f"0-{workers - 1}", "--steps", str(steps),
               "--out", out, "--workers", str(workers),
               "--set", f"critic_process={str(critic_process).lower()}"]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="Walker2d-v5")
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=["ppo", "trpo"])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")

    def speed(round_, algo, on):
        wall = sweep_seconds(args.env, algo, args.steps, args.workers, on)
        print(f"round {round_ + 1} {algo:>5} critic process {'on ' if on else 'off'}: "
              f"{wall:.1f} s", flush=True)
        return 1 / wall

    on_off_rounds(args.rounds, args.algos, speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
