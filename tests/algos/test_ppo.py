"""refimpl/algos/ppo.py and objectives.ppo_objective: the minibatch gradient of
L_CLIP + c_H H against finite differences (with and without per-minibatch standardisation), the
loop structure of one update (Adam steps, each epoch a permutation of the batch), the target-KL
stop, and every logged metric recomputed in closed form."""
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from support.batches import (TextbookAdam, agent_and_batch, clip_by_norm, gaussian_entropy, gaussian_kl,
                     gaussian_logp, linear_scores, linear_values, standardised)
from support.gradcheck import assert_directional_derivative
from refimpl.core import distributions as dist
from refimpl.algos import ppo
from refimpl.algos.loop import annealed
from refimpl.core.objectives import ppo_objective
from refimpl.core.policy import GaussianPolicy
from scipy.special import log_softmax
from support.strategies import policies, random_actions, seeds

CLIP_EPS = 0.2
MARGIN = 0.05
"""Log-ratios are kept this far from log(1 +- eps), the kinks of L_CLIP. gradcheck moves phi by
at most 2e-5 along a unit direction, which moves a log-probability by 2e-5 ||score||: far less
than MARGIN for the scores of these small problems (|score| < 100)."""


def _l_clip(logp, logp_old, adv, eps):
    """L_CLIP = mean min(kappa A, clip(kappa, 1 - eps, 1 + eps) A), written out."""
    kappa = np.exp(logp - logp_old)
    return np.mean(np.minimum(kappa * adv, np.clip(kappa, 1 - eps, 1 + eps) * adv))


def _minibatch(policy, phi, rng, n):
    """obs, actions, and logp_old chosen so that log-ratios avoid the kinks by MARGIN."""
    obs = rng.standard_normal((n, policy.obs_dim))
    actions = random_actions(policy, n, rng)
    logp = policy.log_prob(phi, obs, actions)
    log_ratio = rng.uniform(-0.5, 0.5, n)
    for kink in (np.log1p(CLIP_EPS), np.log1p(-CLIP_EPS)):
        log_ratio[np.abs(log_ratio - kink) < MARGIN] = 0.0
    return obs, actions, logp - log_ratio


@given(policies(), st.integers(1, 9), st.floats(0.0, 0.1), st.booleans(), seeds)
@example(GaussianPolicy.build(3, 2, (4,), "tanh"), 5, 0.09375, True, 359)  # needs f_scale
@example(GaussianPolicy.build(2, 1, (3,), "relu"), 2, 0.0, True, 0)  # N = 2 is standardised
def test_ppo_objective_gradient_matches_finite_differences(policy, n, ent_coef, norm_adv, seed):
    """grad_phi [L_CLIP + c_H H] of ``ppo_objective`` equals the central difference of the
    objective written out here, H = sum_j log sigma_j + const (Gaussian) or the mean over states
    of -sum_a p_a log p_a with SciPy's log-softmax (categorical); the advantages are
    standardised in the test exactly when ``norm_adv`` and N > 1 (a constant does not change the
    gradient, so the Gaussian entropy's constant is left out)."""
    rng = np.random.default_rng(seed)
    gaussian = policy.kind == "gaussian"
    phi = 0.5 * rng.standard_normal(policy.net.n_params)
    if gaussian:
        phi = np.concatenate([phi, rng.uniform(-0.5, 0.5, policy.act_dim)])
    obs, actions, logp_old = _minibatch(policy, phi, rng, n)
    adv = 1.0 + rng.standard_normal(n)
    adv_used = standardised(adv) if norm_adv and n > 1 else adv

    def objective(p):
        params, _ = policy.dist_params(p, obs)
        if gaussian:
            logp, entropy = dist.log_prob(*params, actions), np.sum(params[1])
        else:
            log_p = log_softmax(params[0], axis=1)
            logp = log_p[np.arange(n), actions]
            entropy = np.mean(-np.sum(np.exp(log_p) * log_p, axis=1))
        return _l_clip(logp, logp_old, adv_used, CLIP_EPS) + ent_coef * entropy

    l_clip, grad, _, logp = ppo_objective(policy, phi, obs, actions, logp_old, adv, CLIP_EPS,
                                          ent_coef, norm_adv)
    # the value is L_CLIP alone; rounding of an N <= 9 term mean of O(10) terms
    assert abs(l_clip - _l_clip(logp, logp_old, adv_used, CLIP_EPS)) <= 1e-13
    # L_CLIP is a mean of signed terms kappa_n A_n that cancel (standardised A sums to 0), and
    # the entropy term adds c_H sum log sigma (Gaussian) or c_H H <= c_H log K: f's rounding is
    # that of its largest summands
    terms = np.abs(np.exp(logp - logp_old) * adv_used)
    h_scale = np.sum(np.abs(phi[-policy.act_dim:])) if gaussian else np.log(policy.act_dim)
    f_scale = np.max(terms) + ent_coef * h_scale
    assert_directional_derivative(objective, phi, lambda u: grad @ u, rng, f_scale=f_scale)


