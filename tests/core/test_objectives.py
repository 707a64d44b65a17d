"""refimpl/core/objectives.py: the clipped objective's pessimism and gradient pattern, every gradient
against finite differences, the TRPO surrogate's gradient at phi_old against the policy gradient,
and importance sampling by Monte Carlo."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.gradcheck import assert_directional_derivative
from refimpl.core import distributions as dist
from refimpl.core.objectives import (clip_objective, explained_variance, ratio, surrogate,
                                value_loss)
from support.strategies import batch_sizes, policies, seeds

clip_epsilons = st.floats(0.05, 0.3)
MARGIN = 1e-3  # distance kept from every kink; gradcheck moves logp by at most 2e-5


def _samples(n, seed, clip_eps=None):
    """logp, logp_old, adv with log-ratios in [-0.6, 0.6]; with ``clip_eps`` the log-ratios near
    log(1 +- eps) (within MARGIN) are moved to 0, far inside the band, so no kink is crossed."""
    rng = np.random.default_rng(seed)
    logp_old = rng.standard_normal(n)
    log_ratio, adv = rng.uniform(-0.6, 0.6, n), rng.standard_normal(n)
    if clip_eps is not None:
        near = (np.abs(log_ratio - np.log1p(clip_eps)) < MARGIN) \
            | (np.abs(log_ratio - np.log1p(-clip_eps)) < MARGIN)
        log_ratio[near] = 0.0
    return logp_old + log_ratio, logp_old, adv


@given(batch_sizes, clip_epsilons, seeds)
def test_clip_term_is_a_pessimistic_bound_on_the_unclipped_term(n, clip_eps, seed):
    """Per sample: min(kA, clip(k)A) <= kA, with equality for k in [1-eps, 1+eps]; it never
    exceeds (1+eps)A when A > 0 nor (1-eps)A when A < 0 (lecture, "Understanding the clipped
    surrogate objective (1)"). Exact comparisons: the bounds are the same rounded products."""
    logp, logp_old, adv = _samples(n, seed)
    k = ratio(logp, logp_old)
    for i in range(n):
        term, _, _ = clip_objective(logp[i:i + 1], logp_old[i:i + 1], adv[i:i + 1], clip_eps)
        assert term <= k[i] * adv[i]
        if 1.0 - clip_eps <= k[i] <= 1.0 + clip_eps:
            assert term == k[i] * adv[i]
        if adv[i] > 0:
            assert term <= (1.0 + clip_eps) * adv[i]
        if adv[i] < 0:
            assert term <= (1.0 - clip_eps) * adv[i]


@given(batch_sizes, clip_epsilons, seeds)
def test_clip_objective_equals_surrogate_at_phi_old(n, clip_eps, seed):
    _, logp_old, adv = _samples(n, seed)
    value_clip, grad_clip, frac = clip_objective(logp_old, logp_old, adv, clip_eps)
    value_cpi, grad_cpi = surrogate(logp_old, logp_old, adv)
    # exact: kappa = exp(0) = 1 lies inside the band, so both compute mean(1.0 * A)
    assert value_clip == value_cpi and frac == 0.0
    np.testing.assert_array_equal(grad_clip, grad_cpi)


@given(batch_sizes, clip_epsilons, seeds)
def test_clip_gradient_vanishes_exactly_where_the_clipped_constant_is_active(n, clip_eps, seed):
    """Zero iff (A > 0 and k > 1+eps) or (A < 0 and k < 1-eps) ("Understanding ... (2)");
    otherwise k A / N, nonzero for A != 0. clip_fraction is the fraction of zeroed samples."""
    logp, logp_old, adv = _samples(n, seed)
    k = ratio(logp, logp_old)
    _, grad, frac = clip_objective(logp, logp_old, adv, clip_eps)
    flat = ((adv > 0) & (k > 1 + clip_eps)) | ((adv < 0) & (k < 1 - clip_eps))
    assert np.all(grad[flat] == 0.0) and np.all(grad[~flat] != 0.0)
    np.testing.assert_array_equal(grad[~flat], (k * adv / n)[~flat])
    assert frac == np.mean(flat)


def test_clip_objective_at_the_band_edge_takes_the_unclipped_gradient():
    """Documented tie rule: kappa exactly 1 + eps (A > 0) or 1 - eps (A < 0) keeps k A / N."""
    logp_old = np.zeros(2)
    logp = np.log(np.array([1.25, 0.75]))  # eps = 0.25: both ratios land on the edges exactly
    adv = np.array([1.0, -1.0])
    k = ratio(logp, logp_old)
    assert k[0] == 1.25 and k[1] == 0.75  # exp(log(x)) round-trips for these x
    _, grad, frac = clip_objective(logp, logp_old, adv, 0.25)
    np.testing.assert_array_equal(grad, k * adv / 2)
    assert frac == 0.0


def test_clip_fraction_does_not_count_zero_advantages():
    """A = 0 zeroes the gradient at any ratio, but nothing is clipped."""
    logp, logp_old, adv = np.array([1.0, -1.0, 1.0]), np.zeros(3), np.array([0.0, 0.0, 2.0])
    _, grad, frac = clip_objective(logp, logp_old, adv, 0.2)
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.0])
    assert frac == 1.0 / 3.0  # only the third sample (A > 0, kappa = e > 1.2) is clipped


