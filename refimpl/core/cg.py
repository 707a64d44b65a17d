"""Matrix-free conjugate gradient for A x = b (lecture, "TRPO: Avoiding matrix inversion").

TRPO needs x ~ F^-1 g without forming or inverting F. CG touches A only through products
A p (here Fisher-vector products, ``fisher.make_fvp``), so each iteration costs one FVP plus
O(P) vector work; the lecture runs 10 to 20 iterations ("TRPO: Final algorithm", step 4).

Textbook recurrence from x_0 = 0 (Nocedal & Wright, Algorithm 5.2):

    r_0 = p_0 = b
    alpha_k = r_k^T r_k / p_k^T A p_k
    x_{k+1} = x_k + alpha_k p_k,           r_{k+1} = r_k - alpha_k A p_k
    p_{k+1} = r_{k+1} + (r_{k+1}^T r_{k+1} / r_k^T r_k) p_k

Damping is the caller's (pass A = F + lambda I). No epsilon is added to any denominator: if
p^T A p <= 0 (A not positive definite along p) CG stops and reports it. A non-finite b or A p is
a ``refimpl.core.errors.NumericalError`` (a NaN met inside training), a malformed argument a
ValueError. Verified in ``tests/core/test_cg.py`` against numpy.linalg.solve and
scipy.sparse.linalg.cg.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from refimpl.core.errors import NumericalError

DEFAULT_TOL = 1e-10
"""Default relative residual tolerance ||r|| <= tol ||b||. TRPO's CG is truncated by its
iteration cap (10 to 20), so the tolerance only ends a solve that is already exact to about
1e-10 relative (a system of fewer unknowns than iterations, b = 0): further iterations would
only divide rounding noise by rounding noise. Far above float64's eps, far below any accuracy
the step needs."""


@dataclass(frozen=True)
class CGInfo:
    """Diagnostics of one ``cg`` call."""

    iterations: int
    """Number of products A p used (0 if b already satisfies the test, e.g. b = 0)."""
    residual_norm: float
    """||r|| = ||b - A x|| of the returned x, tracked by the recurrence r <- r - alpha A p."""
    converged: bool
    """True iff residual_norm <= tol * ||b||."""
    nonpositive_curvature: bool
    """True iff CG met p^T A p <= 0 and stopped there (A is not positive definite)."""


def _validate(b: np.ndarray, max_iters: int, tol: float) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"b must be a non-empty 1-D array, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise NumericalError("CG: the right-hand side b contains non-finite values")
    if int(max_iters) != max_iters or max_iters < 1:
        raise ValueError(f"max_iters must be a positive integer, got {max_iters}")
    if not (np.isfinite(tol) and tol >= 0.0):
        raise ValueError(f"tol must be a finite number >= 0, got {tol}")
    return b


def _curvature(Avp: Callable[[np.ndarray], np.ndarray], p: np.ndarray, k: int):
    """(A p, p^T A p), checking that the user's Avp returned a finite vector shaped like p."""
    Ap = np.asarray(Avp(p), dtype=np.float64)
    if Ap.shape != p.shape:
        raise ValueError(f"Avp must return an array of shape {p.shape}, got shape {Ap.shape}")
    if not np.all(np.isfinite(Ap)):
        raise NumericalError(f"CG: the product A p is not finite at iteration {k + 1}")
    return Ap, float(p @ Ap)


def cg(Avp: Callable[[np.ndarray], np.ndarray], b: np.ndarray, max_iters: int = 10,
       tol: float = DEFAULT_TOL) -> tuple[np.ndarray, CGInfo]:
    """Approximately solve A x = b by conjugate gradient from x_0 = 0, using only x -> A x.

    Lecture, "TRPO: Avoiding matrix inversion" (x = F^-1 g by CG). Convergence test, as in
    scipy.sparse.linalg.cg: stop when ||r_k|| <= tol * ||b|| (r_k from the recurrence), or
    after ``max_iters`` iterations, or when p_k^T A p_k <= 0 (then x_k is returned unchanged).
    In exact arithmetic CG on an SPD n x n system terminates within n iterations.

    Parameters
    ----------
    Avp : callable, ndarray (n,) -> ndarray (n,)
        The product with a symmetric matrix A (positive definite for a meaningful answer).
    b : ndarray, shape (n,)
    max_iters : int
        Iteration cap; 10 to 20 in TRPO.
    tol : float
        Relative residual tolerance.

    Returns
    -------
    x : ndarray, shape (n,), always finite.
    info : CGInfo

    Raises
    ------
    ValueError
        b not a non-empty 1-D array, max_iters or tol out of range, A p of the wrong shape.
    NumericalError
        b or A p not finite.

    Tested in ``tests/core/test_cg.py`` (``test_cg_matches_numpy_solve_and_scipy_cg`` and others).
    """
    b = _validate(b, max_iters, tol)
    x, r, p = np.zeros_like(b), b.copy(), b.copy()
    rr = float(r @ r)
    threshold = tol * np.sqrt(rr)
    for k in range(int(max_iters)):
        if np.sqrt(rr) <= threshold:
            return x, CGInfo(k, float(np.sqrt(rr)), True, False)
        Ap, pAp = _curvature(Avp, p, k)
        if pAp <= 0.0:
            return x, CGInfo(k, float(np.sqrt(rr)), False, True)
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, CGInfo(int(max_iters), float(np.sqrt(rr)), bool(np.sqrt(rr) <= threshold), False)
