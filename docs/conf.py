"""Sphinx configuration of the refimpl documentation site.

Build: ``bash docs/build.sh`` (installs MathJax 3 from the npm registry into docs/_vendor once, then
runs ``python -m sphinx -n -W --keep-going -b html docs docs/_build/html``). Math is rendered by a
local copy of MathJax, so the site needs no network, neither to build nor to read.
"""
import shutil
import sys
from pathlib import Path

from docutils import nodes
from docutils.transforms import Transform

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

project = "refimpl"
author = "refimpl contributors"
copyright = "refimpl contributors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "repo_source",
    "implementation",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_vendor", "crosscheck.md"]
nitpicky = True
# GaussianPolicy.action_dtype and CategoricalPolicy.action_dtype are NumPy's scalar types ("alias of
# numpy.float64"); NumPy's own inventory (intersphinx) would need the network, so these two names stay
# unlinked. Nothing else is exempt.
nitpick_ignore = [("py:class", "numpy.float64"), ("py:class", "numpy.int64")]

# pages in MyST markdown: $...$ and $$...$$ math, ::: fences, heading anchors for [text](page.md#slug)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# numpydoc docstrings, rendered by numpydoc (NumPy's and SciPy's own extension); parameter types stay
# text ("ndarray, shape (N, obs_dim)"), not cross-references
numpydoc_xref_param_type = False
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# a class documents its own methods: those it inherits from gymnasium (Env.reset, Wrapper.step) keep
# gymnasium's docstrings, written for gymnasium's site (their cross-references resolve only there)
autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = "refimpl"
html_static_path = ["_static"]
html_css_files = ["site.css"]

# MathJax 3, served from the site itself: the npm package's single-file TeX-to-SVG bundle (every TeX
# extension included, no font files to fetch), copied into _static/mathjax/ after the build
MATHJAX = DOCS / "_vendor" / "node_modules" / "mathjax" / "es5"
MATHJAX_FILE = "tex-svg-full.js"
if not (MATHJAX / MATHJAX_FILE).is_file():
    raise RuntimeError(f"MathJax 3 is not in {MATHJAX}: run `npm install --prefix docs/_vendor mathjax@3.2.2` "
                       "(bash docs/build.sh does it)")
mathjax_path = f"mathjax/{MATHJAX_FILE}"
# the lecture's own macros, so that its formulas are written here as they are in the lecture
mathjax3_config = {
    "tex": {
        "macros": {
            "R": r"\mathbb{R}",
            "E": r"\mathbb{E}",
            "Ac": r"\mathcal{A}",
            "Sc": r"\mathcal{S}",
            "Bc": r"\mathcal{B}",
            "Xc": r"\mathcal{X}",
            "Oc": r"\mathcal{O}",
            "nablaphi": r"\nabla_\phi",
            "dx": r"\,\mathrm{d}x",
            "dint": [r"\,\mathrm{d}#1", 1],
            "cbracket": [r"\left(#1\right)", 1],
            "rbracket": [r"\left[#1\right]", 1],
            "norm": [r"\left\lVert#1\right\rVert", 1],
            "abs": [r"\left|#1\right|", 1],
            "pdiff": [r"\frac{\partial #1}{\partial #2}", 2],
            "agivenb": [r"(#1\,|\,#2)", 2],
            "pC": [r"p(#1\,|\,#2)", 2],
            "Exp": [r"\mathbb{E}\left[#1\right]", 1],
            "Expsub": [r"\mathbb{E}_{#2}\left[#1\right]", 2],
            "Exphat": [r"\hat{\mathbb{E}}_t\left[#1\right]", 1],
            "KLdiv": [r"D_{\mathsf{KL}}\left(#1\,\middle\|\,#2\right)", 2],
            "KLdivmax": [r"D_{\mathsf{KL}}^{\max}\left(#1, #2\right)", 2],
            "KLdivavg": [r"\bar{D}_{\mathsf{KL}}\left(#1, #2\right)", 2],
            # braced, so that \pi_\subold{\phi} is one subscript, not two
            "subold": [r"{#1_{\mathrm{old}}}", 1],
            "subnew": [r"{#1_{\mathrm{new}}}", 1],
            "iterate": [r"{#1_{#2}}", 2],
            "Vpiphi": r"V^{\pi_\phi}",
            "fragment": [r"#1", 1],
        },
    },
    "svg": {"fontCache": "global"},
}


def copy_mathjax(app, exception):
    """Copy MathJax into the built site (html builders only), so that it renders offline."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MATHJAX / MATHJAX_FILE, target / MATHJAX_FILE)


class AbsoluteValues(Transform):
    """refimpl's docstrings write formulas as plain text, where |x| is an absolute value; to
    reStructuredText, |x| is a substitution, an error when undefined. The site defines no
    substitutions, so each one is put back as the text |x| before docutils resolves them."""

    default_priority = 219  # just before docutils.transforms.references.Substitutions (220)

    def apply(self):
        for ref in list(self.document.findall(nodes.substitution_reference)):
            ref.replace_self(nodes.Text(f"|{ref['refname']}|" if not ref.children else f"|{ref.astext()}|"))


def setup(app):
    app.add_transform(AbsoluteValues)
    app.connect("build-finished", copy_mathjax)
    # docs/mutation-equivalent.md's ```mutants blocks (read by docs/mutation_score.py) are diffs
    from pygments.lexers import DiffLexer
    app.add_lexer("mutants", DiffLexer)
