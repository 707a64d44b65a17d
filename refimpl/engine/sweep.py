"""``refimpl sweep``: a grid of training runs (algorithms x seeds), each in its own directory,
on local worker processes (one per core by default) or on a Dask distributed cluster.

    refimpl sweep --algo ppo trpo npg --seeds 0-4 --steps 1000000 --out results/halfcheetah-v5

On a Dask cluster (``--scheduler``) the workers need not share the client's filesystem: each
run travels as its ``RUN_FILES`` (``run_shipped``), unless ``--shared-fs``.

Resumable: a finished run (``checkpoints/final.npz`` present) is skipped, an interrupted one
continues from its latest checkpoint; either counts only if its stored config is the one the
sweep asks for (otherwise the sweep refuses, naming the differing field). Every flag and
``--set`` value is checked, and every run's Config built, before any directory is created; an
algorithm or seed given twice names one run, trained once (a one-line note says so), and a run's
directory that holds other files than a run's is refused. Ctrl-C stops the runs in training as
it stops ``refimpl train`` (each keeps its last checkpoint, or nothing before its first) and
starts no other; the sweep exits with status 130, naming the command that continues it.
At the end every final policy is evaluated deterministically (``--eval-episodes``, default 10,
also the episodes of each evaluation during training, ``--set eval_every=N``) and
``summary.csv`` gets one row per run: ``algo,seed,steps,final_return,final_return_std,wall_s,
best_eval_return,best_eval_step`` (the last two from eval.csv, the best evaluation during
training, which Tianshou's published numbers report; "final" stays the headline), then what the
run started on, the fields of its run.json (``provenance.FIELDS``: refimpl's version and commit,
Python, NumPy, SciPy, gymnasium, MuJoCo, the BLAS, the CPU, the platform; empty for a run from
before run.json); ``learning_curves.png`` shows the mean +- std over seeds of each algorithm's
episode return against environment steps. With ``--tensorboard DIR`` each run also writes its
logs as TensorBoard scalars into ``DIR/<run directory name>``. The grid, and every check made
before anything is written: ``engine.sweep_plan``. Tested in ``tests/engine/test_sweep.py``.
"""
from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import shlex
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from refimpl.engine import checkpoint, provenance
from refimpl.engine.config import ALGOS, Config
from refimpl.engine.presets import PRESETS, preset_name
from refimpl.engine.sweep_plan import MAX_SEEDS, RunSpec, parse_seeds, plan, seeds_flag
from refimpl.engine.logs import best_evaluation, learning_curves, plot_curves

SUMMARY_COLUMNS = ("algo", "seed", "steps", "final_return", "final_return_std", "wall_s",
                   "best_eval_return", "best_eval_step", *provenance.FIELDS)
SCHEDULER_TIMEOUT_S = 5
"""Seconds to wait for a Dask scheduler to answer before the sweep gives up (Dask's own default
is 30 s; a reachable scheduler answers within milliseconds)."""


def run_one(spec: RunSpec) -> dict:
    """Train (or finish) one run and evaluate its final policy; returns its summary row."""
    import numpy  # noqa: F401  (load OpenBLAS before limiting it)
    from threadpoolctl import threadpool_limits

    from refimpl.engine.evaluate import evaluate
    from refimpl.engine.trainer import train
    from refimpl.engine.rundir import HOW_IT_RUNS, run_evidence

    threadpool_limits(1, user_api="blas")
    out = Path(spec.out)
    final = out / "checkpoints" / "final.npz"
    tensorboard = None if spec.tensorboard is None else Path(spec.tensorboard)
    if not final.exists():
        if run_evidence(out) is not None:  # continued the way this sweep asks
            train({k: spec.cfg[k] for k in HOW_IT_RUNS}, out, resume=True, progress=False,
                  tensorboard=tensorboard)
        else:
            train(Config.from_dict(spec.cfg), out, progress=False, tensorboard=tensorboard)
    d = checkpoint.load(final)
    returns = evaluate(final, episodes=spec.cfg["eval_episodes"], deterministic=True)
    return {"algo": spec.cfg["algo"], "seed": spec.cfg["seed"], "steps": int(d["env_steps"]),
            "final_return": round(float(returns.mean()), 2),
            "final_return_std": round(float(returns.std()), 2),
            "wall_s": round(float(d["wall_time"]), 1), **best_evaluation(out),
            **provenance.summary_fields(_run_json(out))}


