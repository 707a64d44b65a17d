"""The lecture's 1-D linear-quadratic example in closed form: J(k, sigma), its gradient, the Fisher.

Lecture, "Ill-conditioned gradients" (after Peters & Schaal 2008, "Natural Actor-Critic"):

    s_{t+1} = s_t + a_t,    a_t ~ pi_phi(.|s_t) = N(k s_t, sigma^2),    phi = (k, sigma),
    r_t = -c (q s_t^2 + r_cost a_t^2),    s_0 ~ N(mu0, std0^2).

Derivation. Write a_t = k s_t + sigma xi_t with xi_t ~ N(0, 1); then s_{t+1} = (1 + k) s_t + sigma xi_t.
With v_t = E[s_t^2] and a = (1 + k)^2 the second moment obeys

    v_{t+1} = a v_t + sigma^2,    v_0 = mu0^2 + std0^2,
    v_t = a^t v_0 + sigma^2 sum_{j<t} a^j,

and E[r_t] = -c ((q + r_cost k^2) v_t + r_cost sigma^2), because E[a_t^2] = k^2 v_t + sigma^2.
Let G_n(x) = sum_{t<n} x^t (the geometric sum). Summing gamma^t over t = 0..H-1 and exchanging the
order of the double sum,

    S = sum_{t<H} gamma^t v_t = v_0 G_H(gamma a) + sigma^2 W,
    W = sum_{t<H} gamma^t sum_{j<t} a^j = gamma / (1 - gamma) (G_{H-1}(gamma a) - gamma^{H-1} G_{H-1}(a)),
    J(k, sigma) = -c ((q + r_cost k^2) S + r_cost sigma^2 G_H(gamma)).

The infinite horizon (H = None) needs gamma a < 1; then G_inf(x) = 1 / (1 - x), the tail term
vanishes and S = (v_0 + sigma^2 gamma / (1 - gamma)) / (1 - gamma a). J depends on k only through
(q + r_cost k^2) / (1 - gamma (1 + k)^2), so for H = None the best gain does not depend on sigma; it is
the Riccati gain of ``optimal_gain``. J decreases in sigma^2, so the optimum is (k*, sigma -> 0).

The gradient differentiates these formulas (dG_n/dx in closed form, a Taylor series near x = 1 where
the closed form cancels); the Fisher matrix of N(k s, sigma^2) in (k, sigma) is, per state,
F_s = [[s^2 / sigma^2, 0], [0, 2 / sigma^2]], averaged over the normalised discounted state
distribution rho(s) = sum_t gamma^t p(s_t = s) / G_H(gamma).

The module is pure numpy/scipy; ``refimpl/envs/lq.py`` wraps the same MDP as a gymnasium environment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import comb

TAYLOR_RADIUS = 0.05
"""Below |n (x - 1)| < TAYLOR_RADIUS the geometric sum uses its Taylor series in (x - 1): there the
closed form's derivative (n x^{n-1} - G) / (x - 1) loses digits; 10 terms leave error < 1e-19."""
TAYLOR_TERMS = 10
FISHER_TINY = float(np.finfo(np.float64).tiny)
"""Smallest normal float64 (2.2e-308). Below it a number is subnormal or zero and has lost relative
precision, so ``natural_gradient`` refuses an E_rho[s^2] or F_kk smaller than this."""


@dataclass(frozen=True)
class LQPreset:
    """One linear-quadratic MDP: s' = s + a, r = -scale (q s^2 + r_cost a^2), s_0 ~ N(s0_mean, s0_std^2)."""

    q: float
    """State cost weight q (lecture: 1; Peters & Schaal 2008: 1, with scale 1/2)."""
    r_cost: float
    """Action cost weight (lecture: 1; Peters & Schaal 2008: 0.1). Named r_cost, r is the reward."""
    scale: float
    """Overall factor c of the cost (lecture: 1; Peters & Schaal 2008: 1/2)."""
    gamma: float
    """Discount factor gamma in (0, 1); 0.9 in both presets (Peters & Schaal 2008)."""
    s0_mean: float
    """Mean of the initial state, mu0 = 0.3 (Peters & Schaal 2008)."""
    s0_std: float
    """Standard deviation of the initial state, 0.01, i.e. variance 1e-4 (Peters & Schaal 2008)."""
    horizon: int | None
    """Episode length H (the environment truncates after H steps); None = infinite horizon (only for
    the closed forms). H = 200 makes gamma^H = 0.9^200 ~ 7.1e-10 negligible."""

    def __post_init__(self):
        if self.q < 0 or self.r_cost < 0 or self.q + self.r_cost <= 0:
            raise ValueError("q and r_cost must be >= 0 and not both 0")
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if not 0.0 < self.gamma < 1.0:
            raise ValueError(f"gamma must lie in (0, 1), got {self.gamma}")
        if self.s0_std < 0:
            raise ValueError(f"s0_std must be >= 0, got {self.s0_std}")
        if self.horizon is not None and (int(self.horizon) != self.horizon or self.horizon < 1):
            raise ValueError(f"horizon must be a positive integer or None, got {self.horizon}")


