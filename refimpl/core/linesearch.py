"""Backtracking line search of TRPO (lecture, "TRPO: Final algorithm", steps 6 and 7)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LineSearchInfo:
    """Diagnostics of one ``backtracking`` call.

    Attributes
    ----------
    accepted : bool
        Whether a step was accepted (False: phi is returned unchanged).
    fraction : float
        gamma = alpha^j of the accepted step; 0.0 when rejected.
    candidates : int
        Number of candidates evaluated (j + 1 when accepted, max_backtracks when rejected); the
        backtracks are one fewer.
    kl : float
        Mean KL(pi_old || pi_candidate) of the accepted step, or of the last candidate tried.
    improvement : float
        L_TRPO(candidate) - L_TRPO(phi) of the accepted step, or of the last candidate tried.
    """

    accepted: bool
    fraction: float
    candidates: int
    kl: float
    improvement: float


def backtracking(phi: np.ndarray, full_step: np.ndarray,
                 evaluate: Callable[[np.ndarray], tuple[float, float]], delta: float,
                 alpha: float = 0.8, max_backtracks: int = 10) -> tuple[np.ndarray, LineSearchInfo]:
    """Lecture, "TRPO: Final algorithm", steps 6-7: find the largest gamma = alpha^j,
    j = 0, ..., max_backtracks - 1, such that phi_new = phi + gamma * Delta phi satisfies

        L_TRPO(phi_new) - L_TRPO(phi) > 0   and   KL_avg(pi_phi || pi_phi_new) <= delta,

    both finite; otherwise reject and keep phi. The lecture writes the first condition as
    L_TRPO(phi_new) > 0 because L_TRPO(phi_old) = mean(A) vanishes in expectation; on a sample it
    need not, so the improvement over phi is tested.

    Parameters
    ----------
    phi : ndarray, shape (P,)
        Current parameters phi_k (not modified).
    full_step : ndarray, shape (P,)
        Delta phi = beta x, the maximal step of step 5.
    evaluate : callable
        evaluate(candidate) -> (improvement, kl) with improvement = L_TRPO(candidate) - L_TRPO(phi)
        and kl = KL_avg(pi_phi || pi_candidate).
    delta : float > 0
        Trust-region bound delta; 0.01 in the TRPO paper.
    alpha : float in (0, 1)
        Backtracking factor; 0.8 in spinningup ("backtrack_coeff"); baselines' trpo_mpi uses 0.5.
    max_backtracks : int >= 1
        Number of candidate fractions alpha^0 ... alpha^(max_backtracks - 1).

    Returns
    -------
    phi_new : ndarray, shape (P,)
        phi + gamma * full_step if accepted, else ``phi`` itself (the same object, bit-identical).
    info : LineSearchInfo

    Tested in ``tests/core/test_linesearch.py`` (never exceeds delta, largest fraction by brute force,
    rejected search leaves phi unchanged, non-finite evaluations rejected).
    """
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not max_backtracks >= 1:
        raise ValueError(f"max_backtracks must be >= 1, got {max_backtracks}")
    if np.shape(full_step) != np.shape(phi):
        raise ValueError(f"full_step has shape {np.shape(full_step)}, expected {np.shape(phi)}")
    for j in range(max_backtracks):
        fraction = alpha ** j
        candidate = phi + fraction * full_step
        improvement, kl = (float(x) for x in evaluate(candidate))
        if np.isfinite(improvement) and np.isfinite(kl) and improvement > 0 and kl <= delta:
            return candidate, LineSearchInfo(True, fraction, j + 1, kl, improvement)
    return phi, LineSearchInfo(False, 0.0, max_backtracks, kl, improvement)
