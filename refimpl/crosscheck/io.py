"""The file format of ``refimpl crosscheck`` (``docs/crosscheck/reference.md``): the input keys, the
optional input blocks, their validation, reading and writing.

A bad input (missing key, wrong dtype or shape, sizes that do not fit together, non-finite
values, unreadable file) is a ValueError with a one-line message naming the key.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.core.categorical import check_actions
from refimpl.engine.checkpoint import atomic_write, read_npz
from refimpl.core.nn import ACTIVATIONS, MLP
from refimpl.core.policy import HEADS, CategoricalPolicy, GaussianPolicy, make_policy

FORMAT_VERSION = 1
"""Version of the IN/OUT formats of ``docs/crosscheck/reference.md``; bumped only if a key changes
meaning."""

INPUT_SPEC: dict[str, tuple[str, int]] = {
    "hidden_sizes": ("int", 1), "activation": ("str", 0), "theta": ("float", 1),
    "obs": ("float", 2), "actions": ("float", 2), "advantages": ("float", 1),
    "v": ("float", 1), "theta_new": ("float", 1), "delta": ("float", 0),
    "damping": ("float", 0), "cg_iters": ("int", 0), "clip_eps": ("float", 0),
}
"""Input key -> (kind, number of dimensions) of a Gaussian input (``policy`` absent or
"gaussian"); kind "float" means float64 exactly."""

CATEGORICAL_SPEC: dict[str, tuple[str, int]] = {**INPUT_SPEC, "actions": ("int", 1),
                                                "n_actions": ("int", 0)}
"""Input key -> (kind, number of dimensions) of a categorical input (``policy`` = "categorical"):
integer actions (N,) in [0, n_actions) instead of float actions (N, act_dim)."""

BLOCK_SPECS: dict[str, dict[str, tuple[str, int]]] = {
    "gae": {"rewards": ("float", 2), "values": ("float", 2), "terminated": ("bool", 2),
            "truncated": ("bool", 2), "final_values": ("float", 2), "last_values": ("float", 1),
            "gamma": ("float", 0), "lam": ("float", 0)},
    "critic": {"critic_theta": ("float", 1), "critic_hidden_sizes": ("int", 1),
               "value_targets": ("float", 1)},
    "critic_clip": {"values_old": ("float", 1), "vf_clip": ("float", 0)},
    "line_search": {"backtrack_alpha": ("float", 0), "backtrack_iters": ("int", 0)},
}
"""Optional input blocks: a block is computed when any of its keys is given, and then needs all
of them ("critic_clip" also needs the "critic" block)."""

_KINDS = {"float": (lambda a: a.dtype == np.float64, "float64"),
          "int": (lambda a: np.issubdtype(a.dtype, np.integer), "an integer type"),
          "bool": (lambda a: a.dtype == np.bool_, "bool"),
          "str": (lambda a: a.dtype.kind == "U", "a unicode string")}


def read(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file (no pickles); ValueError with a one-line reason otherwise."""
    try:
        return read_npz(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except ValueError as e:
        raise ValueError(f"{path} is not a readable .npz file of plain arrays ({e})") from None


def write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file, then rename)."""
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise ValueError(f"cannot write {path} ({e.strerror or e})") from None


def policy_kind(d: dict[str, np.ndarray]) -> str:
    """The optional input key ``policy``: "gaussian" (the default) or "categorical"."""
    if "policy" not in d:
        return "gaussian"
    _check_kinds(d, {"policy": ("str", 0)}, "")
    if str(d["policy"]) not in HEADS:
        raise ValueError(f"input key 'policy' must be one of {HEADS}, got {str(d['policy'])!r}")
    return str(d["policy"])


def _check_kinds(d: dict[str, np.ndarray], spec: dict[str, tuple[str, int]], why: str) -> None:
    """Every key of ``spec`` present, with its dtype and number of dimensions; floats finite."""
    for key, (kind, ndim) in spec.items():
        if key not in d:
            raise ValueError(f"input key '{key}' is missing{why} "
                             "(see docs/crosscheck/reference.md)")
        a = d[key]
        ok, want = _KINDS[kind]
        if not ok(a):
            raise ValueError(f"input key '{key}' must have dtype {want}, got {a.dtype}")
        if a.ndim != ndim:
            want = "a scalar (0-d array)" if ndim == 0 else f"a {ndim}-d array"
            raise ValueError(f"input key '{key}' must be {want}, got shape {a.shape}")
        if kind == "float" and not np.all(np.isfinite(a)):
            raise ValueError(f"input key '{key}' contains non-finite values")


def _check_rules(d: dict[str, np.ndarray], rules: dict[str, tuple[bool, str]]) -> None:
    for key, (ok, want) in rules.items():
        if not ok:
            raise ValueError(f"input key '{key}' must be {want}, got {d[key]}")


def _check_widths(d: dict[str, np.ndarray], key: str) -> tuple[int, ...]:
    if np.any(d[key] < 1):
        raise ValueError(f"input key '{key}' must hold widths >= 1, got {d[key]}")
    return tuple(int(h) for h in d[key])


def _check_scalars(d: dict[str, np.ndarray]) -> None:
    """Ranges of the settings and of hidden_sizes / activation."""
    _check_rules(d, {"delta": (d["delta"] > 0, "> 0"), "damping": (d["damping"] >= 0, ">= 0"),
                     "cg_iters": (d["cg_iters"] >= 1, ">= 1"),
                     "clip_eps": (d["clip_eps"] > 0, "> 0")})
    _check_widths(d, "hidden_sizes")
    if str(d["activation"]) not in ACTIVATIONS:
        raise ValueError(f"input key 'activation' must be one of {ACTIVATIONS}, "
                         f"got {str(d['activation'])!r}")
    if "format_version" in d and not np.array_equal(d["format_version"], FORMAT_VERSION):
        raise ValueError(f"input key 'format_version' is {d['format_version']}; "
                         f"this refimpl reads format {FORMAT_VERSION}")


def _check_shape(d: dict[str, np.ndarray], key: str, shape: tuple[int, ...], why: str) -> None:
    if d[key].shape != shape:
        raise ValueError(f"input key '{key}' must have shape {shape}{why}, got {d[key].shape}")


def _gaussian_act_dim(d: dict[str, np.ndarray], n: int) -> tuple[int, str]:
    """act_dim d from float actions (N, d), and how the layout's message names it."""
    act_dim = d["actions"].shape[1]
    if d["actions"].shape[0] != n or act_dim < 1:
        raise ValueError(f"input key 'actions' must have shape ({n}, act_dim) with act_dim >= 1 "
                         f"(one row per row of obs), got {d['actions'].shape}")
    return act_dim, f"act_dim {act_dim}"


