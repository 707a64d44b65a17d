"""refimpl/core/normalize.py: running moments against numpy on the pooled data; reward scaling against
a naive loop; checkpoints round-trip bit for bit."""
import io

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from refimpl.core.normalize import OBS_CLIP, PRIOR_COUNT, VAR_EPS, RewardScaler, RunningMeanStd
from support.strategies import seeds

sample_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@st.composite
def split_data(draw):
    """Data of shape (n, *shape) with offset and scale, and sorted cut points (empty batches
    allowed) splitting it into consecutive batches."""
    shape, n, seed = draw(sample_shapes), draw(st.integers(1, 40)), draw(seeds)
    rng = np.random.default_rng(seed)
    x = 3.0 + 2.0 * rng.standard_normal((n, *shape))
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    return x, np.split(x, cuts)


def _weighted_moments_with_prior(x, c):
    """Moments of the data pooled with a pseudo-sample of weight c, mean 0 and variance 1
    (two-pass, so no cancellation)."""
    n = x.shape[0]
    m = x.sum(axis=0) / (n + c)
    var = (c * (1.0 + m * m) + ((x - m) ** 2).sum(axis=0)) / (n + c)
    return m, var


@given(split_data())
def test_running_moments_without_prior_equal_numpy_moments_of_all_data(data):
    x, batches = data
    rms = RunningMeanStd(x.shape[1:], epsilon_count=0.0)
    for b in batches:
        rms.update(b)
    assert rms.count == x.shape[0]
    # rounding in <= 7 Chan merges of O(40)-term sums of O(3)-sized data: 1e-12 relative
    np.testing.assert_allclose(rms.mean, x.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rms.var, x.var(axis=0), rtol=1e-12, atol=1e-12)


@given(split_data())
def test_default_prior_is_a_pseudo_sample_with_mean0_var1_weight_epsilon_count(data):
    x, batches = data
    rms = RunningMeanStd(x.shape[1:])
    for b in batches:
        rms.update(b)
    mean, var = _weighted_moments_with_prior(x, 1e-4)
    # rounding, as above: 1e-12 relative
    np.testing.assert_allclose(rms.mean, mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rms.var, var, rtol=1e-12, atol=1e-12)
    assert rms.count == pytest.approx(x.shape[0] + 1e-4, rel=1e-15)  # one rounded addition


def test_initial_statistics_are_mean0_var1():
    rms = RunningMeanStd((2,))
    np.testing.assert_array_equal(rms.mean, [0.0, 0.0])
    np.testing.assert_array_equal(rms.var, [1.0, 1.0])
    assert rms.count == 1e-4


@given(seeds)
def test_normalize_standardises_inside_and_clips_outside(seed):
    rng = np.random.default_rng(seed)
    rms = RunningMeanStd((3,))
    rms.update(rng.standard_normal((50, 3)) * 2.0 + 1.0)
    x = rng.standard_normal((20, 3)) * 50.0
    z = rms.normalize(x, clip=5.0)
    raw = (x - rms.mean) / np.sqrt(rms.var + 1e-8)
    inside = np.abs(raw) <= 5.0
    np.testing.assert_array_equal(z[inside], raw[inside])
    np.testing.assert_array_equal(z[~inside], 5.0 * np.sign(raw[~inside]))
    assert (~inside).any() and inside.any()  # the draw exercises both branches


@given(seeds)
def test_normalize_without_clip_is_the_plain_standardisation(seed):
    """clip=None (``obs_clip none``): (x - mean) / sqrt(var + eps) everywhere, also far beyond
    any clip bound (the draw puts values past 10 standard deviations)."""
    rng = np.random.default_rng(seed)
    rms = RunningMeanStd((3,))
    rms.update(rng.standard_normal((50, 3)) * 2.0 + 1.0)
    x = rng.standard_normal((20, 3)) * 50.0
    raw = (x - rms.mean) / np.sqrt(rms.var + 1e-8)
    np.testing.assert_array_equal(rms.normalize(x, clip=None), raw)
    assert np.abs(raw).max() > 10.0


def test_normalize_defaults_are_clip_10_and_eps_1e_8():
    # zero variance: the default eps alone sets the scale, sqrt(1e-8) = 1e-4
    rms = RunningMeanStd((1,), epsilon_count=0.0)
    rms.update(np.full((4, 1), 2.0))
    assert rms.var[0] == 0.0
    z = rms.normalize(np.array([[2.0 + 5e-4], [2.0 + 2e-3], [2.0 - 2e-3]]))
    # (x - 2) / 1e-4 = 5 (rounding of x - 2 and of sqrt(1e-8): 1e-12 relative), then 20 and -20,
    # clipped to exactly +-10
    assert z[0, 0] == pytest.approx(5.0, rel=1e-12)
    np.testing.assert_array_equal(z[1:, 0], [10.0, -10.0])


def test_update_works_in_float64_for_float32_samples():
    # float32 samples 1, 1, 1 + 2^-23: their float32 sum 3 + 2^-23 rounds to 3 (ulp 2^-22), so
    # float32 moments would give mean 1 and var 0; in float64 the mean is 1 + 2^-23 / 3 (to its
    # rounding, 1e-16) and the variance (2^-23)^2 * 2 / 9, whose deviations of size 2^-23 carry
    # the mean's absolute rounding 2^-53, ~1e-9 of them
    x = np.array([[1.0], [1.0], [1.0 + 2.0 ** -23]], dtype=np.float32)
    rms = RunningMeanStd((1,), epsilon_count=0.0)
    rms.update(x)
    assert rms.mean[0] == pytest.approx(1.0 + 2.0 ** -23 / 3, rel=1e-15)
    assert rms.var[0] == pytest.approx(2.0 ** -46 * 2 / 9, rel=1e-8)


