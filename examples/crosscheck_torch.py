"""Compute the quantities of ``refimpl crosscheck`` with PyTorch (float64, autograd) and compare.

    refimpl crosscheck --make-example in.npz
    refimpl crosscheck in.npz out.npz
    python examples/crosscheck_torch.py in.npz out.npz

Every key of the format (docs/crosscheck/reference.md) is derived here from its definition, for
Gaussian and categorical inputs (``policy``): the policy from the documented parameter layout,
log-probabilities, entropy and KL from ``torch.distributions``, every gradient by autograd,
the Fisher-vector product as the Hessian-vector product of the mean KL (double backprop), and
a textbook CG of its own. TRPO's
beta uses x^T (F + lambda I) x (the lecture's "TRPO: Final algorithm", step 5), not refimpl's
x^T g: the two agree up to rounding.

Prints, per key, the norm-wise relative error max|torch - refimpl| / max|refimpl| and the
tolerance of docs/crosscheck/reference.md; for the CG keys that tolerance needs the magnification K
of truncated CG, which this script estimates with its own CG. Exit status 0 if every key agrees.
Needs only numpy and torch; refimpl itself is not imported.
"""
import sys

import numpy as np
import torch
from torch.distributions import Categorical, Normal, kl_divergence

torch.set_default_dtype(torch.float64)
EPS = float(np.finfo(np.float64).eps)
CG_TOL = 1e-10
"""CG stops when ||r|| <= CG_TOL ||g|| (docs/crosscheck/reference.md, "Conjugate gradient,
exactly")."""
CG_KEYS = ("cg_x", "beta", "step")


def is_categorical(d):
    return str(d.get("policy", "gaussian")) == "categorical"


def make_policy(d):
    """theta -> Normal(mean(obs), exp(log_std)), or Categorical(logits(obs)) for a categorical
    input, for the flat layout of docs/crosscheck/reference.md; ``policy.net(theta)`` gives the
    network's output (the mean or the raw logits) and the entries of theta after it (log_std or
    none)."""
    n_out = int(d["n_actions"]) if is_categorical(d) else d["actions"].shape[1]
    sizes = [d["obs"].shape[1], *d["hidden_sizes"].tolist(), n_out]
    act = torch.tanh if str(d["activation"]) == "tanh" else torch.relu
    obs = torch.from_numpy(d["obs"])

    def net(theta):
        h, k = obs, 0
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = theta[k:k + n_in * n_out].reshape(n_in, n_out)   # (in, out), row-major
            b = theta[k + n_in * n_out:k + n_in * n_out + n_out]
            k += n_in * n_out + n_out
            h = h @ W + b if i == len(sizes) - 2 else act(h @ W + b)
        return h, theta[k:]

    def policy(theta):
        h, log_std = net(theta)
        if is_categorical(d):
            return Categorical(logits=h)
        return Normal(h, log_std.exp().expand_as(h))             # log_std: state-independent
    policy.net = net
    return policy


def per_state(d, x):
    """A Normal's per-dimension log-probabilities, entropies or KLs summed over the action
    dimensions; a Categorical's are per state already."""
    return x if is_categorical(d) else x.sum(-1)


def head(d, policy, theta):
    """The distribution's parameters as docs/crosscheck/reference.md names them: mean, or raw logits
    and probabilities."""
    h = policy.net(theta)[0]
    return {"logits": h, "probs": torch.softmax(h, -1)} if is_categorical(d) else {"mean": h}


def conjugate_gradient(Avp, b, iters):
    """Textbook CG from x = 0: at most ``iters`` iterations, stopping when ||r|| <= CG_TOL ||b||
    or p^T A p <= 0. Returns (x, iterations run, whether the curvature was non-positive)."""
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr, threshold = r @ r, CG_TOL * torch.linalg.norm(b)
    for k in range(iters):
        if torch.sqrt(rr) <= threshold:
            return x, k, False
        Ap = Avp(p)
        if p @ Ap <= 0:
            return x, k, True
        alpha = rr / (p @ Ap)
        x, r = x + alpha * p, r - alpha * Ap
        rr_new = r @ r
        p, rr = r + rr_new / rr * p, rr_new
    return x, iters, False


def trpo_step(g, A, delta, iters):
    """x ~ A^-1 g by CG, beta = sqrt(2 delta / x^T A x) (0 if that is not > 0), step = beta x."""
    x, k, nonpositive = conjugate_gradient(A, g, iters)
    xAx = x @ A(x)
    beta = torch.sqrt(2 * delta / xAx) if xAx > 0 else torch.zeros(())
    return {"cg_x": x, "cg_iterations_run": torch.tensor(k),
            "cg_nonpositive_curvature": torch.tensor(nonpositive), "beta": beta, "step": beta * x}


def fisher_product(d, policy, theta):
    """v -> F v: the Hessian of theta' -> mean_s KL(pi_theta || pi_theta') at theta' = theta."""
    kl_at_theta = per_state(d, kl_divergence(policy(theta.detach()), policy(theta))).mean()
    dkl = torch.autograd.grad(kl_at_theta, theta, create_graph=True)[0]
    return lambda v: torch.autograd.grad(dkl @ v, theta, retain_graph=True)[0]


