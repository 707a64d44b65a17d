"""The independent autodiff oracle: ``examples/crosscheck_torch.py`` derives every crosscheck key
with PyTorch autograd in float64 (its own forward pass over the documented layout, the FVP as
the Hessian-vector product of the mean KL, its own CG, beta from x^T (F + lambda I) x), and
agrees with refimpl key by key within the tolerances of docs/crosscheck/reference.md, on the golden
inputs and on random ones, Gaussian and categorical. Needs the ``torch`` extra
(``pip install -e '.[torch]'``); without torch every test here is skipped, with the reason
shown by ``pytest -ra``."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given

from refimpl import crosscheck
from test_crosscheck import DATA, GOLDEN, _load, assert_outputs_agree, inputs
from test_crosscheck_categorical import _pinned as _pinned_categorical
from test_crosscheck_categorical import categorical_inputs

pytest.importorskip("torch", reason="torch is not installed: pip install -e '.[torch]' "
                                    "runs the PyTorch autodiff oracle")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "crosscheck_torch.py"
TUTORIAL = ROOT / "examples" / "crosscheck_tutorial.py"
TUTORIAL_DOC = ROOT / "docs" / "crosscheck" / "tutorial.md"


def _load_example():
    spec = importlib.util.spec_from_file_location("crosscheck_torch", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


torch_oracle = _load_example()


@pytest.mark.parametrize("case", GOLDEN)
def test_torch_example_script_agrees_with_golden_outputs(case):
    """End to end, as a user runs it: the script on a golden input and output prints one row per
    key, every one within the documented tolerance, and exits 0."""
    result = subprocess.run([sys.executable, str(EXAMPLE), str(DATA / f"{case}_in.npz"),
                             str(DATA / f"{case}_out.npz")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()
    keys = crosscheck.output_keys(str(_load(DATA / f"{case}_in.npz").get("policy", "gaussian")))
    assert [r.split()[0] for r in rows[:-1]] == list(keys)
    assert rows[-1] == "OK"


@pytest.mark.parametrize("case", GOLDEN)
def test_torch_outputs_match_refimpl_on_golden_inputs(case):
    d = _load(DATA / f"{case}_in.npz")
    theirs, ours = torch_oracle.crosscheck(d), crosscheck.compute(d)
    assert list(theirs) == list(ours)
    assert_outputs_agree(theirs, ours, d)


def _pinned(hidden, activation, obs_dim, act_dim, n, seed=0):
    return crosscheck.make_example(np.random.default_rng(seed), hidden, activation, obs_dim,
                                   act_dim, n)


@given(inputs())
@example(_pinned((5, 3), "relu", 3, 1, 7))       # odd widths, relu, act_dim 1
@example(_pinned((), "relu", 2, 1, 5))           # no hidden layer, act_dim 1
@example(_pinned((3,), "tanh", 1, 3, 1))         # one state
def test_torch_outputs_match_refimpl_on_random_inputs(d):
    """Key by key: integers and booleans exactly, direct floats within n eps S, CG outputs
    within 10 K n eps (tests/crosscheck/test_crosscheck.py::tolerances, derived in
    docs/crosscheck/reference.md); the CG iteration count may differ by one where one CG has
    reached its tolerance, since random inputs include ones whose residual reaches it within
    rounding."""
    theirs = torch_oracle.crosscheck(d)
    assert list(theirs) == list(crosscheck.OUTPUT_KEYS)
    assert_outputs_agree(theirs, crosscheck.compute(d), d, stop_may_differ=True)


@given(categorical_inputs())
@example(_pinned_categorical((), "relu", 2, 2, 5))       # linear logits, two actions
@example(_pinned_categorical((3,), "tanh", 1, 4, 1))     # one state: F has rank <= K - 1
def test_torch_outputs_match_refimpl_on_random_categorical_inputs(d):
    """As above for categorical inputs: torch.distributions.Categorical, autograd, the FVP as
    the Hessian-vector product of the mean KL."""
    theirs = torch_oracle.crosscheck(d)
    assert list(theirs) == list(crosscheck.CATEGORICAL_OUTPUT_KEYS)
    assert_outputs_agree(theirs, crosscheck.compute(d), d, stop_may_differ=True)


def _tutorial_report(tmp_path, *flags):
    """Run the tutorial's script as a user does, then compare its two files."""
    result = subprocess.run([sys.executable, str(TUTORIAL), str(tmp_path), *flags],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return crosscheck.compare(_load(tmp_path / "in.npz"), _load(tmp_path / "theirs.npz"))


def _documented_report():
    """(status per key, the diagnosis lines, the last line) of the report that
    docs/crosscheck/tutorial.md shows: its text block that starts with the table's header."""
    text = TUTORIAL_DOC.read_text()
    block = text[text.index("```text\nkey "):].split("```")[1].splitlines()[2:]
    rows = [line for line in block if line and not line.startswith(("diagnosis", "FAIL", "OK"))]
    row = re.compile(r"(\S+)(?:\s+\S+){3}\s+(not given|PASS|FAIL|UNDETERMINED)")
    status = dict(row.match(line).groups() for line in rows)
    return status, [line for line in block if line.startswith("diagnosis")], block[-1]


def test_tutorial_comparison_gives_the_documented_report(tmp_path):
    """The worked comparison of docs/crosscheck/tutorial.md, end to end: the report the page
    shows is the one compare gives (every key's status, the diagnosis and the last line; the
    errors' last digits are the machine's), its one diagnosis is the standardised advantages,
    and with those advantages in IN.npz (the setting the report names) every key given
    passes."""
    report = _tutorial_report(tmp_path / "as_written")
    status, diagnoses, last = _documented_report()
    assert status == {row.key: row.status for row in report.rows}
    assert sorted(report.failed) == ["clip_fraction", "clip_grad", "clip_objective", "grad"]
    assert report.ids() == {"advantages_normalized"}
    shown = crosscheck.format_report(report).splitlines()
    assert diagnoses == [line for line in shown if line.startswith("diagnosis")]
    assert last == shown[-1]
    applied = _tutorial_report(tmp_path / "applied", "--their-advantages")
    assert applied.ok and applied.given == 11, crosscheck.format_report(applied)
