"""refimpl/crosscheck.py: every output against an independent oracle (a textbook forward pass over
the documented parameter layout, scipy.stats, the multivariate-normal KL formula, finite
differences, a dense Fisher, numpy.linalg.solve); bad input files give one line naming the key,
exit status 2 and no output file; examples and golden vectors regenerate exactly."""
import ast
import shlex
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, example, given
from hypothesis import strategies as st

from support.gradcheck import assert_directional_derivative
from refimpl import crosscheck
from refimpl.crosscheck import tolerance
from refimpl.algos import ALGORITHMS
from refimpl.engine.config import Config
from refimpl.core.fisher import dense_fisher
from refimpl.core.objectives import clip_objective
from refimpl.engine.trainer import Run
from support.strategies import activations, batch_sizes, random_phi, seeds

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parents[1] / "data"
EPS = tolerance.EPS
CG_TOL = tolerance.CG_TOL


@st.composite
def inputs(draw, cg_iters=None, policy="gaussian"):
    """A valid input dict: a random layout from ``make_example`` with theta replaced by
    ``random_phi`` (N(0, 0.5^2) weights, so hidden layers matter) and theta_new 0.05 away
    (``policy`` "categorical": K in 2..4 actions instead of act_dim in 1..3, theta_new 0.2
    away, as logits move less than a mean per unit of theta)."""
    hidden = tuple(draw(st.lists(st.integers(1, 5), max_size=2)))
    rng = np.random.default_rng(draw(seeds))
    gaussian = policy == "gaussian"
    d = crosscheck.make_example(rng, hidden, draw(activations), draw(st.integers(1, 4)),
                                draw(st.integers(1, 3) if gaussian else st.integers(2, 4)),
                                draw(batch_sizes), policy=policy)
    pi = crosscheck.validate(d)
    d["theta"] = random_phi(pi, rng)
    d["theta_new"] = d["theta"] + (0.05 if gaussian else 0.2) * rng.standard_normal(pi.n_params)
    if cg_iters is not None:
        d["cg_iters"] = np.int64(cg_iters(pi.n_params))
    return d


def is_smooth(d):
    """Whether the network is smooth in theta (relu kinks would break finite differences)."""
    return d["activation"] == "tanh" or d["hidden_sizes"].size == 0


SMOOTH_INPUTS = inputs().filter(is_smooth)
"""Inputs whose mean network is smooth in theta."""


def _naive_net(d, theta, n_out):
    """Textbook forward pass reading theta in the layout of docs/crosscheck/reference.md: per layer
    W (in, out) row-major, then b (out,); tanh/relu between layers, linear output of width
    n_out. Returns the output and the entries of theta after the network's."""
    sizes = (d["obs"].shape[1], *d["hidden_sizes"], n_out)
    h, k = d["obs"], 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W, b = theta[k:k + n_in * n_out].reshape(n_in, n_out), theta[k + n_in * n_out:][:n_out]
        k += n_in * n_out + n_out
        z = h @ W + b
        act = np.tanh(z) if d["activation"] == "tanh" else np.maximum(z, 0.0)
        h = z if i == len(sizes) - 2 else act
    return h, theta[k:]


def _naive_mean_log_std(d, theta):
    """``_naive_net`` of the Gaussian layout: the mean network, then log_std (act_dim,)."""
    mean, log_std = _naive_net(d, theta, d["actions"].shape[1])
    assert len(log_std) == d["actions"].shape[1], "layout does not use every entry of theta"
    return mean, log_std


def _scipy_logp(mean, log_std, actions):
    cov = np.diag(np.exp(2.0 * log_std))
    return np.array([scipy.stats.multivariate_normal(m, cov).logpdf(a)
                     for m, a in zip(mean, actions)])


def _damped_fisher(d):
    policy = crosscheck.validate(d)
    return dense_fisher(policy, d["theta"], d["obs"]) + d["damping"] * np.eye(policy.n_params)


