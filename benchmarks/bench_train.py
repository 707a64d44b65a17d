"""Training throughput as a ratio to raw environment stepping, measured in one process.

    python benchmarks/bench_train.py [--steps 20480] [--env HalfCheetah-v5] [--preset default]
                                     [--num-envs K] [--fvp-fraction F] [--algos ppo trpo ...]
                                     [--vector direct|sync|async] [--no-critic-process]
                                     [--env-only] [--profile N]

First steps the raw environment (``gymnasium.make``, random actions, reset at episode ends) to
get raw SPS, then the vector environment the collector uses (K copies, same-step autoreset, no
policy) for the ceiling that collection cannot pass, then trains each algorithm for the same
number of steps and prints its SPS, the ratio training/raw, and where the time went: collection
(step 1 of the lecture's loop) and the rest (advantages, the policy's update, and the part of
the critic's fit that collection does not hide), in microseconds per environment step. Ratios,
not absolute SPS, are comparable across machines and loads. ``--no-critic-process`` fits the
critic in the training process, after the policy's update, as the lecture orders it.

``--num-envs K`` runs every algorithm with K environments and horizon = (its default batch) / K,
so each update sees as many steps as with the defaults. Also printed: this core's float64
matrix-product rate at the update's shapes, and an estimate of the update's arithmetic per
environment step (multiply-adds of the forward and backward passes it runs), which bounds how
fast an update can be. Last, the peak resident memory of the process.

``--profile N`` then trains each algorithm once more under cProfile and prints the N functions
of most own time, in microseconds per environment step (cProfile's own cost inflates them, so
read them as shares). With the critic process the fit's time is in the other process; what
training waits for it shows as the pipe's ``recv``.
"""
import argparse
import cProfile
import pstats
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
from threadpoolctl import threadpool_limits

from refimpl.engine.config import ALGOS, VECTORS, Config
from refimpl.engine.presets import PRESETS
from refimpl.envs.rollout import make_envs
from refimpl.engine.trainer import Run


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


def vector_env_sps(env_id: str, num_envs: int, steps: int, vector: str = "direct",
                   seed: int = 0) -> float:
    """The collector's environments alone (autoreset included), random actions, no policy."""
    envs = make_envs(env_id, num_envs, vector)
    envs.reset(seed=[seed + i for i in range(num_envs)])
    space = envs.single_action_space
    space.seed(seed)
    actions = [np.stack([space.sample() for _ in range(num_envs)])
               for _ in range(steps // num_envs)]
    t0 = time.perf_counter()
    for a in actions:
        envs.step(a)
    elapsed = time.perf_counter() - t0
    envs.close()
    return len(actions) * num_envs / elapsed


def matmul_gflops(rows: int = 64, width: int = 64, repeats: int = 20000) -> float:
    """float64 rate of (rows x width) @ (width x width), the update's dominant product."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((rows, width)), rng.standard_normal((width, width))
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * rows * width * width * repeats / (time.perf_counter() - t0) / 1e9


def update_flops_per_step(cfg: Config, obs_dim: int, act_dim: int) -> float:
    """Multiply-adds x 2 of the update's network passes, per environment step (an estimate:
    matrix products only). A pass over one row costs 2 W for the forward pass, 2 W for the
    weight gradient and 2 (W - W_1) for the input gradients below the top layer, with W the
    network's weight count and W_1 its first layer's; a Fisher-vector product is a JVP (4 W)
    and a VJP."""
    def weights(sizes):
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:])), sizes[0] * sizes[1]

    pw, pw1 = weights((obs_dim, *cfg.hidden, act_dim))
    vw, vw1 = weights((obs_dim, *cfg.hidden, 1))
    train_pi, train_v = 2 * pw + 2 * pw + 2 * (pw - pw1), 2 * vw + 2 * vw + 2 * (vw - vw1)
    critic = cfg.vf_epochs * train_v
    if cfg.algo == "ppo":
        return cfg.epochs * train_pi + critic
    if cfg.algo == "vpg":
        return train_pi + critic
    fvp = 4 * pw + 2 * pw + 2 * (pw - pw1)
    return train_pi + cfg.cg_iters * cfg.fvp_fraction * fvp + critic


def train_timings(cfg: Config) -> tuple[float, float, float]:
    """(SPS, collection us/step, update us/step) of one training run of ``cfg.steps``, trained
    as ``refimpl train`` trains (each critic fit running while the next batch is collected) and
    timed as progress.csv's wall_time is (without the progress rows, evaluations and
    checkpoints); the update's share is everything besides collecting, so a critic fit that
    collection hides costs it nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(cfg, Path(tmp) / cfg.algo)
        collect, collector = 0.0, run.collector

        def timed_collect(*args):
            nonlocal collect
            t0 = time.perf_counter()
            batch = type(collector).collect(collector, *args)
            collect += time.perf_counter() - t0
            return batch
        collector.collect = timed_collect
        while run.update < run.num_updates:
            run.step(overlap=True)
        run.finish()
        run.close()
        n, total = run.env_steps, run.wall_time
        return n / total, collect / n * 1e6, (total - collect) / n * 1e6