def test_ppo_objective_standardises_only_when_asked():
    """The same minibatch with advantages 5 + A and A: without standardisation the two
    gradients differ; with it they are equal up to rounding (the mean is removed)."""
    _, agent, data = agent_and_batch("ppo", n=16)
    obs, act, lo = data.obs, data.actions, data.logp_old
    g = {(shift, norm): ppo_objective(agent.policy, agent.phi, obs, act, lo, data.adv + shift,
                                      CLIP_EPS, 0.0, norm)[1]
         for shift in (0.0, 5.0) for norm in (False, True)}
    assert np.max(np.abs(g[0.0, False] - g[5.0, False])) > 0.1
    np.testing.assert_allclose(g[0.0, True], g[5.0, True], rtol=0, atol=1e-12)


@pytest.mark.parametrize("lr_scale", [None, 0.5])
def test_two_epochs_are_clipped_adam_ascent_steps_on_the_closed_form_gradient(lr_scale):
    """Two epochs of one full-batch minibatch are two Adam ascent steps (lr * lr_scale, default
    1) on grad L_CLIP = (1/N) sum_n [not clipped_n] kappa_n A'_n score_n(phi), clipped to norm
    0.05 (active), with the scores in closed form and a textbook Adam. Adam's first step is
    lr g / (|g| + eps), blind to the clipping factor; the second is not. Tolerance: relative
    1e-12 of the O(1) parameters, for the two sides' different rounding."""
    cfg, agent, data = agent_and_batch("ppo", n=30, minibatch=64, epochs=2, max_grad_norm=0.05,
                                       lr=0.05)
    adam = TextbookAdam(agent.phi, cfg.lr * (1.0 if lr_scale is None else lr_scale))
    adv = standardised(data.adv)
    for epoch in range(2):
        kappa = np.exp(gaussian_logp(adam.theta, data.obs, data.actions) - data.logp_old)
        active = ~(((adv > 0) & (kappa > 1 + CLIP_EPS)) | ((adv < 0) & (kappa < 1 - CLIP_EPS)))
        weights = kappa * adv * active / len(data)
        g = linear_scores(adam.theta, data.obs, data.actions).T @ weights
        assert np.linalg.norm(g) > 0.05
        adam.step(-clip_by_norm(g, 0.05))
    hp = cfg.algorithm_params() if lr_scale is None else annealed(cfg.algorithm_params(), lr_scale)
    ppo.update(agent, data, hp, np.random.default_rng(1))
    np.testing.assert_allclose(agent.phi, adam.theta, rtol=0, atol=1e-12)


