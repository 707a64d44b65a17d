"""How far two correct float64 (or float32) computations of a crosscheck output may differ:
the derivation of ``docs/crosscheck/reference.md`` ("How to compare"), one implementation used by
``compare`` and by the test suite.

Direct quantities: a sum of n terms, or a chain of n roundings, has rounding error at most
about n eps S, S the size of its summands (Higham 2002, sec. 4.2), so two correct orderings
differ by about ``direct_tolerance`` = n eps S. CG outputs (cg_x, beta, step): truncated CG
magnifies a relative difference e of its inputs (g and every F v) to K e; K is estimated by
``cg_amplification``, and the tolerance is 10 K n eps S.
"""
from __future__ import annotations

import inspect

import numpy as np

from refimpl.crosscheck.io import validate
from refimpl.core.fisher import make_fvp
from refimpl.core.natural import natural_step

EPS = np.finfo(np.float64).eps
EPS32 = float(np.finfo(np.float32).eps)
"""Unit roundoffs of float64 and float32 (2.2e-16 and 1.2e-7)."""
CG_TOL = inspect.signature(natural_step).parameters["cg_tol"].default
"""The relative residual tolerance of CG in training, hence in crosscheck."""

DETERMINABLE = 1e-3
"""c: a key can be judged only when its derived bound B <= c max |refimpl|. Every convention and
mistake docs/crosscheck/reference.md lists moves a key by 1e-3 of its scale or more (so does the
smallest one ``diagnose.CG_START_BOUND`` names), so a PASS with B above 1e-3 of the scale could hide
one of them; with B <= 1e-3 a PASS rules out every difference larger than 0.1% of the scale."""

CG_KEYS = ("cg_x", "beta", "step")
"""Outputs computed by truncated CG, whose rounding CG amplifies (``cg_amplification``)."""
LINE_SEARCH_KEYS = ("ls_improvements", "ls_kls", "ls_theta")
"""Line-search outputs evaluated at theta + alpha^j step: they inherit step's CG tolerance."""
AMPLIFICATION_STEP = EPS
"""Relative size of the perturbations ``cg_amplification`` makes: one rounding unit, the size
of the differences between two correct computations of g and F v. Larger steps leave the
linear regime where K is large (K s ~ 1); smaller ones are lost in rounding."""
RATIO_KEYS = ("ratio", "surrogate", "surrogate_grad", "clip_objective", "clip_grad",
              "ls_improvements")
"""Outputs computed through kappa_n = exp(logp_new_n - logp_n)."""


def _largest(a) -> float:
    return float(np.max(np.abs(a), initial=0.0))


def _logit_scale(out) -> float:
    """max |z| over the categorical logits (0 for a Gaussian input): log-softmax subtracts
    max z and log sum exp, so its absolute rounding error is relative to the logits' size."""
    return _largest(out.get("logits", 0.0))


def _log_scale(out) -> float:
    """1 + max |logp_n| + max |log kappa_n| (+ max |z|, categorical): the absolute error of
    log kappa_n = logp_new_n - logp_n is relative to the log-probabilities' size (and to the
    logits' through log-softmax); exp makes it a relative error."""
    return 1.0 + _largest(out["logp"]) + _largest(np.log(out["ratio"])) + _logit_scale(out)


def _kl_terms(d, out) -> float:
    """Size of the sum that gives the KL per state: act_dim terms of size about 1 (Gaussian);
    K terms p_a (log p_a - log q_a) whose logs carry errors relative to 1 + max |z|
    (categorical)."""
    if "logits" not in out:
        return float(d["actions"].shape[1])
    return float(d["n_actions"]) * (1.0 + _logit_scale(out))


def _gae_scale(d) -> float:
    """T times the size of one TD error's ingredients (r, V(s_t), V(s_{t+1})): A_t sums up to T
    of them."""
    boot = max(_largest(d["final_values"][d["truncated"]]), _largest(d["last_values"]))
    T = d["rewards"].shape[0]
    return T * (_largest(d["rewards"]) + _largest(d["values"]) + boot)


