"""docs/equations.md, the lecture-to-code map, stays true: every link points at an existing file,
every dotted name imports and is defined in the linked file, every ``tests/test_x.py::test_name``
is a test function in that file (found with ast, without importing), and the lecture's numbered
equations all appear, in lecture order."""
import ast
import functools
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "equations.md"
LINK = re.compile(r"\[`([^`]+)`\]\(([^)]+)\)")
LECTURE_LABELS = ["Adv_Fisher_Information_Matrix", "Adv_KLdiv_Fisher", "Adv_Natural_PG", "Adv_NPG",
                  "Adv_performance_measures", "Adv_surrogate_loss", "Adv_TRPO_Opt",
                  "Adv_TRPO_gradient", "Adv_TRPO_LQOpt", "Adv_TRPO_step", "Adv_PPO_Objective"]
"""The lecture's equation labels in the order they are defined in the lecture."""


def links():
    """(text, target path resolved from docs/) of every [`text`](target) link in the document."""
    return [(text, (DOC.parent / target).resolve()) for text, target in LINK.findall(DOC.read_text())]


def resolve(dotted):
    """Import the longest importable module prefix of ``dotted``, then getattr the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        return functools.reduce(getattr, parts[i:], obj)
    raise ImportError(f"no importable prefix of {dotted}")


def functions_in(path):
    """Names of the module-level test functions of a test file (parametrised ones included)."""
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_link_resolves():
    found = links()
    assert len(found) > 100, "the table lost its links"
    problems = []
    for text, path in found:
        if not path.is_file():
            problems.append(f"{text}: {path} does not exist")
        elif "::" in text:
            file, name = text.split("::")
            if ROOT / file != path:
                problems.append(f"{text}: linked to {path}")
            elif name not in functions_in(path):
                problems.append(f"{text}: no test function {name} in {file}")
        elif text.startswith("refimpl."):
            try:
                obj = resolve(text)
            except (ImportError, AttributeError) as e:
                problems.append(f"{text}: {e}")
                continue
            if Path(inspect.getsourcefile(obj)).resolve() != path:
                problems.append(f"{text}: defined in {inspect.getsourcefile(obj)}, linked to {path}")
        else:
            problems.append(f"{text}: neither a dotted refimpl name nor tests/x.py::test_name")
    assert not problems, "\n".join(problems)


def test_every_numbered_equation_appears_in_lecture_order():
    text = DOC.read_text()
    matches = [re.search(rf"eq\. {label}\b", text) for label in LECTURE_LABELS]
    assert all(matches), [label for label, m in zip(LECTURE_LABELS, matches) if m is None]
    positions = [m.start() for m in matches]
    assert positions == sorted(positions)


def test_table_rows_are_numbered_consecutively():
    rows = re.findall(r"^\| (\d+) \|", DOC.read_text(), flags=re.M)
    assert [int(r) for r in rows] == list(range(1, len(rows) + 1))


@pytest.mark.parametrize("dotted", ["refimpl.core.policy.GaussianPolicy.scor", "refimpl.nofile.f"])
def test_resolver_rejects_wrong_names(dotted):
    with pytest.raises((ImportError, AttributeError)):
        resolve(dotted)
