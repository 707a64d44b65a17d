"""Minibatches for the first-order updates (PPO's policy epochs and every critic fit).

Lecture, "PPO: Final algorithm", step 3: the surrogate is optimised "via mini-batch training":
each epoch visits every sample of the batch exactly once, in a fresh random order.
"""
from __future__ import annotations

import numpy as np


def minibatches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random partition of range(n) into ceil(n / size) index arrays of ``size`` rows (the last
    one shorter when size does not divide n), from one ``rng.permutation(n)``.

    Parameters
    ----------
    n : int >= 1
        Number of samples N.
    size : int >= 1
        Minibatch size.
    rng : numpy.random.Generator

    Returns
    -------
    list of ndarray of int
        Their concatenation is a permutation of range(n).

    Tested in ``tests/core/test_minibatch.py::test_minibatches_partition_range_n``.
    """
    if n < 1 or size < 1:
        raise ValueError(f"n and size must be >= 1, got n={n}, size={size}")
    perm = rng.permutation(n)
    return [perm[i:i + size] for i in range(0, n, size)]
