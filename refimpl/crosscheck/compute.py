"""Every quantity of one NPG/TRPO/PPO update at a given input (``docs/crosscheck/reference.md``),
computed with the functions refimpl trains with: nothing is reimplemented here. The TRPO step is
``natural.natural_step`` with training's CG tolerance, the KL ``fisher.kl_mean``, the line
search ``linesearch.backtracking`` evaluated by ``objectives.surrogate_and_kl`` as TRPO's update
does, GAE ``returns.gae`` and the critic's loss ``critic.critic_loss_and_grad``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from refimpl.core import categorical as cat
from refimpl.core import objectives
from refimpl.algos.ppo import approx_kl
from refimpl.core.critic import critic_loss_and_grad
from refimpl.crosscheck.io import FORMAT_VERSION, blocks, critic_of, validate
from refimpl.core.fisher import fisher_vector_product, kl_mean, kl_mean_grad, make_fvp
from refimpl.core.linesearch import backtracking
from refimpl.core.natural import natural_step
from refimpl.core.nn import MLP
from refimpl.core.policy import CategoricalPolicy, GaussianPolicy, make_policy
from refimpl.core.returns import gae

OUTPUT_KEYS = ("format_version", "mean", "logp", "entropy", "kl", "grad", "fvp", "cg_x",
               "cg_iterations_run", "cg_nonpositive_curvature", "beta", "step", "ratio",
               "clip_objective", "clip_grad", "clip_fraction", "surrogate", "surrogate_grad",
               "kl_grad", "kl_reverse", "approx_kl_k1", "approx_kl_k3", "clip_fraction_outside")
"""Output keys of every Gaussian input, in file order; each documented in
``docs/crosscheck/reference.md``."""

CATEGORICAL_OUTPUT_KEYS = ("format_version", "logits", "probs", *OUTPUT_KEYS[2:])
"""Output keys of every categorical input: ``mean`` replaced by ``logits`` and ``probs``."""


def output_keys(kind: str) -> tuple[str, ...]:
    """OUTPUT_KEYS or CATEGORICAL_OUTPUT_KEYS for the head ``kind`` of ``io.policy_kind``."""
    return OUTPUT_KEYS if kind == "gaussian" else CATEGORICAL_OUTPUT_KEYS

BLOCK_OUTPUT_KEYS = {
    "gae": ("gae_advantages", "returns"),
    "critic": ("value_pred", "value_loss", "value_grad"),
    "line_search": ("ls_fractions", "ls_improvements", "ls_kls", "ls_accepted", "ls_theta"),
}
"""Output keys of the optional input blocks (``io.BLOCK_SPECS``), written after OUTPUT_KEYS."""


Policy = GaussianPolicy | CategoricalPolicy


def _head(policy: Policy, params: tuple) -> dict:
    """The distribution's parameters at obs: the mean mu_theta(s) (N, d) of the Gaussian (its
    log_std is part of theta), or the logits z_theta(s) (N, K) and p = softmax(z)
    (``categorical.probs``) of the categorical."""
    if policy.kind == "gaussian":
        return {"mean": params[0]}
    return {"logits": params[0], "probs": cat.probs(params[0])}


def _trpo(policy: Policy, d: dict[str, np.ndarray], g: np.ndarray) -> dict:
    """Lecture, "TRPO: Avoiding matrix inversion" and "TRPO: Final algorithm", steps 4 and 5,
    computed as training computes them: ``natural.natural_step`` with its default CG tolerance,
    x ~ (F + damping I)^-1 g by truncated CG, nu = x^T g, beta = sqrt(2 delta / nu),
    step = beta x. For g = 0 training takes no step (``algos/npg.py``): no CG iteration,
    x = step = 0 and beta = 0."""
    if not g.any():
        zero = np.zeros_like(g)
        return {"cg_x": zero, "cg_iterations_run": np.int64(0),
                "cg_nonpositive_curvature": np.bool_(False), "beta": np.float64(0.0),
                "step": zero}
    A = make_fvp(policy, d["theta"], d["obs"], float(d["damping"]))
    s = natural_step(g, A, float(d["delta"]), int(d["cg_iters"]))
    return {"cg_x": s.x, "cg_iterations_run": np.int64(s.cg.iterations),
            "cg_nonpositive_curvature": np.bool_(s.cg.nonpositive_curvature),
            "beta": np.float64(s.beta), "step": s.step}


def _ppo(policy: Policy, d: dict[str, np.ndarray], logp: np.ndarray) -> dict:
    """Lecture, "The clipped surrogate objective in PPO" and "TRPO: The surrogate optimization
    problem": ratio, L_CLIP, L_TRPO at theta_new (theta old), their gradients w.r.t. theta_new,
    and the gradient of KL-bar(theta, theta_new) w.r.t. theta_new."""
    theta_new, obs, actions, adv = d["theta_new"], d["obs"], d["actions"], d["advantages"]
    logp_new = policy.log_prob(theta_new, obs, actions)
    clip, dclip, clip_fraction = objectives.clip_objective(logp_new, logp, adv,
                                                           float(d["clip_eps"]))
    surr, dsurr = objectives.surrogate(logp_new, logp, adv)
    return {"ratio": objectives.ratio(logp_new, logp),
            "clip_objective": np.float64(clip),
            "clip_grad": policy.score(theta_new, obs, actions, dclip),
            "clip_fraction": np.float64(clip_fraction),
            "surrogate": np.float64(surr),
            "surrogate_grad": policy.score(theta_new, obs, actions, dsurr),
            "kl_grad": kl_mean_grad(policy, d["theta"], theta_new, obs)}


def _other_conventions(policy: Policy, d: dict[str, np.ndarray], kappa: np.ndarray,
                       ) -> dict:
    """Quantities other libraries log under the same names, so that a comparison can tell them
    apart (``docs/crosscheck/reference.md``): KL(pi_new || pi_old) (``fisher.kl_mean`` with the
    arguments swapped), the sampled estimators k1 = mean(-log kappa) and k3 = mean((kappa - 1) - log
    kappa) (``algos.ppo.approx_kl``, what PPO logs), and the share mean(|kappa - 1| > eps)."""
    log_kappa = np.log(kappa)
    return {"kl_reverse": np.float64(kl_mean(policy, d["theta_new"], d["theta"], d["obs"])),
            "approx_kl_k1": np.float64(np.mean(-log_kappa)),
            "approx_kl_k3": np.float64(approx_kl(log_kappa, np.zeros_like(log_kappa))),
            "clip_fraction_outside": np.float64(np.mean(np.abs(kappa - 1.0) > d["clip_eps"]))}


def _next_values(d: dict[str, np.ndarray]) -> np.ndarray:
    """V(s_{t+1}) of the true next observation per step: the next row of ``values`` inside a
    rollout, ``final_values`` where a step was truncated, ``last_values`` after the last row
    (terminated steps read none of them: ``returns.td_errors`` bootstraps them from 0)."""
    nxt = np.concatenate([d["values"][1:], d["last_values"][None, :]])
    return np.where(d["truncated"], d["final_values"], nxt)


def _gae(d: dict[str, np.ndarray]) -> dict:
    """Lecture, "TRPO: Final algorithm", step 2: A = GAE(gamma, lam) (``returns.gae``) with
    ends = terminated or truncated; returns = A + values, the critic's regression target."""
    ends = d["terminated"] | d["truncated"]
    adv, ret = gae(d["rewards"], d["values"], _next_values(d), d["terminated"], ends,
                   float(d["gamma"]), float(d["lam"]))
    return {"gae_advantages": adv, "returns": ret}


