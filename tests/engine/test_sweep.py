"""refimpl/engine/sweep.py and sweep_plan.py: a grid of runs on local processes and (optional extra) on Dask; finished
runs are skipped, but only if they are the runs asked for; the summary has one row per run with
the documented columns; bad flags and ``--set`` values are one line and leave nothing behind."""
import csv
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.cli import main
from refimpl.engine.sweep import SUMMARY_COLUMNS, execute
from refimpl.engine.sweep_plan import (MAX_SEEDS, check_sweep_out, grid, parse_override,
                                       parse_seeds)
from support import odd_spaces  # noqa: F401  (registers test/Dict-v0, test/TupleObservation-v0)

TINY = ["--env", "refimpl/LQ-Lecture-v0", "--steps", "400", "--eval-episodes", "2",
        "--set", "horizon=200", "hidden=[]", "norm_obs=false", "epochs=1", "vf_epochs=1",
        "eval_every=200"]


def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,3,5-6") == [1, 3, 5, 6]
    assert parse_seeds("0-499,500-999") == list(range(MAX_SEEDS))
    for bad in ("a", "3-1", "", "0-1000", "0-500,501-1000", "0-99999999999999999999999"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


@pytest.mark.parametrize("seeds, match", [
    ("5-3", "the range 5-3 ends below its start; write it 3-5"),
    ("0-", "'0-' is neither a seed nor a range of seeds; give seeds >= 0 like 0-4 or 1,3,5"),
    ("a", "'a' is neither a seed nor a range of seeds"),
    ("0,,1", "an empty item is neither a seed nor a range of seeds"),
    ("0-99999999", "0-99999999 is 100,000,000 seeds, more than the 1000 a sweep takes"),
])
def test_bad_seeds_are_one_line_naming_the_flag_and_what_is_wrong(seeds, match, tmp_path, capsys):
    """argparse's own message named the parser, "invalid parse_seeds value", and 0-99999999
    listed its seeds for 30 s before anything was said."""
    with pytest.raises(SystemExit) as e:
        main(["sweep", "--algo", "ppo", "--seeds", seeds, "--out", str(tmp_path / "s"), *TINY])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"refimpl sweep: error: argument --seeds: {match}"), err
    assert list(tmp_path.iterdir()) == []


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
    for r in rows:  # the best of the run's two evaluations during training, and its step
        with (out / f"{r['algo']}-s{r['seed']}" / "eval.csv").open() as f:
            evals = [(float(e["mean"]), int(e["env_steps"])) for e in csv.DictReader(f)]
        assert [step for _, step in evals] == [200, 400]
        best = max(evals, key=lambda e: e[0])
        assert (float(r["best_eval_return"]), int(r["best_eval_step"])) == \
            (round(best[0], 2), best[1])
        started = json.loads((out / f"{r['algo']}-s{r['seed']}" / "run.json").read_text())
        for k in ("refimpl", "git_commit", "python", "numpy", "scipy", "gymnasium", "mujoco",
                  "cpu", "platform"):  # what the run started on, as its run.json says
            assert r[k] == ("" if started[k] is None else started[k]), k
        assert r["blas"].split("; ") == [  # each library, its one thread a sweep's worker's
            " ".join(str(lib[k]) for k in ("internal_api", "version", "architecture") if k in lib)
            + " x1" for lib in started["blas"]]
    final = out / "ppo-s0" / "checkpoints" / "final.npz"
    stamp = os.stat(final).st_mtime_ns
    assert main(argv) == 0  # everything finished: nothing is retrained
    assert os.stat(final).st_mtime_ns == stamp
    with (out / "summary.csv").open() as f:
        assert list(csv.DictReader(f)) == rows


