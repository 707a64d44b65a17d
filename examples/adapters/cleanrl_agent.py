"""Cross-check a CleanRL-style PPO agent against refimpl, in float64.

    python examples/adapters/cleanrl_agent.py OUT_DIR

CleanRL is a set of scripts, not a library, so the ``Agent`` of its
``cleanrl/ppo_continuous_action.py`` is defined here as that file defines it: ``critic`` and
``actor_mean`` Sequentials of orthogonally initialised Linear layers (gain sqrt(2), output
gains 1 and 0.01) with tanh between them, and the state-independent ``actor_logstd``
parameter of shape (1, act_dim). So are the script's GAE loop and one minibatch of its update,
with its defaults (norm_adv, clip_vloss, clip_coef 0.2, ent_coef 0, vf_coef 0.5):

    GAE      nextnonterminal = 1 - done, done = terminated or truncated (a time limit ends the
             bootstrap like a terminal state); the last step bootstraps from V(next_obs)
    policy   pg_loss = mean(max(-A' kappa, -A' clip(kappa, 1 - eps, 1 + eps))),
             A' = (A - mean A) / (std A + 1e-8), torch's 1/(N - 1) std
    value    v_loss = 1/2 mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))
    logged   old_approx_kl = mean(-log kappa), approx_kl = mean((kappa - 1) - log kappa),
             clipfrac = mean(|kappa - 1| > eps)

and loss = pg_loss - ent_coef entropy + vf_coef v_loss is differentiated by autograd. The
rollout is T = 16 steps of K = 2 environments with HalfCheetah-v5 observations and random
rewards and episode ends; everything is float64 (CleanRL's storage tensors are torch.zeros,
float32 by default: here they are float64, and the agent is ``.double()``).

IN.npz holds the agent's weights in refimpl's layout, the batch, the GAE block and the critic
block (critic_theta = the critic now, values_old = its values at collection time, 0.1 N(0, I)
away); THEIRS.npz the quantities above. Expected diagnoses: ``advantages_normalized``,
``clip_fraction_outside`` and ``truncated_as_terminated``; with those applied every key passes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions.normal import Normal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

CLIP_COEF, VF_COEF, ENT_COEF, GAMMA, GAE_LAMBDA = 0.2, 0.5, 0.0, 0.99, 0.95
"""ppo_continuous_action.py's defaults."""


def _init(layer, std=np.sqrt(2)):
    """Orthogonal weight of gain ``std``, zero bias (CleanRL's ``layer_init``)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


class Agent(nn.Module):
    """ppo_continuous_action.py's agent, with the hidden width as an argument (64 there)."""

    def __init__(self, obs_dim, act_dim, width=64):
        super().__init__()
        self.critic = nn.Sequential(_init(nn.Linear(obs_dim, width)), nn.Tanh(),
                                    _init(nn.Linear(width, width)), nn.Tanh(),
                                    _init(nn.Linear(width, 1), std=1.0))
        self.actor_mean = nn.Sequential(_init(nn.Linear(obs_dim, width)), nn.Tanh(),
                                        _init(nn.Linear(width, width)), nn.Tanh(),
                                        _init(nn.Linear(width, act_dim), std=0.01))
        self.actor_logstd = nn.Parameter(torch.zeros(1, act_dim))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        mean = self.actor_mean(x)
        probs = Normal(mean, torch.exp(self.actor_logstd.expand_as(mean)))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(x)


def linears(seq):
    return [m for m in seq if isinstance(m, nn.Linear)]


def cleanrl_gae(rewards, values, dones, next_value, next_done):
    """The script's GAE loop; dones[t] is the done flag of the observation at step t."""
    T = rewards.shape[0]
    advantages, lastgaelam = torch.zeros_like(rewards), 0.0
    for t in reversed(range(T)):
        nonterminal = 1.0 - (next_done if t == T - 1 else dones[t + 1])
        nextvalues = next_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + GAMMA * nextvalues * nonterminal - values[t]
        advantages[t] = lastgaelam = delta + GAMMA * GAE_LAMBDA * nonterminal * lastgaelam
    return advantages, advantages + values


