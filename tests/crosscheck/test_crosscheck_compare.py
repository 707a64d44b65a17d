"""refimpl/crosscheck/comparison.py and diagnose.py: `crosscheck compare` passes refimpl's own
outputs, fails a perturbed key, uses the derived (not a flat) tolerance for the CG keys and
float32 bounds for float32 arrays; each diagnosis id is named for a THEIRS built from refimpl's
outputs with exactly that convention applied (or, where noted, with the convention computed by
the test's own code: a dense Fisher, a textbook CG), and a random perturbation of the size
conventions produce gets no diagnosis; the CLI's exit status, table and JSON."""
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import crosscheck
from refimpl.crosscheck import diagnose, layout, tolerance
from refimpl.core.fisher import dense_fisher
from refimpl.core.returns import standardize
from support.strategies import seeds
from test_crosscheck import DATA, _load, inputs


def _base(seed=0, act_dim=2, n=8, hidden=(4, 4)):
    return crosscheck.make_example(np.random.default_rng(seed), hidden, "tanh", 3, act_dim, n)


def _ids(report, key):
    return next(r.diagnoses for r in report.rows if r.key == key)


def test_own_outputs_pass_and_every_key_is_given():
    d = _base()
    report = crosscheck.compare(d, crosscheck.compute(d))
    assert report.ok and report.diagnoses == [] and report.unknown == []
    assert [r.key for r in report.rows] == list(crosscheck.OUTPUT_KEYS)
    assert {r.status for r in report.rows} == {"PASS"}


def test_missing_keys_are_not_given_and_unknown_keys_are_named():
    d = _base()
    theirs = {k: v for k, v in crosscheck.compute(d).items() if k in ("logp", "grad")}
    theirs["my_loss"] = np.float64(1.0)
    report = crosscheck.compare(d, theirs)
    status = {r.key: r.status for r in report.rows}
    assert status["logp"] == status["grad"] == "PASS" and status["fvp"] == "not given"
    assert report.unknown == ["my_loss"] and report.ok
    assert "my_loss" in crosscheck.format_report(report)


@pytest.mark.parametrize("case", ["crosscheck_relu_h5"])
def test_cg_keys_use_the_amplified_tolerance_not_a_flat_1e_10(case):
    """crosscheck_relu_h5 has K ~ 5e6 (tests/data/README.md): x perturbed by 1e-8 relative, a
    difference two correct float64 implementations can show there, passes; the same
    perturbation of a direct key (grad) fails."""
    d = _load(DATA / f"{case}_in.npz")
    ours = crosscheck.compute(d)
    rng = np.random.default_rng(0)
    bump = lambda a: a * (1 + 1e-8 * rng.standard_normal(a.shape))  # noqa: E731
    report = crosscheck.compare(d, {**ours, "cg_x": bump(ours["cg_x"]),
                                    "grad": bump(ours["grad"])})
    rows = {r.key: r for r in report.rows}
    assert rows["cg_x"].status == "PASS" and rows["cg_x"].rel_error > 1e-10
    assert "CG amplification" in rows["cg_x"].reason
    assert rows["grad"].status == "FAIL"


def test_float32_theirs_passes_with_float32_bounds_only():
    """refimpl's outputs rounded to float32 never fail the float32 bounds (n eps32 S) and are
    reported as float32: the direct keys without cancellation pass, and the CG keys, whose
    float32 bound 10 K n eps32 (K ~ 2e3 here) is ~0.2 of their size, are UNDETERMINED, not PASS
    (so are cancelling means such as surrogate); cast back to float64 they fail the float64
    bounds."""
    d = _base()
    ours = crosscheck.compute(d)
    f32 = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in ours.items()}
    report = crosscheck.compare(d, f32)
    assert not report.failed and report.float32 and report.verdict == "UNDETERMINED"
    assert set(tolerance.CG_KEYS) <= set(report.undetermined)
    status = {r.key: r.status for r in report.rows}
    assert {status[k] for k in ("mean", "logp", "grad", "fvp", "ratio", "kl_grad")} == {"PASS"}
    assert all("float32" in r.reason for r in report.rows if r.dtype == "float32")
    as64 = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in f32.items()}
    assert "logp" in crosscheck.compare(d, as64).failed


