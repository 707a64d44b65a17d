"""The optional blocks of refimpl/crosscheck (GAE, critic, line-search trace) against independent
oracles: the naive GAE loop of tests/core/test_returns.py with next values assembled by a plain loop,
the worked example of docs/crosscheck/reference.md, a textbook critic forward pass with finite
differences, a brute-force line search over closed-form Gaussian log-densities and KLs, and
training's own TRPO update on a HalfCheetah batch."""
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from support.gradcheck import assert_directional_derivative
from refimpl import crosscheck
from refimpl.algos import ALGORITHMS
from refimpl.engine.config import Config
from refimpl.engine.trainer import Run
from support.strategies import seeds
from test_crosscheck import SMOOTH_INPUTS, _input_from_batch, _naive_mean_log_std, inputs
from core.test_returns import _naive_gae  # tests/ is on sys.path; tests/crosscheck alone does not hold tests/core

DOC = Path(__file__).resolve().parents[2] / "docs" / "crosscheck" / "reference.md"


def _gae_block(T, K, seed, both=False):
    """A random (T, K) rollout: N(0, 1) rewards, values and final values; terminated and
    truncated each with probability 0.3 (``both``: every truncated step also terminated)."""
    rng = np.random.default_rng(seed)
    terminated, truncated = rng.random((2, T, K)) < 0.3
    if both:
        terminated |= truncated
    return {"rewards": rng.standard_normal((T, K)), "values": rng.standard_normal((T, K)),
            "terminated": terminated, "truncated": truncated,
            "final_values": rng.standard_normal((T, K)), "last_values": rng.standard_normal(K),
            "gamma": np.float64(rng.uniform(0, 1)), "lam": np.float64(rng.uniform(0, 1))}


def _core(seed=0):
    return crosscheck.make_example(np.random.default_rng(seed))


def _naive_next_values(b):
    """V(s_{t+1}) step by step: 0 after a terminal state, the final observation's value after a
    truncation, the batch's last_values after its last step, else the next row's value."""
    T, K = b["rewards"].shape
    nxt = np.zeros((T, K))
    for t in range(T):
        for k in range(K):
            if b["terminated"][t, k]:
                nxt[t, k] = 0.0
            elif b["truncated"][t, k]:
                nxt[t, k] = b["final_values"][t, k]
            elif t == T - 1:
                nxt[t, k] = b["last_values"][k]
            else:
                nxt[t, k] = b["values"][t + 1, k]
    return nxt


@given(st.integers(1, 10), st.integers(1, 3), seeds, st.booleans())
def test_gae_block_matches_naive_loop(T, K, seed, both):
    b = _gae_block(T, K, seed, both)
    out = crosscheck.compute({**_core(), **b})
    ends = b["terminated"] | b["truncated"]
    expected = _naive_gae(b["rewards"], b["values"], _naive_next_values(b), b["terminated"], ends,
                          float(b["gamma"]), float(b["lam"]))
    # rounding of at most T = 10 summed O(1) terms, evaluated in another order
    np.testing.assert_allclose(out["gae_advantages"], expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out["returns"], out["gae_advantages"] + b["values"])


def test_gae_reads_final_values_only_where_truncated_and_not_terminated():
    """final_values elsewhere, or at a step that is also terminated, changes nothing."""
    b = _gae_block(8, 3, 1)
    b["terminated"][2, 0] = b["truncated"][2, 0] = True
    ref = crosscheck.compute({**_core(), **b})["gae_advantages"]
    unread = ~b["truncated"] | b["terminated"]
    moved = {**b, "final_values": np.where(unread, 1e3, b["final_values"])}
    np.testing.assert_array_equal(crosscheck.compute({**_core(), **moved})["gae_advantages"], ref)
    read = {**b, "final_values": np.where(unread, b["final_values"], 1e3)}
    assert not np.array_equal(crosscheck.compute({**_core(), **read})["gae_advantages"], ref)


def _doc_gae_table():
    """The rows of docs/crosscheck/reference.md's worked GAE example."""
    text = DOC.read_text()
    table = text[text.index("| t | r_t | V(s_t)"):].split("\n\n")[0].splitlines()[2:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in table]
    number = lambda c: float(re.split(r"[ (]", c.split("=")[-1].strip())[0])  # noqa: E731
    return {"r": [float(c[1]) for c in cells], "v": [float(c[2]) for c in cells],
            "term": [c[3] == "yes" for c in cells], "trunc": [c[4] == "yes" for c in cells],
            "final": [0.0 if c[5] == "-" else float(c[5]) for c in cells],
            "adv": [number(c[8]) for c in cells], "ret": [float(c[9]) for c in cells]}


