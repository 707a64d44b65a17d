"""refimpl crosscheck on categorical inputs (``policy`` = "categorical"): every output against
an independent oracle (a textbook forward pass over the documented layout, scipy.special's
softmax, scipy.stats.entropy, finite differences, a dense Fisher built by a loop over states of
diag(p) - p p^T pulled back by a finite-difference Jacobian of the logits, numpy.linalg.solve,
a TRPO update of training on CartPole-v1); bad categorical inputs give one line naming the
key, exit status 2 and no output file; only the diagnoses that apply are tried."""
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import assume, example, given

from support.gradcheck import assert_directional_derivative, central_difference
from refimpl import crosscheck
from refimpl.algos import ALGORITHMS
from refimpl.engine.config import Config
from refimpl.crosscheck import diagnose
from refimpl.crosscheck.layout import their_order
from refimpl.core.objectives import clip_objective
from refimpl.engine.trainer import Run
from test_crosscheck import (ROOT, _damped_fisher, _input_from_batch, _load, _naive_net,
                             _true_residual_bound, inputs, is_smooth)


def _pinned(hidden, activation, obs_dim, K, n, seed=0):
    return crosscheck.make_example(np.random.default_rng(seed), hidden, activation, obs_dim, K,
                                   n, policy="categorical")


def categorical_inputs(cg_iters=None):
    """``test_crosscheck.inputs`` of a categorical policy (K in 2..4 actions)."""
    return inputs(cg_iters, policy="categorical")


SMOOTH = categorical_inputs().filter(is_smooth)
"""Inputs whose logits are smooth in theta."""


def _logits(d, theta):
    """``_naive_net`` of the categorical layout: the logits network, nothing after it."""
    z, rest = _naive_net(d, theta, int(d["n_actions"]))
    assert rest.size == 0, "layout does not use every entry of theta"
    return z


@given(categorical_inputs())
@example(_pinned((), "relu", 2, 2, 1))  # linear logits, two actions, one state
def test_logits_probs_logp_entropy_kl_ratio_match_documented_layout_and_scipy(d):
    out, a = crosscheck.compute(d), d["actions"]
    assert list(out) == list(crosscheck.CATEGORICAL_OUTPUT_KEYS)
    z, z_new = _logits(d, d["theta"]), _logits(d, d["theta_new"])
    p, q = scipy.special.softmax(z, axis=1), scipy.special.softmax(z_new, axis=1)
    # same products summed in another order: a few ulps of the O(1) activations
    np.testing.assert_allclose(out["logits"], z, rtol=0, atol=1e-13 * (1 + np.max(np.abs(z))))
    # softmax / log-softmax of logits known to 1e-13 absolute: errors of that size, relative
    np.testing.assert_allclose(out["probs"], p, rtol=1e-12)
    logp = scipy.special.log_softmax(z, axis=1)[np.arange(len(a)), a]
    np.testing.assert_allclose(out["logp"], logp, rtol=0, atol=1e-12 * (1 + np.max(np.abs(z))))
    # H = mean_s -sum_a p log p and KL = mean_s sum_a p log(p / q): sums of K terms of O(1)
    assert out["entropy"] == pytest.approx(np.mean(scipy.stats.entropy(p, axis=1)), abs=1e-12)
    assert out["kl"] == pytest.approx(np.mean(scipy.stats.entropy(p, q, axis=1)), abs=1e-12)
    assert out["kl_reverse"] == pytest.approx(np.mean(scipy.stats.entropy(q, p, axis=1)),
                                              abs=1e-12)
    ratio = q[np.arange(len(a)), a] / p[np.arange(len(a)), a]
    np.testing.assert_allclose(out["ratio"], ratio, rtol=1e-11)  # quotient of 1e-12-relative p's


