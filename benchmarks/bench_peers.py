"""refimpl beside Stable-Baselines3's PPO and sb3-contrib's TRPO, in one process, as ratios.

    pip install stable-baselines3 sb3-contrib     # bring PyTorch; not dependencies of refimpl
    python benchmarks/bench_peers.py [--steps 20480] [--env HalfCheetah-v5] [--algos ppo trpo]
                                     [--torch-threads 1] [--rounds 1]

Each library trains at its own defaults with one environment, observation and reward
normalisation (SB3's ``VecNormalize``), on one core (one BLAS thread; ``--torch-threads`` sets
torch's intra-op pool). refimpl's PPO defaults and SB3's are the same settings (2,048 steps per
update, 10 epochs of minibatches of 64, separate 64-64 tanh networks); for TRPO each takes its
own: refimpl 1,024 steps per update, 10 CG iterations, a critic of 10 epochs of minibatches of
64; sb3-contrib 2,048 steps, 15 CG iterations, a critic of 10 epochs of minibatches of 128. So
refimpl's TRPO also runs once more at sb3-contrib's settings (``PEER_SETTINGS``), which compares
the two implementations on the same computation.

Printed per algorithm: raw environment SPS, each library's training SPS and ratio to raw, the
time per environment step split into collection (rollouts, with advantage estimation) and the
update, and the speed-up of refimpl over the peer (their SPS ratio), all from one process so the
ratios share one machine state. Timed around the training loop only. ``--rounds R`` repeats the
comparison R times, alternating the libraries, and ends with each speed-up's median and range
over the rounds: on a shared machine the speed drifts within minutes, and the range says by how
much (the raw SPS, measured once at the start, drifts with it).
"""
import argparse
import sys
import time

from threadpoolctl import threadpool_limits

from bench_train import median_and_range, raw_sps, train_timings
from refimpl.engine.config import Config

PEERS = {"ppo": ("stable-baselines3", "stable_baselines3", "PPO"),
         "trpo": ("sb3-contrib", "sb3_contrib", "TRPO")}
"""refimpl algorithm -> (peer's name, module, class)."""
PEER_SETTINGS = {"trpo": dict(horizon=2048, cg_iters=15, vf_minibatch=128)}
"""refimpl Config fields that make its run do the peer's computation where their defaults
differ: sb3-contrib TRPO's n_steps, cg_max_steps and batch_size (its damping 0.1, line search
x0.8 up to 10 times, 10 critic epochs and critic learning rate 1e-3 are refimpl's defaults)."""


def peer_timings(algo: str, env_id: str, steps: int, torch_threads: int):
    """(SPS, collection us/step, update us/step) of the peer's ``learn`` at its defaults.

    Collection is the time in ``collect_rollouts`` (stepping, the policy's forward passes and
    GAE), the update the time in ``train``; ``learn``'s own logging is in neither."""
    import importlib

    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(torch_threads)
    _, module, cls = PEERS[algo]
    env = VecNormalize(make_vec_env(env_id, n_envs=1, seed=0))  # obs and reward normalisation
    model = getattr(importlib.import_module(module), cls)("MlpPolicy", env, seed=0, device="cpu")
    spent = {"collect_rollouts": 0.0, "train": 0.0}
    for name in spent:
        method = getattr(model, name)

        def timed(*args, _method=method, _name=name, **kwargs):
            t0 = time.perf_counter()
            result = _method(*args, **kwargs)
            spent[_name] += time.perf_counter() - t0
            return result
        setattr(model, name, timed)
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    total = time.perf_counter() - t0
    env.close()
    n = model.num_timesteps
    return n / total, spent["collect_rollouts"] / n * 1e6, spent["train"] / n * 1e6


def compare(algo: str, args, raw: float) -> list[tuple[str, float]]:
    """Time refimpl's run(s) of ``algo``, then the peer's; print the rows and return each
    refimpl run's (description, speed-up over the peer)."""
    peer = f"{PEERS[algo][0]} {algo.upper()}"
    settings = {f"refimpl {algo.upper()}": {}}
    if algo in PEER_SETTINGS:
        settings[f"refimpl {algo.upper()}, {PEERS[algo][0]}'s settings"] = PEER_SETTINGS[algo]
    rows = [(name, train_timings(Config.for_algo(algo, env=args.env, steps=args.steps, **fields)))
            for name, fields in settings.items()]
    theirs = peer_timings(algo, args.env, args.steps, args.torch_threads)
    for name, (sps, collect, update) in (*rows, (peer, theirs)):
        print(f"{name:>38}: {sps:8.0f} SPS   ratio to raw {sps / raw:.3f}   "
              f"collection {collect:6.1f} us/step   update {update:6.1f} us/step")
    speedups = [(f"{name} / {peer}", sps / theirs[0]) for name, (sps, _, _) in rows]
    for name, ratio in speedups:
        print(f"{'':>38}  {name}: {ratio:.1f}x")
    return speedups


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20480)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--algos", nargs="+", choices=list(PEERS), default=list(PEERS))
    p.add_argument("--torch-threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    threadpool_limits(1, user_api="blas")
    try:
        import sb3_contrib
        import stable_baselines3
        import torch
    except ImportError:
        print("bench_peers: needs stable-baselines3 and sb3-contrib "
              "(pip install stable-baselines3 sb3-contrib)", file=sys.stderr)
        return 2
    raw = raw_sps(args.env, args.steps)
    print(f"{args.env}, {args.steps} steps, 1 environment; torch {torch.__version__} "
          f"({args.torch_threads} thread(s)), stable-baselines3 {stable_baselines3.__version__}, "
          f"sb3-contrib {sb3_contrib.__version__}")
    print(f"{'raw env':>38}: {raw:8.0f} SPS")
    speedups: dict[str, list[float]] = {}
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1} of {args.rounds}")
        for algo in args.algos:
            for name, ratio in compare(algo, args, raw):
                speedups.setdefault(name, []).append(ratio)
    if args.rounds > 1:
        for name, ratios in speedups.items():
            print(median_and_range(f"{name} (x)", ratios, digits=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
