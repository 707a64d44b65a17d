"""Which known convention explains each key that ``compare`` fails: every candidate of
``diagnose.candidates`` predicts THEIRS for some keys, and a key is explained by one whose
prediction is within the key's tolerance and accounts for 99% of THEIRS's difference from
refimpl (``DIAGNOSIS_FRACTION``). ``docs/crosscheck/reference.md`` ("Diagnoses") documents the
rules; tested in ``tests/crosscheck/test_crosscheck_compare.py`` and
``tests/crosscheck/test_crosscheck_trust.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.crosscheck import diagnose
from refimpl.crosscheck.io import validate
from refimpl.crosscheck.tolerance import DETERMINABLE
from refimpl.core.fisher import make_fvp

DIAGNOSIS_FRACTION = 1e-2
"""A convention is named for a key only when THEIRS is within the key's tolerance of its
prediction AND that residual is at most 1% of THEIRS's difference from refimpl: the convention
must explain 99% of the difference, not merely fit inside a loose tolerance."""


@dataclass
class Diagnosis:
    """A convention (``diagnose.DIAGNOSES`` id) that reproduces THEIRS for ``keys``."""

    id: str
    keys: list[str]
    meaning: str
    setting: str


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


def diagnose_failures(d, ours, theirs, rows, bound32) -> list[Diagnosis]:
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
    """One pass of ``diagnose_failures``: name each candidate for the failing keys it explains in the
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


def float32_casts(rows, ours, bound32) -> list[Diagnosis]:
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