def _per_sample_terms(objective, logp_old, adv):
    """logp -> the vector of summands (1/N) objective(sample n) of the batch objective.

    Both objectives are means of per-sample terms, each depending on its own logp_n only, so the
    batch gradient's component n is the derivative of summand n: the JVP along u is grad * u.
    Checked per summand rather than on the mean because signed advantages can make the mean cancel
    to far below its summands, and the gradient checker scales its rounding allowance with |f|."""
    n = len(adv)
    return lambda lp: np.array([objective(lp[i:i + 1], logp_old[i:i + 1], adv[i:i + 1])[0] / n
                                for i in range(n)])


@given(batch_sizes, clip_epsilons, seeds)
def test_clip_objective_gradient_matches_finite_differences(n, clip_eps, seed):
    logp, logp_old, adv = _samples(n, seed, clip_eps)
    _, grad, _ = clip_objective(logp, logp_old, adv, clip_eps)
    terms = _per_sample_terms(lambda *a: clip_objective(*a, clip_eps), logp_old, adv)
    assert_directional_derivative(terms, logp, lambda u: grad * u, np.random.default_rng(seed))


@given(batch_sizes, seeds)
def test_surrogate_gradient_matches_finite_differences(n, seed):
    logp, logp_old, adv = _samples(n, seed)
    _, grad = surrogate(logp, logp_old, adv)
    assert_directional_derivative(_per_sample_terms(surrogate, logp_old, adv), logp,
                                  lambda u: grad * u, np.random.default_rng(seed))


def _policy_problem(policy, n, seed):
    rng = np.random.default_rng(seed)
    phi_old = policy.init(rng, log_std=-0.5) if policy.kind == "gaussian" else policy.init(rng)
    phi_old[:policy.net.n_params] += 0.3 * rng.standard_normal(policy.net.n_params)
    obs = rng.standard_normal((n, policy.obs_dim))
    act = policy.sample_of(policy.dist_params(phi_old, obs)[0], rng)
    return rng, phi_old, obs, act, policy.log_prob(phi_old, obs, act), rng.standard_normal(n)


def _chain_to_phi(policy, phi, obs, act, dlogp):
    """d/dphi of sum_n dlogp_n log pi_phi(a_n|s_n): through score_of, then policy.vjp."""
    params, cache = policy.dist_params(phi, obs)
    return policy.vjp(phi, cache, *(d * dlogp[:, None] for d in policy.score_of(params, act)))


@given(policies(), batch_sizes, seeds)
def test_trpo_surrogate_gradient_at_phi_old_is_the_policy_gradient(policy, n, seed):
    """Lecture, "The Policy gradient for the TRPO surrogate loss": at phi = phi_old,
    grad L_TRPO = mean_n grad log pi(a_n|s_n) A_n = policy.score(..., A / N)."""
    _, phi_old, obs, act, logp_old, adv = _policy_problem(policy, n, seed)
    _, dlogp = surrogate(policy.log_prob(phi_old, obs, act), logp_old, adv)
    g = _chain_to_phi(policy, phi_old, obs, act, dlogp)
    # exact: kappa = 1.0, so dlogp = A / N and both sides run the same vjp on the same weights
    np.testing.assert_array_equal(g, policy.score(phi_old, obs, act, adv / n))


