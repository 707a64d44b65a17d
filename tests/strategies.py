"""Shared hypothesis strategies: network layouts, batches and seeds."""
from hypothesis import strategies as st

from refimpl.nn import MLP
from refimpl.policy import GaussianPolicy

seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 9)
activations = st.sampled_from(["tanh", "relu"])


@st.composite
def mlps(draw, max_width=7, max_hidden=3):
    hidden = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=max_hidden))
    sizes = (draw(st.integers(1, 6)), *hidden, draw(st.integers(1, 4)))
    return MLP(sizes, draw(activations))


@st.composite
def policies(draw, max_width=7):
    hidden = tuple(draw(st.lists(st.integers(1, max_width), min_size=0, max_size=2)))
    return GaussianPolicy.build(draw(st.integers(1, 5)), draw(st.integers(1, 3)), hidden,
                                draw(activations))
