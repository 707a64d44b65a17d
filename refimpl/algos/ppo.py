"""PPO (lecture, "PPO: Final algorithm"; Schulman et al. 2017).

    for k = 0, 1, 2, ...:                       (algos/loop.py)
        1. collect a batch with pi_phi_k
        2. estimate the advantages A_t
        3. phi_{k+1} = argmax L_CLIP(phi) by minibatch Adam      (policy_update)
           L_CLIP(phi) = E_hat[min(kappa_t A_t, clip(kappa_t, 1 - eps, 1 + eps) A_t)]
        4. fit the critic on the batch                              (core.critic.fit_critic)

Implementation detail (not in the lecture), off by default: with ``grad_clip_scope`` 'joint'
steps 3 and 4 are one minibatch loop on the joint loss of baselines ppo2, SB3 and CleanRL
(``joint_step``).

Metrics: ``policy_loss`` = -L_CLIP averaged over the last epoch's minibatches, each evaluated
before its step (without the entropy bonus); ``clip_fraction`` (share of samples whose gradient
the clip zeroed, last epoch); ``approx_kl`` (E[(kappa - 1) - log kappa], last epoch); ``epochs``
(run before an optional target-KL stop); ``entropy`` and ``kl`` (exact mean KL(pi_old || pi_new))
after the step; ``value_loss`` (the critic's last epoch).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refimpl.core.critic import CriticFitParams, critic_loss_and_grad, fit_critic
from refimpl.core.fisher import kl_mean_of
from refimpl.core.minibatch import minibatches
from refimpl.core.objectives import ppo_objective, ratio
from refimpl.core.optim import clip_grad_norm


@dataclass(frozen=True)
class PPOParams:
    """PPO's hyperparameters (PPO paper, Table 3, MuJoCo)."""

    lr: float = 3e-4
    """Adam step size of the policy (Table 3: 3e-4)."""
    clip_eps: float = 0.2
    """Clipping parameter epsilon of L_CLIP (lecture: typically 0.1 or 0.2; Table 3: 0.2)."""
    epochs: int = 10
    """Passes over each batch (Table 3: 10)."""
    minibatch: int = 64
    """Rows per Adam step (Table 3: 64)."""
    ent_coef: float = 0.0
    """Entropy bonus c_H (MuJoCo: 0)."""
    norm_adv: bool = True
    """Implementation detail: standardise the advantages per minibatch (baselines ppo2)."""
    max_grad_norm: float | None = 0.5
    """Implementation detail: clip each gradient to this norm (baselines ppo2: 0.5)."""
    target_kl: float | None = None
    """Implementation detail: end the epochs once the approximate KL exceeds this (None: never)."""
    grad_clip_scope: str = "each"
    """Implementation detail: 'each' clips the policy's gradient here and the critic's in its
    own fit (step 4); 'joint' fits the critic inside step 3 (``joint_step``: baselines ppo2, SB3,
    CleanRL), the gradient over policy and critic clipped as one vector."""
    vf_coef: float = 0.5
    """Weight c_V of L_V in the joint loss (only with ``grad_clip_scope`` 'joint'; ppo2 and
    CleanRL: 0.5, on the same L_V = 1/2 mean (V - ret)^2)."""
    critic: CriticFitParams = field(default_factory=CriticFitParams)
    """Step 4: the critic's fit."""


def approx_kl(logp: np.ndarray, logp_old: np.ndarray) -> float:
    """E_hat[(kappa - 1) - log kappa], kappa = pi_phi / pi_old: an estimate of KL(pi_old || pi_phi)
    from the sampled actions that is unbiased and never negative (J. Schulman, "Approximating KL
    divergence", 2020). Shapes (N,) -> float.
    Tested in ``tests/algos/test_ppo.py::test_update_metrics_recomputed_from_the_last_epoch``.
    """
    kappa = ratio(logp, logp_old)
    return float(np.mean((kappa - 1.0) - np.log(kappa)))


def update(agent, data, hp: PPOParams, rng: np.random.Generator) -> dict:
    """Lecture "PPO: Final algorithm", steps 3 and 4 on the batch ``data`` (``FlatBatch``).
    Returns the metrics. With ``hp.grad_clip_scope`` 'joint', step 3 has fitted the critic."""
    metrics = policy_update(agent, data, hp, rng)                          # step 3
    if hp.grad_clip_scope == "each":
        metrics["value_loss"] = fit_critic(agent.critic, agent.theta_v, agent.v_opt, data,
                                           hp.critic, rng)                 # step 4
    return metrics


