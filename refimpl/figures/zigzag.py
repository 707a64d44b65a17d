"""Regenerates the lecture's ``zig-zag.png`` (slide "Ill-conditioned gradients": "Closely related
to ill-conditioned optimization problems").

Minimise the ill-conditioned quadratic f(x) = 1/2 (x - x*)^T A (x - x*), A symmetric positive
definite with eigenvalues 1 and CONDITION (axes rotated by ROTATION_DEG). Two paths from x_0:

    gradient descent, fixed step:  x_{i+1} = x_i - alpha A (x_i - x*)           (zig-zags)
    preconditioned (Newton):       x_{i+1} = x_i - A^-1 A (x_i - x*) = x*        (one step)

A fixed step must stay below 2 / lambda_max for stability; near that bound the steep direction
overshoots back and forth (factor 1 - alpha lambda_max ~ -0.8 per step) while the flat direction
shrinks only by 1 - alpha lambda_min ~ 0.91. Preconditioning with A^-1, the curvature, is what the
natural gradient does with F^-1 (slide "Natural policy gradient": "Preconditioning steps of this
type are very common in optimization"). Output: zig-zag.png and zig-zag.json (A, alpha, both paths).
Verified in ``tests/figures/test_figures.py::test_zigzag_newton_reaches_optimum_in_one_step_gd_does_not``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.engine.plots import plt, save_json, save_png

CONDITION = 20.0
"""Condition number lambda_max / lambda_min of A."""
ROTATION_DEG = 30.0
"""Angle of A's eigenvectors to the coordinate axes, degrees."""
ALPHA = 0.09
"""Fixed gradient step; 2 / lambda_max = 0.1 is the stability limit."""
STEPS = 30
"""Gradient-descent steps drawn."""
X0 = (-4.0, 2.5)
X_STAR = (0.0, 0.0)


def hessian() -> np.ndarray:
    """A = R diag(1, CONDITION) R^T, R the rotation by ROTATION_DEG. Shape (2, 2)."""
    c, s = np.cos(np.radians(ROTATION_DEG)), np.sin(np.radians(ROTATION_DEG))
    R = np.array([[c, -s], [s, c]])
    return R @ np.diag([1.0, CONDITION]) @ R.T


def descent_path(A: np.ndarray, x0: np.ndarray, x_star: np.ndarray, P: np.ndarray,
                 alpha: float, steps: int) -> np.ndarray:
    """x_{i+1} = x_i - alpha P A (x_i - x*): preconditioned gradient descent on the quadratic.

    P = I gives plain gradient descent, P = A^-1 Newton's method. Returns (steps + 1, 2).
    """
    path = [np.asarray(x0, dtype=np.float64)]
    for _ in range(steps):
        x = path[-1]
        path.append(x - alpha * P @ (A @ (x - x_star)))
    return np.array(path)


def make(out_dir: Path) -> list[Path]:
    A, x0, x_star = hessian(), np.array(X0), np.array(X_STAR)
    gd = descent_path(A, x0, x_star, np.eye(2), ALPHA, STEPS)
    newton = descent_path(A, x0, x_star, np.linalg.inv(A), 1.0, 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    u, v = np.meshgrid(np.linspace(-5, 3, 241), np.linspace(-3.2, 3.2, 193))
    d = np.stack([u - x_star[0], v - x_star[1]], axis=-1)
    f = 0.5 * np.einsum("...i,ij,...j->...", d, A, d)
    ax.contour(u, v, f, levels=np.geomspace(0.05, 60, 12), colors="0.6", linewidths=0.8)
    ax.plot(*gd.T, "o-", color="tab:red", ms=3, lw=1.2,
            label=f"gradient descent, fixed step $\\alpha$={ALPHA} ({STEPS} steps)")
    ax.plot(*newton.T, "s-", color="tab:blue", ms=5, lw=2,
            label=r"preconditioned $x - A^{-1}\nabla f$ (Newton / natural gradient)")
    ax.plot(*x_star, "k*", ms=14, label="optimum $x^*$")
    ax.set(xlabel="$x_1$", ylabel="$x_2$", aspect="equal",
           title=f"Ill-conditioned quadratic (condition number {CONDITION:g})")
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    return [save_png(fig, out_dir / "zig-zag.png"),
            save_json(out_dir / "zig-zag.json",
                      {"A": A, "x_star": x_star, "x0": x0, "alpha": ALPHA,
                       "gd_path": gd, "newton_path": newton,
                       "note": "f(x) = 1/2 (x - x*)^T A (x - x*); gd: x - alpha A (x - x*); "
                               "newton: x - A^-1 A (x - x*)"})]
