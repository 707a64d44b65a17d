"""refimpl/algos/npg.py, trpo.py, vpg.py: every documented metric recomputed in closed form from
the returned phi (also on a batch with g = 0), the fixed NPG step against numpy.linalg.solve of
the Fisher system written out for a linear policy, and TRPO's improvement and line search
without advantage standardisation (where L_TRPO(phi_old) = mean A is far from 0)."""
import dataclasses
import numpy as np
import pytest

from support.batches import (TextbookAdam, agent_and_batch, clip_by_norm, gaussian_entropy, gaussian_kl,
                     gaussian_logp, linear_scores, linear_values, standardised)
from scipy import special, stats

from refimpl.algos.agent import FlatBatch
from refimpl.algos import ALGORITHMS
from refimpl.algos.loop import annealed


def _surrogate(phi, data, adv):
    """L_TRPO(phi) = mean_n exp(logp_phi - logp_old) A_n, written out."""
    return np.mean(np.exp(gaussian_logp(phi, data.obs, data.actions) - data.logp_old) * adv)


def _check_common_metrics(metrics, phi_old, phi_new, theta_v_old, data, adv):
    act_dim = data.actions.shape[1]
    improvement = _surrogate(phi_new, data, adv) - _surrogate(phi_old, data, adv)
    # tolerances: rounding of means of 40 O(1) terms and of exp of O(1) log-ratios
    assert metrics["improvement"] == pytest.approx(improvement, abs=1e-12)
    assert metrics["policy_loss"] == pytest.approx(-improvement, abs=1e-12)
    assert metrics["kl"] == pytest.approx(gaussian_kl(phi_old, phi_new, data.obs, act_dim),
                                          abs=1e-12)
    assert metrics["entropy"] == pytest.approx(gaussian_entropy(phi_new, act_dim), abs=1e-12)
    v_old = linear_values(theta_v_old, data.obs)
    assert metrics["value_loss"] == pytest.approx(0.5 * np.mean((v_old - data.ret) ** 2),
                                                  abs=1e-12)


ONE_CRITIC_STEP = dict(vf_epochs=1, vf_minibatch=64)
"""One full-batch critic step: the logged value loss is then the loss before it, at V_old."""


@pytest.mark.parametrize("algo", ["npg", "trpo", "vpg"])
@pytest.mark.parametrize("norm_adv", [True, False])
def test_update_metrics_recomputed_from_returned_phi(algo, norm_adv):
    """policy_loss = -(L(phi_new) - L(phi_old)) (a positive improvement gives a negative loss),
    improvement, kl = mean KL(pi_old || pi_new), entropy of the new log-std slice (the four that
    ``objectives.surrogate_change`` computes), value_loss of the critic before its step, and the
    step metrics, each computed here in closed form."""
    cfg, agent, data = agent_and_batch(algo, adv_mean=0.5, norm_adv=norm_adv, lr=0.01,
                                       **ONE_CRITIC_STEP)
    phi_old, theta_v_old = agent.phi.copy(), agent.theta_v.copy()
    metrics = ALGORITHMS[algo].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    phi_new = agent.phi
    adv = standardised(data.adv) if norm_adv else data.adv
    _check_common_metrics(metrics, phi_old, phi_new, theta_v_old, data, adv)
    assert metrics["improvement"] > 0 and metrics["kl"] > 0
    # only TRPO searches along the step (NPG takes it whole)
    assert ("accepted" in metrics) == ("step_fraction" in metrics) == (algo == "trpo")
    if algo == "npg":
        assert metrics["step_norm"] == pytest.approx(np.linalg.norm(phi_new - phi_old),
                                                     rel=1e-14)
        # the normalised step lies on the damped quadratic KL boundary 1/2 D^T (F + lam I) D =
        # delta, F from the closed form below; P = 10 = cg_iters, so CG is exact up to rounding
        _, F = _linear_policy_g_and_F(phi_old, data, adv)
        D = phi_new - phi_old
        assert 0.5 * D @ (F + cfg.damping * np.eye(D.size)) @ D == pytest.approx(cfg.delta,
                                                                                 rel=1e-9)
    if algo == "trpo":
        assert metrics["accepted"] == 1
        assert metrics["step_norm"] * metrics["step_fraction"] == pytest.approx(
            np.linalg.norm(phi_new - phi_old), rel=1e-14)
        assert metrics["kl"] <= cfg.delta
    if algo in ("npg", "trpo"):
        assert 1 <= metrics["cg_iters"] <= cfg.cg_iters and metrics["cg_residual"] >= 0


