"""Command line: ``refimpl train | eval | sweep | figures | crosscheck``.

User mistakes (bad flags, unknown algorithm or environment, unusable run directory, corrupt or
mismatched checkpoint) print one line and exit with status 2. A NaN or infinity during training
prints where it appeared and exits with status 1, keeping the last good checkpoint. Ctrl-C
saves nothing new (the checkpoint of the last finished update is already on disk) and exits 130.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from refimpl.config import ALGOS, PRESETS, Config

MAIN_FLAGS = ("algo", "env", "steps", "seed", "num_envs")
EXTRA_COMMANDS = (
    ("sweep", "refimpl.sweep", "train a grid of algorithms x seeds on local processes or Dask"),
    ("figures", "refimpl.figures", "regenerate the lecture's figures into figures/"),
    ("crosscheck", "refimpl.crosscheck", "write every intermediate quantity of one NPG/TRPO/PPO "
                                         "update for given problem data (docs/crosscheck.md)"),
)
"""Commands whose module provides ``add_arguments(parser)`` and ``run(args) -> exit status``."""


def _optional(kind):
    """argparse type for an optional number: 'none' gives None."""
    def parse(text):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per Config field, its help the field's documentation; defaults stay None so
    that only the flags given override the algorithm's defaults."""
    docs = _field_docs()
    p.add_argument("--algo", choices=ALGOS, help=docs["algo"])
    p.add_argument("--preset", choices=PRESETS, help=docs["preset"])
    for f in dataclasses.fields(Config):
        if f.name in ("algo", "preset"):
            continue
        flag, default = "--" + f.name.replace("_", "-"), f.default
        kw = dict(default=None, help=f"{docs.get(f.name, '')} (default: {default})")
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif f.name == "hidden":
            p.add_argument(flag, type=int, nargs="*", **kw)
        elif "None" in f.type:
            p.add_argument(flag, type=_optional(float), **kw)
        else:
            p.add_argument(flag, type={"int": int, "float": float, "str": str}[f.type], **kw)


def _field_docs() -> dict[str, str]:
    """Config field docstrings, read from the source (they are attribute docstrings)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Config))
    body, docs = tree.body[0].body, {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = " ".join(nxt.value.value.split()).replace("%", "%%")
    return docs


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="refimpl", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    t = sub.add_parser("train", help="train NPG/TRPO/PPO/VPG (default: PPO, HalfCheetah-v5, 1M steps)")
    _add_config_flags(t)
    t.add_argument("--out", type=Path, help="run directory (default: runs/ALGO-ENV-sSEED)")
    t.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR exactly")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    e = sub.add_parser("eval", help="run a saved policy and print its mean return")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--episodes", type=int, default=10)
    e.add_argument("--deterministic", action="store_true", help="act with the mean action")
    e.add_argument("--seed", type=int, default=10_000, help="seed of the evaluation episodes")
    e.add_argument("--render", type=Path, metavar="OUT.gif", help="write a GIF of episode 1")
    for name, module, text in EXTRA_COMMANDS:
        __import__(module, fromlist=["add_arguments"]).add_arguments(sub.add_parser(name, help=text))
    return p


def cmd_train(args) -> int:
    from refimpl.errors import NumericalError
    from refimpl.train import train

    if args.resume is not None:
        given = [f for f in MAIN_FLAGS if getattr(args, f) is not None]
        if given:
            raise ValueError("--resume continues a run with its saved configuration; "
                             f"drop --{given[0].replace('_', '-')}")
        out, cfg = args.resume, None
    else:
        overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config)
                     if f.name not in ("algo", "preset") and getattr(args, f.name) is not None}
        cfg = Config.for_algo(args.algo or "ppo", args.preset or "paper", **overrides)
        out = args.out or Path("runs") / f"{cfg.algo}-{cfg.env.replace('/', '_')}-s{cfg.seed}"
    try:
        run = train(cfg, out, resume=args.resume is not None, progress=not args.no_progress)
    except NumericalError as err:
        print(f"refimpl: stopped: {err}; the last good checkpoint is "
              f"{Path(out) / 'checkpoints' / 'latest.npz'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nrefimpl: interrupted; continue with: refimpl train --resume {out}", file=sys.stderr)
        return 130
    print(f"done: {run.env_steps} steps in {run.wall_time:.0f} s; run directory {run.out}")
    return 0


def cmd_eval(args) -> int:
    from refimpl.evaluate import evaluate

    returns = evaluate(args.checkpoint, args.episodes, args.deterministic, args.seed, args.render)
    kind = "deterministic" if args.deterministic else "stochastic"
    print(f"return over {len(returns)} {kind} episodes: {returns.mean():.1f} ± {returns.std():.1f}")
    if args.render:
        print(f"wrote {args.render}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import numpy  # noqa: F401  (loads OpenBLAS, so that the limit below applies to it)
    from threadpoolctl import threadpool_limits

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    # One BLAS thread: refimpl's matrices are at most (batch x 64); a second thread costs more
    # in synchronisation than it gains (4x slower measured), and parallel runs use the cores.
    threadpool_limits(1, user_api="blas")
    try:
        if args.command in ("train", "eval"):
            return {"train": cmd_train, "eval": cmd_eval}[args.command](args)
        return __import__(dict((n, m) for n, m, _ in EXTRA_COMMANDS)[args.command],
                          fromlist=["run"]).run(args)
    except ValueError as err:  # user mistakes; RunError and checkpoint errors are ValueErrors
        print(f"refimpl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