def test_rtol_widens_the_floor():
    d = _base()
    ours = crosscheck.compute(d)
    theirs = {"logp": ours["logp"] * (1 + 1e-8)}
    assert not crosscheck.compare(d, theirs).ok
    assert crosscheck.compare(d, theirs, rtol=1e-7).ok


# --- one test per diagnosis: THEIRS built with exactly that convention -----------------------

def test_act_dim_scale_with_their_settings():
    """sb3-contrib with (delta, damping) = IN's: refimpl at (d delta, d damping), x times d,
    beta / d, F v / d, KL / d."""
    d = _base(act_dim=3)
    n, ours = 3.0, crosscheck.compute(d)
    mapped = crosscheck.compute({**d, "delta": n * d["delta"], "damping": n * d["damping"]})
    theirs = {"fvp": ours["fvp"] / n, "cg_x": n * mapped["cg_x"], "beta": mapped["beta"] / n,
              "step": mapped["step"], "kl_grad": ours["kl_grad"] / n}
    report = crosscheck.compare(d, theirs)
    assert set(report.failed) == set(theirs)
    for key in theirs:
        assert _ids(report, key) == ["act_dim_scale"], key
    assert "d delta, d damping" in report.diagnoses[0].setting


def test_act_dim_scale_with_mapped_settings():
    d = _base(act_dim=2)
    ours = crosscheck.compute(d)
    report = crosscheck.compare(d, {"fvp": ours["fvp"] / 2, "cg_x": 2 * ours["cg_x"],
                                    "beta": ours["beta"] / 2})
    assert report.ids() == {"act_dim_scale"}
    assert "already equal" in report.diagnoses[0].setting


def test_kl_reverse_alone_and_with_act_dim_scale():
    d = _base(act_dim=3)
    ours = crosscheck.compute(d)
    assert _ids(crosscheck.compare(d, {"kl": ours["kl_reverse"]}), "kl") == ["kl_reverse"]
    both = crosscheck.compare(d, {"kl": ours["kl_reverse"] / 3})
    assert _ids(both, "kl") == ["act_dim_scale", "kl_reverse"]


@pytest.mark.parametrize("name, flags", layout.layouts())
def test_each_layout_is_diagnosed(name, flags):
    """IN written in another layout (theirs = refimpl's vector [their_order]), THEIRS the
    correct outputs in that layout: refimpl's mean disagrees, ``layout`` explains it, named once
    with the departures (stacked ones too) in one setting."""
    d0 = _base(seed=1)
    policy = crosscheck.validate(d0)
    order = layout.their_order(policy, *flags)
    ours0 = crosscheck.compute(d0)
    bad_in = {**d0, **{k: d0[k][order] for k in ("theta", "theta_new", "v")}}
    theirs = {k: (v[order] if k in diagnose.VECTOR_KEYS else v) for k, v in ours0.items()}
    report = crosscheck.compare(bad_in, theirs)
    assert "mean" in report.failed and _ids(report, "mean") == ["layout"]
    assert set(report.failed) <= {r.key for r in report.rows if r.diagnoses == ["layout"]}
    assert [dg.setting.split(":")[0] for dg in report.diagnoses] == [name]


def _outputs_in(flags, keys=diagnose.VECTOR_KEYS, then=lambda theirs, order: theirs):
    """THEIRS = refimpl's outputs with ``keys`` in the layout of ``flags``, passed through
    ``then`` (with the order); IN stays in refimpl's layout."""
    def theirs(ours, policy):
        order = layout.their_order(policy, *flags)
        return then({**ours, **{k: ours[k][order] for k in keys if k in ours}}, order)
    return theirs


def _npg_step(theirs, order):
    return {**theirs, "step": 0.05 * theirs["cg_x"]}


def _grad_rolled(theirs, order):
    return {**theirs, "grad": np.roll(theirs["grad"], 1)}


def _shuffled(ours, policy):
    perm = np.random.default_rng(0).permutation(policy.n_params)
    return {**ours, **{k: ours[k][perm] for k in diagnose.VECTOR_KEYS if k in ours}}


