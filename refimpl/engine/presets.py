"""The named settings a run starts from, beneath its flags (``Config.for_algo``): each
algorithm's defaults (``ALGO_DEFAULTS``), the overrides per environment (``ENV_DEFAULTS``), and
the presets (``PRESETS``, ``--preset``) with the settings that depend on the task
(``PRESET_TASKS``). Every value says its source: a paper, a library's configuration, or a
study's code (Engstrom et al.'s, whose differences from refimpl are ``ENGSTROM_DIFFERENCES``).

Tested in tests/engine/test_presets.py (each preset's fields against a table of its source's
values) and tests/engine/test_train.py (the per-environment defaults).
"""
from __future__ import annotations

ALGO_DEFAULTS: dict[str, dict] = {
    # PPO paper Table 3 (MuJoCo, 1M steps); annealed lr, gradient clipping 0.5 and VecNormalize-
    # style normalisation of observations and rewards as in baselines ppo2's mujoco() config.
    "ppo": dict(horizon=2048),
    # TRPO paper delta = 0.01; batch 1024, damping 0.1 and critic lr 1e-3 as in baselines
    # trpo_mpi's mujoco(); lecture: truncated CG 10 iterations, backtracking alpha = 0.8.
    "trpo": dict(horizon=1024, vf_lr=1e-3, anneal_lr=False),
    "npg": dict(horizon=1024, vf_lr=1e-3, anneal_lr=False),
    # Spinning Up VPG: one policy-gradient Adam step per batch of 4000 steps.
    "vpg": dict(horizon=4000, vf_lr=1e-3, anneal_lr=False),
}


ENV_DEFAULTS: dict[str, dict[str, dict]] = {
    # Discrete classic-control tasks, where the MuJoCo defaults above are wrong (a horizon of
    # 2048 steps per update for episodes of at most 500, reward and observation normalisation
    # for CartPole's O(1) observations and +1 rewards). Values of rl-baselines3-zoo's tuned
    # hyperparameters (hyperparams/ppo.yml and trpo.yml, CartPole-v1 and Acrobot-v1; zoo commit
    # 22e3ff2), with Stable-Baselines3's PPO/TRPO defaults where the zoo gives none, mapped to
    # our fields: n_envs -> num_envs, n_steps -> horizon, batch_size -> minibatch (PPO) and
    # vf_minibatch, n_epochs -> epochs, gae_lambda -> lam, cg_damping -> damping, SB3's
    # cg_max_steps 15 -> cg_iters, n_critic_updates -> vf_epochs, ``normalize`` (VecNormalize
    # of observations and rewards, our default) or its absence (norm_obs, norm_reward off).
    # Two SB3 defaults differ from ours and are set here: Adam's epsilon is 1e-5 in SB3's
    # policies (adam_eps), and sb3-contrib's TRPO fits its critic without gradient clipping
    # (max_grad_norm none; SB3's PPO clips at 0.5, our default).
    # SB3's PPO trains actor and critic with one optimiser on one loss (grad_clip_scope joint
    # would express it; left off here, as anneal_clip for the zoo's linearly annealed PPO
    # clip range on CartPole, so that the committed CartPole-v1 and Acrobot-v1 results stay
    # reproducible); our separate critic takes the same step size, epochs and minibatch, and
    # epsilon = 0.2 stays constant. NPG takes TRPO's settings (it is TRPO without the line
    # search; the zoo has no NPG); VPG keeps its own defaults, except CartPole's normalisation.
    "CartPole-v1": {
        "ppo": dict(num_envs=8, horizon=32, minibatch=256, epochs=20, gamma=0.98, lam=0.8,
                    lr=1e-3, vf_lr=1e-3, vf_epochs=20, vf_minibatch=256, norm_obs=False,
                    norm_reward=False, adam_eps=1e-5),
        "trpo": dict(num_envs=2, horizon=512, vf_minibatch=512, vf_epochs=20, lam=0.98,
                     damping=1e-3, cg_iters=15, norm_obs=False, norm_reward=False,
                     adam_eps=1e-5, max_grad_norm=None),
        "vpg": dict(norm_obs=False, norm_reward=False),
    },
    "Acrobot-v1": {
        "ppo": dict(num_envs=16, horizon=256, epochs=4, lam=0.94, anneal_lr=False, vf_epochs=4,
                    adam_eps=1e-5),
        "trpo": dict(num_envs=2, horizon=1024, vf_minibatch=128, cg_iters=15, adam_eps=1e-5,
                     max_grad_norm=None),
    },
}
for _family in ENV_DEFAULTS.values():
    _family["npg"] = _family["trpo"]