def rounding_scale(key, d, out):
    """The size S of the summands whose rounding sets the error of ``key``
    (docs/crosscheck/reference.md, "How to compare"): the output's own largest entry, except for
    results of cancelling sums: L_TRPO and L_CLIP (means of kappa_n A_n of either sign) and the KL
    (per state, a difference of act_dim terms of size about 1; its gradient's log-std block 1 -
    (sigma^2 + dmu^2) / sigma'^2 likewise, so kl_grad gets act_dim added to its own size); k1 and k3
    (means of log kappa_n, whose error is absolute); GAE (sums of TD errors); the value loss and its
    gradient (through V - ret). Quantities through kappa_n carry the absolute error of
    logp_new_n - logp_n, which is relative to the log-probabilities' size, as a relative error
    (exp): their S is multiplied by 1 + max |logp_n| + max |log kappa_n|. Categorical inputs:
    the act_dim of the KL is ``_kl_terms``, the entropy (a sum of K terms p_a log p_a) is
    likewise, and logp and probs, through log-softmax, carry errors relative to 1 + max |z|."""
    d_act = _kl_terms(d, out)
    categorical = "logits" in out
    if categorical and key == "entropy":
        return d_act
    if categorical and key in ("logp", "probs"):
        return _largest(out[key]) * (1.0 + _logit_scale(out))
    if key in ("surrogate", "clip_objective", "ls_improvements"):
        scale = float(np.max(np.abs(out["ratio"] * d["advantages"])))
    elif key in ("kl", "kl_reverse", "ls_kls"):
        return d_act
    elif key == "kl_grad":
        return _largest(out[key]) + d_act
    elif key == "approx_kl_k1":
        return _log_scale(out)
    elif key == "approx_kl_k3":
        return (1.0 + _largest(out["ratio"])) * _log_scale(out)
    elif key in ("gae_advantages", "returns"):
        return _gae_scale(d)
    elif key in ("value_loss", "value_grad"):
        spread = _largest(out["value_pred"]) + _largest(d["value_targets"])
        err = max(_largest(out["value_pred"] - d["value_targets"]), EPS * spread)
        return _largest(out[key]) * spread / err + spread * spread
    elif key == "ls_theta":
        return _largest(d["theta"]) + _largest(out["step"])
    else:
        scale = _largest(out[key])
    if key in RATIO_KEYS:
        scale *= _log_scale(out)
    return scale


def rounding_steps(key, d):
    """n: the roundings that feed one output. Policy keys: P + N + 16, sums over at most P
    parameters (forward passes and Jacobian products run over layers whose sizes add up to at
    most P) and over the N states, plus fewer than 16 elementwise operations between them
    ((a - mu) / sigma, squares, exp, log, the products with A_n and 1/N). GAE: T + 16 (a
    recursion over T steps). Critic: P_v + N + 16."""
    if key in ("gae_advantages", "returns"):
        return d["rewards"].shape[0] + 16
    if key in ("value_pred", "value_loss", "value_grad"):
        return len(d["critic_theta"]) + len(d["obs"]) + 16
    return len(d["theta"]) + len(d["obs"]) + 16


def direct_tolerance(key, d, out, eps=EPS):
    """n eps S: a sum of n terms has rounding error <= n eps times its summands' size (Higham
    2002, sec. 4.2), and so do n chained roundings; two correct orderings differ by about that
    (docs/crosscheck/reference.md)."""
    return rounding_steps(key, d) * eps * rounding_scale(key, d, out)


def cg_amplification(d, out, samples=20, seed=0):
    """K per CG key: max over random perturbations of g and of every Fisher-vector product (each
    by AMPLIFICATION_STEP times its largest entry) of max|change of key| / (step max|key|),
    i.e. how much truncated CG magnifies a rounding-sized relative error of its inputs,
    including a change of the iteration count where the stopping test is decided within
    rounding. CG is a nonlinear map of (g, F); K is an estimate of its condition number, not
    bounded by cond(F + damping I). K = 0 when g = 0 (no CG runs)."""
    if not out["grad"].any():
        return dict.fromkeys(CG_KEYS, 0.0)
    policy, rng, s = validate(d), np.random.default_rng(seed), AMPLIFICATION_STEP
    perturb = lambda y: y + s * np.max(np.abs(y)) * rng.standard_normal(y.shape)  # noqa: E731
    fvp = make_fvp(policy, d["theta"], d["obs"], float(d["damping"]))
    K = dict.fromkeys(CG_KEYS, 0.0)
    for _ in range(samples):
        step = natural_step(perturb(out["grad"]), lambda v: perturb(fvp(v)), float(d["delta"]),
                            int(d["cg_iters"]))
        for key, value in zip(CG_KEYS, (step.x, step.beta, step.step)):
            K[key] = max(K[key], np.max(np.abs(value - out[key])) / (s * np.max(np.abs(out[key]))))
    return K


def tolerances(d, out, eps=EPS, K=None):
    """Per float key of ``out``, the largest |difference| two correct computations with unit
    roundoff ``eps`` may show: ``direct_tolerance`` for direct keys; for CG keys the inputs of
    CG (g, F v) may differ by their direct tolerance, n eps relative, which CG amplifies by K;
    random perturbations find less than the worst direction, hence a factor 10. The line-search
    keys add step's relative CG tolerance (the KL, quadratic in the step, twice that).
    Used by ``compare`` and by the golden-vector and PyTorch tests
    (``tests/crosscheck/test_crosscheck.py::assert_outputs_agree``); tested in
    ``tests/crosscheck/test_crosscheck_compare.py::test_cg_keys_use_the_amplified_tolerance_not_a_flat_1e_10``
    and ``test_float32_theirs_passes_with_float32_bounds_only``."""
    K = cg_amplification(d, out) if K is None else K
    tol = {key: 10 * K[key] * rounding_steps(key, d) * eps * rounding_scale(key, d, out)
           if key in CG_KEYS else direct_tolerance(key, d, out, eps)
           for key in out if out[key].dtype.kind == "f"}
    step_rel = tol["step"] / max(_largest(out["step"]), np.finfo(np.float64).tiny)
    for key, factor in (("ls_improvements", 1.0), ("ls_kls", 2.0), ("ls_theta", 0.0)):
        if key in tol:
            tol[key] += factor * step_rel * _largest(out[key]) + (key == "ls_theta") * tol["step"]
    return tol