VEC = ("grad", "fvp", "cg_x", "step", "clip_grad", "surrogate_grad", "kl_grad")
OUT = ["layout_outputs"]
T, F = True, False
OUTPUT_LAYOUT_CASES = {  # name: (THEIRS, {key: (status, diagnoses)}, settings' layouts)
    "refimpl_layout": (_outputs_in((F, F, F)), {k: ("PASS", []) for k in VEC}, []),
    "log_std_first": (_outputs_in((T, F, F)), {k: ("FAIL", OUT) for k in VEC},
                      ["log_std first"]),
    "transposed": (_outputs_in((F, T, F)), {k: ("FAIL", OUT) for k in VEC},
                   ["weights (out, in)"]),
    "bias_first": (_outputs_in((F, F, T)), {k: ("FAIL", OUT) for k in VEC}, ["bias first"]),
    "sb3_stacked": (_outputs_in((T, T, F)), {k: ("FAIL", OUT) for k in VEC},
                    ["log_std first, weights (out, in)"]),
    "all_three": (_outputs_in((T, T, T)), {k: ("FAIL", OUT) for k in VEC},
                  ["log_std first, weights (out, in), bias first"]),
    "grad_and_cg_x_only": (_outputs_in((T, T, F), ("grad", "cg_x")), {
        "grad": ("FAIL", OUT), "cg_x": ("FAIL", OUT), "fvp": ("PASS", [])},
        ["log_std first, weights (out, in)"]),
    "npg_step_in_their_layout": (_outputs_in((F, T, F), ("grad", "cg_x"), _npg_step), {
        "cg_x": ("FAIL", OUT), "step": ("FAIL", OUT + ["npg_fixed_step"])},
        ["weights (out, in)"]),
    "grad_rolled": (_outputs_in((T, T, F), then=_grad_rolled), {
        "grad": ("FAIL", []), "cg_x": ("FAIL", OUT)}, ["log_std first, weights (out, in)"]),
    "shuffled": (_shuffled, {k: ("FAIL", []) for k in VEC}, []),
}


@pytest.mark.parametrize("name", OUTPUT_LAYOUT_CASES)
def test_outputs_in_another_layout(name):
    """Issue #27 item 6: IN converted to refimpl's layout, their parameter-space outputs left
    in theirs (refimpl's outputs permuted): ``layout_outputs``, named once with the layout
    (stacked departures in one setting); outputs in refimpl's layout name nothing, and a
    vector permuted otherwise fails with no diagnosis."""
    make, rows, settings = OUTPUT_LAYOUT_CASES[name]
    d = _base(seed=1)
    policy = crosscheck.validate(d)
    report = crosscheck.compare(d, make(crosscheck.compute(d), policy))
    got = {r.key: (r.status, r.diagnoses) for r in report.rows}
    assert {k: got[k] for k in rows} == rows
    layouts = [dg.setting for dg in report.diagnoses if dg.id.startswith("layout")]
    assert [s.split(":")[0] for s in layouts] == settings
    assert report.ok == (name == "refimpl_layout")


def test_layout_orders_are_permutations():
    policy = crosscheck.validate(_base())
    for _, flags in layout.layouts():
        order = layout.their_order(policy, *flags)
        np.testing.assert_array_equal(np.sort(order), np.arange(policy.n_params))


def test_sb3_named_parameters_order_is_log_std_first_and_transposed():
    """The order torch's named_parameters gives an SB3-like policy (log_std, then per Linear
    weight (out, in) then bias), written out by hand: layout flags (True, True, False)."""
    d = _base()
    policy = crosscheck.validate(d)
    parts = [d["theta"][policy.net.n_params:]]
    for W, b in policy.net.views(d["theta"][:policy.net.n_params]):
        parts += [W.T.reshape(-1), b]
    sb3 = np.concatenate(parts)
    np.testing.assert_array_equal(sb3, d["theta"][layout.their_order(policy, True, True, False)])


@pytest.mark.parametrize("factor, id_", [(0.5, "entropy_dim_mean"), (8.0, "entropy_summed")])
def test_entropy_conventions(factor, id_):
    d = _base(act_dim=2, n=8)
    ours = crosscheck.compute(d)
    assert _ids(crosscheck.compare(d, {"entropy": ours["entropy"] * factor}), "entropy") == [id_]


