"""What the critic process (``--critic-process``) gains, as alternating runs in one process.

    python benchmarks/bench_critic_process.py [--steps 40960] [--env HalfCheetah-v5]
                                              [--algos ppo trpo] [--num-envs K] [--rounds 3]

Each round trains every algorithm twice at its defaults (with ``--num-envs K``, K environments
and the default batch), once with the critic's fit in a process of its own during the next
collection and once in the training process, in alternating order, and prints the training SPS
of both, the time per environment step split into collection and the rest (as
``bench_train.py`` splits it), and their ratio. The last lines give each algorithm's median
ratio and its range over the rounds: the machine's speed drifts within minutes, and alternating
the two settings lets the ratio see the same drift.
"""
import argparse
import sys
from types import SimpleNamespace

from threadpoolctl import threadpool_limits

from bench_train import bench_config, on_off_rounds, train_timings
from refimpl.engine.config import ALGOS


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40960)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--algos", nargs="+", choices=ALGOS, default=["ppo", "trpo"])
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    threadpool_limits(1, user_api="blas")
    print(f"{args.env}, {args.steps} steps, {args.rounds} rounds")

    def sps(round_, algo, on):
        cfg = bench_config(algo, SimpleNamespace(
            env=args.env, steps=args.steps, preset="default", num_envs=args.num_envs,
            fvp_fraction=None, vector="direct", critic_process=on))
        measured, collect, rest = train_timings(cfg)
        print(f"round {round_ + 1} {algo:>5} critic process {'on ' if on else 'off'}: "
              f"{measured:6.0f} SPS ({cfg.num_envs} envs x {cfg.horizon}; per step: "
              f"collection {collect:5.1f} us, the rest {rest:5.1f} us)")
        return measured

    on_off_rounds(args.rounds, args.algos, sps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
