"""The ``{source}`` role: a link from a page to a file of the repository, or to one function or class in
it, shown as generated source pages (``docs/code/``, not committed).

``{source}`tests/core/test_cg.py``` links to the page of that file; ``{source}`tests/core/test_cg.py::test_cg_respects_max_iters```
to the section of that test; ``{source}`the CI script <.ci/run>``` gives the link its own text. Each
referenced file gets one page, generated at the start of the build from the file itself (the
``{source}`` targets are found by scanning the pages): Python files in sections, one per top-level
function or class (with its decorators and the comments above it), the code between them in sections
of their own, every line numbered as in the file; other files whole. A target whose file does not
exist, or whose ``::name`` is not a top-level function or class of that file, is a build warning, so
``sphinx -W`` fails when a test is renamed or moved.
"""
import ast
import re
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util import logging

logger = logging.getLogger(__name__)
ROLE = re.compile(r"\{source\}`([^`]+)`")
TITLED = re.compile(r"^(.*?)\s*<([^<>]+)>$")
GENERATED = "code"
LANGUAGES = {".py": "python", ".cfg": "ini", ".toml": "toml", ".md": "markdown", ".sh": "bash",
             ".yml": "yaml", ".yaml": "yaml", ".json": "json"}


def label(target):
    """The std label of a target: ``source:`` plus the path (and ``::name``), lower-cased as Sphinx
    normalises labels."""
    return "source:" + target.lower()


def split(text):
    """(shown text, path, name or None) of a role's text ``path[::name]`` or ``title <path[::name]>``."""
    m = TITLED.match(text)
    title, target = (m.group(1), m.group(2)) if m else (None, text)
    path, _, name = target.partition("::")
    return title, path, name or None


def top_level(path):
    """[(name, first line, last line)] of the top-level functions and classes of a Python file: the
    first line is that of its first decorator or of the comment lines right above it."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            while first > 1 and lines[first - 2].lstrip().startswith("#"):
                first -= 1
            found.append((node.name, first, node.end_lineno))
    return found


def page(root, rel):
    """The reStructuredText of the generated page of the repository file ``rel``."""
    path = root / rel
    heading = f"``{rel}``"
    out = [":orphan:", "", f".. _`{label(rel)}`:", "", heading, "=" * len(heading), ""]

    def include(first, last, language):
        out.extend([f".. literalinclude:: /../{rel}", f"   :language: {language}", f"   :lines: {first}-{last}",
                    f"   :lineno-start: {first}", ""])

    language = "bash" if rel == ".ci/run" else LANGUAGES.get(path.suffix, "text")
    n_lines = len(path.read_text().splitlines())
    if path.suffix != ".py":
        include(1, n_lines, language)
        return "\n".join(out)
    line = 1
    for name, first, last in top_level(path):
        if first > line and any(s.strip() for s in path.read_text().splitlines()[line - 1:first - 1]):
            include(line, first - 1, "python")
        title = f"``{name}``"
        out.extend([f".. _`{label(rel + '::' + name)}`:", "", title, "-" * len(title), ""])
        include(first, last, "python")
        line = last + 1
    if line <= n_lines and any(s.strip() for s in path.read_text().splitlines()[line - 1:]):
        include(line, n_lines, "python")
    return "\n".join(out)


def docname(rel):
    """The generated page's path under docs/code/ for the repository file ``rel`` (a leading dot of a
    folder or file name becomes ``dot-``: Sphinx skips hidden folders)."""
    return "/".join("dot-" + p[1:] if p.startswith(".") else p for p in rel.split("/")) + ".rst"


def targets_in(srcdir):
    """The repository paths named by ``{source}`` roles in the pages under srcdir."""
    found = set()
    for doc in Path(srcdir).rglob("*.md"):
        if doc.relative_to(srcdir).parts[0] in ("_build", "_vendor", GENERATED):
            continue
        for text in ROLE.findall(doc.read_text()):
            found.add(split(text)[1])
    return found


def generate(app):
    """Write (only when changed) the page of every referenced file that exists; drop stale pages."""
    srcdir = Path(app.srcdir)
    root = srcdir.parent
    outdir = srcdir / GENERATED
    wanted = {}
    for rel in sorted(targets_in(srcdir)):
        if (root / rel).is_file():
            wanted[outdir / docname(rel)] = page(root, rel)
    for old in outdir.rglob("*.rst") if outdir.exists() else []:
        if old not in wanted:
            old.unlink()
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


def source_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{source}`path[::name]``` -> a reference to the generated page (or section) of that file."""
    env = inliner.document.settings.env
    root = Path(env.srcdir).parent
    title, path, obj = split(text)
    target = path + (f"::{obj}" if obj else "")
    file = root / path
    problem = None
    if not file.is_file():
        problem = f"{{source}} {target}: no file {path} in the repository"
    elif obj and file.suffix == ".py" and obj not in {n for n, _, _ in top_level(file)}:
        problem = f"{{source}} {target}: no top-level function or class {obj} in {path}"
    if problem:
        msg = inliner.reporter.warning(problem, line=lineno)
        return [nodes.problematic(rawtext, rawtext, msg)], [msg]
    ref = addnodes.pending_xref(rawtext, refdomain="std", reftype="ref", reftarget=label(target),
                                refexplicit=True, refwarn=True)
    ref += nodes.literal(rawtext, title or target, classes=["xref", "source"])
    return [ref], []


def setup(app):
    app.add_role("source", source_role)
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
