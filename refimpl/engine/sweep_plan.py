"""What a sweep will run (``plan``): its grid of runs, each a ``RunSpec``, from the flags of
``refimpl sweep`` (``parse_seeds``, ``parse_override``), checked before anything is written:
every flag and ``--set`` value, every run's Config, the environment, the sweep's ``--out``
(``check_sweep_out``) and the runs already there (``check_existing_runs``). Running the plan:
``engine.sweep``. Tested in ``tests/engine/test_sweep.py``.
"""
from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import json
import re
import sys
import typing
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from refimpl.engine.config import Config

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


def seeds_flag(text: str) -> list[int]:
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
