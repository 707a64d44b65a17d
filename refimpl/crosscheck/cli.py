"""The ``refimpl crosscheck`` command: write refimpl's outputs, write an example input, or
compare another implementation's outputs (``docs/crosscheck/reference.md``, "How to run")::

    refimpl crosscheck IN.npz OUT.npz
    refimpl crosscheck --make-example IN.npz [--seed S] [--hidden H ...] [--activation A] [--blocks]
                       [--policy gaussian|categorical]
    refimpl crosscheck compare IN.npz THEIRS.npz [--rtol R] [--only KEY ...] [--json OUT.json]

Exit status: 0 on success (compare: every key THEIRS gives passes), 1 when compare finds a key
that fails, 2 with one line on stderr for a bad file or argument (nothing is written), 3 when
no key fails but some key is UNDETERMINED (its bound is too large against its scale to judge),
4 when THEIRS holds no key refimpl computes (nothing compared).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from refimpl.engine.checkpoint import atomic_write
from refimpl.crosscheck.comparison import EXIT, compare, format_report
from refimpl.crosscheck.compute import compute, make_example
from refimpl.crosscheck.io import read, validate, write
from refimpl.core.errors import NumericalError
from refimpl.core.nn import ACTIVATIONS
from refimpl.core.policy import HEADS

USAGE = """%(prog)s IN.npz OUT.npz
       %(prog)s --make-example IN.npz [--seed S] [--hidden [H ...]] [--activation {tanh,relu}]
                          [--blocks] [--policy {gaussian,categorical}]
       %(prog)s compare IN.npz THEIRS.npz [--rtol R] [--only KEY [KEY ...]] [--json OUT.json]"""
"""The three forms of the command, one usage line each (argparse would merge them into one)."""

COMPARE_FLAGS = ("rtol", "only", "json")
EXAMPLE_FLAGS = ("seed", "hidden", "activation", "blocks", "policy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Configure the ``crosscheck`` (sub)parser."""
    parser.description = ("Compute every NPG/TRPO/PPO quantity at the input of IN.npz and write "
                          "them to OUT.npz, or compare them with THEIRS.npz "
                          "(`crosscheck compare IN.npz THEIRS.npz`; format: "
                          "docs/crosscheck/reference.md).")
    parser.usage = USAGE
    parser.add_argument("input", metavar="IN.npz",
                        help="the problem data (docs/crosscheck/reference.md); in the compare "
                             "form it follows the word compare")
    parser.add_argument("output", metavar="OUT.npz", nargs="?",
                        help="where refimpl's outputs are written; in the compare form, "
                             "THEIRS.npz (another implementation's outputs) follows IN.npz")
    parser.add_argument("theirs", metavar="THEIRS.npz", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--make-example", action="store_true",
                        help="write a random valid input to IN.npz instead")
    parser.add_argument("--seed", type=int, help="seed of --make-example (default: 0)")
    parser.add_argument("--hidden", type=int, nargs="*", metavar="H",
                        help="hidden widths of --make-example (default: 4 4; none for linear)")
    parser.add_argument("--activation", choices=ACTIVATIONS,
                        help="activation of --make-example (default: tanh)")
    parser.add_argument("--blocks", action="store_true", default=None,
                        help="--make-example: add the GAE, critic and line-search blocks")
    parser.add_argument("--policy", choices=HEADS,
                        help="head of --make-example: gaussian (default; 2 continuous actions) "
                        "or categorical (3 discrete actions)")
    parser.add_argument("--rtol", type=float, help="compare: floor of every float tolerance, "
                        "relative to max |refimpl| (default: 1e-10 for float64, 0 for float32)")
    parser.add_argument("--only", nargs="+", metavar="KEY", help="compare: only these keys")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="compare: also write the table and diagnoses as JSON")


def _refuse_same_file(src: Path, dst: Path) -> None:
    """ValueError if writing ``dst`` would replace ``src`` (the same file under any spelling:
    relative or absolute path, ``..``, a symbolic or hard link)."""
    if src.exists() and dst.exists() and src.samefile(dst):
        raise ValueError(f"{dst} is the input file {src}; choose another output file")