def test_dask_cluster_runs_the_same_grid(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the 'cluster' extra is not installed")
    specs = grid(["ppo"], [0], tmp_path, eval_episodes=1, env="refimpl/LQ-Lecture-v0", steps=200, horizon=200,
                 hidden=(), norm_obs=False, epochs=1, vf_epochs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        rows = execute(specs, scheduler=cluster.scheduler_address)
    local = execute(grid(["ppo"], [0], tmp_path / "local", eval_episodes=1, env="refimpl/LQ-Lecture-v0",
                         steps=200, horizon=200, hidden=(), norm_obs=False, epochs=1,
                         vf_epochs=1), workers=1)
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in rows] == \
        [{k: v for k, v in r.items() if k != "wall_s"} for r in local]


def test_dask_workers_without_the_clients_filesystem(tmp_path, monkeypatch):
    """Workers in their own scratch directories, started in another working directory than the
    client's, whose --out is relative: a worker that wrote to the run's path itself would write
    under its own working directory. The client's --out receives every file of each run, one of
    them continued (not restarted) from what the client held of it after its first update; the
    runs equal those of local processes; nothing is written but under --out and the scratch
    directories, which the workers clean up."""
    distributed = pytest.importorskip("distributed", reason="the 'cluster' extra is not installed")
    import shutil

    from refimpl.engine import provenance
    from refimpl.engine.config import Config
    from refimpl.engine.sweep import RUN_FILES
    from refimpl.engine.trainer import Run
    from refimpl.engine.logs import TIMING_COLUMNS

    def specs(out):
        return grid(["ppo", "trpo"], [0], out, eval_episodes=1, env="refimpl/LQ-Lecture-v0",
                    steps=400, horizon=200, hidden=(), norm_obs=False, epochs=1, vf_epochs=1,
                    eval_every=200)

    def rows_of(path):
        with path.open() as f:
            return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS}
                    for r in csv.DictReader(f)]
    local = execute(specs(tmp_path / "local"), workers=1)
    for d in ("client", "workers", "scratch", "half"):
        (tmp_path / d).mkdir()
    half = Run(Config.from_dict(specs(Path("out"))[1].cfg), tmp_path / "half" / "trpo-s0")
    half.append_progress(half.step())
    half.append_eval(half.evaluate())
    half.save()
    half.close()
    first_row = (tmp_path / "half" / "trpo-s0" / "progress.csv").read_text().splitlines()[1]
    shutil.copytree(tmp_path / "half" / "trpo-s0", tmp_path / "client" / "out" / "trpo-s0")
    shutil.rmtree(tmp_path / "half")
    monkeypatch.chdir(tmp_path / "workers")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  local_directory=str(tmp_path / "scratch"),
                                  dashboard_address=None) as cluster:
        monkeypatch.chdir(tmp_path / "client")
        rows = execute(specs(Path("out")), scheduler=cluster.scheduler_address)
    out = tmp_path / "client" / "out"
    # the summary's provenance columns are what each run started on: trpo-s0 started in this
    # process, whose BLAS threads are not limited to one as a sweep's workers' are
    differ = {"wall_s", *provenance.FIELDS}
    assert [{k: v for k, v in r.items() if k not in differ} for r in rows] == \
        [{k: v for k, v in r.items() if k not in differ} for r in local]
    for run_dir in ("ppo-s0", "trpo-s0"):
        assert all((out / run_dir / name).is_file() for name in RUN_FILES), run_dir
        for name in ("progress.csv", "eval.csv"):
            assert rows_of(out / run_dir / name) == rows_of(tmp_path / "local" / run_dir / name)
    # continued: update 1's row, timing included, is the one the client held
    assert (out / "trpo-s0" / "progress.csv").read_text().splitlines()[1] == first_row
    written = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert written <= {"local", "client", "scratch"}, written
    assert not list((tmp_path / "scratch").rglob("refimpl-run-*"))


