"""Issue #27, "never a PASS for a wrong value": one table of THEIRS files made wrong (or right)
on purpose, each run through ``refimpl crosscheck compare`` with the status, diagnosis and exit
status it must get. Inputs: golden vectors of tests/data and a 64-64 example (P = 4,692) made by
the CLI's --make-example, at float32 and float64.

Exit statuses (``comparison.EXIT``): 0 OK, 1 a key fails, 2 a bad argument, 3 no key fails but a
key is UNDETERMINED, 4 nothing compared."""
import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from refimpl import crosscheck
from refimpl.crosscheck.diagnose import VECTOR_KEYS
from refimpl.crosscheck.io import validate, write
from refimpl.crosscheck.layout import their_order
from test_crosscheck import DATA


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """IN path and refimpl's outputs per base: goldens, the CLI's 64-64 example, and a deep-CG
    one (64-64, N = 32 states, damping 1e-3, cg_iters 29: CG never converges there and its
    estimated float64 bound on cg_x is ~0.8 of max |x|, like the issue's case 8)."""
    tmp = tmp_path_factory.mktemp("trust")
    big = tmp / "big_in.npz"
    assert crosscheck.main(["--make-example", str(big), "--hidden", "64", "64"]) == 0
    deep = crosscheck.make_example(np.random.default_rng(0), (64, 64), "tanh", 3, 2, 32)
    write(tmp / "deep_in.npz", {**deep, "damping": np.float64(1e-3), "cg_iters": np.int64(29)})
    paths = {"tanh": DATA / "crosscheck_tanh_in.npz", "big": big, "deep": tmp / "deep_in.npz",
             "nohidden": DATA / "crosscheck_relu_nohidden_in.npz",
             "blocks": DATA / "crosscheck_blocks_in.npz"}
    return {k: (p, crosscheck.compute(dict(np.load(p)))) for k, p in paths.items()}


def times(key, f):
    return lambda o: {**o, key: o[key] * f}


def put(key, value):
    return lambda o: {**o, key: value(o) if callable(value) else value}


def normalised(keys, then=lambda o: o):
    """``keys`` of refimpl's outputs for the golden tanh IN with its advantages standardised
    as Tianshou's NPG does, (A - mean A) / std with 1/(N - 1) and no epsilon, passed through
    ``then``; the other keys as given."""
    def theirs(o):
        d = dict(np.load(DATA / "crosscheck_tanh_in.npz"))
        a = d["advantages"]
        out = crosscheck.compute({**d, "advantages": (a - a.mean()) / a.std(ddof=1)})
        return {**o, **then({k: out[k] for k in keys})}
    return theirs


def through_float32(o):
    return {k: v.astype(np.float32).astype(np.float64) for k, v in o.items()}


def npg_step(alpha, beta):
    return lambda o: {**o, "step": alpha * o["cg_x"], "beta": np.float64(beta)}


def outputs_in(flags):
    """refimpl's outputs for the golden tanh IN with the parameter-space vectors (VECTOR_KEYS)
    in the layout ``their_order(policy, *flags)``: IN read converted, gradients left in theirs."""
    def theirs(o):
        order = their_order(validate(dict(np.load(DATA / "crosscheck_tanh_in.npz"))), *flags)
        return {**o, **{k: o[k][order] for k in VECTOR_KEYS if k in o}}
    return theirs


@dataclass
class Case:
    base: str
    dtype: type
    theirs: Callable
    exit: int
    rows: dict = field(default_factory=dict)  # key -> (status, diagnoses)
    argv: tuple = ()
    says: str = ""


