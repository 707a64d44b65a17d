"""Dotted names of the package to objects, for the ``implementation`` directive and for
``tests/test_equations_map.py``, which checks the pages without Sphinx (so nothing here imports
it)."""
import functools
import importlib


def resolve(dotted):
    """The object named by ``dotted``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        return functools.reduce(getattr, parts[i:], module)
    raise ImportError(f"no importable prefix of {dotted}")
