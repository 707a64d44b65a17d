"""refimpl/core/minibatch.py: a random partition of range(N) into ceil(N / size) minibatches."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.minibatch import minibatches
from support.strategies import seeds


@given(st.integers(1, 200), st.integers(1, 80), seeds)
def test_minibatches_partition_range_n(n, size, seed):
    """ceil(N / size) chunks, all of ``size`` rows but a shorter last one, together a
    permutation of range(N): every sample once per epoch."""
    batches = minibatches(n, size, np.random.default_rng(seed))
    assert len(batches) == math.ceil(n / size)
    assert [len(b) for b in batches[:-1]] == [size] * (len(batches) - 1)
    assert 1 <= len(batches[-1]) <= size
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))


def test_minibatches_are_a_fresh_random_order_each_call():
    rng = np.random.default_rng(0)
    first, second = (np.concatenate(minibatches(50, 8, rng)) for _ in range(2))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(50))


@pytest.mark.parametrize("n, size", [(0, 4), (4, 0)])
def test_minibatches_reject_empty_sizes(n, size):
    with pytest.raises(ValueError, match="n and size must be >= 1"):
        minibatches(n, size, np.random.default_rng(0))
