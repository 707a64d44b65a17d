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
logs as TensorBoard scalars into ``DIR/<run directory name>``. Tested in
``tests/engine/test_sweep.py``.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import io
import json
import multiprocessing
import os
import re
import shlex
import signal
import sys
import typing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refimpl.engine import checkpoint, provenance
from refimpl.engine.config import ALGOS, PRESET_ALIASES, PRESETS, Config
from refimpl.engine.logs import best_evaluation, learning_curves, plot_curves

SUMMARY_COLUMNS = ("algo", "seed", "steps", "final_return", "final_return_std", "wall_s",
                   "best_eval_return", "best_eval_step", *provenance.FIELDS)
SCHEDULER_TIMEOUT_S = 5
"""Seconds to wait for a Dask scheduler to answer before the sweep gives up (Dask's own default
is 30 s; a reachable scheduler answers within milliseconds)."""
OWN_FLAGS = {"algo": "--algo", "seed": "--seeds", "preset": "--preset", "env": "--env",
             "steps": "--steps", "eval_episodes": "--eval-episodes"}
"""Config fields the sweep sets from its own flags, which ``--set`` therefore refuses."""


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a configuration, its directory and, with ``--tensorboard``, the
    directory of its TensorBoard event file."""

    cfg: dict
    out: str
    tensorboard: str | None = None


MAX_SEEDS = 1000
"""Most seeds one sweep takes (``--seeds``): each seed is one training run per algorithm, and a
1M-step HalfCheetah run takes 5 to 15 minutes of one core (``results/*/summary.csv``, wall_s), so
1000 seeds of three algorithms are already weeks of one core. A larger range is a typo
(0-99999999 spent 30 s listing its seeds before anything was said)."""


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '1,3,5' -> [1, 3, 5]; otherwise a one-line ValueError saying
    what is wrong: a part that is not a seed or a range, a range that ends below its start, or
    more than MAX_SEEDS seeds (counted before any is listed)."""
    ranges = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            what = repr(part.strip()) if part.strip() else "an empty item"
            raise ValueError(f"{what} is neither a seed nor a range of seeds; give seeds >= 0 "
                             "like 0-4 or 1,3,5")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise ValueError(f"the range {lo}-{hi} ends below its start; write it {hi}-{lo}")
        ranges.append(range(lo, hi + 1))
    count = sum(r.stop - r.start for r in ranges)  # len() overflows past 2**63
    if count > MAX_SEEDS:
        raise ValueError(f"{text.strip()} is {count:,} seeds, more than the {MAX_SEEDS} a sweep "
                         "takes (each seed is a training run of every algorithm)")
    return [seed for r in ranges for seed in r]


def _seeds_flag(text: str) -> list[int]:
    """``parse_seeds`` as an argparse type: its message after "argument --seeds:"."""
    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def grid(algos, seeds, out: Path, preset: str = "default", **overrides) -> list[RunSpec]:
    """One RunSpec per algorithm and seed, each once (an algorithm or seed given twice is one
    run: two workers would otherwise train it into one directory at once)."""
    return [RunSpec(Config.for_algo(a, preset, seed=s, **overrides).to_dict(),
                    str(out / f"{a}-s{s}")) for a in dict.fromkeys(algos)
            for s in dict.fromkeys(seeds)]


def note_repeated(flag: str, values: list) -> None:
    """Say in one line on stderr which of ``values`` (given with ``flag``) are repeated."""
    repeated = [str(v) for v, n in Counter(values).items() if n > 1]
    if repeated:
        print(f"refimpl: note: {flag} names {', '.join(repeated)} more than once; each run is "
              "trained once", file=sys.stderr)


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
    p.add_argument("--seeds", type=_seeds_flag, default=parse_seeds("0-4"),
                   help=f"seeds, a range or a list: 0-4, 1,3,5; at most {MAX_SEEDS} (default: "
                        "0-4)")
    p.add_argument("--steps", type=int, default=1_000_000,
                   help="environment steps of each run (default: 1000000)")
    p.add_argument("--env", default="HalfCheetah-v5",
                   help="Gymnasium environment id (default: HalfCheetah-v5)")
    p.add_argument("--preset", type=_preset_name, choices=PRESETS, default="default",
                   help="named settings over the algorithms' defaults, PRESETS in "
                        "refimpl/engine/config.py (default: default)")
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


def _preset_name(text: str) -> str:
    """A former preset name (``PRESET_ALIASES``) reads as the preset it became."""
    return PRESET_ALIASES.get(text, text)


def parse_override(pair: str) -> tuple[str, object]:
    """``FIELD=VALUE`` -> (field, value) with the value of the Config field's type: integers
    for int fields (``512``, not ``512.5``), numbers for float, ``true``/``false`` for bool,
    ``none`` for an optional field, integers separated by commas for ``hidden`` (``[]``,
    ``64,64``, ``[64, 64]``), text for str. ValueError (one line) otherwise."""
    field, sep, text = pair.partition("=")
    if not sep:
        raise ValueError(f"--set takes FIELD=VALUE, got {pair!r}")
    types = typing.get_type_hints(Config)
    if field not in types:
        raise ValueError(f"--set {pair}: Config has no field {field!r}")
    if field in OWN_FLAGS:
        raise ValueError(f"--set {pair}: give {field} with {OWN_FLAGS[field]}")
    try:
        return field, _parse_as(types[field], text.strip())
    except ValueError as e:
        raise ValueError(f"--set {pair}: {field} takes {e}, got {text!r}") from None


def _parse_as(kind, text: str):
    """``text`` as a value of ``kind`` (int, float, bool, str, tuple[int, ...] or X | None);
    ValueError whose message names what ``kind`` takes."""
    args = typing.get_args(kind)
    if type(None) in args:
        if text.lower() in ("none", "null"):
            return None
        (kind,) = (a for a in args if a is not type(None))
    if typing.get_origin(kind) is tuple:
        items = text.strip().strip("[]()").replace(",", " ").split()
        if not all(re.fullmatch(r"[+-]?\d+", t) for t in items):
            raise ValueError("integers separated by commas")
        return tuple(int(t) for t in items)
    if kind is bool:
        if text.lower() not in ("true", "false"):
            raise ValueError("true or false")
        return text.lower() == "true"
    if kind is int:
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError("an integer")
        return int(text)
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("a number") from None
    assert kind is str, f"no --set parser for Config fields of type {kind}"
    return json.loads(text) if text.startswith('"') and text.endswith('"') else text


SWEEP_FILES = ("summary.csv", "learning_curves.png", ".summary.csv.*.tmp",
               ".learning_curves.png.*.tmp")
"""The files a sweep writes in its directory beside the run directories (and the temporary
files of their atomic writes)."""
RUN_NAME = re.compile(r"(vpg|npg|trpo|ppo)-s\d+")
"""The name of a sweep's run directory: ALGO-sSEED (``grid``)."""


def check_sweep_out(out: Path) -> None:
    """ValueError (one line) unless directory ``out`` may take a sweep without writing among a
    user's files: it does not exist, is empty, or holds only run directories (``RUN_NAME``,
    each checked as a run by ``check_existing_runs``) and ``SWEEP_FILES``. ``--out /`` or a
    directory of other files is refused before anything is written. Tested in
    ``tests/engine/test_sweep.py::test_a_sweep_directory_holding_other_files_is_refused``."""
    if not out.is_dir():
        return
    try:
        foreign = sorted(p.name for p in out.iterdir()
                         if not (p.is_dir() and RUN_NAME.fullmatch(p.name))
                         and not any(fnmatch.fnmatchcase(p.name, f) for f in SWEEP_FILES))
    except OSError as e:
        raise ValueError(f"cannot read {out}: {e.strerror or e}") from None
    if foreign:
        raise ValueError(f"{out} is not empty and holds no refimpl sweep (it holds {foreign[0]}); "
                         "give a new or empty directory, or one a sweep wrote")


def check_existing_runs(specs: list[RunSpec]) -> None:
    """ValueError (one line) unless every run directory that already holds a run (its
    config.json, written when the run starts) holds the run that ``specs`` asks for, but for
    how it runs (``train.HOW_IT_RUNS``), which a continued run takes from the sweep, and every
    other existing one is empty (``rundir.check_new_out``)."""
    from refimpl.engine.rundir import HOW_IT_RUNS, check_new_out, read_config

    for spec in specs:
        check_new_out(Path(spec.out))
        path = Path(spec.out) / "config.json"
        if not path.exists():
            continue
        try:
            stored = read_config(path, path.read_text())
        except OSError as e:
            raise ValueError(f"cannot read {path} ({e.strerror or e})") from None
        asked = Config.from_dict(spec.cfg)
        name = dataclasses.replace(stored, **{k: getattr(asked, k) for k in HOW_IT_RUNS}
                                   ).first_difference(asked)
        if name is not None:
            raise ValueError(f"{spec.out} holds a run with {name}={getattr(stored, name)!r}, but "
                             f"this sweep asks for {name}={getattr(asked, name)!r}; choose "
                             "another --out")


def plan(args) -> list[RunSpec]:
    """Every run of the sweep, after checking every flag, building every run's Config, making
    the environment once and comparing with the runs already there; writes nothing."""
    from refimpl.envs.rollout import make_envs

    if args.eval_episodes <= 0:
        raise ValueError(f"--eval-episodes must be positive, got {args.eval_episodes}")
    if args.shared_fs and args.scheduler is None:
        raise ValueError("--shared-fs applies to a Dask cluster: give --scheduler too")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    overrides = dict(parse_override(pair) for pair in args.set)
    specs = grid(args.algo, args.seeds, args.out, args.preset, env=args.env, steps=args.steps,
                 eval_episodes=args.eval_episodes, **overrides)
    if args.tensorboard is not None:
        if args.scheduler is not None and not args.shared_fs:
            raise ValueError("--tensorboard on a Dask cluster needs --shared-fs: the workers "
                             "write the event files")
        from refimpl.engine.tensorboard import check
        check(args.tensorboard)
        specs = [dataclasses.replace(s, tensorboard=str(args.tensorboard / Path(s.out).name))
                 for s in specs]
    make_envs(args.env, 1).close()  # one line now for an id or action space training refuses
    check_sweep_out(args.out)
    check_existing_runs(specs)
    note_repeated("--algo", args.algo)
    note_repeated("--seeds", args.seeds)
    notes = {Config.from_dict(s.cfg).short_run_note() for s in specs
             if s.cfg["steps"] < s.cfg["horizon"] * s.cfg["num_envs"]}
    for text in sorted(notes):
        print(f"refimpl: note: {text}", file=sys.stderr)
    return specs


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
