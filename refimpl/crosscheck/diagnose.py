"""Diagnoses: the known conventions of other implementations, each applied exactly to
refimpl's own computation, so that a key that fails can be explained by the convention that
reproduces it (``docs/crosscheck/reference.md``, "Diagnoses").

Each candidate predicts, for some keys, what an implementation with that convention outputs
for the same IN.npz, and says which setting makes the two agree. ``compare`` reports a
candidate for a failing key when its prediction matches THEIRS within that key's tolerance.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from refimpl.crosscheck.compute import compute
from refimpl.crosscheck.layout import layouts, their_order
from refimpl.core.errors import NumericalError
from refimpl.crosscheck.io import policy_kind, validate
from refimpl.core.fisher import fisher_vector_product, make_fvp
from refimpl.core.natural import natural_step
from refimpl.core.returns import ADV_EPS

DIAGNOSES = {
    "act_dim_scale": "KL averaged over the action dimensions as well as the states: F v is F/d, "
                     "x is d x, beta is beta/d (d = act_dim)",
    "kl_reverse": "kl is KL(pi_new || pi_old) instead of KL(pi_old || pi_new)",
    "layout": "theta, theta_new, v and the vector outputs in another parameter layout: "
              "log_std first (SB3 named_parameters), weights (out, in) (torch.nn.Linear.weight), "
              "bias before weight, or a combination; the setting names it",
    "layout_outputs": "only the vector outputs (grad, fvp, cg_x, step, ...) in another parameter "
                      "layout, IN's theta, theta_new and v in refimpl's; the setting names it",
    "entropy_dim_mean": "entropy averaged over the action dimensions instead of summed",
    "entropy_summed": "entropy summed over the states instead of averaged",
    "advantages_normalized": "advantages standardised before use, (A - mean A) / (std A + 1e-8), "
                             "sqrt(var A + 1e-8) or std A, std with 1/N or 1/(N - 1)",
    "clip_fraction_outside": "clip_fraction counts |kappa - 1| > eps, not samples whose clip is "
                             "active (refimpl's clip_fraction_outside)",
    "approx_kl_k1": "the KL estimate is k1 = mean(-log kappa)",
    "approx_kl_k3": "the KL estimate is k3 = mean((kappa - 1) - log kappa)",
    "truncated_as_terminated": "GAE bootstraps a truncated step from 0, as if terminated "
                               "(CleanRL), instead of from final_values",
    "step_damping": "beta = sqrt(2 delta / x^T F x) without the damping; refimpl uses "
                    "x^T (F + lambda I) x = x^T g",
    "cg_stop_absolute": "CG stopped once r^T r < 1e-10 (absolute; sb3-contrib, baselines) "
                        "instead of at ||r|| <= 1e-10 ||g||",
    "cg_start_nonzero": "CG started away from x_0 = 0 (note: a difference at the CG tolerance, "
                        "not a convention to fix)",
    "npg_fixed_step": "step = alpha x with a fixed step size alpha (NPG), not TRPO's "
                      "beta = sqrt(2 delta / x^T g)",
    "float32_cast": "a hint, not a convention: a float64 key fails its float64 bound but is "
                    "within its float32 one (and within 1e-3 of its scale), as a float32 cast "
                    "on its path makes it",
}
"""The fixed list of diagnosis ids (``--json`` and ``Report.diagnoses`` use them) and what each
one means; documented in docs/crosscheck/reference.md."""

GAUSSIAN_ONLY = ("act_dim_scale", "entropy_dim_mean")
"""Diagnoses about the Gaussian's action dimensions: never tried for a categorical input
(``applicable``); neither is a layout with log_std first (``layout.layouts``)."""


def applicable(kind: str) -> tuple[str, ...]:
    """The diagnosis ids tried for a policy of head ``kind`` (``io.policy_kind``). Tested in
    ``tests/crosscheck/test_crosscheck_categorical.py::test_gaussian_only_diagnoses_are_never_tried``."""
    return tuple(i for i in DIAGNOSES if kind == "gaussian" or i not in GAUSSIAN_ONLY)


def _gaussian(d) -> bool:
    return policy_kind(d) == "gaussian"

VECTOR_KEYS = ("grad", "fvp", "cg_x", "step", "clip_grad", "surrogate_grad", "kl_grad",
               "ls_theta")
"""Outputs in the policy's parameter layout (converted back by a layout diagnosis)."""
CG_START_BOUND = 1e-3
"""Largest norm-wise relative difference of cg_x that ``cg_start_nonzero`` attributes to a
start x_0 != 0: sb3-contrib's x_0 = 1e-4 N(0, I) moves x by ~1e-4 of its size; conventions
and mistakes move the CG outputs by 1e-3 or more (docs/crosscheck/reference.md)."""

