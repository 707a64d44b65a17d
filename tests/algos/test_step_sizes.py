"""The Adam step sizes when no annealing is asked for: the policy steps of PPO's and VPG's
``policy_update`` are of size hp.lr (not the size their optimiser was built with), the critic's fit steps of size hp.lr of its
``CriticFitParams`` (not the size its optimiser was built with), and ``loop.train`` anneals
only when told to. Each is checked against a textbook Adam (``support.batches.TextbookAdam``)
on the closed-form gradients of the linear agent of ``support.batches``."""
import dataclasses

import numpy as np
import pytest

from support.batches import (TextbookAdam, agent_and_batch, gaussian_logp, linear_scores,
                             standardised)
from refimpl.algos import loop, ppo, vpg
from refimpl.algos.agent import FlatBatch
from refimpl.core.critic import CriticFitParams, fit_critic
from refimpl.core.nn import MLP
from refimpl.core.optim import Adam
from refimpl.envs.rollout import Batch


def test_fit_critic_steps_at_the_step_size_of_its_parameters():
    """``fit_critic(critic, theta_v, opt, data, hp, rng)`` takes Adam steps of size hp.lr
    (its docstring), whatever step size ``opt`` was built with (here 1e-4 against hp.lr = 0.05):
    two full-batch epochs on the linear critic V(s) = s w + b are two textbook Adam steps of
    size 0.05 on [s, 1]^T (V(s) - ret) / N. Tolerance: relative 1e-12 of the O(1) parameters
    for the two sides' different rounding."""
    rng = np.random.default_rng(0)
    n, d = 30, 3
    obs, ret = rng.standard_normal((n, d)), rng.standard_normal(n)
    data = FlatBatch(obs, np.zeros((n, 1)), np.zeros(n), (np.zeros((n, 1)), np.zeros(1)),
                     np.zeros(n), ret, np.zeros(n))
    X = np.column_stack([obs, np.ones(n)])
    adam = TextbookAdam(np.zeros(d + 1), 0.05)
    for _ in range(2):
        adam.step(X.T @ (X @ adam.theta - ret) / n)
    theta = np.zeros(d + 1)
    fit_critic(MLP((d, 1)), theta, Adam(d + 1, 1e-4), data,
               CriticFitParams(lr=0.05, epochs=2, minibatch=64, max_grad_norm=None),
               np.random.default_rng(1))
    np.testing.assert_allclose(theta, adam.theta, rtol=0, atol=1e-12)


def test_ppo_policy_update_steps_at_hp_lr():
    """PPO's ``policy_update(agent, data, hp, rng)``: two epochs of one full-batch minibatch
    are two Adam ascent steps of size hp.lr = 0.05 (not the optimiser's own 1e-4) on grad L_CLIP = (1/N) sum_n [not clipped_n]
    kappa_n A'_n score_n(phi) (scores in closed form, A' standardised), unclipped in norm.
    Tolerance as in ``test_ppo.py``'s test of the same steps: relative 1e-12."""
    cfg, agent, data = agent_and_batch("ppo", n=30, minibatch=64, epochs=2, max_grad_norm=None,
                                       lr=0.05)
    agent.pi_opt = Adam(agent.phi.size, 1e-4)  # the step size is hp's, not the optimiser's
    eps, adv = cfg.clip_eps, standardised(data.adv)
    adam = TextbookAdam(agent.phi, 0.05)
    for _ in range(2):
        kappa = np.exp(gaussian_logp(adam.theta, data.obs, data.actions) - data.logp_old)
        active = ~(((adv > 0) & (kappa > 1 + eps)) | ((adv < 0) & (kappa < 1 - eps)))
        adam.step(-(linear_scores(adam.theta, data.obs, data.actions).T
                    @ (kappa * adv * active / len(data))))
    ppo.policy_update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    np.testing.assert_allclose(agent.phi, adam.theta, rtol=0, atol=1e-12)


def test_vpg_policy_update_steps_at_hp_lr():
    """VPG's ``policy_update(agent, data, hp, rng)`` is one Adam ascent step of size
    hp.lr = 0.05 (not the optimiser's own 1e-4) on g = (1/N) sum_n score_n A'_n (A' standardised), unclipped in norm; as
    Adam's first step is lr g / (|g| + eps), phi moves by 0.05 in every coordinate whose g is
    not tiny (relative 1e-12)."""
    cfg, agent, data = agent_and_batch("vpg", max_grad_norm=None, lr=0.05)
    agent.pi_opt = Adam(agent.phi.size, 1e-4)  # the step size is hp's, not the optimiser's
    adam = TextbookAdam(agent.phi, 0.05)
    adam.step(-(linear_scores(agent.phi, data.obs, data.actions).T
                @ standardised(data.adv) / len(data)))
    vpg.policy_update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    np.testing.assert_allclose(agent.phi, adam.theta, rtol=0, atol=1e-12)


class _Collector:
    """A scripted collector (the part of ``envs.rollout.Collector`` the loop uses): random
    batches drawn from the generator it is handed."""

    obs_dim, act_dim, kind = 3, 2, "gaussian"

    def collect(self, policy, phi, horizon, rng):
        shape = (horizon, 2)
        return Batch(rng.standard_normal((*shape, 3)), rng.standard_normal((*shape, 3)),
                     rng.standard_normal((*shape, 2)), rng.standard_normal(shape),
                     rng.random(shape) < 0.2, rng.random(shape) < 0.3)

    def episode_stats(self):
        return float("nan"), float("nan")


@pytest.mark.parametrize("update", [ppo.update, vpg.update])
def test_train_anneals_the_step_sizes_only_when_asked(update):
    """``loop.train`` decays the Adam step sizes "with ``anneal_lr``" (its docstring), so by
    default it does not: three updates of PPO or VPG without the argument leave the agent's
    parameters bit for bit where anneal_lr=False leaves them, and anneal_lr=True elsewhere."""
    cfg, _, _ = agent_and_batch("ppo" if update is ppo.update else "vpg",
                                minibatch=16, vf_minibatch=16, epochs=2, vf_epochs=2)
    hp = cfg.algorithm_params()
    out = {}
    for anneal in (None, False, True):
        agent = loop.make_agent(cfg.agent_spec(), _Collector(), 3)
        kwargs = {} if anneal is None else {"anneal_lr": anneal}
        for _ in loop.train(update, hp, agent, _Collector(), 3, 3, 8, 0.9, 0.8, **kwargs):
            pass
        out[anneal] = np.concatenate([agent.phi, agent.theta_v])
    np.testing.assert_array_equal(out[None], out[False])
    assert not np.array_equal(out[False], out[True])
