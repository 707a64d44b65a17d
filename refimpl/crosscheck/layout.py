"""Parameter layouts other implementations use for the policy's flat vector, and the
permutation that converts each into refimpl's (``docs/crosscheck/reference.md``, "Parameter
layout").

refimpl: per layer W (in, out) row-major then b (out,), log_std last (a categorical policy has
no log_std). Three common departures, in any combination: log_std first (Stable-Baselines3's
``named_parameters`` order; Gaussian only), weights stored (out, in) as
``torch.nn.Linear.weight``, bias before weight.
"""
from __future__ import annotations

import itertools

import numpy as np

from refimpl.core.policy import CategoricalPolicy, GaussianPolicy

DEPARTURES = ("log_std first", "weights (out, in)", "bias first")
"""The three departures, in the order of ``their_order``'s flags, as a diagnosis's setting
names them (``describe``)."""


def their_order(policy: GaussianPolicy | CategoricalPolicy, log_std_first: bool, transposed: bool,
                bias_first: bool) -> np.ndarray:
    """Index array o of shape (P,) with theirs = ours[o]: entry i of their vector is entry o[i]
    of refimpl's. Its inverse (``np.argsort(o)``) converts theirs to refimpl's layout. The
    entries after the network's (log_std; none for a categorical policy) are the head's.
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_layout_orders_are_permutations``."""
    index = np.arange(policy.n_params)
    net, log_std = index[:policy.net.n_params], index[policy.net.n_params:]
    layers = []
    for w, b in policy.net.views(net):
        w = (w.T if transposed else w).reshape(-1)
        layers += [b, w] if bias_first else [w, b]
    parts = [log_std, *layers] if log_std_first else [*layers, log_std]
    return np.concatenate(parts)


def describe(flags) -> str:
    """The layout of ``their_order``'s flags in words, its departures joined: "log_std first,
    weights (out, in)" for SB3's ``named_parameters``."""
    return ", ".join(name for name, on in zip(DEPARTURES, flags) if on) or "refimpl's"


def layouts(kind: str = "gaussian"):
    """Every non-refimpl combination of the three flags, fewest departures first:
    (``describe(flags)``, flags) pairs. A categorical policy (``kind``) has no log_std to
    move: only the other two flags."""
    first = (False, True) if kind == "gaussian" else (False,)
    combos = [f for f in itertools.product(first, (False, True), (False, True)) if any(f)]
    combos.sort(key=sum)
    return [(describe(f), f) for f in combos]
