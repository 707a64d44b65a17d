"""refimpl/core/stats.py: the IQM, its percentile-bootstrap interval and the performance profile,
against their definitions written out as plain loops, and against rliable where installed."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl.core import stats

finite = st.floats(-1e4, 1e4, allow_nan=False)
runs = st.lists(finite, min_size=2, max_size=40)


def _iqm_by_definition(x):
    """Sort, drop floor(n/4) runs at each end, average the rest (Agarwal et al. 2021, sec. 4);
    along the last axis."""
    x = np.sort(x, axis=-1)
    n = x.shape[-1]
    return x[..., n // 4:n - n // 4].mean(axis=-1)


@given(runs)
def test_iqm_is_the_mean_of_the_middle_runs(x):
    # one sum of at most 40 terms of size <= 1e4 in a different order: error <= 40 eps 1e4
    assert abs(stats.iqm(x) - sum(sorted(x)[len(x) // 4:len(x) - len(x) // 4])
               / (len(x) - 2 * (len(x) // 4))) <= 40 * np.finfo(float).eps * 1e4


def test_iqm_ignores_one_outlying_run():
    """Ten runs, nine near 5,000 and one at 0: the IQM stays at 5,000; the mean moves by 500."""
    x = [5000.0] * 9 + [0.0]
    assert stats.iqm(x) == 5000.0 and np.mean(x) == 4500.0


@settings(max_examples=30)  # each example draws 2 x 10,000 resamples
@given(st.lists(finite, min_size=4, max_size=12), st.integers(0, 2**32 - 1))
def test_bootstrap_interval_matches_a_plain_bootstrap(x, seed):
    """A plain bootstrap (resample n runs with replacement B times, IQM of each) draws other
    resamples than SciPy, so the two intervals differ by Monte-Carlo error. Compared on the
    probability scale, where that error is binomial: the share of the plain bootstrap's
    statistics below SciPy's lower endpoint must be 0.025 within 5 standard errors of the
    difference of two independent B-sample quantile levels, 5 sqrt(2 p (1 - p) / B) = 0.011
    for B = 10,000 (and likewise 0.975 at the upper endpoint). Ties (the IQM of few runs takes
    few values) are allowed for by counting < and <= separately."""
    low, high = stats.iqm_interval(x, seed=seed)
    rng = np.random.default_rng(seed + 1)
    x = np.asarray(x)
    boot = _iqm_by_definition(x[rng.integers(0, len(x), (stats.RESAMPLES, len(x)))])
    tol = 5 * np.sqrt(2 * 0.025 * 0.975 / stats.RESAMPLES)
    ulp = 1e-9 * max(1.0, np.abs(x).max())  # the two IQMs of one resample differ by rounding
    for end, p in ((low, 0.025), (high, 0.975)):
        assert np.mean(boot < end - ulp) <= p + tol
        assert np.mean(boot <= end + ulp) >= p - tol
    assert low <= stats.iqm(x) + ulp and stats.iqm(x) - ulp <= high


def test_bootstrap_interval_is_reproducible_and_checks_its_input():
    x = [3200.0, 3300.0, 5900.0, 6100.0, 6000.0, 3250.0, 5800.0, 6050.0, 5950.0, 3150.0]
    assert stats.iqm_interval(x) == stats.iqm_interval(x)
    assert stats.iqm_interval(x, seed=1) != stats.iqm_interval(x)
    with pytest.raises(ValueError, match="at least 2 runs"):
        stats.iqm_interval([1.0])


def test_two_runs_are_enough_for_an_interval():
    """Two runs (floor(2/4) = 0 cut, so the IQM is their mean): the resamples' means are 1, 2
    or 3 with probabilities 1/4, 1/2, 1/4, so the 2.5% and 97.5% quantiles are exactly 1 and 3.
    The same for a band of two runs."""
    assert stats.iqm_interval([1.0, 3.0]) == (1.0, 3.0)
    mid, low, high = stats.iqm_band([[1.0], [3.0]])
    assert (mid[0], low[0], high[0]) == (2.0, 1.0, 3.0)


def test_interval_passes_its_resamples_and_confidence_to_the_bootstrap(monkeypatch):
    """iqm_interval(x, seed, resamples, confidence) asks SciPy's bootstrap for that many
    resamples at that level (SciPy's own defaults, 9,999 and 0.95, are not ours to inherit); a
    narrower level gives a nested interval."""
    seen = []
    bootstrap = stats.scipy.stats.bootstrap

    def spy(*args, **kwargs):
        seen.append((kwargs["n_resamples"], kwargs["confidence_level"]))
        return bootstrap(*args, **kwargs)

    monkeypatch.setattr(stats.scipy.stats, "bootstrap", spy)
    x = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0]
    low50, high50 = stats.iqm_interval(x, 0, 500, 0.5)
    low95, high95 = stats.iqm_interval(x)
    assert seen == [(500, 0.5), (stats.RESAMPLES, stats.CONFIDENCE)]
    assert low95 <= low50 <= high50 <= high95 and (low95, high95) != (low50, high50)


def test_float32_runs_are_bootstrapped_in_float64():
    """Returns read as float32 give the IQM, interval and band of their float64 values, not of
    float32 arithmetic (whose means of these values differ in the 8th digit)."""
    x32 = np.array([0.1, 0.2, 0.3, 0.7, 1.1, 1.3, 1.7, 2.9], dtype=np.float32)
    x64 = x32.astype(np.float64)
    assert float(stats.scipy.stats.trim_mean(x32, 0.25)) != stats.iqm(x64)  # tells them apart
    assert stats.iqm(x32) == stats.iqm(x64)
    assert stats.iqm_interval(x32) == stats.iqm_interval(x64)
    for got, expected in zip(stats.iqm_band(x32[:, None]), stats.iqm_band(x64[:, None])):
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=10)  # each example bootstraps 4 columns of 10,000 resamples
@given(st.lists(st.lists(finite, min_size=4, max_size=4), min_size=3, max_size=12),
       st.integers(0, 2**32 - 1))
def test_band_is_the_interval_of_each_point(rows, seed):
    """A learning curve's band: at each evaluation step, exactly the interval of that step's
    column alone (the resamples draw whole runs; columns do not mix), and the IQM is the
    definition's. Exact, since both draw the same resample indices from the same seed."""
    runs = np.array(rows)
    mid, low, high = stats.iqm_band(runs, seed=seed)
    for j in range(runs.shape[1]):
        assert (low[j], high[j]) == stats.iqm_interval(runs[:, j], seed=seed)
    # a mean of at most 12 values of size <= 1e4 summed in another order: 12 eps 1e4 < 1e-9
    np.testing.assert_allclose(mid, _iqm_by_definition(runs.T), rtol=0, atol=1e-9)


@given(runs, st.lists(finite, min_size=1, max_size=20))
def test_performance_profile_is_the_share_of_runs_above_tau(x, taus):
    expected = [sum(v > tau for v in x) / len(x) for tau in taus]
    np.testing.assert_array_equal(stats.performance_profile(x, taus), expected)


def test_summary_of_a_bimodal_outcome():
    """Three of five runs near 6,000, two near 3,200 (the shape of PPO's HalfCheetah results):
    mean and median are those of numpy; the IQM cuts one run from each end."""
    x = [6000.0, 6100.0, 5900.0, 3200.0, 3300.0]
    s = stats.summarize(x)
    assert (s.n, s.mean, s.median) == (5, np.mean(x), 5900.0)
    assert s.std == np.std(x)
    assert s.iqm == pytest.approx((3300.0 + 5900.0 + 6000.0) / 3, rel=1e-15)
    assert 3200.0 <= s.iqm_low <= s.iqm <= s.iqm_high <= 6100.0


@given(st.lists(st.lists(finite, min_size=1, max_size=3), min_size=1, max_size=4),
       st.lists(finite, min_size=2, max_size=10))
def test_performance_profile_has_the_shape_of_taus(grid, x):
    """taus of any shape, e.g. a grid of thresholds (m, k): the profile has that shape, and each
    entry is the share of runs above its own tau."""
    width = min(len(row) for row in grid)
    taus = np.array([row[:width] for row in grid])
    got = stats.performance_profile(x, taus)
    assert got.shape == taus.shape
    for index, tau in np.ndenumerate(taus):
        assert got[index] == sum(v > tau for v in x) / len(x)


def test_summary_is_computed_in_float64_from_float32_runs():
    """Returns read as float32 are summarised in float64: the mean of 0.1f repeated is that of
    the float64 values, not of float32 accumulation (whose sum drifts by ~1e-7 relative)."""
    x32 = np.full(1000, 0.1, dtype=np.float32)
    x64 = x32.astype(np.float64)
    s = stats.summarize(x32)
    assert s.mean == x64.mean() and s.std == x64.std() and s.median == float(np.median(x64))
    assert isinstance(s.mean, float)
    assert float(x32.mean(dtype=np.float32)) != x64.mean()  # the test can tell the two apart


def test_summary_interval_uses_the_given_seed():
    """summarize(x, seed) reports iqm_interval(x, seed): a table is reproduced from its seed, and
    another seed gives another bootstrap. The IQM of a resample of few runs takes few values, so
    two seeds often give the same endpoints; for these nine runs the upper ones differ (26.6 at
    seed 0, 27.2 at seed 1, 10,000 resamples each), so a summary that dropped its seed is seen."""
    x = [1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0]
    for seed in (0, 1):
        s = stats.summarize(x, seed=seed)
        assert (s.iqm_low, s.iqm_high) == stats.iqm_interval(x, seed)
    assert stats.iqm_interval(x, 0) != stats.iqm_interval(x, 1)


def test_summary_as_dict_names_every_field():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0])
    assert s.as_dict() == {"n": 4, "mean": 2.5, "std": s.std, "median": 2.5, "iqm": 2.5,
                           "iqm_low": s.iqm_low, "iqm_high": s.iqm_high}
    assert s.std == np.sqrt(1.25)  # population variance of 1..4: (2.25 + 0.25) * 2 / 4


