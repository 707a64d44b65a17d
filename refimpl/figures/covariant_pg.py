"""Regenerates the lecture's ``Covariant-PG-vanilla.png`` and ``Covariant-PG-natural.png`` (slide
"Constraining the ascent direction", after Peters & Schaal 2008, "Natural Actor-Critic", Fig. 1).

The linear-quadratic example of ``refimpl/exact/lq.py``, preset "peters"::

    s_{t+1} = s_t + a_t,  r_t = -1/2 (s_t^2 + 0.1 a_t^2),  a_t ~ N(k s_t, sigma^2),  gamma = 0.9,
    s_0 ~ N(0.3, 1e-4),  episodes of H = 200 steps.

Contours: J(k, sigma) / G_H(gamma) with G_H(gamma) = sum_{t<H} gamma^t = (1 - gamma^H) / (1 - gamma),
i.e. (1 - gamma) J / (1 - gamma^H), which is Peters & Schaal's (1 - gamma) J up to the factor
1 / (1 - 0.9^200) = 1 + 7e-10. Arrows on a 6 x 6 grid, every arrow the same length (directions
only): the vanilla gradient g = grad J (left file) and the natural gradient F^-1 g (right file),
both in closed form (``lq.return_gradient``, ``lq.natural_gradient``, F over the normalised
discounted state distribution). The axes have equal scales, so drawn angles are true angles.
The optimum (k*, 0) is the discounted Riccati gain, k* = -0.908 for this preset.

Sampled arrows (orange): refimpl's own Monte-Carlo policy gradient at a few grid points. A linear
Gaussian policy (``GaussianPolicy.build(1, 1, hidden=())``, phi = [w, b, log_std] with w = k, b = 0,
log_std = log sigma) runs in the gymnasium environment through ``rollout.Collector`` (no
observation or reward normalisation, no action clipping); a zero critic with lam = 1 makes
``estimate_advantages`` return the discounted reward-to-go G_t = sum_l gamma^l r_{t+l}. Then

    grad J = E[ sum_t gamma^t grad log pi(a_t|s_t) G_t ]  ~  policy.score(phi, s, a, gamma^t G_t / n_episodes).

The factor gamma^t is applied explicitly: the lecture's estimator (and every deep-RL code) weights
the advantages without it, which estimates the gradient of the undiscounted-state objective, not
the gradient of J. The chain rule converts (dJ/dw, dJ/dlog_std) to (dJ/dk, dJ/dsigma) =
(dJ/dw, dJ/dlog_std / sigma). The natural panel applies the closed-form F^-1 to the sampled g.
The JSON records both directions, the standard errors over episodes and the angle between them.

Note on the lecture's slide "Ill-conditioned gradients": its "optimum phi* = (-1, 0)" is exact only
as the action cost vanishes. With the lecture's r = -s^2 - a^2 the optimal gain is k* = -0.588
(gamma = 0.9) up to -0.618 (gamma -> 1, the golden ratio); for this preset k* = -0.908.
Verified in ``tests/figures/test_figures.py::test_covariant_pg_*``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.envs import ENV_IDS
from refimpl.exact import lq
from refimpl.engine.plots import plt, save_json, save_png
from refimpl.core.nn import MLP
from refimpl.core.policy import GaussianPolicy
from refimpl.envs.rollout import Collector, estimate_advantages

PRESET = "peters"
ENV_ID = next(env_id for env_id, name in ENV_IDS.items() if name == PRESET)
K_RANGE = (-1.7, -0.1)
SIGMA_RANGE = (0.02, 1.0)
"""sigma = 0 is excluded: the Fisher matrix (and the score) blow up there."""
CONTOUR_K = np.linspace(*K_RANGE, 81)
CONTOUR_SIGMA = np.linspace(*SIGMA_RANGE, 50)
ARROW_K = np.linspace(-1.5, -0.3, 6)
ARROW_SIGMA = np.linspace(0.15, 0.9, 6)
CONTOUR_LEVELS = (-1.5, -1.2, -0.9, -0.6, -0.45, -0.3, -0.2, -0.12, -0.06, -0.02)
"""Levels of (1 - gamma) J drawn (its maximum on the plotted grid, at sigma = 0.02, is -0.005)."""
ARROW_LENGTH = 0.11
"""Length of every drawn arrow, in (k, sigma) units."""
SAMPLE_POINTS = ((-1.5, 0.75), (-1.26, 0.45), (-0.54, 0.6), (-0.3, 0.45))
"""(k, sigma) grid points with a Monte-Carlo estimate; sigma >= 0.45 because the relative noise
of the sigma-component grows like 1 / sigma^2."""
NUM_ENVS = 100
EPISODES_PER_ENV = 6
"""600 episodes per point: relative standard error of g about 10 %, a few degrees of angle."""
SEED = 0


def unit(v: np.ndarray) -> np.ndarray:
    """v / norm(v) along the last axis."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def angle_deg(u: np.ndarray, v: np.ndarray) -> float:
    """Angle between two vectors, in degrees."""
    return float(np.degrees(np.arccos(np.clip(unit(u) @ unit(v), -1.0, 1.0))))


