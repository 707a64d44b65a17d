"""Shared hypothesis strategies: network layouts, batches and seeds."""
import numpy as np
from hypothesis import strategies as st

from refimpl.core.nn import MLP
from refimpl.core.policy import HEADS, make_policy

seeds = st.integers(0, 2**32 - 1)
batch_sizes = st.integers(1, 9)
activations = st.sampled_from(["tanh", "relu"])


@st.composite
def mlps(draw, max_width=7, max_hidden=3):
    hidden = draw(st.lists(st.integers(1, max_width), min_size=0, max_size=max_hidden))
    sizes = (draw(st.integers(1, 6)), *hidden, draw(st.integers(1, 4)))
    return MLP(sizes, draw(activations))


@st.composite
def policies(draw, max_width=7, kinds=HEADS):
    """A policy of a head drawn from ``kinds`` (both by default, so that every property drawn
    from here is checked for the Gaussian and the categorical head): 1 to 5 inputs, up to two
    hidden layers, 1 to 3 action dimensions (Gaussian) or 2 to 4 actions (categorical)."""
    kind = draw(st.sampled_from(kinds))
    hidden = tuple(draw(st.lists(st.integers(1, max_width), min_size=0, max_size=2)))
    n_out = draw(st.integers(1, 3) if kind == "gaussian" else st.integers(2, 4))
    return make_policy(kind, draw(st.integers(1, 5)), n_out, hidden, draw(activations))


def random_phi(policy, rng):
    """phi with N(0, 0.5^2) network entries (and, for the Gaussian, log_std ~ U[-1, 1]), so
    every term is nontrivial."""
    theta = 0.5 * rng.standard_normal(policy.net.n_params)
    if policy.kind == "categorical":
        return theta
    return np.concatenate([theta, rng.uniform(-1.0, 1.0, policy.act_dim)])


def random_actions(policy, n, rng):
    """n actions of the policy's kind: N(0, 1) rows (n, d), or integers in [0, K) of shape (n,)."""
    if policy.kind == "categorical":
        return rng.integers(0, policy.act_dim, n)
    return rng.standard_normal((n, policy.act_dim))


@st.composite
def policy_problems(draw, max_width=7, kinds=HEADS):
    """(policy, phi, obs, rng): a random policy from ``policies`` (of a head in ``kinds``), phi
    from ``random_phi`` and a batch of 1 to 9 standard-normal states; rng (seeded by
    hypothesis) draws anything else."""
    policy = draw(policies(max_width, kinds))
    rng = np.random.default_rng(draw(seeds))
    phi = random_phi(policy, rng)
    return policy, phi, rng.standard_normal((draw(batch_sizes), policy.obs_dim)), rng


def spd_matrix(n, cond, rng):
    """Q diag(lam) Q^T, Q Haar-orthogonal, eigenvalues log-spaced in [1, cond] (ends included)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q *= np.sign(np.diag(r))
    lam = np.geomspace(1.0, cond, n) if n > 1 else np.ones(1)
    return (q * lam) @ q.T
