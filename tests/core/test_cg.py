"""refimpl/core/cg.py: conjugate gradient against numpy.linalg.solve and scipy.sparse.linalg.cg, on
random SPD systems and on real damped Fisher systems; its stopping rules and diagnostics."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse.linalg import LinearOperator
from scipy.sparse.linalg import cg as scipy_cg

from refimpl.core.cg import CGInfo, cg
from refimpl.core.errors import NumericalError
from refimpl.core.fisher import make_fvp
from support.strategies import policy_problems, seeds, spd_matrix as spd

EPS = np.finfo(np.float64).eps
sizes = st.integers(1, 30)
log10_conds = st.floats(0.0, 4.0)


def _matvec(A):
    return lambda p: A @ p


@given(sizes, log10_conds, seeds)
def test_cg_matches_numpy_solve_and_scipy_cg(n, log10_cond, seed):
    rng = np.random.default_rng(seed)
    A, b, tol = spd(n, 10**log10_cond, rng), rng.standard_normal(n), 1e-10
    cond = np.linalg.cond(A)
    x, info = cg(_matvec(A), b, max_iters=10 * n, tol=tol)
    x_scipy, status = scipy_cg(LinearOperator((n, n), matvec=_matvec(A)), b, rtol=tol,
                               atol=0.0, maxiter=10 * n)
    assert info.converged and status == 0
    x_star = np.linalg.solve(A, b)
    # ||x - x*|| / ||x*|| <= cond * ||b - A x|| / ||b||: cond * tol for both CGs, plus
    # cond * 1e3 eps for the gap between recurrence and true residual and solve's own rounding
    bound = cond * (tol + 1e3 * EPS) * np.linalg.norm(x_star)
    assert np.linalg.norm(x - x_star) <= bound
    assert np.linalg.norm(x - x_scipy) <= 2 * bound


@given(policy_problems(), st.floats(1e-3, 1.0))
def test_cg_solves_damped_fisher_system_like_solve_and_scipy(problem, damping):
    """The TRPO system (F + lambda I) x = g with F the real policy Fisher, handed to SciPy as a
    LinearOperator built from our FVP."""
    policy, phi, obs, rng = problem
    fvp, n, tol = make_fvp(policy, phi, obs, damping), policy.n_params, 1e-10
    g = rng.standard_normal(n)
    A = np.column_stack([fvp(e) for e in np.eye(n)])
    cond = np.linalg.cond(A)
    x, info = cg(fvp, g, max_iters=20 * n, tol=tol)
    x_scipy, status = scipy_cg(LinearOperator((n, n), matvec=fvp), g, rtol=tol, atol=0.0,
                               maxiter=20 * n)
    assert info.converged and status == 0
    x_star = np.linalg.solve(A, g)
    bound = cond * (tol + 1e3 * EPS) * np.linalg.norm(x_star)  # as in the SPD test above
    assert np.linalg.norm(x - x_star) <= bound
    assert np.linalg.norm(x - x_scipy) <= 2 * bound


@given(sizes, st.floats(0.0, 1.0), seeds)
def test_cg_converges_within_d_iterations_on_well_conditioned_system(n, log10_cond, seed):
    """Exact arithmetic: CG on a d x d SPD system terminates in at most d iterations. With
    cond <= 10 rounding barely disturbs the conjugacy, so d iterations reach tol = 1e-10."""
    rng = np.random.default_rng(seed)
    A, b = spd(n, 10**log10_cond, rng), rng.standard_normal(n)
    x, info = cg(_matvec(A), b, max_iters=n, tol=1e-10)
    assert info.converged and info.iterations <= n


@given(sizes, seeds)
def test_cg_reports_nonpositive_curvature_on_negative_definite_matrix(n, seed):
    """p_0 = b gives b^T A b < 0 at once: CG stops with x = 0 instead of dividing by it."""
    rng = np.random.default_rng(seed)
    A, b = -spd(n, 10.0, rng), rng.standard_normal(n)
    x, info = cg(_matvec(A), b, max_iters=n)
    assert info.nonpositive_curvature and not info.converged and info.iterations == 0
    np.testing.assert_array_equal(x, 0.0)


def test_cg_reports_nonpositive_curvature_after_a_step_and_returns_that_iterate():
    """A = diag(1, -10), b = (1, 0.1): p_0^T A p_0 = 0.9 > 0, so one step is taken to
    x_1 = (rr / 0.9) b; the next direction has negative curvature and CG returns x_1."""
    A, b = np.diag([1.0, -10.0]), np.array([1.0, 0.1])
    x, info = cg(_matvec(A), b, max_iters=10)
    assert info.nonpositive_curvature and info.iterations == 1
    np.testing.assert_allclose(x, (b @ b / (b @ A @ b)) * b, rtol=1e-15)  # one ulp
    # the recurrence residual is the explicit one after one step, to rounding of O(1) terms
    np.testing.assert_allclose(info.residual_norm, np.linalg.norm(b - A @ x), rtol=1e-14)


@given(st.integers(2, 30), seeds)
def test_cg_on_indefinite_matrix_never_returns_nan(n, seed):
    """Indefinite A: CG may break down; whatever happens, x is finite and info is consistent."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(0.5, 2.0, n) * rng.choice([-1.0, 1.0], n)
    lam[0], lam[1] = -abs(lam[0]), abs(lam[1])  # both signs present
    A, b = (q * lam) @ q.T, rng.standard_normal(n)
    x, info = cg(_matvec(A), b, max_iters=3 * n)
    assert np.all(np.isfinite(x)) and np.isfinite(info.residual_norm)
    assert info.converged or info.nonpositive_curvature or info.iterations == 3 * n