def median_and_range(name: str, ratios: list[float], digits: int = 2) -> str:
    """``name: median M over R rounds (range lo-hi)`` of ratios measured in alternating rounds."""
    m, lo, hi = (f"{r:.{digits}f}" for r in (statistics.median(ratios), min(ratios), max(ratios)))
    return f"{name}: median {m} over {len(ratios)} rounds (range {lo}-{hi})"


def on_off_rounds(rounds: int, algos: list[str], speed) -> None:
    """Per round and algorithm, ``speed(round_, algo, on)`` for a setting on and off, the one
    that goes first alternating between rounds so that both see the machine's drift alike;
    prints each round's on / off ratio of the two speeds, then each algorithm's median and
    range over the rounds (``median_and_range``)."""
    ratios: dict[str, list[float]] = {algo: [] for algo in algos}
    for round_ in range(rounds):
        for algo in algos:
            order = (True, False) if round_ % 2 == 0 else (False, True)
            measured = {on: speed(round_, algo, on) for on in order}
            ratios[algo].append(measured[True] / measured[False])
            print(f"round {round_ + 1} {algo:>5} on / off: {ratios[algo][-1]:.2f}", flush=True)
    for algo, r in ratios.items():
        print(median_and_range(f"{algo} on / off", r))


def print_profile(cfg: Config, top: int) -> None:
    """Train ``cfg`` under cProfile; print its ``top`` functions by own time per env step."""
    profile = cProfile.Profile()
    profile.runcall(train_timings, cfg)
    entries = sorted(pstats.Stats(profile).stats.items(), key=lambda e: -e[1][2])[:top]
    batch = cfg.horizon * cfg.num_envs
    steps = -(-cfg.steps // batch) * batch  # whole updates
    print(f"{cfg.algo:>8}: cProfile, own time per environment step (calls per step)")
    for (path, line, name), (_, calls, own, _, _) in entries:
        where = f"{Path(path).parent.name}/{Path(path).name}:{line}" if line else path
        print(f"{own / steps * 1e6:14.1f} us ({calls / steps:5.2f})  {name}  {where}")


def bench_config(algo: str, args) -> Config:
    cfg = Config.for_algo(algo, args.preset, env=args.env, steps=args.steps)
    overrides = {}
    if args.num_envs is not None:
        batch = cfg.horizon * cfg.num_envs
        overrides.update(num_envs=args.num_envs, horizon=max(1, batch // args.num_envs))
    if args.fvp_fraction is not None and algo in ("trpo", "npg"):
        overrides.update(fvp_fraction=args.fvp_fraction)
    return Config.for_algo(algo, args.preset, env=args.env, steps=args.steps,
                           vector=args.vector, critic_process=args.critic_process, **overrides)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20480)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--preset", choices=PRESETS, default="default")
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--fvp-fraction", type=float, default=None)
    p.add_argument("--vector", choices=VECTORS, default="direct")
    p.add_argument("--critic-process", action=argparse.BooleanOptionalAction, default=True,
                   help="fit the critic in a process of its own during the next collection "
                        "(refimpl train's default)")
    p.add_argument("--env-only", action="store_true",
                   help="measure the environments alone, every --vector way, and stop")
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=list(ALGOS))
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="also profile each algorithm's training and print its top N functions")
    args = p.parse_args(argv)
    threadpool_limits(1, user_api="blas")
    raw = raw_sps(args.env, args.steps)
    print(f"{args.env}, {args.steps} steps, preset {args.preset}, numpy {np.__version__}")
    print(f"{'raw env':>8}: {raw:8.0f} SPS")
    print(f"float64 (64x64)@(64x64): {matmul_gflops():.0f} GFLOPS")
    configs = [bench_config(algo, args) for algo in args.algos]
    for k in sorted({c.num_envs for c in configs}):
        for vector in VECTORS if args.env_only else (args.vector,):
            sps = vector_env_sps(args.env, k, args.steps, vector)
            print(f"{vector:>6} envs, {k:2d} envs: {sps:8.0f} SPS   ratio to raw {sps / raw:.2f} "
                  "(the ceiling of collection)")
    if args.env_only:
        return 0
    env = gym.make(args.env)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    for cfg in configs:
        sps, collect, update = train_timings(cfg)
        mflop = update_flops_per_step(cfg, obs_dim, act_dim) / 1e6
        print(f"{cfg.algo:>8}: {sps:8.0f} SPS   ratio to raw {sps / raw:.2f}   "
              f"({cfg.num_envs} envs x {cfg.horizon}; per step: collection {collect:5.1f} us, "
              f"update {update:5.1f} us, ~{mflop:.2f} MFLOP)")
    for cfg in configs if args.profile else ():
        print_profile(cfg, args.profile)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
