"""Stable-Baselines3's PPO beside refimpl's, as ratios to raw environment stepping, in one process.

    pip install stable-baselines3     # brings PyTorch; not a dependency of refimpl
    python benchmarks/bench_peers.py [--steps 20480] [--env HalfCheetah-v5] [--torch-threads 1]

Both train PPO with the PPO paper's MuJoCo settings, which are also SB3's defaults (2,048 steps
per update, 10 epochs of minibatches of 64, separate 64-64 tanh policy and value networks), with
observation and reward normalisation, one environment, on one core (one BLAS thread;
``--torch-threads`` sets torch's intra-op pool). Printed: raw SPS, each library's training SPS
and its ratio to raw.
"""
import argparse
import sys
import time

from threadpoolctl import threadpool_limits

from bench_train import raw_sps, train_timings
from refimpl.config import Config


def sb3_sps(env_id: str, steps: int, torch_threads: int) -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(torch_threads)
    env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=0))  # obs and reward normalisation
    model = PPO("MlpPolicy", env, seed=0, device="cpu")
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    elapsed = time.perf_counter() - t0
    env.close()
    return model.num_timesteps / elapsed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20480)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args(argv)
    threadpool_limits(1, user_api="blas")
    try:
        import stable_baselines3
        import torch
    except ImportError:
        print("bench_peers: needs stable-baselines3 (pip install stable-baselines3)", file=sys.stderr)
        return 2
    raw = raw_sps(args.env, args.steps)
    print(f"{args.env}, {args.steps} steps, PPO, 1 environment; torch {torch.__version__} "
          f"({args.torch_threads} thread(s)), stable-baselines3 {stable_baselines3.__version__}")
    print(f"{'raw env':>17}: {raw:8.0f} SPS")
    refimpl_sps = train_timings(Config.for_algo("ppo", env=args.env, steps=args.steps))[0]
    for name, sps in (("refimpl", refimpl_sps),
                      ("stable-baselines3", sb3_sps(args.env, args.steps, args.torch_threads))):
        print(f"{name:>17}: {sps:8.0f} SPS   ratio to raw {sps / raw:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
