"""Results on Hopper-v5 and Walker2d-v5, the figures ``halfcheetah_results`` draws for
HalfCheetah-v5, from the sweeps ``hopper-v5-tianshou`` and ``walker2d-v5-tianshou`` under the
results directory (``refimpl figures --results``; by default the repository's committed
``results/``), written by ``refimpl sweep --env ENV --preset tianshou``:

* ``TASK_curves.svg``: NPG, TRPO and PPO against environment steps, the IQM over runs of the
  evaluation return with a pointwise 95% bootstrap band (``refimpl.engine.logs.evaluation_curves``);
  numbers in ``TASK_curves.csv``;
* ``TASK_iqm.svg`` and ``TASK_profiles.svg``: the final policies' IQM with its 95% bootstrap
  interval and the performance profiles (``refimpl.core.stats``); numbers in ``TASK_final.csv``;
* ``TASK_ablation_curves.svg``, ``TASK_ablation_iqm.svg``, ``TASK_ablation_profiles.svg`` (and
  their ``.csv``): the same of Engstrom et al.'s four configurations (``ABLATION``), from the
  sweeps ``TASK-engstrom-ppo``, ``-ppo-m``, ``-trpo`` and ``-trpo-plus`` (``refimpl sweep --env
  ENV --preset engstrom-...``), those that exist.

A task without a sweep directory is left out (``refimpl figures`` says so when neither has
one). Tested in ``tests/figures/test_figures_results.py``.
"""
from __future__ import annotations

from pathlib import Path

from refimpl.figures import DEFAULT_RESULTS
from refimpl.figures import halfcheetah_results as hc

TASKS = {"Hopper-v5": ("hopper", {"tianshou": "hopper-v5-tianshou"}),
         "Walker2d-v5": ("walker2d", {"tianshou": "walker2d-v5-tianshou"})}
"""Task -> (file prefix, preset -> sweep directory under the results directory)."""


ABLATION = {"engstrom-ppo": "ppo", "engstrom-ppo-m": "ppo", "engstrom-trpo": "trpo",
            "engstrom-trpo-plus": "trpo"}
"""Engstrom et al.'s configurations (``--preset``) and the algorithm each runs. The sweep of one
on a task is ``TASK-PRESET`` under the results directory (``hopper-v5-engstrom-ppo``)."""
ABLATION_STYLE = {"engstrom-ppo": "-", "engstrom-trpo-plus": "-", "engstrom-ppo-m": "--",
                  "engstrom-trpo": "--"}
"""With the code-level optimisations solid (PPO, TRPO+), without them dashed (PPO-M, TRPO); the
colour tells the algorithm."""


def make(out_dir: Path, results: Path = DEFAULT_RESULTS) -> list[Path]:
    """The figures of every task in ``TASKS`` that has a sweep directory under ``results``, then
    the ablation figures of every task with a sweep of one of ``ABLATION``; [] if none has."""
    out_dir, written = Path(out_dir), []
    for task, (prefix, names) in TASKS.items():
        found = {preset: Path(results) / name for preset, name in names.items()}
        if not any(p.is_dir() for p in found.values()):
            continue
        c = hc.curves(found)
        written += [hc.save_svg(hc.curve_figure(c, hc.ALGOS, f"{task}: NPG, TRPO and PPO"),
                                out_dir / f"{prefix}_curves.svg"),
                    hc.save_curves_csv(c, out_dir / f"{prefix}_curves.csv"),
                    *hc.final_figures(hc.final_returns(found), task, out_dir, prefix)]
    for task, (prefix, _) in TASKS.items():
        found = {preset: d for preset in ABLATION
                 if (d := Path(results) / f"{task.lower()}-{preset}").is_dir()}
        if found:
            written += _ablation(found, task, out_dir, f"{prefix}_ablation")
    return written


def _ablation(found: dict[str, Path], task: str, out_dir: Path, prefix: str) -> list[Path]:
    """The curves and final-return figures of the ablation sweeps ``found`` (preset ->
    directory) on ``task``."""
    c = hc.curves(found)
    title = f"{task}: Engstrom et al.'s PPO, PPO-M, TRPO, TRPO+"
    algos = sorted({ABLATION[preset] for preset in found})
    return [hc.save_svg(hc.curve_figure(c, algos, title, ABLATION_STYLE),
                        out_dir / f"{prefix}_curves.svg"),
            hc.save_curves_csv(c, out_dir / f"{prefix}_curves.csv"),
            *hc.final_figures(hc.final_returns(found), task, out_dir, prefix, ABLATION_STYLE)]