@pytest.mark.parametrize("algo", ["npg", "trpo", "vpg"])
def test_update_on_a_batch_with_zero_gradient(algo):
    """A = 0 gives g = 0: no step; phi is unchanged, improvement, policy_loss and kl are 0, the
    CG and step metrics 0, entropy and value_loss as computed here."""
    cfg, agent, data = agent_and_batch(algo, **ONE_CRITIC_STEP)
    data.adv[:] = 0.0
    phi_old, theta_v_old = agent.phi.copy(), agent.theta_v.copy()
    metrics = ALGORITHMS[algo].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    np.testing.assert_array_equal(agent.phi, phi_old)
    _check_common_metrics(metrics, phi_old, agent.phi, theta_v_old, data, data.adv)
    assert (metrics["policy_loss"], metrics["improvement"], metrics["kl"]) == (0.0, 0.0, 0.0)
    if algo != "vpg":
        assert (metrics["cg_iters"], metrics["cg_residual"], metrics["step_norm"]) == (0, 0.0, 0.0)
        assert "accepted" not in metrics


def _linear_policy_g_and_F(phi, data, adv):
    """g = (1/N) sum_n score_n A_n (``batches.linear_scores``) and F = (1/N) sum_s J_s^T M J_s
    for the linear Gaussian policy: J_s = [kron(s^T, I), I] maps (W row-major, b) to the mean,
    M = diag(1/sigma^2) there, and the log-std block of F is 2 I."""
    obs = data.obs
    n, d = obs.shape
    k = data.actions.shape[1]
    g = linear_scores(phi, obs, data.actions).T @ adv / n
    inv_var = np.exp(-2 * phi[-k:])
    P = d * k + 2 * k
    F = np.zeros((P, P))
    for s in obs:
        J = np.hstack([np.kron(s[None, :], np.eye(k)), np.eye(k)])
        F[:d * k + k, :d * k + k] += J.T @ (inv_var[:, None] * J) / n
    F[d * k + k:, d * k + k:] = 2 * np.eye(k)
    return g, F


@pytest.mark.parametrize("lr_scale, max_norm", [(None, 0.05), (0.5, 0.05), (None, None)])
def test_vpg_updates_are_clipped_adam_ascent_steps_on_the_policy_gradient(lr_scale, max_norm):
    """Two VPG updates on one batch: each is one Adam ascent step (lr * lr_scale, default 1) on
    g = (1/N) sum_n score_n(phi) A'_n, clipped to norm 0.05 (active: ||g|| is about 1) or not
    clipped, with the scores in closed form and a textbook Adam. Adam's first step is
    lr g / (|g| + eps), blind to the clipping factor; the second is not. Unclipped, a g off by
    a constant factor (N^2 instead of 1/N) moves Adam's steps only through eps, by about
    lr eps / |g| ~ 1e-11: the tolerance, relative 1e-13 of the O(1) parameters for the two
    sides' different rounding, sees it."""
    cfg, agent, data = agent_and_batch("vpg", max_grad_norm=max_norm)
    adam = TextbookAdam(agent.phi, cfg.lr * (1.0 if lr_scale is None else lr_scale))
    hp = cfg.algorithm_params() if lr_scale is None else annealed(cfg.algorithm_params(), lr_scale)
    rng = np.random.default_rng(1)
    for _ in range(2):
        g = linear_scores(adam.theta, data.obs, data.actions).T @ standardised(data.adv) / len(data)
        assert np.linalg.norm(g) > 0.05
        adam.step(-(g if max_norm is None else clip_by_norm(g, max_norm)))
        ALGORITHMS["vpg"].update(agent, data, hp, rng)
    np.testing.assert_allclose(agent.phi, adam.theta, rtol=0, atol=1e-13)


