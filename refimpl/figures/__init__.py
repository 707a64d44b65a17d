"""``refimpl figures``: regenerate the lecture's figures from refimpl's own code.

Every figure is one module with ``make(out_dir) -> list of written paths`` (the image, PNG or
SVG, and a JSON or CSV of the numbers it plots; the rendered cheetah is a PNG and a GIF), seeded,
its docstring naming the lecture figure it regenerates.

    refimpl figures [--out figures/] [--only NAME] [--quick]

``--quick`` builds the figures that need no training (a few seconds in all); ``--only NAME`` builds
one figure. Verified in ``tests/figures/test_figures.py``.
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the ``figures`` command."""
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="output directory (default: figures/)")
    parser.add_argument("--only", metavar="NAME",
                        help=f"build one figure: {', '.join(FIGURES)}")
    parser.add_argument("--quick", action="store_true",
                        help="only the figures that need no training")


def selected(only: str | None, quick: bool) -> list[str]:
    """Names to build; ValueError (one line) for an unknown name."""
    if only is not None:
        if only not in FIGURES:
            raise ValueError(f"unknown figure {only!r}; choose one of {', '.join(FIGURES)}")
        return [only]
    return [name for name, (_, needs_training) in FIGURES.items() if not (quick and needs_training)]


def run(args: argparse.Namespace) -> int:
    """Build the selected figures into ``args.out``; print one line per figure. Returns the exit
    status: 0, or 2 with a one-line ``refimpl: error: ...`` on stderr for a user mistake."""
    from refimpl.engine.checkpoint import check_writable_directory

    try:
        names = selected(args.only, args.quick)
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"cannot create {args.out}: {err.strerror or err}") from None
        check_writable_directory(args.out, "the figures")
    except ValueError as err:
        print(f"refimpl: error: {err}", file=sys.stderr)
        return 2
    for name in names:
        t0 = time.perf_counter()
        written = __import__(FIGURES[name][0], fromlist=["make"]).make(args.out)
        what = ", ".join(str(p) for p in written) or "nothing: no results to draw from yet"
        print(f"{name}: {what} ({time.perf_counter() - t0:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point with its own parser (``refimpl.cli`` calls add_arguments and run)."""
    parser = argparse.ArgumentParser(prog="refimpl figures", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