"""Per-environment overrides of ``ALGO_DEFAULTS``, applied beneath the preset and the flags."""


ENGSTROM: dict = dict(
    num_envs=1,                      # num_actors 1
    horizon=2048,                    # t
    minibatch=64, vf_minibatch=64,   # num_minibatches 32 of t = 2048 (policy and value steps)
    epochs=10, vf_epochs=10,         # ppo_epochs, val_epochs
    gamma=0.99, lam=0.95,            # gamma, lambda
    hidden=(64, 64), critic_hidden=None, activation="tanh",  # models.py HIDDEN_SIZES, ACTIVATION
    log_std_init=0.0,                # models.py CtsPolicy: log_stdev = zeros
    norm_obs=True,                   # norm_states
    norm_adv=True,                   # steps.py surrogate_reward standardises (per minibatch)
    clip_actions=False,              # agent.py hands the sampled action to env.step
    clip_eps=0.2, ent_coef=0.0,      # clip_eps, entropy_coeff
    adam_eps=1e-5,                   # adam_eps (policy); the value optimiser's eps=1e-5 (agent.py)
    max_grad_norm=None,              # clip_grad_norm -1; value_step never clips
    target_kl=None, grad_clip_scope="each",  # no KL stop; share_weights false: no joint loss
    fvp_fraction=0.1,                # fisher_frac_samples
    cg_iters=10, damping=0.1,        # cg_steps, damping
    backtrack_iters=10,              # max_backtrack
    backtrack_alpha=0.5,             # torch_utils.backtracking_line_search: step * 2^-i
)
"""Engstrom et al.'s src/MuJoCo.json (and the code it drives) as refimpl's fields, shared by
their four configurations; each comment names the key or the code."""

ENGSTROM_DIFFERENCES = (
    "each batch starts new episodes (run_trajectories resets the environment), and its last "
    "step bootstraps from V of its own state; refimpl continues episodes across batches and "
    "bootstraps a truncated episode from V of its true final observation",
    "a time-limit end is a terminal state (gym's done); refimpl bootstraps truncations",
    "the critic's loss leaves out the steps that end an episode and has no 1/2 (Adam makes the "
    "factor irrelevant up to its epsilon); refimpl's L_V = 1/2 mean over every step",
    "the critic is fitted before the policy step; refimpl fits it after (the advantages are "
    "computed before both, so only the order of random draws differs)",
    "TRPO's line search accepts a step whose improvement exceeds 0.1 of the expected g^T step "
    "and whose KL is at most max_kl; refimpl accepts any positive improvement within delta",
    "TRPO's CG runs all cg_steps iterations; refimpl's stops once the residual is 1e-10 of g",
    "running statistics divide by std + 1e-8 with the unbiased (n - 1) variance; refimpl by "
    "sqrt(var + 1e-8) with a prior pseudo-count of 1e-4",
    "488 iterations of 2048 steps (train_steps); refimpl runs ceil(steps / 2048), so 489 for "
    "1M steps, over which anneal_lr and delta_final spread their schedules",
    "PyTorch in float32; refimpl in float64",
)
"""What Engstrom et al.'s code does that no refimpl field expresses, and what refimpl does
instead (the presets ``engstrom-*`` keep refimpl's behaviour there)."""


