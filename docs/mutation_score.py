"""Kill rate per module of the last ``mutmut run``, equivalent mutants excluded.

Run from the repository root after ``mutmut run``:

    python docs/mutation_score.py

Reads mutmut's results (``mutants/**/*.py.meta``) and the equivalent mutants listed in
``docs/mutation-equivalent.md`` (every name in backticks that starts with ``refimpl.``), and prints,
per module, killed / non-equivalent mutants among those run; a mutant for which no test ran
(mutmut's "no tests") counts as surviving, and mutants not run yet are counted apart. With
``--survivors`` it also lists every surviving non-equivalent mutant by name.
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255}  # test failure, pytest internal error, timeouts (mutmut's codes)
MATH_CORE = ("nn", "distributions", "policy", "fisher", "cg", "natural", "linesearch", "objectives",
             "optim", "returns", "normalize", "exact.lq", "exact.tabular")


def equivalent_names(doc: Path) -> set[str]:
    return set(re.findall(r"`(refimpl\.[^`\s]+__mutmut_\d+)`", doc.read_text()))


def results(mutants: Path) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for meta in sorted(mutants.glob("refimpl/**/*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def module_of(name: str) -> str:
    """refimpl.exact.lq.x_fisher__mutmut_3 -> exact.lq; refimpl.core.nn.xǁMLPǁvjp__mutmut_1 -> nn."""
    return name.split(".x")[0].removeprefix("refimpl.") if ".x" in name else name


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    codes, equivalent = results(root / "mutants"), equivalent_names(root / "docs" / "mutation-equivalent.md")
    unknown = sorted(equivalent - set(codes))
    if unknown:
        print("listed as equivalent but not generated (source changed? refresh the list):",
              *unknown, sep="\n  ")
    total, killed, equiv, not_run = Counter(), Counter(), Counter(), Counter()
    survivors = []
    for name, code in codes.items():
        module = module_of(name)
        if name in equivalent:
            equiv[module] += 1
        elif code is None:
            not_run[module] += 1
        elif code in KILLED:
            killed[module] += 1
            total[module] += 1
        else:
            total[module] += 1
            survivors.append((name, code))
    print(f"{'module':<16}{'killed':>8}{'non-equiv':>11}{'rate':>8}{'equivalent':>12}{'not run':>9}")
    rest = sorted((set(total) | set(not_run)) - set(MATH_CORE))
    for group, modules in (("math core", MATH_CORE), ("other", rest)):
        for m in modules:
            if total[m] or not_run[m]:
                rate = f"{killed[m] / total[m]:.1%}" if total[m] else "-"
                print(f"{m:<16}{killed[m]:>8}{total[m]:>11}{rate:>8}{equiv[m]:>12}{not_run[m]:>9}")
        k, t = sum(killed[m] for m in modules), sum(total[m] for m in modules)
        if t:
            print(f"{'= ' + group:<16}{k:>8}{t:>11}{k / t:>8.1%}"
                  f"{sum(equiv[m] for m in modules):>12}{sum(not_run[m] for m in modules):>9}")
    if "--survivors" in argv:
        for name, code in sorted(survivors):
            print(f"survived (exit code {code}): {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