@pytest.mark.parametrize("preset", ["default", "tianshou"])
def test_fixed_npg_step_is_alpha_times_damped_natural_gradient(preset):
    """npg_step='fixed' with the defaults the algorithm passes (its cfg.npg_alpha, damping,
    cg_iters, the batch's standardised advantages and g's 1/N): Delta phi = alpha (F + lambda
    I)^-1 g, with g and F from the closed forms above and numpy.linalg.solve. P = 3*2 + 2*2 = 10
    = cg_iters unknowns, so CG is exact up to rounding: 1e-10 relative (condition number of
    F + 0.1 I about 1e2, CG's rounding about cond * 1e-16 per iteration)."""
    cfg, agent, data = agent_and_batch("npg", preset=preset, npg_step="fixed", n=40)
    assert cfg.npg_alpha == {"default": 0.05, "tianshou": 0.1}[preset]
    phi_old = agent.phi.copy()
    ALGORITHMS["npg"].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    adv = standardised(data.adv) if cfg.norm_adv else data.adv
    g, F = _linear_policy_g_and_F(phi_old, data, adv)
    assert g.size == cfg.cg_iters
    expected = cfg.npg_alpha * np.linalg.solve(F + cfg.damping * np.eye(g.size), g)
    np.testing.assert_allclose(agent.phi - phi_old, expected, rtol=1e-10,
                               atol=1e-10 * np.max(np.abs(expected)))


def test_trpo_improvement_without_advantage_normalisation():
    """norm_adv=False with advantages 3 + 0.3 N(0, 1): L_TRPO(phi_old) = mean A is about 3, far
    from 0, so the improvement must subtract it. The logged improvement equals
    L(phi_new) - L(phi_old) computed here, and the accepted fraction is the first alpha^j (brute
    force, with L and the KL computed here) whose candidate improves L and keeps the KL within
    delta. With delta = 2 and this seed the full step lies inside the trust region but lowers
    L (found by a scan over seeds), so only the improvement test makes the search backtrack."""
    cfg, agent, data = agent_and_batch("trpo", seed=16, adv_mean=0.0, norm_adv=False, delta=2.0,
                                       **ONE_CRITIC_STEP)
    data.adv[:] = 3.0 + 0.3 * data.adv
    phi_old, theta_v_old = agent.phi.copy(), agent.theta_v.copy()
    metrics = ALGORITHMS["trpo"].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    _check_common_metrics(metrics, phi_old, agent.phi, theta_v_old, data, data.adv)
    L_old = _surrogate(phi_old, data, data.adv)
    assert abs(L_old - 3.0) < 0.3
    full = (agent.phi - phi_old) / metrics["step_fraction"]
    improves, inside = [], []
    for j in range(cfg.backtrack_iters):
        cand = phi_old + cfg.backtrack_alpha ** j * full
        improves.append(_surrogate(cand, data, data.adv) - L_old > 0)
        inside.append(gaussian_kl(phi_old, cand, data.obs, 2) <= cfg.delta)
    assert inside[0] and not improves[0], "the case no longer exercises the improvement test"
    first = [a and b for a, b in zip(improves, inside)].index(True)
    assert metrics["step_fraction"] == cfg.backtrack_alpha ** first


def _npg_step(cfg, agent, data, seed):
    """Delta phi of NPG's policy update from ``agent.phi`` (which it updates) and its metrics."""
    phi_old = agent.phi.copy()
    metrics = ALGORITHMS["npg"].policy_update(agent, data, cfg.algorithm_params(),
                                              np.random.default_rng(seed))
    return agent.phi - phi_old, metrics


