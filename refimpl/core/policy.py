"""MLP policies pi_phi(a|s): one network, one flat parameter vector phi, and a head distribution.

* ``GaussianPolicy``: pi_phi(a|s) = N(mu_phi(s), diag(exp(log_std)^2)) for continuous (Box)
  actions. ``phi = [MLP parameters, log_std]``: the mean network's layers in ``nn.MLP`` layout,
  then a state-independent log-std vector of length ``act_dim`` (the layout of
  ``docs/crosscheck/reference.md``). Head distribution: ``distributions.py``.
* ``CategoricalPolicy``: pi_phi(a|s) = softmax(z_phi(s))_a over K discrete actions.
  ``phi`` = the logits network's layers in ``nn.MLP`` layout, nothing else. Head distribution:
  ``categorical.py``.

The head distribution is the only thing that differs. Both classes implement one small
interface, which is all that ``fisher.py``, ``objectives.py``, the algorithms and the rollout
use, so their text is the same for either head. The distribution's parameters at a batch of
states are a tuple ``params`` -- (mean (N, d), log_std (d,)) for the Gaussian, (logits (N, K),)
for the categorical -- and a gradient or direction w.r.t. them, ``dparams``, is a tuple of the
same form::

    dist_params(phi, obs) -> (params, cache)       forward pass
    bind(phi) -> (obs -> params)                   the same, phi's views taken once
    vjp(phi, cache, *dparams) -> (P,)              chain rule to phi: J^T dparams
    jvp(phi, cache, v) -> dparams                  forward mode: J v
    log_prob_of(params, a), score_of(params, a)    log pi(a|s) and d log pi / d params
    kl_of(params_p, params_q), kl_grad_of(...)     KL(p || q) per state and d KL / d params_q
    fisher_metric(params, n)                       dparams -> M dparams / n (M: the head's Fisher)
    fisher_blocks(params), per_state(dparams, n)   M and dparams as (N, k, k), (N, k) arrays
    mean_entropy(phi, obs), add_entropy_grad(...)  H averaged over states and its gradient
    sample_of(params, rng), mode_of(params)        acting
    kind, action_shape, action_dtype               what the rollout stores

Fisher-vector products (``fisher.py``) are one ``jvp``, a ``fisher_metric`` and one ``vjp``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.core import categorical as cat
from refimpl.core import distributions as dist
from refimpl.core.nn import MLP

HEADS = ("gaussian", "categorical")
"""Head distributions: ``gaussian`` for Box action spaces, ``categorical`` for Discrete ones."""

POLICY_HEAD_GAIN = 0.01
"""Gain of the mean network's orthogonally initialised output layer. With 0.01 the initial mean
is nearly 0 for every state, so the first policy is close to the state-independent N(0, sigma^2)
and its actions are not biased by random weights (Andrychowicz et al. 2021, "What matters in
on-policy reinforcement learning?", recommend a last policy layer 100x smaller than usual;
OpenAI baselines' PPO2 and CleanRL use 0.01). The categorical head's logits layer uses it too:
its first policy is nearly uniform over the actions."""


class _MLPPolicy:
    """What both heads share: the network's sizes, log pi and the score, written once on top of
    the interface of the module docstring."""

    net: MLP

    @property
    def obs_dim(self) -> int:
        return self.net.sizes[0]

    @property
    def act_dim(self) -> int:
        """Width of the network's output: the action dimension d (Gaussian) or K (categorical)."""
        return self.net.sizes[-1]

    def log_prob(self, phi: np.ndarray, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """log pi_phi(a|s) for a batch: ``log_prob_of`` the ``dist_params`` at obs.

        obs (N, obs_dim), act (N, *action_shape) -> (N,).
        """
        params, _ = self.dist_params(phi, obs)
        return self.log_prob_of(params, act)

    def score(self, phi: np.ndarray, obs: np.ndarray, act: np.ndarray,
              weights: np.ndarray) -> np.ndarray:
        """sum_n w_n grad_phi log pi_phi(a_n|s_n), shape (n_params,).

        With w_n = A_n / N this is the lecture's policy gradient g ("TRPO: Final algorithm",
        step 3). One backward pass for the whole batch.
        """
        params, cache = self.dist_params(phi, obs)
        w = weights[:, None]
        return self.vjp(phi, cache, *(d * w for d in self.score_of(params, act)))


@dataclass(frozen=True)
class GaussianPolicy(_MLPPolicy):
    """Layout of a diagonal-Gaussian policy over ``act_dim`` actions with an MLP mean.

    Attributes
    ----------
    net : MLP
        Mean network ``obs_dim -> hidden... -> act_dim``.
    """

    net: MLP
    kind = "gaussian"

    @classmethod
    def build(cls, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64),
              activation: str = "tanh") -> "GaussianPolicy":
        return cls(MLP((obs_dim, *hidden, act_dim), activation))

    @property
    def action_shape(self) -> tuple[int, ...]:
        return (self.act_dim,)

    action_dtype = np.float64

    @property
    def n_params(self) -> int:
        return self.net.n_params + self.act_dim

    def split(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Views (mean-network parameters, log_std) into phi."""
        return phi[:self.net.n_params], phi[self.net.n_params:]

    def init(self, rng: np.random.Generator, log_std: float = 0.0,
             scheme: str = "orthogonal") -> np.ndarray:
        """The mean network by ``nn.MLP.init``'s ``scheme`` (orthogonal: mean-head gain
        POLICY_HEAD_GAIN), then log_std = ``log_std``.

        Tested in ``tests/core/test_policy.py::
        test_init_has_head_gain_0_01_hidden_gain_sqrt2_and_the_given_log_std``.
        """
        return np.concatenate([self.net.init(rng, output_gain=POLICY_HEAD_GAIN, scheme=scheme),
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

    def dist_params(self, phi: np.ndarray, obs: np.ndarray):
        """``forward`` as the common interface: ((mean, log_std), cache)."""
        mean, log_std, cache = self.forward(phi, obs)
        return (mean, log_std), cache

    def bind(self, phi: np.ndarray):
        """``obs -> dist_params(phi, obs)[0]`` with phi's layer views taken once (``MLP.bind``),
        for the rollout's one-row passes."""
        theta, log_std = self.split(phi)
        mean_of = self.net.bind(theta)
        return lambda obs: (mean_of(obs)[0], log_std)

    def vjp(self, phi: np.ndarray, cache, dmean: np.ndarray, dlog_std: np.ndarray) -> np.ndarray:
        """Chain rule to phi: returns sum_n [J_mean^T dmean_n] concatenated with sum_n dlog_std_n.

        dmean : (N, act_dim); dlog_std : (N, act_dim) or (act_dim,) (already summed over N).
        Returns an (n_params,) vector.
        """
        theta, _ = self.split(phi)
        grad = np.empty(self.n_params)
        dtheta, dls = self.split(grad)
        self.net.vjp(theta, cache, dmean, out=dtheta)
        if dlog_std.ndim == 1:
            dls[:] = dlog_std
        else:
            np.add.reduce(dlog_std, axis=0, out=dls)  # dlog_std.sum(axis=0), without its wrapper
        return grad

    def jvp(self, phi: np.ndarray, cache, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Directional derivative of (mean, log_std) along v: (J_mean v_theta, v_log_std)."""
        theta, _ = self.split(phi)
        v_theta, v_log_std = self.split(v)
        return self.net.jvp(theta, cache, v_theta), v_log_std


    # ---- the head distribution (distributions.py) on params = (mean, log_std)
    def log_prob_of(self, params: tuple, a: np.ndarray) -> np.ndarray:
        """``distributions.log_prob``: (N,) from mean (N, d), log_std (d,) and a (N, d)."""
        return dist.log_prob(*params, a)

    def score_of(self, params: tuple, a: np.ndarray) -> tuple:
        """``distributions.log_prob_grad``: (dmean, dlog_std), each (N, d)."""
        return dist.log_prob_grad(*params, a)

    def kl_of(self, params_p: tuple, params_q: tuple) -> np.ndarray:
        """``distributions.kl``: KL(p || q) per state, (N,)."""
        return dist.kl(*params_p, *params_q)

    def kl_grad_of(self, params_p: tuple, params_q: tuple) -> tuple:
        """``distributions.kl_grad_q``: (dmean, dlog_std) of KL(p || q) w.r.t. q's parameters."""
        return dist.kl_grad_q(*params_p, *params_q)

    def fisher_metric(self, params: tuple, n: int):
        """(dmean, dlog_std) -> (dmean / (n sigma^2), 2 dlog_std): the Gaussian's Fisher
        M = diag(1/sigma^2, 2) (``distributions.fisher_weights``) with the 1/n of the mean over
        n states. The log-std is shared by all states, so its block (1/n) sum_s 2 v is 2 v."""
        w_mean, w_log_std = dist.fisher_weights(params[1])
        w_mean = w_mean / n
        return lambda dmean, dlog_std: (w_mean * dmean, w_log_std * dlog_std)

    def fisher_blocks(self, params: tuple) -> np.ndarray:
        """M_s = diag(1/sigma^2, 2) per state in the coordinates (mean, log_std), (N, 2d, 2d)."""
        mean, log_std = params
        m = np.concatenate([np.exp(-2.0 * log_std), np.full(self.act_dim, 2.0)])
        return np.broadcast_to(np.diag(m), (len(mean), m.size, m.size))

    def per_state(self, dparams: tuple, n: int) -> np.ndarray:
        """(dmean, dlog_std) as one (n, 2d) row per state (a shared dlog_std repeated)."""
        dmean, dlog_std = dparams
        return np.concatenate([dmean, np.broadcast_to(dlog_std, (n, self.act_dim))], axis=1)

    def mean_entropy(self, phi: np.ndarray, obs: np.ndarray) -> float:
        """H = sum_j [log sigma_j + (1 + log 2 pi) / 2]: the same at every state (``obs`` unused)."""
        return float(dist.entropy(self.split(phi)[1]))

    def add_entropy_grad(self, grad: np.ndarray, ent_coef: float, phi: np.ndarray,
                         params: tuple, cache) -> np.ndarray:
        """grad + ent_coef grad_phi H, in place: dH/dlog_std_j = 1, H has no mean-network term."""
        grad[self.net.n_params:] += ent_coef
        return grad

    def sample_of(self, params: tuple, rng: np.random.Generator) -> np.ndarray:
        """``distributions.sample``: a = mu + sigma xi, (N, d)."""
        return dist.sample(*params, rng)

    def mode_of(self, params: tuple) -> np.ndarray:
        """The most probable action, the mean mu(s): (N, d)."""
        return params[0]


@dataclass(frozen=True)
class CategoricalPolicy(_MLPPolicy):
    """Layout of a categorical policy over K actions, pi_phi(a|s) = softmax(z_phi(s))_a, with an
    MLP ``obs_dim -> hidden... -> K`` of logits; phi is exactly the network's parameters.

    With no hidden layer and one-hot states, z(s) = W[s] + b is the tabular softmax
    pi_theta(a|s) ∝ exp theta[s, a] of ``exact/tabular.py`` with theta = W + b
    (``tests/exact/test_categorical_exact.py``).

    Attributes
    ----------
    net : MLP
        Logits network ``obs_dim -> hidden... -> n_actions``.
    """

    net: MLP
    kind = "categorical"
    action_shape = ()
    action_dtype = np.int64

    @classmethod
    def build(cls, obs_dim: int, n_actions: int, hidden: tuple[int, ...] = (64, 64),
              activation: str = "tanh") -> "CategoricalPolicy":
        return cls(MLP((obs_dim, *hidden, n_actions), activation))

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def init(self, rng: np.random.Generator, scheme: str = "orthogonal") -> np.ndarray:
        """The logits network by ``nn.MLP.init``'s ``scheme``; orthogonal with logits-head gain
        POLICY_HEAD_GAIN gives a nearly uniform first policy.

        Tested in ``tests/core/test_policy.py::
        test_categorical_init_has_head_gain_0_01_and_a_nearly_uniform_first_policy``.
        """
        return self.net.init(rng, output_gain=POLICY_HEAD_GAIN, scheme=scheme)

    def dist_params(self, phi: np.ndarray, obs: np.ndarray):
        """((logits (N, K),), cache) at a batch of states obs (N, obs_dim)."""
        logits, cache = self.net.forward(phi, obs)
        return (logits,), cache

    def bind(self, phi: np.ndarray):
        """``obs -> dist_params(phi, obs)[0]`` with phi's layer views taken once (``MLP.bind``),
        for the rollout's one-row passes."""
        logits_of = self.net.bind(phi)
        return lambda obs: (logits_of(obs)[0],)

    def vjp(self, phi: np.ndarray, cache, dlogits: np.ndarray) -> np.ndarray:
        """Chain rule to phi: sum_n J_n^T dlogits_n, dlogits (N, K). Returns (n_params,)."""
        return self.net.vjp(phi, cache, dlogits)[0]

    def jvp(self, phi: np.ndarray, cache, v: np.ndarray) -> tuple[np.ndarray]:
        """Directional derivative of the logits along v: (J v,), J v of shape (N, K)."""
        return (self.net.jvp(phi, cache, v),)

    # ---- the head distribution (categorical.py) on params = (logits,)
    def log_prob_of(self, params: tuple, a: np.ndarray) -> np.ndarray:
        """``categorical.log_prob``: (N,) from logits (N, K) and integer actions a (N,)."""
        return cat.log_prob(params[0], a)

    def score_of(self, params: tuple, a: np.ndarray) -> tuple:
        """``categorical.log_prob_grad``: (onehot(a) - p,), (N, K)."""
        return (cat.log_prob_grad(params[0], a),)

    def kl_of(self, params_p: tuple, params_q: tuple) -> np.ndarray:
        """``categorical.kl``: KL(p || q) per state, (N,)."""
        return cat.kl(params_p[0], params_q[0])

    def kl_grad_of(self, params_p: tuple, params_q: tuple) -> tuple:
        """``categorical.kl_grad_q``: (q - p,), the gradient w.r.t. q's logits."""
        return (cat.kl_grad_q(params_p[0], params_q[0]),)

    def fisher_metric(self, params: tuple, n: int):
        """u -> ((diag(p) - p p^T) u / n,) per state (``categorical.fisher_product``), with the
        probabilities p computed once here. M is singular (null vector 1): see
        ``categorical.fisher_matrix``; CG on J^T M J relies on the damping."""
        p = cat.probs(params[0])
        return lambda u: (cat.fisher_product(p, u) / n,)

    def fisher_blocks(self, params: tuple) -> np.ndarray:
        """M_s = diag(p) - p p^T per state (``categorical.fisher_matrix``), (N, K, K)."""
        return cat.fisher_matrix(params[0])

    def per_state(self, dparams: tuple, n: int) -> np.ndarray:
        """(dlogits,) as its (n, K) array."""
        return dparams[0]

    def mean_entropy(self, phi: np.ndarray, obs: np.ndarray) -> float:
        """(1/N) sum_s H(pi(.|s)), H = -sum_a p_a log p_a (``categorical.entropy``)."""
        return float(np.mean(cat.entropy(self.dist_params(phi, obs)[0][0])))

    def add_entropy_grad(self, grad: np.ndarray, ent_coef: float, phi: np.ndarray,
                         params: tuple, cache) -> np.ndarray:
        """grad + ent_coef grad_phi (1/N) sum_s H(s), in place: one more ``vjp`` of
        ``categorical.entropy_grad`` (skipped when ent_coef = 0)."""
        if ent_coef:
            logits = params[0]
            grad += ent_coef * self.vjp(phi, cache, cat.entropy_grad(logits) / len(logits))
        return grad

    def sample_of(self, params: tuple, rng: np.random.Generator) -> np.ndarray:
        """``categorical.sample`` (inverse CDF, one ``rng.random`` draw per state): (N,) int64."""
        return cat.sample(params[0], rng)

    def mode_of(self, params: tuple) -> np.ndarray:
        """``categorical.mode``: argmax of the logits, (N,) int64."""
        return cat.mode(params[0])


def make_policy(kind: str, obs_dim: int, act_dim: int, hidden: tuple[int, ...] = (64, 64),
                activation: str = "tanh") -> GaussianPolicy | CategoricalPolicy:
    """The policy of head ``kind`` (``HEADS``); act_dim is d for the Gaussian, K for the
    categorical. A one-line ValueError for an unknown kind."""
    if kind not in HEADS:
        raise ValueError(f"unknown policy head {kind!r}; choose one of {', '.join(HEADS)}")
    return (GaussianPolicy if kind == "gaussian" else CategoricalPolicy).build(
        obs_dim, act_dim, hidden, activation)