def time_in_episode(ends: np.ndarray) -> np.ndarray:
    """t counted from each episode's first step; rows start a fresh episode. (T, E) -> (T, E)."""
    t = np.zeros(ends.shape, dtype=np.int64)
    for i in range(1, len(ends)):
        t[i] = np.where(ends[i - 1], 0, t[i - 1] + 1)
    return t


def sampled_gradient(k: float, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo grad J in (k, sigma) coordinates from refimpl's rollout and score code.

    g_hat = mean over episodes of sum_t gamma^t G_t grad log pi(a_t|s_t) (module docstring).
    Returns (g_hat, standard error), each shape (2,): (dJ/dk, dJ/dsigma) of the unnormalised J.
    """
    p = lq.get_preset(PRESET)
    policy, critic = GaussianPolicy.build(1, 1, hidden=()), MLP((1, 1))
    phi = np.array([k, 0.0, np.log(sigma)])  # [w, b, log_std]: mean = k s
    collector = Collector(ENV_ID, NUM_ENVS, seed, p.gamma, norm_obs=False, obs_clip=np.inf,
                          norm_reward=False, clip_actions=False)
    batch = collector.collect(policy, phi, EPISODES_PER_ENV * p.horizon, np.random.default_rng(seed))
    collector.close()
    assert batch.ends[-1].all(), "the rollout must end on an episode boundary"
    G, _, _ = estimate_advantages(critic, np.zeros(critic.n_params), batch, p.gamma, lam=1.0)
    weight = p.gamma ** time_in_episode(batch.ends) * G
    per_episode = []
    for e in range(NUM_ENVS):
        for start in range(0, len(G), p.horizon):
            rows = slice(start, start + p.horizon)
            dw, _, dlog_std = policy.score(phi, batch.obs[rows, e], batch.actions[rows, e],
                                           weight[rows, e])
            per_episode.append([dw, dlog_std / sigma])  # chain rule: d log_std = d sigma / sigma
    per_episode = np.array(per_episode)
    return per_episode.mean(axis=0), per_episode.std(axis=0, ddof=1) / np.sqrt(len(per_episode))


def closed_form_fields() -> dict:
    """J / G_H on the contour grid and unit vanilla / natural directions on the arrow grid."""
    J = lq.expected_return(PRESET, CONTOUR_K[None, :], CONTOUR_SIGMA[:, None], normalized=True)
    kk, ss = np.meshgrid(ARROW_K, ARROW_SIGMA)
    g = np.stack(lq.return_gradient(PRESET, kk, ss, normalized=True), axis=-1)
    nat = np.array([[lq.natural_gradient(PRESET, k, s, normalized=True) for k in ARROW_K]
                    for s in ARROW_SIGMA])
    return {"J_normalized": J, "vanilla_dir": unit(g), "natural_dir": unit(nat)}


def sampled_estimates() -> list[dict]:
    """Closed-form and sampled directions at SAMPLE_POINTS, with their angles."""
    rows = []
    for i, (k, sigma) in enumerate(SAMPLE_POINTS):
        g_hat, se = sampled_gradient(k, sigma, SEED + 1000 * i)
        g = np.array(lq.return_gradient(PRESET, k, sigma))
        F = lq.fisher(PRESET, k, sigma)
        nat_hat, nat = np.linalg.solve(F, g_hat), np.linalg.solve(F, g)
        rows.append({"k": k, "sigma": sigma, "g_closed_form": g, "g_sampled": g_hat,
                     "g_sampled_stderr": se, "angle_vanilla_deg": angle_deg(g_hat, g),
                     "natural_closed_form": nat, "natural_sampled": nat_hat,
                     "angle_natural_deg": angle_deg(nat_hat, nat),
                     "episodes": NUM_ENVS * EPISODES_PER_ENV})
    return rows


def _panel(fields: dict, samples: list[dict], kind: str, k_star: float):
    fig, ax = plt.subplots(figsize=(7.2, 4.9))
    cs = ax.contour(CONTOUR_K, CONTOUR_SIGMA, fields["J_normalized"], levels=CONTOUR_LEVELS,
                    colors="tab:green", linewidths=0.9, linestyles="solid")
    ax.clabel(cs, fontsize=7, fmt="%g")
    kk, ss = np.meshgrid(ARROW_K, ARROW_SIGMA)
    d = fields[f"{kind}_dir"] * ARROW_LENGTH
    quiver = dict(angles="xy", scale_units="xy", scale=1.0, width=0.005)
    ax.quiver(kk, ss, d[..., 0], d[..., 1], color="k", label="closed form (unit length)", **quiver)
    key = "g" if kind == "vanilla" else "natural"
    for i, row in enumerate(samples):
        ds = unit(np.asarray(row[f"{key}_sampled"])) * ARROW_LENGTH
        ax.quiver(row["k"], row["sigma"], ds[0], ds[1], color="tab:orange", alpha=0.9,
                  label="Monte-Carlo estimate (refimpl rollouts)" if i == 0 else None, **quiver)
    ax.plot(k_star, 0.0, "r*", ms=14, clip_on=False, zorder=5,
            label=f"optimum $(k^*, 0)$, $k^*$ = {k_star:.3f}")
    name = r"vanilla gradient $\nabla J$" if kind == "vanilla" \
        else r"natural gradient $F^{-1}\nabla J$"
    ax.set(xlim=K_RANGE, ylim=(0.0, SIGMA_RANGE[1] + 0.05), aspect="equal",
           xlabel=r"controller gain $k$", ylabel=r"exploration $\sigma$",
           title=f"{name}, contours of $(1-\\gamma)J(k,\\sigma)$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def make(out_dir: Path) -> list[Path]:
    fields, samples = closed_form_fields(), sampled_estimates()
    k_star = lq.optimal_gain(PRESET)[0]
    written = [save_png(_panel(fields, samples, kind, k_star), out_dir / f"Covariant-PG-{kind}.png")
               for kind in ("vanilla", "natural")]
    data = {"preset": PRESET, "k_star": k_star, "contour_k": CONTOUR_K,
            "contour_sigma": CONTOUR_SIGMA, "arrow_k": ARROW_K, "arrow_sigma": ARROW_SIGMA,
            **fields, "samples": samples,
            "note": "J_normalized[i][j] = J(contour_k[j], contour_sigma[i]) / sum_{t<H} gamma^t; "
                    "*_dir[i][j] = unit direction at (arrow_k[j], arrow_sigma[i]) in (k, sigma); "
                    "sampled g = mean over episodes of sum_t gamma^t G_t grad log pi, unnormalised J"}
    return written + [save_json(out_dir / "Covariant-PG.json", data)]
