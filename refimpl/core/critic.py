"""The critic V_theta_v(s): its initialisation, its regression loss with the gradient w.r.t.
theta_v, and the fit that every algorithm runs after its policy step.

Lecture, "TRPO: The big picture and relation to actor-critic": the advantages come from a learnt
value function, fitted by regression on the returns of the batch (here the GAE returns
ret = A + V_old, ``returns.gae``). The critic is an MLP of its own (the lecture, "Drawback C":
TRPO cannot share a network between actor and critic):

    minimise  L_V(theta_v) = 1/2 mean_n (V_theta_v(s_n) - ret_n)^2

by ``hp.epochs`` passes of Adam over shuffled minibatches, optionally with the clipped loss
of OpenAI baselines' PPO2 (``objectives.value_loss``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from refimpl.core.minibatch import minibatches
from refimpl.core.nn import MLP
from refimpl.core.objectives import value_loss
from refimpl.core.optim import Adam, clip_grad_norm

CRITIC_OUTPUT_GAIN = 1.0
"""Gain of the critic's orthogonally initialised output layer: 1, the value head of OpenAI
baselines' PPO2 and CleanRL (``layer_init(..., std=1.0)``), so the initial values are of the size
of the hidden activations (the policy head uses 0.01, ``policy.POLICY_HEAD_GAIN``)."""


@dataclass(frozen=True)
class CriticFitParams:
    """The critic's regression settings (every algorithm fits its critic the same way)."""

    lr: float = 3e-4
    """Adam step size (PPO paper, Table 3: 3e-4; TRPO, NPG and VPG use 1e-3)."""
    epochs: int = 10
    """Passes over the batch (PPO paper, Table 3: 10)."""
    minibatch: int = 64
    """Rows per Adam step (PPO paper, Table 3: 64)."""
    clip: float | None = None
    """PPO2's value clipping range around the old predictions; None: the plain squared loss."""
    max_grad_norm: float | None = 0.5
    """Norm each minibatch gradient is clipped to (baselines ppo2: 0.5); None: no clipping."""



def init_critic(critic: MLP, rng: np.random.Generator, scheme: str = "orthogonal") -> np.ndarray:
    """theta_v by ``nn.MLP.init``'s ``scheme``; the default: orthogonal weights (hidden gain
    sqrt(2), output gain CRITIC_OUTPUT_GAIN), zero biases. Returns shape (critic.n_params,).

    Tested in ``tests/core/test_critic.py::test_critic_output_layer_has_gain_one``.
    """
    return critic.init(rng, output_gain=CRITIC_OUTPUT_GAIN, scheme=scheme)


def critic_loss_and_grad(critic: MLP, theta_v: np.ndarray, obs: np.ndarray, ret: np.ndarray,
                         v_old: np.ndarray | None = None,
                         vf_clip: float | None = None) -> tuple[float, np.ndarray]:
    """L_V(theta_v) on a minibatch and dL_V / dtheta_v (chain rule through ``critic.vjp``).

    Without clipping L_V = 1/2 mean_n (V(s_n) - ret_n)^2; with ``v_old`` and ``vf_clip`` the
    PPO2 loss 1/2 mean_n max((V - ret)^2, (v_old + clip(V - v_old, -eps, eps) - ret)^2)
    (``objectives.value_loss``).

    Parameters
    ----------
    critic : MLP, output width 1
    theta_v : ndarray, shape (critic.n_params,)
    obs : ndarray, shape (N, obs_dim)
    ret : ndarray, shape (N,)
        Regression targets.
    v_old, vf_clip : ndarray (N,) and float > 0, optional, given together
        The predictions of the critic that collected the data, and the clipping range.

    Returns
    -------
    loss : float
    grad : ndarray, shape (critic.n_params,)

    Tested in ``tests/core/test_critic.py::test_critic_gradient_matches_finite_differences`` and
    ``test_clipped_critic_loss_is_the_ppo2_formula``.
    """
    v, cache = critic.forward(theta_v, obs)
    loss, dv = value_loss(v[:, 0], ret, v_old, vf_clip)
    grad, _ = critic.vjp(theta_v, cache, dv[:, None])
    return loss, grad


def fit_critic(critic: MLP, theta_v: np.ndarray, opt: Adam, data, hp: CriticFitParams,
               rng: np.random.Generator) -> float:
    """Regress V_theta_v on ``data.ret``: ``hp.epochs`` epochs, each one Adam step of size
    ``hp.lr`` on every minibatch of a fresh partition of the batch into
    ``hp.minibatch`` rows; each gradient clipped to norm ``hp.max_grad_norm``; the loss clipped
    around ``data.values`` if ``hp.clip``.

    Parameters
    ----------
    critic : MLP
    theta_v : ndarray, shape (critic.n_params,)
        Updated in place.
    opt : Adam
        The critic's optimiser (its state advances by one step per minibatch).
    data : algos.agent.FlatBatch
        Uses obs (N, obs_dim), ret (N,) and values (N,) (V_old on the batch).
    hp : CriticFitParams
    rng : numpy.random.Generator
        Draws the minibatch partitions.

    Returns
    -------
    loss : float
        Mean of the last epoch's minibatch losses, each evaluated before its step.

    Tested in ``tests/core/test_critic.py::test_linear_critic_fit_converges_to_lstsq`` and the
    loop structure tests there.
    """
    losses, clip = [], hp.clip is not None
    for _ in range(hp.epochs):
        losses.clear()
        for idx in minibatches(len(data), hp.minibatch, rng):
            loss, grad = critic_loss_and_grad(critic, theta_v, data.obs[idx], data.ret[idx],
                                              data.values[idx] if clip else None, hp.clip)
            grad, _ = clip_grad_norm(grad, hp.max_grad_norm)
            opt.step(theta_v, grad, hp.lr)
            losses.append(loss)
    return float(np.mean(losses))