Candidate = tuple[tuple[str, ...], str, dict[str, np.ndarray]]
"""(diagnosis ids, the setting that makes THEIRS agree, predicted THEIRS per key)."""


def _act_dim(d, ours) -> list[Candidate]:
    """sb3-contrib: KL-bar averaged over the d action dimensions too. Then their FVP is F/d and
    (F/d + lambda I) x' = g gives x' = d (F + d lambda I)^-1 g, beta' = sqrt(2 delta / (d nu)):
    with (delta, lambda) theirs equal refimpl with (d delta, d lambda) but x' = d x,
    beta' = beta/d; the step is the same. IN may hold their settings or the mapped ones.
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_act_dim_scale_with_their_settings`` and ``..._with_mapped_settings``."""
    if not _gaussian(d) or d["actions"].shape[1] == 1:
        return []
    n = float(d["actions"].shape[1])
    mapped = compute({**d, "delta": n * d["delta"], "damping": n * d["damping"]})
    found = []
    for out, how in ((mapped, f"their (delta, damping) = ({float(d['delta']):g}, "
                      f"{float(d['damping']):g}) is refimpl's (d delta, d damping) = "
                      f"({n * d['delta']:g}, {n * d['damping']:g}), d = {n:g}"),
                     (ours, f"IN's (delta, damping) already equal d = {n:g} times theirs")):
        pred = {"fvp": ours["fvp"] / n, "cg_x": n * out["cg_x"], "beta": out["beta"] / n,
                "step": out["step"], "kl": ours["kl"] / n, "kl_reverse": ours["kl_reverse"] / n,
                "kl_grad": ours["kl_grad"] / n}
        found.append((("act_dim_scale",), how, pred))
        found.append((("act_dim_scale", "kl_reverse"), how,
                      {"kl": ours["kl_reverse"] / n}))
    return found


def _renamed(d, ours) -> list[Candidate]:
    """Keys that hold, under another library's definition, a quantity refimpl also outputs.
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_kl_reverse_alone_and_with_act_dim_scale``,
    ``test_clip_fraction_outside``, ``test_approx_kl_estimators``, ``test_entropy_conventions``."""
    found = [(("kl_reverse",), "compare their kl with refimpl's kl_reverse",
             {"kl": ours["kl_reverse"]}),
            (("clip_fraction_outside",), "compare their clip_fraction with refimpl's "
             "clip_fraction_outside", {"clip_fraction": ours["clip_fraction_outside"]}),
            (("approx_kl_k1",), "compare with refimpl's approx_kl_k1",
             {"kl": ours["approx_kl_k1"], "approx_kl_k3": ours["approx_kl_k1"]}),
            (("approx_kl_k3",), "compare with refimpl's approx_kl_k3",
             {"kl": ours["approx_kl_k3"], "approx_kl_k1": ours["approx_kl_k3"]}),
            (("entropy_summed",), f"their entropy divided by N = {len(d['obs'])} is refimpl's",
             {"entropy": ours["entropy"] * len(d["obs"])})]
    if _gaussian(d):  # before entropy_summed, the simpler one
        found.insert(-1, (("entropy_dim_mean",), f"their entropy times act_dim = "
                          f"{d['actions'].shape[1]} is refimpl's",
                          {"entropy": ours["entropy"] / d["actions"].shape[1]}))
    return found


ADV_VARIANTS = (("outside", "(std + 1e-8)"), ("inside", "sqrt(var + 1e-8)"),
                ("none", "std (no epsilon)"))
"""Where the 1e-8 of a standardisation sits: std + eps (refimpl's ``returns.standardize``,
SB3, CleanRL), sqrt(var + eps), or nowhere (Spinning Up)."""


def _standardizer(ddof, eps_where):
    """A -> (A - mean A) / denominator, the variance with 1/(N - ddof) and ADV_EPS where
    ``eps_where`` says (ADV_VARIANTS)."""
    def standardize(adv):
        var = np.var(adv, ddof=ddof)
        den = {"outside": np.sqrt(var) + ADV_EPS, "inside": np.sqrt(var + ADV_EPS),
               "none": np.sqrt(var)}[eps_where]
        if not den > 0:
            raise ValueError("constant advantages: no standardisation without an epsilon")
        return (adv - np.mean(adv)) / den
    return standardize


def _advantages(d, ours) -> list[Candidate]:
    """Standardised advantages, the std with 1/N (``returns.standardize``) or 1/(N - 1)
    (torch's default) times the three places of the epsilon (ADV_VARIANTS); IN then takes the
    standardised advantages. Tested in
    ``tests/crosscheck/test_crosscheck_compare.py::test_advantages_normalized``."""
    if len(d["advantages"]) < 2:
        return []
    found = []
    for ddof, name in ((0, "1/N (returns.standardize)"), (1, "1/(N - 1) (torch's std)")):
        for where, den in ADV_VARIANTS:
            try:
                adv = _standardizer(ddof, where)(d["advantages"])
            except ValueError:
                continue
            found.append((("advantages_normalized",), f"set IN's advantages to "
                          f"(A - mean A) / {den}, var with {name}",
                          compute({**d, "advantages": adv})))
    return found


