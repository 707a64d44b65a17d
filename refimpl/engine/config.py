"""Hyperparameters: one frozen dataclass, each field with its meaning, symbol, typical value and
the source of its default. ``Config.for_algo(name, **overrides)`` starts from the algorithm's
documented defaults.

Sources: PPO paper = Schulman et al. 2017 (Table 3: MuJoCo hyperparameters); TRPO paper =
Schulman et al. 2015 and the lecture's "TRPO: Final algorithm"; GAE = Schulman et al. 2016;
baselines ppo2 / trpo_mpi = OpenAI baselines' ``mujoco()`` configurations (ppo2/defaults.py,
trpo_mpi/defaults.py), ppo2's ``learn`` defaults, and the ``VecNormalize`` wrapper that
baselines' run.py puts around every MuJoCo environment; Spinning Up = OpenAI Spinning Up's
``vpg``/``trpo`` defaults. Fields marked "implementation detail" are not in the lecture;
docs/implementation-details.md lists them with their switches and sources.

Every field is validated when a Config is made (``__post_init__``), so no entry point (command
line, sweep, a stored config.json) can start a run with a value the algorithms cannot use; the
ValueError is one line naming the command-line flag (tests/engine/test_bad_input.py holds an invalid
value for every field and fails for a field without one). Each field's documentation is its
``metadata["doc"]``, which ``refimpl train --help`` prints (tests/engine/test_cli.py).
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

from refimpl.algos import PARAMS
from refimpl.algos.agent import AgentSpec
from refimpl.core.critic import CriticFitParams
from refimpl.core.nn import ACTIVATIONS, INITS
from refimpl.engine.presets import (ALGO_DEFAULTS, ENV_DEFAULTS, PRESET_ALIASES, PRESETS,
                                    preset_settings)
from refimpl.envs.vector import MAX_ENVS, VECTORS

ALGOS = ("ppo", "trpo", "npg", "vpg")
NPG_STEPS = ("normalized", "fixed")
GRAD_CLIP_SCOPES = ("each", "joint")


PARAM_FIELDS = {"step": "npg_step", "alpha": "npg_alpha"}
"""Fields of an algorithm's hyperparameters whose Config field has another name."""


@dataclass(frozen=True)
class Rule:
    """The valid values of one field: ``ok(value)`` and the phrase that names them."""

    ok: Callable[[Any], bool]
    text: str


def at_least(lo) -> Rule:
    return Rule(lambda v: v >= lo, f">= {lo}")


def one_of(names) -> Rule:
    return Rule(lambda v: v in names, "one of " + ", ".join(names))


ANY = Rule(lambda v: True, "")
POSITIVE = Rule(lambda v: v > 0, "> 0")
NON_NEGATIVE = Rule(lambda v: v >= 0, ">= 0")
UNIT = Rule(lambda v: 0 <= v <= 1, "in [0, 1]")
OPEN_UNIT = Rule(lambda v: 0 < v < 1, "in (0, 1)")
HALF_OPEN_UNIT = Rule(lambda v: 0 < v <= 1, "in (0, 1]")


def field(default, doc: str, rule: Rule = ANY):
    """A Config field: its default, its documentation (the ``--help`` text) and its valid values."""
    return dataclasses.field(default=default, metadata={"doc": " ".join(doc.split()),
                                                        "rule": rule})


