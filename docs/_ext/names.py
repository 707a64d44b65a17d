"""Dotted names of the package to objects, and qualified names to their definitions in a
module's source, for the ``implementation`` directive and for
``tests/test_equations_map.py``, which checks the pages without Sphinx (so nothing here imports
it)."""
import ast
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


def definition(tree, qualname):
    """The ast node of the function or class ``qualname`` ("f", "C", "C.m") in a module's tree;
    None if it has none."""
    body = tree.body
    node = None
    for part in qualname.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return node
