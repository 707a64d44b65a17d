"""Kill rate per module of the last ``mutmut run``, equivalent mutants excluded.

Run from the repository root after ``mutmut run``:

    python docs/mutation_score.py              # the table
    python docs/mutation_score.py --survivors  # and every surviving non-equivalent mutant
    python docs/mutation_score.py --entry NAME # NAME's entry, to paste into the list

Reads mutmut's results (``mutants/**/*.py.meta``), the generated mutants themselves
(``mutants/**/*.py``) and the equivalent mutants listed in ``docs/mutation-equivalent.md``.

An entry of that list names a function and the mutated code, not mutmut's running number (which
any edit of the function renumbers): in a fenced block whose info string is ``mutants``, a line
``refimpl.module.function`` (``refimpl.module.Class.method`` for a method) starts an entry, and
the lines after it that start with ``-`` or ``+`` are the lines the mutant removes and adds, as
``mutmut show NAME`` prints them. A generated mutant is equivalent if an entry names its module
and function and lists the same removed and added lines (compared without their leading and
trailing white space). Every entry must match at least one generated mutant, and all the mutants
it matches must be the same code (mutmut generates some mutants twice); otherwise the script
names the entry and exits with status 1: the code changed, so the entry must be re-checked.

Printed per module: killed / non-equivalent mutants among those run; a mutant for which no test
ran (mutmut's "no tests") counts as surviving, mutants not run yet are counted apart. The
functions that ``docs/mutation.md`` counts with the algorithm layer (``ALGORITHM_FUNCTIONS``)
have rows of their own.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255}  # test failure, pytest internal error, timeouts (mutmut's codes)
MATH_CORE = ("core.nn", "core.distributions", "core.categorical", "core.policy", "core.fisher",
             "core.cg", "core.natural", "core.linesearch", "core.objectives", "core.optim",
             "core.returns", "core.normalize", "core.stats", "core.seeding", "core.errors",
             "exact.lq", "exact.tabular", "exact.episodes")
ALGORITHM_MODULES = ("algos.", "core.critic", "core.minibatch")
"""The algorithm layer: every module under refimpl/algos/, the critic and the minibatches..."""
ALGORITHM_FUNCTIONS = {"core.objectives": ("ppo_objective", "surrogate_and_kl", "surrogate_change"),
                       "core.returns": ("standardize",)}
"""...and these functions of math modules, the algorithms' own pieces (PPO's minibatch objective,
TRPO's surrogate and KL, the step's logged change, the advantage standardisation)."""
FUNCTION_DEF = re.compile(r"^(\s*)(async\s+)?def\s+\w+")
MUTMUT_MARKER = "# type: ignore # mutmut generated"


def split_name(name: str) -> tuple[str, str]:
    """refimpl.core.nn.xǁMLPǁvjp__mutmut_1 -> (core.nn, MLP.vjp);
    refimpl.exact.lq.x_fisher__mutmut_3 -> (exact.lq, fisher)."""
    path, _, mangled = name.partition("__mutmut_")[0].rpartition(".")
    if mangled.startswith("xǁ"):
        _, cls, func = mangled.split("ǁ")
        function = f"{cls}.{func}"
    else:
        function = mangled.removeprefix("x_")
    return path.removeprefix("refimpl."), function


def module_of(name: str) -> str:
    """refimpl.exact.lq.x_fisher__mutmut_3 -> exact.lq; refimpl.core.nn.xǁMLPǁvjp__mutmut_1 -> core.nn."""
    return split_name(name)[0] if "__mutmut_" in name else name


def row_of(name: str) -> str:
    """The table row of a mutant: its module, or module.function for ALGORITHM_FUNCTIONS."""
    module, function = split_name(name)
    return f"{module}.{function}" if function in ALGORITHM_FUNCTIONS.get(module, ()) else module


def in_algorithm_layer(row: str) -> bool:
    return row.startswith(ALGORITHM_MODULES) or any(
        row.startswith(f"{m}.") for m in ALGORITHM_FUNCTIONS)


# -- the equivalent mutants' list ---------------------------------------------------------------

def equivalent_entries(doc: Path) -> list[dict]:
    """The entries of the ``mutants`` blocks: module, function, removed and added lines, and the
    entry's text for messages."""
    entries, block = [], False
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        if line.startswith("```"):
            block = line.strip() == "```mutants" if not block else False
            continue
        if not block or not line.strip():
            continue
        if line[0] in "+-":
            if not entries or entries[-1]["line"] < 0:
                raise SystemExit(f"{doc}:{number}: a changed line outside an entry")
            entries[-1]["minus" if line[0] == "-" else "plus"].append(line[1:].strip())
            entries[-1]["text"].append(line)
        else:
            dotted = line.strip().removeprefix("refimpl.")
            parts = dotted.split(".")
            # module = the longest prefix that is a module of refimpl/; the rest is the function
            for cut in range(len(parts) - 1, 0, -1):
                if (doc.parents[1] / "refimpl" / Path(*parts[:cut])).with_suffix(".py").exists():
                    break
            else:
                raise SystemExit(f"{doc}:{number}: {line.strip()!r} names no module of refimpl/")
            entries.append({"module": ".".join(parts[:cut]), "function": ".".join(parts[cut:]),
                            "minus": [], "plus": [], "line": number, "text": [line.strip()]})
    return entries


