"""Cross-check an sb3-contrib TRPO ``MlpPolicy`` against refimpl, in float64.

    python examples/adapters/sb3_trpo.py OUT_DIR

Builds a TRPO model on HalfCheetah-v5 (act_dim d = 6) and writes, to OUT_DIR, IN.npz from the
model's own weights in refimpl's layout (IN's delta, damping and cg_iters are the model's
target_kl, cg_damping and cg_max_steps) and THEIRS.npz from sb3-contrib's own code, the lines
of ``TRPO.train`` up to its line search: ``policy.get_distribution``, the surrogate and
``kl_divergence(distribution, old_distribution).mean()``, ``_compute_actor_grad`` (g),
``hessian_vector_product`` (F v, with ``cg_damping`` set to 0 for that key), the library's
``conjugate_gradient_solver`` and the maximal step sqrt(2 target_kl / x^T (H x)) x; and its KL
at theta_new, as its line search evaluates candidates. Vectors are converted from the order of
``named_parameters`` (log_std first, weights (out, in)) to refimpl's layout. Advantage
normalisation is switched off (``normalize_advantage=False``; the PPO adapter shows that
convention diagnosed); observations pass through as float64 (``_common``).

Three comparisons: (1) CG started at x_0 = 0 (``torch.randn_like`` patched to zeros inside the
solver call): diagnosed ``act_dim_scale`` for fvp, cg_x, beta, step and ``act_dim_scale`` with
``kl_reverse`` for kl; (2) the solver as shipped, from x_0 = 1e-4 N(0, I): cg_x also gets the
``cg_start_nonzero`` note; (3) the diagnosed conventions applied (IN at (d delta, d damping),
their F v times d, x / d, beta times d, their kl compared as kl_reverse times d): every key
passes.
"""
from __future__ import annotations

import contextlib
import copy
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from sb3_ppo import layers  # noqa: E402  (the same MlpPolicy structure)


def build(seed=0, n=32, hidden=(8, 8)):
    import gymnasium as gym
    from sb3_contrib import TRPO
    model = TRPO("MlpPolicy", gym.make("HalfCheetah-v5"), n_steps=n, batch_size=n, seed=seed,
                 device="cpu", normalize_advantage=False,
                 policy_kwargs={"net_arch": {"pi": list(hidden), "vf": list(hidden)}})
    model.policy.double()
    return model


@contextlib.contextmanager
def cg_from_zero():
    """sb3-contrib's solver starts at ``1e-4 * th.randn_like(b)``; inside this block
    randn_like returns zeros, so the solver starts at x_0 = 0 like refimpl's."""
    original = torch.randn_like
    torch.randn_like = torch.zeros_like
    try:
        yield
    finally:
        torch.randn_like = original