@pytest.mark.parametrize("vf_coef, lr_scale", [(0.5, None), (3.0, None), (0.5, 0.25)])
def test_joint_step_clips_the_global_norm_of_policy_and_critic_gradients(monkeypatch, vf_coef,
                                                                         lr_scale):
    """grad_clip_scope 'joint' (the loss of ppo2, SB3, CleanRL): each epoch of one full-batch
    minibatch is one Adam step of policy AND critic on -(L_CLIP) + vf_coef L_V, the gradient
    (-grad L_CLIP, vf_coef grad L_V) clipped as ONE vector to norm 0.05: the same factor for both
    parts, global norm <= 0.05. Closed forms: grad L_CLIP as in the test above; for the linear
    critic grad L_V = mean_n (V(s_n) - ret_n) [s_n, 1]. Textbook Adam on each part (lr, vf_lr).
    Clipping each part on its own would give other parameters (checked), and no separate critic
    fit runs afterwards (fit_critic made to fail). Annealed (lr_scale), both step sizes are
    scaled, not the optimisers' own. The logged approximate KL is the last epoch's estimate
    mean(kappa - 1 - log kappa) before its step. Tolerance: 1e-12 as above."""
    cfg, agent, data = agent_and_batch("ppo", n=30, minibatch=64, vf_minibatch=64, epochs=2,
                                       vf_epochs=2, max_grad_norm=0.05, lr=0.05, vf_lr=0.02,
                                       grad_clip_scope="joint", vf_coef=vf_coef)
    scale = 1.0 if lr_scale is None else lr_scale
    pi, v = TextbookAdam(agent.phi, 0.05 * scale), TextbookAdam(agent.theta_v, 0.02 * scale)
    apart_v = TextbookAdam(agent.theta_v, 0.02 * scale)
    adv = standardised(data.adv)
    for epoch in range(2):
        log_kappa = gaussian_logp(pi.theta, data.obs, data.actions) - data.logp_old
        kappa = np.exp(log_kappa)
        approx_kl = np.mean(kappa - 1 - log_kappa)
        active = ~(((adv > 0) & (kappa > 1 + CLIP_EPS)) | ((adv < 0) & (kappa < 1 - CLIP_EPS)))
        g = linear_scores(pi.theta, data.obs, data.actions).T @ (kappa * adv * active / len(data))
        features = np.column_stack([data.obs, np.ones(len(data))])
        g_v = features.T @ (linear_values(v.theta, data.obs) - data.ret) / len(data)
        joint = np.concatenate([-g, vf_coef * g_v])
        assert np.linalg.norm(joint) > 0.05
        clipped = clip_by_norm(joint, 0.05)
        assert np.linalg.norm(clipped) <= 0.05
        pi.step(clipped[:g.size])
        v.step(clipped[g.size:])
        g_apart = features.T @ (linear_values(apart_v.theta, data.obs) - data.ret) / len(data)
        apart_v.step(clip_by_norm(vf_coef * g_apart, 0.05))

    def no_fit(*args):
        raise AssertionError("the joint loss has fitted the critic; no fit may follow")
    monkeypatch.setattr(ppo, "fit_critic", no_fit)
    hp = cfg.algorithm_params() if lr_scale is None else annealed(cfg.algorithm_params(), lr_scale)
    metrics = ppo.update(agent, data, hp, np.random.default_rng(1))
    np.testing.assert_allclose(agent.phi, pi.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(agent.theta_v, v.theta, rtol=0, atol=1e-12)
    assert np.max(np.abs(apart_v.theta - v.theta)) > 1e-6
    assert agent.pi_opt.t == agent.v_opt.t == 2
    assert "value_loss" in metrics
    # the same sum in another order: rounding of an O(1e-3) mean, 1e-12 relative
    assert metrics["approx_kl"] == pytest.approx(approx_kl, rel=1e-12)


def test_joint_step_clips_the_value_loss_around_the_old_values():
    """With vf_clip, the joint step's critic gradient is that of the clipped value loss
    1/2 mean max((V - ret)^2, (V_old + clip(V - V_old, -c, c) - ret)^2): for the linear critic
    grad = mean_n [unclipped_n] (V_n - ret_n) [s_n, 1], where the clipped term wins (and is
    flat) elsewhere. V_old is moved off V (data.values - 1) so that clipping is active. One
    full-batch epoch, max_grad_norm large (no clipping), textbook Adam; tolerance 1e-12."""
    cfg, agent, data = agent_and_batch("ppo", n=30, minibatch=64, vf_minibatch=64, epochs=1,
                                       vf_epochs=1, max_grad_norm=1e6, vf_lr=0.02, vf_clip=0.2,
                                       grad_clip_scope="joint", vf_coef=1.0)
    data.values[:] = linear_values(agent.theta_v, data.obs) - 1.0
    v = TextbookAdam(agent.theta_v, 0.02)
    values = linear_values(v.theta, data.obs)
    clipped_v = data.values + np.clip(values - data.values, -0.2, 0.2)
    unclipped = (values - data.ret) ** 2 >= (clipped_v - data.ret) ** 2
    assert 0 < unclipped.sum() < len(data)
    features = np.column_stack([data.obs, np.ones(len(data))])
    v.step(features.T @ ((values - data.ret) * unclipped) / len(data))
    ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    np.testing.assert_allclose(agent.theta_v, v.theta, rtol=0, atol=1e-12)


def test_joint_update_logs_the_last_epochs_critic_loss_before_each_step(monkeypatch):
    """With the joint loss, value_loss is the mean over the last epoch's minibatches of L_V =
    1/2 mean (V - ret)^2, each evaluated before its step, as the separate fit logs it
    (recomputed here from the critic parameters recorded before each step)."""
    cfg, agent, data = agent_and_batch("ppo", n=40, minibatch=16, vf_minibatch=16, epochs=2,
                                       vf_epochs=2, grad_clip_scope="joint")
    before, step = [], ppo.joint_step

    def recording(agent_, data_, idx, hp, want_kl):
        before.append((np.array(idx), agent_.theta_v.copy()))
        return step(agent_, data_, idx, hp, want_kl)
    monkeypatch.setattr(ppo, "joint_step", recording)
    metrics = ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    last = before[-3:]  # ceil(40 / 16) = 3 minibatches per epoch
    losses = [0.5 * np.mean((linear_values(th, data.obs[idx]) - data.ret[idx]) ** 2)
              for idx, th in last]
    # the same sums in another order: rounding of O(1) losses, 1e-12
    assert metrics["value_loss"] == pytest.approx(np.mean(losses), rel=1e-12)
    assert len(before) == 6


def _record_minibatches(monkeypatch):
    calls = []
    step = ppo.policy_step

    def recording(agent, data, idx, hp, want_kl):
        calls.append(np.array(idx))
        return step(agent, data, idx, hp, want_kl)
    monkeypatch.setattr(ppo, "policy_step", recording)
    return calls


@pytest.mark.parametrize("n, minibatch, epochs", [(40, 16, 3), (40, 8, 2), (7, 64, 4)])
def test_one_update_takes_epochs_times_ceil_n_over_minibatch_steps_over_permutations(
        monkeypatch, n, minibatch, epochs):
    """After one update Adam has taken epochs * ceil(N / minibatch) steps, and the minibatches
    of each epoch are a partition of range(N): no sample dropped or repeated."""
    cfg, agent, data = agent_and_batch("ppo", n=n, minibatch=minibatch, epochs=epochs)
    calls = _record_minibatches(monkeypatch)
    metrics = ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    per_epoch = math.ceil(n / minibatch)
    assert agent.pi_opt.t == epochs * per_epoch == len(calls)
    assert metrics["epochs"] == epochs
    for e in range(epochs):
        idx = np.concatenate(calls[e * per_epoch:(e + 1) * per_epoch])
        np.testing.assert_array_equal(np.sort(idx), np.arange(n))


@pytest.mark.parametrize("kls, target, stops_after", [
    ([0.001, 0.004, 0.02, 0.05, 0.06], 0.01, 3),
    ([0.02, 0.0, 0.0, 0.0, 0.0], 0.01, 1),
    ([0.001, 0.01, 0.002, 0.011, 0.0], 0.01, 4),   # equal to the target is not "exceeds"
    ([0.001, 0.002, 0.003, 0.004, 0.005], 0.01, 5),
    ([0.5, 0.5, 0.5, 0.5, 0.5], None, 5),          # no target: every epoch runs
])
def test_target_kl_ends_the_epochs_at_the_first_epoch_whose_kl_exceeds_it(
        monkeypatch, kls, target, stops_after):
    """The approximate KL of epoch e (the mean over its minibatches) is scripted to kls[e]; the
    update must stop after the first epoch whose KL is > target and report it."""
    cfg, agent, data = agent_and_batch("ppo", n=24, minibatch=8, epochs=5, target_kl=target)
    per_epoch, calls = 3, []

    def scripted(logp, logp_old):
        calls.append(1)
        return kls[(len(calls) - 1) // per_epoch]
    monkeypatch.setattr(ppo, "approx_kl", scripted)
    metrics = ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    assert metrics["epochs"] == stops_after
    assert agent.pi_opt.t == stops_after * per_epoch
    # the logged value is the mean of the epoch's three equal values: one rounding
    assert metrics["approx_kl"] == pytest.approx(kls[stops_after - 1], rel=1e-15)


@pytest.mark.parametrize("norm_adv", [True, False])
def test_update_metrics_recomputed_from_the_last_epoch(monkeypatch, norm_adv):
    """Two epochs of one full-batch minibatch, one critic epoch: policy_loss, clip_fraction and
    approx_kl are those of the last epoch's minibatch at the parameters its step started from
    (recorded from Adam), computed here in closed form; entropy and kl are those of the
    returned phi; value_loss is 1/2 mean (V_old(s) - ret)^2 of the critic before its step."""
    cfg, agent, data = agent_and_batch("ppo", n=30, minibatch=64, epochs=2, vf_epochs=1,
                                       vf_minibatch=64, adv_mean=0.7, norm_adv=norm_adv,
                                       lr=0.05, max_grad_norm=None)
    phi_old, theta_v_old = agent.phi.copy(), agent.theta_v.copy()
    starts, step = [], agent.pi_opt.step

    def recording(theta, grad, lr=None):
        starts.append(theta.copy())
        step(theta, grad, lr)
    monkeypatch.setattr(agent.pi_opt, "step", recording)
    metrics = ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    act_dim, adv = data.actions.shape[1], standardised(data.adv) if norm_adv else data.adv
    logp = gaussian_logp(starts[1], data.obs, data.actions)
    kappa = np.exp(logp - data.logp_old)
    # lr 0.05: the first epoch moves the ratios far enough that some are clipped
    clipped = ((adv > 0) & (kappa > 1 + CLIP_EPS)) | ((adv < 0) & (kappa < 1 - CLIP_EPS))
    assert 0 < clipped.mean() < 1
    # tolerances: rounding of means over 30 terms of O(1); exp of O(1) log-ratios
    assert metrics["policy_loss"] == pytest.approx(-_l_clip(logp, data.logp_old, adv, CLIP_EPS),
                                                   abs=1e-12)
    assert metrics["clip_fraction"] == clipped.mean()
    assert metrics["approx_kl"] == pytest.approx(np.mean(kappa - 1 - np.log(kappa)), abs=1e-12)
    assert metrics["entropy"] == pytest.approx(gaussian_entropy(agent.phi, act_dim), abs=1e-12)
    assert metrics["kl"] == pytest.approx(gaussian_kl(phi_old, agent.phi, data.obs, act_dim),
                                          abs=1e-12)
    assert metrics["kl"] > 0
    v_old = linear_values(theta_v_old, data.obs)
    assert metrics["value_loss"] == pytest.approx(0.5 * np.mean((v_old - data.ret) ** 2),
                                                  abs=1e-12)


def test_update_on_zero_advantages_leaves_phi_and_logs_zeros():
    """A = 0: the gradient of L_CLIP is 0 (c_H = 0), Adam's first step on a zero gradient is
    0 / (0 + eps) = 0, so phi is unchanged and the policy metrics are exactly 0."""
    cfg, agent, data = agent_and_batch("ppo", n=20, minibatch=8, epochs=2)
    data.adv[:] = 0.0
    phi_old = agent.phi.copy()
    metrics = ppo.update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    np.testing.assert_array_equal(agent.phi, phi_old)
    assert (metrics["policy_loss"], metrics["kl"], metrics["approx_kl"],
            metrics["clip_fraction"]) == (0.0, 0.0, 0.0, 0.0)
    assert metrics["entropy"] == pytest.approx(gaussian_entropy(phi_old, 2), abs=1e-12)


def test_ppo_objective_standardises_a_minibatch_of_two_rows_but_not_of_one():
    """A one-row minibatch has no spread to standardise by ((A - A) / (0 + 1e-8) = 0 would
    erase its only advantage), so ``ppo_objective`` uses it as it is, with or without
    norm_adv: L_CLIP = kappa A (here kappa = 1, L_CLIP = A exactly) and the same gradient,
    which is nonzero. Two rows are standardised: with norm_adv the result equals that of
    norm_adv=False on the advantages standardised here."""
    _, agent, data = agent_and_batch("ppo", n=2)
    obs, act, adv = data.obs, data.actions, np.array([1.5, -0.25])
    out = {norm: ppo_objective(agent.policy, agent.phi, obs[:1], act[:1], data.logp_old[:1],
                               adv[:1], CLIP_EPS, 0.0, norm) for norm in (False, True)}
    assert out[True][0] == out[False][0] == 1.5
    assert np.linalg.norm(out[True][1]) > 0.1
    np.testing.assert_array_equal(out[True][1], out[False][1])
    two = ppo_objective(agent.policy, agent.phi, obs, act, data.logp_old, adv, CLIP_EPS, 0.0,
                        True)
    by_hand = ppo_objective(agent.policy, agent.phi, obs, act, data.logp_old, standardised(adv),
                            CLIP_EPS, 0.0, False)
    # standardise's rounding against numpy's mean/std: relative 1e-15 of O(1) values
    np.testing.assert_allclose(two[1], by_hand[1], rtol=1e-12, atol=1e-14)
    assert abs(two[0] - by_hand[0]) <= 1e-14
