"""refimpl/core/linesearch.py: the TRPO backtracking line search against brute force over j."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.core.linesearch import LineSearchInfo, backtracking
from support.strategies import seeds

deltas = st.floats(1e-3, 0.1)
alphas = st.floats(0.1, 0.95)
max_backtracks_s = st.integers(1, 15)


def _quadratic_problem(seed, P=4):
    """phi, a full step and evaluate(c) = (g^T d - 1/2 d^T K d, 1/2 d^T H d), d = c - phi: a
    quadratic KL model and a concave improvement with random sign and scale, so that some
    searches accept at various j and some reject. Also counts the calls to evaluate."""
    rng = np.random.default_rng(seed)
    phi, full_step = rng.standard_normal(P), rng.standard_normal(P) * 10.0 ** rng.uniform(-2, 1)
    A, B = rng.standard_normal((2, P, P))
    H, K, g = A @ A.T, B @ B.T * rng.uniform(0, 3), rng.standard_normal(P)
    calls = []

    def evaluate(c):
        calls.append(c.copy())
        d = c - phi
        return g @ d - 0.5 * d @ K @ d, 0.5 * d @ H @ d
    return phi, full_step, evaluate, calls


@given(seeds, deltas, alphas, max_backtracks_s)
def test_accepted_step_never_exceeds_the_trust_region_and_improves(seed, delta, alpha, nb):
    phi, full_step, evaluate, _ = _quadratic_problem(seed)
    phi_new, info = backtracking(phi, full_step, evaluate, delta, alpha, nb)
    if info.accepted:
        improvement, kl = evaluate(phi_new)
        assert kl <= delta and improvement > 0
        assert (info.improvement, info.kl) == (improvement, kl)  # same candidate re-evaluated


@given(seeds, deltas, alphas, max_backtracks_s)
def test_accepted_fraction_is_the_largest_power_of_alpha_satisfying_both_conditions(
        seed, delta, alpha, nb):
    phi, full_step, evaluate, calls = _quadratic_problem(seed)
    phi_new, info = backtracking(phi, full_step, evaluate, delta, alpha, nb)
    n_calls = len(calls)
    ok = [(imp > 0 and kl <= delta)
          for imp, kl in (evaluate(phi + alpha ** j * full_step) for j in range(nb))]
    assert info.candidates == n_calls
    if any(ok):
        j = ok.index(True)
        assert info == LineSearchInfo(True, alpha ** j, j + 1, info.kl, info.improvement)
        # the candidate is formed exactly as phi + gamma * Delta phi
        assert phi_new.tobytes() == (phi + alpha ** j * full_step).tobytes()
    else:
        assert not info.accepted and info.fraction == 0.0 and info.candidates == nb
        last = evaluate(phi + alpha ** (nb - 1) * full_step)
        assert (info.improvement, info.kl) == last
        assert phi_new is phi


@given(st.integers(1, 6), seeds)
def test_rejected_line_search_leaves_phi_unchanged(P, seed):
    """Bit-identical: phi holds -0.0, which phi + 0.0 * step would turn into +0.0."""
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal(P)
    phi[0] = -0.0
    before = phi.tobytes()
    phi_new, info = backtracking(phi, rng.standard_normal(P), lambda c: (-1.0, 0.0), 0.01)
    assert phi_new is phi and phi_new.tobytes() == before
    np.testing.assert_array_equal(phi_new, phi)
    assert info == LineSearchInfo(False, 0.0, 10, 0.0, -1.0)


@pytest.mark.parametrize("bad", [(np.inf, 0.0), (np.nan, 0.0), (1.0, np.nan), (1.0, np.inf),
                                 (1.0, -np.inf), (np.nan, np.nan)])
def test_non_finite_evaluations_are_rejected(bad):
    """The first three candidates evaluate to ``bad``; the fourth (j = 3) is fine."""
    phi, full_step, outcomes = np.zeros(2), np.ones(2), iter([bad] * 3 + [(1.0, 0.0)])
    phi_new, info = backtracking(phi, full_step, lambda c: next(outcomes), 0.01, alpha=0.5)
    assert info == LineSearchInfo(True, 0.125, 4, 0.0, 1.0)  # 0.5^3, exact
    np.testing.assert_array_equal(phi_new, [0.125, 0.125])


def test_all_non_finite_evaluations_reject_the_step():
    phi = np.ones(3)
    phi_new, info = backtracking(phi, np.ones(3), lambda c: (np.inf, np.nan), 0.01,
                                 max_backtracks=3)
    assert phi_new is phi and not info.accepted and info.candidates == 3


def test_line_search_rejects_bad_arguments():
    phi, ev = np.zeros(2), (lambda c: (1.0, 0.0))
    for kwargs, name in (({"delta": 0.0}, "delta"), ({"delta": 0.01, "alpha": 1.0}, "alpha"),
                         ({"delta": 0.01, "alpha": 0.0}, "alpha"),
                         ({"delta": 0.01, "max_backtracks": 0}, "max_backtracks")):
        with pytest.raises(ValueError, match=name):
            backtracking(phi, np.ones(2), ev, **kwargs)
    with pytest.raises(ValueError, match="full_step"):
        backtracking(phi, np.ones(3), ev, 0.01)


def test_conditions_at_their_boundaries():
    """The lecture's conditions are a strict improvement, L_TRPO(phi_new) > L_TRPO(phi), and
    KL <= delta: an improvement of exactly 0 is rejected, a KL of exactly delta is accepted."""
    phi, step = np.zeros(2), np.ones(2)
    new, info = backtracking(phi, step, lambda c: (0.0, 0.0), delta=0.01)
    assert new is phi and not info.accepted and info.candidates == 10
    new, info = backtracking(phi, step, lambda c: (1.0, 0.01), delta=0.01)
    assert info.accepted and info.fraction == 1.0 and info.candidates == 1
    np.testing.assert_array_equal(new, step)