ADV_CASES = {  # (ddof, denominator as the test writes it, what the setting must say)
    "std_N+eps": (0, lambda a, v: np.sqrt(v) + 1e-8, "(std + 1e-8), var with 1/N"),
    "sqrt(var_N+eps)": (0, lambda a, v: np.sqrt(v + 1e-8), "sqrt(var + 1e-8), var with 1/N"),
    "std_N": (0, lambda a, v: np.sqrt(v), "std (no epsilon), var with 1/N"),
    "std_N-1+eps": (1, lambda a, v: np.sqrt(v) + 1e-8, "(std + 1e-8), var with 1/(N - 1)"),
    "sqrt(var_N-1+eps)": (1, lambda a, v: np.sqrt(v + 1e-8),
                          "sqrt(var + 1e-8), var with 1/(N - 1)"),
    "std_N-1": (1, lambda a, v: np.sqrt(v), "std (no epsilon), var with 1/(N - 1)"),
}


@pytest.mark.parametrize("case", ADV_CASES)
def test_advantages_normalized(case):
    """THEIRS from refimpl at advantages standardised as written out here: each of the six
    variants is named, with its own setting. With the 1e-8 at its place or not the advantages
    differ by ~1e-8 relative (std ~ 1), far above the float64 tolerances (~1e-13), so exactly
    one variant explains THEIRS; ddof 0 with the 1e-8 outside is returns.standardize."""
    ddof, den, says = ADV_CASES[case]
    d = _base()
    adv = d["advantages"]
    std = (adv - adv.mean()) / den(adv, adv.var(ddof=ddof))
    if case == "std_N+eps":
        np.testing.assert_allclose(std, standardize(adv), rtol=1e-15)
    theirs = {k: v for k, v in crosscheck.compute({**d, "advantages": std}).items()
              if k in ("grad", "cg_x", "step", "clip_objective", "clip_grad", "surrogate")}
    report = crosscheck.compare(d, theirs)
    assert set(report.failed) == set(theirs) and report.ids() == {"advantages_normalized"}
    (setting,) = {dg.setting for dg in report.diagnoses}
    assert setting.startswith(f"set IN's advantages to (A - mean A) / {says} ")


def _clip_fraction_input():
    """An input where the two clip fractions differ (samples outside the band with A of the
    sign that does not clip)."""
    for seed in range(50):
        d = _base(seed=seed)
        out = crosscheck.compute(d)
        if out["clip_fraction"] != out["clip_fraction_outside"]:
            return d, out
    raise AssertionError("no input with differing clip fractions")


def test_clip_fraction_outside():
    d, ours = _clip_fraction_input()
    report = crosscheck.compare(d, {"clip_fraction": ours["clip_fraction_outside"]})
    assert _ids(report, "clip_fraction") == ["clip_fraction_outside"]


@pytest.mark.parametrize("their_key, our_key, id_", [
    ("kl", "approx_kl_k1", "approx_kl_k1"), ("approx_kl_k3", "approx_kl_k1", "approx_kl_k1"),
    ("kl", "approx_kl_k3", "approx_kl_k3"), ("approx_kl_k1", "approx_kl_k3", "approx_kl_k3")])
def test_approx_kl_estimators(their_key, our_key, id_):
    d = _base()
    ours = crosscheck.compute(d)
    assert _ids(crosscheck.compare(d, {their_key: ours[our_key]}), their_key) == [id_]


def test_step_damping():
    """beta from x^T F x without damping, F the dense Fisher of fisher.dense_fisher."""
    d = _base()
    ours = crosscheck.compute(d)
    F = dense_fisher(crosscheck.validate(d), d["theta"], d["obs"])
    beta = np.sqrt(2 * d["delta"] / (ours["cg_x"] @ F @ ours["cg_x"]))
    report = crosscheck.compare(d, {"beta": beta, "step": beta * ours["cg_x"]})
    assert _ids(report, "beta") == _ids(report, "step") == ["step_damping"]


def test_truncated_as_terminated():
    """GAE with every truncated step bootstrapped from 0: the naive loop of
    tests/core/test_returns.py with terminated = terminated | truncated."""
    from core.test_returns import _naive_gae
    d = crosscheck.make_example(np.random.default_rng(59), with_blocks=True)
    ends = d["terminated"] | d["truncated"]
    assert (d["truncated"] & ~d["terminated"]).any()
    nxt = np.concatenate([d["values"][1:], d["last_values"][None]])  # never read where ends
    adv = _naive_gae(d["rewards"], d["values"], nxt, ends, ends, float(d["gamma"]),
                     float(d["lam"]))
    report = crosscheck.compare(d, {"gae_advantages": adv, "returns": adv + d["values"]})
    assert report.ids() == {"truncated_as_terminated"}
    assert set(report.failed) == {"gae_advantages", "returns"}


