"""refimpl/core/state.py: a part's entries come back out of a flat state from under its prefix,
and no other part's do."""
from hypothesis import given, strategies as st

from refimpl.core.state import subdict

keys = st.text("abc_", min_size=1, max_size=4)
parts = st.dictionaries(keys, st.integers(), max_size=4)


@given(parts, parts)
def test_a_part_comes_back_from_under_its_prefix(first, second):
    flat = {**{f"first/{k}": v for k, v in first.items()},
            **{f"second/{k}": v for k, v in second.items()}}
    assert subdict(flat, "first/") == first
    assert subdict(flat, "second/") == second
    assert subdict(flat, "third/") == {}