def _refuse(args, flags, unless):
    given = [f for f in flags if getattr(args, f) is not None]
    if given:
        raise ValueError(f"--{given[0].replace('_', '-')} only applies {unless}")


def _example(args) -> str:
    if args.output is not None:
        raise ValueError("--make-example takes one file (IN.npz), got two")
    _refuse(args, COMPARE_FLAGS, "to crosscheck compare")
    hidden = (4, 4) if args.hidden is None else tuple(args.hidden)
    d = make_example(np.random.default_rng(0 if args.seed is None else args.seed), hidden,
                     args.activation or "tanh", with_blocks=bool(args.blocks),
                     policy=args.policy or "gaussian")
    validate(d)
    write(Path(args.input), d)
    return f"wrote example input {args.input}"


def _outputs(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """refimpl's outputs; ValueError if one is not finite or a numerical failure occurs."""
    with np.errstate(all="ignore"):
        try:
            out = compute(d)
        except NumericalError as err:
            raise ValueError(f"{err} for this input; nothing written") from None
    bad = [k for k, a in out.items() if a.dtype.kind == "f" and not np.all(np.isfinite(a))]
    if bad:
        raise ValueError(f"output '{bad[0]}' is not finite for this input (is theta_new too far "
                         "from theta?); nothing written")
    return out


def _compare(args) -> tuple[str, int]:
    if args.output is None or args.theirs is None:
        raise ValueError("crosscheck compare needs IN.npz and THEIRS.npz")
    _refuse(args, EXAMPLE_FLAGS, "with --make-example")
    d, theirs = read(Path(args.output)), read(Path(args.theirs))
    _outputs(d)
    with np.errstate(all="ignore"):
        report = compare(d, theirs, args.rtol, args.only)
    if args.json is not None:
        _refuse_same_file(Path(args.output), args.json)
        _refuse_same_file(Path(args.theirs), args.json)
        text = json.dumps(report.to_dict(), indent=1)
        try:
            atomic_write(args.json, lambda f: f.write(text.encode()))
        except OSError as e:
            raise ValueError(f"cannot write {args.json} ({e.strerror or e})") from None
    return format_report(report), EXIT[report.verdict]


def _run(args) -> tuple[str, int]:
    """Do what ``args`` ask; return (the text to print, exit status). ValueError for user
    mistakes."""
    if args.input == "compare" and not args.make_example:
        return _compare(args)
    if args.theirs is not None:
        raise ValueError("give IN.npz and OUT.npz (or crosscheck compare IN.npz THEIRS.npz)")
    if args.make_example:
        return _example(args), 0
    _refuse(args, EXAMPLE_FLAGS, "with --make-example")
    _refuse(args, COMPARE_FLAGS, "to crosscheck compare")
    if args.output is None:
        raise ValueError("give IN.npz and OUT.npz (or --make-example IN.npz)")
    src, dst = Path(args.input), Path(args.output)
    _refuse_same_file(src, dst)
    out = _outputs(read(src))
    write(dst, out)
    return f"wrote {dst} ({int(out['cg_iterations_run'])} CG iterations)", 0


def run(args) -> int:
    """Entry point of ``refimpl crosscheck``: 0 on success, 1 when compare finds a failing key,
    2 (one line on stderr) on a bad file or argument, 3 when compare leaves a key UNDETERMINED
    and none fails, 4 when it compares nothing (``comparison.EXIT``)."""
    try:
        text, status = _run(args)
    except ValueError as err:
        print(f"refimpl: error: {err}", file=sys.stderr)
        return 2
    print(text)
    return status


def main(argv: list[str] | None = None) -> int:
    """Standalone ``python -m refimpl.crosscheck``, same arguments as ``refimpl crosscheck``."""
    parser = argparse.ArgumentParser(prog="refimpl crosscheck")
    add_arguments(parser)
    return run(parser.parse_args(argv))
