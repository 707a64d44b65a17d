"""``refimpl figures``: regenerate the lecture's figures from refimpl's own code.

Every figure is one module with ``make(out_dir) -> list of written paths`` (the image, PNG or
SVG, and a JSON or CSV of the numbers it plots; the rendered cheetah is a PNG and a GIF), seeded,
its docstring naming the lecture figure it regenerates. The figures of ``FROM_RESULTS`` draw the
sweeps under a results directory, ``make(out_dir, results)``.

    refimpl figures [--out figures/] [--only NAME] [--quick] [--results DIR]

``--quick`` builds the figures that need no training (a few seconds in all); ``--only NAME`` builds
one figure; ``--results DIR`` is where the sweeps are (default ``DEFAULT_RESULTS``, the
repository's ``results/``). A figure that fails leaves none of its files, and ``--out`` is
removed again if this command created it and nothing was written there. Verified in
``tests/figures/test_figures.py``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FIGURES: dict[str, tuple[str, bool]] = {
    "zigzag": ("refimpl.figures.zigzag", False),
    "covariant_pg": ("refimpl.figures.covariant_pg", False),
    "kl_example": ("refimpl.figures.kl_example", False),
    "ppo_clip": ("refimpl.figures.ppo_clip", False),
    "ppo_interpolation": ("refimpl.figures.ppo_interpolation", True),
    "halfcheetah_results": ("refimpl.figures.halfcheetah_results", True),
    "mujoco_results": ("refimpl.figures.mujoco_results", True),
    "half_cheetah": ("refimpl.figures.half_cheetah", True),
}
"""Figure name -> (module, needs_training). Modules are imported only when built."""
FROM_RESULTS = ("halfcheetah_results", "mujoco_results", "half_cheetah")
"""Figures drawn from the sweeps under the results directory (``--results``)."""
DEFAULT_RESULTS = Path(__file__).resolve().parents[2] / "results"
"""Default of ``--results``: the ``results/`` directory beside the refimpl package, which in a
checkout of the repository (or an editable install of one) holds the committed sweeps, wherever
the command runs. An installed wheel has none: ``--results`` then names one."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the ``figures`` command."""
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="output directory (default: figures/)")
    parser.add_argument("--only", metavar="NAME",
                        help=f"build one figure: {', '.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true",
                        help="only the figures that need no training")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR",
                        help=f"the directory of the sweeps that {', '.join(FROM_RESULTS)} draw "
                             "(its halfcheetah-v5, halfcheetah-v5-tianshou, ... written by "
                             "refimpl sweep); default: the results/ directory of the refimpl "
                             f"checkout this runs from, {DEFAULT_RESULTS}")


def selected(only: str | None, quick: bool) -> list[str]:
    """Names to build; ValueError (one line) for an unknown name."""
    if only is not None:
        if only not in FIGURES:
            raise ValueError(f"unknown figure {only!r}; choose one of {', '.join(FIGURES)}")
        return [only]
    return [name for name, (_, needs_training) in FIGURES.items() if not (quick and needs_training)]


def run(args: argparse.Namespace) -> int:
    """Build the selected figures into ``args.out``; print one line per figure. Returns the exit
    status: 0, or 2 with a one-line ``refimpl: error: ...`` on stderr for a user mistake (an
    unknown figure, a missing results directory, an output directory that cannot be written, a
    figure that cannot be drawn), which leaves no file of the failed figure and no ``--out``
    that this call created and left empty. Tested in tests/figures/test_figures.py."""
    try:
        names = selected(args.only, args.quick)
        drawn = [name for name in names if name in FROM_RESULTS]
        if drawn and not args.results.is_dir():
            raise ValueError(f"no results directory {args.results} (the sweeps that "
                             f"{', '.join(drawn)} draw{'s' if len(drawn) == 1 else ''} from); "
                             "give --results DIR")
        created = _make_directory(args.out)
        try:
            for name in names:
                _build(name, args)
        finally:
            for directory in reversed(created):  # deepest first, only those still empty
                if not any(directory.iterdir()):
                    directory.rmdir()
    except ValueError as err:
        print(f"refimpl: error: {err}", file=sys.stderr)
        return 2
    return 0


def _make_directory(out: Path) -> list[Path]:
    """Create ``out`` and its missing parents; return those created, outermost first. A
    one-line ValueError if it cannot be created or written."""
    from refimpl.engine.checkpoint import check_writable_directory

    created = [d for d in (out, *out.parents) if not d.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create {out}: {err.strerror or err}") from None
    try:
        check_writable_directory(out, "the figures")
    except ValueError:
        for directory in reversed(created):
            directory.rmdir()
        raise
    return created


def _build(name: str, args: argparse.Namespace) -> None:
    """Build figure ``name`` into ``args.out`` and print what it wrote; if it fails, remove the
    files it had created there."""
    t0, before = time.perf_counter(), set(args.out.iterdir())
    make = __import__(FIGURES[name][0], fromlist=["make"]).make
    try:
        written = make(args.out, args.results) if name in FROM_RESULTS else make(args.out)
    except BaseException:
        for path in set(args.out.iterdir()) - before:
            if path.is_file():
                path.unlink()
        raise
    what = ", ".join(str(p) for p in written) or "nothing: no results to draw from yet"
    print(f"{name}: {what} ({time.perf_counter() - t0:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point with its own parser (``refimpl.cli`` calls add_arguments and run)."""
    parser = argparse.ArgumentParser(prog="refimpl figures", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
