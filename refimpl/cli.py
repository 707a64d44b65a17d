"""Command line: ``refimpl train | eval | sweep | figures | crosscheck``.

User mistakes (bad flags, unknown algorithm or environment, unusable run directory or one that
another process is training, corrupt or mismatched checkpoint) and files that cannot be written
print one line and exit with status 2; every flag is validated before anything is written. A
NaN or infinity during training prints where it appeared and exits with status 1, keeping the
last good checkpoint. Ctrl-C saves nothing new (the checkpoint of the last finished update is
already on disk) and exits 130, naming the command that continues the run (or the sweep).
Before the first update has finished there is no checkpoint, and a failure removes the run
directory this command created (refimpl/engine/rundir.py describes the run directory's lifecycle).

``eval`` acts with the policy's mode by default, the protocol of eval.csv, the sweep's summary
and the results (as Stable-Baselines3's ``evaluate_policy``); ``--stochastic`` samples.

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

from refimpl.engine.config import ALGOS, Config, flag
from refimpl.engine.presets import ALGO_DEFAULTS, PRESETS, preset_name

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
        if f.name == "algo":
            p.add_argument(flag(f.name), choices=ALGOS, **kw)
        elif f.name == "preset":
            p.add_argument(flag(f.name), type=preset_name, choices=PRESETS, **kw)
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
    t.add_argument("--tensorboard", type=Path, metavar="DIR",
                   help="also write progress.csv and eval.csv as TensorBoard scalars into DIR, "
                        "under Stable-Baselines3's names where it has one (needs the extra: "
                        "pip install 'refimpl[tensorboard]')")
    e = sub.add_parser("eval", help="run a saved policy and print its mean return")
    e.add_argument("checkpoint", type=Path, help="a checkpoint, e.g. RUN/checkpoints/final.npz")
    e.add_argument("--episodes", type=int, default=10,
                   help="episodes to run, their reset seeds --seed, --seed + 1, ... (default: 10)")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--deterministic", dest="stochastic", action="store_false",
                      help="act with the policy's mode: the mean action (Gaussian policy), the "
                           "most probable action (categorical policy); the protocol of eval.csv, "
                           "the sweep's summary and every results table, and of "
                           "Stable-Baselines3's evaluate_policy (the default)")
    mode.add_argument("--stochastic", action="store_true",
                      help="sample every action from the policy instead")
    e.set_defaults(stochastic=False)
    e.add_argument("--seed", type=int, default=10_000,
                   help="seed of the evaluation episodes (default: 10000)")
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
    def note(text: str) -> None:
        print(f"refimpl: note: {text}", file=sys.stderr)
    try:
        run = train(cfg, out, resume=args.resume is not None, progress=not args.no_progress,
                    tensorboard=args.tensorboard, note=note)
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
    print(closing_line(run))
    return 0


def closing_line(run) -> str:
    """What ``train`` prints when it is done: steps and time, the last evaluation (eval.csv's
    last row, "final" if it evaluated the final policy) and where the run and its learning
    curve are."""
    from refimpl.engine.logs import last_evaluation

    e = last_evaluation(run.out)
    if e is None:
        evaluated = f"no evaluation during training (--eval-every {run.cfg.eval_every})"
    else:
        which = "final" if int(e["env_steps"]) == run.env_steps else "last"
        evaluated = (f"{which} evaluation (step {int(e['env_steps'])}, "
                     f"{run.cfg.eval_episodes} episodes of the policy's mode): "
                     f"{e['mean']:.1f} ± {e['std']:.1f}")
    return (f"done: {run.env_steps} steps in {run.wall_time:.0f} s; {evaluated}; run directory "
            f"{run.out}, learning curve {run.out / 'learning_curve.png'}")


def cmd_eval(args) -> int:
    from refimpl.engine.evaluate import evaluate

    if args.episodes < 1:
        raise ValueError(f"--episodes must be an integer >= 1, got {args.episodes}")
    if args.seed < 0:  # the episodes' reset seeds are --seed, --seed + 1, ...
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    returns = evaluate(args.checkpoint, args.episodes, not args.stochastic, args.seed,
                       args.render)
    kind = ("stochastic episodes (actions sampled from the policy; the default, --deterministic, "
            "acts with its mode)" if args.stochastic else
            "deterministic episodes (the policy's mode, as in eval.csv and the results; "
            "--stochastic samples)")
    print(f"return over {len(returns)} {kind}: {returns.mean():.1f} ± {returns.std():.1f}")
    if args.render:
        print(f"wrote {args.render}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import numpy  # noqa: F401  (loads OpenBLAS, so that the limit below applies to it)
    from threadpoolctl import threadpool_limits

    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = ["refimpl", *(sys.argv[1:] if argv is None else argv)]
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
