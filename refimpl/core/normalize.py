"""Running statistics for observation normalisation and reward scaling.

Implementation detail (not in the lecture): PPO implementations normalise observations by a
running mean/std and divide rewards by the running std of a discounted return ("reward scaling",
Engstrom et al. 2020, "Implementation matters in deep RL: a case study on PPO and TRPO"). Both are
switchable in the algorithm configs; the math is here, once.
"""
from __future__ import annotations

import numpy as np

PRIOR_COUNT = 1e-4
"""Weight of the (mean 0, variance 1) pseudo-sample that ``RunningMeanStd`` starts from: small
enough that the first real batch outweighs it 10^4 to 1, nonzero so that ``normalize`` is defined
before any data (OpenAI baselines' ``RunningMeanStd(epsilon=1e-4)``)."""
OBS_CLIP = 10.0
"""Default bound of normalised observations, |x'| <= 10 standard deviations: rare outliers of a
heavy-tailed coordinate cannot blow up the network's input (baselines' ``VecNormalize``
``clipob=10``; ``Config.obs_clip`` sets it for training)."""
VAR_EPS = 1e-8
"""Added to a running variance before its square root, so a constant coordinate (variance 0)
divides by 1e-4 instead of 0 (baselines' ``VecNormalize`` ``epsilon=1e-8``)."""