def _critic(d: dict[str, np.ndarray]) -> dict:
    """L_V = 1/2 mean_n (V(s_n) - ret_n)^2, or the PPO2 clipped loss with ``values_old`` and
    ``vf_clip``, and dL_V / dtheta_v (``critic.critic_loss_and_grad``)."""
    critic, clip = critic_of(d), "critic_clip" in blocks(d)
    v, _ = critic.forward(d["critic_theta"], d["obs"])
    loss, grad = critic_loss_and_grad(critic, d["critic_theta"], d["obs"], d["value_targets"],
                                      d["values_old"] if clip else None,
                                      float(d["vf_clip"]) if clip else None)
    return {"value_pred": v[:, 0], "value_loss": np.float64(loss), "value_grad": grad}


def _line_search(policy: Policy, d: dict[str, np.ndarray], logp: np.ndarray, params: tuple,
                 step: np.ndarray) -> dict:
    """Lecture, "TRPO: Final algorithm", steps 6-7, as TRPO's update runs them
    (``algos/npg.py``): ``linesearch.backtracking`` from theta along ``step``, each candidate
    evaluated by ``objectives.surrogate_and_kl`` (improvement of L_TRPO over theta, mean
    KL(pi_theta || pi_candidate)); one row per candidate evaluated. No step (g = 0): no
    candidate, and ls_theta = theta."""
    theta, adv = d["theta"], d["advantages"]
    data = SimpleNamespace(obs=d["obs"], actions=d["actions"], logp_old=logp, params_old=params)
    L_old = objectives.surrogate_and_kl(policy, theta, data, adv)[0]
    trace: list[tuple[float, float]] = []

    def evaluate(candidate):
        L, kl = objectives.surrogate_and_kl(policy, candidate, data, adv)
        trace.append((L - L_old, kl))
        return trace[-1]

    alpha, accepted, theta_new = float(d["backtrack_alpha"]), False, theta
    if step.any():
        theta_new, info = backtracking(theta, step, evaluate, float(d["delta"]), alpha,
                                       int(d["backtrack_iters"]))
        accepted = info.accepted
    rows = np.array(trace, dtype=np.float64).reshape(-1, 2)
    # backtracking's candidate fractions alpha^j, j = 0, 1, ...; the last one tried is accepted
    fractions = np.array([alpha ** j for j in range(len(rows))], dtype=np.float64)
    flags = np.zeros(len(rows), dtype=bool)
    flags[-1:] = accepted
    return {"ls_fractions": fractions, "ls_improvements": rows[:, 0], "ls_kls": rows[:, 1],
            "ls_accepted": flags, "ls_theta": np.array(theta_new, dtype=np.float64)}


