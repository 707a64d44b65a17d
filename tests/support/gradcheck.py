"""The one gradient checker: analytic directional derivatives against central differences.

For f: R^n -> R^m, a point x and a direction u, the central difference
    D(h) = (f(x + h u) - f(x - h u)) / (2 h)
errs by  T(h) = h^2/6 f'''(x)[u,u,u] + O(h^4)  (truncation)  plus about  eps |f| / h  (rounding).
The bound used here is therefore estimated, not guessed:
  * truncation: D(h) - D(2h) = -3 T(h) + O(h^4), so |T(h)| ~ |D(h) - D(2h)| / 3; we allow 2x that;
  * rounding: ROUNDING_FACTOR * eps * S / h, the factor covering error accumulated inside f, with
    S = max|f| by default; a caller whose f is a small result of cancelling O(1) terms (a mean of
    signed summands, a KL near zero) passes the size of those terms as ``f_scale``.
A gradient that is wrong by 0.1% exceeds this bound for every function in the test suite (and
``tests/support/test_gradcheck.py`` proves that the checker rejects such a gradient).
"""
import numpy as np

EPS = np.finfo(np.float64).eps
ROUNDING_FACTOR = 1e3


def central_difference(f, x, u, h):
    return (np.asarray(f(x + h * u)) - np.asarray(f(x - h * u))) / (2.0 * h)


def directional_error(f, x, u, analytic, h=1e-5, f_scale=0.0):
    """Return (max |analytic - D(h)|, bound) for the directional derivative of f at x along u."""
    u = u / np.linalg.norm(u)
    d_h, d_2h = central_difference(f, x, u, h), central_difference(f, x, u, 2 * h)
    scale = max(f_scale, *(np.max(np.abs(f(x + s * u))) for s in (-2 * h, -h, h, 2 * h)))
    bound = 2.0 * np.max(np.abs(d_h - d_2h)) / 3.0 + ROUNDING_FACTOR * EPS * scale / h
    err = np.max(np.abs(np.asarray(analytic(u)) - d_h))
    return err, bound


def assert_directional_derivative(f, x, analytic, rng, n_dirs=3, h=1e-5, f_scale=0.0):
    """Assert ``analytic(u)`` equals d/dt f(x + t u)|_{t=0} along ``n_dirs`` random unit directions.

    ``analytic`` maps a direction u (shape of x) to the claimed derivative (shape of f(x)):
    for a gradient g of a scalar f use ``lambda u: g @ u``; for a JVP use the JVP itself;
    for a VJP of a vector f use the scalar ``<dy, f>`` and ``lambda u: vjp(dy) @ u``.
    """
    for _ in range(n_dirs):
        u = rng.standard_normal(np.shape(x))
        err, bound = directional_error(f, x, u, analytic, h, f_scale)
        assert err <= bound, f"derivative off by {err:.3e}, finite-difference bound {bound:.3e}"
