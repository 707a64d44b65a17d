"""Environment steps each seed needs to reach a mean episode return, for the step budgets of the
learning tests (tests/algos/test_learning.py).

Trains ``--algo`` on ``--env`` from the environment's documented defaults
(``presets.ENV_DEFAULTS``) for seeds 0..N-1 and prints, per seed, the env steps after the first
update whose progress.csv ``ep_return`` (the mean of the last 20 finished episodes) reaches
``--threshold``, and the wall time it took; then the maximum over the seeds. Run:
``python benchmarks/steps_to_threshold.py --algo ppo --env CartPole-v1 --seeds 10``.
"""
import argparse
import tempfile
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from refimpl.engine.config import Config
from refimpl.engine.trainer import Run


def steps_to(algo: str, env: str, seed: int, threshold: float, limit: int) -> tuple[int, float]:
    """(env steps, seconds) until the mean return of the last 20 episodes reaches ``threshold``;
    (-1, seconds) if ``limit`` steps do not suffice."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(Config.for_algo(algo, env=env, seed=seed, steps=limit), Path(tmp) / "run")
        start = time.perf_counter()
        try:
            while run.update < run.num_updates:
                if run.step()["ep_return"] >= threshold:
                    return run.env_steps, time.perf_counter() - start
        finally:
            run.close()
    return -1, time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algo", default="ppo")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--threshold", type=float, default=195.0)
    p.add_argument("--limit", type=int, default=200_000)
    args = p.parse_args()
    threadpool_limits(1, user_api="blas")  # as refimpl train does
    found = []
    for seed in range(args.seeds):
        steps, seconds = steps_to(args.algo, args.env, seed, args.threshold, args.limit)
        found.append(steps)
        print(f"{args.algo} {args.env} seed {seed}: {steps} steps, {seconds:.1f} s", flush=True)
    reached = [s for s in found if s >= 0]
    print(f"max over the {len(reached)} of {len(found)} seeds that reached {args.threshold}: "
          f"{max(reached) if reached else None} steps")


if __name__ == "__main__":
    main()