def _textbook_cg(A, b, x0, iters):
    """CG from x0 (Nocedal & Wright, Algorithm 5.2), no early stop."""
    x, r = x0.copy(), b - A @ x0
    p, rr = r.copy(), r @ r
    for _ in range(iters):
        Ap = A @ p
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        p, rr = r + (r @ r) / rr * p, r @ r
    return x


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_cg_start_nonzero_is_a_note(seed):
    """sb3-contrib's x_0 = 1e-4 N(0, I): a textbook CG with the dense damped Fisher from that
    start; cg_x (and beta, step from it) get the note, no other id."""
    d = _base(seed=seed)
    ours = crosscheck.compute(d)
    policy = crosscheck.validate(d)
    A = dense_fisher(policy, d["theta"], d["obs"]) + d["damping"] * np.eye(policy.n_params)
    x0 = 1e-4 * np.random.default_rng(seed).standard_normal(policy.n_params)
    x = _textbook_cg(A, ours["grad"], x0, int(d["cg_iters"]))
    beta = np.sqrt(2 * d["delta"] / (x @ A @ x))
    report = crosscheck.compare(d, {"cg_x": x, "beta": beta, "step": beta * x})
    assert report.ids() == {"cg_start_nonzero"}
    assert _ids(report, "cg_x") == ["cg_start_nonzero"]


def test_cg_stop_absolute():
    """CG stopped once r^T r < 1e-10 (sb3-contrib's residual_tol), written out here with the
    dense damped Fisher; damping 1 and 30 iterations let it stop before cg_iters."""
    d = {**_base(), "damping": np.float64(1.0), "cg_iters": np.int64(30)}
    ours = crosscheck.compute(d)
    policy = crosscheck.validate(d)
    A = dense_fisher(policy, d["theta"], d["obs"]) + np.eye(policy.n_params)
    x, r = np.zeros(policy.n_params), ours["grad"].copy()
    p, rr = r.copy(), r @ r
    for _ in range(30):
        Ap = A @ p
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        if r @ r < 1e-10:
            break
        p, rr = r + (r @ r) / rr * p, r @ r
    beta = np.sqrt(2 * d["delta"] / (x @ A @ x))
    report = crosscheck.compare(d, {"cg_x": x, "beta": beta, "step": beta * x})
    assert {"cg_x", "step"} <= set(report.failed)
    assert report.ids() == {"cg_stop_absolute"}


@pytest.mark.parametrize("case", ["crosscheck_tanh", "crosscheck_relu_h5", "crosscheck_blocks"])
def test_random_perturbation_of_cg_start_size_is_not_a_cg_start(case):
    """x moved at random by 1e-4 of its largest entry (the size of sb3-contrib's start): not
    along the damping-sized directions a start leaves behind, so no cg_start_nonzero (only the
    float32_cast hint: 1e-4 relative is within the float32 bound of cg_x, 10 K n eps32)."""
    d = _load(DATA / f"{case}_in.npz")
    x = crosscheck.compute(d)["cg_x"]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        report = crosscheck.compare(d, {"cg_x": x + 1e-4 * np.max(np.abs(x))
                                        * rng.standard_normal(x.shape)})
        assert report.failed == ["cg_x"] and report.ids() <= {"float32_cast"}


PERTURBABLE = [k for k in crosscheck.OUTPUT_KEYS
               if k not in ("format_version", "cg_iterations_run", "cg_nonpositive_curvature",
                            "clip_fraction", "clip_fraction_outside")]
"""Float keys that vary continuously (the clip fractions are multiples of 1/N)."""


@given(inputs(), st.lists(st.sampled_from(PERTURBABLE), min_size=1, max_size=4, unique=True),
       st.floats(1e-2, 0.5), seeds)