def function_sources(mutated_file: Path) -> dict[str, list[str]]:
    """Every function of a file mutmut wrote, by its (mangled, unique) name: its source lines,
    with the def line's name replaced by a fixed one so that a mutant diffs against its
    original in the mutated lines only."""
    text = mutated_file.read_text()
    lines = text.splitlines()
    out = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name:
            body = lines[node.lineno - 1:node.end_lineno]
            body[0] = body[0].replace(node.name, "f", 1)
            out[node.name] = [ln.replace(MUTMUT_MARKER, "").rstrip() for ln in body]
    return out


def mutated_lines(sources: dict[str, list[str]], mangled: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of mutant ``mangled`` against its original, stripped."""
    orig = sources[mangled.partition("__mutmut_")[0] + "__mutmut_orig"]
    minus, plus = [], []
    for line in difflib.unified_diff(orig, sources[mangled], lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (minus if line[0] == "-" else plus).append(line[1:].strip())
    return minus, plus


def match_equivalents(root: Path, names: set[str], entries: list[dict]) -> tuple[set[str], list[str]]:
    """The generated mutants that entries match, and the problems (entries that match none, or
    mutants of different code)."""
    wanted = {(e["module"], e["function"]) for e in entries}
    by_function: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name in names:
        if split_name(name) in wanted:
            by_function[split_name(name)].append(name)
    cache: dict[Path, dict[str, list[str]]] = {}
    diffs: dict[str, tuple[list[str], list[str]]] = {}
    for key, mutants in by_function.items():
        path = root / "mutants" / "refimpl" / Path(*key[0].split(".")).with_suffix(".py")
        sources = cache.setdefault(path, function_sources(path))
        for name in mutants:
            diffs[name] = mutated_lines(sources, name.rpartition(".")[2])
    equivalent, problems = set(), []
    for e in entries:
        hits = [n for n in by_function.get((e["module"], e["function"]), [])
                if diffs[n] == (e["minus"], e["plus"])]
        where = f"docs/mutation-equivalent.md:{e['line']}: " + " / ".join(e["text"])
        if not hits:
            problems.append(f"matches no generated mutant (code changed? re-check it): {where}")
            continue
        path = root / "mutants" / "refimpl" / Path(*e["module"].split(".")).with_suffix(".py")
        bodies = {tuple(cache[path][n.rpartition(".")[2]]) for n in hits}
        if len(bodies) > 1:
            problems.append(f"matches {len(hits)} different mutants ({', '.join(sorted(hits))}):"
                            f" {where}")
            continue
        equivalent.update(hits)
    return equivalent, problems


def entry_for(root: Path, name: str) -> str:
    """The list entry of mutant ``name``."""
    module, function = split_name(name)
    path = root / "mutants" / "refimpl" / Path(*module.split(".")).with_suffix(".py")
    minus, plus = mutated_lines(function_sources(path), name.rpartition(".")[2])
    return "\n".join([f"refimpl.{module}.{function}", *(f"- {m}" for m in minus),
                      *(f"+ {p}" for p in plus)])


# -- the table ----------------------------------------------------------------------------------

def results(mutants: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in sorted(mutants.glob("refimpl/**/*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    if "--entry" in argv:
        print(entry_for(root, argv[argv.index("--entry") + 1]))
        return 0
    codes = results(root / "mutants")
    if not codes:
        print("no mutmut results in mutants/: run `mutmut run` first", file=sys.stderr)
        return 1
    entries = equivalent_entries(root / "docs" / "mutation-equivalent.md")
    equivalent, problems = match_equivalents(root, set(codes), entries)
    total, killed, equiv, not_run = Counter(), Counter(), Counter(), Counter()
    survivors = []
    for name, code in codes.items():
        row = row_of(name)
        if name in equivalent:
            equiv[row] += 1
        elif code is None:
            not_run[row] += 1
        elif code in KILLED:
            killed[row] += 1
            total[row] += 1
        else:
            total[row] += 1
            survivors.append((name, code))
    rows = set(total) | set(not_run) | set(equiv)
    algorithm = sorted(r for r in rows if in_algorithm_layer(r))
    rest = sorted(rows - set(MATH_CORE) - set(algorithm))
    width = max(map(len, rows | {"module"})) + 2
    print(f"{'module':<{width}}{'killed':>8}{'non-equiv':>11}{'rate':>8}{'equivalent':>12}"
          f"{'not run':>9}")
    for group, modules in (("math core", MATH_CORE), ("algorithm layer", algorithm),
                           ("other", rest)):
        for m in modules:
            if total[m] or not_run[m] or equiv[m]:
                rate = f"{killed[m] / total[m]:.1%}" if total[m] else "-"
                print(f"{m:<{width}}{killed[m]:>8}{total[m]:>11}{rate:>8}{equiv[m]:>12}"
                      f"{not_run[m]:>9}")
        k, t = sum(killed[m] for m in modules), sum(total[m] for m in modules)
        if t:
            print(f"{'= ' + group:<{width}}{k:>8}{t:>11}{k / t:>8.1%}"
                  f"{sum(equiv[m] for m in modules):>12}{sum(not_run[m] for m in modules):>9}")
    if "--survivors" in argv:
        for name, code in sorted(survivors):
            print(f"survived (exit code {code}): {name}")
    for problem in problems:
        print(f"FAIL: listed as equivalent, but {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
