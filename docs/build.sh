#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, strictly: every warning (a broken link, a
# function or test that moved, a docstring Sphinx cannot read) fails the build.
#   bash docs/build.sh           build
#   bash docs/build.sh --serve   build, then serve it on http://localhost:8000
# Needs the `docs` extra (pip install -e '.[docs]') and npm: MathJax 3 comes from the npm registry
# into docs/_vendor/ (once), and the site serves its own copy, so it renders math offline.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f docs/_vendor/node_modules/mathjax/es5/tex-svg-full.js ] ||
    npm install --prefix docs/_vendor --no-audit --no-fund mathjax@3.2.2
python -m sphinx -n -W --keep-going -b html docs docs/_build/html
if [ "${1:-}" = "--serve" ]; then
    echo "serving docs/_build/html on http://localhost:8000 (Ctrl-C to stop)"
    python -m http.server --bind 127.0.0.1 --directory docs/_build/html 8000
fi