def test_worked_gae_example_of_the_docs():
    """The table's advantages and returns are crosscheck's, exactly (every number is a dyadic
    rational), and the naive loop's."""
    t = _doc_gae_table()
    col = lambda k, dtype=np.float64: np.array(t[k], dtype=dtype)[:, None]  # noqa: E731
    b = {"rewards": col("r"), "values": col("v"), "terminated": col("term", bool),
         "truncated": col("trunc", bool), "final_values": col("final"),
         "last_values": np.array([2.0]), "gamma": np.float64(0.5), "lam": np.float64(0.5)}
    assert len(t["r"]) == 6
    out = crosscheck.compute({**_core(), **b})
    np.testing.assert_array_equal(out["gae_advantages"], col("adv"))
    np.testing.assert_array_equal(out["returns"], col("ret"))
    naive = _naive_gae(b["rewards"], b["values"], _naive_next_values(b), b["terminated"],
                       b["terminated"] | b["truncated"], 0.5, 0.5)
    np.testing.assert_array_equal(naive, col("adv"))


def _naive_critic(d, theta_v):
    """Textbook forward pass of the critic: per layer W (in, out) row-major then b."""
    sizes = (d["obs"].shape[1], *d["critic_hidden_sizes"], 1)
    h, k = d["obs"], 0
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        W, b = theta_v[k:k + n_in * n_out].reshape(n_in, n_out), theta_v[k + n_in * n_out:][:n_out]
        k += n_in * n_out + n_out
        z = h @ W + b
        h = z if i == len(sizes) - 2 else (np.tanh(z) if d["activation"] == "tanh"
                                           else np.maximum(z, 0.0))
    assert k == len(theta_v), "layout does not use every entry of theta_v"
    return h[:, 0]


def _with_critic(d, seed, clip):
    rng = np.random.default_rng(seed)
    hidden = np.array(rng.integers(1, 5, size=rng.integers(0, 3)), dtype=np.int64)
    critic = crosscheck.io.critic_of({**d, "critic_hidden_sizes": hidden})
    c = {"critic_theta": 0.5 * rng.standard_normal(critic.n_params),
         "critic_hidden_sizes": hidden, "value_targets": rng.standard_normal(len(d["obs"]))}
    if clip:
        c["values_old"] = rng.standard_normal(len(d["obs"]))
        c["vf_clip"] = np.float64(0.2)
    return {**d, **c}


def _naive_value_loss(d, theta_v):
    v, ret = _naive_critic(d, theta_v), d["value_targets"]
    if "vf_clip" not in d:
        return 0.5 * np.mean((v - ret) ** 2)
    eps, v_old = float(d["vf_clip"]), d["values_old"]
    v_clip = v_old + np.clip(v - v_old, -eps, eps)
    return 0.5 * np.mean(np.maximum((v - ret) ** 2, (v_clip - ret) ** 2))


@given(SMOOTH_INPUTS, seeds, st.booleans())
def test_critic_block_matches_textbook_loss_and_finite_differences(d, seed, clip):
    """Clipped case: values_old ~ N(0, 1) against V ~ 0.5-sized, so |V - V_old| is rarely within
    the finite-difference steps (2e-5) of the clip's kinks; assume() skips those."""
    d = _with_critic(d, seed, clip)
    out = crosscheck.compute(d)
    v = _naive_critic(d, d["critic_theta"])
    np.testing.assert_allclose(out["value_pred"], v, rtol=0, atol=1e-13 * (1 + np.max(np.abs(v))))
    loss = _naive_value_loss(d, d["critic_theta"])
    assert out["value_loss"] == pytest.approx(loss, rel=1e-12)  # same terms, other order
    if clip:
        gap = np.abs(np.abs(v - d["values_old"]) - 0.2)
        kink = np.abs((v - d["value_targets"]) ** 2 - (d["values_old"] + np.clip(
            v - d["values_old"], -0.2, 0.2) - d["value_targets"]) ** 2)
        assume(min(np.min(gap), np.min(kink)) >= 1e-3)
    assert_directional_derivative(lambda th: _naive_value_loss(d, th), d["critic_theta"],
                                  lambda u: out["value_grad"] @ u, np.random.default_rng(0))