def test_agrees_with_rliable():
    """rliable 1.2.0 (Agarwal et al.'s library): the same IQM, and an interval whose endpoints
    lie at the same probability levels of our bootstrap distribution within Monte-Carlo error.
    Optional (pip install -e '.[rliable]'; .ci/run runs it and fails on a skip): rliable
    needs arch < 8, since arch 8 drops the random_state argument rliable passes, and arch 7.2
    does not import with pandas 3 (TypeError in arch.univariate.base), so the extra pins
    pandas < 3."""
    try:
        from rliable import library, metrics
    except Exception as e:  # absent, or present but failing to import
        pytest.skip(f"rliable is not importable here ({type(e).__name__}: {e})")
    x = np.array([6000.0, 6100.0, 5900.0, 3200.0, 3300.0, 5800.0, 3250.0, 6050.0, 5950.0, 3150.0])
    assert metrics.aggregate_iqm(x[:, None]) == pytest.approx(stats.iqm(x), rel=1e-15)
    point, ci = library.get_interval_estimates({"a": x[:, None]}, lambda s: np.array(
        [metrics.aggregate_iqm(s)]), reps=stats.RESAMPLES)
    rng = np.random.default_rng(7)
    boot = _iqm_by_definition(x[rng.integers(0, len(x), (stats.RESAMPLES, len(x)))])
    tol = 5 * np.sqrt(2 * 0.025 * 0.975 / stats.RESAMPLES)
    for end, p in ((ci["a"][0, 0], 0.025), (ci["a"][1, 0], 0.975)):
        assert np.mean(boot < end) <= p + tol and np.mean(boot <= end) >= p - tol