@pytest.mark.parametrize("npg_step", ["normalized", "fixed"])
def test_npg_step_solves_the_damped_fisher_system(npg_step):
    """NPG's policy update is beta x with x = (F + lambda I)^-1 g (F and g in closed form,
    numpy.linalg.solve), beta = sqrt(2 delta / x^T g) or the fixed alpha. P = 10 = cg_iters, so
    CG is exact up to rounding (cond about 1e2: 1e-10 relative); Delta phi = phi_new - phi_old
    adds the rounding of |phi| (1e-15 of it)."""
    cfg, agent, data = agent_and_batch("npg", npg_step=npg_step, norm_adv=False)
    g, F = _linear_policy_g_and_F(agent.phi, data, data.adv)
    x = np.linalg.solve(F + cfg.damping * np.eye(g.size), g)
    beta = np.sqrt(2 * cfg.delta / (x @ g)) if npg_step == "normalized" else cfg.npg_alpha
    atol = 1e-10 * np.max(np.abs(beta * x)) + 1e-15 * np.max(np.abs(agent.phi))
    step, _ = _npg_step(cfg, agent, data, 0)
    np.testing.assert_allclose(step, beta * x, rtol=1e-10, atol=atol)


def test_trpo_accepted_at_the_full_step_equals_normalised_npg():
    """TRPO is NPG's direction plus the line search: where the search accepts gamma = 1, TRPO's
    update and NPG's normalised one give the same phi, bit for bit, and the same critic."""
    runs = {}
    for algo in ("trpo", "npg"):
        cfg, agent, data = agent_and_batch("trpo", **ONE_CRITIC_STEP)
        hp = dataclasses.replace(cfg, algo=algo).algorithm_params()
        metrics = ALGORITHMS[algo].update(agent, data, hp, np.random.default_rng(1))
        runs[algo] = (agent.phi, agent.theta_v, metrics)
    assert runs["trpo"][2]["step_fraction"] == 1.0
    np.testing.assert_array_equal(runs["trpo"][0], runs["npg"][0])
    np.testing.assert_array_equal(runs["trpo"][1], runs["npg"][1])
    assert "accepted" not in runs["npg"][2]


def test_npg_passes_cg_iters_and_the_fisher_subsample():
    """With cg_iters = 2 (< P = 10) CG stops after 2 iterations, for both step rules; with
    fvp_fraction 0.5, F averages the states that ``subsample_states`` draws from the update's
    generator (its own tests prove the draw): Delta phi = beta x, x = (F_sub + lambda I)^-1 g
    by numpy.linalg.solve (tolerances as in the test above)."""
    from refimpl.core.fisher import subsample_states

    for npg_step in ("normalized", "fixed"):
        cfg, agent, data = agent_and_batch("npg", npg_step=npg_step, cg_iters=2)
        assert _npg_step(cfg, agent, data, 0)[1]["cg_iters"] == 2
    cfg, agent, data = agent_and_batch("npg", fvp_fraction=0.5, norm_adv=False)
    g, _ = _linear_policy_g_and_F(agent.phi, data, data.adv)
    sub = subsample_states(data.obs, 0.5, np.random.default_rng(7))
    m = len(sub)
    _, F_sub = _linear_policy_g_and_F(agent.phi, FlatBatch(sub, data.actions[:m], *[None] * 5),
                                      data.adv[:m])
    x = np.linalg.solve(F_sub + cfg.damping * np.eye(g.size), g)
    beta = np.sqrt(2 * cfg.delta / (x @ g))
    atol = 1e-10 * np.max(np.abs(beta * x)) + 1e-15 * np.max(np.abs(agent.phi))
    np.testing.assert_allclose(_npg_step(cfg, agent, data, 7)[0], beta * x, rtol=1e-10,
                               atol=atol)