def crosscheck(d):
    """Every output key of docs/crosscheck/reference.md, as float64 / int64 / bool arrays."""
    policy, t = make_policy(d), lambda k: torch.from_numpy(d[k])
    theta, theta_new = t("theta").requires_grad_(), t("theta_new").requires_grad_()
    a, adv, eps = t("actions"), t("advantages"), float(d["clip_eps"])
    grad_of = lambda y, x: torch.autograd.grad(y, x, retain_graph=True)[0]  # noqa: E731

    pi, pi_new = policy(theta), policy(theta_new)
    logp, logp_new = per_state(d, pi.log_prob(a)), per_state(d, pi_new.log_prob(a))
    kl = per_state(d, kl_divergence(policy(theta.detach()), pi_new)).mean()  # KL(old || new)
    ratio = torch.exp(logp_new - logp.detach())
    clip = torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()
    clipped = ((adv > 0) & (ratio > 1 + eps)) | ((adv < 0) & (ratio < 1 - eps))
    surrogate = (ratio * adv).mean()
    g = grad_of((logp * adv).mean(), theta)
    F = fisher_product(d, policy, theta)
    A = lambda v: F(v) + float(d["damping"]) * v                           # noqa: E731
    out = {"format_version": torch.tensor(1), **head(d, policy, theta), "logp": logp,
           "entropy": per_state(d, pi.entropy()).mean(), "kl": kl, "grad": g, "fvp": F(t("v")),
           **trpo_step(g, A, float(d["delta"]), int(d["cg_iters"])),
           "ratio": ratio, "clip_objective": clip, "clip_grad": grad_of(clip, theta_new),
           "clip_fraction": clipped.double().mean(), "surrogate": surrogate,
           "surrogate_grad": grad_of(surrogate, theta_new), "kl_grad": grad_of(kl, theta_new),
           **other_conventions(d, policy, theta, theta_new, ratio.detach(), eps)}
    return {k: v.detach().numpy() for k, v in out.items()}


def other_conventions(d, policy, theta, theta_new, ratio, eps):
    """KL(new || old) and the sampled KL estimators k1, k3 and clip share |kappa - 1| > eps that
    other libraries log (docs/crosscheck/reference.md)."""
    log_ratio = ratio.log()
    return {"kl_reverse": per_state(d, kl_divergence(policy(theta_new), policy(theta))).mean(),
            "approx_kl_k1": (-log_ratio).mean(), "approx_kl_k3": ((ratio - 1) - log_ratio).mean(),
            "clip_fraction_outside": ((ratio - 1).abs() > eps).double().mean()}


def cg_amplification(d, samples=20, size=EPS, seed=0):
    """K per CG key (docs/crosscheck/reference.md, "How to compare"): the largest relative response
    of this script's CG outputs to perturbing g and every F v by ``size`` of their largest entry."""
    policy, theta = make_policy(d), torch.from_numpy(d["theta"]).requires_grad_()
    a, adv = torch.from_numpy(d["actions"]), torch.from_numpy(d["advantages"])
    g = torch.autograd.grad((per_state(d, policy(theta).log_prob(a)) * adv).mean(), theta)[0]
    F, gen = fisher_product(d, policy, theta), torch.Generator().manual_seed(seed)
    perturb = lambda y: y + size * y.abs().max() * torch.randn(y.shape, generator=gen)  # noqa
    A = lambda v: F(v) + float(d["damping"]) * v                           # noqa: E731
    ref = trpo_step(g, A, float(d["delta"]), int(d["cg_iters"]))
    K = dict.fromkeys(CG_KEYS, 0.0)
    for _ in range(samples if g.any() else 0):
        new = trpo_step(perturb(g), lambda v: perturb(A(v)), float(d["delta"]), int(d["cg_iters"]))
        for k in CG_KEYS:
            K[k] = max(K[k], float((new[k] - ref[k]).abs().max() / (size * ref[k].abs().max())))
    return K


def main(in_path, out_path):
    d, ref = dict(np.load(in_path)), dict(np.load(out_path))
    ours, K = crosscheck(d), cg_amplification(d)
    n = d["theta"].size + d["obs"].shape[0] + 16      # rounding steps (crosscheck/reference.md)
    ok = True
    for key, value in ours.items():
        if value.dtype.kind != "f":
            good = np.array_equal(value, ref[key])
            print(f"{key:26s} {value} vs {ref[key]} {'ok' if good else 'MISMATCH'}")
        else:
            err = np.max(np.abs(value - ref[key])) / max(np.max(np.abs(ref[key])), 1e-300)
            tol = max(10 * K[key] * n * EPS, 1e-10) if key in CG_KEYS else 1e-10
            good = err <= tol
            print(f"{key:26s} {err:.2e} (tolerance {tol:.0e}) {'ok' if good else 'MISMATCH'}")
        ok &= bool(good)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]) if len(sys.argv) == 3 else __doc__)