@given(SMOOTH)
def test_grad_clip_surrogate_and_kl_grads_match_finite_differences(d):
    """g w.r.t. theta, the others w.r.t. theta_new; only where no ratio is within 1e-2 of
    1 +- clip_eps, so that the steps h, 2h = 1e-5, 2e-5 cannot cross a kink of the clip."""
    policy, out, eps = crosscheck.validate(d), crosscheck.compute(d), float(d["clip_eps"])
    assume(np.min(np.abs(np.abs(out["ratio"] - 1.0) - eps)) > 1e-2)
    obs, a, adv, rng = d["obs"], d["actions"], d["advantages"], np.random.default_rng(0)
    logp_of = lambda th: policy.log_prob(th, obs, a)  # noqa: E731
    terms = np.max(np.abs(out["ratio"] * adv))  # size of the cancelling summands
    assert_directional_derivative(lambda th: np.mean(logp_of(th) * adv), d["theta"],
                                  lambda u: out["grad"] @ u, rng,
                                  f_scale=np.max(np.abs(out["logp"] * adv)))
    f_clip = lambda th: clip_objective(logp_of(th), out["logp"], adv, eps)[0]  # noqa: E731
    assert_directional_derivative(f_clip, d["theta_new"], lambda u: out["clip_grad"] @ u, rng,
                                  f_scale=terms)
    f_surr = lambda th: np.mean(np.exp(logp_of(th) - out["logp"]) * adv)  # noqa: E731
    assert_directional_derivative(f_surr, d["theta_new"], lambda u: out["surrogate_grad"] @ u,
                                  rng, f_scale=terms)
    p = scipy.special.softmax(_logits(d, d["theta"]), axis=1)
    kl = lambda th: np.mean(scipy.stats.entropy(  # noqa: E731
        p, scipy.special.softmax(_logits(d, th), axis=1), axis=1))
    # KL-bar is a small difference of K terms of O(1)
    assert_directional_derivative(kl, d["theta_new"], lambda u: out["kl_grad"] @ u, rng,
                                  f_scale=float(d["n_actions"]))


FD_STEP = 1e-5
"""Central-difference step of the Jacobian of the logits: truncation h^2 |z'''| / 6 ~ 1e-11 and
rounding eps |z| / h ~ 1e-11 for the O(1) logits here, so each entry of J is good to ~1e-10."""


def _loop_fisher(d):
    """F = (1/N) sum_s J_s^T (diag(p_s) - p_s p_s^T) J_s by a plain loop over states, J_s (K, P)
    the Jacobian of the textbook logits z(s) w.r.t. theta, column by column from central
    differences along the unit vectors (``gradcheck.central_difference``)."""
    theta = d["theta"]
    cols = [central_difference(lambda th: _logits(d, th), theta, e, FD_STEP)
            for e in np.eye(len(theta))]
    J = np.stack(cols, axis=-1)                                  # (N, K, P)
    p = scipy.special.softmax(_logits(d, theta), axis=1)
    F = np.zeros((len(theta), len(theta)))
    for J_s, p_s in zip(J, p):
        F += J_s.T @ (np.diag(p_s) - np.outer(p_s, p_s)) @ J_s
    return F / len(p), np.max(np.abs(J))


@given(SMOOTH)
@example(_pinned((3,), "tanh", 2, 3, 1))  # one state: F has rank <= K - 1 = 2
def test_fvp_equals_loop_fisher_of_finite_difference_jacobian_times_v(d):
    """F v without damping. Each Jacobian entry carries an error e <= 1e-10 (FD_STEP); per
    state J_s v moves by e sum |v|, M_s (entries <= 1/4) times that by K e sum |v| / 4, and
    J_s^T by K max|J| times that again, twice (both factors J): 2 K^2 / 4 max|J| e sum |v|
    <= 8 max|J| e sum |v| for K <= 4, so 1e-9 (1 + max|J|)(1 + sum |v|). (Observed: 5e-12.)"""
    F, J_max = _loop_fisher(d)
    atol = 1e-9 * (1.0 + J_max) * (1.0 + np.sum(np.abs(d["v"])))
    np.testing.assert_allclose(crosscheck.compute(d)["fvp"], F @ d["v"], rtol=0, atol=atol)


@given(categorical_inputs(cg_iters=lambda P: 2 * P))
def test_cg_x_solves_damped_system_and_step_lies_on_kl_boundary(d):
    """With 2P iterations CG stops on training's tolerance, and then x solves
    (F + damping I) x = g as numpy.linalg.solve does, up to cond(A) times the residual bound
    (the dense F is test_fvp_equals_loop_fisher...'s, proved equal to it there); and
    1/2 step^T (F + damping I) step = delta."""
    A, out = _damped_fisher(d), crosscheck.compute(d)
    assume(out["grad"].any())
    assert out["cg_iterations_run"] < d["cg_iters"]
    x = np.linalg.solve(A, out["grad"])
    err = np.linalg.norm(out["cg_x"] - x)
    assert err <= np.linalg.cond(A) * _true_residual_bound(d, out) * np.linalg.norm(x)
    assert 0.5 * out["step"] @ A @ out["step"] == pytest.approx(d["delta"], rel=1e-12)