@given(inputs())
def test_mean_logp_entropy_ratio_match_documented_layout_and_scipy(d):
    out = crosscheck.compute(d)
    mean, log_std = _naive_mean_log_std(d, d["theta"])
    mean_new, log_std_new = _naive_mean_log_std(d, d["theta_new"])
    logp = _scipy_logp(mean, log_std, d["actions"])
    # same products summed in another order: a few ulps of the O(1) activations
    np.testing.assert_allclose(out["mean"], mean, rtol=0, atol=1e-13 * (1 + np.max(np.abs(mean))))
    # scipy goes through an eigendecomposition of the covariance: ~1e-15 relative per term,
    # terms up to |logp| in size
    np.testing.assert_allclose(out["logp"], logp, rtol=1e-12, atol=1e-12)
    entropy = scipy.stats.multivariate_normal(mean[0], np.diag(np.exp(2 * log_std))).entropy()
    assert out["entropy"] == pytest.approx(entropy, rel=1e-13, abs=1e-13)  # closed form, ulps
    ratio = np.exp(_scipy_logp(mean_new, log_std_new, d["actions"]) - logp)
    np.testing.assert_allclose(out["ratio"], ratio, rtol=1e-11)  # exp of the 1e-12 logp error


@given(inputs())
def test_kl_matches_multivariate_normal_formula(d):
    """KL(N_p || N_q) = 1/2 [tr(S_q^-1 S_p) + dmu^T S_q^-1 dmu - d + ln det S_q - ln det S_p],
    with full covariance matrices and numpy.linalg, averaged over the states by a loop."""
    mean_p, log_std_p = _naive_mean_log_std(d, d["theta"])
    mean_q, log_std_q = _naive_mean_log_std(d, d["theta_new"])
    S_p, S_q = np.diag(np.exp(2 * log_std_p)), np.diag(np.exp(2 * log_std_q))
    S_q_inv = np.linalg.inv(S_q)
    kls = [0.5 * (np.trace(S_q_inv @ S_p) + (mq - mp) @ S_q_inv @ (mq - mp) - len(mp)
                  + np.linalg.slogdet(S_q)[1] - np.linalg.slogdet(S_p)[1])
           for mp, mq in zip(mean_p, mean_q)]
    # KL is a small difference of O(act_dim) terms: rounding ~ act_dim * eps * max(1, terms)
    scale = 1.0 + np.max(np.exp(2 * np.abs(log_std_p - log_std_q)))
    assert crosscheck.compute(d)["kl"] == pytest.approx(np.mean(kls), rel=0, abs=1e-13 * scale)


@given(SMOOTH_INPUTS)
def test_grad_matches_finite_differences_of_mean_logp_times_adv(d):
    policy, adv = crosscheck.validate(d), d["advantages"]
    f = lambda th: np.mean(policy.log_prob(th, d["obs"], d["actions"]) * adv)  # noqa: E731
    grad = crosscheck.compute(d)["grad"]
    # f is a mean of signed terms that cancel: their size sets the rounding scale
    terms = np.abs(policy.log_prob(d["theta"], d["obs"], d["actions"]) * adv)
    assert_directional_derivative(f, d["theta"], lambda u: grad @ u, np.random.default_rng(0),
                                  f_scale=np.max(terms))