HORIZON = 200
"""Default H: 0.9^200 ~ 7.1e-10, so the finite-horizon J equals the infinite one to that relative size."""

PRESETS = {
    "peters": LQPreset(q=1.0, r_cost=0.1, scale=0.5, gamma=0.9, s0_mean=0.3, s0_std=0.01,
                       horizon=HORIZON),
    # The lecture gives no gamma or initial state; we reuse Peters & Schaal's.
    "lecture": LQPreset(q=1.0, r_cost=1.0, scale=1.0, gamma=0.9, s0_mean=0.3, s0_std=0.01,
                        horizon=HORIZON),
}
"""The two presets: Peters & Schaal 2008 (Fig. 1) and the lecture's slide "Ill-conditioned gradients"."""


def get_preset(preset: LQPreset | str) -> LQPreset:
    """Return ``preset`` itself or the entry of PRESETS it names."""
    if isinstance(preset, LQPreset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"preset must be an LQPreset or one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[preset]


def optimal_gain(preset: LQPreset | str) -> tuple[float, float]:
    """Discounted scalar Riccati solution (infinite horizon, deterministic policy a = k s).

    With Q = scale q, R = scale r_cost and A = B = 1::

        P = Q + gamma P - gamma^2 P^2 / (R + gamma P)  <=>  gamma P^2 + (R - gamma Q - gamma R) P - Q R = 0,
        P = positive root,  k* = -gamma P / (R + gamma P);  the value is V(s) = -P s^2.

    Lecture: slide "Ill-conditioned gradients" ("Optimum: phi* = (-1, 0)", true only for r_cost -> 0).

    Returns (k_star, P), floats. Tested in ``tests/exact/test_lq.py::test_optimal_gain_matches_scipy_dare``.
    """
    p = get_preset(preset)
    Q, R, gamma = p.scale * p.q, p.scale * p.r_cost, p.gamma
    b = R - gamma * Q - gamma * R
    root = np.sqrt(b * b + 4.0 * gamma * Q * R)
    # the two algebraically equal forms of the positive root; each avoids cancellation for its sign of b
    P = 2.0 * Q * R / (b + root) if b > 0 else (root - b) / (2.0 * gamma)
    return float(-gamma * P / (R + gamma * P)), float(P)


def optimum(preset: LQPreset | str) -> tuple[float, float]:
    """phi* = (k*, 0): J decreases in sigma^2 and, for every sigma, is maximised over k at k*.

    Exact for the infinite horizon; with finite H the best k differs from k* by O(gamma^H).
    Returns (k_star, 0.0). Tested in
    ``tests/exact/test_lq.py::test_finite_horizon_optimum_is_riccati_gain_up_to_gamma_to_the_h``.
    """
    return optimal_gain(preset)[0], 0.0


def _geometric(x: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """G_n(x) = sum_{t<n} x^t and dG_n/dx = sum_t t x^{t-1}, elementwise for x >= 0; n None = infinite."""
    assert np.all(x >= 0), "geometric sums are only needed at x >= 0"
    if n is None:
        with np.errstate(divide="ignore"):
            inv = np.where(x < 1.0, 1.0 / np.where(x < 1.0, 1.0 - x, 1.0), np.inf)
        return inv, inv * inv
    d = x - 1.0
    near = np.abs(n * d) < TAYLOR_RADIUS
    d_far = np.where(near, 1.0, d)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        G_far = np.expm1(n * np.log1p(d_far)) / d_far
        dG_far = (n * np.power(np.where(near, 1.0, x), n - 1) - G_far) / d_far
    m = np.arange(TAYLOR_TERMS)[:, None]
    c = comb(n, m + 1)
    dn = np.where(near, d, 0.0).reshape(1, -1)
    G_near = np.sum(c * dn ** m, axis=0).reshape(d.shape)
    dG_near = np.sum((m[1:] * c[1:]) * dn ** (m[1:] - 1), axis=0).reshape(d.shape)
    return np.where(near, G_near, G_far), np.where(near, dG_near, dG_far)


def _discounted_second_moment(p: LQPreset, k: np.ndarray, sigma: np.ndarray):
    """S = sum_{t<H} gamma^t E[s_t^2] (module docstring) with dS/dk and dS/dsigma."""
    gamma, H = p.gamma, p.horizon
    a = (1.0 + k) ** 2
    v0 = p.s0_mean ** 2 + p.s0_std ** 2
    G, dG = _geometric(gamma * a, H)
    if H is None:
        B = v0 + sigma ** 2 * gamma / (1.0 - gamma)
        with np.errstate(invalid="ignore"):
            return B * G, B * gamma * dG * 2.0 * (1.0 + k), 2.0 * sigma * gamma / (1.0 - gamma) * G
    G2, dG2 = _geometric(gamma * a, H - 1)
    G3, dG3 = _geometric(a, H - 1)
    tail = gamma ** (H - 1)
    W = gamma / (1.0 - gamma) * (G2 - tail * G3)
    dW_da = gamma / (1.0 - gamma) * (gamma * dG2 - tail * dG3)
    S = v0 * G + sigma ** 2 * W
    dS_da = v0 * gamma * dG + sigma ** 2 * dW_da
    return S, dS_da * 2.0 * (1.0 + k), 2.0 * sigma * W


def _discount_mass(p: LQPreset) -> float:
    """G_H(gamma) = sum_{t<H} gamma^t = (1 - gamma^H) / (1 - gamma); 1 / (1 - gamma) for H = None."""
    return 1.0 / (1.0 - p.gamma) if p.horizon is None else (1.0 - p.gamma ** p.horizon) / (1.0 - p.gamma)


def _check_phi(k, sigma) -> tuple[np.ndarray, np.ndarray]:
    k, sigma = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(sigma, dtype=np.float64))
    if np.any(sigma < 0):
        raise ValueError("sigma must be >= 0")
    return k.ravel(), sigma.ravel()


def expected_return(preset: LQPreset | str, k, sigma, normalized: bool = False):
    """J(k, sigma) = sum_{t<H} gamma^t E[r_t] = -c ((q + r_cost k^2) S + r_cost sigma^2 G_H(gamma)).

    Lecture: the objective L(phi) of "Ill-conditioned gradients"; S and G_H in the module docstring.
    ``normalized`` divides by G_H(gamma) = sum_{t<H} gamma^t (Peters & Schaal's Fig. 1 plots
    (1 - gamma) J). k, sigma: floats or broadcastable arrays, sigma >= 0. Returns J, same shape
    (-inf where the infinite-horizon J diverges, gamma (1 + k)^2 >= 1).
    Tested in ``tests/exact/test_lq.py::test_return_matches_moment_recursion_loop`` and
    ``::test_return_matches_monte_carlo_rollouts_of_env``.
    """
    p = get_preset(preset)
    shape = np.broadcast_shapes(np.shape(k), np.shape(sigma))
    k, sigma = _check_phi(k, sigma)
    S = _discounted_second_moment(p, k, sigma)[0]
    with np.errstate(invalid="ignore"):
        J = -p.scale * ((p.q + p.r_cost * k ** 2) * S + p.r_cost * sigma ** 2 * _discount_mass(p))
    return (J / _discount_mass(p) if normalized else J).reshape(shape)[()]


def return_gradient(preset: LQPreset | str, k, sigma, normalized: bool = False):
    """g = (dJ/dk, dJ/dsigma), differentiating J = -c ((q + r_cost k^2) S + r_cost sigma^2 G_H(gamma)):

        dJ/dk     = -c (2 r_cost k S + (q + r_cost k^2) dS/dk),
        dJ/dsigma = -c ((q + r_cost k^2) dS/dsigma + 2 r_cost sigma G_H(gamma)),  dS/dsigma = 2 sigma W.

    Lecture: the vanilla gradient of "Ill-conditioned gradients" (dJ/dsigma is exactly linear in sigma).
    Shapes as ``expected_return``; returns (dJ_dk, dJ_dsigma).
    Tested in ``tests/exact/test_lq.py::test_return_gradient_matches_finite_differences``.
    """
    p = get_preset(preset)
    shape = np.broadcast_shapes(np.shape(k), np.shape(sigma))
    k, sigma = _check_phi(k, sigma)
    S, dS_dk, dS_dsigma = _discounted_second_moment(p, k, sigma)
    cost_s = p.q + p.r_cost * k ** 2
    dJ_dk = -p.scale * (2.0 * p.r_cost * k * S + cost_s * dS_dk)
    dJ_dsigma = -p.scale * (cost_s * dS_dsigma + 2.0 * p.r_cost * sigma * _discount_mass(p))
    norm = _discount_mass(p) if normalized else 1.0
    return (dJ_dk / norm).reshape(shape)[()], (dJ_dsigma / norm).reshape(shape)[()]


def state_second_moment(preset: LQPreset | str, k: float, sigma: float) -> float:
    """E_rho[s^2] = S / G_H(gamma): second moment under the normalised discounted state distribution.

    Lecture: rho_pi of the TRPO slides (s ~ rho). Returns a float.
    Tested in ``tests/exact/test_lq.py::test_fisher_matches_quadrature_of_score_outer_product``.
    """
    p = get_preset(preset)
    k, sigma = _check_phi(k, sigma)
    return float(_discounted_second_moment(p, k, sigma)[0][0] / _discount_mass(p))


def fisher(preset: LQPreset | str, k: float, sigma: float) -> np.ndarray:
    """F = E_{s~rho, a~pi}[grad log pi grad log pi^T] = [[E_rho[s^2] / sigma^2, 0], [0, 2 / sigma^2]].

    Lecture: "Fisher information matrix" with the score of "Ill-conditioned gradients" (including the
    -1/sigma of the normaliser, which the slide's "+ C" hides); coordinates phi = (k, sigma);
    rho normalised (a probability distribution). Needs sigma > 0. Returns F, shape (2, 2).
    Tested in ``tests/exact/test_lq.py::test_fisher_matches_quadrature_of_score_outer_product`` and
    ``::test_mean_kl_is_half_fisher_quadratic_form``.
    """
    if not np.ndim(k) == np.ndim(sigma) == 0:
        raise ValueError("k and sigma must be scalars")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 for a finite Fisher matrix, got {sigma}")
    return np.diag([state_second_moment(preset, k, sigma) / sigma ** 2, 2.0 / sigma ** 2])


def natural_gradient(preset: LQPreset | str, k: float, sigma: float,
                     normalized: bool = False) -> np.ndarray:
    """x = F^-1 g = (sigma^2 dJ/dk / E_rho[s^2], sigma^2 dJ/dsigma / 2).

    Lecture: "Natural policy gradient", phi <- phi + alpha F^-1 grad L(phi). F is normalised (see
    ``fisher``); ``normalized`` selects g of J or of J / G_H(gamma) (a common scale only).
    Returns x, shape (2,). ValueError if F is singular to float64 precision: E_rho[s^2] or
    F_kk = E_rho[s^2] / sigma^2 below the smallest normal float (``FISHER_TINY``), which happens
    only for horizon 1 with s_0 ~ 0 (then E_rho[s^2] = mu0^2 + std0^2 underflows; the exact x is
    finite, but the float64 F and g no longer determine it).
    Tested in ``tests/exact/test_lq.py::test_natural_gradient_solves_fisher_system``.
    """
    g = np.array(return_gradient(preset, k, sigma, normalized), dtype=np.float64)
    F = fisher(preset, k, sigma)
    second_moment = state_second_moment(preset, k, sigma)
    if not min(second_moment, F[0, 0]) >= FISHER_TINY:
        raise ValueError(f"E_rho[s^2] = {second_moment:.3g} and F_kk = {F[0, 0]:.3g} must be >= "
                         f"{FISHER_TINY:.3g} (s_0 ~ 0 with horizon 1): F is singular to float64 "
                         "precision")
    return g / np.diag(F)
