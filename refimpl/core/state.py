"""States as flat dicts of arrays, as a checkpoint (``.npz``) stores them: the state of each part
(an optimiser, a normaliser, the collector) sits under a prefix of its own, ``"obs_rms/mean"``,
and ``subdict`` takes a part's entries back out.

Tested in tests/core/test_state.py.
"""
from __future__ import annotations


def subdict(d: dict, prefix: str) -> dict:
    """The entries of ``d`` whose keys start with ``prefix``, with the prefix removed:
    ``subdict({"a/x": 1, "b/y": 2}, "a/") == {"x": 1}``."""
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}
