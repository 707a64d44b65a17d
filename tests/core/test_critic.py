"""refimpl/core/critic.py: the critic's initial output gain, its loss gradient against finite
differences, PPO2 value clipping against the formula written out, the fit of a linear critic
against numpy.linalg.lstsq, and the loop structure of the fit."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.batches import TextbookAdam, agent_and_batch, clip_by_norm, linear_values
from support.gradcheck import assert_directional_derivative
from refimpl.core import critic as critic_module
from refimpl.algos.agent import Agent, FlatBatch
from refimpl.algos import ALGORITHMS
from refimpl.algos.loop import annealed
from refimpl.engine.config import ALGOS, Config
from refimpl.core.critic import (CRITIC_OUTPUT_GAIN, CriticFitParams, critic_loss_and_grad,
                                 fit_critic, init_critic)
from refimpl.core.nn import MLP
from refimpl.core.optim import Adam
from support.strategies import activations, seeds


def _ppo2_value_loss(v, v_old, ret, eps):
    """OpenAI baselines ppo2/model.py: vpredclipped = OLDVPRED + clip(vpred - OLDVPRED, -eps, eps);
    vf_loss = .5 * mean(maximum(square(vpred - R), square(vpredclipped - R)))."""
    v_clipped = v_old + np.clip(v - v_old, -eps, eps)
    return 0.5 * np.mean(np.maximum((v - ret) ** 2, (v_clipped - ret) ** 2))


def test_critic_output_layer_has_gain_one():
    """The value head is orthogonal with gain 1 (baselines' PPO2 and CleanRL): its single
    output column has norm exactly 1 up to rounding; Agent.create initialises the critic so."""
    assert CRITIC_OUTPUT_GAIN == 1.0
    for hidden in ((), (8,), (8, 5)):
        cfg = Config.for_algo("ppo", hidden=hidden)
        agent = Agent.create(cfg.agent_spec(), 6, 2, np.random.default_rng(0))
        w_out, b_out = agent.critic.views(agent.theta_v)[-1]
        assert w_out.shape == ((hidden or (6,))[-1], 1) and b_out == 0.0
        assert np.linalg.norm(w_out) == pytest.approx(1.0, abs=1e-14)  # QR rounding
        theta = init_critic(agent.critic, np.random.default_rng(1))
        assert np.linalg.norm(agent.critic.views(theta)[-1][0]) == pytest.approx(1.0, abs=1e-14)


@st.composite
def critic_problems(draw):
    hidden = tuple(draw(st.lists(st.integers(1, 6), max_size=2)))
    critic = MLP((draw(st.integers(1, 4)), *hidden, 1), draw(activations))
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 9))
    return critic, 0.5 * rng.standard_normal(critic.n_params), \
        rng.standard_normal((n, critic.sizes[0])), rng.standard_normal(n), rng


@given(critic_problems(), st.booleans())
def test_critic_gradient_matches_finite_differences(problem, clipped):
    """dL_V/dtheta_v against central differences of L_V written out here (plain or PPO2). The
    PPO2 loss has two kinks, and both are kept out of the checker's reach (it moves V by far
    less than 0.05): the clip's, by old values at V(s) + offset with |offset| 0.05 away from
    eps = 0.2; and the max's, where (V - ret)^2 = (V_clip - ret)^2, i.e. ret at the midpoint of
    V and V_clip, by moving a target that lies within 0.05 of that midpoint 0.1 further."""
    critic, theta, obs, ret, rng = problem
    v0 = critic.forward(theta, obs)[0][:, 0]
    offset = rng.choice([-1.0, 1.0], len(ret)) * rng.choice([0.1, 0.3], len(ret))
    v_old, eps = (v0 + offset, 0.2) if clipped else (None, None)
    if clipped:
        v_clip = v_old + np.clip(v0 - v_old, -eps, eps)
        midpoint = 0.5 * (v0 + v_clip)
        ret = np.where((v_clip != v0) & (np.abs(ret - midpoint) < 0.05), ret + 0.1, ret)

    def loss(t):
        v = critic.forward(t, obs)[0][:, 0]
        return _ppo2_value_loss(v, v_old, ret, eps) if clipped else 0.5 * np.mean((v - ret) ** 2)

    value, grad = critic_loss_and_grad(critic, theta, obs, ret, v_old, eps)
    assert value == pytest.approx(loss(theta), rel=1e-14)
    assert_directional_derivative(loss, theta, lambda u: grad @ u, rng)


def test_clipped_critic_loss_is_the_ppo2_formula():
    """Per sample: inside the band (|V - V_old| <= eps) both terms agree; outside it the larger
    term wins: a prediction that moved past V_old + eps away from the target is charged the
    clipped error. The fit with ``vf_clip`` uses the batch's values as V_old: one full-batch
    epoch logs the PPO2 loss at the initial theta_v, not the plain one."""
    critic = MLP((1, 1))
    theta = np.array([1.0, 0.0])                  # V(s) = s
    obs = np.array([[0.0], [1.0], [2.0], [-1.0]])
    v_old = np.array([0.1, 0.5, 2.5, -1.0])       # V - V_old = -0.1, 0.5, -0.5, 0
    ret = np.array([0.0, 3.0, 0.0, 0.5])
    eps = 0.2
    loss, _ = critic_loss_and_grad(critic, theta, obs, ret, v_old, eps)
    # by hand: errors (V - R)^2 = 0, 4, 4, 2.25; clipped V = 0, 0.7, 2.3, -1 so errors
    # 0, 5.29, 5.29, 2.25; the max is 0, 5.29, 5.29, 2.25
    assert loss == pytest.approx(0.5 * (0 + 5.29 + 5.29 + 2.25) / 4, rel=1e-14)
    assert loss == pytest.approx(_ppo2_value_loss(obs[:, 0], v_old, ret, eps), rel=1e-14)
    data = FlatBatch(obs, np.zeros((4, 1)), np.zeros(4), (np.zeros((4, 1)), np.zeros(1)),
                     np.zeros(4), ret, v_old)
    hp = CriticFitParams(lr=1e-3, clip=eps, epochs=1, minibatch=4)
    logged = fit_critic(critic, theta.copy(), Adam(2), data, hp, np.random.default_rng(0))
    assert logged == pytest.approx(loss, rel=1e-14)
    unclipped = fit_critic(critic, theta.copy(), Adam(2), data,
                           CriticFitParams(lr=1e-3, epochs=1, minibatch=4),
                           np.random.default_rng(0))
    assert unclipped == pytest.approx(0.5 * (0 + 4 + 4 + 2.25) / 4, rel=1e-14)


@pytest.mark.parametrize("minibatch, noise, epochs", [(16, 0.0, 100), (200, 0.3, 1000)])
def test_linear_critic_fit_converges_to_lstsq(minibatch, noise, epochs):
    """A critic without hidden layer is V(s) = s w + b, so minimising 1/2 mean (V - ret)^2 is
    least squares: Adam must reach numpy.linalg.lstsq's solution of [s, 1] theta = ret.
    Realisable targets (noise 0) with shuffled minibatches of 16: every minibatch's gradient
    vanishes at the solution, so minibatch Adam converges to it. Noisy targets with the full
    batch: the exact gradient, 1000 steps. Adam's step lr mhat / sqrt(vhat) shrinks with the
    gradient (vhat remembers the early, larger gradients), so at a constant lr both land within
    about 1e-14 of the solution (measured); 1e-9 leaves a wide margin, while a wrong gradient
    would converge to a different point, O(1) away."""
    rng = np.random.default_rng(0)
    n, d = 200, 3
    obs = rng.standard_normal((n, d))
    ret = obs @ np.array([1.5, -2.0, 0.5]) + 0.7 + noise * rng.standard_normal(n)
    theta_star = np.linalg.lstsq(np.column_stack([obs, np.ones(n)]), ret, rcond=None)[0]
    critic, theta = MLP((d, 1)), np.zeros(d + 1)
    data = FlatBatch(obs, np.zeros((n, 1)), np.zeros(n), (np.zeros((n, 1)), np.zeros(1)),
                     np.zeros(n), ret, np.zeros(n))
    hp = CriticFitParams(lr=3e-2, epochs=epochs, minibatch=minibatch, max_grad_norm=None)
    loss = fit_critic(critic, theta, Adam(d + 1), data, hp, np.random.default_rng(1))
    np.testing.assert_allclose(theta, theta_star, rtol=0, atol=1e-9)
    # the logged loss is the last epoch's, at theta within 1e-9 of the optimum
    residual = 0.5 * np.mean((linear_values(theta_star, obs) - ret) ** 2)
    assert loss == pytest.approx(residual, rel=1e-8, abs=1e-15)


@pytest.mark.parametrize("n, vf_minibatch, vf_epochs", [(40, 16, 3), (40, 40, 2), (5, 64, 4)])
def test_fit_takes_epochs_times_ceil_steps_each_epoch_a_permutation(monkeypatch, n,
                                                                   vf_minibatch, vf_epochs):
    """The critic's Adam takes vf_epochs * ceil(N / vf_minibatch) steps, and each epoch's
    minibatches partition the batch (rows identified by their first observation column)."""
    cfg, agent, data = agent_and_batch("trpo", n=n, vf_minibatch=vf_minibatch,
                                       vf_epochs=vf_epochs)
    data.obs[:, 0] = np.arange(n)
    seen, loss_and_grad = [], critic_module.critic_loss_and_grad

    def recording(critic, theta_v, obs, *args):
        seen.append(obs[:, 0].astype(int))
        return loss_and_grad(critic, theta_v, obs, *args)
    monkeypatch.setattr(critic_module, "critic_loss_and_grad", recording)
    fit_critic(agent.critic, agent.theta_v, agent.v_opt, data, cfg.algorithm_params().critic,
               np.random.default_rng(2))
    per_epoch = math.ceil(n / vf_minibatch)
    assert agent.v_opt.t == vf_epochs * per_epoch == len(seen)
    for e in range(vf_epochs):
        rows = np.concatenate(seen[e * per_epoch:(e + 1) * per_epoch])
        np.testing.assert_array_equal(np.sort(rows), np.arange(n))


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("lr_scale", [None, 0.5])
def test_every_update_fits_the_critic_by_clipped_adam_descent(algo, lr_scale):
    """Three full-batch critic epochs inside each algorithm's update are three Adam descent
    steps (vf_lr * lr_scale, default 1) on dL_V/dtheta_v = [s, 1]^T (V(s) - ret) / N of the
    linear critic, clipped to norm 0.05 (active), against a textbook Adam. Tolerance: the
    rows come in a shuffled order, so the sums round differently: relative 1e-12."""
    cfg, agent, data = agent_and_batch(algo, vf_epochs=3, vf_minibatch=64, max_grad_norm=0.05)
    X = np.column_stack([data.obs, np.ones(len(data))])
    adam = TextbookAdam(agent.theta_v, cfg.vf_lr * (1.0 if lr_scale is None else lr_scale))
    for _ in range(3):
        g = X.T @ (X @ adam.theta - data.ret) / len(data)
        assert np.linalg.norm(g) > 0.05
        adam.step(clip_by_norm(g, 0.05))
    hp = cfg.algorithm_params() if lr_scale is None else annealed(cfg.algorithm_params(), lr_scale)
    ALGORITHMS[algo].update(agent, data, hp, np.random.default_rng(1))
    np.testing.assert_allclose(agent.theta_v, adam.theta, rtol=0, atol=1e-12)
