"""``refimpl crosscheck compare``: refimpl's answers for IN.npz against another
implementation's THEIRS.npz, key by key, with the tolerance of ``tolerance.py`` and its reason,
and a diagnosis of every failing key (``explain.py``, over the conventions of ``diagnose.py``). ``docs/crosscheck/reference.md`` documents
the table, the exit status and the JSON layout.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from refimpl.crosscheck import tolerance
from refimpl.crosscheck.compute import compute
from refimpl.crosscheck.explain import Diagnosis, diagnose_failures, float32_casts
from refimpl.crosscheck.tolerance import DETERMINABLE

RTOL64 = 1e-10
"""Default floor of the float64 tolerance, relative to max |refimpl|: docs/crosscheck/reference.md's
bound for direct keys (n eps S <= 1e-10 up to n = 4.5e5 roundings)."""
EXIT = {"OK": 0, "FAIL": 1, "UNDETERMINED": 3, "NOTHING": 4}
"""Exit status of ``crosscheck compare`` per verdict (2 is a bad file or argument)."""


@dataclass
class Row:
    """One key of the comparison: ``status`` is PASS, FAIL, UNDETERMINED (the error is within
    a bound too large against the key's scale to tell a mistake from rounding) or
    "not given"."""

    key: str
    status: str
    max_abs_error: float | None = None
    rel_error: float | None = None
    tolerance: float | None = None
    reason: str = ""
    dtype: str = ""
    diagnoses: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The result of ``compare``: one Row per key refimpl computes, the keys of THEIRS refimpl
    does not know, the diagnoses, and whether THEIRS was float32."""

    rows: list[Row]
    unknown: list[str]
    diagnoses: list[Diagnosis]
    float32: bool

    @property
    def failed(self) -> list[str]:
        return [r.key for r in self.rows if r.status == "FAIL"]

    @property
    def undetermined(self) -> list[str]:
        return [r.key for r in self.rows if r.status == "UNDETERMINED"]

    @property
    def given(self) -> int:
        return sum(r.status != "not given" for r in self.rows)

    @property
    def verdict(self) -> str:
        """FAIL if a key fails, else NOTHING if no key was compared, else UNDETERMINED if a key
        cannot be judged, else OK (``EXIT`` maps it to the exit status)."""
        if self.failed:
            return "FAIL"
        if not any(r.status != "not given" for r in self.rows if r.key != "format_version"):
            return "NOTHING"  # format_version alone compares no quantity
        return "UNDETERMINED" if self.undetermined else "OK"

    @property
    def ok(self) -> bool:
        """At least one key compared, and every key THEIRS gives passes."""
        return self.verdict == "OK"

    def ids(self) -> set[str]:
        return {dg.id for dg in self.diagnoses}

    def to_dict(self) -> dict:
        return {"ok": self.ok, "verdict": self.verdict, "float32": self.float32, "rows": [asdict(r) for r in self.rows],
                "unknown_keys": self.unknown, "diagnoses": [asdict(x) for x in self.diagnoses]}


def _theirs_array(key, a, ref) -> tuple[np.ndarray | None, str]:
    """THEIRS's array as comparable with refimpl's, or None and why not."""
    if a.shape != ref.shape:
        return None, f"shape {a.shape}, refimpl's is {ref.shape}"
    if ref.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
        return None, f"dtype {a.dtype}, expected float64 or float32"
    if ref.dtype.kind in "biu" and a.dtype.kind not in "biu":
        return None, f"dtype {a.dtype}, expected an integer or bool"
    return a, ""


def _remedy(key, float32) -> str:
    """What would make ``key`` determinable."""
    ways = ["float64"] if float32 else []
    if key in tolerance.CG_KEYS + tolerance.LINE_SEARCH_KEYS:
        ways.append("fewer CG iterations")
    return ", ".join(ways + ["a smaller problem (fewer parameters or states)"])


def _float_row(key, a, ref, tol, reason, derived, float32) -> Row:
    """PASS or FAIL by ``tol``; UNDETERMINED instead of PASS when the derived bound exceeds
    DETERMINABLE times the key's scale max |refimpl|."""
    diff = np.abs(a.astype(np.float64) - ref)
    err = float(np.max(diff, initial=0.0)) if np.all(np.isfinite(a)) else float("inf")
    scale = float(np.max(np.abs(ref), initial=0.0))
    status = "PASS" if err <= tol else "FAIL"
    if status == "PASS" and derived > DETERMINABLE * scale:
        status = "UNDETERMINED"
        reason = (f"bound {derived:.1e} > {DETERMINABLE:g} x max|refimpl| = "
                  f"{DETERMINABLE * scale:.1e}: rounding alone may move it that far, so a "
                  f"wrong value can pass; determinable with {_remedy(key, float32)} ({reason})")
    return Row(key, status, err,
               err / scale if scale > 0 else (0.0 if err == 0 else float("inf")), tol, reason,
               str(a.dtype))


def _tolerance(key, d, ours, rtol, derived, float32, K):
    """(absolute tolerance, reason) of one float key: max(floor, ``derived``), the floor rtol
    (default RTOL64 for float64, 0 for float32) times max |refimpl|."""
    n, S = tolerance.rounding_steps(key, d), tolerance.rounding_scale(key, d, ours)
    kind = "float32 " if float32 else ""
    if key in tolerance.CG_KEYS:
        why = f"{kind}CG output: 10 K n eps S, K = {K[key]:.1e} (CG amplification), n = {n}"
    elif key in tolerance.LINE_SEARCH_KEYS:
        why = f"{kind}n eps S + step's CG tolerance, n = {n}"
    else:
        why = f"{kind}n eps S, n = {n}, S = {S:.2g}"
    rel = (0.0 if float32 else RTOL64) if rtol is None else rtol
    floor = rel * float(np.max(np.abs(ours[key]), initial=0.0))
    if floor > derived:
        return floor, f"rtol {rel:.0e} x max|refimpl| (derived bound {derived:.1e}: {why})"
    return derived, why


def _bounds(d, ours):
    """(derived bounds per key for float64 (False) and float32 (True), K)."""
    K = tolerance.cg_amplification(d, ours)
    return {False: tolerance.tolerances(d, ours, tolerance.EPS, K),
            True: tolerance.tolerances(d, ours, tolerance.EPS32, K)}, K


def _rows(d, ours, theirs, rtol, only, derived, K) -> tuple[list[Row], bool]:
    eps32 = {k for k, a in theirs.items() if k in ours and a.dtype == np.float32}
    rows = []
    for key, ref in ours.items():
        if only and key not in only:
            continue
        if key not in theirs:
            rows.append(Row(key, "not given"))
            continue
        a, why = _theirs_array(key, theirs[key], ref)
        f32 = key in eps32
        if a is None:
            rows.append(Row(key, "FAIL", reason=why, dtype=str(theirs[key].dtype)))
        elif ref.dtype.kind == "f":
            tol, why = _tolerance(key, d, ours, rtol, derived[f32][key], f32, K)
            rows.append(_float_row(key, a, ref, tol, why, derived[f32][key], f32))
        else:
            rows.append(_exact_row(key, a, ref, d, bool(eps32)))
    return rows, bool(eps32)


def _exact_row(key, a, ref, d, float32) -> Row:
    """Integers and booleans exactly, except cg_iterations_run from a float32 THEIRS where
    refimpl's CG stopped at its relative 1e-10 residual test, which float32 (eps 1.2e-7) cannot
    reach: a float32 CG then runs on, so any count from refimpl's up to cg_iters is
    UNDETERMINED, not FAIL. Only that scalar key is read as a count: other exact keys may be
    vectors (ls_accepted) or come with no cg_iters in IN."""
    same = bool(np.array_equal(a, ref))
    row = Row(key, "PASS" if same else "FAIL", float(not same), None, 0.0, "exact", str(a.dtype))
    if key != "cg_iterations_run" or not float32 or same or ref.size != 1:
        return row
    k, top = int(ref.item()), int(d["cg_iters"])
    if k < top and k <= int(a.item()) <= top:
        row.status = "UNDETERMINED"
        row.reason = (f"refimpl's CG stopped after {k} iterations at ||r|| <= 1e-10 ||g||, which "
                      f"float32 cannot reach, so a float32 CG runs up to cg_iters = {top}; "
                      "determinable with float64")
    return row


def compare(inputs: dict[str, np.ndarray], theirs: dict[str, np.ndarray],
            rtol: float | None = None, only: list[str] | None = None) -> Report:
    """Compare another implementation's outputs ``theirs`` for ``inputs`` with refimpl's.

    Every key of ``theirs`` that refimpl computes is compared: floats within max(rtol max
    |refimpl|, derived bound) (``tolerance.py``; rtol defaults to 1e-10 for float64 keys and 0
    for float32 ones, whose bound uses float32's eps), integers and booleans exactly. Failing
    keys are diagnosed (``diagnose.DIAGNOSES``). ``only`` restricts the comparison to those keys.

    Parameters
    ----------
    inputs : dict of ndarray
        An IN.npz (``docs/crosscheck/reference.md``); ValueError (one line) if it is not valid.
    theirs : dict of ndarray
        Their outputs under refimpl's key names.
    rtol : float, optional
    only : list of str, optional

    Returns
    -------
    Report

    Tested in ``tests/crosscheck/test_crosscheck_compare.py``.
    """
    if rtol is not None and not (math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"--rtol must be a finite number >= 0, got {rtol}")
    ours = compute(inputs)
    if only:
        unknown_only = [k for k in only if k not in ours]
        if unknown_only:
            raise ValueError(f"--only key '{unknown_only[0]}' is not an output refimpl computes "
                             "for this input")
    derived, K = _bounds(inputs, ours)
    rows, f32 = _rows(inputs, ours, theirs, rtol, only, derived, K)
    unknown = [k for k in theirs if k not in ours]
    found = diagnose_failures(inputs, ours, theirs, rows, derived[True])
    return Report(rows, unknown, found + float32_casts(rows, ours, derived[True]), f32)


def _fmt(x, spec=".2e"):
    return "-" if x is None else format(x, spec)


def format_report(report: Report) -> str:
    """The table ``refimpl crosscheck compare`` prints: one row per key, then the keys refimpl
    does not know, the diagnoses and the verdict."""
    lines = [f"{'key':24} {'max abs err':>11} {'rel err':>9} {'tolerance':>9}  status     reason"]
    for r in report.rows:
        status = r.status + (f" ({', '.join(r.diagnoses)})" if r.diagnoses else "")
        lines.append(f"{r.key:24} {_fmt(r.max_abs_error):>11} {_fmt(r.rel_error, '.1e'):>9} "
                     f"{_fmt(r.tolerance, '.1e'):>9}  {status:10} {r.reason}")
    if report.float32:
        lines.append("THEIRS holds float32 arrays: their keys are compared with float32 bounds")
    if report.unknown:
        lines.append("keys refimpl does not know (not compared): "
                     + ", ".join(_with_closest(k, [r.key for r in report.rows])
                                 for k in report.unknown))
    for dg in report.diagnoses:
        lines.append(f"diagnosis {dg.id} ({', '.join(dg.keys)}): {dg.meaning}; {dg.setting}")
    lines.append(_summary(report))
    return "\n".join(lines)


def _with_closest(key, known) -> str:
    close = difflib.get_close_matches(key, known, n=1) or difflib.get_close_matches(
        key.lower(), known, n=1)
    return f"{key} (closest: {close[0]})" if close else key


def _summary(report: Report) -> str:
    """The verdict line: counts of failing and undetermined keys among the given ones."""
    v, n = report.verdict, report.given
    counts = (f"{len(report.failed)} failed, {len(report.undetermined)} undetermined, "
              f"{n - len(report.failed) - len(report.undetermined)} passed of {n} given keys")
    if v == "NOTHING":
        return ("NOTHING COMPARED: THEIRS holds no key refimpl computes for this input "
                f"(exit {EXIT[v]})")
    if v == "OK":
        return "OK"
    return f"{v}: {counts} (exit {EXIT[v]})"