def flag(name: str) -> str:
    """The command-line flag of a Config field: ``vf_lr`` -> ``--vf-lr``."""
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class Config:
    """Every hyperparameter of a run, validated on construction (one-line ValueError naming
    the flag); ``to_dict``/``from_dict`` are config.json's format."""

    algo: str = field("ppo", "Algorithm: ppo | trpo | npg | vpg.", one_of(ALGOS))
    env: str = field("HalfCheetah-v5",
                     "Gymnasium id of an environment with a continuous (Box) action space (a "
                     "Gaussian policy) or a discrete one (Discrete: a categorical policy); "
                     "CartPole-v1 and Acrobot-v1 start from rl-baselines3-zoo's settings "
                     "(ENV_DEFAULTS).")
    steps: int = field(1_000_000, "Total environment steps (summed over parallel environments); "
                       "1M as in the PPO paper's MuJoCo runs.", at_least(1))
    seed: int = field(0, "Seed of every random stream (initial weights, action noise, "
                      "minibatches, environments).", at_least(0))
    num_envs: int = field(1, "Parallel environments; the horizon counts steps per env.",
                          Rule(lambda v: 1 <= v <= MAX_ENVS, f">= 1 and <= {MAX_ENVS} (each "
                               "environment is a simulator of its own, all made when the run "
                               f"starts: {MAX_ENVS} HalfCheetahs take ~10 s and ~1 GB)"))
    vector: str = field("direct", "How the environments are stepped: 'direct' (refimpl's loop "
                        "in this process), 'sync' (gymnasium's SyncVectorEnv) or 'async' "
                        "(gymnasium's AsyncVectorEnv, one process per environment, for several "
                        "cores). All three give the same numbers; a resumed run may change it.",
                        one_of(VECTORS))
    horizon: int = field(2048, "Steps per env collected before each update; batch size = "
                         "horizon * num_envs. PPO: 2048 (PPO paper, Table 3); TRPO, NPG: 1024 "
                         "(baselines trpo_mpi timesteps_per_batch); VPG: 4000 (Spinning Up "
                         "steps_per_epoch).", at_least(1))
    hidden: tuple[int, ...] = field((64, 64), "Hidden widths of the policy MLP, and of the value "
                                    "MLP unless critic_hidden (PPO paper: two layers of 64 tanh "
                                    "units).", at_least(1))
    critic_hidden: tuple[int, ...] | None = field(
        None, "Implementation detail: hidden widths of the value MLP; none (the default) takes "
        "hidden's, bit for bit. Andrychowicz et al. 2021 ('What matters in on-policy RL') find "
        "a wider critic helps; Stable-Baselines3's net_arch=dict(pi=..., vf=...), the zoo's "
        "tuned settings.", at_least(1))
    activation: str = field("tanh", "Hidden nonlinearity: tanh | relu (PPO paper: tanh).",
                            one_of(ACTIVATIONS))
    init: str = field("orthogonal", "Implementation detail: weight initialisation of both "
                      "networks. 'orthogonal' (the default; Saxe et al. 2014): orthogonal weights "
                      "of gain sqrt(2) in hidden layers, 0.01 in the policy head, 1 in the value "
                      "head, zero biases (OpenAI baselines, CleanRL, SB3's ortho_init=True, "
                      "Engstrom et al. 2020's 'orthogonal'). 'xavier' (Glorot & Bengio 2010): "
                      "weights U(+-sqrt(6 / (fan_in + fan_out))) in every layer, heads included, "
                      "zero biases (Engstrom et al.'s 'xavier', PyTorch's xavier_uniform_). "
                      "'torch': PyTorch's nn.Linear default (kaiming_uniform_ with a = sqrt(5)), "
                      "weights and biases U(+-1/sqrt(fan_in)) in every layer (SB3 with "
                      "ortho_init=False, as rl-baselines3-zoo's tuned HalfCheetah PPO).",
                      one_of(INITS))
    log_std_init: float = field(0.0, "Initial log sigma of the state-independent Gaussian "
                                "(0 means sigma = 1, as baselines' diagonal Gaussian starts).")
    gamma: float = field(0.99, "Discount factor gamma (PPO paper, Table 3: 0.99).", UNIT)
    lam: float = field(0.95, "GAE parameter lambda: 0 gives TD errors, 1 Monte-Carlo "
                       "advantages (PPO paper, Table 3: 0.95).", UNIT)

    # ---- implementation details (not in the lecture), each switchable
    norm_obs: bool = field(True, "Implementation detail: running mean/std observation "
                           "normalisation, saved with the model (baselines' VecNormalize; not in "
                           "the PPO paper).")
    obs_clip: float | None = field(10.0, "Implementation detail: normalised observations are "
                                   "clipped to [-obs_clip, obs_clip] (VecNormalize: 10); none "
                                   "does not clip them (Engstrom et al. 2020's PPO-M and TRPO: "
                                   "clip_observations -1).", POSITIVE)
    norm_reward: bool = field(True, "Implementation detail: divide rewards by a running std of "
                              "the discounted return (VecNormalize; not in the PPO paper).")
    reward_clip: float | None = field(None, "Implementation detail: clip the rewards that "
                                      "learning sees, after the scaling of norm_reward, to "
                                      "[-reward_clip, reward_clip]; none (the default) does not "
                                      "clip. VecNormalize's clip_reward, CleanRL's and Engstrom "
                                      "et al. 2020's clip_rewards: 10.", POSITIVE)
    norm_adv: bool = field(True, "Implementation detail: standardise advantages per minibatch "
                           "(PPO, as baselines ppo2) / per batch (others).")
    clip_actions: bool = field(True, "Implementation detail: clip sampled actions to the action "
                               "bounds before env.step (the log-probability is that of the "
                               "unclipped sample; CleanRL's ClipAction wrapper does the same).")

    # ---- critic (all algorithms): separate value MLP fitted by Adam on minibatches
    vf_lr: float = field(3e-4, "Adam step size of the critic. PPO: 3e-4, the PPO paper's single "
                         "step size (Table 3); TRPO, NPG, VPG: 1e-3 (baselines trpo_mpi "
                         "vf_stepsize, Spinning Up vf_lr).", POSITIVE)
    vf_epochs: int = field(10, "Passes of the critic over each batch (PPO paper, Table 3: 10 "
                           "epochs).", at_least(1))
    vf_minibatch: int = field(64, "Critic minibatch size (PPO paper, Table 3: 64); at most the "
                              "batch size.", at_least(1))
    vf_clip: float | None = field(None, "PPO2-style value clipping range around the old "
                                  "prediction; none (the default, as in the PPO paper) disables "
                                  "it; baselines ppo2 clips with 0.2.", POSITIVE)
    max_grad_norm: float | None = field(0.5, "Gradient-norm clipping of each Adam step, policy "
                                        "and critic (baselines ppo2: 0.5; not in the PPO "
                                        "paper); none disables.", POSITIVE)
    grad_clip_scope: str = field("each", "Implementation detail, PPO: 'each' (the default) "
                                 "clips the policy's gradient and, in the critic's fit after the "
                                 "policy step, the critic's, each to max_grad_norm. 'joint' "
                                 "trains both on one loss, -(L_CLIP + c_H H) + vf_coef L_V, one "
                                 "Adam step of policy and critic per minibatch, their gradient "
                                 "clipped as one vector (the global norm of baselines ppo2, SB3 "
                                 "and CleanRL, Engstrom et al. 2020's 'global gradient "
                                 "clipping'); the critic then takes the policy's epochs and "
                                 "minibatches, so vf_epochs and vf_minibatch must equal "
                                 "epochs and minibatch.", one_of(GRAD_CLIP_SCOPES))
    vf_coef: float = field(0.5, "PPO with grad_clip_scope joint: weight of the critic's loss "
                           "L_V = 1/2 mean (V - ret)^2 in the joint loss (baselines ppo2, CleanRL: "
                           "0.5 on this L_V; SB3's vf_coef multiplies mean (V - ret)^2, twice "
                           "L_V). With separate networks it only sets the critic's share of the "
                           "joint norm.", POSITIVE)
    adam_eps: float = field(1e-8, "Adam's epsilon, policy and critic: 1e-8, Kingma & Ba's and "
                            "PyTorch's default. Stable-Baselines3's policies and baselines ppo2 "
                            "use 1e-5, which the CartPole-v1 and Acrobot-v1 settings take "
                            "(ENV_DEFAULTS).", POSITIVE)

    # ---- PPO (lecture, "PPO: Final algorithm")
    lr: float = field(3e-4, "Adam step size of the policy (PPO paper, Table 3: 3e-4; VPG uses "
                      "it too, as Spinning Up's pi_lr).", POSITIVE)
    anneal_lr: bool = field(True, "Decay both Adam step sizes linearly to 0 over the run. PPO: "
                            "on, as baselines ppo2's mujoco() (lr = 3e-4 * f, f from 1 to 0); "
                            "the PPO paper keeps 3e-4 constant on MuJoCo and anneals only on "
                            "Atari. TRPO, NPG, VPG: off.")
    epochs: int = field(10, "PPO: passes over each batch (PPO paper, Table 3: 10).", at_least(1))
    minibatch: int = field(64, "PPO: minibatch size (PPO paper, Table 3: 64); at most the batch "
                           "size.", at_least(1))
    clip_eps: float = field(0.2, "PPO: clipping parameter epsilon of L_CLIP (lecture: typically "
                            "0.1 or 0.2; PPO paper, MuJoCo: 0.2), constant unless anneal_clip.",
                            POSITIVE)
    anneal_clip: bool = field(False, "Implementation detail, PPO: decay epsilon linearly over "
                              "the run as anneal_lr decays the step sizes, epsilon_k = clip_eps "
                              "(1 - k / K) at update k of K (the PPO paper's Atari setting, "
                              "0.1 alpha; rl-baselines3-zoo's lin_0.2 on CartPole). Off by "
                              "default, as in the PPO paper's MuJoCo runs.")
    ent_coef: float = field(0.0, "PPO: entropy bonus coefficient (PPO paper, MuJoCo: 0).")
    target_kl: float | None = field(None, "PPO: stop the epochs early once the approximate KL "
                                    "exceeds this; none (the default, as in the PPO paper) "
                                    "disables it.", POSITIVE)

    # ---- NPG / TRPO (lecture, "TRPO: Final algorithm")
    delta: float = field(0.01, "TRPO/NPG: trust-region bound delta on the mean KL (TRPO paper "
                         "and baselines trpo_mpi: 0.01).", POSITIVE)
    delta_final: float | None = field(None, "Implementation detail, TRPO/NPG: move the KL bound "
                                      "linearly from delta to this over the run, update k of "
                                      "K taking delta + (k + 1) / K (delta_final - delta), the "
                                      "last one delta_final (Engstrom et al. 2020's TRPO+: "
                                      "max_kl -> max_kl_final); none (the default) keeps delta.",
                                      POSITIVE)
    cg_iters: int = field(10, "TRPO/NPG: conjugate-gradient iterations (lecture: 10 to 20; "
                          "baselines trpo_mpi: 10).", at_least(1))
    damping: float = field(0.1, "TRPO/NPG: Tikhonov damping lambda, CG solves (F + lambda I) x "
                           "= g (baselines trpo_mpi mujoco() and Spinning Up: 0.1).", NON_NEGATIVE)
    fvp_fraction: float = field(1.0, "TRPO/NPG: share of the batch's states, drawn at random "
                                "each update, over which the Fisher matrix of the CG solve "
                                "averages; 1 uses them all (the lecture's F). The TRPO paper "
                                "computed Fisher-vector products on 10% of the data (Schulman "
                                "et al. 2015, appendix C): F only sets the metric of the step, "
                                "and the CG solve costs in proportion.", HALF_OPEN_UNIT)
    backtrack_alpha: float = field(0.8, "TRPO: backtracking factor alpha in gamma = alpha^j "
                                   "(lecture: alpha in (0, 1); Spinning Up: 0.8).", OPEN_UNIT)
    backtrack_iters: int = field(10, "TRPO: candidate fractions tried before the step is "
                                 "rejected (Spinning Up: 10).", at_least(1))
    npg_step: str = field("normalized", "NPG step rule: 'normalized' alpha = sqrt(2 delta / g^T "
                          "F^-1 g), or 'fixed' alpha = npg_alpha.", one_of(NPG_STEPS))
    npg_alpha: float = field(0.05, "NPG: fixed step size alpha of phi <- phi + alpha F^-1 g "
                             "(only with npg_step='fixed'; refimpl's choice, the tianshou preset "
                             "uses Tianshou's 0.1).", POSITIVE)

    eval_every: int = field(20_000, "Evaluate the policy deterministically (its mean action, "
                            "the observation normaliser frozen) every this many environment "
                            "steps, into eval.csv; 0 turns it off. Its time is not training "
                            "time: it is left out of wall_time and sps.", NON_NEGATIVE)
    eval_episodes: int = field(10, "Episodes per evaluation during training (their reset seeds "
                               "are the run's evaluation stream, the same every time).",
                               at_least(1))
    eval_process: bool = field(True, "Run the evaluations during training in a process of their "
                               "own, beside training, instead of between its updates; the "
                               "numbers are the same either way, and a resumed run may change "
                               "it.")
    critic_process: bool = field(True, "Fit the critic (the last step of every update) in a "
                                 "process of its own while the next batch is collected, "
                                 "instead of before it; the numbers are the same either way, "
                                 "and a resumed run may change it.")
    checkpoint_every: int = field(50, "Updates between periodic checkpoints update_NNNNNN.npz "
                                  "(latest.npz is written after every update, final.npz at the "
                                  "end).", at_least(1))
    preset: str = field("default", "Named settings applied over the algorithm's defaults "
                        "(PRESETS), recorded in config.json: 'default' changes nothing (each "
                        "field's default and its source are listed here), 'tianshou' takes "
                        "Tianshou's MuJoCo benchmark settings; 'engstrom-ppo', 'engstrom-ppo-m' "
                        "(PPO) and 'engstrom-trpo', 'engstrom-trpo-plus' (TRPO) those of "
                        "Engstrom et al. 2020 (MadryLab/implementation-matters configs over "
                        "src/MuJoCo.json) on Hopper-v5, Walker2d-v5 and Humanoid-v5, where "
                        "step sizes and KL bounds depend on the task; 'zoo' rl-baselines3-zoo's "
                        "tuned PPO for HalfCheetah (hyperparams/ppo.yml) on HalfCheetah-v5. A "
                        "preset holds settings for the algorithms and tasks it names. The "
                        "former name 'paper' reads as 'default'.",
                        one_of(tuple(PRESETS)))

    @classmethod
    def for_algo(cls, algo: str, preset: str = "default", **overrides) -> "Config":
        """The documented defaults of ``algo``, then those of the environment's family
        (``ENV_DEFAULTS``, for ``overrides["env"]``), then the named preset's changes (see
        ``PRESETS``), then ``overrides`` (unknown keys are errors)."""
        if algo not in ALGOS:
            raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGOS)}")
        preset = PRESET_ALIASES.get(preset, preset)
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        _check_names(overrides)
        env = overrides.get("env", cls.env)
        family = ENV_DEFAULTS.get(env, {}).get(algo, {})
        return cls(**{**ALGO_DEFAULTS[algo], **family, **preset_settings(preset, algo, env),
                      "algo": algo, "preset": preset, **overrides})

    def __post_init__(self):
        if isinstance(self.preset, str):
            object.__setattr__(self, "preset", PRESET_ALIASES.get(self.preset, self.preset))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        batch = self.horizon * self.num_envs
        for name in ("minibatch", "vf_minibatch") if self.algo == "ppo" else ("vf_minibatch",):
            if getattr(self, name) > batch:
                raise ValueError(f"{flag(name)} {getattr(self, name)} is larger than the batch, "
                                 f"horizon * num_envs = {batch}; lower it or collect more")
        if self.grad_clip_scope == "joint":
            if self.algo != "ppo":
                raise ValueError(f"--grad-clip-scope joint is PPO's joint actor-critic loss; "
                                 f"{self.algo} fits its critic after the policy step: use each")
            for critic, policy in (("vf_epochs", "epochs"), ("vf_minibatch", "minibatch")):
                if getattr(self, critic) != getattr(self, policy):
                    raise ValueError(
                        f"--grad-clip-scope joint trains the critic on the policy's minibatches: "
                        f"{flag(critic)} {getattr(self, critic)} must equal {flag(policy)} "
                        f"{getattr(self, policy)}")

    def short_run_note(self) -> str:
        """The one-line remark for a run whose ``steps`` is less than one batch: training
        collects whole batches, so it trains one (tests/engine/test_cli.py)."""
        batch = self.horizon * self.num_envs
        return (f"--steps {self.steps} is less than one batch (--horizon {self.horizon} x "
                f"--num-envs {self.num_envs} = {batch} steps); training one batch of {batch} "
                "steps")

    def algorithm_params(self):
        """The hyperparameters of ``self.algo`` (``refimpl.algos.PARAMS``), from the fields of
        the same name (NPG's ``step`` and ``alpha`` from ``npg_step`` and ``npg_alpha``)."""
        cls = PARAMS[self.algo]
        names = [f.name for f in dataclasses.fields(cls) if f.name != "critic"]
        return cls(**{n: getattr(self, PARAM_FIELDS.get(n, n)) for n in names},
                   critic=CriticFitParams(lr=self.vf_lr, epochs=self.vf_epochs,
                                          minibatch=self.vf_minibatch, clip=self.vf_clip,
                                          max_grad_norm=self.max_grad_norm))

    def schedule(self) -> dict:
        """The schedule switches of ``algos.loop.scheduled`` that apply to ``self.algo``:
        ``anneal_lr``, ``anneal_clip`` (PPO only) and ``delta_final`` (TRPO and NPG only)."""
        return {"anneal_lr": self.anneal_lr,
                "anneal_clip": self.anneal_clip and self.algo == "ppo",
                "delta_final": self.delta_final if self.algo in ("trpo", "npg") else None}

    def agent_spec(self) -> AgentSpec:
        """The networks and optimisers this configuration asks for."""
        return AgentSpec(**{f.name: getattr(self, f.name) for f in dataclasses.fields(AgentSpec)})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def first_difference(self, other: "Config") -> str | None:
        """The name of the first field (in declaration order) whose value differs between
        ``self`` and ``other``, or None if they are equal; for one-line errors that name it."""
        return next((f.name for f in dataclasses.fields(self)
                     if getattr(self, f.name) != getattr(other, f.name)), None)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """A Config from ``to_dict``'s output (e.g. a config.json); unknown keys are errors."""
        if not isinstance(d, dict):
            raise ValueError(f"a configuration must be a JSON object, got {type(d).__name__}")
        _check_names(d)
        return cls(**d)


