"""Training throughput as a ratio to raw environment stepping, measured in one process.

    python benchmarks/bench_train.py [--steps 20480] [--env HalfCheetah-v5] [--preset paper]

First steps the raw environment (``gymnasium.make``, random actions, reset at episode ends) to
get raw SPS, then trains each algorithm with its defaults for the same number of steps and
prints its SPS and the ratio training/raw. Ratios, not absolute SPS, are comparable across
machines and loads. Also prints the peak resident memory of the process.
"""
import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

from refimpl.config import ALGOS, PRESETS, Config
from refimpl.train import Run


def raw_sps(env_id: str, steps: int, seed: int = 0) -> float:
    env = gym.make(env_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(steps)]
    t0 = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def train_sps(algo: str, env_id: str, steps: int, preset: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config.for_algo(algo, preset, env=env_id, steps=steps)
        run = Run(cfg, Path(tmp) / algo)
        t0 = time.perf_counter()
        while run.update < run.num_updates:
            run.step()
        elapsed = time.perf_counter() - t0
        run.close()
        return run.env_steps / elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20480)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--preset", choices=PRESETS, default="paper")
    p.add_argument("--algos", nargs="+", default=list(ALGOS))
    args = p.parse_args(argv)
    threadpool_limits(1, user_api="blas")
    raw = raw_sps(args.env, args.steps)
    print(f"{args.env}, {args.steps} steps, preset {args.preset}, numpy {np.__version__}")
    print(f"{'raw env':>8}: {raw:8.0f} SPS")
    for algo in args.algos:
        sps = train_sps(algo, args.env, args.steps, args.preset)
        print(f"{algo:>8}: {sps:8.0f} SPS   ratio to raw {sps / raw:.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
