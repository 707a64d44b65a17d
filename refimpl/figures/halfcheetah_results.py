"""Lecture figures "Results with TRPO" (``half_cheetah_trpo.svg``) and "Results: TRPO vs. PPO"
(``trpo_vs_ppo.svg``): episode return on HalfCheetah-v5 against environment steps, one line
style per preset (solid: the `default` preset; dashed: the ``tianshou`` preset; dotted: the
``zoo`` preset, rl-baselines3-zoo's tuned PPO, where its sweep exists), drawn from the
run logs ``RESULTS/halfcheetah-v5*/ALGO-sSEED/`` written by ``refimpl sweep``, RESULTS being the
results directory (``refimpl figures --results``; by default the repository's committed
``results/``).

Where every run of an algorithm evaluated during training (``eval.csv``: 10 deterministic
episodes every 20,000 steps), its curve is the IQM over runs of the evaluation return with a
pointwise 95% percentile-bootstrap band (``refimpl.engine.logs.evaluation_curves``). Runs from before
evaluation existed are drawn from their training episodes instead, as the mean +- std over seeds
of each run's mean over its last 20 finished episodes of the stochastic policy
(``refimpl.engine.logs.learning_curves``); the legend says which each line is. The curves' numbers go to
``halfcheetah_curves.csv``.

The final returns of the sweeps' ``summary.csv`` (10 deterministic episodes of each run's final
policy) give two more figures, as Agarwal et al. (NeurIPS 2021) draw them (``refimpl.core.stats``):
``halfcheetah_iqm.svg``, each algorithm's IQM over runs with its 95% bootstrap interval, and
``halfcheetah_profiles.svg``, the performance profiles (the share of runs whose final return
exceeds tau); their numbers go to ``halfcheetah_final.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.core import stats
from refimpl.engine.plots import Curve, learning_curve_figure, plt, save_csv, save_figure
from refimpl.engine.logs import evaluation_curves, learning_curves
from refimpl.figures import DEFAULT_RESULTS

SWEEPS = {"default": "halfcheetah-v5", "tianshou": "halfcheetah-v5-tianshou",
          "zoo": "halfcheetah-v5-zoo"}
"""Preset -> the directory, under the results directory, where ``refimpl sweep`` wrote its runs."""
ALGOS = ("trpo", "ppo", "npg")
STYLE = {"default": "-", "tianshou": "--", "zoo": ":"}
COLOR = {"trpo": "C0", "ppo": "C1", "npg": "C2"}


SOURCES = {"evaluation": "evaluation IQM, 95% CI", "training": "training episodes, mean ± std"}
"""What a curve is drawn from -> how its legend entry says so."""


def sweeps(results: Path) -> dict[str, Path]:
    """Preset -> its sweep's directory under the results directory ``results`` (``SWEEPS``)."""
    return {preset: Path(results) / name for preset, name in SWEEPS.items()}


def curves(results: dict[str, Path]) -> dict[tuple[str, str], tuple]:
    """(preset, algo) -> (source, steps, y, low, high) over the seeds found in the sweep
    directories ``results`` (preset -> directory), ``source`` one of SOURCES: the evaluation IQM
    and its band where every run has an eval.csv, else the training curve's mean and mean -+
    std. A ValueError if no run is found."""
    out = {}
    for preset, path in results.items():
        dirs = {a: d for a in ALGOS if (d := sorted(Path(path).glob(f"{a}-s*")))}
        evaluated = evaluation_curves(dirs)
        for algo, (x, iqm, low, high) in evaluated.items():
            out[(preset, algo)] = ("evaluation", x, iqm, low, high)
        trained = learning_curves({a: d for a, d in dirs.items() if a not in evaluated})
        for algo, (x, mean, std) in trained.items():
            out[(preset, algo)] = ("training", x, mean, mean - std, mean + std)
    if not out:
        raise ValueError(f"no run logs under {', '.join(map(str, results.values()))}; "
                         "run 'refimpl sweep' there first")
    return out


def final_returns(results: dict[str, Path]) -> dict[tuple[str, str], np.ndarray]:
    """(preset, algo) -> final returns of its runs (shape (n,)), from the summary.csv of each
    sweep directory of ``results`` (preset -> directory)."""
    import csv

    out = {}
    for preset, path in results.items():
        if not (Path(path) / "summary.csv").exists():
            continue
        with (Path(path) / "summary.csv").open() as f:
            rows = list(csv.DictReader(f))
        for algo in ALGOS:
            x = [float(r["final_return"]) for r in rows if r["algo"] == algo]
            if x:
                out[(preset, algo)] = np.array(x)
    return out