UND, FAIL, PASS = "UNDETERMINED", "FAIL", "PASS"
CASES = {
    # 1: float32 bounds that exceed the quantity: never PASS
    "f32_step_x2": Case("big", np.float32, times("step", 2.0), 3, {"step": (UND, [])},
                        ("--only", "step"), "determinable with float64, fewer CG iterations"),
    "f32_cg_x_x1.5": Case("big", np.float32, times("cg_x", 1.5), 3, {"cg_x": (UND, [])},
                          ("--only", "cg_x")),
    "f32_surrogate_negated": Case("big", np.float32, times("surrogate", -1.0), 1,
                                  {"surrogate": (FAIL, [])}, ("--only", "surrogate")),
    "f32_cg_iterations_unconverged": Case("nohidden", np.float32, put("cg_iterations_run",
                                          np.int64(10)), 3, {"cg_iterations_run": (UND, [])},
                                          ("--only", "cg_iterations_run")),
    "f32_cg_iterations_too_few": Case("nohidden", np.float32, put("cg_iterations_run",
                                      np.int64(8)), 1, {"cg_iterations_run": (FAIL, [])}),
    "f64_cg_iterations_exact": Case("nohidden", np.float64, put("cg_iterations_run",
                                    np.int64(10)), 1, {"cg_iterations_run": (FAIL, [])}),
    "f64_deep_cg_own_outputs": Case("deep", np.float64, dict, 3, {"cg_x": (UND, []),
                                    "grad": (PASS, [])}, ("--only", "cg_x", "grad")),
    "f64_big_own_outputs": Case("big", np.float64, dict, 0, {"step": (PASS, [])}, (), "OK"),
    "f32_tanh_own_direct": Case("tanh", np.float32, dict, 0, {"logp": (PASS, [])},
                                ("--only", "logp", "grad", "fvp")),
    # 2: a diagnosis only when it explains the difference, not when it fits a loose tolerance
    "f32_ratio_0.3pct_off": Case("big", np.float32, times("ratio", 1.003), 1,
                                 {"ratio": (FAIL, [])}, ("--only", "ratio")),
    "f32_tanh_cg_x_x1.5": Case("tanh", np.float32, times("cg_x", 1.5), 1, {"cg_x": (FAIL, [])},
                               ("--only", "cg_x")),
    "f32_clip_objective_negated": Case("big", np.float32, times("clip_objective", -1.0), 1,
                                       {"clip_objective": (FAIL, [])}, ("--only", "clip_objective")),
    "f64_kl_reverse_still_named": Case("big", np.float64, put("kl", lambda o: o["kl_reverse"]),
                                       1, {"kl": (FAIL, ["kl_reverse"])}, ("--only", "kl")),
    # 4: a float64 key off by what a float32 cast makes gets the float32_cast hint; 1% off not
    "f64_logp_through_float32": Case("tanh", np.float64, put("logp", lambda o: o["logp"].astype(
        np.float32).astype(np.float64)), 1, {"logp": (FAIL, ["float32_cast"])}, (),
        "a float32 cast on the path to logp?"),
    "f64_logp_1pct_off": Case("tanh", np.float64, times("logp", 1.01), 1, {"logp": (FAIL, [])}),
    # 7: NPG's step alpha x is named with its alpha; a step merely near a multiple of x is not
    "npg_step_tanh": Case("tanh", np.float64, put("step", lambda o: 0.05 * o["cg_x"]), 1,
                          {"step": (FAIL, ["npg_fixed_step"])}, ("--only", "step"),
                          "step = alpha * cg_x, alpha = 0.05"),
    "npg_step_big": Case("big", np.float64, put("step", lambda o: 0.3 * o["cg_x"]), 1,
                         {"step": (FAIL, ["npg_fixed_step"])}, ("--only", "step"),
                         "alpha = 0.3"),
    "npg_step_plus_noise": Case("tanh", np.float64, put("step", lambda o: 0.05 * o["cg_x"] * (
        1 + 0.05 * np.random.default_rng(0).standard_normal(o["cg_x"].shape))), 1,
        {"step": (FAIL, [])}, ("--only", "step")),
    # a convention seen through a float32 cast is named with float32_cast; the 1e-8's place,
    # ~1e-8 relative, is below the cast's rounding, so the three are listed; 1% more is not it
    "adv_through_float32": Case("tanh", np.float64, normalised(("grad", "cg_x"), through_float32),
                                1, {k: (FAIL, ["advantages_normalized", "float32_cast"])
                                    for k in ("grad", "cg_x")}, ("--only", "grad", "cg_x"),
                                "one of, indistinguishable here"),
    "adv_1pct_through_float32": Case("tanh", np.float64, normalised(("grad",), lambda o: (
        through_float32({"grad": 1.01 * o["grad"]}))), 1, {"grad": (FAIL, [])}, ("--only", "grad")),
    # NPG's fixed step on normalised advantages: step names both, beta (= alpha) the fixed step
    "npg_step_normalised": Case("tanh", np.float64, normalised(
        ("grad", "cg_x", "step", "beta"), npg_step(0.05, 0.05)), 1,
        {"step": (FAIL, ["advantages_normalized", "npg_fixed_step"]),
         "beta": (FAIL, ["npg_fixed_step"]), "cg_x": (FAIL, ["advantages_normalized"])}, (),
        "alpha = 0.05 (cg_x with advantages_normalized"),
    # (0.08: not beta / act_dim = 0.070013, which act_dim_scale with a cast would explain)
    "npg_beta_not_alpha": Case("tanh", np.float64, normalised(
        ("grad", "cg_x", "step", "beta"), npg_step(0.05, 0.08)), 1,
        {"step": (FAIL, ["advantages_normalized", "npg_fixed_step"]), "beta": (FAIL, [])}),
    # a vector exact key (ls_accepted, one flag per line-search candidate) is compared, never
    # crashes compare (it took int() of every exact key for the float32 cg_iterations_run rule)
    "f64_ls_accepted_vector": Case("blocks", np.float64, dict, 0, {"ls_accepted": (PASS, [])},
                                   ("--only", "ls_accepted"), "OK"),
    "f32_ls_accepted_flipped": Case("blocks", np.float32, put("ls_accepted", lambda o: ~o[
        "ls_accepted"]), 1, {"ls_accepted": (FAIL, [])}, ("--only", "ls_accepted")),
    # 6: only the vector outputs in SB3's layout (log_std first, weights (out, in)), IN in
    # refimpl's: one diagnosis, both departures in one setting; a vector shuffled otherwise not
    "layout_outputs_sb3": Case("tanh", np.float64, outputs_in((True, True, False)), 1, {
        "grad": (FAIL, ["layout_outputs"]), "cg_x": (FAIL, ["layout_outputs"]),
        "mean": (PASS, [])}, (), "fvp, cg_x, step, clip_grad, surrogate_grad, kl_grad): "),
    "f32_layout_outputs_sb3": Case("tanh", np.float32, outputs_in((True, True, False)), 1, {
        "grad": (FAIL, ["layout_outputs"]), "step": (FAIL, ["layout_outputs"])}, (),
        "; log_std first, weights (out, in): IN is in refimpl's"),
    "layout_outputs_shuffled": Case("tanh", np.float64, put("grad", lambda o: np.random.default_rng(
        0).permutation(o["grad"])), 1, {"grad": (FAIL, [])}, ("--only", "grad")),
    # 3: nothing compared is not OK; a bad --rtol is refused
    "empty": Case("tanh", np.float64, lambda o: {}, 4, says="NOTHING COMPARED"),
    "upper_case_keys": Case("tanh", np.float64, lambda o: {k.upper(): v for k, v in o.items()},
                            4, says="LOGP (closest: logp)"),
    "format_version_only": Case("tanh", np.float64, lambda o: {"format_version": o[
        "format_version"]}, 4),
    "rtol_negative": Case("tanh", np.float64, dict, 2, argv=("--rtol", "-1"), says="--rtol"),
    "rtol_nan": Case("tanh", np.float64, dict, 2, argv=("--rtol", "nan"), says="--rtol"),
    "rtol_inf": Case("tanh", np.float64, dict, 2, argv=("--rtol", "inf"), says="--rtol"),
}


def _cast(out, dtype):
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in out.items()}


@pytest.mark.parametrize("name", CASES)
def test_a_wrong_value_never_passes(name, inputs, tmp_path, capsys):
    case = CASES[name]
    path, ours = inputs[case.base]
    np.savez(tmp_path / "theirs.npz", **case.theirs(_cast(ours, case.dtype)))
    report = tmp_path / "report.json"
    argv = ["compare", str(path), str(tmp_path / "theirs.npz"), "--json", str(report), *case.argv]
    assert crosscheck.main(argv) == case.exit
    out = capsys.readouterr()
    assert case.says in out.out + out.err
    if case.exit == 2:
        assert len(out.err.splitlines()) == 1 and not report.exists()
        return
    rows = {r["key"]: (r["status"], r["diagnoses"]) for r in json.loads(report.read_text())["rows"]}
    assert {k: rows[k] for k in case.rows} == case.rows
