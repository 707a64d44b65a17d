"""Hyperparameters: one frozen dataclass, each field with its meaning, symbol, typical value and
source. ``Config.for_algo(name, **overrides)`` starts from the algorithm's documented defaults.

Sources: PPO = Schulman et al. 2017, Table 3 (MuJoCo); TRPO = Schulman et al. 2015 and the
lecture's "TRPO: Final algorithm"; GAE = Schulman et al. 2016. Fields marked "implementation
detail" are not in the lecture; README.md lists them with their switches.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

ALGOS = ("ppo", "trpo", "npg", "vpg")


@dataclass(frozen=True)
class Config:
    algo: str = "ppo"
    """Algorithm: ppo | trpo | npg | vpg."""
    env: str = "HalfCheetah-v5"
    """Gymnasium id of an environment with a continuous (Box) action space."""
    steps: int = 1_000_000
    """Total environment steps (summed over parallel environments)."""
    seed: int = 0
    """Seed of every random stream (initial weights, action noise, minibatches, environments)."""
    num_envs: int = 1
    """Parallel environments in the gymnasium vector env; the horizon counts steps per env."""
    horizon: int = 2048
    """Steps per env collected before each update; batch size = horizon * num_envs (PPO: 2048)."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden widths of both the policy and the value MLP (PPO paper: 64, 64, tanh)."""
    activation: str = "tanh"
    """Hidden nonlinearity: tanh | relu."""
    log_std_init: float = 0.0
    """Initial log sigma of the state-independent Gaussian (0 means sigma = 1)."""
    gamma: float = 0.99
    """Discount factor gamma (PPO paper: 0.99)."""
    lam: float = 0.95
    """GAE parameter lambda: 0 gives TD errors, 1 Monte-Carlo advantages (PPO paper: 0.95)."""

    # ---- implementation details (not in the lecture), each switchable
    norm_obs: bool = True
    """Implementation detail: running mean/std observation normalisation, saved with the model."""
    obs_clip: float = 10.0
    """Implementation detail: normalised observations are clipped to [-obs_clip, obs_clip]."""
    norm_reward: bool = True
    """Implementation detail: divide rewards by a running std of the discounted return."""
    norm_adv: bool = True
    """Implementation detail: standardise advantages per minibatch (PPO) / per batch (others)."""
    clip_actions: bool = True
    """Implementation detail: clip sampled actions to the action bounds before env.step
    (the log-probability is that of the unclipped sample)."""

    # ---- critic (all algorithms): separate value MLP fitted by Adam on minibatches
    vf_lr: float = 3e-4
    """Adam step size of the critic (PPO paper: 3e-4, shared with the policy)."""
    vf_epochs: int = 10
    """Passes of the critic over each batch (PPO paper: 10 epochs)."""
    vf_minibatch: int = 64
    """Critic minibatch size (PPO paper: 64)."""
    vf_clip: float | None = None
    """PPO2-style value clipping range around the old prediction; None disables it."""
    max_grad_norm: float | None = 0.5
    """Gradient-norm clipping of each Adam step (common PPO practice: 0.5); None disables."""

    # ---- PPO (lecture, "PPO: Final algorithm")
    lr: float = 3e-4
    """Adam step size of the policy (PPO paper: 3e-4; VPG uses it too)."""
    anneal_lr: bool = True
    """Decay both Adam step sizes linearly to 0 over the run (PPO paper, MuJoCo: no; Atari: yes)."""
    epochs: int = 10
    """PPO: passes over each batch (PPO paper: 10)."""
    minibatch: int = 64
    """PPO: minibatch size (PPO paper: 64)."""
    clip_eps: float = 0.2
    """PPO: clipping parameter epsilon of L_CLIP (lecture: typically 0.1 or 0.2)."""
    ent_coef: float = 0.0
    """PPO: entropy bonus coefficient (PPO paper, MuJoCo: 0)."""
    target_kl: float | None = None
    """PPO: stop the epochs early once the approximate KL exceeds this; None disables."""

    # ---- NPG / TRPO (lecture, "TRPO: Final algorithm")
    delta: float = 0.01
    """TRPO/NPG: trust-region bound delta on the mean KL (TRPO paper: 0.01)."""
    cg_iters: int = 10
    """TRPO/NPG: conjugate-gradient iterations (lecture: 10 to 20)."""
    damping: float = 0.1
    """TRPO/NPG: Tikhonov damping lambda, CG solves (F + lambda I) x = g."""
    fvp_fraction: float = 1.0
    """TRPO/NPG: share of the batch's states, drawn at random each update, over which the Fisher
    matrix of the CG solve averages; 1 uses them all (the lecture's F). The TRPO paper computed
    Fisher-vector products on 10% of the data (Schulman et al. 2015, appendix C): F only sets
    the metric of the step, and the CG solve costs in proportion."""
    backtrack_alpha: float = 0.8
    """TRPO: backtracking factor alpha in gamma = alpha^j (lecture: alpha in (0, 1))."""
    backtrack_iters: int = 10
    """TRPO: candidate fractions tried before the step is rejected."""
    npg_step: str = "normalized"
    """NPG step rule: 'normalized' alpha = sqrt(2 delta / g^T F^-1 g), or 'fixed' alpha = npg_alpha."""
    npg_alpha: float = 0.05
    """NPG: fixed step size alpha of phi <- phi + alpha F^-1 g (only with npg_step='fixed')."""

    checkpoint_every: int = 50
    """Updates between periodic checkpoints (a final checkpoint is always written)."""
    preset: str = "paper"
    """Name of the preset (``PRESETS``) the configuration started from, for the record."""

    @classmethod
    def for_algo(cls, algo: str, preset: str = "paper", **overrides) -> "Config":
        """The documented defaults of ``algo``, then the named preset's changes (see
        ``PRESETS``), then ``overrides`` (unknown keys are errors)."""
        if algo not in ALGOS:
            raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**{**ALGO_DEFAULTS[algo], **PRESETS[preset].get(algo, {}), "algo": algo,
                      "preset": preset, **overrides})

    def __post_init__(self):
        if self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.num_envs <= 0 or self.horizon <= 0:
            raise ValueError("num_envs and horizon must be positive")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.lam <= 1.0:
            raise ValueError("gamma and lam must lie in [0, 1]")
        if not 0.0 < self.fvp_fraction <= 1.0:
            raise ValueError(f"fvp_fraction must lie in (0, 1], got {self.fvp_fraction}")
        if self.npg_step not in ("normalized", "fixed"):
            raise ValueError(f"npg_step must be 'normalized' or 'fixed', got {self.npg_step!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        return cls(**d)


ALGO_DEFAULTS: dict[str, dict] = {
    # PPO paper Table 3 (MuJoCo, 1M steps); lr anneal and grad clipping as in OpenAI baselines.
    "ppo": dict(horizon=2048),
    # TRPO paper delta = 0.01; lecture: truncated CG 10 iterations, backtracking alpha = 0.8.
    # Smaller batches than the paper's 50k-step batches give more updates within 1M steps.
    "trpo": dict(horizon=1024, vf_lr=1e-3, anneal_lr=False),
    "npg": dict(horizon=1024, vf_lr=1e-3, anneal_lr=False),
    # Spinning Up VPG: one policy-gradient Adam step per batch of 4000 steps.
    "vpg": dict(horizon=4000, vf_lr=1e-3, anneal_lr=False),
}


PRESETS: dict[str, dict[str, dict]] = {
    # The algorithms' own defaults above.
    "paper": {},
    # The settings of Tianshou's MuJoCo benchmark scripts (examples/mujoco/mujoco_{ppo,trpo,
    # npg}.py), where they differ from ours and we implement them: initial log sigma -0.5, the
    # batch collected from 8 (PPO) or 16 (TRPO, NPG) parallel environments, for TRPO/NPG a
    # critic fitted by 20 full-batch Adam steps (lr 1e-3), and NPG's fixed step alpha = 0.1. Not carried over: Tianshou's joint
    # actor-critic optimiser, advantage recomputation each epoch, and return normalisation
    # (we scale rewards instead).
    "tianshou": {
        "ppo": dict(log_std_init=-0.5, num_envs=8, horizon=256),
        "trpo": dict(log_std_init=-0.5, num_envs=16, horizon=64, vf_epochs=20,
                     vf_minibatch=1024),
        "npg": dict(log_std_init=-0.5, num_envs=16, horizon=64, vf_epochs=20,
                    vf_minibatch=1024, npg_step="fixed", npg_alpha=0.1),
    },
}
"""Named groups of overrides per algorithm (``refimpl train --preset NAME``)."""
