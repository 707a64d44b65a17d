"""Regenerates the lecture's ``PPO_interpolation.png`` (PPO paper, Schulman et al. 2017, Fig. 2;
lecture "Understanding the clipped surrogate objective (1)").

One PPO iteration on Hopper-v5 with ``Config.for_algo("ppo", env="Hopper-v5", seed=0)`` (horizon
2048, 10 epochs of minibatches of 64, Adam 3e-4, eps = 0.2, gamma = 0.99, lam = 0.95): collect a
batch with pi_old, estimate advantages, run ``refimpl.algos.ppo.update`` once (phi_old -> phi_new).
Then, on the SAME batch, along the straight line in parameter space

    phi(alpha) = phi_old + alpha (phi_new - phi_old),   alpha in [0, 2],

evaluate::

          E[KL] = mean_s KL(pi_old(.|s) || pi_alpha(.|s))  (``policy.kl_of``),
          L^CPI = mean(kappa A)                             (``objectives.surrogate``),
          mean(clip(kappa, 1 - eps, 1 + eps) A)             (the clipped term alone),
          L^CLIP = mean(min(kappa A, clip(kappa) A))        (``objectives.clip_objective``).

A are the batch's GAE advantages standardised over the whole batch (the update standardises per
minibatch of 64; one batch-wide standardisation is the single-batch analogue). At alpha = 0 the
ratio is 1, so KL = 0 and L^CLIP = L^CPI = mean A = 0; alpha = 1 is the policy PPO returned.

Note: the lecture's caption describes a policy mixture pi_alpha = alpha pi + (1 - alpha) pi_old; the
paper, and this figure, interpolate the parameters. Not in --quick: it runs Hopper rollouts and a
full PPO update (a few seconds). Output: PPO_interpolation.png and PPO_interpolation.csv.
Verified in ``tests/figures/test_figures.py::test_ppo_interpolation_*``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from refimpl.algos import loop, ppo
from refimpl.engine.config import Config
from refimpl.engine.plots import plt, save_csv, save_json, save_png
from refimpl.core.objectives import clip_objective, ratio, surrogate
from refimpl.core.returns import standardize
from refimpl.core.seeding import RunSeeds
from refimpl.envs.rollout import Collector

ENV = "Hopper-v5"
SEED = 0
ALPHA = np.linspace(0.0, 2.0, 81)
"""Interpolation factors; alpha = 1 (index 40) is the updated policy."""


def one_ppo_update(cfg: Config):
    """The first iteration of the lecture's loop (``algos.loop.train``), keeping its batch:
    returns (agent, data, phi_old, phi_new, metrics of ppo.update)."""
    collector = Collector(cfg.env, cfg.num_envs, cfg.seed, cfg.gamma, cfg.norm_obs, cfg.obs_clip,
                          cfg.norm_reward, cfg.clip_actions, reward_clip=cfg.reward_clip)
    try:
        seeds = RunSeeds(cfg.seed)
        agent = loop.make_agent(cfg.agent_spec(), collector, cfg.seed)
        batch = collector.collect(agent.policy, agent.phi, cfg.horizon, seeds.generator("actions"))
        data = loop.advantages(agent, batch, cfg.gamma, cfg.lam)
        phi_old = agent.phi.copy()
        metrics = ppo.update(agent, data, cfg.algorithm_params(), seeds.generator("update"))
    finally:
        collector.close()
    return agent, data, phi_old, agent.phi.copy(), metrics


def interpolation_curves(policy, data, phi_old, phi_new, clip_eps: float) -> dict[str, np.ndarray]:
    """E[KL], L^CPI, clipped term and L^CLIP at phi_old + alpha (phi_new - phi_old) for ALPHA."""
    adv = standardize(data.adv)
    rows = []
    for alpha in ALPHA:
        params, _ = policy.dist_params(phi_old + alpha * (phi_new - phi_old), data.obs)
        logp = policy.log_prob_of(params, data.actions)
        kappa = ratio(logp, data.logp_old)
        rows.append((np.mean(policy.kl_of(data.params_old, params)),
                     surrogate(logp, data.logp_old, adv)[0],
                     np.mean(np.clip(kappa, 1 - clip_eps, 1 + clip_eps) * adv),
                     clip_objective(logp, data.logp_old, adv, clip_eps)[0]))
    kl, cpi, clipped, lclip = np.array(rows).T
    return {"alpha": ALPHA, "mean_kl": kl, "L_cpi": cpi, "clipped_term": clipped, "L_clip": lclip}


def make(out_dir: Path) -> list[Path]:
    cfg = Config.for_algo("ppo", env=ENV, seed=SEED)
    agent, data, phi_old, phi_new, metrics = one_ppo_update(cfg)
    curves = interpolation_curves(agent.policy, data, phi_old, phi_new, cfg.clip_eps)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot(ALPHA, curves["mean_kl"], label=r"$\hat E_t[KL_t]$")
    ax.plot(ALPHA, curves["L_cpi"], label=r"$L^{CPI} = \hat E_t[\kappa_t A_t]$")
    ax.plot(ALPHA, curves["clipped_term"],
            label=r"$\hat E_t[\mathrm{clip}(\kappa_t, 1-\epsilon, 1+\epsilon) A_t]$")
    ax.plot(ALPHA, curves["L_clip"], lw=2.2, label=r"$L^{CLIP} = \hat E_t[\min(\kappa_t A_t, \mathrm{clip}(\kappa_t) A_t)]$")
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.text(1.02, 0.02, "updated policy", transform=ax.get_xaxis_transform(), fontsize=8)
    ax.set(xlabel=r"linear interpolation factor $\alpha$ ($\phi_{old} + \alpha(\phi_{new} - \phi_{old})$)",
           ylabel="value on the batch",
           title=f"One PPO update on {ENV} (seed {SEED}, {len(data)} samples, $\\epsilon$ = {cfg.clip_eps})")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    info = {"env": ENV, "seed": SEED, "clip_eps": cfg.clip_eps, "samples": len(data),
            "update_metrics": metrics, "alpha1_index": int(np.argmin(np.abs(ALPHA - 1.0)))}
    return [save_png(fig, out_dir / "PPO_interpolation.png"),
            save_csv(out_dir / "PPO_interpolation.csv", curves),
            save_json(out_dir / "PPO_interpolation.json", info)]
