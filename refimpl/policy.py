"""Gaussian MLP policy pi_phi(a|s) = N(mu_phi(s), diag(exp(log_std)^2)).

The flat policy vector is ``phi = [MLP parameters, log_std]``: the mean network's layers in
``nn.MLP`` layout, then a state-independent log-std vector of length ``act_dim`` (the layout
of ``docs/crosscheck.md``). ``forward`` evaluates the distribution's parameters for a batch;
``vjp`` chains gradients w.r.t. (mean, log_std) back to phi; ``jvp`` pushes a direction in phi
forward to (d mean, d log_std). Fisher-vector products (``fisher.py``) are built from these two.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl import distributions as dist
from refimpl.nn import MLP

POLICY_HEAD_GAIN = 0.01
"""Gain of the mean network's orthogonally initialised output layer. With 0.01 the initial mean
is nearly 0 for every state, so the first policy is close to the state-independent N(0, sigma^2)
and its actions are not biased by random weights (Andrychowicz et al. 2021, "What matters in
on-policy reinforcement learning?", recommend a last policy layer 100x smaller than usual;
OpenAI baselines' PPO2 and CleanRL use 0.01)."""


@dataclass(frozen=True)
class GaussianPolicy:
    """Layout of a diagonal-Gaussian policy over ``act_dim`` actions with an MLP mean.

    Attributes
    ----------
    net : MLP
        Mean network ``obs_dim -> hidden... -> act_dim``.
    """

    net: MLP

    @classmethod
    def build(cls, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64),
              activation: str = "tanh") -> "GaussianPolicy":
        return cls(MLP((obs_dim, *hidden, act_dim), activation))

    @property
    def obs_dim(self) -> int:
        return self.net.sizes[0]

    @property
    def act_dim(self) -> int:
        return self.net.sizes[-1]

    @property
    def n_params(self) -> int:
        return self.net.n_params + self.act_dim

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views (mean-network parameters, log_std) into phi."""
        return phi[:self.net.n_params], phi[self.net.n_params:]

    def init(self, rng: np.random.Generator, log_std: float = 0.0) -> np.ndarray:
        """Orthogonal init with mean-head gain POLICY_HEAD_GAIN and log_std = ``log_std``.

        Tested in ``tests/test_policy.py::test_init_has_head_gain_0_01_and_the_given_log_std``.
        """
        return np.concatenate([self.net.init(rng, output_gain=POLICY_HEAD_GAIN),
                               np.full(self.act_dim, float(log_std))])

    def forward(self, phi: np.ndarray, obs: np.ndarray):
        """Distribution parameters at a batch of states.

        Parameters
        ----------
        phi : ndarray, shape (n_params,)
        obs : ndarray, shape (N, obs_dim)

        Returns
        -------
        mean : ndarray, shape (N, act_dim)
        log_std : ndarray, shape (act_dim,)  (a view into phi)
        cache : what ``vjp`` and ``jvp`` need.
        """
        theta, log_std = self.split(phi)
        mean, cache = self.net.forward(theta, obs)
        return mean, log_std, cache

    def log_prob(self, phi: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi_phi(a|s) for a batch: ``distributions.log_prob`` of ``forward``'s output.

        obs (N, obs_dim), act (N, act_dim) -> (N,).
        """
        mean, log_std, _ = self.forward(phi, obs)
        return dist.log_prob(mean, log_std, act)

    def vjp(self, phi: np.ndarray, cache, dmean: np.ndarray, dlog_std: np.ndarray) -> np.ndarray:
        """Chain rule to phi: returns sum_n [J_mean^T dmean_n] concatenated with sum_n dlog_std_n.

        dmean : (N, act_dim); dlog_std : (N, act_dim) or (act_dim,) (already summed over N).
        Returns an (n_params,) vector.
        """
        theta, _ = self.split(phi)
        dtheta, _ = self.net.vjp(theta, cache, dmean)
        dls = dlog_std if dlog_std.ndim == 1 else dlog_std.sum(axis=0)
        return np.concatenate([dtheta, dls])

    def jvp(self, phi: np.ndarray, cache, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Directional derivative of (mean, log_std) along v: (J_mean v_theta, v_log_std)."""
        theta, _ = self.split(phi)
        v_theta, v_log_std = self.split(v)
        return self.net.jvp(theta, cache, v_theta), v_log_std

    def score(self, phi: np.ndarray, obs: np.ndarray, act: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
        """sum_n w_n grad_phi log pi_phi(a_n|s_n), shape (n_params,).

        With w_n = A_n / N this is the lecture's policy gradient g ("TRPO: Final algorithm",
        step 3). One backward pass for the whole batch.
        """
        mean, log_std, cache = self.forward(phi, obs)
        dmean, dlog_std = dist.log_prob_grad(mean, log_std, act)
        w = weights[:, None]
        return self.vjp(phi, cache, dmean * w, dlog_std * w)