@given(SMOOTH_INPUTS)
def test_clip_surrogate_and_kl_grads_match_finite_differences(d):
    """Gradients w.r.t. theta_new; only where no ratio is within 1e-2 of 1 +- clip_eps, so that
    the steps h, 2h = 1e-5, 2e-5 along a unit direction cannot cross a kink of the clip."""
    policy, out, eps = crosscheck.validate(d), crosscheck.compute(d), float(d["clip_eps"])
    assume(np.min(np.abs(np.abs(out["ratio"] - 1.0) - eps)) > 1e-2)
    logp = out["logp"]
    logp_new = lambda th: policy.log_prob(th, d["obs"], d["actions"])  # noqa: E731
    terms = np.max(np.abs(out["ratio"] * d["advantages"]))  # size of the cancelling summands
    rng = np.random.default_rng(0)
    f_clip = lambda th: clip_objective(logp_new(th), logp, d["advantages"], eps)[0]  # noqa: E731
    assert_directional_derivative(f_clip, d["theta_new"], lambda u: out["clip_grad"] @ u, rng,
                                  f_scale=terms)
    f_surr = lambda th: np.mean(np.exp(logp_new(th) - logp) * d["advantages"])  # noqa: E731
    assert_directional_derivative(f_surr, d["theta_new"], lambda u: out["surrogate_grad"] @ u,
                                  rng, f_scale=terms)
    kl = lambda th: crosscheck.compute({**d, "theta_new": th})["kl"]  # noqa: E731
    # KL-bar is a small difference of O(act_dim) terms
    assert_directional_derivative(kl, d["theta_new"], lambda u: out["kl_grad"] @ u, rng,
                                  f_scale=float(d["actions"].shape[1]))


@given(inputs())
def test_fvp_equals_dense_fisher_times_v_without_damping(d):
    F = _damped_fisher(d) - d["damping"] * np.eye(len(d["theta"]))
    # same sums of products in another order: ~P eps relative to sum |F_ij v_j|
    atol = 1e-13 * (1.0 + np.max(np.abs(F) @ np.abs(d["v"])))
    np.testing.assert_allclose(crosscheck.compute(d)["fvp"], F @ d["v"], rtol=0, atol=atol)


def _true_residual_bound(d, out):
    """Bound on ||g - (F + damping I) x|| / ||g|| for CG stopped by its tolerance: the recurrence
    residual is <= CG_TOL ||g||; the true residual drifts from it by rounding, at most about
    k cond(A) eps ||g|| after k iterations (Greenbaum 1997, ch. 7); we allow 10 times that."""
    k = int(out["cg_iterations_run"])
    return CG_TOL + 10 * max(k, 1) * np.linalg.cond(_damped_fisher(d)) * EPS


@given(inputs(cg_iters=lambda P: 2 * P))
def test_cg_x_solves_damped_system_when_cg_iters_exceeds_P(d):
    """With 2P iterations (P suffice in exact arithmetic; float64 CG loses conjugacy) CG stops
    on training's tolerance, and then x solves (F + damping I) x = g as numpy.linalg.solve does,
    up to cond(A) times the residual bound."""
    A, out = _damped_fisher(d), crosscheck.compute(d)
    assert out["cg_iterations_run"] < d["cg_iters"]
    x = np.linalg.solve(A, out["grad"])
    # ||x - x*|| <= ||A^-1|| ||r|| and ||x*|| >= ||g|| / ||A||: relative error <= cond(A) ||r||/||g||
    err = np.linalg.norm(out["cg_x"] - x)
    assert err <= np.linalg.cond(A) * _true_residual_bound(d, out) * np.linalg.norm(x)


def _degenerate_input():
    """The issue's counterexample: hidden (4, 1), relu, one state, act_dim 1; F has rank <= 2
    (one mean and one log-std output), so CG converges in at most 2 iterations."""
    d = crosscheck.make_example(np.random.default_rng(0), (4, 1), "relu", 2, 1, 1)
    d["cg_iters"] = np.int64(3)
    return d


@given(inputs(cg_iters=lambda P: min(P, 3)))
@example(_degenerate_input())
def test_truncated_cg_runs_cg_iters_unless_it_has_converged(d):
    """CG runs exactly cg_iters iterations unless it stops earlier because x solves the damped
    system to training's tolerance (checked with the dense matrix); with damping > 0 the
    curvature is positive."""
    out = crosscheck.compute(d)
    assert 1 <= out["cg_iterations_run"] <= d["cg_iters"]
    assert not out["cg_nonpositive_curvature"]
    if out["cg_iterations_run"] < d["cg_iters"]:
        r = out["grad"] - _damped_fisher(d) @ out["cg_x"]
        assert np.linalg.norm(r) <= _true_residual_bound(d, out) * np.linalg.norm(out["grad"])