def theirs_and_inputs(model, seed, n, zero_start):
    from sb3_contrib.common.utils import conjugate_gradient_solver
    from stable_baselines3.common.distributions import kl_divergence
    pi, _, log_std = layers(model)
    named = [(k, p) for k, p in model.policy.named_parameters() if "value" not in k]
    rng = np.random.default_rng(seed)
    obs = _common.halfcheetah_observations(n, seed)
    theta = _common.flat(pi, [log_std])
    adv, v = rng.standard_normal(n), rng.standard_normal(theta.size)
    theta_new = theta + 0.05 * rng.standard_normal(theta.size)
    to_ours = lambda t: _common.to_refimpl(t, named, pi, [log_std])  # noqa: E731
    torch.manual_seed(seed)
    with _common.sb3_float64_observations():
        obs_t = torch.from_numpy(obs)
        # TRPO.train, up to its line search
        with torch.no_grad():
            old_distribution = copy.copy(model.policy.get_distribution(obs_t))
            actions = old_distribution.sample()
        distribution = model.policy.get_distribution(obs_t)
        log_prob = distribution.log_prob(actions)
        ratio = torch.exp(log_prob - log_prob.detach())
        policy_objective = (torch.from_numpy(adv) * ratio).mean()
        kl_div = kl_divergence(distribution, old_distribution).mean()
        actor_params, g, grad_kl, _ = model._compute_actor_grad(kl_div, policy_objective)
        assert [id(p) for p in actor_params] == [id(p) for _, p in named]
        hvp = partial(model.hessian_vector_product, actor_params, grad_kl)
        damping, model.cg_damping = model.cg_damping, 0.0
        fvp = hvp(_common.from_refimpl(v, named, pi, [log_std]))
        model.cg_damping = damping
        calls = []
        counted = lambda u: calls.append(1) or hvp(u)  # noqa: E731
        with cg_from_zero() if zero_start else contextlib.nullcontext():
            x = conjugate_gradient_solver(counted, g, max_iter=model.cg_max_steps)
        beta = torch.sqrt(2 * model.target_kl / torch.matmul(x, hvp(x)))
        # the policy's distribution object is reused by get_distribution: read theta's first
        entropy = np.float64(distribution.entropy().mean().item())
        # the KL its line search computes at a candidate, here at theta_new
        _common.load_flat(theta_new, pi, [log_std])
        with torch.no_grad():
            kl_new = kl_divergence(model.policy.get_distribution(obs_t), old_distribution).mean()
    theirs = {"mean": old_distribution.distribution.mean.detach().numpy(),
              "logp": log_prob.detach().numpy(),
              "entropy": entropy,
              "grad": to_ours(g), "fvp": to_ours(fvp), "cg_x": to_ours(x),
              "beta": np.float64(beta.item()), "step": to_ours(beta * x),
              "kl": np.float64(kl_new.item())}
    inputs = {"hidden_sizes": np.array([m.out_features for m in pi[:-1]], dtype=np.int64),
              "activation": np.array("tanh"), "theta": theta, "obs": obs,
              "actions": actions.numpy().astype(np.float64), "advantages": adv, "v": v,
              "theta_new": theta_new, "delta": np.float64(model.target_kl),
              "damping": np.float64(model.cg_damping), "cg_iters": np.int64(model.cg_max_steps),
              "clip_eps": np.float64(0.2)}
    # one product for the start's residual b - A x_0, then one per iteration
    return inputs, theirs, len(calls) - 1


def applied(inputs, theirs, iterations):
    """The diagnosed conventions applied: IN at (d delta, d damping) and with cg_iters = the
    iterations their CG ran (it stops once r^T r < 1e-10); their F v, x and beta rescaled to
    refimpl's; their kl (KL(new || old) / d) compared as refimpl's kl_reverse."""
    d = float(inputs["actions"].shape[1])
    mapped = {**inputs, "delta": d * inputs["delta"], "damping": d * inputs["damping"],
              "cg_iters": np.int64(iterations)}
    rescaled = {**theirs, "fvp": d * theirs["fvp"], "cg_x": theirs["cg_x"] / d,
                "beta": d * theirs["beta"]}
    rescaled["kl_reverse"] = d * rescaled.pop("kl")
    return mapped, rescaled


def run(out_dir, seed=0, n=32):
    """{(start, "raw" | "applied"): report} for start "zero" and "shipped" (1e-4 N(0, I)):
    as diagnosed, and with the diagnosed conventions applied."""
    reports = {}
    for start in ("zero", "shipped"):
        inputs, theirs, k = theirs_and_inputs(build(seed, n), seed, n, start == "zero")
        reports[start, "raw"] = _common.write_and_compare(out_dir, f"sb3_trpo_{start}", inputs,
                                                          theirs)
        reports[start, "applied"] = _common.write_and_compare(
            out_dir, f"sb3_trpo_{start}_applied", *applied(inputs, theirs, k))
    return reports


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    reports = run(sys.argv[1])
    for (start, kind), report in reports.items():
        _common.show(f"sb3-contrib TRPO, CG from x_0 = {'0' if start == 'zero' else '1e-4 N(0, I)'}"
                     f", {'as written' if kind == 'raw' else 'diagnosed conventions applied'}",
                     report)
    sys.exit(0 if reports["zero", "applied"].ok else 1)
