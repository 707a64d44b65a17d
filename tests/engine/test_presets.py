"""The presets reproduce their sources' settings: every field a preset sets is read here against
the value its source gives, written out beside the source's file and key, so that a preset
cannot hold a value (or a field) that this table does not name.

Sources, read at the commits named:
* Engstrom et al. 2020, MadryLab/implementation-matters (commit 5ee6ecb): src/MuJoCo.json, the
  base of every run, and configs/{hopper,walker,humanoid}_{ppo,ppom,trpo,trpo_plus}.py, which
  override it per task; a few values are not keys but the code's (src/policy_gradients/*.py).
* rl-baselines3-zoo (commit 22e3ff2): hyperparams/ppo.yml, the tuned HalfCheetah-v3 entry
  (named HalfCheetah-v4 since the zoo's commit 8cecab4, with the same values), over
  Stable-Baselines3's defaults (commit e05d2db) and rl_zoo3/exp_manager.py.
"""
import pytest

from refimpl.engine.config import Config
from refimpl.engine.presets import PRESET_TASKS, PRESETS, preset_settings

ALL = ("Hopper-v5", "Walker2d-v5", "Humanoid-v5")
H, W, U = ("Hopper-v5",), ("Walker2d-v5",), ("Humanoid-v5",)
ENGSTROM = ("engstrom-ppo", "engstrom-ppo-m", "engstrom-trpo", "engstrom-trpo-plus")
ALGO = {"engstrom-ppo": "ppo", "engstrom-ppo-m": "ppo", "engstrom-trpo": "trpo",
        "engstrom-trpo-plus": "trpo", "zoo": "ppo"}