def test_cg_on_zero_matrix_flags_curvature_instead_of_dividing_by_zero():
    x, info = cg(lambda p: np.zeros_like(p), np.ones(4))
    assert info.nonpositive_curvature and info.iterations == 0
    np.testing.assert_array_equal(x, 0.0)


@given(st.integers(5, 30), st.integers(1, 4), seeds)
def test_cg_respects_max_iters(n, k, seed):
    """tol = 0 never triggers on an ill-conditioned system, so exactly max_iters products run."""
    rng = np.random.default_rng(seed)
    A, b = spd(n, 1e6, rng), rng.standard_normal(n)
    calls = []
    x, info = cg(lambda p: calls.append(1) or A @ p, b, max_iters=k, tol=0.0)
    assert info.iterations == k == len(calls) and not info.converged


@given(sizes, log10_conds, st.integers(1, 40), seeds)
def test_cg_residual_norm_matches_true_residual(n, log10_cond, k, seed):
    """Recurrence r_{k+1} = r_k - alpha A p_k vs explicit b - A x_k: they drift apart only by
    rounding, at most ~ k eps (||b|| + ||A|| ||x||) (Greenbaum 1997, the residual gap); we
    allow 10 n k eps times that scale."""
    rng = np.random.default_rng(seed)
    A, b = spd(n, 10**log10_cond, rng), rng.standard_normal(n)
    x, info = cg(_matvec(A), b, max_iters=k, tol=0.0)
    scale = np.linalg.norm(b) + np.linalg.norm(A, 2) * np.linalg.norm(x)
    gap = abs(info.residual_norm - np.linalg.norm(b - A @ x))
    assert gap <= 10 * n * info.iterations * EPS * scale


def test_cg_zero_rhs_returns_zero_without_iterating():
    x, info = cg(lambda p: p, np.zeros(3))
    assert info.converged and info.iterations == 0 and info.residual_norm == 0.0
    np.testing.assert_array_equal(x, 0.0)