def test_trpo_update_on_cartpole_moves_phi_by_crosscheck_step(tmp_path):
    """One CartPole-v1 batch with TRPO's defaults (norm_adv off): an update accepted at
    fraction 1 takes exactly crosscheck's step, bit for bit, and logs crosscheck's kl at
    theta_new = phi_new: the categorical outputs are what refimpl trains with."""
    cfg = Config.for_algo("trpo", env="CartPole-v1", norm_adv=False, horizon=256)
    run = Run(cfg, tmp_path / "run")
    data = run.collect_batch()
    phi_old = run.agent.phi.copy()
    metrics = ALGORITHMS["trpo"].update(run.agent, data, cfg.algorithm_params(), run.update_rng)
    assert metrics["accepted"] == 1 and metrics["step_fraction"] == 1.0
    d = {**_input_from_batch(cfg, data, phi_old, run.agent.phi), "policy": np.array("categorical"),
         "n_actions": np.int64(run.agent.policy.act_dim)}
    out = crosscheck.compute(d)
    np.testing.assert_array_equal(phi_old + out["step"], run.agent.phi)
    assert metrics["kl"] == out["kl"] and metrics["cg_iters"] == out["cg_iterations_run"]


def _example():
    return crosscheck.make_example(np.random.default_rng(0), policy="categorical")


CORRUPTIONS = [
    ("actions", lambda a: np.where(np.arange(a.size) == 0, 3, a), "actions"),   # = K
    ("actions", lambda a: np.where(np.arange(a.size) == 0, -1, a), "actions"),
    ("actions", lambda a: a.astype(np.float64), "actions"),
    ("actions", lambda a: a[:, None], "actions"),
    ("actions", lambda a: a[:-1], "actions"),
    ("n_actions", np.int64(4), "theta"),        # layout of 4 logits: theta is too short
    ("n_actions", np.int64(2), "actions"),      # the example's actions reach 2
    ("n_actions", np.int64(0), "n_actions"),
    ("n_actions", np.float64(3.0), "n_actions"),
    ("n_actions", None, "n_actions"),
    ("policy", np.array("beta"), "policy"),
    ("policy", np.int64(1), "policy"),
    ("policy", None, "actions"),                # read as Gaussian: integer actions refused
]


