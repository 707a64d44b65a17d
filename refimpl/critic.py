"""The critic V_theta_v(s): its initialisation, its regression loss with the gradient w.r.t.
theta_v, and the fit that every algorithm runs after its policy step.

Lecture, "TRPO: The big picture and relation to actor-critic": the advantages come from a learnt
value function, fitted by regression on the returns of the batch (here the GAE returns
ret = A + V_old, ``returns.gae``). The critic is an MLP of its own (the lecture, "Drawback C":
TRPO cannot share a network between actor and critic):

    minimise  L_V(theta_v) = 1/2 mean_n (V_theta_v(s_n) - ret_n)^2

by ``cfg.vf_epochs`` passes of Adam over shuffled minibatches, optionally with the clipped loss
of OpenAI baselines' PPO2 (``objectives.value_loss``).
"""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from refimpl.minibatch import minibatches
from refimpl.nn import MLP
from refimpl.objectives import value_loss
from refimpl.optim import Adam, clip_grad_norm
from refimpl.worker import ServedProcess, finished, may_start_process

CRITIC_OUTPUT_GAIN = 1.0
"""Gain of the critic's orthogonally initialised output layer: 1, the value head of OpenAI
baselines' PPO2 and CleanRL (``layer_init(..., std=1.0)``), so the initial values are of the size
of the hidden activations (the policy head uses 0.01, ``policy.POLICY_HEAD_GAIN``)."""


def init_critic(critic: MLP, rng: np.random.Generator) -> np.ndarray:
    """theta_v: orthogonal weights (hidden gain sqrt(2), output gain CRITIC_OUTPUT_GAIN), zero
    biases (``nn.MLP.init``). Returns shape (critic.n_params,).

    Tested in ``tests/test_critic.py::test_critic_output_layer_has_gain_one``.
    """
    return critic.init(rng, output_gain=CRITIC_OUTPUT_GAIN)


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

    Tested in ``tests/test_critic.py::test_critic_gradient_matches_finite_differences`` and
    ``test_clipped_critic_loss_is_the_ppo2_formula``.
    """
    v, cache = critic.forward(theta_v, obs)
    loss, dv = value_loss(v[:, 0], ret, v_old, vf_clip)
    grad, _ = critic.vjp(theta_v, cache, dv[:, None])
    return loss, grad


def fit_critic(critic: MLP, theta_v: np.ndarray, opt: Adam, data, cfg, rng: np.random.Generator,
               lr: float) -> float:
    """Regress V_theta_v on ``data.ret``: ``cfg.vf_epochs`` epochs, each one Adam step on every
    minibatch of a fresh partition of the batch into ``cfg.vf_minibatch`` rows; each gradient
    clipped to norm ``cfg.max_grad_norm``; clipped around ``data.values`` if ``cfg.vf_clip``.

    Parameters
    ----------
    critic : MLP
    theta_v : ndarray, shape (critic.n_params,)
        Updated in place.
    opt : Adam
        The critic's optimiser (its state advances by one step per minibatch).
    data : agent.FlatBatch
        Uses obs (N, obs_dim), ret (N,) and values (N,) (V_old on the batch).
    cfg : Config
    rng : numpy.random.Generator
        Draws the minibatch partitions.
    lr : float
        Adam step size of this fit (``cfg.vf_lr`` times the annealing factor).

    Returns
    -------
    loss : float
        Mean of the last epoch's minibatch losses, each evaluated before its step.

    Tested in ``tests/test_critic.py::test_linear_critic_fit_converges_to_lstsq`` and the loop
    structure tests there.
    """
    losses, clip = [], cfg.vf_clip is not None
    for _ in range(cfg.vf_epochs):
        losses.clear()
        for idx in minibatches(len(data), cfg.vf_minibatch, rng):
            loss, grad = critic_loss_and_grad(critic, theta_v, data.obs[idx], data.ret[idx],
                                              data.values[idx] if clip else None, cfg.vf_clip)
            grad, _ = clip_grad_norm(grad, cfg.max_grad_norm)
            opt.step(theta_v, grad, lr)
            losses.append(loss)
    return float(np.mean(losses))


def then_fit_critic(policy_update):
    """An algorithm's whole update after steps 1-2: ``policy_update(agent, data, cfg, rng,
    lr_scale) -> metrics`` (the policy's steps, which draw from ``rng`` first), then
    ``fit_critic`` on the same batch (drawing from ``rng`` after them) with step size
    ``cfg.vf_lr * lr_scale``; its loss joins the metrics as ``value_loss``. The two parts share
    nothing but ``rng``, so training runs the fit while it collects the next batch
    (``train.Run.step``)."""
    def update(agent, data, cfg, rng, lr_scale=1.0):
        metrics = policy_update(agent, data, cfg, rng, lr_scale)
        metrics["value_loss"] = fit_critic(agent.critic, agent.theta_v, agent.v_opt, data, cfg,
                                           rng, cfg.vf_lr * lr_scale)
        return metrics
    update.__doc__ = f"{policy_update.__doc__}\n\nThen the critic's fit (``then_fit_critic``)."
    return update


class CriticFit:
    """The critic's fit as a job: ``fit(critic, theta_v, opt, data, cfg, rng, lr)`` runs
    ``fit_critic`` and returns what it changed, ``(theta_v, opt, rng, loss)``. ``submit`` runs it
    at once, on the objects themselves; ``CriticProcess`` runs it on copies in a process of its
    own."""

    def fit(self, critic: MLP, theta_v: np.ndarray, opt: Adam, data, cfg,
            rng: np.random.Generator, lr: float):
        loss = fit_critic(critic, theta_v, opt, data, cfg, rng, lr)
        return theta_v, opt, rng, loss

    def submit(self, *request) -> Future:
        """A finished Future of ``fit(*request)``."""
        return finished(self.fit(*request))

    def close(self) -> None:
        pass


class CriticProcess(ServedProcess):
    """``CriticFit`` in a process of its own (``--critic-process``, the default), so that the
    critic fits on the core that collection leaves free. Its answers are new objects, the same
    numbers bit for bit (tests/test_critic_process.py)."""

    def __init__(self):
        super().__init__("critic fit", CriticFit, (), "fit")


def make_critic_fit(cfg) -> CriticFit | CriticProcess:
    """``CriticProcess`` if ``cfg.critic_process`` and this process may start one, else
    ``CriticFit``."""
    return CriticProcess() if cfg.critic_process and may_start_process() else CriticFit()
