"""``refimpl crosscheck``: every quantity of NPG, TRPO and PPO at one given input, for comparing
another implementation with refimpl number for number.

``refimpl crosscheck IN.npz OUT.npz`` reads a policy (its flat parameters ``theta``, the layout
of ``policy.GaussianPolicy``), a batch of states, actions and advantages and the algorithm
settings, and writes the log-probabilities, entropy, KL, policy gradient g, a Fisher-vector
product, the CG solution x, TRPO's step, the importance ratios and the clipped objective with
its gradient. ``refimpl crosscheck --make-example IN.npz [--seed S]`` writes a random valid
input. The file format (fixed; keys may be added, none renamed), every equation and the
suggested tolerances are in ``docs/crosscheck.md``. Every quantity comes from the functions
refimpl trains with (nothing is reimplemented here: the TRPO step is ``natural.natural_step``
with training's CG tolerance, the KL ``fisher.kl_mean``); ``tests/test_crosscheck.py`` checks
the outputs against independent oracles and against a TRPO update of training,
``tests/test_torch_oracle.py`` against PyTorch autograd, and ``tests/data/`` holds golden
vectors.

A bad input file (missing key, wrong dtype or shape, sizes that do not fit together,
non-finite values, unreadable file) is reported as one line naming the key, exit status 2,
and no output file is written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from refimpl import distributions as dist
from refimpl import objectives
from refimpl.checkpoint import atomic_write, read_npz
from refimpl.errors import NumericalError
from refimpl.fisher import fisher_vector_product, kl_mean, kl_mean_grad, make_fvp
from refimpl.natural import natural_step
from refimpl.nn import ACTIVATIONS
from refimpl.policy import GaussianPolicy

FORMAT_VERSION = 1
"""Version of the IN/OUT formats of ``docs/crosscheck.md``; bumped only if a key changes meaning."""

INPUT_SPEC: dict[str, tuple[str, int]] = {
    "hidden_sizes": ("int", 1), "activation": ("str", 0), "theta": ("float", 1),
    "obs": ("float", 2), "actions": ("float", 2), "advantages": ("float", 1),
    "v": ("float", 1), "theta_new": ("float", 1), "delta": ("float", 0),
    "damping": ("float", 0), "cg_iters": ("int", 0), "clip_eps": ("float", 0),
}
"""Input key -> (kind, number of dimensions); kind "float" means float64 exactly."""

OUTPUT_KEYS = ("format_version", "mean", "logp", "entropy", "kl", "grad", "fvp", "cg_x",
               "cg_iterations_run", "cg_nonpositive_curvature", "beta", "step", "ratio",
               "clip_objective", "clip_grad", "clip_fraction", "surrogate", "surrogate_grad",
               "kl_grad")
"""Output keys in file order; each documented in ``docs/crosscheck.md``."""


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file (no pickles); ValueError with a one-line reason otherwise."""
    try:
        return read_npz(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a readable .npz file of plain arrays ({e})") from None


def _check_kinds(d: dict[str, np.ndarray]) -> None:
    """Every INPUT_SPEC key present, with its dtype and number of dimensions; floats finite."""
    for key, (kind, ndim) in INPUT_SPEC.items():
        if key not in d:
            raise ValueError(f"input key '{key}' is missing (see docs/crosscheck.md)")
        a = d[key]
        ok = {"float": a.dtype == np.float64, "int": np.issubdtype(a.dtype, np.integer),
              "str": a.dtype.kind == "U"}[kind]
        if not ok:
            want = {"float": "float64", "int": "an integer type", "str": "a unicode string"}[kind]
            raise ValueError(f"input key '{key}' must have dtype {want}, got {a.dtype}")
        if a.ndim != ndim:
            want = "a scalar (0-d array)" if ndim == 0 else f"a {ndim}-d array"
            raise ValueError(f"input key '{key}' must be {want}, got shape {a.shape}")
        if kind == "float" and not np.all(np.isfinite(a)):
            raise ValueError(f"input key '{key}' contains non-finite values")


def _check_scalars(d: dict[str, np.ndarray]) -> None:
    """Ranges of the settings and of hidden_sizes / activation."""
    rules = {"delta": (d["delta"] > 0, "> 0"), "damping": (d["damping"] >= 0, ">= 0"),
             "cg_iters": (d["cg_iters"] >= 1, ">= 1"), "clip_eps": (d["clip_eps"] > 0, "> 0")}
    for key, (ok, want) in rules.items():
        if not ok:
            raise ValueError(f"input key '{key}' must be {want}, got {d[key]}")
    if np.any(d["hidden_sizes"] < 1):
        raise ValueError(f"input key 'hidden_sizes' must hold widths >= 1, got {d['hidden_sizes']}")
    if str(d["activation"]) not in ACTIVATIONS:
        raise ValueError(f"input key 'activation' must be one of {ACTIVATIONS}, "
                         f"got {str(d['activation'])!r}")
    if "format_version" in d and not np.array_equal(d["format_version"], FORMAT_VERSION):
        raise ValueError(f"input key 'format_version' is {d['format_version']}; "
                         f"this refimpl reads format {FORMAT_VERSION}")


def _check_sizes(d: dict[str, np.ndarray]) -> GaussianPolicy:
    """N, obs_dim, act_dim from obs and actions; P from the policy; every shape must agree."""
    (n, obs_dim), act_dim = d["obs"].shape, d["actions"].shape[1]
    if n < 1 or obs_dim < 1:
        raise ValueError(f"input key 'obs' must have shape (N, obs_dim) with N, obs_dim >= 1, "
                         f"got {d['obs'].shape}")
    if d["actions"].shape[0] != n or act_dim < 1:
        raise ValueError(f"input key 'actions' must have shape ({n}, act_dim) with act_dim >= 1 "
                         f"(one row per row of obs), got {d['actions'].shape}")
    if d["advantages"].shape != (n,):
        raise ValueError(f"input key 'advantages' must have shape ({n},), "
                         f"got {d['advantages'].shape}")
    hidden = tuple(int(h) for h in d["hidden_sizes"])
    policy = GaussianPolicy.build(obs_dim, act_dim, hidden, str(d["activation"]))
    for key in ("theta", "v", "theta_new"):
        if d[key].shape != (policy.n_params,):
            raise ValueError(f"input key '{key}' must have shape ({policy.n_params},) for "
                             f"hidden_sizes {hidden}, obs_dim {obs_dim} and act_dim {act_dim}, "
                             f"got {d[key].shape}")
    return policy


def validate(d: dict[str, np.ndarray]) -> GaussianPolicy:
    """Check an input dict against the format of ``docs/crosscheck.md``; return its policy layout.

    Raises ValueError with a one-line message naming the offending key. Extra keys are ignored
    (``format_version``, if present, must be 1).
    Tested in ``tests/test_crosscheck.py::test_bad_input_exits_2_names_key_writes_nothing``.
    """
    _check_kinds(d)
    _check_scalars(d)
    return _check_sizes(d)


def _trpo(policy: GaussianPolicy, d: dict[str, np.ndarray], g: np.ndarray) -> dict:
    """Lecture, "TRPO: Avoiding matrix inversion" and "TRPO: Final algorithm", steps 4 and 5,
    computed as training computes them: ``natural.natural_step`` with its default CG tolerance,
    x ~ (F + damping I)^-1 g by truncated CG, nu = x^T g, beta = sqrt(2 delta / nu),
    step = beta x. For g = 0 training takes no step (``algos/npg.py``): no CG iteration,
    x = step = 0 and beta = 0."""
    if not g.any():
        zero = np.zeros_like(g)
        return {"cg_x": zero, "cg_iterations_run": np.int64(0),
                "cg_nonpositive_curvature": np.bool_(False), "beta": np.float64(0.0),
                "step": zero}
    A = make_fvp(policy, d["theta"], d["obs"], float(d["damping"]))
    s = natural_step(g, A, float(d["delta"]), int(d["cg_iters"]))
    return {"cg_x": s.x, "cg_iterations_run": np.int64(s.cg.iterations),
            "cg_nonpositive_curvature": np.bool_(s.cg.nonpositive_curvature),
            "beta": np.float64(s.beta), "step": s.step}


def _ppo(policy: GaussianPolicy, d: dict[str, np.ndarray], logp: np.ndarray) -> dict:
    """Lecture, "The clipped surrogate objective in PPO" and "TRPO: The surrogate optimization
    problem": ratio, L_CLIP, L_TRPO at theta_new (theta old), their gradients w.r.t. theta_new,
    and the gradient of KL-bar(theta, theta_new) w.r.t. theta_new."""
    theta_new, obs, actions, adv = d["theta_new"], d["obs"], d["actions"], d["advantages"]
    logp_new = policy.log_prob(theta_new, obs, actions)
    clip, dclip, clip_fraction = objectives.clip_objective(logp_new, logp, adv,
                                                           float(d["clip_eps"]))
    surr, dsurr = objectives.surrogate(logp_new, logp, adv)
    return {"ratio": objectives.ratio(logp_new, logp),
            "clip_objective": np.float64(clip),
            "clip_grad": policy.score(theta_new, obs, actions, dclip),
            "clip_fraction": np.float64(clip_fraction),
            "surrogate": np.float64(surr),
            "surrogate_grad": policy.score(theta_new, obs, actions, dsurr),
            "kl_grad": kl_mean_grad(policy, d["theta"], theta_new, obs)}


def compute(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of ``docs/crosscheck.md`` for a validated input dict, in OUTPUT_KEYS order.

    Lecture quantities: g = (1/N) sum_n grad log pi_theta(a_n|s_n) A_n ("TRPO: Final algorithm",
    step 3), F v ("TRPO: Avoiding matrix inversion"), KL-bar(theta, theta_new) ("TRPO: The
    surrogate optimization problem"), then ``_trpo`` and ``_ppo``.
    Tested in ``tests/test_crosscheck.py`` against finite differences, dense matrices,
    numpy.linalg.solve and scipy.stats.
    """
    policy = validate(d)
    theta, obs, actions, adv = d["theta"], d["obs"], d["actions"], d["advantages"]
    mean, log_std, _ = policy.forward(theta, obs)
    logp = dist.log_prob(mean, log_std, actions)
    g = policy.score(theta, obs, actions, adv / obs.shape[0])
    out = {"format_version": np.int64(FORMAT_VERSION), "mean": mean, "logp": logp,
           "entropy": np.float64(dist.entropy(log_std)),
           "kl": np.float64(kl_mean(policy, theta, d["theta_new"], obs)), "grad": g,
           "fvp": fisher_vector_product(policy, theta, obs, d["v"]),
           **_trpo(policy, d, g), **_ppo(policy, d, logp)}
    assert set(out) == set(OUTPUT_KEYS), f"outputs {sorted(out)} differ from OUTPUT_KEYS"
    return {k: np.asarray(out[k]) for k in OUTPUT_KEYS}


def make_example(rng: np.random.Generator, hidden: tuple[int, ...] = (4, 4),
                 activation: str = "tanh", obs_dim: int = 3, act_dim: int = 2,
                 n: int = 8) -> dict[str, np.ndarray]:
    """A random valid input: theta from ``GaussianPolicy.init`` with log_std ~ -0.5 + 0.1 N(0, 1),
    obs ~ N(0, I), actions ~ pi_theta, advantages and v ~ N(0, I), theta_new = theta +
    0.05 N(0, I) (far enough for some ratios to leave [1 - clip_eps, 1 + clip_eps]);
    delta 0.01, damping 0.1, cg_iters 10, clip_eps 0.2.
    Tested in ``tests/test_crosscheck.py::test_make_example_is_valid_and_reproducible``."""
    policy = GaussianPolicy.build(obs_dim, act_dim, hidden, activation)
    theta = policy.init(rng)
    policy.split(theta)[1][:] = -0.5 + 0.1 * rng.standard_normal(act_dim)
    obs = rng.standard_normal((n, obs_dim))
    mean, log_std, _ = policy.forward(theta, obs)
    return {"format_version": np.int64(FORMAT_VERSION),
            "hidden_sizes": np.array(hidden, dtype=np.int64), "activation": np.array(activation),
            "theta": theta, "obs": obs, "actions": dist.sample(mean, log_std, rng),
            "advantages": rng.standard_normal(n), "v": rng.standard_normal(policy.n_params),
            "theta_new": theta + 0.05 * rng.standard_normal(policy.n_params),
            "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
            "clip_eps": np.float64(0.2)}


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise ValueError(f"cannot write {path} ({e.strerror or e})") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Configure the ``crosscheck`` (sub)parser."""
    parser.description = ("Compute every NPG/TRPO/PPO quantity at the input of IN.npz and write "
                          "them to OUT.npz (format: docs/crosscheck.md).")
    parser.add_argument("input", type=Path, metavar="IN.npz")
    parser.add_argument("output", type=Path, metavar="OUT.npz", nargs="?")
    parser.add_argument("--make-example", action="store_true",
                        help="write a random valid input to IN.npz instead")
    parser.add_argument("--seed", type=int, help="seed of --make-example (default: 0)")
    parser.add_argument("--hidden", type=int, nargs="*", metavar="H",
                        help="hidden widths of --make-example (default: 4 4; none for linear)")
    parser.add_argument("--activation", choices=ACTIVATIONS,
                        help="activation of --make-example (default: tanh)")


def _refuse_same_file(src: Path, dst: Path) -> None:
    """ValueError if writing ``dst`` would replace ``src`` (the same file under any spelling:
    relative or absolute path, ``..``, a symbolic or hard link)."""
    if src.exists() and dst.exists() and src.samefile(dst):
        raise ValueError(f"OUT.npz {dst} is the input file {src}; choose another output file")


def _run(args) -> str:
    """Do what ``args`` ask; return the line to print. ValueError for user mistakes."""
    example_flags = [f for f in ("seed", "hidden", "activation") if getattr(args, f) is not None]
    if args.make_example:
        if args.output is not None:
            raise ValueError("--make-example takes one file (IN.npz), got two")
        hidden = (4, 4) if args.hidden is None else tuple(args.hidden)
        d = make_example(np.random.default_rng(0 if args.seed is None else args.seed),
                         hidden, args.activation or "tanh")
        validate(d)
        _write(args.input, d)
        return f"wrote example input {args.input}"
    if example_flags:
        raise ValueError(f"--{example_flags[0]} only applies with --make-example")
    if args.output is None:
        raise ValueError("give IN.npz and OUT.npz (or --make-example IN.npz)")
    _refuse_same_file(args.input, args.output)
    with np.errstate(all="ignore"):
        try:
            out = compute(_read_npz(args.input))
        except NumericalError as err:
            raise ValueError(f"{err} for this input; nothing written") from None
    bad = [k for k, a in out.items() if a.dtype.kind == "f" and not np.all(np.isfinite(a))]
    if bad:
        raise ValueError(f"output '{bad[0]}' is not finite for this input (is theta_new too far "
                         "from theta?); nothing written")
    _write(args.output, out)
    return f"wrote {args.output} ({int(out['cg_iterations_run'])} CG iterations)"


def run(args) -> int:
    """Entry point of ``refimpl crosscheck``: 0 on success, 2 (one line on stderr) on bad input."""
    try:
        print(_run(args))
    except ValueError as err:
        print(f"refimpl: error: {err}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone ``python -m refimpl.crosscheck``, same arguments as ``refimpl crosscheck``."""
    parser = argparse.ArgumentParser(prog="refimpl crosscheck")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