def _check_names(d: dict) -> None:
    unknown = set(d) - {f.name for f in dataclasses.fields(Config)}
    if unknown:
        raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")


def _checked(f: dataclasses.Field, value):
    """``value`` if it has field ``f``'s type and satisfies its rule (a tuple for ``hidden``);
    otherwise a one-line ValueError naming the flag."""
    kind, rule = f.type, f.metadata["rule"]
    if kind.endswith("| None") and value is None:
        return value
    none = " or none" if kind.endswith("| None") else ""
    if kind.removesuffix(" | None") == "tuple[int, ...]":
        ok = isinstance(value, (list, tuple)) and all(_is_int(v) and rule.ok(v) for v in value)
        if not ok:
            raise ValueError(f"{flag(f.name)} must be widths {rule.text}{none}, got {value!r}")
        return tuple(int(v) for v in value)
    is_kind, noun = KINDS[kind.removesuffix(" | None")]
    if not (is_kind(value) and rule.ok(value)):
        what = rule.text if kind == "str" and rule.text else f"{noun} {rule.text}".rstrip()
        raise ValueError(f"{flag(f.name)} must be {what}{none}, got {value!r}")
    return value


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


KINDS = {
    "int": (_is_int, "an integer"),
    "float": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool)
              and math.isfinite(v), "a finite number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
}
"""Annotation of a Config field -> (type test, its name in error messages)."""