@given(policies(), batch_sizes, seeds)
def test_trpo_surrogate_gradient_in_phi_matches_finite_differences(policy, n, seed):
    """Away from phi_old the chained gradient (kappa != 1) still differentiates L_TRPO(phi).

    Advantages are taken positive here: the sign of A does not enter the chain rule, and a mean of
    same-signed terms cannot cancel below its summands (the gradient checker scales its rounding
    allowance with |f|)."""
    rng, phi_old, obs, act, logp_old, adv = _policy_problem(policy, n, seed)
    adv = np.abs(adv)
    phi = phi_old + 0.05 * rng.standard_normal(policy.n_params)
    L = lambda p: surrogate(policy.log_prob(p, obs, act), logp_old, adv)[0]  # noqa: E731
    _, dlogp = surrogate(policy.log_prob(phi, obs, act), logp_old, adv)
    g = _chain_to_phi(policy, phi, obs, act, dlogp)
    assert_directional_derivative(L, phi, lambda u: g @ u, rng)


def test_importance_sampling_identity_monte_carlo():
    """E_{a~old}[kappa(a) A(a)] = E_{a~new}[A(a)] ("TRPO: Sampling the correct expectation") for
    old = N(0, 1), new = N(0.3, 0.8^2), A(a) = a^2 - 1 + sin(a) with E_new[A] in closed form:
    mu^2 + s^2 - 1 + sin(mu) exp(-s^2/2). Var_old[kappa A] is finite since s^2 < 2. Bound: 5
    standard errors of the sample mean of 200000 draws (fixed seed)."""
    rng, n, mu, s = np.random.default_rng(0), 200_000, 0.3, 0.8
    a = rng.standard_normal((n, 1))
    logp_old = dist.log_prob(np.zeros((n, 1)), np.zeros(1), a)
    logp = dist.log_prob(np.full((n, 1), mu), np.full(1, np.log(s)), a)
    weighted = ratio(logp, logp_old) * (a[:, 0] ** 2 - 1.0 + np.sin(a[:, 0]))
    exact = mu ** 2 + s ** 2 - 1.0 + np.sin(mu) * np.exp(-s ** 2 / 2)
    assert abs(weighted.mean() - exact) <= 5.0 * weighted.std() / np.sqrt(n)


def _value_samples(n, seed, clip_eps):
    """v, ret, v_old with v moved onto v_old (far from every kink) wherever |v - v_old| is
    within MARGIN of eps or the two squared errors are within MARGIN of a crossing."""
    rng = np.random.default_rng(seed)
    v_old, ret = rng.standard_normal(n), rng.standard_normal(n)
    v = v_old + rng.uniform(-2 * clip_eps, 2 * clip_eps, n)
    err_clip = v_old + np.clip(v - v_old, -clip_eps, clip_eps) - ret
    near = (np.abs(np.abs(v - v_old) - clip_eps) < MARGIN) \
        | ((np.abs(v - v_old) > clip_eps) & (np.abs(np.abs(v - ret) - np.abs(err_clip)) < MARGIN))
    v[near] = v_old[near]
    return v, ret, v_old


@given(batch_sizes, clip_epsilons, seeds)
def test_value_loss_gradient_matches_finite_differences(n, clip_eps, seed):
    v, ret, v_old = _value_samples(n, seed, clip_eps)
    rng = np.random.default_rng(seed)
    _, grad = value_loss(v, ret)
    assert_directional_derivative(lambda x: value_loss(x, ret)[0], v, lambda u: grad @ u, rng)
    _, grad = value_loss(v, ret, v_old, clip_eps)
    assert_directional_derivative(lambda x: value_loss(x, ret, v_old, clip_eps)[0], v,
                                  lambda u: grad @ u, rng)


@given(batch_sizes, clip_epsilons, seeds)
def test_clipped_value_loss_bounds_plain_loss_and_equals_it_inside_the_band(n, clip_eps, seed):
    v, ret, v_old = _value_samples(n, seed, clip_eps)
    plain, plain_grad = value_loss(v, ret)
    clipped, _ = value_loss(v, ret, v_old, clip_eps)
    assert clipped >= plain  # max of two squares >= the first
    wide, wide_grad = value_loss(v, ret, v_old, 10.0)  # |v - v_old| <= 0.6 < 10: v_clip = v
    assert wide == plain
    np.testing.assert_array_equal(wide_grad, plain_grad)