def _categorical_n_actions(d: dict[str, np.ndarray], n: int) -> tuple[int, str]:
    """K = n_actions >= 1, and integer actions (N,) in [0, K) (``categorical.check_actions``)."""
    _check_rules(d, {"n_actions": (d["n_actions"] >= 1, ">= 1")})
    _check_shape(d, "actions", (n,), " (one action per row of obs)")
    K = int(d["n_actions"])
    try:
        check_actions(d["actions"], K)
    except ValueError as e:
        raise ValueError(f"input key 'actions': {e}") from None
    return K, f"n_actions {K}"


def _check_sizes(d: dict[str, np.ndarray], kind: str) -> GaussianPolicy | CategoricalPolicy:
    """N, obs_dim from obs; act_dim (Gaussian) or n_actions (categorical) from the actions; P
    from the policy; every shape must agree."""
    n, obs_dim = d["obs"].shape
    if n < 1 or obs_dim < 1:
        raise ValueError(f"input key 'obs' must have shape (N, obs_dim) with N, obs_dim >= 1, "
                         f"got {d['obs'].shape}")
    out_dim, named = (_gaussian_act_dim if kind == "gaussian" else _categorical_n_actions)(d, n)
    _check_shape(d, "advantages", (n,), "")
    hidden = tuple(int(h) for h in d["hidden_sizes"])
    policy = make_policy(kind, obs_dim, out_dim, hidden, str(d["activation"]))
    for key in ("theta", "v", "theta_new"):
        _check_shape(d, key, (policy.n_params,), f" for hidden_sizes {hidden}, obs_dim {obs_dim} "
                     f"and {named}")
    return policy


