"""Statistics of final returns over independent runs, as Agarwal et al. (NeurIPS 2021, "Deep
reinforcement learning at the edge of the statistical precipice") recommend for few runs of a
possibly bimodal outcome: the interquartile mean with a percentile-bootstrap confidence interval,
and the performance profile. Mean +- std and the median are reported beside them.

The computations are SciPy's (``scipy.stats.trim_mean``, ``scipy.stats.bootstrap``); this
module fixes the choices. For one task, the stratified bootstrap over
runs of the paper is the ordinary bootstrap over runs. Tested in ``tests/core/test_stats.py`` against
the definitions written out as plain loops, and against ``rliable`` where it is installed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.stats

RESAMPLES = 10_000
"""Bootstrap resamples (the issue's and rliable's choice): the Monte-Carlo error of a 2.5%
endpoint's probability level is then sqrt(0.025 * 0.975 / 10000) = 0.0016."""
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
"""Seed of the bootstrap's generator, so a table is reproduced exactly from its summary.csv."""


def iqm(x, axis: int = -1):
    """Interquartile mean: the mean of the runs between the 25th and the 75th percentile,
    ``scipy.stats.trim_mean(x, 0.25)`` (which cuts floor(n / 4) runs from each end; rliable's
    definition). Robust to one outlying seed, unlike the mean; less noisy than the median."""
    return scipy.stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)


def iqm_interval(x, seed: int = BOOTSTRAP_SEED, resamples: int = RESAMPLES,
                 confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the IQM over runs ``x`` (shape (n,)): the
    (1 - c)/2 and (1 + c)/2 quantiles of the IQM of ``resamples`` resamples of n runs drawn with
    replacement. (The percentile method, not SciPy's default BCa, as rliable uses it: BCa's
    jackknife acceleration is degenerate for the IQM of few runs.) ``iqm_band`` of one point."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must hold one final return per run, shape (n,), got {x.shape}")
    _, low, high = iqm_band(x[:, None], seed, resamples, confidence)
    return float(low[0]), float(high[0])


def iqm_band(runs, seed: int = BOOTSTRAP_SEED, resamples: int = RESAMPLES,
             confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM over runs with its percentile-bootstrap interval at each of m points, e.g. the
    evaluation steps of a learning curve: ``runs`` of shape (n, m), run i's curve in row i.
    Each resample draws n rows with replacement, so a run's whole curve is drawn as a unit and
    the band at every point is ``iqm_interval`` of that point's column (the same resampled runs
    for every column). Returns (iqm, low, high), each of shape (m,). Tested in
    ``tests/core/test_stats.py::test_band_is_the_interval_of_each_point``."""
    runs = np.asarray(runs, dtype=np.float64)
    if runs.ndim != 2 or len(runs) < 2:
        raise ValueError(f"a bootstrap interval needs at least 2 runs, got shape {runs.shape}")
    res = scipy.stats.bootstrap((runs,), iqm, n_resamples=resamples, confidence_level=confidence,
                                method="percentile", vectorized=True, axis=0,
                                rng=np.random.default_rng(seed))
    return iqm(runs, axis=0), res.confidence_interval.low, res.confidence_interval.high


def performance_profile(x, taus) -> np.ndarray:
    """Fraction of runs whose final return exceeds tau, for each tau of ``taus``: the empirical
    survival function of the runs, count(x > tau) / n. Shape of ``taus``."""
    x, taus = np.asarray(x, dtype=np.float64), np.asarray(taus, dtype=np.float64)
    return np.count_nonzero(x[:, None] > taus.ravel(), axis=0).reshape(taus.shape) / len(x)


@dataclass(frozen=True)
class Summary:
    """The statistics of one algorithm's final returns over its n runs."""

    n: int
    mean: float
    std: float
    median: float
    iqm: float
    iqm_low: float
    iqm_high: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(x, seed: int = BOOTSTRAP_SEED) -> Summary:
    """mean, std (population, ddof = 0, as numpy), median, IQM and its 95% bootstrap interval."""
    x = np.asarray(x, dtype=np.float64)
    low, high = iqm_interval(x, seed)
    return Summary(len(x), float(x.mean()), float(x.std()), float(np.median(x)), float(iqm(x)),
                   low, high)
