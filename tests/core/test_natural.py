"""refimpl/core/natural.py: TRPO's step lies on the quadratic KL boundary, maximises g^T d inside it,
and nu = x^T g = g^T F^-1 g; the fixed-step NPG; bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.errors import NumericalError
from refimpl.core.fisher import make_fvp
from refimpl.core.natural import natural_step, npg_step
from refimpl.core.policy import GaussianPolicy
from support.strategies import policy_problems, random_phi, seeds, spd_matrix as spd

EPS = np.finfo(np.float64).eps
deltas = st.floats(1e-4, 1.0)


def _damped_fisher_problem(problem, damping=0.1):
    """Real policy Fisher plus damping: fvp, its dense matrix A, a gradient g and cond(A)."""
    policy, phi, obs, rng = problem
    fvp = make_fvp(policy, phi, obs, damping)
    A = np.column_stack([fvp(e) for e in np.eye(policy.n_params)])
    return fvp, A, rng.standard_normal(policy.n_params), np.linalg.cond(A)


@given(policy_problems(), deltas)
def test_trpo_step_lies_on_kl_boundary(problem, delta):
    """1/2 step^T A step = delta, A = F + lambda I, when CG has converged (cg_iters = 20 P).

    With nu = x^T g: 1/2 step^T A step = delta (x^T A x) / (x^T g), and x^T g - x^T A x = x^T r
    with ||r|| <= tol ||g||, so the relative error is <= ||x|| tol ||g|| / x^T g <= cond(A) tol
    (tol = 1e-12 here), plus rounding of O(P)-term dot products."""
    fvp, A, g, cond = _damped_fisher_problem(problem)
    s = natural_step(g, fvp, delta, cg_iters=20 * len(g), cg_tol=1e-12)
    assert s.cg.converged
    np.testing.assert_allclose(0.5 * s.step @ A @ s.step, delta,
                               rtol=cond * 1e-12 + 1e2 * len(g) * EPS)


@given(st.integers(1, 30), st.floats(0.0, 3.0), deltas, seeds)
def test_trpo_step_lies_on_kl_boundary_spd(n, log10_cond, delta, seed):
    """Same claim on random SPD matrices: cond <= 1e3 and tol = 1e-13 give ~1e-10 relative."""
    rng = np.random.default_rng(seed)
    A, g = spd(n, 10**log10_cond, rng), rng.standard_normal(n)
    s = natural_step(g, lambda v: A @ v, delta, cg_iters=10 * n, cg_tol=1e-13)
    assert s.cg.converged
    # cond(A) tol <= 1e-10, plus rounding of O(n)-term dot products
    np.testing.assert_allclose(0.5 * s.step @ A @ s.step, delta, rtol=1e-10 + 1e2 * n * EPS)


@given(policy_problems(), deltas)
def test_nu_equals_g_Finv_g(problem, delta):
    """nu = x^T g against g^T A^-1 g from numpy.linalg.solve: |g^T (x - x*)| = |x*^T r| <=
    ||x*|| tol ||g||, relative to nu >= ||g||^2 / lambda_max that is <= cond(A) tol."""
    fvp, A, g, cond = _damped_fisher_problem(problem)
    s = natural_step(g, fvp, delta, cg_iters=20 * len(g), cg_tol=1e-12)
    assert s.nu == s.x @ g
    np.testing.assert_allclose(s.nu, g @ np.linalg.solve(A, g),
                               rtol=cond * (1e-12 + 1e2 * EPS))  # + solve's own rounding
    np.testing.assert_allclose(s.beta, np.sqrt(2 * delta / s.nu), rtol=2 * EPS)
    np.testing.assert_array_equal(s.step, s.beta * s.x)


@given(policy_problems(), deltas)
def test_trpo_step_maximises_linear_objective_on_ellipsoid(problem, delta):
    """Linear-quadratic problem ("TRPO: Solving the optimization problem"): max g^T d subject
    to 1/2 d^T A d <= delta. Every random direction scaled onto the ellipsoid scores no more
    than the step (Cauchy-Schwarz in the A-inner product: g^T d <= sqrt(2 delta g^T A^-1 g))."""
    fvp, A, g, cond = _damped_fisher_problem(problem)
    s = natural_step(g, fvp, delta, cg_iters=20 * len(g), cg_tol=1e-12)
    rng = np.random.default_rng(0)
    for d in rng.standard_normal((20, len(g))):
        d *= np.sqrt(2 * delta / (d @ A @ d))
        # the step's optimality holds to its nu error: cond(A) (tol + rounding), as above
        assert g @ d <= (g @ s.step) * (1 + cond * (1e-12 + 1e2 * EPS))


@given(st.integers(3, 30), st.floats(2.0, 4.0), st.integers(1, 3), seeds)
def test_x_g_equals_x_F_x_even_for_truncated_cg(n, log10_cond, k, seed):
    """The lecture writes beta = sqrt(2 delta / x^T g) ("Avoiding matrix inversion", Approach)
    and sqrt(2 delta / x^T F x) ("Final algorithm", step 5). They agree for every CG iterate
    from x_0 = 0, converged or not: the residual g - F x_k is orthogonal to the Krylov space
    K_k(F, g), which contains x_k, so x_k^T (g - F x_k) = 0. Here CG stops after k < n steps
    on an ill-conditioned system; the identity holds to rounding (loss of orthogonality over
    k <= 3 steps: ~k cond eps relative)."""
    rng = np.random.default_rng(seed)
    A, g = spd(n, 10**log10_cond, rng), rng.standard_normal(n)
    s = natural_step(g, lambda v: A @ v, 0.01, cg_iters=k, cg_tol=0.0)
    assert not s.cg.converged
    np.testing.assert_allclose(s.x @ A @ s.x, s.nu, rtol=10 * k * 10**log10_cond * EPS)


@given(policy_problems(), st.floats(1e-3, 1.0))
def test_npg_step_is_alpha_times_solve(problem, alpha):
    """Eq. (Adv_NPG): step = alpha F^-1 g; and the TRPO step is the same direction rescaled."""
    fvp, A, g, cond = _damped_fisher_problem(problem)
    s = npg_step(g, fvp, alpha, cg_iters=20 * len(g), cg_tol=1e-12)
    x_star = np.linalg.solve(A, g)
    # relative error of x is <= cond(A) times the relative residual (tol + rounding)
    np.testing.assert_allclose(s.step, alpha * x_star, rtol=0,
                               atol=cond * (1e-12 + 1e2 * EPS) * alpha * np.linalg.norm(x_star))
    assert s.beta == alpha and s.nu == s.x @ g
    t = natural_step(g, fvp, 0.01, cg_iters=20 * len(g), cg_tol=1e-12)
    np.testing.assert_array_equal(t.x, s.x)


@pytest.mark.parametrize("delta", [0.0, -0.01, np.nan, np.inf])
def test_natural_step_rejects_bad_delta(delta):
    with pytest.raises(ValueError, match="delta must be a finite number > 0"):
        natural_step(np.ones(3), lambda v: v, delta)


@pytest.mark.parametrize("alpha", [0.0, -1.0, np.nan])
def test_npg_step_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        npg_step(np.ones(3), lambda v: v, alpha)


def test_natural_step_rejects_bad_g_and_nonpositive_nu():
    """A wrongly shaped g is the caller's mistake (ValueError); a non-finite g or FVP and
    nu <= 0 are numerical failures (NumericalError)."""
    with pytest.raises(ValueError, match="g must be a 1-D gradient vector"):
        natural_step(np.ones((2, 2)), lambda v: v, 0.01)
    with pytest.raises(NumericalError, match="the policy gradient g is not finite"):
        natural_step(np.array([1.0, np.inf]), lambda v: v, 0.01)
    with pytest.raises(NumericalError, match="solving F x = g: CG: the product A p is not finite"):
        npg_step(np.ones(3), lambda v: np.full_like(v, np.nan), 0.1)
    with pytest.raises(NumericalError, match=r"nu = x\^T g must be > 0"):
        natural_step(np.zeros(3), lambda v: v, 0.01)        # g = 0
    with pytest.raises(NumericalError, match=r"nu = x\^T g must be > 0"):
        natural_step(np.ones(3), lambda v: -v, 0.01)        # negative definite "F"


def test_natural_step_with_policy_fvp_rejects_mismatched_g_and_bad_params():
    """Shape errors surface from the FVP, naming its argument v (the vector CG hands it)."""
    rng = np.random.default_rng(0)
    policy = GaussianPolicy.build(3, 2, (4,))
    phi, obs = random_phi(policy, rng), rng.standard_normal((5, 3))
    fvp = make_fvp(policy, phi, obs, 0.1)
    with pytest.raises(ValueError, match=rf"v must have shape \({policy.n_params},\)"):
        natural_step(np.ones(policy.n_params + 1), fvp, 0.01)
    with pytest.raises(NumericalError, match="phi contains non-finite values"):
        make_fvp(policy, np.full_like(phi, np.nan), obs)
    with pytest.raises(NumericalError, match="obs contains non-finite values"):
        make_fvp(policy, phi, np.full_like(obs, np.inf))


def test_default_cg_iterations_is_the_lectures_ten():
    """Called without ``cg_iters``, both steps run 10 CG iterations, the lecture's lower end
    ("Truncated CG (10 to 20 iterations)"). F = diag(1, ..., 30) has 30 distinct eigenvalues,
    so CG in exact arithmetic needs 30 iterations and cannot meet the relative 1e-10 test
    within 10 (its residual after 10 is about 1e-2 of |g| here): both stop at exactly 10."""
    F = np.diag(np.arange(1.0, 31.0))
    g = np.ones(30)
    for step in (natural_step(g, lambda v: F @ v, 0.01), npg_step(g, lambda v: F @ v, 0.1)):
        assert step.cg.iterations == 10 and not step.cg.converged
