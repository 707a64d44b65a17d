"""The results tables of docs/results.md, computed from the sweeps' summary.csv files.

    python benchmarks/results_table.py results/halfcheetah-v5-tianshou results/halfcheetah-v5 \
        [--peers results/peers]

For each directory (one preset) and algorithm, over its runs: the final deterministic return
(each run's mean over its evaluation episodes) as the IQM with its 95% percentile-bootstrap
interval, mean +- std and median (``refimpl.core.stats``), the min and max run, the IQM of the best
evaluation during training where the runs evaluated, and the mean wall time per run. With
``--peers``, the rows of ``benchmarks/peers.py``'s summary.csv on the same protocol, one per
library, algorithm and settings (the libraries' defaults or rl-baselines3-zoo's).
Prints Markdown.
"""
import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from refimpl.engine.config import Config
from refimpl.core.stats import summarize


def rows(results: Path) -> list[dict]:
    with (results / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def preset_of(results: Path, algo: str, seed: str) -> str:
    """The run's preset under its current name (runs stored as 'paper' read as 'default')."""
    cfg = json.loads((results / f"{algo}-s{seed}" / "config.json").read_text())
    return Config.from_dict(cfg).preset


def table_row(name: str, algo: str, sel: list[dict]) -> str:
    ret = np.array([float(r["final_return"]) for r in sel])
    wall = np.mean([float(r["wall_s"]) for r in sel])
    s = summarize(ret) if len(ret) > 1 else None
    iqm = f"{s.iqm:,.0f} [{s.iqm_low:,.0f}, {s.iqm_high:,.0f}]" if s else f"{ret[0]:,.0f}"
    best = [float(r["best_eval_return"]) for r in sel if r.get("best_eval_return")]
    best_iqm = f"{summarize(best).iqm:,.0f}" if len(best) > 1 else "–"
    spread = (f"{ret.mean():,.0f} ± {ret.std():,.0f} | {np.median(ret):,.0f} | "
              f"{ret.min():,.0f} / {ret.max():,.0f}") if s else "– | – | –"  # one run: no spread
    return (f"| {name} | {algo.upper()} | {iqm} | {spread} | {len(sel)} | {best_iqm} | "
            f"{wall / 60:.1f} min |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--peers", type=Path, default=None)
    args = p.parse_args(argv)
    print("| preset | algorithm | final return, IQM [95% CI] | mean ± std | median | min / max "
          "| runs | best during training, IQM | wall time per run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in args.dirs:
        table = rows(d)
        for algo in dict.fromkeys(r["algo"] for r in table):
            sel = [r for r in table if r["algo"] == algo]
            print(table_row(preset_of(d, algo, sel[0]["seed"]), algo, sel))
    if args.peers is not None:
        table = rows(args.peers)
        for algo, settings in dict.fromkeys((r["algo"], r["settings"]) for r in table):
            sel = [r for r in table if (r["algo"], r["settings"]) == (algo, settings)]
            name = f"{sel[0]['library']} {sel[0]['library_version']} {settings}"
            print(table_row(name, algo, sel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
