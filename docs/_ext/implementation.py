"""The ``implementation`` directive of the lecture and algorithm pages: for each dotted name in its
content, the function's (class's, method's) signature and docstring by autodoc, then its source by
literalinclude ``:pyobject:`` without the docstring, both read from the code at build time::

    ```{implementation}
    refimpl.core.natural.npg_step
    refimpl.algos.npg.policy_update
    ```

A name shown earlier on the same page is not shown twice: a link to the first showing takes its
place. A name that does not import is a build warning (so ``sphinx -W`` fails when a function is
renamed or moved); so is one defined outside the repository.
"""
import ast
import inspect
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from names import definition, resolve

logger = logging.getLogger(__name__)


def lines_without_docstring(node):
    """The ``:lines:`` option (relative to the object's first line, decorators included) that drops
    the docstring, or None if it has none."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    doc = node.body[0] if node.body else None
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
        return None
    before, after = doc.lineno - first, doc.end_lineno - first + 2
    head = f"1-{before}," if before >= 1 else ""
    return f"{head}{after}-" if doc is not node.body[-1] else head.rstrip(",") or None


def anchor(dotted):
    return "implementation-" + dotted.replace(".", "-").replace("_", "-").lower()


class Implementation(SphinxDirective):
    has_content = True

    def run(self):
        root = Path(self.env.srcdir).parent
        shown = self.env.temp_data.setdefault("implementation_shown", set())
        out = []
        for dotted in (line.strip() for line in self.content if line.strip()):
            try:
                obj = resolve(dotted)
                path = Path(inspect.getsourcefile(obj)).resolve()
                rel = path.relative_to(root)
            except (ImportError, AttributeError, TypeError, ValueError) as e:
                logger.warning(f"implementation {dotted}: {e}", location=(self.env.docname, self.lineno))
                continue
            if dotted in shown:
                para = nodes.paragraph()
                para += nodes.reference("", "", nodes.literal(dotted, dotted), refid=anchor(dotted))
                para += nodes.Text(": shown above.")
                out.append(para)
                continue
            shown.add(dotted)
            qualname = obj.__qualname__
            node = definition(ast.parse(path.read_text()), qualname)
            if node is None:
                logger.warning(f"implementation {dotted}: no definition {qualname} in {rel}",
                               location=(self.env.docname, self.lineno))
                continue
            kind = ("autoclass" if isinstance(node, ast.ClassDef)
                    else "automethod" if "." in qualname else "autofunction")
            lines = lines_without_docstring(node)
            # autodoc writes reStructuredText, so both directives go through MyST's eval-rst
            text = ["```{eval-rst}", f".. {kind}:: {dotted}", "   :no-index:", "",
                    f".. literalinclude:: /../{rel.as_posix()}", "   :language: python", f"   :pyobject: {qualname}"]
            if lines:
                text.append(f"   :lines: {lines}")
            if "." in qualname:  # a method: shown from the left margin
                text.append("   :dedent:")
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            text += [f"   :caption: {rel.as_posix()}, lines {first}-{node.end_lineno}"
                     + (" (the docstring is rendered above)" if lines else ""), "```", ""]
            box = nodes.container(classes=["implementation"], ids=[anchor(dotted)])
            box["names"].append(dotted)
            self.state.nested_parse(StringList(text, source=self.env.docname), self.content_offset, box)
            out.append(box)
        return out


COMMON_FIELDS = ("steps", "num_envs", "horizon", "hidden", "critic_hidden", "activation", "init", "log_std_init",
                 "gamma", "lam", "norm_obs", "obs_clip", "norm_reward", "reward_clip", "norm_adv", "clip_actions",
                 "max_grad_norm", "adam_eps", "vf_lr", "vf_epochs", "vf_minibatch", "vf_clip", "anneal_lr")
"""The Config fields every algorithm uses: the run, the networks, GAE, the implementation details and
the critic's fit; an algorithm's own fields come from its parameter dataclass."""
SCHEDULE_FIELDS = {"ppo": ("anneal_clip",), "trpo": ("delta_final",), "npg": ("delta_final",)}
"""The schedules of an algorithm's own hyperparameters that the loop applies (``Config.schedule``)."""


class ConfigDefaults(SphinxDirective):
    """``{config-defaults} ALGO``: a table of the defaults ``Config.for_algo(ALGO)`` takes, each with
    its documentation (meaning and source), read from refimpl/engine/config.py at build time."""

    required_arguments = 1

    def run(self):
        import dataclasses

        from refimpl.algos import PARAMS
        from refimpl.engine.config import PARAM_FIELDS, Config, flag

        algo = self.arguments[0]
        cfg = Config.for_algo(algo)
        own = [PARAM_FIELDS.get(f.name, f.name) for f in dataclasses.fields(PARAMS[algo]) if f.name != "critic"]
        own += SCHEDULE_FIELDS.get(algo, ())
        names = list(COMMON_FIELDS) + [n for n in own if n not in COMMON_FIELDS]
        fields = {f.name: f for f in dataclasses.fields(Config)}
        rows = ["| flag | default | meaning and source of the default |", "|---|---|---|"]
        for name in names:
            value = getattr(cfg, name)
            shown_value = "none" if value is None else ",".join(map(str, value)) if isinstance(value, tuple) else value
            doc = fields[name].metadata["doc"].replace("|", "\\|")
            rows.append(f"| `{flag(name)}` | `{shown_value}` | {doc} |")
        box = nodes.container(classes=["config-defaults"])
        self.state.nested_parse(StringList(rows, source=self.env.docname), self.content_offset, box)
        return [box]


def setup(app):
    app.add_directive("implementation", Implementation)
    app.add_directive("config-defaults", ConfigDefaults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
