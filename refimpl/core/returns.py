"""Advantage estimation: generalised advantage estimation (GAE), discounted reward-to-go, and
the standardisation of advantages that the updates apply before using them.

All arrays are laid out (T, E): T time steps of E parallel environments, time first. Two flags
per step keep episodes apart:

* ``terminated[t]``: the episode reached a terminal state at step t, so V(s_{t+1}) = 0 and the
  TD error does not bootstrap;
* ``ends[t] = terminated[t] or truncated[t]``: the episode stopped at step t for any reason, so no
  recursion may carry information from step t+1 (which belongs to the next episode) into step t.

Truncation is not termination (Pardo et al. 2018): a time-limit cut still bootstraps with the
value of the true final observation, which the caller passes in ``next_values``.
"""
from __future__ import annotations

import numpy as np


def _check_shapes(name_to_array: dict[str, np.ndarray]) -> tuple[int, int]:
    shapes = {name: np.shape(x) for name, x in name_to_array.items()}
    first_name, first = next(iter(shapes.items()))
    if len(first) != 2:
        raise ValueError(f"{first_name} must have shape (T, E), got {first}")
    for name, shape in shapes.items():
        if shape != first:
            raise ValueError(f"{name} has shape {shape}, expected {first} like {first_name}")
    return first


def _check_discount(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


def td_errors(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
              terminated: np.ndarray, gamma: float) -> np.ndarray:
    """delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t).

    The lecture's one-step advantage A(s_t, a_t) = r_t + V(s_{t+1}) - V(s_t) ("Comparing the
    performance measure of two policies (1)") with a discount gamma, and V(s_{t+1}) = 0 after a
    terminal state. All arrays shape (T, E); returns (T, E).
    Tested in ``tests/core/test_returns.py::test_gae_lambda0_is_td_error``.
    """
    return rewards + gamma * np.where(terminated, 0.0, next_values) - values


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray,
        terminated: np.ndarray, ends: np.ndarray, gamma: float,
        lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalised advantage estimation (Schulman et al. 2016, "High-dimensional continuous control
    using generalized advantage estimation", Eq. 16), the advantage estimate of the lecture's
    "TRPO: Final algorithm", step 2:

        delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
        A_t     = delta_t + gamma lam (1 - ends_t) A_{t+1},   A_T = 0
        ret_t   = A_t + V(s_t)                                (the value-function target)

    Truncation is not termination: a truncated step bootstraps with ``next_values`` (the value of
    the true final observation) but, like a terminal one, stops the recursion.

    Parameters
    ----------
    rewards : ndarray, shape (T, E)
    values : ndarray, shape (T, E)
        V(s_t).
    next_values : ndarray, shape (T, E)
        V(s_{t+1}) of the true next observation (the final one on a truncation; at t = T-1 the
        observation after the rollout).
    terminated : ndarray of bool, shape (T, E)
    ends : ndarray of bool, shape (T, E)
        terminated or truncated.
    gamma : float in [0, 1]
        Discount.
    lam : float in [0, 1]
        GAE parameter: lam = 0 gives the TD error, lam = 1 the Monte-Carlo return minus V.

    Returns
    -------
    adv : ndarray, shape (T, E)
    ret : ndarray, shape (T, E)

    Tested in ``tests/core/test_returns.py`` against a naive double loop, the lam = 0 and lam = 1 limits
    and a hand-computed truncation/termination example.
    """
    T, _ = _check_shapes(dict(rewards=rewards, values=values, next_values=next_values,
                              terminated=terminated, ends=ends))
    _check_discount("gamma", gamma)
    _check_discount("lam", lam)
    # A_t = delta_t + gamma lam (1 - ends_t) A_{t+1}: a discounted sum of TD errors
    adv = discounted_sum(td_errors(rewards, values, next_values, terminated, gamma), ends,
                         gamma * lam)
    return adv, adv + values


def discounted_sum(x: np.ndarray, ends: np.ndarray, gamma: float,
                   bootstrap: np.ndarray | None = None) -> np.ndarray:
    """Discounted reward-to-go that restarts at episode ends:

        G_t = x_t + gamma (1 - ends_t) G_{t+1},   G_T = bootstrap (default 0)

    With x = rewards this is the Monte-Carlo return sum_{l>=0} gamma^l r_{t+l} of the current
    episode (the REINFORCE weight). Passing ``bootstrap`` (shape (E,)) continues the sum past the
    last rollout step for episodes that have not ended.

    Parameters
    ----------
    x : ndarray, shape (T, E)
    ends : ndarray of bool, shape (T, E)
    gamma : float in [0, 1]
    bootstrap : ndarray, shape (E,), optional

    Returns
    -------
    G : ndarray, shape (T, E)

    Tested in ``tests/core/test_returns.py::test_discounted_sum_matches_naive_loop``.
    """
    T, E = _check_shapes(dict(x=x, ends=ends))
    _check_discount("gamma", gamma)
    if bootstrap is not None and np.shape(bootstrap) != (E,):
        raise ValueError(f"bootstrap must have shape ({E},), got {np.shape(bootstrap)}")
    carry = gamma * (1.0 - np.asarray(ends, dtype=np.float64))
    G = np.empty(x.shape, dtype=np.float64)
    next_G = np.zeros(E) if bootstrap is None else np.asarray(bootstrap, dtype=np.float64)
    for t in reversed(range(T)):
        next_G = x[t] + carry[t] * next_G
        G[t] = next_G
    return G


ADV_EPS = 1e-8
"""Added to the standard deviation in ``standardize`` so that a constant batch (std 0) maps to
zeros instead of 0/0 (the value of OpenAI baselines' PPO2 and of CleanRL)."""


def standardize(adv: np.ndarray) -> np.ndarray:
    """A' = (A - mean A) / (std A + ADV_EPS), std the population standard deviation.

    Implementation detail (not in the lecture): per batch for NPG, TRPO and VPG, per minibatch
    for PPO; switch ``Config.norm_adv``. The result has mean 0 and standard deviation
    std A / (std A + ADV_EPS), i.e. 1 up to ADV_EPS / std A.

    Parameters
    ----------
    adv : ndarray, shape (N,)

    Returns
    -------
    adv_standardised : ndarray, shape (N,)

    Tested in ``tests/core/test_returns.py::test_standardize_has_mean_0_and_std_1``.
    """
    # np.mean/np.std spelled as their reductions (same operations, same bits), as this runs
    # once per PPO minibatch and the wrappers cost more than the arithmetic at 64 rows
    n = len(adv)
    dev = adv - np.add.reduce(adv) / n
    return dev / (np.sqrt(np.add.reduce(dev * dev) / n) + ADV_EPS)
