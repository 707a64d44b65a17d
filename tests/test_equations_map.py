"""The lecture-to-code map, the pages of docs/lecture/ and docs/algorithms/, stays true, checked here
without building the site: every dotted name an ``implementation`` block shows imports and is
defined in refimpl/, every ``{py:...}`` role names an importable object, every
``{source}`path::name``` names an existing file and a top-level function or class of it (found with
ast, without importing), every ``literalinclude`` with ``:pyobject:`` finds its object, and the
lecture's numbered equations all head a section, in lecture order, across the lecture pages in the
order of their table of contents. The strict site build (``bash docs/build.sh``) checks the same links again,
through Sphinx."""
import ast
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ROOT / "docs" / "lecture"
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from names import definition, resolve  # noqa: E402  (the directive's own, docs/_ext/names.py)
PAGES = sorted(LECTURE.glob("*.md")) + sorted((ROOT / "docs" / "algorithms").glob("*.md"))
IMPLEMENTATION = re.compile(r"^```\{implementation\}\n(.*?)^```", re.M | re.S)
SOURCE = re.compile(r"\{source\}`(?:[^`<]*<)?([^`>]+)>?`")
PY_ROLE = re.compile(r"\{py:(?:func|class|meth|mod|attr|data)\}`~?([^`]+)`")
LITERALINCLUDE = re.compile(r"^```\{literalinclude\} (\S+)\n((?::[^\n]*\n)*)", re.M)
LECTURE_LABELS = ["Adv_Fisher_Information_Matrix", "Adv_KLdiv_Fisher", "Adv_Natural_PG", "Adv_NPG",
                  "Adv_performance_measures", "Adv_surrogate_loss", "Adv_TRPO_Opt",
                  "Adv_TRPO_gradient", "Adv_TRPO_LQOpt", "Adv_TRPO_step", "Adv_PPO_Objective"]
"""The lecture's equation labels in the order they are defined in the lecture."""


def top_level(path):
    """Names of the module-level functions and classes of a Python file (parametrised tests included)."""
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def defined(path, qualname):
    """Whether ``qualname`` ("f", "C" or "C.m") is a function or class defined in the file ``path``."""
    return definition(ast.parse(path.read_text()), qualname) is not None


def shown(text):
    """The dotted names of the page's implementation blocks."""
    return [line.strip() for block in IMPLEMENTATION.findall(text) for line in block.splitlines() if line.strip()]


def source_problem(target):
    """Why ``path[::name]`` of a {source} role does not resolve, or None."""
    path, _, name = target.partition("::")
    file = ROOT / path
    if not file.is_file():
        return f"{target}: no file {path}"
    if name and file.suffix == ".py" and name not in top_level(file):
        return f"{target}: no top-level function or class {name} in {path}"
    return None


def dotted_problem(dotted):
    """Why the dotted name does not import or is not refimpl's own, or None."""
    try:
        obj = resolve(dotted)
    except (ImportError, AttributeError) as e:
        return f"{dotted}: {e}"
    if inspect.ismodule(obj):
        file = Path(obj.__file__).resolve()
    else:
        try:
            file = Path(inspect.getsourcefile(obj)).resolve()
        except TypeError as e:  # not Python source: a NumPy ufunc, a builtin
            return f"{dotted}: {e}"
        if not defined(file, obj.__qualname__):
            return f"{dotted}: {obj.__qualname__} is not defined in {file}"
    if not file.is_relative_to(ROOT / "refimpl"):
        return f"{dotted}: defined in {file}, outside refimpl/"
    return None


def page_problems(page):
    """Every link of one page that does not resolve."""
    text = page.read_text()
    problems = [dotted_problem(d) for d in shown(text) + PY_ROLE.findall(text)]
    problems += [source_problem(t) for t in SOURCE.findall(text)]
    for target, options in LITERALINCLUDE.findall(text):
        file = (page.parent / target).resolve() if not target.startswith("/") else ROOT / "docs" / target[1:]
        pyobject = re.search(r"^:pyobject: (\S+)", options, re.M)
        if not file.is_file():
            problems.append(f"literalinclude {target}: no such file")
        elif pyobject and not defined(file, pyobject.group(1)):
            problems.append(f"literalinclude {target}: no {pyobject.group(1)} in it")
    return [f"{page.relative_to(ROOT)}: {p}" for p in problems if p]


def lecture_pages_in_order():
    """The lecture pages in the order of docs/lecture/index.md's toctree."""
    toctree = re.search(r"```\{toctree\}\n(.*?)```", (LECTURE / "index.md").read_text(), re.S).group(1)
    names = [line.strip() for line in toctree.splitlines() if line.strip() and not line.startswith(":")]
    return [LECTURE / f"{name}.md" for name in names]


def test_every_link_resolves():
    problems = [p for page in PAGES for p in page_problems(page)]
    assert not problems, "\n".join(problems)


def test_the_pages_link_every_function_and_test_of_the_map():
    text = "".join(page.read_text() for page in PAGES)
    functions = set(shown(text))
    tests = {t for t in SOURCE.findall(text) if t.startswith("tests/") and "::" in t}
    # docs/equations.md, the table the pages replaced (removed since), named 81 distinct
    # functions and 129 distinct tests in its 42 rows and its list of the lecture's imprecisions;
    # the pages link them all
    assert len(functions) >= 81 and len(tests) >= 129, (len(functions), len(tests))


def test_every_lecture_page_is_in_the_toctree_and_shows_code_and_tests():
    ordered = lecture_pages_in_order()
    assert sorted(ordered) == sorted(p for p in LECTURE.glob("*.md") if p.name != "index.md")
    for page in ordered:
        text = page.read_text()
        assert shown(text), f"{page.name} shows no function"
        assert any(t.startswith("tests/") for t in SOURCE.findall(text)), f"{page.name} links no test"


def test_every_numbered_equation_appears_in_lecture_order():
    text = "".join(page.read_text() for page in lecture_pages_in_order())
    # the section that shows the equation is headed "... (eq. LABEL)"
    matches = [re.search(rf"^## .*\(eq\. {label}\)$", text, re.M) for label in LECTURE_LABELS]
    assert all(matches), [label for label, m in zip(LECTURE_LABELS, matches) if m is None]
    positions = [m.start() for m in matches]
    assert positions == sorted(positions)


@pytest.mark.parametrize("dotted", ["refimpl.core.policy.GaussianPolicy.scor", "refimpl.nofile.f", "numpy.linalg.solve"])
def test_resolver_rejects_wrong_names(dotted):
    assert dotted_problem(dotted) is not None


@pytest.mark.parametrize("target", ["tests/core/test_cg.py::test_cg_does_not_exist", "tests/core/test_nofile.py"])
def test_source_links_to_missing_tests_are_rejected(target):
    assert source_problem(target) is not None


def test_the_api_reference_documents_every_module():
    """Each module of refimpl/ (the package's own docstring aside: docs/api.md is its page) has
    its ``automodule`` in docs/api/*.md, so a module added to the package appears in the API
    reference (Sphinx would only warn on a link to a missing one)."""
    documented = set(re.findall(r"^\.\. automodule:: (\S+)$",
                                "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md")),
                                re.M))
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
               for p in (ROOT / "refimpl").rglob("*.py") if p.name != "__main__.py"} - {"refimpl"}
    assert modules - documented == set(), f"not in docs/api/: {sorted(modules - documented)}"