def test_logged_cg_residual_is_that_of_the_returned_direction():
    """cg_residual = ||g - (F + lambda I) x|| for the x of the step taken, F and g in closed form.
    Delta phi = beta x with nu = x^T g and beta^2 nu = 2 delta, so Delta phi^T g = 2 delta / beta.
    With cg_iters = 3 < P the residual is far from 0 (CG's recurrence tracks the true residual
    to rounding: cond about 1e2)."""
    cfg, agent, data = agent_and_batch("npg", cg_iters=3, norm_adv=False)
    phi_old = agent.phi.copy()
    metrics = ALGORITHMS["npg"].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    g, F = _linear_policy_g_and_F(phi_old, data, data.adv)
    D = agent.phi - phi_old
    x = D / (2 * cfg.delta / (D @ g))
    residual = np.linalg.norm(g - (F + cfg.damping * np.eye(g.size)) @ x)
    assert metrics["cg_iters"] == 3 and residual > 1e-3 * np.linalg.norm(g)
    assert metrics["cg_residual"] == pytest.approx(residual, rel=1e-8)


def test_trpo_rejects_when_no_candidate_qualifies_within_backtrack_iters():
    """The case of ``test_trpo_improvement_without_advantage_normalisation`` (full step inside
    the trust region but lowering L) with backtrack_iters = 1: the only candidate fails, so the
    search rejects and phi stays bit for bit."""
    cfg, agent, data = agent_and_batch("trpo", seed=16, adv_mean=0.0, norm_adv=False, delta=2.0,
                                       backtrack_iters=1, **ONE_CRITIC_STEP)
    data.adv[:] = 3.0 + 0.3 * data.adv
    phi_old = agent.phi.copy()
    metrics = ALGORITHMS["trpo"].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    assert (metrics["accepted"], metrics["step_fraction"]) == (0, 0.0)
    np.testing.assert_array_equal(agent.phi, phi_old)


def test_npg_update_draws_the_fisher_subsample_from_its_generator():
    """With fvp_fraction 0.5 the update's first draw from its generator is the Fisher
    subsample: Delta phi is parallel to (F_sub + lambda I)^-1 g for the states that
    ``subsample_states`` draws from an equal generator (closed-form F, numpy.linalg.solve)."""
    from refimpl.core.fisher import subsample_states

    cfg, agent, data = agent_and_batch("npg", fvp_fraction=0.5, norm_adv=False)
    phi_old = agent.phi.copy()
    ALGORITHMS["npg"].update(agent, data, cfg.algorithm_params(), np.random.default_rng(7))
    g, _ = _linear_policy_g_and_F(phi_old, data, data.adv)
    sub = subsample_states(data.obs, 0.5, np.random.default_rng(7))
    m = len(sub)
    _, F_sub = _linear_policy_g_and_F(phi_old, FlatBatch(sub, data.actions[:m], *[None] * 5),
                                      data.adv[:m])
    x = np.linalg.solve(F_sub + cfg.damping * np.eye(g.size), g)
    D = agent.phi - phi_old
    # P = 10 = cg_iters: CG exact up to rounding, cond about 1e2
    np.testing.assert_allclose(D / np.linalg.norm(D), x / np.linalg.norm(x), atol=1e-9)


def _linear_logits_fisher(phi, obs, k):
    """F = (1/N) sum_n J_n^T (diag p_n - p_n p_n^T) J_n for linear logits z = s W + b, written
    out: J_n = [kron(s_n, I_K), I_K] (W row-major, then b), p_n = softmax(z_n) by SciPy."""
    n, d = obs.shape
    W, b = phi[:d * k].reshape(d, k), phi[d * k:]
    F = np.zeros((phi.size, phi.size))
    for s, p in zip(obs, special.softmax(obs @ W + b, axis=1)):
        J = np.hstack([np.kron(s[None, :], np.eye(k)), np.eye(k)])
        F += J.T @ (np.diag(p) - np.outer(p, p)) @ J / n
    return F


