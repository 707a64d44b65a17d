"""Regenerates the lecture's ``PPO_clip.png`` (PPO paper, Schulman et al. 2017, Fig. 1; lecture
"Understanding the clipped surrogate objective (2)").

One term of L_CLIP as a function of the ratio kappa = pi_phi(a|s) / pi_old(a|s):

    L_CLIP term = min(kappa A, clip(kappa, 1 - eps, 1 + eps) A),   eps = 0.2,

for A > 0 (left) and A < 0 (right), evaluated by ``refimpl.core.objectives.clip_objective`` with one
sample per kappa (logp = log kappa, logp_old = 0); the unclipped kappa A dashed. For A > 0 the term is
flat beyond 1 + eps; for A < 0 it is flat below 1 - eps and unbounded below as kappa grows. (The
lecture's remark that kappa -> 0 "drops sharply without a cap" under A < 0 is backwards: for A < 0
small kappa is exactly the capped side; the uncapped side is kappa -> infinity.)
Output: PPO_clip.png and PPO_clip.csv (columns kappa, L_clip for A = +1, L_clip for A = -1).
Verified in ``tests/figures/test_figures.py::test_ppo_clip_data_is_min_of_unclipped_and_clipped``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.engine.plots import plt, save_csv, save_png
from refimpl.core.objectives import clip_objective

CLIP_EPS = 0.2
"""epsilon of the PPO paper's Fig. 1."""
KAPPA = np.linspace(0.0, 2.0, 201)
"""Ratios drawn (kappa = 0 is log-probability -inf, which ``ratio`` maps to exactly 0)."""


def clip_term(kappa: np.ndarray, adv: float) -> np.ndarray:
    """min(kappa A, clip(kappa, 1-eps, 1+eps) A) per kappa, one clip_objective call per sample."""
    with np.errstate(divide="ignore"):
        logp = np.log(kappa)
    return np.array([clip_objective(np.array([lp]), np.zeros(1), np.array([adv]), CLIP_EPS)[0]
                     for lp in logp])


def make(out_dir: Path) -> list[Path]:
    values = {adv: clip_term(KAPPA, adv) for adv in (1.0, -1.0)}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, adv in zip(axes, values):
        sign = ">" if adv > 0 else "<"
        ax.plot(KAPPA, KAPPA * adv, "--", color="0.55", label=r"unclipped $\kappa A$")
        ax.plot(KAPPA, values[adv], color="tab:blue", lw=2.2, label=r"$L^{CLIP}$ term")
        for edge in (1 - CLIP_EPS, 1 + CLIP_EPS):
            ax.axvline(edge, color="0.8", lw=0.8, zorder=0)
        ax.plot(1.0, adv, "o", color="tab:red", label=r"$\kappa = 1$ ($\phi = \phi_{old}$)")
        ax.set(xlabel=r"ratio $\kappa = \pi_\phi(a|s)\, /\, \pi_{old}(a|s)$", ylabel="objective term",
               title=f"A {sign} 0 (A = {adv:+g}), $\\epsilon$ = {CLIP_EPS}",
               xticks=[0, 1 - CLIP_EPS, 1, 1 + CLIP_EPS, 2])
        ax.legend(fontsize=8, loc="upper left" if adv > 0 else "lower left")
    fig.tight_layout()
    return [save_png(fig, out_dir / "PPO_clip.png"),
            save_csv(out_dir / "PPO_clip.csv",
                     {"kappa": KAPPA, "L_clip_A_plus1": values[1.0], "L_clip_A_minus1": values[-1.0]})]