def cleanrl_minibatch(agent, obs, actions, logprobs, advantages, returns, values):
    """One minibatch of the script's update (the whole batch), its loss differentiated; returns
    what it computes and logs."""
    _, newlogprob, entropy, newvalue = agent.get_action_and_value(obs, actions)
    logratio = newlogprob - logprobs
    ratio = logratio.exp()
    with torch.no_grad():
        old_approx_kl, approx_kl = (-logratio).mean(), ((ratio - 1) - logratio).mean()
        clipfrac = ((ratio - 1.0).abs() > CLIP_COEF).double().mean()
    adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - CLIP_COEF, 1 + CLIP_COEF)).mean()
    newvalue = newvalue.view(-1)
    v_clipped = values + torch.clamp(newvalue - values, -CLIP_COEF, CLIP_COEF)
    v_loss = 0.5 * torch.max((newvalue - returns) ** 2, (v_clipped - returns) ** 2).mean()
    loss = pg_loss - ENT_COEF * entropy.mean() + v_loss * VF_COEF
    agent.zero_grad()
    loss.backward()
    return {"ratio": ratio.detach().numpy(), "clip_objective": np.float64(-pg_loss.item()),
            "clip_grad": -_common.flat_grad(linears(agent.actor_mean), [agent.actor_logstd]),
            "clip_fraction": np.float64(clipfrac.item()),
            "approx_kl_k1": np.float64(old_approx_kl.item()),
            "approx_kl_k3": np.float64(approx_kl.item()),
            "value_pred": newvalue.detach().numpy(), "value_loss": np.float64(v_loss.item()),
            "value_grad": _common.flat_grad(linears(agent.critic)) / VF_COEF}


def run(out_dir, seed=0, T=16, K=2, width=8):
    """(report as written, report with the diagnosed conventions applied)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    obs = _common.halfcheetah_observations(T * K + 1, seed)
    obs, next_obs = obs[:-1].reshape(T, K, -1), obs[-1:].repeat(K, 0)
    agent = Agent(obs.shape[-1], 6, width).double()
    pi, vf, log_std = linears(agent.actor_mean), linears(agent.critic), agent.actor_logstd
    theta, theta_v_old = _common.flat(pi, [log_std]), _common.flat(vf)
    terminated, truncated = rng.random((2, T, K)) < 0.1
    rewards = rng.standard_normal((T, K))
    with torch.no_grad():
        b_obs = torch.from_numpy(obs.reshape(T * K, -1))
        actions, logprobs, entropy, values = agent.get_action_and_value(b_obs)
        mean = agent.actor_mean(b_obs)
        values = values.view(T, K)
        next_value = agent.get_value(torch.from_numpy(next_obs)).view(K)
        done = torch.from_numpy((terminated | truncated).astype(np.float64))
        dones = torch.cat([torch.zeros(1, K, dtype=torch.float64), done[:-1]])
        advantages, returns = cleanrl_gae(torch.from_numpy(rewards), values, dones, next_value,
                                          done[-1])
    theta_new = theta + 0.05 * rng.standard_normal(theta.size)
    critic_theta = theta_v_old + 0.1 * rng.standard_normal(theta_v_old.size)
    _common.load_flat(theta_new, pi, [log_std])
    _common.load_flat(critic_theta, vf)
    b_values = values.reshape(-1)
    update = cleanrl_minibatch(agent, b_obs, actions, logprobs, advantages.reshape(-1),
                               returns.reshape(-1), b_values)
    theirs = {"mean": mean.numpy(), "logp": logprobs.numpy(),
              "entropy": np.float64(entropy.mean().item()), **update,
              "gae_advantages": advantages.numpy(), "returns": returns.numpy()}
    inputs = {"hidden_sizes": np.array([width, width], dtype=np.int64),
              "activation": np.array("tanh"), "theta": theta, "obs": b_obs.numpy(),
              "actions": actions.numpy(), "advantages": advantages.reshape(-1).numpy(),
              "v": rng.standard_normal(theta.size), "theta_new": theta_new,
              "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
              "clip_eps": np.float64(CLIP_COEF),
              "rewards": rewards, "values": values.numpy(), "terminated": terminated,
              "truncated": truncated, "final_values": rng.standard_normal((T, K)),
              "last_values": next_value.numpy(), "gamma": np.float64(GAMMA),
              "lam": np.float64(GAE_LAMBDA), "critic_theta": critic_theta,
              "critic_hidden_sizes": np.array([width, width], dtype=np.int64),
              "value_targets": returns.reshape(-1).numpy(), "values_old": b_values.numpy(),
              "vf_clip": np.float64(CLIP_COEF)}
    raw = _common.write_and_compare(out_dir, "cleanrl", inputs, theirs)
    applied_in = {**inputs, "advantages": _common.torch_standardize(inputs["advantages"]),
                  "terminated": terminated | truncated}
    return raw, _common.write_and_compare(out_dir, "cleanrl_applied", applied_in,
                                          _common.clip_fraction_as_outside(theirs))


if __name__ == "__main__":
    sys.exit(_common.main(__doc__, run, "CleanRL-style agent"))