def blocks(d: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The optional blocks of ``BLOCK_SPECS`` that ``d`` asks for (any of their keys given)."""
    return tuple(name for name, spec in BLOCK_SPECS.items() if any(k in d for k in spec))


def _check_gae(d: dict[str, np.ndarray]) -> None:
    T, K = d["rewards"].shape
    if T < 1 or K < 1:
        raise ValueError(f"input key 'rewards' must have shape (T, K) with T, K >= 1, "
                         f"got {d['rewards'].shape}")
    for key in ("values", "terminated", "truncated", "final_values"):
        _check_shape(d, key, (T, K), " like 'rewards'")
    _check_shape(d, "last_values", (K,), " (one per column of 'rewards')")
    _check_rules(d, {k: (0 <= d[k] <= 1, "in [0, 1]") for k in ("gamma", "lam")})


def critic_of(d: dict[str, np.ndarray]) -> MLP:
    """The critic's layout: widths ``(obs_dim, *critic_hidden_sizes, 1)``, the policy's activation."""
    return MLP((d["obs"].shape[1], *(int(h) for h in d["critic_hidden_sizes"]), 1),
               str(d["activation"]))


def _check_critic(d: dict[str, np.ndarray]) -> None:
    _check_widths(d, "critic_hidden_sizes")
    critic, n = critic_of(d), d["obs"].shape[0]
    _check_shape(d, "critic_theta", (critic.n_params,),
                 f" for critic_hidden_sizes {critic.sizes[1:-1]} and obs_dim {critic.sizes[0]}")
    _check_shape(d, "value_targets", (n,), " (one per row of 'obs')")
    if "critic_clip" in blocks(d):
        _check_shape(d, "values_old", (n,), " (one per row of 'obs')")
        _check_rules(d, {"vf_clip": (d["vf_clip"] > 0, "> 0")})


def _check_line_search(d: dict[str, np.ndarray]) -> None:
    _check_rules(d, {"backtrack_alpha": (0 < d["backtrack_alpha"] < 1, "in (0, 1)"),
                     "backtrack_iters": (d["backtrack_iters"] >= 1, ">= 1")})


def validate(d: dict[str, np.ndarray]) -> GaussianPolicy | CategoricalPolicy:
    """Check an input dict against the format of ``docs/crosscheck/reference.md``; return its policy
    layout.

    Raises ValueError with a one-line message naming the offending key. ``policy`` (default
    "gaussian") selects INPUT_SPEC or CATEGORICAL_SPEC. The optional blocks (``BLOCK_SPECS``)
    are checked when asked for. Extra keys are ignored (``format_version``, if present, must
    be 1).
    Tested in ``tests/crosscheck/test_crosscheck.py::test_bad_input_exits_2_names_key_writes_nothing`` and
    ``tests/crosscheck/test_crosscheck_categorical.py::
    test_bad_categorical_input_exits_2_names_key_writes_nothing``.
    """
    kind = policy_kind(d)
    _check_kinds(d, INPUT_SPEC if kind == "gaussian" else CATEGORICAL_SPEC, "")
    _check_scalars(d)
    policy = _check_sizes(d, kind)
    asked = blocks(d)
    if "critic_clip" in asked and "critic" not in asked:
        asked = ("critic", *asked)
    for name in asked:
        _check_kinds(d, BLOCK_SPECS[name], f" (the '{name}' block needs it)")
    checks = {"gae": _check_gae, "critic": _check_critic, "line_search": _check_line_search}
    for name in asked:
        checks.get(name, lambda _: None)(d)
    return policy
