"""refimpl/sweep.py: a grid of runs on local processes and (optional extra) on Dask; finished
runs are skipped; the summary has one row per run with the documented columns."""
import csv
import os

import pytest

from refimpl.cli import main
from refimpl.sweep import SUMMARY_COLUMNS, execute, grid, parse_seeds

TINY = ["--env", "refimpl/LQ-Lecture-v0", "--steps", "400", "--eval-episodes", "2",
        "--set", "horizon=200", "hidden=[]", "norm_obs=false", "epochs=1", "vf_epochs=1"]


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3,5-6") == [1, 3, 5, 6]
    for bad in ("a", "3-1", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_local_sweep_writes_summary_and_skips_finished_runs(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--algo", "ppo", "trpo", "--seeds", "0-1", "--workers", "2", "--out",
            str(out), *TINY]
    assert main(argv) == 0
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == SUMMARY_COLUMNS
    assert [(r["algo"], r["seed"], r["steps"]) for r in rows] == \
        [("ppo", "0", "400"), ("ppo", "1", "400"), ("trpo", "0", "400"), ("trpo", "1", "400")]
    assert (out / "learning_curves.png").stat().st_size > 0
    final = out / "ppo-s0" / "checkpoints" / "final.npz"
    stamp = os.stat(final).st_mtime_ns
    assert main(argv) == 0  # everything finished: nothing is retrained
    assert os.stat(final).st_mtime_ns == stamp
    with (out / "summary.csv").open() as f:
        assert list(csv.DictReader(f)) == rows


def test_dask_cluster_runs_the_same_grid(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the 'cluster' extra is not installed")
    specs = grid(["ppo"], [0], tmp_path, 1, env="refimpl/LQ-Lecture-v0", steps=200, horizon=200,
                 hidden=(), norm_obs=False, epochs=1, vf_epochs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        rows = execute(specs, scheduler=cluster.scheduler_address)
    local = execute(grid(["ppo"], [0], tmp_path / "local", 1, env="refimpl/LQ-Lecture-v0",
                         steps=200, horizon=200, hidden=(), norm_obs=False, epochs=1,
                         vf_epochs=1), workers=1)
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "wall_s"} for r in local]
