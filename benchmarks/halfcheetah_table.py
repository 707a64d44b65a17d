"""The README's HalfCheetah results table, computed from the sweeps' summary.csv files.

    python benchmarks/halfcheetah_table.py results/halfcheetah-v5-tianshou results/halfcheetah-v5

For each directory (one preset) and algorithm: final deterministic return (mean over 10
evaluation episodes per run), its mean +- std over seeds, the min and max seed, and the mean
wall time per run. Prints Markdown.
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np

from refimpl.config import Config


def rows(results: Path) -> list[dict]:
    with (results / "summary.csv").open() as f:
        return list(csv.DictReader(f))


def preset_of(results: Path, algo: str, seed: str) -> str:
    """The run's preset under its current name (runs stored as 'paper' read as 'default')."""
    cfg = json.loads((results / f"{algo}-s{seed}" / "config.json").read_text())
    return Config.from_dict(cfg).preset


def main(dirs: list[str]) -> int:
    print("| preset | algorithm | final return, mean ± std over seeds | min / max seed | seeds "
          "| wall time per run |")
    print("|---|---|---|---|---|---|")
    for d in map(Path, dirs):
        table = rows(d)
        for algo in dict.fromkeys(r["algo"] for r in table):
            sel = [r for r in table if r["algo"] == algo]
            ret = np.array([float(r["final_return"]) for r in sel])
            wall = np.mean([float(r["wall_s"]) for r in sel])
            print(f"| {preset_of(d, algo, sel[0]['seed'])} | {algo.upper()} | "
                  f"{ret.mean():,.0f} ± {ret.std():,.0f} | {ret.min():,.0f} / {ret.max():,.0f} | "
                  f"{len(sel)} | {wall / 60:.1f} min |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
