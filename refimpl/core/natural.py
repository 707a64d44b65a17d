"""The natural-gradient direction and TRPO's maximal step, without inverting F.

Lecture, "TRPO: Solving the optimization problem": the linear-quadratic problem

    max_dphi  g^T dphi   subject to   1/2 dphi^T F dphi <= delta

is solved by dphi = sqrt(2 delta / (g^T F^-1 g)) F^-1 g. "TRPO: Avoiding matrix inversion"
computes it as: x ~ F^-1 g by truncated CG; nu = x^T g; beta = sqrt(2 delta / nu);
dphi = beta x (``natural_step``). The fixed-step natural gradient phi <- phi + alpha F^-1 g
("Natural policy gradient", eq. Adv_NPG) shares the direction x (``npg_step``).
A non-finite g, a non-finite Fisher-vector product and nu <= 0 are numerical failures
(``refimpl.core.errors.NumericalError``); a bad delta or alpha is a ValueError.
Verified in ``tests/core/test_natural.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from refimpl.core.cg import DEFAULT_TOL as CG_TOL
from refimpl.core.cg import CGInfo, cg
from refimpl.core.errors import NumericalError


NO_STEP = {"cg_iters": 0, "cg_residual": 0.0, "step_norm": 0.0}
"""``NaturalStep.diagnostics`` when g = 0 and no step is taken."""


@dataclass(frozen=True)
class NaturalStep:
    """A natural-gradient step and how it was obtained."""

    x: np.ndarray
    """x ~ F^-1 g from truncated CG, shape (P,)."""
    nu: float
    """nu = x^T g, the CG estimate of g^T F^-1 g."""
    beta: float
    """Step size: sqrt(2 delta / nu) for TRPO, alpha for fixed-step NPG."""
    step: np.ndarray
    """dphi = beta x, shape (P,); the new parameters are phi + step."""
    cg: CGInfo
    """Diagnostics of the CG solve."""

    def diagnostics(self) -> dict:
        """``cg_iters``, ``cg_residual`` and ``step_norm`` = ||step||, as progress.csv logs them."""
        return {"cg_iters": self.cg.iterations, "cg_residual": self.cg.residual_norm,
                "step_norm": float(np.linalg.norm(self.step))}


def _positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def _direction(g: np.ndarray, fvp: Callable[[np.ndarray], np.ndarray], cg_iters: int,
               cg_tol: float) -> tuple[np.ndarray, np.ndarray, CGInfo]:
    """Lecture step 4: x ~ F^-1 g by truncated CG. Returns (g as float64, x, cg info)."""
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1:
        raise ValueError(f"g must be a 1-D gradient vector, got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise NumericalError("the policy gradient g is not finite")
    try:
        x, info = cg(fvp, g, cg_iters, cg_tol)
    except NumericalError as err:
        raise NumericalError(f"solving F x = g: {err} (A = the damped Fisher matrix)") from None
    return g, x, info


def natural_step(g: np.ndarray, fvp: Callable[[np.ndarray], np.ndarray], delta: float,
                 cg_iters: int = 10, cg_tol: float = CG_TOL) -> NaturalStep:
    """TRPO's full step dphi = beta x, x ~ F^-1 g, nu = x^T g, beta = sqrt(2 delta / nu).

    Lecture, "TRPO: Avoiding matrix inversion" (the slide "Approach"). Step 5 of "TRPO: Final
    algorithm" writes the denominator as x^T F x instead; the two agree when F x = g. They also
    agree for truncated CG from x_0 = 0, in exact arithmetic: the CG residual g - F x is
    orthogonal to the Krylov space that contains x, so x^T g = x^T F x after every iteration
    (``tests/core/test_natural.py::test_x_g_equals_x_F_x_even_for_truncated_cg``). We use x^T g,
    which needs no extra FVP. With damping, F here is the damped F + lambda I of ``fvp``, so
    1/2 dphi^T (F + lambda I) dphi = delta and the undamped quadratic KL model is below delta.

    Parameters
    ----------
    g : ndarray, shape (P,)
        Policy gradient ("TRPO: Final algorithm", step 3).
    fvp : callable, ndarray (P,) -> ndarray (P,)
        v -> F v (``fisher.make_fvp``), F symmetric positive definite.
    delta : float
        Trust-region radius delta > 0 on the mean KL; typically 0.01.
    cg_iters : int
        CG iterations, 10 to 20 in the lecture.
    cg_tol : float
        CG relative residual tolerance (see ``cg.cg``).

    Returns
    -------
    NaturalStep with x, nu, beta, step = beta x and the CG diagnostics.

    Raises ValueError if delta <= 0 or g is not 1-D; NumericalError if g or F x is not finite,
    or nu <= 0 (g = 0, or F not positive definite along x)
    (``tests/core/test_natural.py::test_natural_step_rejects_bad_g_and_nonpositive_nu``). Tested in
    ``tests/core/test_natural.py::test_trpo_step_lies_on_kl_boundary`` and
    ``test_trpo_step_maximises_linear_objective_on_ellipsoid``.
    """
    delta = _positive("delta", delta)
    g, x, info = _direction(g, fvp, cg_iters, cg_tol)
    nu = float(x @ g)
    if not (np.isfinite(nu) and nu > 0.0):
        raise NumericalError(f"nu = x^T g must be > 0 to scale the step, got {nu}: g is zero or "
                         "the Fisher-vector product is not positive definite (add damping)")
    beta = np.sqrt(2.0 * delta / nu)
    return NaturalStep(x, nu, float(beta), beta * x, info)


def npg_step(g: np.ndarray, fvp: Callable[[np.ndarray], np.ndarray], alpha: float,
             cg_iters: int = 10, cg_tol: float = CG_TOL) -> NaturalStep:
    """Fixed-step natural policy gradient dphi = alpha F^-1 g, with F^-1 g ~ x by truncated CG.

    Lecture, "Natural policy gradient", eq. (Adv_NPG): phi <- phi + alpha F^-1 grad L(phi).
    Shapes and fvp as in ``natural_step``; alpha > 0 is the step size. Returns a NaturalStep
    with nu = x^T g (a diagnostic) and beta = alpha.

    Tested in ``tests/core/test_natural.py::test_npg_step_is_alpha_times_solve``.
    """
    alpha = _positive("alpha", alpha)
    g, x, info = _direction(g, fvp, cg_iters, cg_tol)
    return NaturalStep(x, float(x @ g), alpha, alpha * x, info)