def _naive_surrogate_and_kl(d, theta, candidate):
    """L_TRPO(candidate) - L_TRPO(theta) from closed-form Gaussian log-densities and the
    diagonal-Gaussian KL(pi_theta || pi_candidate), both over the documented layout."""
    def logp(th):
        mean, log_std = _naive_mean_log_std(d, th)
        z = (d["actions"] - mean) * np.exp(-log_std)
        return np.sum(-0.5 * z ** 2 - log_std - 0.5 * np.log(2 * np.pi), axis=1)
    adv = d["advantages"]
    improvement = np.mean(np.exp(logp(candidate) - logp(theta)) * adv) - np.mean(adv)
    mp, sp = _naive_mean_log_std(d, theta)
    mq, sq = _naive_mean_log_std(d, candidate)
    kl = np.sum(sq - sp + (np.exp(2 * sp) + (mp - mq) ** 2) / (2 * np.exp(2 * sq)) - 0.5, axis=1)
    return improvement, np.mean(kl)


@given(inputs(), st.sampled_from([0.5, 0.8]), st.integers(1, 6),
       st.sampled_from([1e-4, 1e-3, 0.01]))
@example(crosscheck.make_example(np.random.default_rng(59)), 0.5, 10, 0.01)
def test_line_search_trace_is_the_brute_force_first_acceptable_fraction(d, alpha, iters, delta):
    """Candidates alpha^j, j = 0, 1, ... until the first with improvement > 0 and KL <= delta:
    each row's improvement and KL within rounding of the closed forms, ls_theta exactly
    theta + alpha^j step (or theta), and every earlier candidate really unacceptable."""
    d = {**d, "delta": np.float64(delta), "backtrack_alpha": np.float64(alpha),
         "backtrack_iters": np.int64(iters)}
    out = crosscheck.compute(d)
    J = len(out["ls_fractions"])
    assert J <= iters and (J == 0) == (not out["step"].any())
    for j in range(J):
        assert out["ls_fractions"][j] == alpha ** j
        improvement, kl = _naive_surrogate_and_kl(d, d["theta"], d["theta"] + alpha ** j * out["step"])
        # improvement: a difference of means of kappa A of size max|A| (1e-12 absolute covers
        # the rounding of N <= 9 terms); KL: a difference of O(act_dim) terms
        assert out["ls_improvements"][j] == pytest.approx(improvement, rel=1e-9, abs=1e-12)
        assert out["ls_kls"][j] == pytest.approx(kl, rel=1e-9, abs=1e-13)
        ok = out["ls_improvements"][j] > 0 and out["ls_kls"][j] <= delta
        assert out["ls_accepted"][j] == ok
        assert ok == (j == J - 1 and bool(out["ls_accepted"][-1]))
    accepted = J > 0 and out["ls_accepted"][-1]
    expected = d["theta"] + out["ls_fractions"][-1] * out["step"] if accepted else d["theta"]
    np.testing.assert_array_equal(out["ls_theta"], expected)
    assert accepted or J in (0, iters)


def test_line_search_trace_ends_where_training_trpo_update_ends(tmp_path):
    """On a HalfCheetah-v5 batch with TRPO's defaults (norm_adv off), crosscheck's ls_theta is
    the parameter vector training's TRPO update returns, bit for bit, and the accepted fraction
    is the update's step_fraction."""
    cfg = Config.for_algo("trpo", norm_adv=False)
    run = Run(cfg, tmp_path / "run")
    data = run.collect_batch()
    phi_old = run.agent.phi.copy()
    metrics = ALGORITHMS["trpo"].update(run.agent, data, cfg.algorithm_params(), run.update_rng)
    d = {**_input_from_batch(cfg, data, phi_old, run.agent.phi),
         "backtrack_alpha": np.float64(cfg.backtrack_alpha),
         "backtrack_iters": np.int64(cfg.backtrack_iters)}
    out = crosscheck.compute(d)
    np.testing.assert_array_equal(out["ls_theta"], run.agent.phi)
    assert bool(out["ls_accepted"][-1]) == bool(metrics["accepted"])
    assert out["ls_fractions"][-1] == metrics["step_fraction"]


@pytest.mark.parametrize("key, value, named", [
    ("gamma", np.float64(1.5), "gamma"), ("truncated", np.zeros((6, 2)), "truncated"),
    ("last_values", np.zeros(3), "last_values"), ("critic_theta", np.zeros(3), "critic_theta"),
    ("vf_clip", np.float64(0.0), "vf_clip"), ("backtrack_alpha", np.float64(1.0),
                                               "backtrack_alpha"),
    ("rewards", None, "rewards"), ("values_old", None, "values_old")])
def test_bad_block_input_names_the_key(key, value, named):
    d = crosscheck.make_example(np.random.default_rng(0), with_blocks=True)
    if value is None:
        del d[key]
    else:
        d[key] = value
    with pytest.raises(ValueError, match=f"'{named}'"):
        crosscheck.validate(d)


def test_inputs_without_blocks_give_only_the_core_outputs():
    assert list(crosscheck.compute(_core())) == list(crosscheck.OUTPUT_KEYS)