def test_random_perturbation_of_convention_size_gets_no_diagnosis(d, keys, size, seed):
    """THEIRS = refimpl's outputs with the chosen keys perturbed entrywise by a relative
    amount of 1% to 50% (the size conventions produce: act_dim factors, other layouts,
    normalised advantages, the other KL): those keys fail, and no diagnosis is named."""
    ours = crosscheck.compute(d)
    rng = np.random.default_rng(seed)
    keys = [k for k in keys if np.any(ours[k])]
    theirs = {k: ours[k] * (1 + size * rng.choice([-1, 1], ours[k].shape)
                            * rng.uniform(0.5, 1.0, ours[k].shape)) for k in keys}
    report = crosscheck.compare(d, theirs)
    assert set(report.failed) == set(keys)
    assert report.diagnoses == []


# --- the command --------------------------------------------------------------------------

def _files(tmp_path, theirs_of=lambda out: out):
    d = _base()
    np.savez(tmp_path / "in.npz", **d)
    np.savez(tmp_path / "theirs.npz", **theirs_of(crosscheck.compute(d)))
    return str(tmp_path / "in.npz"), str(tmp_path / "theirs.npz")


def test_compare_command_exit_0_and_json(tmp_path, capsys):
    i, t = _files(tmp_path)
    assert crosscheck.main(["compare", i, t, "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "OK" and len(out.splitlines()) == len(crosscheck.OUTPUT_KEYS) + 2
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and [r["key"] for r in report["rows"]] == list(crosscheck.OUTPUT_KEYS)


def test_compare_command_exit_1_names_the_diagnosis_in_json(tmp_path, capsys):
    i, t = _files(tmp_path, lambda out: {"kl": out["kl_reverse"], "logp": out["logp"]})
    assert crosscheck.main(["compare", i, t, "--json", str(tmp_path / "r.json")]) == 1
    assert "kl_reverse" in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["ok"] and [dg["id"] for dg in report["diagnoses"]] == ["kl_reverse"]
    assert next(r for r in report["rows"] if r["key"] == "kl")["diagnoses"] == ["kl_reverse"]


def test_compare_is_reachable_from_the_main_command(tmp_path, capsys):
    from refimpl.cli import main
    i, t = _files(tmp_path, lambda out: {"kl": out["kl_reverse"]})
    assert main(["crosscheck", "compare", i, t]) == 1
    assert "kl_reverse" in capsys.readouterr().out


def test_wrong_shape_or_dtype_fails_that_key_with_the_reason():
    d = _base()
    ours = crosscheck.compute(d)
    report = crosscheck.compare(d, {"grad": ours["grad"][:-1], "logp": ours["logp"].astype(str),
                                    "mean": ours["mean"]})
    rows = {r.key: r for r in report.rows}
    assert report.failed == ["logp", "grad"] and rows["mean"].status == "PASS"
    assert "shape" in rows["grad"].reason and "dtype" in rows["logp"].reason


def test_compare_only_restricts_the_keys(tmp_path, capsys):
    i, t = _files(tmp_path, lambda out: {**out, "kl": out["kl_reverse"]})
    assert crosscheck.main(["compare", i, t, "--only", "logp", "grad"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:3]] == \
        ["logp", "grad"]


@pytest.mark.parametrize("argv", [
    ["compare", "in.npz", "absent.npz"], ["compare", "in.npz"], ["compare", "bad.npz", "in.npz"],
    ["compare", "in.npz", "in.npz", "--only", "nonsense"],
    ["compare", "in.npz", "in.npz", "--seed", "1"], ["in.npz", "out.npz", "--rtol", "1"],
    ["compare", "in.npz", "theirs.npz", "--json", "in.npz"]])
def test_compare_command_mistakes_exit_2_with_one_line(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert crosscheck.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refimpl: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tolerances_match_the_test_suite_derivation_for_golden_vectors():
    """compare's float64 tolerance is max(1e-10 max|refimpl|, the derived bound of
    tolerance.tolerances), the bound the golden and PyTorch tests use."""
    d = _load(DATA / "crosscheck_tanh_in.npz")
    ours = crosscheck.compute(d)
    derived = tolerance.tolerances(d, ours)
    for row in crosscheck.compare(d, ours).rows:
        if row.key in derived:
            floor = 1e-10 * np.max(np.abs(ours[row.key]))
            assert row.tolerance == max(floor, derived[row.key]), row.key
