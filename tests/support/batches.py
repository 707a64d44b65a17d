"""A synthetic batch for the update tests: a linear policy and a linear critic (hidden=()), so
that every quantity an update logs can be written out in closed form in the test.

    mean(s) = s W + b,  pi(a|s) = N(mean(s), diag(sigma^2)),  V(s) = s w_v + b_v
    phi = [W (obs_dim x act_dim, row-major), b, log sigma],  theta_v = [w_v, b_v]
"""
import numpy as np

from refimpl.algos.agent import Agent, FlatBatch
from refimpl.engine.config import Config

LOG_2PI = np.log(2.0 * np.pi)


def linear_mean(phi, obs, act_dim):
    """mean(s) = s W + b and log sigma, read from phi's documented layout."""
    d = obs.shape[1]
    W = phi[:d * act_dim].reshape(d, act_dim)
    b = phi[d * act_dim:d * act_dim + act_dim]
    return obs @ W + b, phi[-act_dim:]


def gaussian_logp(phi, obs, actions):
    """log N(a; s W + b, diag sigma^2), summed over action dimensions."""
    mean, log_std = linear_mean(phi, obs, actions.shape[1])
    z = (actions - mean) / np.exp(log_std)
    return np.sum(-0.5 * z ** 2 - log_std - 0.5 * LOG_2PI, axis=1)


def linear_scores(phi, obs, actions):
    """grad_phi log pi_phi(a_n|s_n) per sample, shape (N, P), from the closed forms: with
    u = (a - mean) / sigma^2,  d/dW = s u^T (row-major),  d/db = u,
    d/dlog sigma = (a - mean)^2 / sigma^2 - 1."""
    n, d = obs.shape
    k = actions.shape[1]
    mean, log_std = linear_mean(phi, obs, k)
    inv_var = np.exp(-2 * log_std)
    u = (actions - mean) * inv_var
    return np.column_stack([(obs[:, :, None] * u[:, None, :]).reshape(n, d * k), u,
                            (actions - mean) ** 2 * inv_var - 1])


def clip_by_norm(g, max_norm):
    """PyTorch's clip_grad_norm_ rule: g * c with c = max_norm / (||g|| + 1e-6), if c < 1."""
    c = max_norm / (np.linalg.norm(g) + 1e-6)
    return g * c if c < 1 else g


class TextbookAdam:
    """Kingma & Ba (2015), Algorithm 1, descending on the gradients it is given."""

    def __init__(self, theta, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.theta, self.lr, self.b1, self.b2, self.eps = theta.copy(), lr, b1, b2, eps
        self.m, self.v, self.t = np.zeros_like(theta), np.zeros_like(theta), 0

    def step(self, g):
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mhat, vhat = self.m / (1 - self.b1 ** self.t), self.v / (1 - self.b2 ** self.t)
        self.theta = self.theta - self.lr * mhat / (np.sqrt(vhat) + self.eps)


def gaussian_kl(phi_p, phi_q, obs, act_dim):
    """mean_s KL(N_p(.|s) || N_q(.|s)) of two linear Gaussian policies, closed form."""
    mp, lp = linear_mean(phi_p, obs, act_dim)
    mq, lq = linear_mean(phi_q, obs, act_dim)
    sp2, sq2 = np.exp(2 * lp), np.exp(2 * lq)
    return float(np.mean(np.sum(lq - lp + (sp2 + (mp - mq) ** 2) / (2 * sq2) - 0.5, axis=1)))


def gaussian_entropy(phi, act_dim):
    """H = sum_j log sigma_j + act_dim (1 + log 2 pi) / 2."""
    return float(np.sum(phi[-act_dim:]) + 0.5 * act_dim * (1.0 + LOG_2PI))


def linear_values(theta_v, obs):
    return obs @ theta_v[:-1] + theta_v[-1]


def standardised(adv):
    """(A - mean A) / (std A + 1e-8), the documented standardisation, with numpy's mean/std."""
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def agent_and_batch(algo, n=40, obs_dim=3, act_dim=2, seed=0, adv_mean=0.0, **overrides):
    """(cfg, agent, data): a linear agent from ``Agent.create`` and a batch of ``n`` rows whose
    actions are sampled from pi_old, with advantages N(adv_mean, 1), returns N(0, 1) and
    values = V_theta_v(s) of the agent's critic."""
    cfg = Config.for_algo(algo, hidden=(), **overrides)
    rng = np.random.default_rng(seed)
    agent = Agent.create(cfg.agent_spec(), obs_dim, act_dim, rng)
    # a policy that depends on the state, so that every parameter matters
    agent.phi[:-act_dim] = 0.5 * rng.standard_normal(agent.phi.size - act_dim)
    agent.phi[-act_dim:] = rng.uniform(-0.5, 0.5, act_dim)
    obs = rng.standard_normal((n, obs_dim))
    mean, log_std = linear_mean(agent.phi, obs, act_dim)
    actions = mean + np.exp(log_std) * rng.standard_normal((n, act_dim))
    # pi_old's log-probabilities and means as training computes them (train.flatten), so that
    # kappa(phi_old) = 1 and KL(pi_old || pi_old) = 0 exactly
    mean, log_std, _ = agent.policy.forward(agent.phi, obs)
    data = FlatBatch(obs, actions, agent.policy.log_prob(agent.phi, obs, actions),
                     (mean, log_std.copy()), adv_mean + rng.standard_normal(n), rng.standard_normal(n),
                     linear_values(agent.theta_v, obs))
    return cfg, agent, data