PRESETS: dict[str, dict[str, dict]] = {
    # The algorithms' own defaults above: neither one paper's settings nor one library's, but
    # each field's documented source (PPO: the PPO paper's Table 3 with baselines ppo2's
    # annealed learning rate, gradient clipping and observation/reward normalisation).
    "default": {},
    # The settings of Tianshou's MuJoCo benchmark scripts (examples/mujoco/mujoco_{ppo,trpo,
    # npg}.py), where they differ from ours and we implement them: initial log sigma -0.5, the
    # batch collected from 8 (PPO) or 16 (TRPO, NPG) parallel environments, for TRPO/NPG a
    # critic fitted by 20 full-batch Adam steps (lr 1e-3), and NPG's fixed step alpha = 0.1.
    # Not carried over: Tianshou's joint actor-critic optimiser, advantage recomputation each
    # epoch, and return normalisation (we scale rewards instead).
    "tianshou": {
        "ppo": dict(log_std_init=-0.5, num_envs=8, horizon=256),
        "trpo": dict(log_std_init=-0.5, num_envs=16, horizon=64, vf_epochs=20,
                     vf_minibatch=1024),
        "npg": dict(log_std_init=-0.5, num_envs=16, horizon=64, vf_epochs=20,
                    vf_minibatch=1024, npg_step="fixed", npg_alpha=0.1),
    },
    # Engstrom et al. 2020, "Implementation matters in deep policy gradients: a case study on
    # PPO and TRPO": the settings of MadryLab/implementation-matters' configs/{hopper,walker,
    # humanoid}_{ppo,ppom,trpo,trpo_plus}.py over its src/MuJoCo.json (ENGSTROM, and the per-
    # task values in PRESET_TASKS). What refimpl does differently is ENGSTROM_DIFFERENCES.
    "engstrom-ppo": {"ppo": dict(**ENGSTROM, norm_reward=True, reward_clip=10.0, obs_clip=10.0,
                                 init="orthogonal", anneal_lr=True)},
    "engstrom-ppo-m": {"ppo": dict(**ENGSTROM, norm_reward=False, reward_clip=None,
                                   obs_clip=None, init="xavier", anneal_lr=False, vf_clip=None)},
    "engstrom-trpo": {"trpo": dict(**ENGSTROM, norm_reward=False, reward_clip=None,
                                   obs_clip=None, init="xavier", anneal_lr=False, vf_clip=None,
                                   delta_final=None)},
    "engstrom-trpo-plus": {"trpo": dict(**ENGSTROM, norm_reward=True, reward_clip=10.0,
                                        obs_clip=10.0, anneal_lr=False)},
    # rl-baselines3-zoo's tuned PPO for HalfCheetah (hyperparams/ppo.yml, HalfCheetah-v3 entry,
    # the setting of the zoo's benchmark 5,819; HalfCheetah-v4 at zoo commit 22e3ff2, the same
    # values) over Stable-Baselines3's defaults (SB3 at e05d2db): ``normalize: true`` is
    # VecNormalize's norm_obs, norm_reward, clip_obs=10, clip_reward=10 and (the zoo passes it)
    # gamma; n_envs 1, n_steps 512, batch_size 64 (the critic too: SB3 trains both on one loss),
    # n_epochs 20, gamma 0.98, gae_lambda 0.92, one constant learning_rate 2.0633e-05 for both,
    # ent_coef 0.000401762, clip_range 0.1, max_grad_norm 0.8 over the joint gradient, vf_coef
    # 0.58096 on SB3's F.mse_loss, which has no 1/2, so 2 x 0.58096 on refimpl's
    # L_V = 1/2 mean (V - ret)^2; policy_kwargs log_std_init=-2, ortho_init=False (PyTorch's
    # nn.Linear default init, heads included), activation_fn=nn.ReLU, net_arch pi=[256, 256],
    # vf=[256, 256]; SB3's Adam epsilon 1e-5, normalize_advantage per minibatch, no value
    # clipping, no target KL, actions clipped to the bounds. Not carried over: SB3 computes in
    # float32, and the zoo's number is of HalfCheetah-v3.
    "zoo": {"ppo": dict(num_envs=1, horizon=512, minibatch=64, vf_minibatch=64, epochs=20,
                        vf_epochs=20, gamma=0.98, lam=0.92, lr=2.0633e-05, vf_lr=2.0633e-05,
                        anneal_lr=False, ent_coef=0.000401762, clip_eps=0.1, anneal_clip=False,
                        max_grad_norm=0.8, grad_clip_scope="joint", vf_coef=2 * 0.58096,
                        log_std_init=-2.0, init="torch", activation="relu", hidden=(256, 256),
                        critic_hidden=None, norm_obs=True, obs_clip=10.0, norm_reward=True,
                        reward_clip=10.0, adam_eps=1e-5, norm_adv=True, vf_clip=None,
                        target_kl=None, clip_actions=True)},
}
"""Named groups of overrides per algorithm (``refimpl train --preset NAME``); a preset other
than ``default`` is for the algorithms it names (``preset_settings``)."""