@pytest.mark.parametrize("b, kwargs, match", [
    (np.ones((2, 2)), {}, "b must be a non-empty 1-D array"),
    (np.ones(2), {"max_iters": 0}, "max_iters must be a positive integer"),
    (np.ones(2), {"max_iters": 2.5}, "max_iters must be a positive integer"),
    (np.ones(2), {"tol": -1.0}, "tol must be a finite number >= 0"),
])
def test_cg_rejects_bad_input_naming_the_argument(b, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cg(lambda p: p, b, **kwargs)


def test_cg_rejects_avp_with_wrong_shape_as_a_value_error():
    with pytest.raises(ValueError, match=r"Avp must return an array of shape \(3,\)"):
        cg(lambda p: p[:-1], np.ones(3))


def test_non_finite_b_or_product_is_a_numerical_error_not_a_user_mistake():
    """A NaN met inside the math is NumericalError (exit 1 in training), which is not a
    ValueError (the CLI's exit 2 for user mistakes)."""
    assert not issubclass(NumericalError, ValueError)
    with pytest.raises(NumericalError, match="right-hand side b contains non-finite values"):
        cg(lambda p: p, np.array([1.0, np.nan]))
    with pytest.raises(NumericalError, match="A p is not finite at iteration 1"):
        cg(lambda p: np.full_like(p, np.nan), np.ones(3))
    calls = []

    def nan_on_second(p):
        calls.append(1)
        return p * (np.nan if len(calls) == 2 else np.arange(1.0, 4.0))
    with pytest.raises(NumericalError, match="at iteration 2"):
        cg(nan_on_second, np.ones(3))


@given(st.integers(20, 40), st.floats(0.0, 1.0), seeds, st.sampled_from([1e-8, 1e8]))
def test_cg_tolerance_is_relative_so_scaling_b_scales_x(n, log10_cond, seed, s):
    """CG is linear in b and its test ||r|| <= tol ||b|| scale-free: cg(A, s b) = s cg(A, b)
    with the same iteration count, for s = 1e-8 and 1e8 (a test tol / ||r|| instead of
    tol ||r|| would stop the small one at x = 0 and run the large one to max_iters).
    Domain: the claim needs CG to stop in its geometric phase, where s b (rounded by eps
    relative) moves the residuals by about cond * eps and a tie with the tolerance is
    improbable. Near the n-th iteration finite precision decides the residual erratically
    (n = 7, cond 1e3, tol 1e-6, seed 0 stops after 7 vs 8 iterations), so n >= 20, cond <= 10
    and tol = 1e-3: the CG bound ||r_k|| <= 2 sqrt(cond) rho^k ||b||, rho = (sqrt(cond) - 1) /
    (sqrt(cond) + 1) = 0.52, reaches 1e-3 by k = 14 < n (measured over 10^4 cases: at most 12,
    every count equal). The iterates then agree to cond * 1e-12 relative (measured: 1e-15)."""
    rng = np.random.default_rng(seed)
    A, b = spd(n, 10**log10_cond, rng), rng.standard_normal(n)
    x, info = cg(_matvec(A), b, max_iters=10 * n, tol=1e-3)
    x_s, info_s = cg(_matvec(A), s * b, max_iters=10 * n, tol=1e-3)
    assert info.converged and info_s.converged and info.iterations <= 14
    assert info_s.iterations == info.iterations
    np.testing.assert_allclose(x_s, s * x, rtol=0,
                               atol=np.linalg.cond(A) * 1e-12 * s * np.max(np.abs(x)))


def test_cg_flags_say_exactly_how_it_stopped():
    """converged and nonpositive_curvature on each of CG's three exits: converged (SPD, enough
    iterations), out of iterations (ill-conditioned, one iteration), negative curvature; the
    defaults are 10 iterations and the relative tolerance 1e-10."""
    rng = np.random.default_rng(0)
    A, b = spd(12, 1e4, rng), rng.standard_normal(12)
    x, info = cg(lambda v: A @ v, b, 50)
    assert (info.converged, info.nonpositive_curvature) == (True, False)
    assert np.linalg.norm(A @ x - b) <= 1e-8 * np.linalg.norm(b)  # 1e-10 plus rounding (cond 1e4)
    _, info = cg(lambda v: A @ v, b)
    assert info.iterations == 10 and (info.converged, info.nonpositive_curvature) == (False, False)
    _, info = cg(lambda v: -v, b)
    assert (info.converged, info.nonpositive_curvature) == (False, True)


@pytest.mark.parametrize("max_iters", [1, 5])
def test_cg_at_tol_zero_is_converged_exactly_when_the_residual_is_zero(max_iters):
    """With tol = 0 the test ||r|| <= 0 * ||b|| holds only for r = 0 exactly. A = 2 I and
    b = (1, 2, 3) are solved exactly in one step (alpha = 14 / 28 = 1/2, x = b / 2, r = b - b
    = 0, all in exact binary arithmetic): CG reports converged with residual 0, whether the
    loop ends by its cap (max_iters = 1) or by the test before the second product
    (max_iters = 5; it must not go on to p = 0 and report nonpositive curvature). On a system
    one iteration cannot solve (diag(1, 2, 3), b = 1), the residual is positive and tol = 0
    is not met."""
    b = np.array([1.0, 2.0, 3.0])
    calls = []
    x, info = cg(lambda p: calls.append(1) or 2.0 * p, b, max_iters=max_iters, tol=0.0)
    np.testing.assert_array_equal(x, b / 2)
    assert info == CGInfo(1, 0.0, True, False) and len(calls) == 1
    _, info = cg(lambda p: np.array([1.0, 2.0, 3.0]) * p, np.ones(3), max_iters=1, tol=0.0)
    assert info.residual_norm > 0 and (info.converged, info.nonpositive_curvature) == (False,
                                                                                      False)


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_cg_works_in_float64_whatever_the_dtype_of_b(dtype):
    """b is read as float64 (numpy's exact conversion of integers and of float32 values): an
    integer or float32 b gives a float64 x and the same x and diagnostics, bit for bit, as the
    float64 array of the same values (4 unknowns, 3 iterations, so the arithmetic is not
    trivially exact)."""
    rng = np.random.default_rng(0)
    A = spd(4, 30.0, rng)
    b = np.array([3, -1, 2, 5], dtype=dtype)
    x, info = cg(_matvec(A), b, max_iters=3)
    x64, info64 = cg(_matvec(A), b.astype(np.float64), max_iters=3)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, x64)
    assert info == info64 and info.iterations == 3


def test_cg_works_in_float64_when_avp_returns_float32():
    """A p is read as float64: an Avp that returns float32 products gives the x, bit for bit, of
    an Avp returning the same float32 values as float64 arrays; CG's own arithmetic (alpha A p,
    the residual update) stays in float64 (4 unknowns, 3 iterations)."""
    rng = np.random.default_rng(1)
    A, b = spd(4, 30.0, rng), rng.standard_normal(4)
    x32, info32 = cg(lambda p: (A @ p).astype(np.float32), b, max_iters=3)
    x64, info64 = cg(lambda p: (A @ p).astype(np.float32).astype(np.float64), b, max_iters=3)
    assert x32.dtype == np.float64
    np.testing.assert_array_equal(x32, x64)
    assert info32 == info64
