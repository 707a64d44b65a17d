"""Command line: ``refimpl train | eval | sweep | figures | crosscheck``.

User mistakes (bad flags, unknown algorithm or environment, unusable run directory, corrupt or
mismatched checkpoint) and files that cannot be written print one line and exit with status 2;
every flag is validated before anything is written. A NaN or infinity during training prints
where it appeared and exits with status 1, keeping the last good checkpoint. Ctrl-C saves
nothing new (the checkpoint of the last finished update is already on disk) and exits 130.
Before the first update has finished there is no checkpoint, and a failure removes the run
directory this command created (refimpl/engine/trainer.py describes the run directory's lifecycle).

``train --resume DIR`` continues the run in DIR with its stored configuration. A flag that
differs from it is refused, except ``--steps``, which changes the run's length (refused for a
run with a schedule, ``anneal_lr``, ``anneal_clip`` or ``delta_final``, which depends on it). The
train flags are the fields of ``refimpl.engine.config.Config``, their help texts the fields'
documentation.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from refimpl.engine.config import ALGO_DEFAULTS, ALGOS, PRESETS, Config, flag

EXTRA_COMMANDS = (
    ("sweep", "refimpl.engine.sweep", "train a grid of algorithms x seeds on local processes or Dask"),
    ("figures", "refimpl.figures", "regenerate the lecture's figures into figures/"),
    ("crosscheck", "refimpl.crosscheck", "write every intermediate quantity of one NPG/TRPO/PPO "
                                         "update for given problem data, or compare another "
                                         "implementation's (docs/crosscheck/reference.md)"),
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
    for f in dataclasses.fields(Config):
        kw = dict(default=None, help=_help(f).replace("%", "%%"))
        if f.name in ("algo", "preset"):
            p.add_argument(flag(f.name), choices={"algo": ALGOS, "preset": PRESETS}[f.name], **kw)
        elif f.type == "bool":
            p.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, **kw)
        elif f.type == "tuple[int, ...]":
            p.add_argument(flag(f.name), type=int, nargs="*", **kw)
        elif f.type == "tuple[int, ...] | None":  # widths, or the one word none
            p.add_argument(flag(f.name), type=_optional(int), nargs="*", **kw)
        elif "None" in f.type:
            p.add_argument(flag(f.name), type=_optional(float), **kw)
        else:
            p.add_argument(flag(f.name), type={"int": int, "float": float, "str": str}[f.type], **kw)


def _given(name: str, value):
    """A flag's value for Config: widths given as the one word ``none`` (``[None]``) are None;
    ``none`` among widths is a one-line ValueError."""
    if isinstance(value, list) and None in value:
        if value != [None]:
            raise ValueError(f"{flag(name)} takes widths or the one word none, got "
                             f"{' '.join('none' if v is None else str(v) for v in value)}")
        return None
    return value


def _help(f: dataclasses.Field) -> str:
    """A field's documentation and its default, with the algorithms whose default differs."""
    by_algo: dict[object, list[str]] = {}
    for algo in ALGOS:
        value = ALGO_DEFAULTS[algo].get(f.name, f.default)
        if value != f.default:
            by_algo.setdefault(value, []).append(algo)
    others = "".join(f"; {', '.join(a)}: {v}" for v, a in by_algo.items())
    return f"{f.metadata['doc']} (default: {f.default}{others})"


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
    t.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the run in DIR exactly, with its stored configuration: a flag "
                        "that differs from it is refused, except --steps (a new length; not "
                        "with a schedule: anneal_lr, anneal_clip, delta_final)")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    e = sub.add_parser("eval", help="run a saved policy and print its mean return")
    e.add_argument("checkpoint", type=Path)
    e.add_argument("--episodes", type=int, default=10)
    e.add_argument("--deterministic", action="store_true",
                   help="act with the mode: the mean action (Gaussian policy), the most probable "
                        "action (categorical policy)")
    e.add_argument("--seed", type=int, default=10_000, help="seed of the evaluation episodes")
    e.add_argument("--render", type=Path, metavar="OUT.gif", help="write a GIF of episode 1")
    for name, module, text in EXTRA_COMMANDS:
        __import__(module, fromlist=["add_arguments"]).add_arguments(sub.add_parser(name, help=text))
    return p


def cmd_train(args) -> int:
    from refimpl.core.errors import NumericalError
    from refimpl.engine.errors import WorkerError
    from refimpl.engine.errors import WriteError
    from refimpl.engine.trainer import train
    from refimpl.engine.rundir import kept

    given = {f.name: _given(f.name, getattr(args, f.name)) for f in dataclasses.fields(Config)
             if getattr(args, f.name) is not None}
    if args.resume is not None:
        if args.out is not None and args.out.resolve() != args.resume.resolve():
            raise ValueError(f"--out {args.out} conflicts with --resume {args.resume}: a resumed "
                             "run stays in its directory")
        out, cfg = args.resume, given  # checked against the stored configuration
    else:
        cfg = Config.for_algo(given.pop("algo", "ppo"), given.pop("preset", "default"), **given)
        out = args.out or Path("runs") / f"{cfg.algo}-{cfg.env.replace('/', '_')}-s{cfg.seed}"
    try:
        run = train(cfg, out, resume=args.resume is not None, progress=not args.no_progress)
    except (NumericalError, WorkerError) as err:
        print(f"refimpl: stopped: {err}; {kept(out)}", file=sys.stderr)
        return 1
    except WriteError as err:
        print(f"refimpl: error: {err}; {kept(out)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        then = (f"continue with: refimpl train --resume {out}" if (Path(out) / "checkpoints" /
                "latest.npz").exists() else "nothing was kept; run the command again")
        print(f"\nrefimpl: interrupted; {then}", file=sys.stderr)
        return 130
    print(f"done: {run.env_steps} steps in {run.wall_time:.0f} s; run directory {run.out}")
    return 0


def cmd_eval(args) -> int:
    from refimpl.engine.evaluate import evaluate

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