def test_value_loss_plain_closed_form():
    loss, grad = value_loss(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert loss == 0.5 * (1.0 + 4.0) / 2  # exact small binary fractions
    np.testing.assert_array_equal(grad, [0.5, 1.0])


@given(st.integers(2, 30), seeds)
def test_explained_variance_is_one_for_perfect_and_zero_for_mean_prediction(n, seed):
    target = np.random.default_rng(seed).standard_normal(n)
    assert explained_variance(target, target) == 1.0
    # Var[target - mean] equals Var[target] up to rounding of the shifted mean: 1e-12
    assert abs(explained_variance(np.full(n, target.mean()), target)) <= 1e-12


def test_explained_variance_is_negative_for_worse_than_the_mean():
    target = np.array([0.0, 1.0, 2.0, 3.0])
    # pred = -target: Var[2 target] / Var[target] = 4, so EV = -3 (exact binary arithmetic)
    assert explained_variance(-target, target) == -3.0


def test_explained_variance_is_nan_for_constant_target():
    assert np.isnan(explained_variance(np.arange(3.0), np.ones(3)))


def test_objectives_reject_bad_arguments():
    z = np.zeros(3)
    with pytest.raises(ValueError, match="adv"):
        surrogate(z, z, np.zeros(2))
    with pytest.raises(ValueError, match="clip_eps"):
        clip_objective(z, z, z, 0.0)
    with pytest.raises(ValueError, match="logp"):
        clip_objective(np.zeros((3, 1)), z, z, 0.2)
    with pytest.raises(ValueError, match="v_old and clip_eps"):
        value_loss(z, z, v_old=z)


def test_surrogate_and_kl_is_the_trpo_objective_and_constraint_in_closed_form():
    """surrogate_and_kl(policy, phi, data, adv) = (L_TRPO(phi), KL-bar(pi_old, pi_phi)) with
    L_TRPO = mean_n exp(log pi_phi - log pi_old) A_n and the Gaussian KL per state, both written
    out for a linear policy (``tests/support/batches.py``); at phi_old they are (mean A, 0) exactly."""
    from support.batches import agent_and_batch, gaussian_kl, gaussian_logp
    from refimpl.core.objectives import surrogate_and_kl

    cfg, agent, data = agent_and_batch("trpo")
    phi_old = agent.phi
    L, kl = surrogate_and_kl(agent.policy, phi_old, data, data.adv)
    assert (L, kl) == (np.mean(data.adv), 0.0)
    phi = phi_old + 0.05 * np.random.default_rng(3).standard_normal(phi_old.size)
    L, kl = surrogate_and_kl(agent.policy, phi, data, data.adv)
    expected = np.mean(np.exp(gaussian_logp(phi, data.obs, data.actions) - data.logp_old)
                       * data.adv)
    # means of 40 O(1) terms, exp of O(0.1) log-ratios: rounding below 1e-13
    assert L == pytest.approx(expected, abs=1e-13)
    assert kl == pytest.approx(gaussian_kl(phi_old, phi, data.obs, data.actions.shape[1]),
                               abs=1e-13)


@pytest.mark.parametrize("name", ["logp", "logp_old", "adv"])
@pytest.mark.parametrize("function", ["surrogate", "clip_objective"])
def test_per_sample_objectives_refuse_arrays_of_another_shape(function, name):
    """Every argument of ``surrogate`` and ``clip_objective`` must have shape (N,) like logp
    (docstrings: "logp, logp_old, adv : ndarray, shape (N,)"): one of shape (1,), which numpy
    would broadcast silently to a wrong mean, is a ValueError naming it; a 2-D logp is too."""
    args = {"logp": np.zeros(3), "logp_old": np.zeros(3), "adv": np.ones(3)}
    call = ((lambda **a: surrogate(**a)) if function == "surrogate"
            else (lambda **a: clip_objective(**a, clip_eps=0.2)))
    call(**args)  # the well-shaped call is accepted
    args[name] = np.zeros(1) if name != "logp" else np.zeros((3, 1))
    expected = (r"logp must have shape \(N,\), got \(3, 1\)" if name == "logp"
                else rf"{name} has shape \(1,\), expected \(3,\)")
    with pytest.raises(ValueError, match=expected):
        call(**args)


def test_value_loss_and_explained_variance_refuse_arrays_of_another_shape():
    """``value_loss``'s v, ret and v_old and ``explained_variance``'s pred and target must all
    have shape (N,) (their docstrings), a (1,) array that would broadcast included: each
    mismatch is a ValueError naming the argument, and so is a scalar (0-D) v."""
    z, one = np.zeros(3), np.zeros(1)
    for kwargs, match in [(dict(v=z[:, None], ret=z), r"v must have shape \(N,\)"),
                          (dict(v=np.float64(1.0), ret=np.float64(0.0)),
                           r"v must have shape \(N,\), got \(\)"),
                          (dict(v=z, ret=one), r"ret has shape \(1,\)"),
                          (dict(v=z, ret=z, v_old=one, clip_eps=0.2), r"v_old has shape \(1,\)")]:
        with pytest.raises(ValueError, match=match):
            value_loss(**kwargs)
    value_loss(z, z, z, 0.2)  # the well-shaped call is accepted
    with pytest.raises(ValueError, match=r"pred must have shape \(N,\)"):
        explained_variance(z[:, None], z)
    with pytest.raises(ValueError, match=r"target has shape \(1,\)"):
        explained_variance(np.arange(3.0), one)


@pytest.mark.parametrize("clip_eps", [0.0, -0.1, np.nan])
def test_value_loss_refuses_a_clipping_range_that_is_not_positive(clip_eps):
    """``value_loss``'s clip_eps is documented "float > 0": 0 (a band that would freeze every
    prediction at v_old's loss), a negative range and nan are ValueErrors naming clip_eps;
    a positive range below 1 (0.5) is accepted and gives the PPO2 loss written out here:
    v = (0, 2), v_old = (1, 1), ret = (0, 0): v_clip = (0.5, 1.5), so the per-sample maxima are
    (0.25, 4) and the loss is 0.5 * 4.25 / 2."""
    z = np.zeros(2)
    with pytest.raises(ValueError, match="clip_eps must be > 0"):
        value_loss(z, z, z, clip_eps)
    loss, _ = value_loss(np.array([0.0, 2.0]), z, np.array([1.0, 1.0]), 0.5)
    assert loss == 0.5 * 4.25 / 2


def test_surrogate_change_computes_l_old_itself_when_not_given():
    """``surrogate_change(policy, phi_old, phi_new, data, adv)`` without L_old (documented
    optional: "L_old is L_TRPO(phi_old) when the caller has it") computes it: improvement =
    L_TRPO(phi_new) - L_TRPO(phi_old) with L_TRPO = mean_n exp(log pi_new - log pi_old) A_n
    written out (L_TRPO(phi_old) = mean A, far from 0 here, so dropping it is seen),
    policy_loss its negation, kl the closed-form Gaussian KL and entropy that of pi_new; and
    the result equals the one given L_old = L_TRPO(phi_old), bit for bit."""
    from support.batches import agent_and_batch, gaussian_entropy, gaussian_kl, gaussian_logp
    from refimpl.core.objectives import surrogate_and_kl, surrogate_change

    _, agent, data = agent_and_batch("trpo", adv_mean=2.0)
    phi_old = agent.phi
    phi_new = phi_old + 0.05 * np.random.default_rng(3).standard_normal(phi_old.size)
    adv = data.adv
    out = surrogate_change(agent.policy, phi_old, phi_new, data, adv)
    L_old, L_new = np.mean(adv), np.mean(
        np.exp(gaussian_logp(phi_new, data.obs, data.actions) - data.logp_old) * adv)
    assert abs(L_old) > 1.0
    # means of 40 O(1) terms, exp of O(0.1) log-ratios: rounding below 1e-13
    assert out["improvement"] == pytest.approx(L_new - L_old, abs=1e-13)
    assert out["policy_loss"] == -out["improvement"]
    assert out["kl"] == pytest.approx(gaussian_kl(phi_old, phi_new, data.obs, 2), abs=1e-13)
    assert out["entropy"] == pytest.approx(gaussian_entropy(phi_new, 2), abs=1e-13)
    given_l_old = surrogate_change(agent.policy, phi_old, phi_new, data, adv,
                                   surrogate_and_kl(agent.policy, phi_old, data, adv)[0])
    assert given_l_old == out
