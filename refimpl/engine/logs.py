"""A run's logs: progress.csv (one row per update), eval.csv (one row per evaluation during
training), their columns, how they are read, and the learning curves drawn from them (one run's
learning_curve.png, a sweep's curves over seeds, the results figures').

The functions that draw import matplotlib (``engine.plots``), and ``evaluation_curves`` SciPy's
statistics, when they are called: what only reads and writes the logs, such as the trainer,
imports in a fraction of the time, and so does each helper process, which imports the main
module again as it starts (``engine.worker``)."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np


COLUMNS = ("update", "env_steps", "wall_time", "sps", "ep_return", "ep_length", "policy_loss",
           "value_loss", "entropy", "kl", "approx_kl", "clip_fraction", "explained_variance",
           "epochs", "improvement", "accepted", "step_fraction", "step_norm", "cg_iters",
           "cg_residual")
"""progress.csv columns; a metric an algorithm does not produce is left empty."""


EVAL_COLUMNS = ("update", "env_steps", "mean", "std", "min", "max", "wall_time")
"""eval.csv columns: after ``update`` (``env_steps``), the statistics of the evaluation returns
and the seconds the evaluation took (not counted in progress.csv's wall_time)."""


TIMING_COLUMNS = ("wall_time", "sps")
"""Columns that differ between two runs of one seed; every other column is reproducible."""


def eval_row(update: int, env_steps: int, returns: np.ndarray, seconds: float) -> dict:
    """The eval.csv row of the evaluation ``returns`` after ``update``."""
    return {"update": update, "env_steps": env_steps, "mean": returns.mean(),
            "std": returns.std(), "min": returns.min(), "max": returns.max(),
            "wall_time": round(seconds, 3)}


def read_csv(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """A CSV file of the run directory as float columns (empty cells become NaN)."""
    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    return {c: np.array([float(r[c]) if r.get(c) not in ("", None) else np.nan for r in rows])
            for c in columns}


def read_log(path: Path, columns: tuple[str, ...]) -> tuple[list[tuple[int, str]], str | None]:
    """The rows of a CSV log of the run directory, ``path``, written with ``columns``: a list of
    (update, line with its end of line), in file order, and the text after the last end of
    line (None if the file ends with one), which is not a row: every line refimpl writes ends
    with one, so that text is a line an interrupted write cut short. Values are numbers or
    empty, so a line's fields are its comma-separated parts. ValueError (one line naming the line
    and what is wrong) if the file is not UTF-8, does not begin with the header line of
    ``columns``, or holds a line of another number of fields or whose update is not a whole
    number. Tested through ``refimpl.engine.resume.resumed_logs``."""
    try:
        *lines, torn = Path(path).read_bytes().decode().split("\n")
    except UnicodeDecodeError as e:
        raise ValueError(f"it is not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not lines or lines[0] != ",".join(columns):
        raise ValueError("it does not start with refimpl's header line")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != len(columns):
            raise ValueError(f"line {n} has {len(fields)} fields, not {len(columns)}")
        if not fields[0].isascii() or not fields[0].isdigit():
            raise ValueError(f"line {n} has update {fields[0]!r}, not a whole number")
        rows.append((int(fields[0]), line + "\n"))
    return rows, torn or None


def read_progress(path: Path) -> dict[str, np.ndarray]:
    """progress.csv as float columns (empty cells become NaN)."""
    return read_csv(path, COLUMNS)


def plot_learning_curve(out: Path) -> None:
    """learning_curve.png of the run in ``out``: its progress.csv's mean episode return and, if
    the run evaluated during training, eval.csv's mean evaluation return with its +- std band."""
    from refimpl.engine.plots import Curve, learning_curve_figure, save_figure

    out = Path(out)
    cfg = json.loads((out / "config.json").read_text())
    p = read_progress(out / "progress.csv")
    title = f"{cfg['algo'].upper()} on {cfg['env']}, seed {cfg['seed']}"
    training = Curve(p["env_steps"], p["ep_return"])
    if (out / "eval.csv").exists():
        e = read_csv(out / "eval.csv", EVAL_COLUMNS)
        curves = [dataclasses.replace(training, label="training episodes (mean of the last 20)"),
                  Curve(e["env_steps"], e["mean"], e["std"], "evaluation (mean action), +- std",
                        style="o-")]
        fig = learning_curve_figure(curves, title, "episode return", figsize=(6, 4),
                                    legend={"loc": "best", "fontsize": 8})
    else:
        fig = learning_curve_figure([training], title, "mean episode return (last 20)",
                                    figsize=(6, 4))
    save_figure(fig, out / "learning_curve.png", "png", dpi=120)


def best_evaluation(out: Path) -> dict:
    """The best mean return of the run's evaluations during training (eval.csv) and the step
    it was reached at (the first, if tied); empty cells if the run did not evaluate."""

    path = Path(out) / "eval.csv"
    if not path.exists() or not (e := read_csv(path, EVAL_COLUMNS))["mean"].size:
        return {"best_eval_return": "", "best_eval_step": ""}
    i = int(np.argmax(e["mean"]))
    return {"best_eval_return": round(float(e["mean"][i]), 2),
            "best_eval_step": int(e["env_steps"][i])}


def last_evaluation(out: Path) -> dict | None:
    """The last row of the run's eval.csv as numbers (``update``, ``env_steps``, ``mean``,
    ``std``, ...), or None if the run has not evaluated."""
    path = Path(out) / "eval.csv"
    if not path.exists() or not (e := read_csv(path, EVAL_COLUMNS))["mean"].size:
        return None
    return {c: float(v[-1]) for c, v in e.items()}


def learning_curves(run_dirs: dict[str, list[Path]], grid_steps: int = 100):
    """Per algorithm: (steps, mean, std) of the episode return over seeds, each run's curve
    interpolated onto a common grid of ``grid_steps`` environment-step values that spans the
    steps where every run has finished at least one episode."""

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


def evaluation_curves(run_dirs: dict[str, list[Path]]):
    """Per algorithm with at least 2 runs, every one of which wrote an eval.csv (others are
    left out, for ``learning_curves`` to draw): (steps, iqm, low, high) of the
    deterministic evaluation return over its runs (``refimpl.core.stats.iqm_band``: the IQM and its
    pointwise 95% percentile-bootstrap interval) at the evaluation steps that all of its runs
    reached. Runs of one configuration evaluate at the same steps, so nothing is interpolated;
    a ValueError names a run whose steps differ. Tested in ``tests/figures/test_figures_results.py::
    test_runs_that_evaluated_are_drawn_as_the_iqm_of_their_evaluations``."""
    from refimpl.core.stats import iqm_band

    curves = {}
    for algo, dirs in run_dirs.items():
        if len(dirs) < 2 or not all((d / "eval.csv").exists() for d in dirs):
            continue
        logs = [read_csv(d / "eval.csv", EVAL_COLUMNS) for d in dirs]
        n = min(len(e["env_steps"]) for e in logs)
        steps = logs[0]["env_steps"][:n]
        for d, e in zip(dirs, logs):
            if not np.array_equal(e["env_steps"][:n], steps):
                raise ValueError(f"{d / 'eval.csv'} evaluates at other steps than "
                                 f"{dirs[0] / 'eval.csv'}; runs of one curve need one schedule")
        curves[algo] = (steps, *iqm_band(np.array([e["mean"][:n] for e in logs])))
    return curves


def plot_curves(curves: dict, path: Path, title: str, fmt: str = "png") -> None:
    """The sweep's learning curves (``learning_curves``' output) as one figure at ``path``."""
    from refimpl.engine.plots import Curve, learning_curve_figure, save_figure

    fig = learning_curve_figure([Curve(x, mean, std, algo.upper())
                                 for algo, (x, mean, std) in curves.items()],
                                title, "episode return (mean ± std over seeds)", legend={})
    save_figure(fig, path, fmt, dpi=120)


