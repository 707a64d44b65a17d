"""The worked comparison of docs/crosscheck/tutorial.md: a fresh PyTorch policy, the quantities
of one PPO update (and TRPO's gradient and Fisher-vector product) computed the way PyTorch
implementations usually compute them, and the two files ``refimpl crosscheck compare`` reads.

    python examples/crosscheck_tutorial.py DIR                      # DIR/in.npz, DIR/theirs.npz
    refimpl crosscheck compare DIR/in.npz DIR/theirs.npz
    python examples/crosscheck_tutorial.py DIR --their-advantages   # IN with their advantages

The policy is a tanh MLP for the mean and a state-independent log-std, in float64. The update
standardises the advantages, as Stable-Baselines3 and CleanRL do: ``compare`` names that
convention, and ``--their-advantages`` writes IN.npz with the standardised advantages, the
setting its report asks for, after which every key given passes. Needs only numpy and torch;
refimpl itself is not imported. Tested in
``tests/crosscheck/test_torch_oracle.py::test_tutorial_comparison_gives_the_documented_report``.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

torch.set_default_dtype(torch.float64)          # float64: float32 cannot be compared at 1e-10
N, CLIP_EPS = 16, 0.2


def fresh_policy(seed=0):
    """Your model, as a PPO or TRPO implementation in PyTorch builds it: a tanh MLP for the mean
    (3 -> 8 -> 8 -> 2) and a state-independent log-std."""
    torch.manual_seed(seed)
    mean = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    log_std = nn.Parameter(torch.full((2,), -0.5))
    return mean, log_std


def flat(tensors):
    """The parameters (or tensors shaped like them: their gradients) in refimpl's layout: per
    nn.Linear its weight as (in, out) row-major, then its bias; log_std last. ``parameters()``
    lists each layer's weight, then its bias, in order; a weight is stored (out, in)."""
    return torch.cat([(t.T if t.dim() == 2 else t).reshape(-1) for t in tensors]).detach().numpy()


def unflat(vector, like):
    """A vector of refimpl's layout as tensors shaped like ``like`` (the inverse of ``flat``)."""
    parts, k = [], 0
    for t in like:
        chunk = torch.from_numpy(vector[k:k + t.numel()])
        parts.append(chunk.reshape(t.shape[1], t.shape[0]).T if t.dim() == 2 else chunk)
        k += t.numel()
    return parts


def their_update(mean, log_std, obs, actions, advantages, v):
    """One PPO update as PyTorch implementations write it, and the quantities refimpl names:
    at theta (the policy before the update) the mean, log-probabilities, entropy, the policy
    gradient g and the Fisher-vector product F v as the Hessian-vector product of the mean KL;
    then ten epochs of Adam on the clipped loss (the batch as one minibatch) give theta_new, at
    which the ratio, the KL, the clipped objective and its gradient are taken. Returns (THEIRS
    under refimpl's key names, theta_new)."""
    params = [*mean.parameters(), log_std]
    dist = lambda: Normal(mean(obs), log_std.exp().expand(len(obs), -1))     # noqa: E731
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)       # standardised
    with torch.no_grad():
        pi_old = dist()
        logp_old = pi_old.log_prob(actions).sum(-1)

    def ppo_loss():
        ratio = (dist().log_prob(actions).sum(-1) - logp_old).exp()
        return -torch.min(ratio * adv, ratio.clamp(1 - CLIP_EPS, 1 + CLIP_EPS) * adv).mean()

    pi = dist()
    g = torch.autograd.grad((pi.log_prob(actions).sum(-1) * adv).mean(), params)
    kl = kl_divergence(pi_old, dist()).sum(-1).mean()          # 0 at theta; its Hessian is F
    grad_kl = torch.autograd.grad(kl, params, create_graph=True)
    fvp = torch.autograd.grad(sum((d * u).sum() for d, u in zip(grad_kl, unflat(v, params))),
                              params)
    theirs = dict(mean=pi.mean.detach().numpy(), logp=logp_old.numpy(),
                  entropy=pi.entropy().sum(-1).mean().item(), grad=flat(g), fvp=flat(fvp))

    optimizer = torch.optim.Adam(params, lr=3e-3)
    for epoch in range(10):
        optimizer.zero_grad()
        ppo_loss().backward()
        optimizer.step()
    loss = ppo_loss()
    theirs["clip_grad"] = -flat(torch.autograd.grad(loss, params))
    with torch.no_grad():
        pi_new = dist()
        ratio = (pi_new.log_prob(actions).sum(-1) - logp_old).exp()
    theirs.update(kl=kl_divergence(pi_old, pi_new).sum(-1).mean().item(), ratio=ratio.numpy(),
                  clip_objective=-loss.item(),
                  clip_fraction=((ratio - 1).abs() > CLIP_EPS).double().mean().item(),
                  approx_kl_k3=((ratio - 1) - ratio.log()).mean().item())    # SB3's approx_kl
    return theirs, flat(params)


def main(out_dir, *flags):
    """Write DIR/in.npz (the policy, the batch and the settings) and DIR/theirs.npz."""
    mean, log_std = fresh_policy()
    theta = flat([*mean.parameters(), log_std])
    obs = torch.randn(N, 3)
    with torch.no_grad():
        actions = Normal(mean(obs), log_std.exp()).sample()
    advantages = torch.randn(N)
    v = np.random.default_rng(0).standard_normal(theta.size)   # a direction for F v
    theirs, theta_new = their_update(mean, log_std, obs, actions, advantages, v)
    if "--their-advantages" in flags:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "in.npz", hidden_sizes=np.array([8, 8]), activation=np.array("tanh"),
             theta=theta, obs=obs.numpy(), actions=actions.numpy(),
             advantages=advantages.numpy(), v=v, theta_new=theta_new,
             delta=0.01, damping=0.1, cg_iters=10, clip_eps=CLIP_EPS)
    np.savez(out / "theirs.npz", **theirs)
    print(f"wrote {out / 'in.npz'} and {out / 'theirs.npz'} ({len(theirs)} keys)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]) if len(sys.argv) >= 2 else __doc__)