# (presets, tasks, field, value, source file: key = the source's value)
TABLE = [
    # ---- src/MuJoCo.json, shared by Engstrom et al.'s four configurations
    (ENGSTROM, ALL, "num_envs", 1, "src/MuJoCo.json: num_actors = 1"),
    (ENGSTROM, ALL, "horizon", 2048, "src/MuJoCo.json: t = 2048"),
    (ENGSTROM, ALL, "minibatch", 64, "src/MuJoCo.json: num_minibatches = 32, of t = 2048"),
    (ENGSTROM, ALL, "vf_minibatch", 64, "src/MuJoCo.json: num_minibatches = 32 (value_step)"),
    (ENGSTROM, ALL, "epochs", 10, "src/MuJoCo.json: ppo_epochs = 10"),
    (ENGSTROM, ALL, "vf_epochs", 10, "src/MuJoCo.json: val_epochs = 10"),
    (ENGSTROM, ALL, "gamma", 0.99, "src/MuJoCo.json: gamma = 0.99"),
    (ENGSTROM, ALL, "clip_eps", 0.2, "src/MuJoCo.json: clip_eps = 0.2"),
    (ENGSTROM, ALL, "ent_coef", 0.0, "src/MuJoCo.json: entropy_coeff = 0.0"),
    (ENGSTROM, ALL, "norm_obs", True, "src/MuJoCo.json: norm_states = true"),
    (ENGSTROM, ALL, "adam_eps", 1e-5, "src/MuJoCo.json: adam_eps = 1e-5 (policy); "
                                      "agent.py: optim.Adam(val_model, eps=1e-5)"),
    (ENGSTROM, ALL, "max_grad_norm", None, "src/MuJoCo.json: clip_grad_norm = -1; "
                                           "steps.py: value_step and trpo_step never clip"),
    (ENGSTROM, ALL, "fvp_fraction", 0.1, "src/MuJoCo.json: fisher_frac_samples = 0.1"),
    (ENGSTROM, ALL, "cg_iters", 10, "src/MuJoCo.json: cg_steps = 10"),
    (ENGSTROM, ALL, "damping", 0.1, "src/MuJoCo.json: damping = 0.1"),
    (ENGSTROM, ALL, "backtrack_iters", 10, "src/MuJoCo.json: max_backtrack = 10"),
    (ENGSTROM, ALL, "backtrack_alpha", 0.5,
     "src/policy_gradients/torch_utils.py: backtracking_line_search, scaling = 2**(-i)"),
    (ENGSTROM, ALL, "hidden", (64, 64), "src/policy_gradients/models.py: HIDDEN_SIZES = (64, 64)"),
    (ENGSTROM, ALL, "critic_hidden", None,
     "src/policy_gradients/models.py: ValueDenseNet hidden_sizes=(64, 64), the policy's"),
    (ENGSTROM, ALL, "activation", "tanh", "src/policy_gradients/models.py: ACTIVATION = nn.Tanh"),
    (ENGSTROM, ALL, "log_std_init", 0.0,
     "src/policy_gradients/models.py: CtsPolicy log_stdev = ch.zeros(action_dim)"),
    (ENGSTROM, ALL, "norm_adv", True,
     "src/policy_gradients/steps.py: surrogate_reward calls adv_normalize"),
    (ENGSTROM, ALL, "clip_actions", False,
     "src/policy_gradients/agent.py: multi_actor_step hands the sampled action to env.step"),
    (ENGSTROM, ALL, "target_kl", None, "src/policy_gradients/steps.py: ppo_step has no KL stop"),
    (ENGSTROM, ALL, "grad_clip_scope", "each",
     "src/MuJoCo.json: share_weights = false (no joint loss; value_multiplier unused)"),
    (ENGSTROM, H + W, "lam", 0.95, "src/MuJoCo.json: lambda = 0.95"),
    (("engstrom-ppo", "engstrom-ppo-m", "engstrom-trpo"), U, "lam", 0.95,
     "src/MuJoCo.json: lambda = 0.95"),
    (("engstrom-trpo-plus",), U, "lam", 0.85, "configs/humanoid_trpo_plus.py: lambda = 0.85"),
    # ---- PPO: configs/{hopper,walker,humanoid}_ppo.py
    (("engstrom-ppo",), ALL, "norm_reward", True, "configs/*_ppo.py: norm_rewards = 'returns'"),
    (("engstrom-ppo",), ALL, "reward_clip", 10.0, "src/MuJoCo.json: clip_rewards = 10.0"),
    (("engstrom-ppo",), ALL, "obs_clip", 10.0, "src/MuJoCo.json: clip_observations = 10.0"),
    (("engstrom-ppo",), ALL, "init", "orthogonal",
     "configs/*_ppo.py: initialization = 'orthogonal'"),
    (("engstrom-ppo",), ALL, "anneal_lr", True, "configs/*_ppo.py: anneal_lr = True"),
    (("engstrom-ppo",), H, "lr", 3e-4, "configs/hopper_ppo.py: ppo_lr_adam = 3e-4"),
    (("engstrom-ppo",), W, "lr", 4e-4, "configs/walker_ppo.py: ppo_lr_adam = 4e-4"),
    (("engstrom-ppo",), U, "lr", 1.5e-4, "configs/humanoid_ppo.py: ppo_lr_adam = 1.5e-4"),
    (("engstrom-ppo",), H, "vf_lr", 2.5e-4, "configs/hopper_ppo.py: val_lr = 2.5e-4"),
    (("engstrom-ppo",), W, "vf_lr", 3e-4, "configs/walker_ppo.py: val_lr = 3e-4"),
    (("engstrom-ppo",), U, "vf_lr", 1e-4, "configs/humanoid_ppo.py: val_lr = 1e-4"),
    (("engstrom-ppo",), H, "vf_clip", None, "configs/hopper_ppo.py: value_clipping = False"),
    (("engstrom-ppo",), W, "vf_clip", 0.2, "configs/walker_ppo.py: value_clipping = True, "
                                           "src/MuJoCo.json: clip_val_eps = 0.2"),
    (("engstrom-ppo",), U, "vf_clip", 0.2, "configs/humanoid_ppo.py: value_clipping = True, "
                                           "src/MuJoCo.json: clip_val_eps = 0.2"),
    # ---- PPO-M: configs/*_ppom.py
    (("engstrom-ppo-m",), ALL, "norm_reward", False, "configs/*_ppom.py: norm_rewards = 'none'"),
    (("engstrom-ppo-m",), ALL, "reward_clip", None, "configs/*_ppom.py: clip_rewards = -1"),
    (("engstrom-ppo-m",), ALL, "obs_clip", None, "configs/*_ppom.py: clip_observations = -1"),
    (("engstrom-ppo-m",), ALL, "init", "xavier", "configs/*_ppom.py: initialization = 'xavier'"),
    (("engstrom-ppo-m",), ALL, "anneal_lr", False, "configs/*_ppom.py: anneal_lr = False"),
    (("engstrom-ppo-m",), ALL, "vf_clip", None, "configs/*_ppom.py: value_clipping = False"),
    (("engstrom-ppo-m",), H, "lr", 1.7e-4, "configs/hopper_ppom.py: ppo_lr_adam = 1.7e-4"),
    (("engstrom-ppo-m",), W, "lr", 1e-4, "configs/walker_ppom.py: ppo_lr_adam = 1e-4"),
    (("engstrom-ppo-m",), U, "lr", 9e-5, "configs/humanoid_ppom.py: ppo_lr_adam = 9e-5"),
    (("engstrom-ppo-m",), H, "vf_lr", 4e-4, "configs/hopper_ppom.py: val_lr = 4e-4"),
    (("engstrom-ppo-m",), W, "vf_lr", 2e-4, "configs/walker_ppom.py: val_lr = 2e-4"),
    (("engstrom-ppo-m",), U, "vf_lr", 4e-4, "configs/humanoid_ppom.py: val_lr = 4e-4"),
    # ---- TRPO: configs/*_trpo.py
    (("engstrom-trpo",), ALL, "norm_reward", False, "configs/*_trpo.py: norm_rewards = 'none'"),
    (("engstrom-trpo",), ALL, "reward_clip", None, "configs/*_trpo.py: clip_rewards = -1"),
    (("engstrom-trpo",), ALL, "obs_clip", None, "configs/*_trpo.py: clip_observations = -1"),
    (("engstrom-trpo",), ALL, "init", "xavier", "configs/*_trpo.py: initialization = 'xavier'"),
    (("engstrom-trpo",), ALL, "anneal_lr", False, "configs/*_trpo.py: anneal_lr = False"),
    (("engstrom-trpo",), ALL, "vf_clip", None, "configs/*_trpo.py: value_clipping = False"),
    (("engstrom-trpo",), H, "delta", 0.13, "configs/hopper_trpo.py: max_kl = 0.13"),
    (("engstrom-trpo",), W, "delta", 0.04, "configs/walker_trpo.py: max_kl = 0.04"),
    (("engstrom-trpo",), U, "delta", 0.07, "configs/humanoid_trpo.py: max_kl = 0.07"),
    (("engstrom-trpo",), ALL, "delta_final", None,
     "configs/*_trpo.py: max_kl_final = max_kl (a constant bound)"),
    (("engstrom-trpo",), H, "vf_lr", 2e-4, "configs/hopper_trpo.py: val_lr = 2e-4"),
    (("engstrom-trpo",), W, "vf_lr", 3e-4, "configs/walker_trpo.py: val_lr = 3e-4"),
    (("engstrom-trpo",), U, "vf_lr", 3e-4, "configs/humanoid_trpo.py: val_lr = 3e-4"),
    # ---- TRPO+: configs/*_trpo_plus.py
    (("engstrom-trpo-plus",), ALL, "norm_reward", True,
     "configs/*_trpo_plus.py: norm_rewards = 'returns'"),
    (("engstrom-trpo-plus",), ALL, "reward_clip", 10.0, "src/MuJoCo.json: clip_rewards = 10.0"),
    (("engstrom-trpo-plus",), ALL, "obs_clip", 10.0,
     "src/MuJoCo.json: clip_observations = 10.0"),
    (("engstrom-trpo-plus",), ALL, "anneal_lr", False,
     "configs/*_trpo_plus.py: anneal_lr = False"),
    (("engstrom-trpo-plus",), H + W, "init", "orthogonal",
     "configs/{hopper,walker}_trpo_plus.py: initialization = 'orthogonal'"),
    (("engstrom-trpo-plus",), U, "init", "xavier",
     "configs/humanoid_trpo_plus.py: initialization = 'xavier'"),
    (("engstrom-trpo-plus",), H, "delta", 0.04, "configs/hopper_trpo_plus.py: max_kl = 0.04"),
    (("engstrom-trpo-plus",), H, "delta_final", 0.07,
     "configs/hopper_trpo_plus.py: max_kl_final = 0.07"),
    (("engstrom-trpo-plus",), W, "delta", 0.07, "configs/walker_trpo_plus.py: max_kl = 0.07"),
    (("engstrom-trpo-plus",), W, "delta_final", 0.04,
     "configs/walker_trpo_plus.py: max_kl_final = 0.04"),
    (("engstrom-trpo-plus",), U, "delta", 0.1, "configs/humanoid_trpo_plus.py: max_kl = 0.1"),
    (("engstrom-trpo-plus",), U, "delta_final", 0.05,
     "configs/humanoid_trpo_plus.py: max_kl_final = 0.05"),
    (("engstrom-trpo-plus",), H, "vf_lr", 2e-4, "configs/hopper_trpo_plus.py: val_lr = 2e-4"),
    (("engstrom-trpo-plus",), W, "vf_lr", 1e-4, "configs/walker_trpo_plus.py: val_lr = 1e-4"),
    (("engstrom-trpo-plus",), U, "vf_lr", 5e-5, "configs/humanoid_trpo_plus.py: val_lr = 5e-5"),
    (("engstrom-trpo-plus",), H + W, "vf_clip", None,
     "configs/{hopper,walker}_trpo_plus.py: value_clipping = False"),
    (("engstrom-trpo-plus",), U, "vf_clip", 0.2,
     "configs/humanoid_trpo_plus.py: value_clipping = True, src/MuJoCo.json: clip_val_eps = 0.2"),
    # ---- zoo: hyperparams/ppo.yml, HalfCheetah-v3 (now -v4), over SB3's defaults
    (("zoo",), ("HalfCheetah-v5",), "num_envs", 1, "hyperparams/ppo.yml: n_envs = 1"),
    (("zoo",), ("HalfCheetah-v5",), "horizon", 512, "hyperparams/ppo.yml: n_steps = 512"),
    (("zoo",), ("HalfCheetah-v5",), "minibatch", 64, "hyperparams/ppo.yml: batch_size = 64"),
    (("zoo",), ("HalfCheetah-v5",), "vf_minibatch", 64,
     "hyperparams/ppo.yml: batch_size = 64 (SB3 trains the critic on the same minibatches)"),
    (("zoo",), ("HalfCheetah-v5",), "epochs", 20, "hyperparams/ppo.yml: n_epochs = 20"),
    (("zoo",), ("HalfCheetah-v5",), "vf_epochs", 20, "hyperparams/ppo.yml: n_epochs = 20"),
    (("zoo",), ("HalfCheetah-v5",), "gamma", 0.98, "hyperparams/ppo.yml: gamma = 0.98"),
    (("zoo",), ("HalfCheetah-v5",), "lam", 0.92, "hyperparams/ppo.yml: gae_lambda = 0.92"),
    (("zoo",), ("HalfCheetah-v5",), "lr", 2.0633e-05,
     "hyperparams/ppo.yml: learning_rate = 2.0633e-05"),
    (("zoo",), ("HalfCheetah-v5",), "vf_lr", 2.0633e-05,
     "hyperparams/ppo.yml: learning_rate = 2.0633e-05 (SB3: one optimiser for both)"),
    (("zoo",), ("HalfCheetah-v5",), "anneal_lr", False,
     "hyperparams/ppo.yml: learning_rate a constant, not lin_"),
    (("zoo",), ("HalfCheetah-v5",), "ent_coef", 0.000401762,
     "hyperparams/ppo.yml: ent_coef = 0.000401762"),
    (("zoo",), ("HalfCheetah-v5",), "clip_eps", 0.1, "hyperparams/ppo.yml: clip_range = 0.1"),
    (("zoo",), ("HalfCheetah-v5",), "anneal_clip", False,
     "hyperparams/ppo.yml: clip_range a constant, not lin_"),
    (("zoo",), ("HalfCheetah-v5",), "max_grad_norm", 0.8,
     "hyperparams/ppo.yml: max_grad_norm = 0.8"),
    (("zoo",), ("HalfCheetah-v5",), "grad_clip_scope", "joint",
     "SB3 ppo.py: clip_grad_norm_(self.policy.parameters(), ...) over actor and critic"),
    (("zoo",), ("HalfCheetah-v5",), "vf_coef", 1.16192,
     "hyperparams/ppo.yml: vf_coef = 0.58096 on SB3's F.mse_loss, = 2 x 0.58096 on 1/2 mse"),
    (("zoo",), ("HalfCheetah-v5",), "log_std_init", -2.0,
     "hyperparams/ppo.yml: policy_kwargs log_std_init=-2"),
    (("zoo",), ("HalfCheetah-v5",), "init", "torch",
     "hyperparams/ppo.yml: policy_kwargs ortho_init=False (nn.Linear's default stays)"),
    (("zoo",), ("HalfCheetah-v5",), "activation", "relu",
     "hyperparams/ppo.yml: policy_kwargs activation_fn=nn.ReLU"),
    (("zoo",), ("HalfCheetah-v5",), "hidden", (256, 256),
     "hyperparams/ppo.yml: policy_kwargs net_arch pi=[256, 256]"),
    (("zoo",), ("HalfCheetah-v5",), "critic_hidden", None,
     "hyperparams/ppo.yml: policy_kwargs net_arch vf=[256, 256], the same as pi"),
    (("zoo",), ("HalfCheetah-v5",), "norm_obs", True,
     "hyperparams/ppo.yml: normalize = true (VecNormalize norm_obs=True)"),
    (("zoo",), ("HalfCheetah-v5",), "norm_reward", True,
     "hyperparams/ppo.yml: normalize = true (VecNormalize norm_reward=True, the zoo's gamma)"),
    (("zoo",), ("HalfCheetah-v5",), "obs_clip", 10.0, "SB3 VecNormalize: clip_obs = 10.0"),
    (("zoo",), ("HalfCheetah-v5",), "reward_clip", 10.0, "SB3 VecNormalize: clip_reward = 10.0"),
    (("zoo",), ("HalfCheetah-v5",), "adam_eps", 1e-5,
     "SB3 policies.py: optimizer_kwargs['eps'] = 1e-5 for Adam"),
    (("zoo",), ("HalfCheetah-v5",), "norm_adv", True, "SB3 PPO: normalize_advantage = True"),
    (("zoo",), ("HalfCheetah-v5",), "vf_clip", None, "SB3 PPO: clip_range_vf = None"),
    (("zoo",), ("HalfCheetah-v5",), "target_kl", None, "SB3 PPO: target_kl = None"),
    (("zoo",), ("HalfCheetah-v5",), "clip_actions", True,
     "SB3 on_policy_algorithm.py: actions clipped to the Box bounds before env.step"),
]

