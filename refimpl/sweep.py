"""``refimpl sweep``: a grid of training runs (algorithms x seeds), each in its own directory,
on local worker processes (one per core by default) or on a Dask distributed cluster.

    refimpl sweep --algo ppo trpo npg --seeds 0-4 --steps 1000000 --out results/halfcheetah-v5

Resumable: a finished run (``checkpoints/final.npz`` present) is skipped, an interrupted one
continues from its latest checkpoint. At the end every final policy is evaluated
deterministically (``--eval-episodes``, default 10) and ``summary.csv`` gets one row per run:
``algo,seed,steps,final_return,final_return_std,wall_s``; ``learning_curves.png`` shows the
mean +- std over seeds of each algorithm's episode return against environment steps.
"""
from __future__ import annotations

import csv
import io
import json
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refimpl import checkpoint
from refimpl.config import ALGOS, PRESETS, Config

SUMMARY_COLUMNS = ("algo", "seed", "steps", "final_return", "final_return_std", "wall_s")


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a configuration, its directory, and how to evaluate it."""

    cfg: dict
    out: str
    eval_episodes: int


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '1,3,5' -> [1, 3, 5]; ValueError otherwise."""
    seeds = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m[2] and int(m[2]) < int(m[1])):
            raise ValueError(f"seeds must look like 0-4 or 1,3,5, got {text!r}")
        seeds.extend(range(int(m[1]), int(m[2] or m[1]) + 1))
    return seeds


def grid(algos, seeds, out: Path, eval_episodes: int, preset: str = "paper",
         **overrides) -> list[RunSpec]:
    return [RunSpec(Config.for_algo(a, preset, seed=s, **overrides).to_dict(),
                    str(out / f"{a}-s{s}"), eval_episodes) for a in algos for s in seeds]


def run_one(spec: RunSpec) -> dict:
    """Train (or finish) one run and evaluate its final policy; returns its summary row."""
    import numpy  # noqa: F401  (load OpenBLAS before limiting it)
    from threadpoolctl import threadpool_limits

    from refimpl.evaluate import evaluate
    from refimpl.train import train

    threadpool_limits(1, user_api="blas")
    out = Path(spec.out)
    final = out / "checkpoints" / "final.npz"
    if not final.exists():
        resume = (out / "checkpoints" / "latest.npz").exists()
        train(None if resume else Config.from_dict(spec.cfg), out, resume=resume, progress=False)
    d = checkpoint.load(final)
    returns = evaluate(final, episodes=spec.eval_episodes, deterministic=True)
    return {"algo": spec.cfg["algo"], "seed": spec.cfg["seed"], "steps": int(d["env_steps"]),
            "final_return": round(float(returns.mean()), 2),
            "final_return_std": round(float(returns.std()), 2),
            "wall_s": round(float(d["wall_time"]), 1)}


def execute(specs: list[RunSpec], workers: int | None = None,
            scheduler: str | None = None) -> list[dict]:
    """Run ``specs`` on local processes or, with ``scheduler``, on a Dask cluster."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs dask.distributed: pip install 'refimpl[cluster]'") \
                from None
        with Client(scheduler) as client:
            return client.gather(client.map(run_one, specs, pure=False))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(run_one, specs))


def write_summary(out: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, SUMMARY_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: (r["algo"], r["seed"])))
    path = out / "summary.csv"
    checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue().encode()))
    return path


def learning_curves(run_dirs: dict[str, list[Path]], grid_steps: int = 100):
    """Per algorithm: (steps, mean, std) of the episode return over seeds, each run's curve
    interpolated onto a common grid of ``grid_steps`` environment-step values that spans the
    steps where every run has finished at least one episode."""
    from refimpl.train import read_progress

    curves = {}
    for algo, dirs in run_dirs.items():
        logs = []
        for d in dirs:
            p = read_progress(d / "progress.csv")
            done = np.isfinite(p["ep_return"])
            if done.any():
                logs.append((p["env_steps"][done], p["ep_return"][done]))
        if not logs:
            continue
        x = np.linspace(max(s[0] for s, _ in logs), min(s[-1] for s, _ in logs), grid_steps)
        ys = np.array([np.interp(x, s, r) for s, r in logs])
        curves[algo] = (x, ys.mean(axis=0), ys.std(axis=0))
    return curves


def plot_curves(curves: dict, path: Path, title: str, fmt: str = "png") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for algo, (x, mean, std) in curves.items():
        ax.plot(x, mean, label=algo.upper())
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set(xlabel="environment steps", ylabel="episode return (mean ± std over seeds)",
           title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    checkpoint.atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=120))
    plt.close(fig)


def add_arguments(p) -> None:
    p.add_argument("--algo", nargs="+", choices=ALGOS, default=["ppo", "trpo", "npg"])
    p.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-4"), help="e.g. 0-4")
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--preset", choices=PRESETS, default="paper", help="named settings (config.py)")
    p.add_argument("--out", type=Path, default=Path("results") / "halfcheetah-v5")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    p.add_argument("--scheduler", default=None, help="address of a Dask distributed scheduler")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="config overrides applied to every run, e.g. --set horizon=512")


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set takes FIELD=VALUE, got {pair!r}")
        out[key] = json.loads(value) if value not in ("None", "none") else None
    return out


def run(args) -> int:
    if args.steps <= 0 or args.eval_episodes <= 0:
        raise ValueError("--steps and --eval-episodes must be positive")
    args.out.mkdir(parents=True, exist_ok=True)
    specs = grid(args.algo, args.seeds, args.out, args.eval_episodes, args.preset, env=args.env,
                 steps=args.steps, **_overrides(args.set))
    rows = execute(specs, args.workers, args.scheduler)
    print(f"wrote {write_summary(args.out, rows)}")
    for algo in args.algo:
        r = np.array([row["final_return"] for row in rows if row["algo"] == algo])
        print(f"{algo:>5}: final return {r.mean():.0f} +- {r.std():.0f} over {len(r)} seeds")
    dirs = {a: [Path(s.out) for s in specs if s.cfg["algo"] == a] for a in args.algo}
    plot_curves(learning_curves(dirs), args.out / "learning_curves.png",
                f"{args.env}, preset {args.preset!r}")
    return 0
