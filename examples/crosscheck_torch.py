"""Compute the quantities of ``refimpl crosscheck`` with PyTorch (float64, autograd) and compare.

    refimpl crosscheck --make-example in.npz
    refimpl crosscheck in.npz out.npz
    python examples/crosscheck_torch.py in.npz out.npz

Prints, per key, the norm-wise relative error max|torch - refimpl| / max|refimpl|; a correct
float64 implementation stays below 1e-10. Format and equations: docs/crosscheck.md.
Needs only numpy and torch; refimpl itself is not imported.
"""
import sys

import numpy as np
import torch
from torch.distributions import Normal, kl_divergence

torch.set_default_dtype(torch.float64)


def make_policy(d):
    """theta -> Normal(mean(obs), exp(log_std)) for the flat layout of docs/crosscheck.md."""
    sizes = [d["obs"].shape[1], *d["hidden_sizes"].tolist(), d["actions"].shape[1]]
    act = torch.tanh if str(d["activation"]) == "tanh" else torch.relu
    obs = torch.from_numpy(d["obs"])

    def policy(theta):
        h, k = obs, 0
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = theta[k:k + n_in * n_out].reshape(n_in, n_out)   # (in, out), row-major
            b = theta[k + n_in * n_out:k + n_in * n_out + n_out]
            k += n_in * n_out + n_out
            h = h @ W + b if i == len(sizes) - 2 else act(h @ W + b)
        return Normal(h, theta[k:].exp())                        # log_std: state-independent
    return policy


def conjugate_gradient(Avp, b, iters):
    """Textbook CG from x = 0, no tolerance, stopping only on r = 0 or p^T A p <= 0."""
    x, r, p = torch.zeros_like(b), b.clone(), b.clone()
    rr, k = r @ r, 0
    while k < iters and rr > 0:
        Ap = Avp(p)
        if p @ Ap <= 0:
            break
        alpha = rr / (p @ Ap)
        x, r, k = x + alpha * p, r - alpha * Ap, k + 1
        rr_new = r @ r
        p, rr = r + rr_new / rr * p, rr_new
    return x, k


def crosscheck(d):
    policy, t = make_policy(d), lambda k: torch.from_numpy(d[k])
    theta, theta_new = t("theta").requires_grad_(), t("theta_new").requires_grad_()
    a, adv, eps = t("actions"), t("advantages"), float(d["clip_eps"])
    grad_of = lambda y, x: torch.autograd.grad(y, x, retain_graph=True)[0]  # noqa: E731

    pi, pi_new = policy(theta), policy(theta_new)
    logp, logp_new = pi.log_prob(a).sum(-1), pi_new.log_prob(a).sum(-1)
    kl = kl_divergence(policy(theta.detach()), pi_new).sum(-1).mean()   # KL(old || new)
    ratio = torch.exp(logp_new - logp.detach())
    clip = torch.min(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()
    surrogate = (ratio * adv).mean()
    g = grad_of((logp * adv).mean(), theta)

    # Fisher-vector product: Hessian of theta' -> KL(pi_theta || pi_theta') at theta' = theta
    kl_at_theta = kl_divergence(policy(theta.detach()), pi).sum(-1).mean()
    dkl = torch.autograd.grad(kl_at_theta, theta, create_graph=True)[0]
    F = lambda v: grad_of(dkl @ v, theta)                                  # noqa: E731
    A = lambda v: F(v) + float(d["damping"]) * v                           # noqa: E731
    x, iters = conjugate_gradient(A, g, int(d["cg_iters"]))
    xAx = x @ A(x)
    beta = torch.sqrt(2 * float(d["delta"]) / xAx) if xAx > 0 else torch.tensor(0.0)
    return {"mean": pi.mean, "logp": logp, "entropy": pi.entropy().sum(-1).mean(), "kl": kl,
            "grad": g, "fvp": F(t("v")), "cg_x": x, "cg_iterations_run": torch.tensor(iters),
            "beta": beta, "step": beta * x, "ratio": ratio, "clip_objective": clip,
            "clip_grad": grad_of(clip, theta_new), "surrogate": surrogate,
            "surrogate_grad": grad_of(surrogate, theta_new), "kl_grad": grad_of(kl, theta_new)}


def main(in_path, out_path):
    d, ref = dict(np.load(in_path)), dict(np.load(out_path))
    worst = 0.0
    for key, value in crosscheck(d).items():
        ours, theirs = value.detach().numpy(), ref[key]
        err = np.max(np.abs(ours - theirs)) / max(np.max(np.abs(theirs)), 1e-300)
        worst = max(worst, err)
        print(f"{key:20s} {err:.2e}")
    print("OK" if worst <= 1e-10 else "MISMATCH", f"(largest relative error {worst:.2e})")
    return 0 if worst <= 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]) if len(sys.argv) == 3 else __doc__)