CELLS = [(p, t) for p in (*ENGSTROM, "zoo") for t in PRESET_TASKS[p]]


def _table(preset, task):
    """field -> (value, source) of the rows for ``preset`` on ``task``; a field named twice is a
    mistake of the table."""
    rows = {}
    for presets, tasks, name, value, source in TABLE:
        if preset in presets and task in tasks:
            assert name not in rows, f"{name} twice for {preset} on {task}"
            rows[name] = (value, source)
    return rows


@pytest.mark.parametrize("preset, task", CELLS)
def test_preset_fields_are_the_sources_values(preset, task):
    """Config.for_algo(algo, preset, env=task) holds each value of the table, and every field
    the preset sets is in the table (nothing the sources do not say)."""
    cfg = Config.for_algo(ALGO[preset], preset, env=task)
    rows = _table(preset, task)
    for name, (value, source) in rows.items():
        assert getattr(cfg, name) == value, f"{preset} on {task}: {name} ({source})"
    unlisted = set(preset_settings(preset, ALGO[preset], task)) - set(rows)
    assert not unlisted, f"{preset} sets {sorted(unlisted)}, which the table does not source"


def test_every_preset_and_task_is_in_the_table():
    """The table covers Engstrom et al.'s three tasks (their configs' Hopper-v2, Walker2d-v2 and
    Humanoid-v2, as the gymnasium v5 tasks) and the zoo's HalfCheetah, and no other preset
    depends on the task."""
    assert {p: tuple(t) for p, t in PRESET_TASKS.items()} == {
        **{p: ALL for p in ENGSTROM}, "zoo": ("HalfCheetah-v5",)}
    assert set(PRESETS) == {"default", "tianshou", *ENGSTROM, "zoo"}


@pytest.mark.parametrize("preset, algo, env, match", [
    ("engstrom-ppo", "trpo", "Hopper-v5", "holds settings for ppo, not trpo"),
    ("engstrom-trpo-plus", "npg", "Hopper-v5", "holds settings for trpo, not npg"),
    ("engstrom-trpo", "trpo", "HalfCheetah-v5", "not HalfCheetah-v5"),
    ("zoo", "ppo", "Walker2d-v5", "holds settings for HalfCheetah-v5, not Walker2d-v5"),
    ("tianshou", "vpg", "HalfCheetah-v5", "holds settings for ppo, trpo, npg, not vpg"),
])
def test_a_preset_refuses_an_algorithm_or_task_it_has_no_settings_for(preset, algo, env, match):
    with pytest.raises(ValueError, match=match):
        Config.for_algo(algo, preset, env=env)


def test_flags_override_a_task_preset():
    """The preset's values lie beneath the flags, as those of every preset."""
    cfg = Config.for_algo("trpo", "engstrom-trpo-plus", env="Walker2d-v5", delta_final=0.05,
                          seed=2)
    assert (cfg.delta, cfg.delta_final, cfg.seed, cfg.vf_lr) == (0.07, 0.05, 2, 1e-4)