def test_degenerate_input_converges_before_cg_iters():
    """The pinned example really exercises the early stop (rank F <= 2 < cg_iters = 3)."""
    assert crosscheck.compute(_degenerate_input())["cg_iterations_run"] <= 2


def test_cg_tolerance_is_the_one_training_uses():
    """crosscheck's CG stops on natural_step's default tolerance, which training uses, and
    docs/crosscheck/reference.md states that number."""
    doc = (ROOT / "docs" / "crosscheck" / "reference.md").read_text()
    assert CG_TOL > 0 and f"cg_tol = {CG_TOL:g}" in doc


@given(inputs(cg_iters=lambda P: min(P, 3)))
def test_step_lies_on_damped_quadratic_kl_boundary(d):
    """1/2 step^T (F + damping I) step = delta, also for truncated CG, with the dense matrix."""
    out = crosscheck.compute(d)
    np.testing.assert_array_equal(out["step"], out["beta"] * out["cg_x"])
    quad = 0.5 * out["step"] @ _damped_fisher(d) @ out["step"]
    assert quad == pytest.approx(d["delta"], rel=1e-12)  # O(P) sums of products: rounding


def test_zero_advantages_give_zero_grad_no_cg_iteration_and_zero_step():
    d = crosscheck.make_example(np.random.default_rng(0))
    d["advantages"] = np.zeros_like(d["advantages"])
    out = crosscheck.compute(d)
    assert out["cg_iterations_run"] == 0 and out["beta"] == 0.0
    for key in ("grad", "cg_x", "step", "clip_grad", "surrogate_grad"):
        np.testing.assert_array_equal(out[key], 0.0)


def _input_from_batch(cfg, data, phi, phi_new):
    """crosscheck's input (docs/crosscheck/reference.md) for a training batch: the policy's layout
    from ``cfg``, theta = phi, the batch's states, actions and advantages as given, theta_new =
    phi_new and the TRPO settings of ``cfg``; v is unused here."""
    return {"hidden_sizes": np.array(cfg.hidden, dtype=np.int64),
            "activation": np.array(cfg.activation), "theta": phi, "obs": data.obs,
            "actions": data.actions, "advantages": data.adv, "v": np.zeros_like(phi),
            "theta_new": phi_new, "delta": np.float64(cfg.delta),
            "damping": np.float64(cfg.damping), "cg_iters": np.int64(cfg.cg_iters),
            "clip_eps": np.float64(cfg.clip_eps)}


def test_trpo_update_moves_phi_by_crosscheck_step_and_logs_crosscheck_kl(tmp_path):
    """On one HalfCheetah-v5 batch with TRPO's defaults (norm_adv off, so the advantages the
    update uses are the batch's own), a TRPO update accepted at fraction 1 takes exactly
    crosscheck's step, bit for bit, and its logged kl is crosscheck's kl at theta_new = phi_new:
    what a user compares against is what refimpl trains with."""
    cfg = Config.for_algo("trpo", norm_adv=False)
    run = Run(cfg, tmp_path / "run")
    data = run.collect_batch()
    phi_old = run.agent.phi.copy()
    metrics = ALGORITHMS["trpo"].update(run.agent, data, cfg.algorithm_params(), run.update_rng)
    phi_new = run.agent.phi
    assert metrics["accepted"] == 1 and metrics["step_fraction"] == 1.0
    out = crosscheck.compute(_input_from_batch(cfg, data, phi_old, phi_new))
    np.testing.assert_array_equal(phi_old + out["step"], phi_new)
    assert metrics["kl"] == out["kl"]
    assert metrics["cg_iters"] == out["cg_iterations_run"]