def compute(d: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All outputs of ``docs/crosscheck/reference.md`` for a validated input dict: ``output_keys``
    of its policy kind in order, then the keys of each optional block given (BLOCK_OUTPUT_KEYS).

    Lecture quantities: g = (1/N) sum_n grad log pi_theta(a_n|s_n) A_n ("TRPO: Final algorithm",
    step 3), F v ("TRPO: Avoiding matrix inversion"), KL-bar(theta, theta_new) ("TRPO: The
    surrogate optimization problem"), then ``_trpo``, ``_ppo``, ``_other_conventions`` and the
    blocks (``_gae``, ``_critic``, ``_line_search``).
    Tested in ``tests/crosscheck/test_crosscheck.py`` against finite differences, dense matrices,
    numpy.linalg.solve, scipy.stats and naive loops.
    """
    policy = validate(d)
    theta, obs, actions, adv = d["theta"], d["obs"], d["actions"], d["advantages"]
    params, _ = policy.dist_params(theta, obs)
    logp = policy.log_prob_of(params, actions)
    g = policy.score(theta, obs, actions, adv / obs.shape[0])
    out = {"format_version": np.int64(FORMAT_VERSION), **_head(policy, params), "logp": logp,
           "entropy": np.float64(policy.mean_entropy(theta, obs)),
           "kl": np.float64(kl_mean(policy, theta, d["theta_new"], obs)), "grad": g,
           "fvp": fisher_vector_product(policy, theta, obs, d["v"]),
           **_trpo(policy, d, g), **_ppo(policy, d, logp)}
    out.update(_other_conventions(policy, d, out["ratio"]))
    keys = output_keys(policy.kind)
    assert set(out) == set(keys), f"outputs {sorted(out)} differ from {keys}"
    asked = blocks(d)
    if "gae" in asked:
        out.update(_gae(d))
    if "critic" in asked or "critic_clip" in asked:
        out.update(_critic(d))
    if "line_search" in asked:
        out.update(_line_search(policy, d, logp, params, out["step"]))
    keys = [*keys, *(k for b in BLOCK_OUTPUT_KEYS for k in BLOCK_OUTPUT_KEYS[b] if k in out)]
    return {k: np.asarray(out[k]) for k in keys}


def _example_blocks(rng: np.random.Generator, obs_dim: int, n: int) -> dict[str, np.ndarray]:
    """The optional blocks of ``make_example``: a (T, K) = (6, 2) rollout with N(0, 1) rewards
    and values, about three steps in ten terminated and three in ten truncated, gamma 0.99,
    lam 0.95; a critic of hidden width (4,) with N(0, 0.5^2) parameters, targets N(0, 1),
    values_old = 0.3 N(0, 1) (``make_example`` adds V), vf_clip 0.2; backtracking alpha 0.5
    with 10 candidates."""
    T, K = 6, 2
    critic_theta = 0.5 * rng.standard_normal(MLP((obs_dim, 4, 1)).n_params)
    return {"rewards": rng.standard_normal((T, K)), "values": rng.standard_normal((T, K)),
            "terminated": rng.random((T, K)) < 0.3, "truncated": rng.random((T, K)) < 0.3,
            "final_values": rng.standard_normal((T, K)), "last_values": rng.standard_normal(K),
            "gamma": np.float64(0.99), "lam": np.float64(0.95),
            "critic_theta": critic_theta, "critic_hidden_sizes": np.array([4], dtype=np.int64),
            "value_targets": rng.standard_normal(n),
            "values_old": 0.3 * rng.standard_normal(n), "vf_clip": np.float64(0.2),
            "backtrack_alpha": np.float64(0.5), "backtrack_iters": np.int64(10)}


def _example_theta(policy: Policy, rng: np.random.Generator) -> np.ndarray:
    """Gaussian: ``policy.init`` (mean head of gain 0.01), then log_std ~ -0.5 + 0.1 N(0, 1).
    Categorical: the logits network's orthogonal init with output gain 1 (``nn.MLP.init``)
    instead of training's 0.01, so that the probabilities are far from uniform and differ
    from state to state."""
    if policy.kind == "categorical":
        return policy.net.init(rng, output_gain=1.0)
    theta = policy.init(rng)
    policy.split(theta)[1][:] = -0.5 + 0.1 * rng.standard_normal(policy.act_dim)
    return theta


def make_example(rng: np.random.Generator, hidden: tuple[int, ...] = (4, 4),
                 activation: str = "tanh", obs_dim: int = 3, act_dim: int | None = None,
                 n: int = 8, with_blocks: bool = False,
                 policy: str = "gaussian") -> dict[str, np.ndarray]:
    """A random valid input of head ``policy``: theta from ``_example_theta``, obs ~ N(0, I),
    actions ~ pi_theta (``policy.sample_of``), advantages and v ~ N(0, I), theta_new = theta +
    0.05 N(0, I) (categorical: 0.2 N(0, I)), far enough for some ratios to leave
    [1 - clip_eps, 1 + clip_eps];
    delta 0.01, damping 0.1, cg_iters 10, clip_eps 0.2. act_dim is d (default 2) for the
    Gaussian, K = n_actions (default 3) for the categorical, whose input also holds ``policy``
    and ``n_actions``. ``with_blocks`` adds the optional blocks (``_example_blocks``), drawn
    after everything else, so the other arrays stay the same.
    Tested in ``tests/crosscheck/test_crosscheck.py::test_make_example_is_valid_and_reproducible`` and
    ``tests/crosscheck/test_crosscheck_categorical.py::test_categorical_example_is_valid_and_reproducible``."""
    act_dim = (2 if policy == "gaussian" else 3) if act_dim is None else act_dim
    pi = make_policy(policy, obs_dim, act_dim, hidden, activation)
    theta = _example_theta(pi, rng)
    obs = rng.standard_normal((n, obs_dim))
    params, _ = pi.dist_params(theta, obs)
    head = {} if policy == "gaussian" else {"policy": np.array(policy),
                                            "n_actions": np.int64(act_dim)}
    d = {"format_version": np.int64(FORMAT_VERSION), **head,
         "hidden_sizes": np.array(hidden, dtype=np.int64), "activation": np.array(activation),
         "theta": theta, "obs": obs, "actions": pi.sample_of(params, rng),
         "advantages": rng.standard_normal(n), "v": rng.standard_normal(pi.n_params),
         "theta_new": theta + (0.05 if policy == "gaussian" else 0.2)
         * rng.standard_normal(pi.n_params),
         "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
         "clip_eps": np.float64(0.2)}
    if with_blocks:
        d.update(_example_blocks(rng, obs_dim, n))
        d["values_old"] = d["values_old"] + critic_of(d).forward(d["critic_theta"], obs)[0][:, 0]
    return d