def _run_json(out: Path) -> dict | None:
    """The run's run.json (what it started on), or None if it has none or it is unreadable."""
    try:
        d = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


RUN_FILES = ("config.json", "run.json", "progress.csv", "eval.csv", "learning_curve.png",
             "checkpoints/latest.npz", "checkpoints/final.npz")
"""The files of a run that travel between the client and a Dask worker that does not share its
filesystem: what the run needs to resume, its logs and its final policy (the periodic
``update_NNNNNN.npz`` checkpoints stay behind)."""


def run_files(out: Path) -> dict[str, bytes]:
    """The RUN_FILES that exist in run directory ``out``, by relative name."""
    return {name: (Path(out) / name).read_bytes() for name in RUN_FILES
            if (Path(out) / name).is_file()}


def write_run_files(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (relative name -> contents) into run directory ``out``, each atomically."""
    for name, data in files.items():
        path = Path(out) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.atomic_write(path, lambda f, data=data: f.write(data))


def run_shipped(spec: RunSpec, files: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    """``run_one`` on a worker without the client's filesystem: the run is continued from
    ``files`` (what the client holds of it) in a scratch directory of the worker, which is
    removed afterwards; returns the summary row and the run's files for the client to write.
    The worker is never told the client's path."""
    import shutil
    import tempfile

    try:
        from distributed import get_worker
        parent = get_worker().local_directory
    except (ImportError, ValueError):  # not inside a Dask worker
        parent = None
    scratch = Path(tempfile.mkdtemp(prefix="refimpl-run-", dir=parent))
    try:
        out = scratch / Path(spec.out).name
        write_run_files(out, files)
        row = run_one(RunSpec(spec.cfg, str(out)))
        return row, run_files(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def execute(specs: list[RunSpec], workers: int | None = None, scheduler: str | None = None,
            shared_fs: bool = False) -> list[dict]:
    """Run ``specs`` on local processes or, with ``scheduler``, on a Dask cluster."""
    with runner(workers, scheduler, shared_fs) as run_all:
        return run_all(specs)


@contextmanager
def runner(workers: int | None = None, scheduler: str | None = None, shared_fs: bool = False):
    """A function ``specs -> summary rows`` that runs ``run_one`` on ``workers`` local
    processes or, with ``scheduler``, on the Dask cluster there; a one-line ValueError if that
    cluster does not answer within ``SCHEDULER_TIMEOUT_S``. On a cluster the workers write
    into the run directories themselves only with ``shared_fs``; otherwise each run travels as
    its RUN_FILES (``run_shipped``) and the client writes them under the run's directory as
    soon as that run finishes, so an interrupted sweep keeps every finished run."""
    if scheduler is None:
        with ProcessPoolExecutor(max_workers=workers, initializer=_Worker.start) as pool:
            try:
                yield lambda specs: list(pool.map(_Worker.run, specs))
            except KeyboardInterrupt:  # also for workers the signal did not reach
                for process in multiprocessing.active_children():
                    os.kill(process.pid, signal.SIGINT)
                raise
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'refimpl[cluster]'") \
            from None
    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, ValueError, TypeError) as e:
        raise ValueError(f"cannot reach a Dask scheduler at {scheduler} ({e}); start one there "
                         "(dask scheduler) or fix --scheduler") from None
    with client:
        if shared_fs:
            yield lambda specs: client.gather(client.map(run_one, specs, pure=False))
        else:
            yield lambda specs: _gather_shipped(client, specs)


class _Worker:
    """A local worker process of the sweep and what it knows of Ctrl-C. SIGINT (Ctrl-C reaches
    the workers with the sweep, which also sends it to them) stops the run it is training as it
    stops ``refimpl train`` (KeyboardInterrupt inside ``train``), once, and every run it is
    given afterwards; while it waits for a run it only takes note, so that no worker prints a
    traceback. Tested in ``tests/engine/test_faults.py::
    test_interrupted_sweep_exits_130_in_one_line_naming_the_command_that_continues_it``."""

    interrupted = False
    training = False

    @staticmethod
    def start() -> None:
        """The pool's initializer."""
        signal.signal(signal.SIGINT, _Worker._on_interrupt)

    @staticmethod
    def _on_interrupt(signum, frame) -> None:
        first, _Worker.interrupted = not _Worker.interrupted, True
        if first and _Worker.training:
            raise KeyboardInterrupt

    @staticmethod
    def run(spec: RunSpec) -> dict:
        """``run_one(spec)``, unless the sweep has been interrupted."""
        if _Worker.interrupted:
            raise KeyboardInterrupt
        _Worker.training = True
        try:
            return run_one(spec)
        finally:
            _Worker.training = False


def _gather_shipped(client, specs: list[RunSpec]) -> list[dict]:
    """Submit every run with the files the client has of it; write each run's files back as it
    finishes; return the summary rows in the order of ``specs``."""
    from distributed import as_completed

    futures = {client.submit(run_shipped, spec, run_files(Path(spec.out)), pure=False): i
               for i, spec in enumerate(specs)}
    rows: list[dict] = [{}] * len(specs)
    for future in as_completed(futures):
        row, files = future.result()
        write_run_files(Path(specs[futures[future]].out), files)
        rows[futures[future]] = row
    return rows


def write_summary(out: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, SUMMARY_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(sorted(rows, key=lambda r: (r["algo"], r["seed"])))
    path = out / "summary.csv"
    checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue().encode()))
    return path