@pytest.mark.parametrize("key, value, named", CORRUPTIONS)
def test_bad_categorical_input_exits_2_names_key_writes_nothing(tmp_path, capsys, key, value,
                                                                 named):
    d = _example()
    if value is None:
        del d[key]
    else:
        d[key] = value(d[key]) if callable(value) else value
    np.savez(tmp_path / "in.npz", **d)
    assert crosscheck.main([str(tmp_path / "in.npz"), str(tmp_path / "out.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refimpl: error: ") and f"'{named}'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npz"]


def test_categorical_example_is_valid_and_reproducible(tmp_path):
    """--make-example --policy categorical: the same seed gives the same file, the input holds
    policy and n_actions and integer actions, its outputs have logits and probs, and some
    ratios fall on each side of the clip, so L_CLIP's two branches both occur."""
    for name, seed in (("a", "0"), ("b", "0")):
        argv = ["--make-example", str(tmp_path / f"{name}.npz"), "--seed", seed, "--policy",
                "categorical"]
        assert crosscheck.main(argv) == 0
    a, b = _load(tmp_path / "a.npz"), _load(tmp_path / "b.npz")
    assert all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    assert list(a) == list(b) and str(a["policy"]) == "categorical" and a["n_actions"] == 3
    assert a["actions"].dtype == np.int64 and a["actions"].shape == a["obs"].shape[:1]
    assert crosscheck.main([str(tmp_path / "a.npz"), str(tmp_path / "out.npz")]) == 0
    out = _load(tmp_path / "out.npz")
    assert list(out) == list(crosscheck.CATEGORICAL_OUTPUT_KEYS)
    outside = np.abs(out["ratio"] - 1.0) > a["clip_eps"]
    assert outside.any() and not outside.all()


def test_policy_flag_needs_make_example(tmp_path, capsys):
    assert crosscheck.main([str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--policy",
                            "categorical"]) == 2
    assert "--policy" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_gaussian_only_diagnoses_are_never_tried():
    """For a categorical input no candidate names act_dim_scale or entropy_dim_mean, nor a
    layout with log_std first (they speak of action dimensions and log_std it does not have),
    every other layout (the three combinations of weights (out, in) and bias first, of IN and
    of the outputs alone) and renaming is still tried, and its own outputs pass."""
    d = _example()
    ours, policy = crosscheck.compute(d), crosscheck.validate(d)
    found = diagnose.candidates(d, ours, policy)
    ids = {i for c in found for i in c[0]}
    assert ids.isdisjoint(diagnose.GAUSSIAN_ONLY)
    assert {"layout", "layout_outputs", "entropy_summed", "kl_reverse", "step_damping",
            "advantages_normalized"} <= ids
    settings = [how for i, how, _ in found if i[0].startswith("layout")]
    assert len(settings) == 6 and not any("log_std" in how for how in settings)
    assert set(diagnose.applicable("categorical")) == set(crosscheck.DIAGNOSES) - set(
        diagnose.GAUSSIAN_ONLY)
    assert crosscheck.compare(d, ours).ok


def test_transposed_weights_of_a_categorical_policy_are_diagnosed():
    """THEIRS computed by an implementation storing the logits layers' weights (out, in), as
    torch.nn.Linear does, with IN's theta in that layout: the diagnosis names the layout."""
    d = _example()
    order = their_order(crosscheck.validate(d), False, True, False)
    theirs_in = {**d, **{k: d[k][order] for k in ("theta", "theta_new", "v")}}
    theirs = {k: (a[order] if k in diagnose.VECTOR_KEYS else a)
              for k, a in crosscheck.compute(d).items()}
    report = crosscheck.compare(theirs_in, theirs)
    assert not report.ok and report.ids() == {"layout"}
    assert report.diagnoses[0].setting.startswith("weights (out, in): ")


def test_worked_example_of_the_docs():
    """The worked example of docs/crosscheck/reference.md, from closed forms: z = (1, -1),
    p_0 = 1/(1 + e^-2); the score w.r.t. z is p_1 (1, -1) and z = s W + b with s = 1, so
    g = p_1 (1, -1, 1, -1);
    M = p_0 p_1 [[1, -1], [-1, 1]], so F e_1 = p_0 p_1 (1, -1, 1, -1) and F g = 4 p_0 p_1 g:
    one CG iteration gives x = g / (4 p_0 p_1 + lambda), beta = sqrt(2 delta / x^T g); at
    theta_new z' = (1.5, -1)."""
    d = {"policy": np.array("categorical"), "n_actions": np.int64(2),
         "hidden_sizes": np.zeros(0, np.int64), "activation": np.array("tanh"),
         "theta": np.array([1.0, -1.0, 0.0, 0.0]), "obs": np.array([[1.0]]),
         "actions": np.array([0]), "advantages": np.array([1.0]),
         "v": np.array([1.0, 0.0, 0.0, 0.0]), "theta_new": np.array([1.0, -1.0, 0.5, 0.0]),
         "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
         "clip_eps": np.float64(0.2)}
    out = crosscheck.compute(d)
    p0 = 1.0 / (1.0 + np.exp(-2.0))
    p1 = 1.0 - p0
    q0 = 1.0 / (1.0 + np.exp(-2.5))
    sign = np.array([1.0, -1.0, 1.0, -1.0])
    x = p1 * sign / (4 * p0 * p1 + 0.1)
    expected = {"probs": [[p0, p1]], "logp": [np.log(p0)],
                "entropy": -(p0 * np.log(p0) + p1 * np.log(p1)), "grad": p1 * sign,
                "fvp": p0 * p1 * sign, "cg_x": x, "beta": np.sqrt(0.02 / (x @ (p1 * sign))),
                "ratio": [q0 / p0],
                "kl": p0 * np.log(p0 / q0) + p1 * np.log(p1 / (1.0 - q0))}
    for key, value in expected.items():  # a few roundings of O(1) numbers
        np.testing.assert_allclose(out[key], value, rtol=1e-14, atol=1e-15, err_msg=key)
    assert out["cg_iterations_run"] == 1
    # the numbers as docs/crosscheck/reference.md prints them (6 digits)
    shown = {"probs": 0.880797, "logp": -0.126928, "entropy": 0.365334, "grad": 0.119203,
             "fvp": 0.104994, "cg_x": 0.229248, "beta": 0.427749, "ratio": 1.049211,
             "kl": 0.011563}
    doc = (ROOT / "docs" / "crosscheck" / "reference.md").read_text()
    for key, value in shown.items():
        assert round(float(np.ravel(out[key])[0]), 6) == value and str(value) in doc, key