@pytest.mark.parametrize("algo", ["ppo", "npg", "trpo", "vpg"])
def test_categorical_update_metrics_recomputed_from_returned_phi(algo):
    """The categorical head through every update (linear logits z = s W + b, K = 3): kl is the
    mean KL(pi_old || pi_new) and entropy the mean H(pi_new), both by scipy.stats.entropy on the
    returned phi; for NPG, TRPO and VPG the improvement is L_TRPO(phi_new) - L_TRPO(phi_old) with
    SciPy's log-softmax; NPG's normalised step lies on 1/2 D^T (F + lam I) D = delta with F
    written out, TRPO's accepted step inside the trust region."""
    from refimpl.algos.agent import Agent
    from refimpl.engine.config import Config

    n, d, k = 40, 3, 3
    cfg = Config.for_algo(algo, hidden=(), lr=0.01, cg_iters=d * k + k, **ONE_CRITIC_STEP)
    rng = np.random.default_rng(0)
    agent = Agent.create(cfg.agent_spec(), d, k, rng, "categorical")
    agent.phi[:] = 0.5 * rng.standard_normal(agent.phi.size)
    obs = rng.standard_normal((n, d))
    logits = lambda phi: obs @ phi[:d * k].reshape(d, k) + phi[d * k:]  # noqa: E731
    p_old = special.softmax(logits(agent.phi), axis=1)
    actions = np.array([rng.choice(k, p=p) for p in p_old])
    params, _ = agent.policy.dist_params(agent.phi, obs)  # as train.flatten keeps pi_old
    data = FlatBatch(obs, actions, agent.policy.log_prob_of(params, actions), params,
                     0.5 + rng.standard_normal(n), rng.standard_normal(n),
                     linear_values(agent.theta_v, obs))
    phi_old = agent.phi.copy()
    metrics = ALGORITHMS[algo].update(agent, data, cfg.algorithm_params(), np.random.default_rng(1))
    p_new = special.softmax(logits(agent.phi), axis=1)
    # means of 40 sums of 3 O(1) terms: rounding ~1e-15
    assert metrics["kl"] == pytest.approx(np.mean(stats.entropy(p_old, p_new, axis=1)), abs=1e-12)
    assert metrics["entropy"] == pytest.approx(np.mean(stats.entropy(p_new, axis=1)), abs=1e-12)
    assert metrics["kl"] > 0
    if algo == "ppo":
        return
    adv = standardised(data.adv)

    def surrogate(phi):
        logp = special.log_softmax(logits(phi), axis=1)[np.arange(n), actions]
        return np.mean(np.exp(logp - data.logp_old) * adv)
    improvement = surrogate(agent.phi) - surrogate(phi_old)
    assert metrics["improvement"] == pytest.approx(improvement, abs=1e-12) and improvement > 0
    assert metrics["policy_loss"] == pytest.approx(-improvement, abs=1e-12)
    D = agent.phi - phi_old
    if algo == "npg":
        F = _linear_logits_fisher(phi_old, obs, k)
        # P = 12 = cg_iters: CG is exact up to rounding on the damped (positive definite) system
        assert 0.5 * D @ (F + cfg.damping * np.eye(D.size)) @ D == pytest.approx(cfg.delta,
                                                                                 rel=1e-9)
    if algo == "trpo":
        assert metrics["accepted"] == 1 and metrics["kl"] <= cfg.delta


