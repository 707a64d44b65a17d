"""Learning tests on the lecture's linear-quadratic example (slide "Ill-conditioned gradients"):
s' = s + a, r = -s^2 - a^2, gamma = 0.9, policy a ~ N(k s + b, sigma^2) with phi = (k, b,
log sigma). From k ~ 0, sigma = 1, each algorithm must approach the Riccati gain
k* = -0.5884 (refimpl.exact.lq.optimal_gain; NOT the slide's -1) and shrink sigma, since the
return falls with sigma^2. Settings: a linear policy and critic (hidden=()), no normalisation,
lambda = 1 (Monte-Carlo advantages, unbiased whatever the linear critic), 1000 steps (5
episodes of H = 200) per update. The tolerance 0.05 is the issue's.

What is tested is the mean of k over the second half of the updates (iterate averaging), not k
after the last one. Once near k*, k wanders around it with Monte-Carlo noise that grows as sigma
shrinks (the k-gradient scales with E[s^2]): NPG and TRPO at delta = 0.01 reach |k - k*| < 0.05
after about 20 updates and then leave that band again by up to 0.13 for single updates, so a
check of one update's k passes or fails by the luck of the seed. Measured with seeds 0-4
(``Config.for_algo(algo, steps=N*1000, **LQ, seed=s)``): the second-half mean is within
0.052 of k* for NPG and TRPO after 40 updates (seed 0: 0.027 and 0.033) and within 0.049 for PPO
after 80 (seed 0: 0.022; PPO's Adam steps are smaller than NPG's normalised ones, so it needs
about twice as many updates).

Then the categorical head on CartPole-v1 (below)."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from refimpl.engine.config import Config
from refimpl.exact.lq import PRESETS, optimal_gain
from refimpl.engine.trainer import Run

K_STAR = optimal_gain(PRESETS["lecture"])[0]
LQ = dict(env="refimpl/LQ-Lecture-v0", hidden=(), gamma=PRESETS["lecture"].gamma, lam=1.0,
          norm_obs=False, norm_reward=False, horizon=1000, anneal_lr=False, seed=0)


def _learn(algo, updates, tmp_path, **overrides):
    """phi before training, after it, and the gain k after each update."""
    cfg = Config.for_algo(algo, steps=updates * LQ["horizon"], **{**LQ, **overrides})
    run = Run(cfg, tmp_path / algo)
    phi0, ks = run.agent.phi.copy(), []
    for _ in range(updates):
        run.step()
        ks.append(run.agent.phi[0])
    run.close()
    return phi0, run.agent.phi, np.array(ks)


def _k_sigma(phi):
    return phi[0], np.exp(phi[2])


def _assert_reaches_riccati_gain(algo, updates, tmp_path, **overrides):
    phi0, phi, ks = _learn(algo, updates, tmp_path, **overrides)
    k0, sigma0 = _k_sigma(phi0)
    sigma = _k_sigma(phi)[1]
    k = ks[updates // 2:].mean()
    assert abs(k0) < 0.05 and sigma0 == 1.0
    assert abs(k - K_STAR) < 0.05, f"{algo}: mean k of the second half {k:.4f}, Riccati gain {K_STAR:.4f}"
    assert sigma < 0.5 * sigma0


def test_npg_reaches_riccati_gain(tmp_path):
    """NPG with the normalised step (eq. Adv_NPG with alpha = sqrt(2 delta / g^T F^-1 g))."""
    _assert_reaches_riccati_gain("npg", 40, tmp_path)


@pytest.mark.parametrize("fvp_fraction", [1.0, 0.1])
def test_trpo_reaches_riccati_gain(tmp_path, fvp_fraction):
    """TRPO: Final algorithm, default delta = 0.01; also with the TRPO paper's Fisher-vector
    products on 10% of the states."""
    _assert_reaches_riccati_gain("trpo", 40, tmp_path, fvp_fraction=fvp_fraction)


def test_ppo_reaches_riccati_gain(tmp_path):
    """PPO: Final algorithm, paper defaults (10 epochs, minibatch 64, eps 0.2, Adam 3e-4)."""
    _assert_reaches_riccati_gain("ppo", 80, tmp_path)


def test_vpg_moves_toward_riccati_gain(tmp_path):
    """Plain gradient ascent with Adam (lr 0.01) moves k toward k* and shrinks sigma, but does
    not get there within the same budget: the vanilla gradient's sigma-component dominates."""
    phi0, phi, _ = _learn("vpg", 20, tmp_path, lr=0.01)
    (k0, sigma0), (k, sigma) = _k_sigma(phi0), _k_sigma(phi)
    assert K_STAR < k < k0 - 0.05
    assert sigma < sigma0


def test_fvp_fraction_sets_how_many_states_the_fisher_averages(tmp_path, monkeypatch):
    from refimpl.algos import npg, trpo
    seen, make_fvp = [], npg.make_fvp

    def recording(policy, phi, obs, damping):
        seen.append(len(obs))
        return make_fvp(policy, phi, obs, damping)
    monkeypatch.setattr(npg, "make_fvp", recording)
    monkeypatch.setattr(trpo, "make_fvp", recording)
    _learn("trpo", 1, tmp_path, fvp_fraction=0.1)
    _learn("npg", 1, tmp_path)
    assert seen == [LQ["horizon"] // 10, LQ["horizon"]]


CARTPOLE_BUDGET = {"ppo": 25_088, "trpo": 36_864}
"""Env steps within which PPO and TRPO must reach a mean return of 195 on CartPole-v1 (the
categorical head, from the ENV_DEFAULTS of rl-baselines3-zoo). Measured, not tuned:
``python benchmarks/steps_to_threshold.py --algo ALGO --seeds 10`` gives the steps after the
first update whose mean return over the last 20 episodes reaches 195, for seeds 0..9 (with the
independent random streams of refimpl.core.seeding and SB3's Adam epsilon 1e-5):

    PPO  (batch 256):   7936 11520  7168 16640  7168 14336 15104 12800 14848 16128  (max 16640)
    TRPO (batch 1024): 18432 22528 20480 12288 19456 24576 18432 18432 14336 20480  (max 24576)

The budget is 1.5 times the maximum, rounded up to whole batches (98 and 36 updates): a seed
that learns as slowly as the slowest of ten still passes, a run that learns at half the measured
rate (or not at all) fails. 195 is the old CartPole-v0 "solved" floor, a smoke test of learning;
the issue's target for the final policy is 475."""


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("algo", ["ppo", "trpo"])
def test_cartpole_reaches_195_within_the_measured_budget(algo, seed, tmp_path):
    """PPO and TRPO with the categorical policy learn CartPole-v1: the mean return of the last 20
    episodes reaches 195 within CARTPOLE_BUDGET steps (seeds 0 and 1 need 7936 / 18432 and
    11520 / 22528 steps, a few seconds each)."""
    cfg = Config.for_algo(algo, env="CartPole-v1", seed=seed, steps=CARTPOLE_BUDGET[algo])
    run, ret = Run(cfg, tmp_path / "run"), []
    try:
        with threadpool_limits(1, user_api="blas"):  # as refimpl train runs
            while run.update < run.num_updates and not (ret and ret[-1] >= 195):
                ret.append(run.step()["ep_return"])
    finally:
        run.close()
    assert run.agent.policy.kind == "categorical"
    assert ret[-1] >= 195, f"{algo} seed {seed}: mean return {ret[-1]:.1f} after {run.env_steps}"
