"""Results on Hopper-v5 and Walker2d-v5, the figures ``halfcheetah_results`` draws for
HalfCheetah-v5, from the sweeps ``hopper-v5-tianshou`` and ``walker2d-v5-tianshou`` under the
results directory (``refimpl figures --results``; by default the repository's committed
``results/``), written by ``refimpl sweep --env ENV --preset tianshou``:

* ``TASK_curves.svg``: NPG, TRPO and PPO against environment steps, the IQM over runs of the
  evaluation return with a pointwise 95% bootstrap band (``refimpl.engine.logs.evaluation_curves``);
  numbers in ``TASK_curves.csv``;
* ``TASK_iqm.svg`` and ``TASK_profiles.svg``: the final policies' IQM with its 95% bootstrap
  interval and the performance profiles (``refimpl.core.stats``); numbers in ``TASK_final.csv``.

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


def make(out_dir: Path, results: Path = DEFAULT_RESULTS) -> list[Path]:
    """The figures of every task in ``TASKS`` that has a sweep directory under ``results``; []
    if none has."""
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
    return written