def _step(d, ours, policy) -> list[Candidate]:
    """beta' = sqrt(2 delta / x^T F x) with the undamped F (``fisher.fisher_vector_product``).
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_step_damping``."""
    x = ours["cg_x"]
    if not x.any():
        return []
    quad = float(x @ fisher_vector_product(policy, d["theta"], d["obs"], x))
    beta = np.sqrt(2.0 * float(d["delta"]) / quad) if quad > 0 else np.inf
    return [(("step_damping",), "compute beta from x^T (F + damping I) x (= x^T g)",
             {"beta": np.float64(beta), "step": beta * x})]


def _layouts(d, ours, policy) -> list[Candidate]:
    """Per layout (``layout.layouts``; one whose order equals a simpler one's is skipped), two
    readings, each named with the layout in words (stacked departures in one setting):
    ``layout``, theta, theta_new and v written in it (refimpl reads them converted to its own
    and its vector outputs are converted back), and ``layout_outputs``, IN converted but the
    vector outputs left in it (refimpl's outputs permuted, nothing recomputed).
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_each_layout_is_diagnosed`` and
    ``test_outputs_in_another_layout``."""
    found, seen = [], {np.arange(policy.n_params).tobytes()}
    for name, flags in layouts(policy.kind):
        order = their_order(policy, *flags)
        if order.tobytes() in seen:
            continue
        seen.add(order.tobytes())
        back = np.argsort(order)
        convert = (f"`ours = theirs[np.argsort(their_order(policy, "
                   f"{', '.join(map(str, flags))}))]`, refimpl.crosscheck.layout")
        out = compute({**d, **{k: d[k][back] for k in ("theta", "theta_new", "v")}})
        found.append((("layout",), f"{name}: convert theta, theta_new and v to refimpl's "
                      f"layout ({convert})", _in_layout(out, order)))
        found.append((("layout_outputs",), f"{name}: IN is in refimpl's; convert their vector "
                      f"outputs to refimpl's layout ({convert})",
                      {k: a for k, a in _in_layout(ours, order).items() if k in VECTOR_KEYS}))
    return found


def _in_layout(out, order) -> dict[str, np.ndarray]:
    """Outputs ``out`` with the vectors in parameter space (VECTOR_KEYS) in the layout of
    ``order`` (``layout.their_order``)."""
    return {k: (a[order] if k in VECTOR_KEYS else a) for k, a in out.items()}


ABSOLUTE_RESIDUAL_TOL = 1e-10
"""sb3-contrib's ``conjugate_gradient_solver`` (``residual_tol``) and baselines' ``cg`` stop
once r^T r < 1e-10, an absolute test on the squared residual."""


def absolute_stop_iterations(d, damping) -> int | None:
    """The iteration k < cg_iters after which r_k^T r_k < ABSOLUTE_RESIDUAL_TOL first holds for
    refimpl's CG on (F + damping I) x = g (``natural.natural_step`` run with cg_iters = k, its
    recurrence residual), or None if that test would not stop CG before cg_iters.
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_cg_stop_absolute`` and ``tests/crosscheck/test_adapters.py``."""
    policy = validate(d)
    g = policy.score(d["theta"], d["obs"], d["actions"], d["advantages"] / len(d["obs"]))
    if not g.any():
        return None
    A = make_fvp(policy, d["theta"], d["obs"], float(damping))
    for k in range(1, int(d["cg_iters"])):
        if natural_step(g, A, float(d["delta"]), k).cg.residual_norm ** 2 < ABSOLUTE_RESIDUAL_TOL:
            return k
    return None


def _scale_variants(d, with_premapped=True):
    """(ids, scale s, IN overrides) of the readings of IN under which CG outputs are compared:
    refimpl's, act_dim_scale with their settings in IN (refimpl at (d delta, d damping)), and
    act_dim_scale with IN already mapped (Gaussian inputs only)."""
    found = [((), 1.0, {})]
    n = float(d["actions"].shape[1]) if _gaussian(d) else 1.0
    if n > 1:
        found.append((("act_dim_scale",), n, {"delta": np.float64(n * d["delta"]),
                                              "damping": np.float64(n * d["damping"])}))
        if with_premapped:
            found.append((("act_dim_scale",), n, {}))
    return found


