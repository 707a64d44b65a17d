"""Open the built lecture and algorithm pages in a real browser and check what a reader sees.

    python docs/check_site.py [SITE] [--screenshots DIR] [--chromium PATH]

SITE defaults to docs/_build/html (built by ``bash docs/build.sh``), DIR to docs/_build/screenshots.
Headless Chromium (Debian's ``chromium``, driven by Playwright for Python; no browser is downloaded)
loads every page of lecture/ and algorithms/ from disk, with no network, waits for MathJax, and
checks, per page:

1. the math rendered: every math element of the page holds MathJax's output (``mjx-container``),
   none is a MathJax error (an ``merror`` node: an undefined macro, a double subscript), and the visible text,
   code blocks aside, contains no raw TeX (``\\(``, ``\\)``, ``\\[``, ``\\]``, ``$$``, ``\\frac``);
2. the code is shown: the page has at least one ``implementation`` block, and each one shows a
   function's (class's) signature and, below it, its source (a visible code block that defines
   the name of that signature);
3. nothing failed to load (a request that failed, a JavaScript error).

It saves one full-page screenshot per page into DIR and exits 1, naming the page and what is
wrong, if any check fails (2 if the site or Chromium is missing).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("lecture", "algorithms")
RAW_TEX = ("\\(", "\\)", "\\[", "\\]", "$$", "\\frac")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MATHJAX_TIMEOUT_MS = 60_000
"""MathJax typesets a long page in seconds; a minute means it is missing or hung."""

INSPECT = """() => {
  const maths = [...document.querySelectorAll('article .math')];
  // MathJax marks a formula it could not typeset (an undefined macro, a double subscript) as merror
  const errors = [...document.querySelectorAll('mjx-merror, [data-mml-node="merror"], [data-mjx-error]')]
    .map(e => e.getAttribute('data-mjx-error') || e.textContent);
  const blocks = [...document.querySelectorAll('article .implementation')].map(box => {
    const sig = box.querySelector('dt .sig-name');
    const pre = box.querySelector('.literal-block-wrapper div.highlight pre');  // the captioned source, not a docstring's block
    return {name: sig ? sig.textContent.trim() : null,
            source: pre ? pre.textContent : null,
            visible: pre ? pre.getBoundingClientRect().height > 0 : false};
  });
  const article = document.querySelector('article').cloneNode(true);
  article.querySelectorAll('pre, code, script, style, mjx-container').forEach(n => n.remove());
  return {maths: maths.length,
          rendered: maths.filter(m => m.querySelector('mjx-container')).length,
          errors, blocks,
          text: document.querySelector('article').innerText,
          textOutsideCode: article.textContent};
}"""


def problems_of(page, index: bool) -> tuple[list[str], dict]:
    """What is wrong with one loaded page (empty if nothing), and what was seen. A section's index
    page (its table of contents) need not show code."""
    seen = page.evaluate(INSPECT)
    found = []
    if seen["rendered"] != seen["maths"]:
        found.append(f"{seen['maths'] - seen['rendered']} of {seen['maths']} math elements not rendered by MathJax")
    if seen["errors"]:
        found.append(f"MathJax errors: {seen['errors'][:5]}")
    raw = [t for t in RAW_TEX if t in seen["textOutsideCode"]]
    if raw:
        found.append(f"raw TeX in the visible text: {raw}")
    if not seen["blocks"] and not index:
        found.append("no implementation block (no function shown with its source)")
    for i, block in enumerate(seen["blocks"], 1):
        name = block["name"]
        if not name:
            found.append(f"implementation block {i}: no signature")
        elif not block["source"] or not block["visible"]:
            found.append(f"implementation block {i} ({name}): no visible source")
        elif f"def {name}" not in block["source"] and f"class {name}" not in block["source"]:
            found.append(f"implementation block {i} ({name}): its source does not define {name}")
    return found, seen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", type=Path, default=ROOT / "docs" / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "docs" / "_build" / "screenshots")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    pages = sorted(p for s in SECTIONS for p in (args.site / s).glob("*.html"))
    if not pages:
        print(f"check_site: no built page in {args.site}/{{{','.join(SECTIONS)}}}/ (run bash docs/build.sh)")
        return 2
    if not Path(args.chromium).is_file():
        print(f"check_site: no Chromium at {args.chromium} (apt-get install chromium)")
        return 2
    from playwright.sync_api import sync_playwright

    args.screenshots.mkdir(parents=True, exist_ok=True)
    failed = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
        for path in pages:
            name = path.relative_to(args.site).as_posix()
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            load_errors = []
            page.on("requestfailed", lambda r: load_errors.append(f"request failed: {r.url}"))
            page.on("pageerror", lambda e: load_errors.append(f"JavaScript error: {e}"))
            page.goto(path.as_uri(), wait_until="load")
            # Sphinx loads MathJax only on pages with math; a page with math and no MathJax fails below
            if page.evaluate("() => document.querySelector('article .math') !== null"):
                try:
                    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                           timeout=MATHJAX_TIMEOUT_MS)
                    page.evaluate("() => MathJax.startup.promise")
                except Exception as e:  # MathJax missing, or it never finished
                    load_errors.append(f"MathJax did not finish: {str(e).splitlines()[0]}")
            shot = args.screenshots / (name.replace("/", "-").removesuffix(".html") + ".png")
            page.screenshot(path=str(shot), full_page=True)
            found, seen = problems_of(page, index=path.name == "index.html")
            found = load_errors + found
            page.close()
            if found:
                failed += 1
                print(f"FAIL {name}:")
                for f in found:
                    print(f"    {f}")
            else:
                print(f"ok   {name}: {seen['rendered']} math elements rendered, "
                      f"{len(seen['blocks'])} functions with their source; {shot.relative_to(ROOT) if shot.is_relative_to(ROOT) else shot}")
        browser.close()
    print(f"check_site: {len(pages) - failed} of {len(pages)} pages pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
