"""Stable-Baselines3's PPO and sb3-contrib's TRPO on refimpl's results protocol, on this machine.

    pip install -e '.[peers]'      # torch, stable-baselines3, sb3-contrib: not refimpl's dependencies
    python benchmarks/peers.py [--algos ppo trpo] [--seeds 0-2] [--steps 1000000]
                               [--env HalfCheetah-v5] [--settings defaults|zoo]
                               [--out results/peers]

With ``--settings defaults`` each peer trains with its library's defaults (``PPO("MlpPolicy",
env)``, ``TRPO("MlpPolicy", env)``) on one environment, with observation and reward normalisation
(``VecNormalize``, as refimpl's default runs and rl-baselines3-zoo's MuJoCo settings have;
``--no-normalize`` for none). With ``--settings zoo`` it trains with rl-baselines3-zoo's tuned
hyperparameters for the environment (``ZOO``: CartPole-v1 and Acrobot-v1, the settings refimpl's
``presets.ENV_DEFAULTS`` start from), their number of environments and their normalisation.
torch runs on one thread. The final model is evaluated as ``refimpl sweep`` evaluates refimpl's
final policy (``refimpl.engine.evaluate.evaluate``): 10 episodes of the deterministic action with reset
seeds 10,000 ... 10,009 and the normaliser's statistics frozen; wall time is the time in
``learn``. One row per run goes to ``OUT/summary.csv`` (the columns of refimpl's summary.csv,
plus the library versions and the settings); a run already there is skipped, so an interrupted
script continues where it stopped.
"""
import argparse
import csv
import io
import sys
import time
from pathlib import Path

import numpy as np

from refimpl.engine.checkpoint import atomic_write
from refimpl.engine.sweep_plan import parse_seeds

PEERS = {"ppo": ("stable_baselines3", "PPO"), "trpo": ("sb3_contrib", "TRPO")}
"""algorithm -> (module, class) of the peer."""
EVAL_SEED, EVAL_EPISODES = 10_000, 10
"""refimpl.engine.evaluate.evaluate's defaults, which refimpl sweep uses for the final policy."""
COLUMNS = ("algo", "seed", "steps", "final_return", "final_return_std", "wall_s", "library",
           "library_version", "torch_version", "normalize", "settings")


def linear(start: float):
    """The zoo's ``lin_<start>``: ``start`` times SB3's remaining progress, 1 -> 0."""
    return lambda progress_remaining: progress_remaining * start


ZOO = {
    # rl-baselines3-zoo hyperparams/ppo.yml and trpo.yml ("# Tuned" entries, unchanged since zoo
    # commit 22e3ff2), as keyword arguments of the SB3 class; n_envs and normalize go to the
    # environment, n_timesteps is left to --steps.
    ("CartPole-v1", "ppo"): dict(n_envs=8, normalize=False, n_steps=32, batch_size=256,
                                 gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                                 learning_rate=linear(1e-3), clip_range=linear(0.2)),
    ("CartPole-v1", "trpo"): dict(n_envs=2, normalize=False, n_steps=512, batch_size=512,
                                  cg_damping=1e-3, gae_lambda=0.98, gamma=0.99,
                                  learning_rate=1e-3, n_critic_updates=20),
    ("Acrobot-v1", "ppo"): dict(n_envs=16, normalize=True, n_steps=256, gae_lambda=0.94,
                                gamma=0.99, n_epochs=4, ent_coef=0.0),
    ("Acrobot-v1", "trpo"): dict(n_envs=2, normalize=True, n_steps=1024),
}
"""(environment, algorithm) -> the zoo's settings."""


def train_and_evaluate(algo: str, env_id: str, seed: int, steps: int, normalize: bool,
                       settings: str = "defaults") -> dict:
    import importlib

    import gymnasium as gym
    import torch
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    module, cls = PEERS[algo]
    lib = importlib.import_module(module)
    kwargs = dict(ZOO[env_id, algo]) if settings == "zoo" else dict(n_envs=1, normalize=normalize)
    n_envs, normalize = kwargs.pop("n_envs"), kwargs.pop("normalize")
    env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
    if normalize:
        env = VecNormalize(env)
    model = getattr(lib, cls)("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
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
            "torch_version": torch.__version__, "normalize": normalize, "settings": settings}


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        # rows written before the settings column were all of the libraries' defaults
        return [{"settings": "defaults", **r} for r in csv.DictReader(f)]


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
    p.add_argument("--settings", choices=("defaults", "zoo"), default="defaults")
    p.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="with --settings defaults: no VecNormalize")
    args = p.parse_args(argv)
    if args.settings == "zoo":
        missing = [a for a in args.algos if (args.env, a) not in ZOO]
        if missing:
            p.error(f"no zoo settings for {', '.join(missing)} on {args.env}; "
                    f"known: {', '.join(sorted({e for e, _ in ZOO}))}")
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "summary.csv"
    rows = read_rows(path)
    for algo in args.algos:
        for seed in args.seeds:
            if any(r["algo"] == algo and int(r["seed"]) == seed and int(r["steps"]) == args.steps
                   and r["settings"] == args.settings for r in rows):
                continue
            row = train_and_evaluate(algo, args.env, seed, args.steps, args.normalize,
                                     args.settings)
            rows.append(row)
            write_rows(path, rows)
            print(f"{algo} seed {seed}: final return {row['final_return']:.0f} "
                  f"+- {row['final_return_std']:.0f}, {row['wall_s']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