def add_arguments(p) -> None:
    """The ``sweep`` flags; every help text ends with the default (tests/engine/test_sweep.py)."""
    p.add_argument("--algo", nargs="+", choices=ALGOS, default=["ppo", "trpo", "npg"],
                   help="algorithms (default: ppo trpo npg)")
    p.add_argument("--seeds", type=seeds_flag, default=parse_seeds("0-4"),
                   help=f"seeds, a range or a list: 0-4, 1,3,5; at most {MAX_SEEDS} (default: "
                        "0-4)")
    p.add_argument("--steps", type=int, default=1_000_000,
                   help="environment steps of each run (default: 1000000)")
    p.add_argument("--env", default="HalfCheetah-v5",
                   help="Gymnasium environment id (default: HalfCheetah-v5)")
    p.add_argument("--preset", type=preset_name, choices=PRESETS, default="default",
                   help="named settings over the algorithms' defaults, PRESETS in "
                        "refimpl/engine/presets.py (default: default)")
    p.add_argument("--out", type=Path, default=Path("results") / "halfcheetah-v5",
                   help="directory of the runs, summary.csv and learning_curves.png "
                        "(default: results/halfcheetah-v5)")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes (default: one per core)")
    p.add_argument("--scheduler", default=None,
                   help="address of a Dask distributed scheduler (default: none, local "
                        "processes)")
    p.add_argument("--shared-fs", action="store_true",
                   help="with --scheduler: the workers share this filesystem and write the runs "
                        "under --out themselves (default: off, each run's files are sent back "
                        "and written here)")
    p.add_argument("--eval-episodes", type=int, default=10,
                   help="episodes of each evaluation, during training and of the final policy, "
                        "all with the policy's mode (default: 10)")
    p.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                   help="config overrides applied to every run, each of its field's type, "
                        "e.g. --set horizon=512 hidden=64,64 norm_obs=false target_kl=none "
                        "(default: none)")
    p.add_argument("--tensorboard", type=Path, default=None, metavar="DIR",
                   help="also write each run's logs as TensorBoard scalars into DIR/RUN, RUN the "
                        "run's directory name (needs the extra: pip install "
                        "'refimpl[tensorboard]'; default: none)")


def run(args) -> int:
    """The sweep of ``args``; its exit status (130 after Ctrl-C, naming the command that
    continues it: ``args.command_line``, the command as given)."""
    try:
        return _sweep(args)
    except KeyboardInterrupt:
        print("\nrefimpl: interrupted; finished runs are kept, and the others continue from "
              f"their last checkpoint; continue with: {shlex.join(args.command_line)}",
              file=sys.stderr)
        return 130


def _sweep(args) -> int:
    specs = plan(args)
    with runner(args.workers, args.scheduler, args.shared_fs) as run_all:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create {args.out}: {e.strerror or e}") from None
        checkpoint.check_writable_directory(args.out, "the sweep's summary")
        rows = run_all(specs)
    print(f"wrote {write_summary(args.out, rows)}")
    algos = list(dict.fromkeys(args.algo))
    for algo in algos:
        r = np.array([row["final_return"] for row in rows if row["algo"] == algo])
        print(f"{algo:>5}: final return {r.mean():.0f} +- {r.std():.0f} over {len(r)} seeds")
    dirs = {a: [Path(s.out) for s in specs if s.cfg["algo"] == a] for a in algos}
    plot_curves(learning_curves(dirs), args.out / "learning_curves.png",
                f"{args.env}, preset {args.preset!r}")
    return 0