PRESET_TASKS: dict[str, dict[str, dict[str, dict]]] = {
    # configs/{hopper,walker,humanoid}_ppo.py: ppo_lr_adam, val_lr, value_clipping
    "engstrom-ppo": {
        "Hopper-v5": {"ppo": dict(lr=3e-4, vf_lr=2.5e-4, vf_clip=None)},
        "Walker2d-v5": {"ppo": dict(lr=4e-4, vf_lr=3e-4, vf_clip=0.2)},
        "Humanoid-v5": {"ppo": dict(lr=1.5e-4, vf_lr=1e-4, vf_clip=0.2)},
    },
    # configs/*_ppom.py: ppo_lr_adam, val_lr
    "engstrom-ppo-m": {
        "Hopper-v5": {"ppo": dict(lr=1.7e-4, vf_lr=4e-4)},
        "Walker2d-v5": {"ppo": dict(lr=1e-4, vf_lr=2e-4)},
        "Humanoid-v5": {"ppo": dict(lr=9e-5, vf_lr=4e-4)},
    },
    # configs/*_trpo.py: max_kl (max_kl_final the same), val_lr
    "engstrom-trpo": {
        "Hopper-v5": {"trpo": dict(delta=0.13, vf_lr=2e-4)},
        "Walker2d-v5": {"trpo": dict(delta=0.04, vf_lr=3e-4)},
        "Humanoid-v5": {"trpo": dict(delta=0.07, vf_lr=3e-4)},
    },
    # configs/*_trpo_plus.py: initialization, max_kl -> max_kl_final, val_lr, value_clipping,
    # lambda (Humanoid); their clip_grad_norm (1.0, Humanoid 0.5) is read by no code on TRPO's
    # path (steps.py clips only in ppo_step), so max_grad_norm stays none
    "engstrom-trpo-plus": {
        "Hopper-v5": {"trpo": dict(init="orthogonal", delta=0.04, delta_final=0.07, vf_lr=2e-4,
                                   vf_clip=None)},
        "Walker2d-v5": {"trpo": dict(init="orthogonal", delta=0.07, delta_final=0.04,
                                     vf_lr=1e-4, vf_clip=None)},
        "Humanoid-v5": {"trpo": dict(init="xavier", delta=0.1, delta_final=0.05, vf_lr=5e-5,
                                     vf_clip=0.2, lam=0.85)},
    },
    "zoo": {"HalfCheetah-v5": {}},
}
"""The presets whose settings depend on the task: preset -> task -> algorithm -> overrides,
applied over the preset's ``PRESETS`` entry. Such a preset runs on the tasks named here only
(Engstrom et al.'s Hopper-v2, Walker2d-v2 and Humanoid-v2 as the gymnasium v5 tasks; the zoo's
HalfCheetah-v3 as HalfCheetah-v5)."""


def preset_settings(preset: str, algo: str, env: str) -> dict:
    """The overrides preset ``preset`` gives ``algo`` on ``env``: its ``PRESETS`` entry, then its
    ``PRESET_TASKS`` entry for ``env``. A one-line ValueError for an algorithm or a task that
    the preset has no settings for."""
    settings = PRESETS[preset]
    if settings and algo not in settings:
        raise ValueError(f"preset {preset!r} holds settings for {', '.join(settings)}, not "
                         f"{algo}")
    tasks = PRESET_TASKS.get(preset)
    if tasks is None:
        return settings.get(algo, {})
    if env not in tasks:
        raise ValueError(f"preset {preset!r} holds settings for {', '.join(tasks)}, not {env}")
    return {**settings[algo], **tasks[env].get(algo, {})}

PRESET_ALIASES = {"paper": "default"}
"""Former preset names, still read (config.json files of earlier runs say ``"paper"``)."""


def preset_name(text: str) -> str:
    """argparse type of ``--preset``: a former name (``PRESET_ALIASES``, such as ``paper``,
    which config.json files of earlier runs carry) reads as the preset it became."""
    return PRESET_ALIASES.get(text, text)