def _iqm_figure(finals, task: str):
    """Each (preset, algo)'s IQM as a point with its 95% bootstrap interval, one row each."""
    keys = list(finals)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(keys) + 1.2))
    for i, key in enumerate(keys):
        s = stats.summarize(finals[key])
        ax.errorbar(s.iqm, i, xerr=[[s.iqm - s.iqm_low], [s.iqm_high - s.iqm]], fmt="o",
                    color=COLOR[key[1]], capsize=4)
    ax.set_yticks(range(len(keys)), [f"{a.upper()} ({p})" for p, a in keys])
    ax.invert_yaxis()
    n = sorted({len(v) for v in finals.values()})
    ax.set(xlabel=f"final return, IQM with 95% bootstrap interval ({'/'.join(map(str, n))} runs)",
           title=f"{task}, 1M steps: final policy")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _profile_figure(finals, taus, task: str, style: dict):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (preset, algo), x in finals.items():
        ax.step(taus, stats.performance_profile(x, taus), where="post", color=COLOR[algo],
                linestyle=style.get(preset, ":"), label=f"{algo.upper()} ({preset})")
    ax.set(xlabel="final return tau", ylabel="fraction of runs with final return > tau",
           title=f"{task}, 1M steps: performance profiles", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def curve_figure(c, algos, title, style: dict = STYLE):
    """``curves``' output for ``algos`` as one figure: colour by algorithm (``COLOR``), line
    style by preset (``style``, dotted for a preset it does not name)."""
    return learning_curve_figure(
        [Curve(x, y, None, f"{algo.upper()} ({preset}): {SOURCES[source]}",
               style.get(preset, ":"), COLOR[algo], band=(low, high))
         for (preset, algo), (source, x, y, low, high) in c.items() if algo in algos],
        title, "episode return", "environment steps (millions)",
        x_unit=1e6, figsize=(6.5, 4.2), band_alpha=0.15,
        legend={"loc": "upper left", "fontsize": 7})


def save_svg(fig, path: Path) -> Path:
    return save_figure(fig, path, "svg", metadata={"Date": None})


def make(out_dir: Path, results: Path = DEFAULT_RESULTS) -> list[Path]:
    """The figures of the sweeps ``SWEEPS`` under the results directory ``results``."""
    found = sweeps(results)
    c = curves(found)
    out_dir = Path(out_dir)
    written = [
        save_svg(curve_figure(c, ["trpo"], "TRPO on HalfCheetah-v5"), out_dir / "half_cheetah_trpo.svg"),
        save_svg(curve_figure(c, ALGOS, "HalfCheetah-v5: TRPO vs. PPO (and NPG)"),
                 out_dir / "trpo_vs_ppo.svg"),
        save_curves_csv(c, out_dir / "halfcheetah_curves.csv")]
    return written + final_figures(final_returns(found), "HalfCheetah-v5", out_dir, "halfcheetah")


def save_curves_csv(c: dict, path: Path) -> Path:
    """``curves``' output, one row per plotted point, each curve on its own steps (no
    resampling)."""
    rows = [(preset, algo, source, *point) for (preset, algo), (source, *arrays) in c.items()
            for point in zip(*arrays)]
    columns = dict(zip(("preset", "algo", "source", "env_steps", "return", "low", "high"),
                       map(list, zip(*rows))))
    return save_csv(path, columns)


def final_figures(finals: dict, task: str, out_dir: Path, prefix: str,
                  style: dict = STYLE) -> list[Path]:
    """``PREFIX_iqm.svg``, ``PREFIX_profiles.svg`` and ``PREFIX_final.csv`` of ``final_returns``'
    output (nothing if it is empty); ``style`` as in ``curve_figure``."""
    if not finals:
        return []
    low = min(x.min() for x in finals.values())
    high = max(x.max() for x in finals.values())
    taus = np.linspace(low - 0.05 * (high - low), high + 0.05 * (high - low), 200)
    written = [save_svg(_iqm_figure(finals, task), out_dir / f"{prefix}_iqm.svg"),
               save_svg(_profile_figure(finals, taus, task, style), out_dir / f"{prefix}_profiles.svg")]
    summaries = {k: stats.summarize(x) for k, x in finals.items()}
    written.append(save_csv(out_dir / f"{prefix}_final.csv", {
        "preset": [p for p, _ in finals], "algo": [a for _, a in finals],
        **{f: [getattr(summaries[k], f) for k in finals]
           for f in ("n", "mean", "std", "median", "iqm", "iqm_low", "iqm_high")}}))
    return written
