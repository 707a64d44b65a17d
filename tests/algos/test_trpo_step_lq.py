"""The TRPO step of the lecture's linear-quadratic example on the exact g and F (refimpl/core/natural.py
with refimpl/exact/lq.py).

Lecture, "TRPO: Solving the optimization problem": the step of eq. Adv_TRPO_step,
Delta = sqrt(2 delta / g^T F^-1 g) F^-1 g, lies on the boundary 1/2 Delta^T F Delta = delta of the
quadratic KL model (eq. Adv_KLdiv_Fisher), so the TRUE mean KL of that step is delta up to the
third-order remainder of the expansion, O(|Delta|^3) = O(delta^{3/2}).

Coordinates phi = (k, sigma) of the slide "Ill-conditioned gradients". F is the Fisher matrix under
the normalised discounted state distribution rho (``exact.lq.fisher``), the same distribution the
true mean KL averages over, so 1/2 Delta^T F Delta is the quadratic model of exactly that KL. The
step does not depend on the scale of g (Delta is invariant under g -> c g, c > 0), so g of J or of
the normalised J give the same step.

The true mean KL is closed form. Per state, with sigma' = sigma + dsigma,
    KL(N(k s, sigma^2) || N((k + dk) s, sigma'^2))
        = log(sigma'/sigma) + (sigma^2 + dk^2 s^2) / (2 sigma'^2) - 1/2,
affine in s^2, so its rho-average replaces s^2 by E_rho[s^2] (``exact.lq.state_second_moment``).
Write a = dk^2 E_rho[s^2] / sigma^2 and e = dsigma / sigma; the boundary is a / 2 + e^2 = delta and
    KL - delta = -(5/3) e^3 - a e + O(delta^2),
which is of order delta^{3/2} and positive (the step lowers sigma: e < 0).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.exact.lq import (PRESETS, fisher, natural_gradient, return_gradient,
                              state_second_moment)
from refimpl.core.natural import natural_step

preset_names = st.sampled_from(sorted(PRESETS))
ks = st.floats(-1.8, -0.2)       # |1 + k| < 1: a stable closed loop
sigmas = st.floats(0.05, 1.0)
DELTAS = np.array([1e-2, 1e-3, 1e-4, 1e-5])


def trpo_step(name, k, sigma, delta, normalized=False):
    """refimpl.core.natural.natural_step on the exact g and F: CG on a 2x2 system converges in 2 steps."""
    g = np.array(return_gradient(name, k, sigma, normalized))
    F = fisher(name, k, sigma)
    return natural_step(g, lambda v: F @ v, delta, cg_iters=2, cg_tol=0.0).step, F


def true_mean_kl(name, k, sigma, step):
    """E_{s~rho_old} KL(pi_old(.|s) || pi_new(.|s)), closed form (module docstring)."""
    dk, dsigma = step
    Es2, sigma_new = state_second_moment(name, k, sigma), sigma + dsigma
    return np.log(sigma_new / sigma) + (sigma ** 2 + dk ** 2 * Es2) / (2 * sigma_new ** 2) - 0.5


@given(preset_names, ks, sigmas, st.sampled_from(list(DELTAS)))
def test_trpo_step_on_exact_g_and_F_lies_on_quadratic_kl_boundary(name, k, sigma, delta):
    step, F = trpo_step(name, k, sigma, delta)
    # a 2x2 quadratic form of a converged CG solution: rounding only, 1e-12 relative
    assert 0.5 * step @ F @ step == pytest.approx(delta, rel=1e-12)


@given(preset_names, ks, sigmas)
def test_trpo_step_equals_closed_form_natural_gradient_step(name, k, sigma):
    delta = 0.01
    x = natural_gradient(name, k, sigma)                  # F^-1 g by a division (exact/lq.py)
    g = np.array(return_gradient(name, k, sigma))
    expected = np.sqrt(2 * delta / (g @ x)) * x           # eq. Adv_TRPO_step
    # CG (2 iterations) against a diagonal solve: rounding of a 2x2 system, 1e-12 relative
    np.testing.assert_allclose(trpo_step(name, k, sigma, delta)[0], expected, rtol=1e-12)
    # the step ignores the scale of g: normalised J gives the same step (rounding, 1e-12)
    np.testing.assert_allclose(trpo_step(name, k, sigma, delta, normalized=True)[0], expected,
                               rtol=1e-12)


@given(preset_names, ks, sigmas)
def test_true_kl_of_trpo_step_is_delta_up_to_delta_to_the_three_halves(name, k, sigma):
    steps = [trpo_step(name, k, sigma, delta)[0] for delta in DELTAS]
    gap = np.array([abs(true_mean_kl(name, k, sigma, s) - d) for s, d in zip(steps, DELTAS)])
    ratio = gap / DELTAS ** 1.5
    # |KL - delta| = c3 delta^{3/2} (1 + O(delta^{1/2})) with c3 > 0 on this range; the relative
    # correction is <= ~1.35 sqrt(delta) (the delta^2 coefficient over c3, module docstring), so the
    # ratio varies by < 15% from delta = 1e-2 to 1e-5 ...
    assert ratio.max() <= 1.25 * ratio.min()
    # ... and the log-log slope of each decade is 1.5 within 0.1 (a step off the boundary leaves a
    # gap O(delta): slope 1; a second-order error in F leaves slope 1 as well)
    slopes = np.diff(np.log(gap)) / np.diff(np.log(DELTAS))
    assert np.all(np.abs(slopes - 1.5) <= 0.1), slopes
    # the limit is the third-order coefficient -(5/3) e^3 - a e at delta = 1 (module docstring)
    dk, dsigma = steps[-1] / np.sqrt(DELTAS[-1])
    e, a = dsigma / sigma, dk ** 2 * state_second_moment(name, k, sigma) / sigma ** 2
    # remaining relative error <= ~1.35 sqrt(1e-5) ~ 4e-3: 1e-2 relative
    assert ratio[-1] == pytest.approx(-(5 / 3) * e ** 3 - a * e, rel=1e-2)