def _one_line(capsys, argv, *matches):
    """main(argv) exits 2 with one stderr line ``refimpl: error: ...`` containing ``matches``."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("refimpl: error: ") and all(m in err for m in matches), err


@pytest.mark.parametrize("extra, match", [
    (["--set", "bogus=1"], "Config has no field 'bogus'"),
    (["--set", "lr=abc"], "lr takes a number, got 'abc'"),
    (["--set", "horizon=512.5"], "horizon takes an integer, got '512.5'"),
    (["--set", "norm_obs=yes"], "norm_obs takes true or false"),
    (["--set", "hidden=64,x"], "hidden takes integers separated by commas"),
    (["--set", "seed=3"], "give seed with --seeds"),
    (["--set", "horizon"], "--set takes FIELD=VALUE"),
    (["--set", "gamma=2"], "gamma"),  # a value Config itself refuses
    (["--env", "test/Dict-v0"], "test/Dict-v0 has the action space Dict("),
    (["--env", "Blackjack-v1"], "Blackjack-v1 has the observation space Tuple(Discrete(32)"),
    (["--env", "test/TupleObservation-v0"], "has the observation space Tuple(Discrete(2), Box("),
    (["--env", "NoSuch-v1"], "cannot make environment 'NoSuch-v1'"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--eval-episodes", "0"], "--eval-episodes must be positive"),
    (["--steps", "0"], "--steps must be an integer >= 1"),
])
def test_bad_sweep_input_is_one_line_and_creates_no_directory(extra, match, tmp_path, capsys):
    out = tmp_path / "sweep"
    _one_line(capsys, ["sweep", "--algo", "ppo", "--seeds", "0", "--out", str(out), *TINY,
                       *extra], match)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_scheduler_fails_fast_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="the 'cluster' extra is not installed")
    import time

    out = tmp_path / "sweep"
    t0 = time.monotonic()
    _one_line(capsys, ["sweep", "--algo", "ppo", "--seeds", "0", "--out", str(out), *TINY,
                       "--scheduler", "tcp://127.0.0.1:1"],
              "cannot reach a Dask scheduler at tcp://127.0.0.1:1")
    # SCHEDULER_TIMEOUT_S = 5 plus importing distributed (about 2 s here); Dask's own 30 s
    # default would exceed it
    assert time.monotonic() - t0 < 15
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("state", ["finished", "partial"])
def test_existing_runs_with_other_settings_are_refused_naming_the_field(state, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--algo", "ppo", "--seeds", "0", "--workers", "1", "--out", str(out), *TINY]
    assert main(argv) == 0
    if state == "partial":
        (out / "ppo-s0" / "checkpoints" / "final.npz").unlink()
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    _one_line(capsys, [*argv, "--steps", "800"], "ppo-s0 holds a run with steps=400",
              "asks for steps=800")
    _one_line(capsys, [*argv[:-1], "horizon=100", "epochs=1"],  # --set replaced: other horizon
              "holds a run with horizon=200", "asks for horizon=100")
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


def test_existing_runs_continue_the_way_the_sweep_asks_them_to_run(tmp_path, capsys):
    """How a run is done (``train.HOW_IT_RUNS``: --vector, where evaluations and critic fits
    run) is not a different run: a sweep over existing runs with other such settings is not
    refused, a run it continues takes them (its config.json records them), and the summary is
    the same but for the wall time."""
    out = tmp_path / "sweep"
    argv = ["sweep", "--algo", "ppo", "--seeds", "0-1", "--workers", "1", "--out", str(out),
            *TINY]
    assert main(argv) == 0
    before = list(csv.DictReader((out / "summary.csv").open()))
    (out / "ppo-s1" / "checkpoints" / "final.npz").unlink()  # stopped after its last update
    assert main([*argv, "vector=sync", "critic_process=false", "eval_process=false"]) == 0
    capsys.readouterr()
    after = list(csv.DictReader((out / "summary.csv").open()))
    assert [{k: v for k, v in r.items() if k != "wall_s"} for r in after] == \
        [{k: v for k, v in r.items() if k != "wall_s"} for r in before]
    continued = json.loads((out / "ppo-s1" / "config.json").read_text())
    assert (continued["vector"], continued["critic_process"], continued["eval_process"]) == \
        ("sync", False, False)
    assert json.loads((out / "ppo-s0" / "config.json").read_text())["critic_process"] is True


@pytest.mark.parametrize("given, note, seeds", [
    (["--algo", "ppo", "ppo", "--seeds", "0"], "--algo names ppo more than once", ["0"]),
    (["--algo", "ppo", "--seeds", "0,0-1"], "--seeds names 0 more than once", ["0", "1"]),
])
def test_a_run_named_twice_is_trained_once_with_a_note(given, note, seeds, tmp_path, capsys):
    """Two workers given one run twice would train it into one directory at once; it is trained
    once, the summary has one row per run, and a one-line note says so."""
    out = tmp_path / "sweep"
    assert main(["sweep", *given, "--workers", "2", "--out", str(out), *TINY]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        f"refimpl: note: {note}; each run is trained once"], captured.err
    with (out / "summary.csv").open() as f:
        rows = [(r["algo"], r["seed"]) for r in csv.DictReader(f)]
    assert rows == [("ppo", s) for s in seeds]
    assert f"over {len(seeds)} seeds" in captured.out
    for _, seed in rows:
        with (out / f"ppo-s{seed}" / "progress.csv").open() as f:
            assert [r["update"] for r in csv.DictReader(f)] == ["1", "2"]


def test_a_run_directory_holding_other_files_is_refused_before_any_run(tmp_path, capsys):
    out = tmp_path / "sweep"
    (out / "ppo-s1").mkdir(parents=True)
    (out / "ppo-s1" / "notes.txt").write_text("mine")
    _one_line(capsys, ["sweep", "--algo", "ppo", "--seeds", "0-1", "--out", str(out), *TINY],
              f"{out / 'ppo-s1'} is not empty and holds no refimpl run (it holds notes.txt)")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == \
        ["sweep", "sweep/ppo-s1", "sweep/ppo-s1/notes.txt"]


@pytest.mark.parametrize("entry, is_dir", [("notes.txt", False), ("photos", True),
                                           ("ppo-seed0", True), ("summary.csv.bak", False)])
def test_a_sweep_directory_holding_other_files_is_refused(tmp_path, capsys, entry, is_dir):
    """A sweep's --out may be new, empty, or hold what a sweep writes: run directories ALGO-sN,
    summary.csv, learning_curves.png. Anything else (as '--out /' would hold) is refused in one
    line naming it, and nothing is written. The committed results/ directories pass."""
    out = tmp_path / "sweep"
    out.mkdir()
    (out / entry).mkdir() if is_dir else (out / entry).write_text("mine")
    (out / "summary.csv").write_text("algo,seed\n")
    _one_line(capsys, ["sweep", "--algo", "ppo", "--seeds", "0", "--out", str(out), *TINY],
              f"{out} is not empty and holds no refimpl sweep (it holds {entry})")
    assert sorted(p.name for p in out.iterdir()) == sorted([entry, "summary.csv"])
    sweeps = [d for d in (Path(__file__).parents[2] / "results").iterdir()
              if not d.name.startswith("peers")]  # peers/: benchmarks/peers.py's, not a sweep's
    assert len(sweeps) >= 6
    for results in sweeps:
        check_sweep_out(results)


@given(n=st.integers(-10**12, 10**12), x=st.floats(allow_nan=False),
       widths=st.lists(st.integers(1, 512), max_size=4))
def test_set_values_parse_to_the_config_field_types(n, x, widths):
    assert parse_override(f"horizon={n}") == ("horizon", n)
    field, value = parse_override(f"lr={x!r}")
    assert field == "lr" and type(value) is float and value == x  # repr round-trips a float
    assert parse_override(f"hidden={','.join(map(str, widths))}") == ("hidden", tuple(widths))
    assert parse_override(f"hidden={widths}") == ("hidden", tuple(widths))


def test_set_bools_optionals_and_text():
    assert parse_override("norm_obs=false") == ("norm_obs", False)
    assert parse_override("norm_obs=True") == ("norm_obs", True)
    assert parse_override("target_kl=none") == ("target_kl", None)
    assert parse_override("target_kl=0.02") == ("target_kl", 0.02)
    assert parse_override("activation=relu") == ("activation", "relu")
    assert parse_override('activation="relu"') == ("activation", "relu")
    field, value = parse_override("gamma=1")
    assert (field, value) == ("gamma", 1.0) and type(value) is float
