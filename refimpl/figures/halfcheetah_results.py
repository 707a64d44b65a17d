"""Lecture figures "Results with TRPO" (``half_cheetah_trpo.svg``) and "Results: TRPO vs. PPO"
(``trpo_vs_ppo.svg``): episode return on HalfCheetah-v5 against environment steps, mean +- std
over seeds, drawn from the committed run logs ``results/halfcheetah-v5*/ALGO-sSEED/progress.csv``
written by ``refimpl sweep``, one line style per preset (solid: the `default` preset; dashed: the
``tianshou`` preset). The return plotted is each run's mean over its last 20 finished training
episodes, with the stochastic policy. The curves' numbers go to ``halfcheetah_curves.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.figures.output import Curve, learning_curve_figure, save_csv, save_figure
from refimpl.sweep import learning_curves

RESULTS = {"default": Path("results") / "halfcheetah-v5",
           "tianshou": Path("results") / "halfcheetah-v5-tianshou"}
"""Preset -> directory where ``refimpl sweep`` wrote its runs (relative to the working dir)."""
ALGOS = ("trpo", "ppo", "npg")
STYLE = {"default": "-", "tianshou": "--"}
COLOR = {"trpo": "C0", "ppo": "C1", "npg": "C2"}


def curves(results: dict[str, Path] | None = None) -> dict[tuple[str, str], tuple]:
    """(preset, algo) -> (steps, mean, std) over the seeds found; ValueError if none are."""
    results = RESULTS if results is None else results
    out = {}
    for preset, path in results.items():
        dirs = {a: sorted(Path(path).glob(f"{a}-s*")) for a in ALGOS}
        for algo, c in learning_curves({a: d for a, d in dirs.items() if d}).items():
            out[(preset, algo)] = c
    if not out:
        raise ValueError(f"no run logs under {', '.join(map(str, results.values()))}; "
                         "run 'refimpl sweep' there first")
    return out


def _figure(c, algos, title):
    return learning_curve_figure(
        [Curve(x, mean, std, f"{algo.upper()} ({preset})", STYLE.get(preset, ":"), COLOR[algo])
         for (preset, algo), (x, mean, std) in c.items() if algo in algos],
        title, "episode return (mean ± std over seeds)", "environment steps (millions)",
        x_unit=1e6, figsize=(6.5, 4.2), band_alpha=0.15,
        legend={"loc": "upper left", "fontsize": 8})


def _save_svg(fig, path: Path) -> Path:
    return save_figure(fig, path, "svg", metadata={"Date": None})


def make(out_dir: Path) -> list[Path]:
    c = curves()
    out_dir = Path(out_dir)
    written = [
        _save_svg(_figure(c, ["trpo"], "TRPO on HalfCheetah-v5"), out_dir / "half_cheetah_trpo.svg"),
        _save_svg(_figure(c, ALGOS, "HalfCheetah-v5: TRPO vs. PPO (and NPG)"),
                  out_dir / "trpo_vs_ppo.svg")]
    # one row per plotted point, each curve on its own step grid (no resampling)
    keys = list(c)
    columns = {"preset": [p for p, a in keys for _ in c[(p, a)][0]],
               "algo": [a for p, a in keys for _ in c[(p, a)][0]],
               **{name: np.concatenate([c[k][i] for k in keys])
                  for i, name in enumerate(("env_steps", "mean", "std"))}}
    written.append(save_csv(out_dir / "halfcheetah_curves.csv", columns))
    return written
