"""Stable-Baselines3's PPO and sb3-contrib's TRPO on refimpl's results protocol, on this machine.

    pip install -e '.[peers]'      # torch, stable-baselines3, sb3-contrib: not refimpl's dependencies
    python benchmarks/peers_halfcheetah.py [--algos ppo trpo] [--seeds 0-2] [--steps 1000000]
                                           [--env HalfCheetah-v5] [--out results/peers]

Each peer trains with its library's defaults (``PPO("MlpPolicy", env)``,
``TRPO("MlpPolicy", env)``) on one environment, with observation and reward normalisation
(``VecNormalize``, as refimpl's default runs and rl-baselines3-zoo's MuJoCo settings have;
``--no-normalize`` for none), torch on one thread. The final model is evaluated as
``refimpl sweep`` evaluates refimpl's final policy (``refimpl.evaluate.evaluate``): 10 episodes
of the deterministic action with reset seeds 10,000 ... 10,009 and the normaliser's statistics
frozen; wall time is the time in ``learn``. One row per run goes to ``OUT/summary.csv`` (the
columns of refimpl's summary.csv, plus the library versions); a run already there is skipped,
so an interrupted script continues where it stopped.
"""
import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np

from refimpl.checkpoint import atomic_write
from refimpl.sweep import parse_seeds

PEERS = {"ppo": ("stable_baselines3", "PPO"), "trpo": ("sb3_contrib", "TRPO")}
"""algorithm -> (module, class) of the peer."""
EVAL_SEED, EVAL_EPISODES = 10_000, 10
"""refimpl.evaluate.evaluate's defaults, which refimpl sweep uses for the final policy."""
COLUMNS = ("algo", "seed", "steps", "final_return", "final_return_std", "wall_s", "library",
           "library_version", "torch_version", "normalize")


def train_and_evaluate(algo: str, env_id: str, seed: int, steps: int, normalize: bool) -> dict:
    import importlib

    import gymnasium as gym
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    module, cls = PEERS[algo]
    lib = importlib.import_module(module)
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    if normalize:
        env = VecNormalize(env)
    model = getattr(lib, cls)("MlpPolicy", env, seed=seed, device="cpu")
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - t0
    if normalize:
        env.training = False  # frozen statistics, as refimpl evaluates
    returns = np.zeros(EVAL_EPISODES)
    eval_env = gym.make(env_id)
    for ep in range(EVAL_EPISODES):
        obs, _ = eval_env.reset(seed=EVAL_SEED + ep)
        done = False
        while not done:
            x = env.normalize_obs(obs) if normalize else obs
            action, _ = model.predict(x, deterministic=True)  # clipped to the action space
            obs, r, term, trunc, _ = eval_env.step(action)
            returns[ep] += r
            done = term or trunc
    eval_env.close()
    env.close()
    return {"algo": algo, "seed": seed, "steps": steps,
            "final_return": round(float(returns.mean()), 2),
            "final_return_std": round(float(returns.std()), 2), "wall_s": round(wall, 1),
            "library": module.replace("_", "-"), "library_version": lib.__version__,
            "torch_version": torch.__version__, "normalize": normalize}


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: (r["algo"], int(r["seed"]))))
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--algos", nargs="+", choices=PEERS, default=list(PEERS))
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-2"))
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--out", type=Path, default=Path("results") / "peers")
    p.add_argument("--no-normalize", dest="normalize", action="store_false")
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "summary.csv"
    rows = read_rows(path)
    for algo in args.algos:
        for seed in args.seeds:
            if any(r["algo"] == algo and int(r["seed"]) == seed and int(r["steps"]) == args.steps
                   for r in rows):
                continue
            row = train_and_evaluate(algo, args.env, seed, args.steps, args.normalize)
            rows.append(row)
            write_rows(path, rows)
            print(f"{algo} seed {seed}: final return {row['final_return']:.0f} "
                  f"+- {row['final_return_std']:.0f}, {row['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