def _corrupt(d, key, value):
    d = dict(d)
    if value is _DROP:
        del d[key]
    else:
        d[key] = value(d[key]) if callable(value) else value
    return d


_DROP = object()
CORRUPTIONS = [(key, _DROP, key) for key in crosscheck.INPUT_SPEC] + [
    ("theta", lambda a: a.astype(np.int64), "theta"),
    ("theta", lambda a: a.astype(np.float32), "theta"),
    ("hidden_sizes", lambda a: a.astype(np.float64), "hidden_sizes"),
    ("hidden_sizes", np.array([[4, 4]]), "hidden_sizes"),
    ("hidden_sizes", np.array([4, 0]), "hidden_sizes"),
    ("hidden_sizes", np.array([4, 4, 4]), "theta"),
    ("hidden_sizes", np.array([5]), "theta"),
    ("activation", np.array(1), "activation"),
    ("activation", np.array("sigmoid"), "activation"),
    ("activation", np.array(["tanh"]), "activation"),
    ("cg_iters", np.float64(10.0), "cg_iters"),
    ("cg_iters", np.int64(0), "cg_iters"),
    ("delta", np.int64(1), "delta"),
    ("delta", np.array([0.01]), "delta"),
    ("delta", np.float64(0.0), "delta"),
    ("damping", np.float64(-0.1), "damping"),
    ("clip_eps", np.float64(0.0), "clip_eps"),
    ("theta", lambda a: a[:-1], "theta"),
    ("theta", lambda a: a[None, :], "theta"),
    ("v", lambda a: np.append(a, 0.0), "v"),
    ("theta_new", lambda a: a[:-1], "theta_new"),
    ("obs", lambda a: a[:, 0], "obs"),
    ("obs", lambda a: a[:0], "obs"),
    ("actions", lambda a: a[:-1], "actions"),
    ("advantages", lambda a: a[:-1], "advantages"),
    ("format_version", np.int64(2), "format_version"),
] + [(key, lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, np.nan, a), key)
     for key in ("theta", "obs", "actions", "advantages", "v", "theta_new", "delta", "damping",
                 "clip_eps")] + [("obs", lambda a: a * np.inf, "obs")]