def test_update_rejects_wrong_sample_shape():
    with pytest.raises(ValueError, match="x must have shape"):
        RunningMeanStd((3,)).update(np.zeros((4, 2)))


def _npz_round_trip(d):
    buf = io.BytesIO()
    np.savez(buf, **d)
    buf.seek(0)
    return dict(np.load(buf))


@given(split_data())
def test_running_mean_std_state_round_trips_bit_for_bit_through_npz(data):
    x, batches = data
    rms = RunningMeanStd(x.shape[1:])
    rms.update(batches[0])
    restored = RunningMeanStd.from_state(_npz_round_trip(rms.state()))
    for b in batches[1:]:
        rms.update(b)
        restored.update(b)
    assert restored.mean.tobytes() == rms.mean.tobytes()
    assert restored.var.tobytes() == rms.var.tobytes()
    assert restored.count == rms.count


def _naive_reward_scaling(rewards, ends, gamma, c=1e-4, eps=1e-8):
    """Plain loop: R <- gamma R + r per env, std of every R seen so far (pooled with the prior
    pseudo-sample), r / sqrt(var + eps), then R <- 0 after an end."""
    T, E = rewards.shape
    R, seen, out = np.zeros(E), [], np.zeros((T, E))
    for t in range(T):
        for e in range(E):
            R[e] = gamma * R[e] + rewards[t, e]
        seen.extend(R.tolist())
        _, var = _weighted_moments_with_prior(np.array(seen), c)
        out[t] = rewards[t] / np.sqrt(var + eps)
        R[ends[t]] = 0.0
    return out


@given(st.integers(1, 15), st.integers(1, 4), st.floats(0.0, 1.0), seeds)
def test_reward_scaler_matches_naive_loop(T, E, gamma, seed):
    rng = np.random.default_rng(seed)
    rewards, ends = rng.standard_normal((T, E)), rng.random((T, E)) < 0.3
    scaler = RewardScaler(E, gamma)
    scaled = np.array([scaler.scale(rewards[t], ends[t]) for t in range(T)])
    # Chan merges vs two-pass moments of <= 60 O(T)-sized values: rounding, 1e-11 relative
    np.testing.assert_allclose(scaled, _naive_reward_scaling(rewards, ends, gamma),
                               rtol=1e-11, atol=0)


def test_reward_scaler_resets_return_at_episode_end():
    scaler = RewardScaler(2, 0.5)
    scaler.scale(np.array([1.0, 1.0]), np.array([False, False]))
    scaler.scale(np.array([2.0, 2.0]), np.array([True, False]))
    np.testing.assert_array_equal(scaler.R, [0.0, 2.5])  # env 0 ended; env 1: 0.5 * 1 + 2
    scaler.scale(np.array([4.0, 4.0]), np.array([False, False]))
    np.testing.assert_array_equal(scaler.R, [4.0, 5.25])  # env 0 restarts from its reward


@given(st.integers(2, 15), seeds, st.sampled_from([1e-8, 0.5]))
@example(5, 0, 0.5)  # an epsilon other than the default must survive the round trip too
def test_reward_scaler_state_round_trip_continues_identically(T, seed, epsilon):
    rng = np.random.default_rng(seed)
    rewards, ends = rng.standard_normal((T, 3)), rng.random((T, 3)) < 0.3
    scaler = RewardScaler(3, 0.99, epsilon)
    scaler.scale(rewards[0], ends[0])
    restored = RewardScaler.from_state(_npz_round_trip(scaler.state()))
    for t in range(1, T):
        assert scaler.scale(rewards[t], ends[t]).tobytes() == \
            restored.scale(rewards[t], ends[t]).tobytes()


def test_reward_scaler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="gamma"):
        RewardScaler(2, 1.5)
    with pytest.raises(ValueError, match="num_envs"):
        RewardScaler(0, 0.9)
    with pytest.raises(ValueError, match="rewards"):
        RewardScaler(2, 0.9).scale(np.zeros(3), np.zeros(3, dtype=bool))


def test_default_constants_are_baselines_values_and_are_used():
    """PRIOR_COUNT 1e-4, OBS_CLIP 10 and VAR_EPS 1e-8 (OpenAI baselines' RunningMeanStd and
    VecNormalize). By default a value 50 sd away is clipped to 10, and a coordinate of
    variance 0 is divided by sqrt(1e-8) = 1e-4; the reward scaler adds the same 1e-8."""
    assert (PRIOR_COUNT, OBS_CLIP, VAR_EPS) == (1e-4, 10.0, 1e-8)
    rms = RunningMeanStd((2,), epsilon_count=0.0)
    rms.update(np.array([[0.0, 1.0], [2.0, 1.0]]))      # mean (1, 1), var (1, 0)
    # 1 + 1e-5 - 1 is 1e-5 up to eps / 1e-5 ~ 1e-11 relative
    np.testing.assert_allclose(rms.normalize(np.array([51.0, 1.0 + 1e-5])), [10.0, 0.1],
                               rtol=1e-10)
    assert RunningMeanStd(()).count == 1e-4 and RewardScaler(1, 0.9).epsilon == 1e-8
    with pytest.raises(ValueError, match="ends"):  # the flags alone of the wrong shape
        RewardScaler(2, 0.9).scale(np.zeros(2), np.zeros(3, dtype=bool))


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_reward_scaler_accepts_both_ends_of_the_discount_range(gamma):
    scaler = RewardScaler(1, gamma)
    scaler.scale(np.array([1.0]), np.array([False]))
    scaler.scale(np.array([1.0]), np.array([False]))
    assert scaler.R[0] == gamma + 1.0  # R = gamma * 1 + 1