class RunningMeanStd:
    """Mean and (population) variance of every sample seen so far, per coordinate.

    Prior (OpenAI baselines convention): the statistics start as a pseudo-sample of weight
    ``epsilon_count`` with mean 0 and variance 1, so that ``normalize`` is defined before any data.
    After batches x_1..x_k (n samples in all) the state is therefore exactly the weighted moments
    of the data pooled with that pseudo-sample:

        count = epsilon_count + n
        mean  = sum(x) / count
        var   = (epsilon_count * 1 + sum(x^2)) / count - mean^2

    which differ from numpy's mean/var of the data by O(epsilon_count / n); with
    ``epsilon_count=0`` they equal numpy's ``mean``/``var`` of the concatenation (to rounding).
    Tested in ``tests/core/test_normalize.py``.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample (``()`` for scalars).
    epsilon_count : float >= 0
        Weight of the prior pseudo-sample.
    """

    def __init__(self, shape: tuple[int, ...] = (), epsilon_count: float = PRIOR_COUNT):
        if epsilon_count < 0:
            raise ValueError(f"epsilon_count must be >= 0, got {epsilon_count}")
        self.mean = np.zeros(shape)
        self.var = np.ones(shape)
        self.count = float(epsilon_count)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    def update(self, x: np.ndarray) -> None:
        """Merge a batch x of shape ``(B, *shape)`` by the parallel combination of Chan et al. (1979)::

            count' = count + B,          delta = mean_B - mean
            mean'  = mean + delta B / count'
            var'   = (count var + B var_B + delta^2 count B / count') / count'

        A batch with B = 0 leaves the statistics unchanged.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.shape:
            raise ValueError(f"x must have shape (B, *{self.shape}), got {x.shape}")
        B = x.shape[0]
        if B == 0:
            return
        if B == 1:  # one environment step: the batch's own variance is exactly 0
            delta = x[0] - self.mean
            total = self.count + 1
            self.var = (self.count * self.var + delta * delta * (self.count / total)) / total
            self.mean = self.mean + delta * (1 / total)
            self.count = total
            return
        # batch moments by plain reductions: np.mean/np.var cost ~10 us of Python per call,
        # and this runs at every environment step
        mean_b = np.add.reduce(x, axis=0) / B
        dev = x - mean_b
        delta = mean_b - self.mean
        total = self.count + B
        m2 = self.count * self.var + np.add.reduce(dev * dev, axis=0) \
            + delta * delta * (self.count * B / total)
        self.mean = self.mean + delta * (B / total)
        self.var = m2 / total
        self.count = total

    def normalize(self, x: np.ndarray, clip: float | None = OBS_CLIP,
                  eps: float = VAR_EPS) -> np.ndarray:
        """clip((x - mean) / sqrt(var + eps), -clip, clip); x of shape ``(..., *shape)``. ``clip``
        None: no clipping (Engstrom et al. 2020's ``clip_observations: -1``).
        Tested in ``tests/core/test_normalize.py::
        test_normalize_standardises_inside_and_clips_outside`` and
        ``test_normalize_without_clip_is_the_plain_standardisation``."""
        z = (x - self.mean) / np.sqrt(self.var + eps)
        if clip is None:
            return z
        # np.clip as its two ufuncs, in place (the same values): this runs at every environment
        # step, where np.clip's wrapper costs more than the arithmetic on one row
        np.maximum(z, -clip, out=z)
        return np.minimum(z, clip, out=z)

    def state(self) -> dict[str, np.ndarray]:
        """Checkpoint as npz-friendly float64 arrays: mean, var, count (0-d)."""
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.array(self.count)}

    @classmethod
    def from_state(cls, d: dict[str, np.ndarray]) -> "RunningMeanStd":
        """Inverse of ``state``: bit-identical statistics."""
        rms = cls(np.shape(d["mean"]))
        rms.mean = np.array(d["mean"], dtype=np.float64)
        rms.var = np.array(d["var"], dtype=np.float64)
        rms.count = float(d["count"])
        return rms


class RewardScaler:
    """Reward scaling (implementation detail, not in the lecture; Engstrom et al. 2020).

    Per environment it keeps the discounted return R <- gamma R + r, reset to 0 after an episode
    end, and divides each reward by the running standard deviation of R (not of r; the mean is
    not subtracted, so the sign of every reward is kept):

        R_t   = gamma R_{t-1} + r_t          (R_{t-1} = 0 at an episode start)
        r'_t  = r_t / sqrt(Var[R] + epsilon), Var[R] including R_t (update first, then divide)

    Parameters
    ----------
    num_envs : int
        E, the number of parallel environments.
    gamma : float in [0, 1]
        Discount of the tracked return (use the algorithm's gamma).
    epsilon : float
        Added to the variance before the square root (``VAR_EPS``).
    """

    def __init__(self, num_envs: int, gamma: float, epsilon: float = VAR_EPS):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma must lie in [0, 1], got {gamma}")
        self.gamma, self.epsilon = float(gamma), float(epsilon)
        self.R = np.zeros(num_envs)
        self.rms = RunningMeanStd(())

    def scale(self, rewards: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """One environment step: rewards (E,), ends (E,) bool (terminated or truncated at this
        step). Returns the scaled rewards (E,). Tested against a naive loop in
        ``tests/core/test_normalize.py::test_reward_scaler_matches_naive_loop``."""
        if np.shape(rewards) != self.R.shape or np.shape(ends) != self.R.shape:
            raise ValueError(f"rewards and ends must have shape {self.R.shape}, "
                             f"got {np.shape(rewards)} and {np.shape(ends)}")
        self.R = self.gamma * self.R + rewards
        self.rms.update(self.R)
        scaled = rewards / np.sqrt(self.rms.var + self.epsilon)
        self.R = np.where(ends, 0.0, self.R)
        return scaled

    def state(self) -> dict[str, np.ndarray]:
        """Checkpoint as npz-friendly arrays: R, gamma, epsilon and the return statistics
        (keys ``rms_mean``, ``rms_var``, ``rms_count``)."""
        d = {"R": self.R.copy(), "gamma": np.array(self.gamma), "epsilon": np.array(self.epsilon)}
        d.update({f"rms_{k}": v for k, v in self.rms.state().items()})
        return d

    @classmethod
    def from_state(cls, d: dict[str, np.ndarray]) -> "RewardScaler":
        """Inverse of ``state``: continues bit-identically."""
        scaler = cls(len(d["R"]), float(d["gamma"]), float(d["epsilon"]))
        scaler.R = np.array(d["R"], dtype=np.float64)
        scaler.rms = RunningMeanStd.from_state(
            {k: d[f"rms_{k}"] for k in ("mean", "var", "count")})
        return scaler
