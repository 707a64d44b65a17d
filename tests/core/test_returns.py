"""refimpl/core/returns.py: GAE and discounted sums against naive loops, limits and a hand example."""
import re

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.core.returns import ADV_EPS, discounted_sum, gae, standardize
from support.strategies import seeds

horizons = st.integers(1, 12)
n_envs = st.integers(1, 4)
discounts = st.floats(0.0, 1.0)


def _rollout(T, E, seed, consistent=False):
    """Random rewards/values/flags; ``consistent`` makes next_values[t] = values[t+1] inside an
    episode, as a real rollout does (needed for the telescoping lam = 1 identity)."""
    rng = np.random.default_rng(seed)
    rewards, values, next_values = rng.standard_normal((3, T, E))
    terminated = rng.random((T, E)) < 0.2
    ends = terminated | (rng.random((T, E)) < 0.2)
    if consistent:
        inside = ~ends[:-1]
        next_values[:-1][inside] = values[1:][inside]
    return rewards, values, next_values, terminated, ends


def _naive_gae(rewards, values, next_values, terminated, ends, gamma, lam):
    """A_t = sum_{l>=0} (gamma lam)^l delta_{t+l}, summed until (and including) an episode end."""
    T, E = rewards.shape
    adv = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            for k in range(t, T):
                bootstrap = 0.0 if terminated[k, e] else next_values[k, e]
                delta = rewards[k, e] + gamma * bootstrap - values[k, e]
                adv[t, e] += (gamma * lam) ** (k - t) * delta
                if ends[k, e]:
                    break
    return adv


def _naive_return(rewards, next_values, terminated, ends, gamma):
    """Monte-Carlo return of the current episode, bootstrapped with V(s_{k+1}) when the episode
    is cut by truncation or by the end of the rollout, and with 0 after a terminal state."""
    T, E = rewards.shape
    G = np.zeros((T, E))
    for e in range(E):
        for t in range(T):
            for k in range(t, T):
                G[t, e] += gamma ** (k - t) * rewards[k, e]
                if ends[k, e] or k == T - 1:
                    if not terminated[k, e]:
                        G[t, e] += gamma ** (k - t + 1) * next_values[k, e]
                    break
    return G


