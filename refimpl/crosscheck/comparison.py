"""``refimpl crosscheck compare``: refimpl's answers for IN.npz against another
implementation's THEIRS.npz, key by key, with the tolerance of ``tolerance.py`` and its reason,
and a diagnosis of every failing key (``diagnose.py``). ``docs/crosscheck/reference.md`` documents
the table, the exit status and the JSON layout.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from refimpl.crosscheck import diagnose, tolerance
from refimpl.crosscheck.compute import compute
from refimpl.crosscheck.io import validate
from refimpl.core.fisher import make_fvp

RTOL64 = 1e-10
"""Default floor of the float64 tolerance, relative to max |refimpl|: docs/crosscheck/reference.md's
bound for direct keys (n eps S <= 1e-10 up to n = 4.5e5 roundings)."""
DETERMINABLE = 1e-3
"""c: a key can be judged only when its derived bound B <= c max |refimpl|. Every convention and
mistake docs/crosscheck/reference.md lists moves a key by 1e-3 of its scale or more (so does the
smallest one ``diagnose.CG_START_BOUND`` names), so a PASS with B above 1e-3 of the scale could hide
one of them; with B <= 1e-3 a PASS rules out every difference larger than 0.1% of the scale."""
DIAGNOSIS_FRACTION = 1e-2
"""A convention is named for a key only when THEIRS is within the key's tolerance of its
prediction AND that residual is at most 1% of THEIRS's difference from refimpl: the convention
must explain 99% of the difference, not merely fit inside a loose tolerance."""
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
class Diagnosis:
    """A convention (``diagnose.DIAGNOSES`` id) that reproduces THEIRS for ``keys``."""

    id: str
    keys: list[str]
    meaning: str
    setting: str


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


def _fit(pred, theirs_a, ref, tol) -> float | None:
    """The fraction of THEIRS's difference from refimpl that a candidate's prediction leaves
    unexplained (0 for an exact key), or None if the prediction does not explain THEIRS:
    outside ``tol`` (taken relative to max |refimpl|) or above DIAGNOSIS_FRACTION."""
    pred = np.asarray(pred)
    if pred.shape != theirs_a.shape or not np.all(np.isfinite(pred)):
        return None
    if pred.dtype.kind != "f":
        return 0.0 if np.array_equal(pred, theirs_a) else None
    rel = tol / max(float(np.max(np.abs(ref), initial=0.0)), np.finfo(np.float64).tiny)
    residual = float(np.max(np.abs(theirs_a - pred), initial=0.0))
    unexplained = float(np.max(np.abs(theirs_a - ref), initial=0.0))
    if (residual <= rel * float(np.max(np.abs(pred), initial=0.0)) + tol
            and residual <= DIAGNOSIS_FRACTION * unexplained):
        return residual / unexplained if unexplained > 0 else 0.0
    return None


class _Judge:
    """Whether a candidate's prediction explains a failing key: within the key's tolerance, or
    (a float64 key) only within its float32-cast tolerance min(float32 bound, DETERMINABLE x
    scale), the float32_cast hint's, then the candidate is named with float32_cast: the
    convention explains 99% of the difference and a float32 cast on the key's path the rest
    (Tianshou's TRPO: normalised advantages through a float32 ratio)."""

    def __init__(self, failing, theirs64, ours, bound32):
        self.failing, self.theirs64, self.ours = failing, theirs64, ours
        self.cast_tol = {k: min(bound32[k], DETERMINABLE * float(np.max(np.abs(ours[k]))))
                         for k, r in failing.items() if r.dtype == "float64" and k in bound32}

    def __call__(self, key, pred) -> tuple[float, list[str]] | None:
        """(unexplained fraction, extra ids) if ``pred`` explains ``key``, else None."""
        row, a, ref = self.failing[key], self.theirs64[key], self.ours[key]
        fit = _fit(pred, a, ref, row.tolerance)
        if fit is not None:
            return fit, []
        tol = self.cast_tol.get(key, 0.0)
        fit = _fit(pred, a, ref, tol) if tol > row.tolerance else None
        return None if fit is None else (fit, ["float32_cast"])


def _name(found, row, ids, how, own=None) -> None:
    """Give ``row`` the diagnoses ``ids``, each Diagnosis with the setting ``how``, or the one
    ``own`` maps its id to (the float32_cast hint always with its own)."""
    row.diagnoses = list(ids)
    own = {**(own or {}), "float32_cast": f"a float32 cast on the path to {row.key}?"}
    for i in ids:
        setting = own.get(i, how)
        found.setdefault((i, setting), Diagnosis(i, [], diagnose.DIAGNOSES[i],
                                                 setting)).keys.append(row.key)


def _diagnose(d, ours, theirs, rows, bound32) -> list[Diagnosis]:
    """For each failing key, the candidate convention that reproduces it: first those within
    the keys' float64 tolerances, then those that need a float32 cast besides (``_Judge``);
    in each pass the candidate explaining the most failing keys in that pass, then in all,
    then the simplest (the first id in ``diagnose.CANDIDATES``' order), then, among settings
    of one convention (the six advantage standardisations), the best fit."""
    failing = {r.key: r for r in rows if r.status == "FAIL" and r.tolerance is not None}
    if not failing:
        return []
    found: dict[tuple[str, str], Diagnosis] = {}
    policy = validate(d)
    theirs64 = {k: theirs[k].astype(np.float64) if theirs[k].dtype.kind == "f" else theirs[k]
                for k in failing}
    judge = _Judge(failing, theirs64, ours, bound32)
    explained, first = [], {}
    for ids, how, pred in diagnose.candidates(d, ours, policy):
        first.setdefault(ids, len(first))
        fits = {k: judge(k, pred[k]) for k in pred if k in failing}
        fits = {k: f for k, f in fits.items() if f is not None}
        if fits:
            explained.append((ids, how, pred, fits))
    chosen = {}
    for cast in (False, True):  # a convention within float64 tolerance before one with a cast
        _assign(explained, first, failing, found, chosen, cast)
    x = failing.get("cg_x")
    if x is not None and not x.diagnoses:
        for ids, scale, lam, out in diagnose.cg_start_variants(d, ours):
            fvp = make_fvp(policy, d["theta"], d["obs"], lam)
            if diagnose.cg_start_note(theirs64["cg_x"] / scale, out["cg_x"], fvp, lam):
                _note_cg_start(failing, found, theirs64, ids, scale, out)
                break
    _note_npg_step(failing, found, theirs64, ours, judge, chosen)
    return list(found.values())


def _pass_keys(candidate, cast) -> list[str]:
    """The failing keys ``candidate`` explains in a pass: within float64 tolerance, or also
    with a float32 cast when ``cast``."""
    return [k for k, (_, extra) in candidate[3].items() if cast or not extra]


def _assign(explained, first, failing, found, chosen, cast) -> None:
    """One pass of ``_diagnose``: name each candidate for the failing keys it explains in the
    pass (``_pass_keys``) that no earlier one took, best candidate first; record in ``chosen``
    the (ids, setting, prediction) named for each key."""
    explained.sort(key=lambda c: (-len(_pass_keys(c, cast)), -len(c[3]), first[c[0]],
                                  max(f for f, _ in c[3].values())))
    for c in explained:
        ids, how, pred, fits = c
        # the settings of this convention that explain as many keys and differ from it only in
        # their fit are indistinguishable here (where the 1e-8 of a standardisation sits,
        # under a float32 cast): all are named
        size = (len(_pass_keys(c, cast)), len(fits))
        alike = [o for o in explained
                 if o[0] == ids and (len(_pass_keys(o, cast)), len(o[3])) == size]
        for key in [k for k in _pass_keys(c, cast) if not failing[k].diagnoses]:
            hows = [o[1] for o in alike if key in _pass_keys(o, cast)]
            setting = how if len(hows) < 2 else ("one of, indistinguishable here: "
                                                 + " | ".join(hows))
            _name(found, failing[key], [*ids, *fits[key][1]], setting)
            chosen[key] = (ids, setting, pred)


def _note_npg_step(failing, found, theirs64, ours, judge, chosen) -> None:
    """Name npg_fixed_step for a failing step that a multiple alpha of a cg_x explains
    (``diagnose.npg_fixed_step``, judged by ``_Judge``), with alpha in the setting: refimpl's
    cg_x, or else the prediction of the convention named for their cg_x (or grad), which is
    then named for step too (NPG with normalised advantages). A failing beta equal to that
    alpha is named npg_fixed_step as well: an NPG's beta is its fixed step size."""
    row = failing.get("step")
    if row is None or row.diagnoses or theirs64["step"].shape != ours["cg_x"].shape:
        return
    bases = [((), "", ours["cg_x"])]
    for key in ("cg_x", "grad"):
        if key in chosen and "cg_x" in chosen[key][2]:
            ids, how, pred = chosen[key]
            bases.append((ids, how, pred["cg_x"]))
            break
    for ids, how, x in bases:
        fit = diagnose.npg_fixed_step(theirs64["step"], x)
        judged = fit and judge("step", fit[1])
        if not judged:
            continue
        setting = f"step = alpha * cg_x, alpha = {fit[0]:.6g}" + (
            f" (cg_x with {', '.join(ids)}: {how})" if ids else "")
        _name(found, row, [*ids, "npg_fixed_step", *judged[1]], setting,
              {i: how for i in ids})  # the convention with the setting it has for cg_x
        beta = failing.get("beta")
        if beta is not None and not beta.diagnoses:
            judged = judge("beta", np.float64(fit[0]))
            if judged:
                _name(found, beta, ["npg_fixed_step", *judged[1]], setting)
        return


def _note_cg_start(failing, found, theirs64, ids, scale, out) -> None:
    """Name cg_start_nonzero (with the scale convention ``ids``) for cg_x, and for beta and step
    where they are within 2 CG_START_BOUND of that convention's prediction (both are computed
    from x)."""
    pred = {"cg_x": None, "beta": out["beta"] / scale, "step": out["step"]}
    for key, p in pred.items():
        row = failing.get(key)
        if row is None or row.diagnoses:
            continue
        if p is not None:
            err = np.max(np.abs(theirs64[key] - p)) / max(np.max(np.abs(p)), 1e-300)
            if not err <= 2 * diagnose.CG_START_BOUND:
                continue
        row.diagnoses = [*ids, "cg_start_nonzero"]
        for i in row.diagnoses:
            how = ("start CG at x_0 = 0 to compare at the CG tolerance" if i == "cg_start_nonzero"
                   else f"their cg_x / {scale:g}, beta * {scale:g} and step are compared")
            found.setdefault((i, how), Diagnosis(i, [], diagnose.DIAGNOSES[i], how)).keys.append(key)


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
    found = _diagnose(inputs, ours, theirs, rows, derived[True])
    return Report(rows, unknown, found + _float32_casts(rows, ours, derived[True]), f32)


def _float32_casts(rows, ours, bound32) -> list[Diagnosis]:
    """Name float32_cast for a float64 key that fails with no other diagnosis but whose error
    is within both its float32 bound and DETERMINABLE of its scale: what a float32 cast
    somewhere on its path (SB3's obs.float(), a float32 buffer) produces."""
    found = []
    for r in rows:
        if (r.status != "FAIL" or r.diagnoses or r.dtype != "float64" or r.key not in bound32
                or r.max_abs_error is None):  # a wrong shape or dtype has no error to judge
            continue
        if r.max_abs_error <= min(bound32[r.key], DETERMINABLE * np.max(np.abs(ours[r.key]))):
            r.diagnoses = ["float32_cast"]
            found.append(Diagnosis("float32_cast", [r.key], diagnose.DIAGNOSES["float32_cast"],
                                   f"a float32 cast on the path to {r.key}?"))
    return found


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