@pytest.mark.parametrize("key, value, named", CORRUPTIONS)
def test_bad_input_exits_2_names_key_writes_nothing(tmp_path, capsys, key, value, named):
    d = _corrupt(crosscheck.make_example(np.random.default_rng(0)), key, value)
    np.savez(tmp_path / "in.npz", **d)
    assert crosscheck.main([str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refimpl: error: ") and f"'{named}'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


@pytest.mark.parametrize("content", [None, b"not a zip file", "npy"])
def test_unreadable_file_exits_2_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "in.npz"
    if content == "npy":
        np.save(tmp_path / "in.npy", np.zeros(3))
        path = tmp_path / "in.npy"
    elif content is not None:
        path.write_bytes(content)
    assert crosscheck.main([str(path), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert not (tmp_path / "out.npz").exists()


def test_non_finite_output_exits_2_and_writes_nothing(tmp_path, capsys):
    d = crosscheck.make_example(np.random.default_rng(0))
    d["theta_new"][-2:] = -400.0  # log_std of pi_new so small that KL(pi || pi_new) overflows
    np.savez(tmp_path / "in.npz", **d)
    assert crosscheck.main([str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'kl'" in err
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("argv", [["a.npz"], ["a.npz", "--seed", "1"],
                                  ["--make-example", "a.npz", "b.npz"]])
def test_argument_mistakes_exit_2(tmp_path, capsys, argv):
    argv = [str(tmp_path / a) if a.endswith(".npz") else a for a in argv]
    assert crosscheck.main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_output_that_is_the_input_file_is_refused(tmp_path, capsys, monkeypatch, spelling):
    """`refimpl crosscheck in.npz in.npz` (or another path to the same file) would overwrite the
    input: one line, exit status 2, the input untouched."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    crosscheck.main(["--make-example", "in.npz"])
    before = (tmp_path / "in.npz").read_bytes()
    out = {"same": "in.npz", "dotdot": "sub/../in.npz", "symlink": "link.npz",
           "hardlink": "hard.npz"}[spelling]
    if spelling == "symlink":
        (tmp_path / "link.npz").symlink_to(tmp_path / "in.npz")
    elif spelling == "hardlink":
        (tmp_path / "hard.npz").hardlink_to(tmp_path / "in.npz")
    capsys.readouterr()
    assert crosscheck.main(["in.npz", out]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refimpl: error: ") and "input file" in err
    assert (tmp_path / "in.npz").read_bytes() == before


def _load(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _assert_same_arrays(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def test_make_example_is_valid_and_reproducible(tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        path = str(tmp_path / f"{name}.npz")
        assert crosscheck.main(["--make-example", path, "--seed", seed]) == 0
    a, b, c = (_load(tmp_path / f"{n}.npz") for n in "abc")
    crosscheck.validate(a)
    _assert_same_arrays(a, b)
    assert not np.array_equal(a["theta"], c["theta"])
    assert crosscheck.main([str(tmp_path / "a.npz"), str(tmp_path / "out.npz")]) == 0
    assert list(_load(tmp_path / "out.npz")) == list(crosscheck.OUTPUT_KEYS)


def _readme_commands():
    text = (DATA / "README.md").read_text()
    return [shlex.split(line)[2:] for line in text.splitlines()
            if line.startswith("refimpl crosscheck ")]


def tolerances(d, out):
    """The float64 tolerance per float key (``refimpl.crosscheck.tolerance.tolerances``, the
    derivation of docs/crosscheck/reference.md, which ``compare`` uses too)."""
    return tolerance.tolerances(d, out)


def assert_outputs_agree(ours, reference, d, stop_may_differ=False):
    """Every key of ``reference`` in ``ours``: integers and booleans exactly, floats within
    ``tolerances``; the message names each key that fails and by how much. With
    ``stop_may_differ``, cg_iterations_run may differ by one where one of the two x already
    solves the damped system to CG_TOL (dense residual; docs/crosscheck/reference.md, "How to
    compare")."""
    tol = tolerances(d, reference)
    if stop_may_differ and ours["cg_iterations_run"] != reference["cg_iterations_run"]:
        A, g = _damped_fisher(d), reference["grad"]
        residual = min(np.linalg.norm(g - A @ x) for x in (ours["cg_x"], reference["cg_x"]))
        assert abs(int(ours["cg_iterations_run"]) - int(reference["cg_iterations_run"])) == 1
        assert residual <= CG_TOL * np.linalg.norm(g)
        reference = {k: v for k, v in reference.items() if k != "cg_iterations_run"}
    bad = [f"{k}: |diff| {np.max(np.abs(ours[k] - reference[k])):.2e} > {tol[k]:.2e}"
           for k in tol if not np.max(np.abs(ours[k] - reference[k]), initial=0.0) <= tol[k]]
    bad += [f"{k}: {ours[k]} != {reference[k]}" for k in reference
            if k not in tol and not np.array_equal(ours[k], reference[k])]
    assert bad == []


GOLDEN_ALL = sorted(p.name[:-len("_in.npz")] for p in DATA.glob("crosscheck_*_in.npz"))
GOLDEN = [c for c in GOLDEN_ALL if not c.endswith("blocks")]
"""The golden cases without optional blocks (the PyTorch oracle computes the core keys only)."""


@pytest.mark.parametrize("case", GOLDEN_ALL)
def test_golden_outputs_follow_from_stored_inputs_within_rounding(case):
    """refimpl on the stored input reproduces the stored output: bit for bit on the machine that
    wrote it, elsewhere within the tolerances of docs/crosscheck/reference.md (BLAS kernels
    differ)."""
    d = _load(DATA / f"{case}_in.npz")
    ours, stored = crosscheck.compute(d), _load(DATA / f"{case}_out.npz")
    assert list(ours) == list(stored)
    assert_outputs_agree(ours, stored, d)


def test_golden_inputs_regenerate_within_a_few_ulps(tmp_path):
    """The --make-example commands of tests/data/README.md give the stored inputs: integers and
    strings exactly; floats within 8 eps of each array's largest entry. theta comes from
    orthogonal initialisation by Householder QR of at most 5 x 4 matrices here, backward stable:
    two LAPACK kernels give Q's that differ by about 2 n eps, n <= 4 reflectors; everything else
    is drawn from the same random numbers and moved by that theta (actions through the mean)."""
    commands = [a for a in _readme_commands() if "--make-example" in a]
    assert len(commands) == len(GOLDEN_ALL) >= 6, "tests/data/README.md lists the commands"
    for argv in commands:
        assert crosscheck.main([str(tmp_path / a) if a.endswith(".npz") else a for a in argv]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{c}_in.npz" for c in GOLDEN_ALL)
    for case in GOLDEN_ALL:
        ours, stored = _load(tmp_path / f"{case}_in.npz"), _load(DATA / f"{case}_in.npz")
        assert list(ours) == list(stored)
        for k in stored:
            assert ours[k].dtype == stored[k].dtype and ours[k].shape == stored[k].shape, k
            if stored[k].dtype.kind == "f":
                assert np.max(np.abs(ours[k] - stored[k])) <= 8 * EPS * np.max(np.abs(stored[k])), k
            else:
                assert np.array_equal(ours[k], stored[k]), k


def test_golden_output_commands_name_the_stored_files():
    """The `refimpl crosscheck IN OUT` lines of tests/data/README.md are the ones that wrote the
    *_out files."""
    commands = [a for a in _readme_commands() if "--make-example" not in a]
    assert sorted(commands) == sorted([f"{c}_in.npz", f"{c}_out.npz"] for c in GOLDEN_ALL)


def test_every_key_is_documented():
    doc = (ROOT / "docs" / "crosscheck" / "reference.md").read_text()
    keys = (*crosscheck.INPUT_SPEC, *crosscheck.CATEGORICAL_SPEC, "policy",
            *crosscheck.OUTPUT_KEYS, *crosscheck.CATEGORICAL_OUTPUT_KEYS,
            *(k for spec in crosscheck.BLOCK_SPECS.values() for k in spec),
            *(k for keys in crosscheck.BLOCK_OUTPUT_KEYS.values() for k in keys),
            *crosscheck.DIAGNOSES)
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert missing == []


def test_refimpl_never_imports_torch():
    """The autodiff oracle stays outside the package: no module of refimpl/ imports torch (or
    another autodiff framework), so the core installs and runs with NumPy and SciPy alone."""
    frameworks = {"torch", "jax", "tensorflow"}
    found = []
    for path in (ROOT / "refimpl").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in frameworks]
    assert found == []


def test_torch_example_is_valid_python():
    path = ROOT / "examples" / "crosscheck_torch.py"
    compile(path.read_text(), str(path), "exec")


def test_adapters_are_valid_python():
    """The adapters compile without the peers or tianshou extra (tests/crosscheck/test_adapters.py
    and tests/crosscheck/test_adapters_tianshou.py run them with it)."""
    paths = sorted((ROOT / "examples" / "adapters").glob("*.py"))
    assert [p.name for p in paths] == ["_common.py", "_tianshou.py", "cleanrl_agent.py",
                                       "sb3_ppo.py", "sb3_trpo.py", "tianshou_npg.py",
                                       "tianshou_ppo.py", "tianshou_trpo.py"]
    for path in paths:
        compile(path.read_text(), str(path), "exec")