def policy_update(agent, data, hp: PPOParams, rng: np.random.Generator) -> dict:
    """Step 3: phi_{k+1} = argmax L_CLIP, ``hp.epochs`` passes of Adam over shuffled minibatches
    (the slide's argmin of L_clip is a slip). With ``hp.target_kl`` the epochs end after the
    first one whose mean approximate KL exceeds it. With ``hp.grad_clip_scope`` 'joint' each
    minibatch step is a ``joint_step``, which fits the critic too: then the metrics include
    ``value_loss`` (the last epoch's)."""
    step = joint_step if hp.grad_clip_scope == "joint" else policy_step
    for epochs in range(1, hp.epochs + 1):
        # the approximate KL is logged for the last epoch; a target-KL stop reads it every epoch
        want_kl = hp.target_kl is not None or epochs == hp.epochs
        stats = [step(agent, data, idx, hp, want_kl)
                 for idx in minibatches(len(data), hp.minibatch, rng)]
        objective, clipped, kl_estimate, *value_loss = np.mean(stats, axis=0)
        if hp.target_kl is not None and kl_estimate > hp.target_kl:
            break
    params, _ = agent.policy.dist_params(agent.phi, data.obs)
    metrics = {"policy_loss": -float(objective),
               "entropy": agent.policy.mean_entropy(agent.phi, data.obs),
               "kl": kl_mean_of(agent.policy, data.params_old, params),
               "approx_kl": float(kl_estimate), "clip_fraction": float(clipped),
               "epochs": epochs}
    if value_loss:
        metrics["value_loss"] = float(value_loss[0])
    return metrics


def policy_step(agent, data, idx, hp: PPOParams, want_kl: bool):
    """One Adam ascent step on L_CLIP + ent_coef * H over the minibatch ``idx``.

    Returns (L_CLIP, clip fraction, approximate KL) before the step, the last NaN unless
    ``want_kl``."""
    logp_old = data.logp_old[idx]
    l_clip, grad, clipped, logp = ppo_objective(
        agent.policy, agent.phi, data.obs[idx], data.actions[idx], logp_old,
        data.adv[idx], hp.clip_eps, hp.ent_coef, hp.norm_adv)
    grad, _ = clip_grad_norm(grad, hp.max_grad_norm)
    agent.pi_opt.step(agent.phi, -grad, hp.lr)  # Adam descends; ascend the objective
    return l_clip, clipped, approx_kl(logp, logp_old) if want_kl else np.nan


def joint_step(agent, data, idx, hp: PPOParams, want_kl: bool):
    """Steps 3 and 4 in one Adam step over the minibatch ``idx`` (implementation detail, not in
    the lecture: the joint loss of baselines ppo2, Stable-Baselines3 and CleanRL):

        minimise  -(L_CLIP + c_H H)(phi) + vf_coef L_V(theta_v),

    whose gradient w.r.t. (phi, theta_v) is clipped to ``hp.max_grad_norm`` as one vector (their
    global norm); then each network takes its Adam step (step sizes ``hp.lr`` and
    ``hp.critic.lr``). L_V is ``core.critic.critic_loss_and_grad``'s, clipped around
    ``data.values`` with ``hp.critic.clip``. With separate networks the two losses share no
    parameter: vf_coef only changes the joint clipping's norm (and Adam's epsilon's weight).

    Returns (L_CLIP, clip fraction, approximate KL, L_V) before the step, the KL NaN unless
    ``want_kl``. Tested in ``tests/algos/test_ppo.py::
    test_joint_step_clips_the_global_norm_of_policy_and_critic_gradients``.
    """
    logp_old, v_clip = data.logp_old[idx], hp.critic.clip
    l_clip, grad, clipped, logp = ppo_objective(
        agent.policy, agent.phi, data.obs[idx], data.actions[idx], logp_old,
        data.adv[idx], hp.clip_eps, hp.ent_coef, hp.norm_adv)
    value_loss, grad_v = critic_loss_and_grad(
        agent.critic, agent.theta_v, data.obs[idx], data.ret[idx],
        data.values[idx] if v_clip is not None else None, v_clip)
    joint, _ = clip_grad_norm(np.concatenate([-grad, hp.vf_coef * grad_v]), hp.max_grad_norm)
    agent.pi_opt.step(agent.phi, joint[:grad.size], hp.lr)  # descends: ascends L_CLIP + c_H H
    agent.v_opt.step(agent.theta_v, joint[grad.size:], hp.critic.lr)
    return l_clip, clipped, approx_kl(logp, logp_old) if want_kl else np.nan, value_loss
