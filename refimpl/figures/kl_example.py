"""Regenerates the lecture's ``KLdivergence-example.png`` (slide "Kullback-Leibler divergence",
the "two maps" intuition: p is the accurate map A, q the map B drawn from memory).

    KL(p || q) = sum_x p(x) log(p(x) / q(x))   or   int p(x) log(p(x) / q(x)) dx.

Four panels, every KL value computed numerically here (adaptive quadrature of p (log p - log q)
with scipy.integrate.quad, or the finite sum), and for Gaussian pairs also in closed form by
``refimpl.core.distributions.kl``:

(a) asymmetry: a bimodal p and two Gaussian maps q; the broad moment-matched q has the smaller
    KL(p || q) (it covers both modes), the one-mode q the smaller KL(q || p) for its own error;
    KL(p || q) != KL(q || p);
(b) the slide's question "what happens if q(x) = 0 for some x?": where p(x) > 0 = q(x) the term
    p log(p / 0) is infinite, so KL(p || q) = inf, while KL(q || p) stays finite;
(c) and (d): two Gaussian pairs at the same Euclidean distance, 0.2, between (mu, sigma) and (mu', sigma')
    with very different KL: N(0, 0.1^2) vs N(0.2, 0.1^2) has KL = 2, N(0, 2^2) vs N(0.2, 2^2) has
    KL = 0.005. A step of fixed length in parameter space changes the distribution by wildly
    different amounts, the motivation of the natural gradient (slide "Constraining the ascent
    direction").

Output: KLdivergence-example.png and KLdivergence-example.json (parameters and KL values).
Verified in ``tests/figures/test_figures.py::test_kl_example_*``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import integrate, stats
from scipy.special import logsumexp

from refimpl.core import distributions as dist
from refimpl.exact.tabular import kl_per_state
from refimpl.engine.plots import plt, save_json, save_png

MIXTURE = ((0.5, -2.0, 0.7), (0.5, 2.0, 0.7))
"""p of panel (a): (weight, mean, std) of each component."""
MAPS = {"broad q (moment-matched)": (0.0, float(np.sqrt(0.7 ** 2 + 2.0 ** 2))),
        "one-mode q": (2.0, 0.7)}
"""The Gaussian maps q = N(mean, std^2) of panel (a)."""
P_DISCRETE = (0.10, 0.20, 0.30, 0.20, 0.15, 0.05)
Q_DISCRETE = (0.15, 0.25, 0.35, 0.25, 0.00, 0.00)
"""Panel (b): q puts zero probability on outcomes 5 and 6, which p considers possible."""
GAUSS_PAIRS = {"narrow": ((0.0, 0.1), (0.2, 0.1)), "wide": ((0.0, 2.0), (0.2, 2.0))}
"""Panels (c, d): ((mu_p, sigma_p), (mu_q, sigma_q)), both at parameter distance 0.2."""
BOUND = 40.0
"""Integration range [-BOUND, BOUND]: beyond it every density here is below exp(-200)."""


def mixture_logpdf(x: np.ndarray) -> np.ndarray:
    """log p(x) of the two-component Gaussian mixture MIXTURE."""
    return logsumexp([np.log(w) + stats.norm.logpdf(x, m, s) for w, m, s in MIXTURE], axis=0)


def kl_quadrature(logp, logq, breakpoints) -> float:
    """KL(p || q) = int p(x) (log p(x) - log q(x)) dx by adaptive quadrature on [-BOUND, BOUND]."""
    value, _ = integrate.quad(lambda x: np.exp(logp(x)) * (logp(x) - logq(x)), -BOUND, BOUND,
                              points=breakpoints, limit=400, epsabs=1e-13, epsrel=1e-11)
    return float(value)


def kl_discrete(p: np.ndarray, q: np.ndarray) -> float:
    """sum_x p(x) log(p(x) / q(x)); terms with p(x) = 0 are 0, and p(x) > 0 = q(x) gives inf
    (the per-state KL of ``refimpl.exact.tabular`` for a single state)."""
    return float(kl_per_state(np.asarray(p)[None], np.asarray(q)[None])[0])


def asymmetry_values() -> dict:
    """Panel (a): KL(p || q) and KL(q || p) for each map q."""
    out = {}
    for name, (m, s) in MAPS.items():
        logq = lambda x, m=m, s=s: stats.norm.logpdf(x, m, s)  # noqa: E731
        points = [c[1] for c in MIXTURE] + [m]
        out[name] = {"mean": m, "std": s, "kl_pq": kl_quadrature(mixture_logpdf, logq, points),
                     "kl_qp": kl_quadrature(logq, mixture_logpdf, points)}
    return out


def gauss_pair_values() -> dict:
    """Panels (c, d): parameter distance, KL by quadrature and by distributions.kl."""
    out = {}
    for name, ((mp, sp), (mq, sq)) in GAUSS_PAIRS.items():
        logp = lambda x, m=mp, s=sp: stats.norm.logpdf(x, m, s)  # noqa: E731
        logq = lambda x, m=mq, s=sq: stats.norm.logpdf(x, m, s)  # noqa: E731
        closed = dist.kl(np.array([[mp]]), np.log(sp), np.array([[mq]]), np.log(sq))[0]
        out[name] = {"p": (mp, sp), "q": (mq, sq), "param_distance": float(np.hypot(mq - mp, sq - sp)),
                     "kl_pq_quadrature": kl_quadrature(logp, logq, [mp, mq]), "kl_pq_closed_form": closed}
    return out


def _panel_asymmetry(ax, values: dict) -> None:
    x = np.linspace(-6, 6, 601)
    ax.fill_between(x, np.exp(mixture_logpdf(x)), color="0.8", label="p: map A (accurate)")
    for (name, v), color in zip(values.items(), ("tab:blue", "tab:red")):
        ax.plot(x, stats.norm.pdf(x, v["mean"], v["std"]), color=color,
                label=f"{name}\nKL(p||q) = {v['kl_pq']:.2f}, KL(q||p) = {v['kl_qp']:.2f}")
    ax.set(title="(a) KL is not symmetric: KL(p||q) != KL(q||p)", xlabel="x", ylabel="density",
           ylim=(0, 0.85))
    ax.title.set_fontsize(9.5)
    ax.legend(fontsize=7.5, loc="upper left")


def _panel_zero(ax) -> dict:
    p, q = np.array(P_DISCRETE), np.array(Q_DISCRETE)
    x = np.arange(1, len(p) + 1)
    kl_pq, kl_qp = kl_discrete(p, q), kl_discrete(q, p)
    ax.bar(x - 0.2, p, 0.4, color="0.6", label="p (map A)")
    ax.bar(x + 0.2, q, 0.4, color="tab:red", label="q (map B), q(5) = q(6) = 0")
    ax.annotate("q(x) = 0 < p(x):\np log(p/0) = inf", xy=(5.2, 0.01), xytext=(4.1, 0.27), fontsize=8,
                arrowprops=dict(arrowstyle="->"))
    ax.set(title=f"(b) q(x) = 0 where p(x) > 0: KL(p||q) = {kl_pq}, KL(q||p) = {kl_qp:.3f}",
           xlabel="outcome x", ylabel="probability", ylim=(0, 0.42))
    ax.title.set_fontsize(9.5)
    ax.legend(fontsize=8, loc="upper left")
    return {"p": p, "q": q, "kl_pq": kl_pq, "kl_qp": kl_qp}


def _panel_pair(ax, name: str, v: dict, letter: str) -> None:
    (mp, sp), (mq, sq) = v["p"], v["q"]
    x = np.linspace(min(mp, mq) - 4 * max(sp, sq), max(mp, mq) + 4 * max(sp, sq), 601)
    ax.plot(x, stats.norm.pdf(x, mp, sp), color="0.3", label=f"N({mp:g}, {sp:g}$^2$)")
    ax.plot(x, stats.norm.pdf(x, mq, sq), color="tab:red", ls="--", label=f"N({mq:g}, {sq:g}$^2$)")
    ax.set(title=f"({letter}) {name} pair: parameter distance {v['param_distance']:.1f}, "
                 f"KL = {v['kl_pq_quadrature']:.3g}", xlabel="x", ylabel="density")
    ax.title.set_fontsize(9.5)
    ax.legend(fontsize=8, loc="upper right")


def make(out_dir: Path) -> list[Path]:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.6))
    asym, pairs = asymmetry_values(), gauss_pair_values()
    _panel_asymmetry(axes[0, 0], asym)
    zero = _panel_zero(axes[0, 1])
    for ax, (name, v), letter in zip(axes[1], pairs.items(), "cd"):
        _panel_pair(ax, name, v, letter)
    fig.suptitle("Kullback-Leibler divergence KL(p||q) = E_p[log p(x) - log q(x)]", fontsize=12)
    fig.tight_layout()
    data = {"mixture_p": MIXTURE, "asymmetry": asym, "zero_probability": zero, "gauss_pairs": pairs,
            "note": "KL by scipy.integrate.quad on [-40, 40] (continuous) or the finite sum; "
                    "gauss_pairs also by refimpl.core.distributions.kl; 'inf' means infinite"}
    return [save_png(fig, out_dir / "KLdivergence-example.png"),
            save_json(out_dir / "KLdivergence-example.json", data)]