@given(horizons, n_envs, discounts, discounts, seeds)
def test_gae_matches_naive_double_loop(T, E, gamma, lam, seed):
    data = _rollout(T, E, seed)
    adv, ret = gae(*data, gamma, lam)
    expected = _naive_gae(*data, gamma, lam)
    # rounding of at most T = 12 summed O(1) terms, evaluated in a different order
    np.testing.assert_allclose(adv, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(ret, adv + data[1])


@given(horizons, n_envs, discounts, seeds)
def test_gae_lambda0_is_td_error(T, E, gamma, seed):
    rewards, values, next_values, terminated, ends = _rollout(T, E, seed)
    adv, _ = gae(rewards, values, next_values, terminated, ends, gamma, 0.0)
    delta = rewards + gamma * (1.0 - terminated) * next_values - values
    # exact: the recursion adds 0.0 * A_{t+1} and delta is formed with the same operations
    np.testing.assert_array_equal(adv, delta)


@given(horizons, n_envs, discounts, seeds)
def test_gae_lambda1_is_monte_carlo_return_minus_value(T, E, gamma, seed):
    rewards, values, next_values, terminated, ends = _rollout(T, E, seed, consistent=True)
    adv, ret = gae(rewards, values, next_values, terminated, ends, gamma, 1.0)
    G = _naive_return(rewards, next_values, terminated, ends, gamma)
    # rounding of at most T = 12 telescoped O(1) terms
    np.testing.assert_allclose(adv, G - values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ret, G, rtol=0, atol=1e-12)


def test_truncation_bootstraps_and_termination_does_not():
    """Constant reward r = 1, gamma = 1/2: the infinite chain has V = r / (1 - gamma) = 2, so with
    V = 2 everywhere every TD error is 1 + 0.5 * 2 - 2 = 0 -- unless the episode terminates."""
    r, V = np.ones((3, 1)), np.full((3, 1), 2.0)
    cut_at_1 = np.array([[False], [True], [False]])
    not_terminal = np.zeros((3, 1), dtype=bool)
    adv, ret = gae(r, V, V, not_terminal, cut_at_1, 0.5, 1.0)
    np.testing.assert_array_equal(adv, np.zeros((3, 1)))  # truncation: V(s_2) = 2 bootstraps
    np.testing.assert_array_equal(ret, V)
    adv, ret = gae(r, V, V, cut_at_1, cut_at_1, 0.5, 1.0)
    # termination at t=1: delta_1 = 1 - 2 = -1, A_0 = 0 + 0.5 * (-1); returns 1 + 0.5 * 1 and 1;
    # step 2 starts a new episode and keeps A_2 = 0 (all values are exact binary fractions)
    np.testing.assert_array_equal(adv, [[-0.5], [-1.0], [0.0]])
    np.testing.assert_array_equal(ret, [[1.5], [1.0], [2.0]])


GAE_ARGS = ("rewards", "values", "next_values", "terminated", "ends")


@pytest.mark.parametrize("name", GAE_ARGS)
def test_gae_names_the_argument_whose_shape_differs(name):
    args = {a: np.zeros((3, 2)) for a in GAE_ARGS}
    args[name] = np.zeros((3, 1))
    first = "values" if name == "rewards" else "rewards"  # shapes are compared with the first
    expected = (f"{first} has shape (3, 2), expected (3, 1) like rewards" if name == "rewards"
                else f"{name} has shape (3, 1), expected (3, 2) like rewards")
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        gae(*(args[a] for a in GAE_ARGS), 0.99, 0.95)


@pytest.mark.parametrize("gamma, lam, name", [(-0.1, 0.9, "gamma"), (1.5, 0.9, "gamma"),
                                              (0.9, -0.1, "lam"), (0.9, 1.5, "lam")])
def test_gae_names_the_discount_outside_0_1(gamma, lam, name):
    z, b = np.zeros((3, 2)), np.zeros((3, 2), dtype=bool)
    bad = gamma if name == "gamma" else lam
    with pytest.raises(ValueError, match=f"^{name} must lie in \\[0, 1\\], got {bad}$"):
        gae(z, z, z, b, b, gamma, lam)


@pytest.mark.parametrize("x_shape, ends_shape, bad", [((3, 1), (3, 2), "ends"),
                                                      ((3,), (3,), "x")])
def test_discounted_sum_names_a_bad_argument(x_shape, ends_shape, bad):
    expected = {"ends": "ends has shape (3, 2), expected (3, 1) like x",
                "x": "x must have shape (T, E), got (3,)"}[bad]
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        discounted_sum(np.zeros(x_shape), np.zeros(ends_shape, dtype=bool), 0.9)
    with pytest.raises(ValueError, match=r"^gamma must lie in \[0, 1\], got 1.5$"):
        discounted_sum(np.zeros((3, 2)), np.zeros((3, 2), dtype=bool), 1.5)


@given(horizons, n_envs, discounts, seeds)
def test_discounted_sum_matches_naive_loop(T, E, gamma, seed):
    rng = np.random.default_rng(seed)
    x, bootstrap = rng.standard_normal((T, E)), rng.standard_normal(E)
    ends = rng.random((T, E)) < 0.3
    next_values = np.zeros((T, E))
    next_values[-1] = bootstrap
    # ends count as terminal (no bootstrap); an unfinished episode bootstraps at the rollout end
    expected = _naive_return(x, next_values, ends, ends, gamma)
    # rounding of at most T = 12 summed O(1) terms
    np.testing.assert_allclose(discounted_sum(x, ends, gamma, bootstrap), expected,
                               rtol=0, atol=1e-12)


def test_bad_inputs_raise_value_error_naming_the_argument():
    z, b = np.zeros((3, 2)), np.zeros((3, 2), dtype=bool)
    with pytest.raises(ValueError, match="values"):
        gae(z, np.zeros((3, 1)), z, b, b, 0.99, 0.95)
    with pytest.raises(ValueError, match="lam"):
        gae(z, z, z, b, b, 0.99, 1.5)
    with pytest.raises(ValueError, match="rewards"):
        gae(np.zeros(3), z, z, b, b, 0.99, 0.95)
    with pytest.raises(ValueError, match="gamma"):
        discounted_sum(z, b, -0.1)


@given(st.integers(2, 300), st.floats(-1e3, 1e3), st.floats(1e-3, 1e3), seeds)
@example(2, 512.0, 0.25, 1)
def test_standardize_has_mean_0_and_std_1(n, shift, scale, seed):
    """mean(A') = 0 and std(A') = s / (s + 1e-8) with s = std(A) (population std, numpy's
    np.std): 1 up to 1e-8 / s. Tolerance: centring a batch of size max|A| rounds each deviation
    by about eps max|A|, i.e. eps max|A| / s relative to the spread; the sums of n terms add a
    factor of at most n. The pinned example (|A| = 512, s = 0.06) needs that max|A| / s."""
    adv = shift + scale * np.random.default_rng(seed).standard_normal(n)
    out = standardize(adv)
    s = np.std(adv)
    tol = 4 * n * np.finfo(float).eps * np.max(np.abs(adv)) / s
    assert abs(np.mean(out)) <= tol
    assert np.std(out) == pytest.approx(s / (s + 1e-8), rel=tol)
    assert out.shape == adv.shape


def test_standardize_eps_is_1e_8_and_keeps_a_constant_batch_finite():
    """ADV_EPS is baselines' and CleanRL's 1e-8; a constant batch (std 0) maps to zeros."""
    assert ADV_EPS == 1e-8
    np.testing.assert_array_equal(standardize(np.full(5, 3.25)), np.zeros(5))
    # std 1e-8 exactly representable case: s / (s + 1e-8) = 1/2
    adv = np.array([-1e-8, 1e-8])
    np.testing.assert_allclose(standardize(adv), [-0.5, 0.5], rtol=1e-15)


@given(horizons, n_envs, discounts, seeds)
def test_td_errors_are_one_step_advantages_zeroed_after_termination(T, E, gamma, seed):
    """td_errors, element by element: delta_t = r_t + gamma V(s_{t+1}) - V(s_t), with V(s_{t+1})
    replaced by 0 where the episode terminated (the lecture's "V(s_T) = 0 (terminal)")."""
    from refimpl.core.returns import td_errors

    rewards, values, next_values, terminated, _ = _rollout(T, E, seed)
    delta = td_errors(rewards, values, next_values, terminated, gamma)
    for t in range(T):
        for e in range(E):
            bootstrap = 0.0 if terminated[t, e] else gamma * next_values[t, e]
            # one addition and one subtraction in the same order: rounding differs by <= 2 ulp
            assert delta[t, e] == pytest.approx(rewards[t, e] + bootstrap - values[t, e],
                                                rel=1e-15, abs=1e-15)