def test_trpo_estimates_the_fisher_on_the_subsample_it_draws():
    """TRPO with fvp_fraction 0.5 (the TRPO paper's subsampled Fisher-vector products): F is
    averaged over the states that ``subsample_states`` draws first from the update's generator,
    and with norm_adv=False and the full step accepted (step_fraction 1), Delta phi = beta x,
    x = (F_sub + lambda I)^-1 g with F_sub and g in closed form, beta = sqrt(2 delta / x^T g)
    (numpy.linalg.solve; P = 10 = cg_iters, so CG is exact up to rounding: tolerances as in
    ``test_npg_passes_cg_iters_and_the_fisher_subsample``). The full batch's F gives a step
    that differs from it by far more than the tolerance. The half-batch F misjudges the KL, so
    the search often backtracks; batch seed 4 is one (found by a scan) whose full step is
    accepted."""
    from refimpl.core.fisher import subsample_states

    cfg, agent, data = agent_and_batch("trpo", seed=4, fvp_fraction=0.5, norm_adv=False,
                                       **ONE_CRITIC_STEP)
    phi_old = agent.phi.copy()
    metrics = ALGORITHMS["trpo"].update(agent, data, cfg.algorithm_params(),
                                        np.random.default_rng(7))
    assert (metrics["accepted"], metrics["step_fraction"]) == (1, 1.0)
    g, F = _linear_policy_g_and_F(phi_old, data, data.adv)
    sub = subsample_states(data.obs, 0.5, np.random.default_rng(7))
    m = len(sub)
    assert m == 20
    _, F_sub = _linear_policy_g_and_F(phi_old, FlatBatch(sub, data.actions[:m], *[None] * 5),
                                      data.adv[:m])
    steps = []
    for fisher in (F_sub, F):
        x = np.linalg.solve(fisher + cfg.damping * np.eye(g.size), g)
        steps.append(np.sqrt(2 * cfg.delta / (x @ g)) * x)
    atol = 1e-10 * np.max(np.abs(steps[0])) + 1e-15 * np.max(np.abs(phi_old))
    np.testing.assert_allclose(agent.phi - phi_old, steps[0], rtol=1e-10, atol=atol)
    assert np.max(np.abs(steps[1] - steps[0])) > 1e3 * atol


@pytest.mark.parametrize("algo", ["ppo", "npg", "trpo", "vpg"])
def test_update_fits_the_critic_at_its_own_step_size_and_logs_its_loss(algo):
    """Every algorithm's ``update`` ends with the critic's fit (lecture, "TRPO: The big picture
    and relation to actor-critic"), whose Adam step size is hp.critic.lr, annealed here by 0.5
    (``core.critic.fit_critic``, ``loop.annealed``), not the step size the critic's optimiser
    was built with (here 3e-4 or 1e-3, against hp.critic.lr = 0.02). Two full-batch epochs are
    two Adam descent steps of size 0.01 on dL_V/dtheta_v = [s, 1]^T (V(s) - ret) / N of the
    linear critic (a textbook Adam), and ``value_loss`` is the loss of the last epoch, at the
    parameters after the first step: 1/2 mean (V(s) - ret)^2, written out. Tolerance: relative
    1e-12 of the O(1) parameters and loss, for the two sides' different rounding."""
    from refimpl.core.critic import CriticFitParams

    cfg, agent, data = agent_and_batch(algo)
    assert agent.v_opt.lr in (3e-4, 1e-3)
    hp = dataclasses.replace(cfg.algorithm_params(),
                             critic=CriticFitParams(lr=0.02, epochs=2, minibatch=64,
                                                    max_grad_norm=None))
    X = np.column_stack([data.obs, np.ones(len(data))])
    adam = TextbookAdam(agent.theta_v, 0.02 * 0.5)
    losses = []
    for _ in range(2):
        losses.append(0.5 * np.mean((X @ adam.theta - data.ret) ** 2))
        adam.step(X.T @ (X @ adam.theta - data.ret) / len(data))
    metrics = ALGORITHMS[algo].update(agent, data, annealed(hp, 0.5), np.random.default_rng(1))
    np.testing.assert_allclose(agent.theta_v, adam.theta, rtol=0, atol=1e-12)
    assert metrics["value_loss"] == pytest.approx(losses[1], rel=1e-12)
    assert abs(losses[1] - losses[0]) > 1e-3