def _cg_stop(d, ours) -> list[Candidate]:
    """CG stopped by the absolute test after k iterations: refimpl with cg_iters = k, also in
    the act_dim_scale reading with their settings (their residual g - (F/d + lambda I) d x
    equals refimpl's at (d delta, d damping))."""
    found = []
    for ids, scale, settings in _scale_variants(d, with_premapped=False):
        dd = {**d, **settings}
        k = absolute_stop_iterations(dd, dd["damping"])
        if k is None:
            continue
        out = compute({**dd, "cg_iters": np.int64(k)})
        found.append(((*ids, "cg_stop_absolute"),
                      f"set IN's cg_iters to {k}, where r^T r < 1e-10 stopped their CG",
                      {"cg_x": scale * out["cg_x"], "beta": out["beta"] / scale,
                       "step": out["step"], "cg_iterations_run": out["cg_iterations_run"]}))
    return found


def _gae_truncation(d, ours) -> list[Candidate]:
    """A truncated step treated as terminated: refimpl with terminated = terminated or
    truncated (then final_values is never read).
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_truncated_as_terminated``."""
    if "truncated" not in d or not (d["truncated"] & ~d["terminated"]).any():
        return []
    out = compute({**d, "terminated": d["terminated"] | d["truncated"]})
    return [(("truncated_as_terminated",), "set IN's terminated to terminated | truncated to "
             "compare; refimpl bootstraps a truncated step from V(final observation)",
             {k: out[k] for k in ("gae_advantages", "returns")})]


CANDIDATES: tuple[Callable, ...] = (_renamed, _act_dim, _advantages, _step, _cg_stop,
                                    _gae_truncation, _layouts)
"""Candidate makers, simplest first; each (d, ours[, policy]) -> list of Candidate."""


def candidates(d, ours, policy) -> list[Candidate]:
    """Every candidate convention's prediction for input ``d`` (refimpl's outputs ``ours``)."""
    found = []
    for make in CANDIDATES:
        try:
            found += make(d, ours, policy) if make in (_step, _layouts) else make(d, ours)
        except (ValueError, NumericalError, FloatingPointError):
            continue  # a convention whose computation fails explains nothing
    return found


def npg_fixed_step(theirs_step, x) -> tuple[float, np.ndarray] | None:
    """(alpha, alpha x): the least-squares fit alpha = step . x / x . x of THEIRS's step by a
    multiple of refimpl's CG solution x, NPG's step with a fixed step size; None if x = 0.
    ``compare`` names it only if the fit leaves at most 1% of the difference unexplained.
    Tested in ``tests/crosscheck/test_crosscheck_trust.py`` (rows npg_*)."""
    xx = float(x @ x)
    if not xx > 0:
        return None
    alpha = float(theirs_step @ x) / xx
    return alpha, alpha * x


CG_START_SPREAD = 3.0
"""``cg_start_note`` requires ||(F + lambda I) dx|| <= CG_START_SPREAD lambda ||dx||."""


def cg_start_note(theirs_x, x, fvp, damping) -> bool:
    """Whether THEIRS's cg_x differs from refimpl's x as CG from a small x_0 != 0 makes it
    differ: by at most CG_START_BOUND (norm-wise), and along directions where
    A = F + lambda I acts like its damping, ||A dx|| <= CG_START_SPREAD lambda ||dx||. A start
    x_0 = e adds R_k(A) e, R_k the residual polynomial of the k CG iterations (R_k(0) = 1):
    small on the eigenvalues CG has resolved, about 1 on the unresolved ones near lambda
    (F has rank <= N act_dim + act_dim, so most of them are); a random dx of that size has
    ||A dx|| ~ the root-mean-square eigenvalue of A instead.
    Tested in ``tests/crosscheck/test_crosscheck_compare.py::test_cg_start_nonzero_is_a_note`` and
    ``test_random_perturbation_of_cg_start_size_is_not_a_cg_start``."""
    dx = theirs_x - x
    if not (x.any() and dx.any() and damping > 0):
        return False
    if np.max(np.abs(dx)) > CG_START_BOUND * np.max(np.abs(x)):
        return False
    return bool(np.linalg.norm(fvp(dx)) <= CG_START_SPREAD * damping * np.linalg.norm(dx))


def cg_start_variants(d, ours):
    """(ids, scale s, damping, outputs) per reading that predicts cg_x (``_scale_variants``,
    each also with CG stopped by the absolute test). THEIRS's cg_x / s is compared with the
    outputs' cg_x, their beta * s with its beta, their step with its step."""
    found = []
    for ids, scale, settings in _scale_variants(d):
        dd = {**d, **settings}
        found.append((ids, scale, float(dd["damping"]), compute(dd) if settings else ours))
        k = absolute_stop_iterations(dd, dd["damping"])
        if k is not None:
            found.append(((*ids, "cg_stop_absolute"), scale, float(dd["damping"]),
                          compute({**dd, "cg_iters": np.int64(k)})))
    return found
