"""Lecture figures "Results with TRPO" (``half_cheetah_trpo.svg``) and "Results: TRPO vs. PPO"
(``trpo_vs_ppo.svg``): episode return on HalfCheetah-v5 against environment steps, mean +- std
over seeds, drawn from the committed run logs ``results/halfcheetah-v5*/ALGO-sSEED/progress.csv``
written by ``refimpl sweep``, one line style per preset (solid: the `default` preset; dashed: the
``tianshou`` preset). The return plotted is each run's mean over its last 20 finished training
episodes, with the stochastic policy. The curves' numbers go to ``halfcheetah_curves.csv``.

The final returns of the sweeps' ``summary.csv`` (10 deterministic episodes of each run's final
policy) give two more figures, as Agarwal et al. (NeurIPS 2021) draw them (``refimpl.stats``):
``halfcheetah_iqm.svg``, each algorithm's IQM over runs with its 95% bootstrap interval, and
``halfcheetah_profiles.svg``, the performance profiles (the share of runs whose final return
exceeds tau); their numbers go to ``halfcheetah_final.csv``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl import stats
from refimpl.figures.output import Curve, learning_curve_figure, plt, save_csv, save_figure
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


def final_returns(results: dict[str, Path] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """(preset, algo) -> final returns of its runs (shape (n,)), from each sweep's summary.csv."""
    import csv

    results = RESULTS if results is None else results
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


def _iqm_figure(finals):
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
           title="HalfCheetah-v5, 1M steps: final policy")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _profile_figure(finals, taus):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (preset, algo), x in finals.items():
        ax.step(taus, stats.performance_profile(x, taus), where="post", color=COLOR[algo],
                linestyle=STYLE.get(preset, ":"), label=f"{algo.upper()} ({preset})")
    ax.set(xlabel="final return tau", ylabel="fraction of runs with final return > tau",
           title="HalfCheetah-v5, 1M steps: performance profiles", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


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
    finals = final_returns()
    if finals:
        low = min(x.min() for x in finals.values())
        high = max(x.max() for x in finals.values())
        taus = np.linspace(low - 0.05 * (high - low), high + 0.05 * (high - low), 200)
        written.append(_save_svg(_iqm_figure(finals), out_dir / "halfcheetah_iqm.svg"))
        written.append(_save_svg(_profile_figure(finals, taus), out_dir / "halfcheetah_profiles.svg"))
        summaries = {k: stats.summarize(x) for k, x in finals.items()}
        written.append(save_csv(out_dir / "halfcheetah_final.csv", {
            "preset": [p for p, _ in finals], "algo": [a for _, a in finals],
            **{f: [getattr(summaries[k], f) for k in finals]
               for f in ("n", "mean", "std", "median", "iqm", "iqm_low", "iqm_high")}}))
    return written
