"""refimpl/algos/loop.py, the lecture's loop, as a unit: a scripted collector (random batches drawn
from the generator it is handed) and a recording update stand in for the environment and the
algorithm, so that every argument the loop passes and every column of its rows is checked
against what its docstrings state: the agent from the run's "weights" stream, the actions from the
"actions" stream, the update's generator the "update" stream, the Adam step sizes times
1 - k / updates with annealing (``loop.annealed``), env_steps = (k + 1) N, explained_variance of V_old against the returns, and a
non-finite parameter stopping the run with a NumericalError that names it."""
import dataclasses

import numpy as np
import pytest

from refimpl.algos import PARAMS, loop
from refimpl.algos.ppo import PPOParams
from refimpl.algos.agent import Agent, AgentSpec
from refimpl.core.critic import CriticFitParams
from refimpl.core.errors import NumericalError
from refimpl.core.seeding import RunSeeds
from refimpl.envs.rollout import Batch, estimate_advantages

SEED, HORIZON, E, GAMMA, LAM = 3, 5, 2, 0.9, 0.8


class ScriptedCollector:
    """The part of ``envs.rollout.Collector`` the loop uses. ``collect`` draws its batch from the
    generator it is given (so the batch identifies the generator's stream and position) and
    records the policy parameters it was asked to run."""

    obs_dim, act_dim, kind = 3, 2, "gaussian"

    def __init__(self):
        self.calls, self.stats = [], (12.5, 40.0)

    def collect(self, policy, phi, horizon, rng):
        self.calls.append((policy, phi.copy(), horizon))
        shape = (horizon, E)
        return Batch(rng.standard_normal((*shape, 3)), rng.standard_normal((*shape, 3)),
                     rng.standard_normal((*shape, 2)), rng.standard_normal(shape),
                     rng.random(shape) < 0.2, rng.random(shape) < 0.3)

    def episode_stats(self):
        return self.stats


def _expected_batch(rng, horizon=HORIZON):
    return ScriptedCollector().collect(None, np.zeros(1), horizon, rng)


def test_make_agent_initialises_from_the_weights_stream_with_the_collectors_spaces():
    """make_agent(spec, collector, seed) is Agent.create(spec, obs_dim, act_dim,
    RunSeeds(seed).generator("weights"), kind): the same phi and theta_v, bit for bit, for the
    Gaussian head and the categorical one (act_dim = K)."""
    spec = AgentSpec(hidden=(4,))
    for kind, act_dim in (("gaussian", 2), ("categorical", 3)):
        collector = ScriptedCollector()
        collector.kind, collector.act_dim = kind, act_dim
        agent = loop.make_agent(spec, collector, SEED)
        expected = Agent.create(spec, 3, act_dim, RunSeeds(SEED).generator("weights"), kind)
        assert agent.policy.kind == kind
        np.testing.assert_array_equal(agent.phi, expected.phi)
        np.testing.assert_array_equal(agent.theta_v, expected.theta_v)
        assert agent.pi_opt.lr == spec.lr and agent.v_opt.lr == spec.vf_lr


def test_advantages_are_gae_with_the_critic_flattened_with_pi_olds_log_probabilities():
    """Step 2: adv, ret and values are those of ``estimate_advantages`` (GAE(gamma, lambda) with
    the critic V_theta_v, gamma = 0.9 and lambda = 0.8 kept apart) flattened to N = T E rows,
    and logp_old = log pi_phi(a|s) of the flattened rows."""
    agent = loop.make_agent(AgentSpec(hidden=(4,)), ScriptedCollector(), SEED)
    batch = _expected_batch(np.random.default_rng(0))
    data = loop.advantages(agent, batch, GAMMA, LAM)
    adv, ret, values = estimate_advantages(agent.critic, agent.theta_v, batch, GAMMA, LAM)
    for got, want in ((data.adv, adv), (data.ret, ret), (data.values, values)):
        np.testing.assert_array_equal(got, want.ravel())
    np.testing.assert_array_equal(data.obs, batch.obs.reshape(-1, 3))
    np.testing.assert_array_equal(
        data.logp_old, agent.policy.log_prob(agent.phi, data.obs, batch.actions.reshape(-1, 2)))
    assert not np.array_equal(adv, estimate_advantages(agent.critic, agent.theta_v, batch, LAM,
                                                       GAMMA)[0])


@pytest.mark.parametrize("anneal_lr", [False, True])
def test_train_runs_collect_advantages_update_and_yields_each_updates_row(anneal_lr):
    """Three iterations of the loop: collection k runs pi at the phi the previous update left,
    for ``horizon`` steps, on the "actions" stream (the batches are those of a generator of that
    stream drawn in order), with GAE(gamma, lambda) advantages; the update receives the hyperparameters, the batch's advantages,
    the "update" stream (its draws continue from one update to the next) and the hyperparameters
    as given, or with both Adam step sizes times 1 - k / updates with annealing; row k is the update's metrics with update = k + 1,
    env_steps = (k + 1) N (N = horizon E), the collector's episode statistics and
    explained_variance = 1 - Var[ret - V_old] / Var[ret] of the batch, written out here."""
    collector = ScriptedCollector()
    agent = loop.make_agent(AgentSpec(hidden=(4,)), collector, SEED)
    hp, seen = PPOParams(lr=0.5, critic=CriticFitParams(lr=0.25)), []

    def update(agent_, data, hp_, rng):
        assert agent_ is agent
        seen.append((data, rng.random(), hp_))
        agent_.phi = agent_.phi + 0.01  # a step, so that the next collection sees a new phi
        return {"policy_loss": float(len(seen))}

    rows = list(loop.train(update, hp, agent, collector, SEED, 3, HORIZON, GAMMA, LAM,
                           anneal_lr))
    actions, update_rng = (RunSeeds(SEED).generator(s) for s in ("actions", "update"))
    phi = loop.make_agent(AgentSpec(hidden=(4,)), ScriptedCollector(), SEED).phi
    assert len(rows) == len(seen) == len(collector.calls) == 3
    for k, (row, (data, draw, hp_k), (policy, phi_seen, horizon)) in enumerate(
            zip(rows, seen, collector.calls)):
        assert policy is agent.policy and horizon == HORIZON
        np.testing.assert_array_equal(phi_seen, phi)
        phi = phi + 0.01
        batch = _expected_batch(actions)
        np.testing.assert_array_equal(data.obs, batch.obs.reshape(-1, 3))
        adv = estimate_advantages(agent.critic, agent.theta_v, batch, GAMMA, LAM)[0]
        np.testing.assert_array_equal(data.adv, adv.ravel())  # the stand-in update keeps theta_v
        assert draw == update_rng.random()
        scale = 1.0 - k / 3 if anneal_lr else 1.0
        assert hp_k == dataclasses.replace(hp, lr=0.5 * scale, critic=CriticFitParams(lr=0.25 * scale))
        assert anneal_lr or hp_k is hp
        ev = 1.0 - np.var(data.ret - data.values) / np.var(data.ret)
        assert row == {"policy_loss": float(k + 1), "update": k + 1,
                       "env_steps": (k + 1) * HORIZON * E, "ep_return": 12.5,
                       "ep_length": 40.0, "explained_variance": pytest.approx(ev, rel=1e-12)}


@pytest.mark.parametrize("which, named", [("phi", "policy parameters"),
                                          ("theta_v", "critic parameters")])
def test_train_stops_at_a_non_finite_parameter_naming_it_and_the_update(which, named):
    """An update that leaves a NaN in phi or theta_v ends the run before its row is yielded,
    with a NumericalError naming the parameters and the update's number (2: the first update
    is finite)."""
    collector = ScriptedCollector()
    agent = loop.make_agent(AgentSpec(hidden=(4,)), collector, SEED)
    calls = []

    def update(agent_, data, hp, rng):
        calls.append(1)
        if len(calls) == 2:
            getattr(agent_, which)[0] = np.nan
        return {}

    rows = loop.train(update, None, agent, collector, SEED, 3, HORIZON, GAMMA, LAM)
    assert next(rows)["update"] == 1
    with pytest.raises(NumericalError, match=f"non-finite {named} after update 2$"):
        next(rows)


@pytest.mark.parametrize("algo", sorted(PARAMS))
def test_annealed_scales_only_the_adam_step_sizes(algo):
    """``annealed(hp, c)`` multiplies the policy's Adam step size (where the algorithm has one:
    PPO, VPG) and the critic's by c, and leaves every other field as it was; c = 1 gives hp
    back, field for field. Compared field by field through dataclasses.asdict."""
    hp = PARAMS[algo]()
    scaled = dataclasses.asdict(loop.annealed(hp, 0.25))
    expected = dataclasses.asdict(hp)
    expected["critic"]["lr"] *= 0.25
    if "lr" in expected:
        expected["lr"] *= 0.25
    assert scaled == expected
    assert ("lr" in expected) == (algo in ("ppo", "vpg"))
    assert loop.annealed(hp, 1.0) == hp


@pytest.mark.parametrize("K", [1, 2, 7, 489])
def test_scheduled_clip_and_kl_bound_are_linear_with_their_endpoints(K):
    """``scheduled`` over the K updates of a run, against the schedules' statements:
    anneal_clip gives clip_eps (1 - k / K): exactly clip_eps at k = 0, equal steps of clip_eps / K
    (linear), reaching 0 one update after the last; delta_final gives delta + (k + 1) / K
    (delta_final - delta): equal steps of (delta_final - delta) / K, the first one step past
    delta, the last exactly delta_final (Engstrom et al.'s max_kl += increment before each
    step), rising (0.04 -> 0.07) or falling (0.07 -> 0.04). No other field moves, and with every
    switch off hp itself comes back. Tolerances: 1e-15 relative, a few ulp of rounding in
    k / K."""
    from refimpl.algos.npg import NPGParams
    from refimpl.algos.trpo import TRPOParams

    ppo_hp = PPOParams(clip_eps=0.2)
    clips = [loop.scheduled(ppo_hp, k, K, anneal_clip=True).clip_eps for k in range(K)]
    assert clips[0] == 0.2
    np.testing.assert_allclose(np.diff(clips), -0.2 / K, rtol=1e-12, atol=1e-17)
    assert clips[-1] - 0.2 / K == pytest.approx(0.0, abs=1e-15)
    for delta, final in ((0.04, 0.07), (0.07, 0.04)):
        for params in (TRPOParams(delta=delta), NPGParams(delta=delta)):
            deltas = [loop.scheduled(params, k, K, delta_final=final).delta for k in range(K)]
            assert deltas[-1] == final
            assert deltas[0] == pytest.approx(delta + (final - delta) / K, rel=1e-15)
            np.testing.assert_allclose(np.diff(deltas), (final - delta) / K, rtol=1e-9)
            k = K // 2
            moved = loop.scheduled(params, k, K, delta_final=final)
            assert moved == dataclasses.replace(params, delta=moved.delta)
    both = loop.scheduled(ppo_hp, 3, 8, anneal_lr=True, anneal_clip=True)
    assert both == dataclasses.replace(loop.annealed(ppo_hp, 1 - 3 / 8), clip_eps=0.2 * (1 - 3 / 8))
    assert loop.scheduled(ppo_hp, 3, 8) is ppo_hp


def test_train_hands_each_update_its_scheduled_hyperparameters():
    """``loop.train`` passes its schedule switches on: update k receives
    ``scheduled(hp, k, updates, ...)``, here with anneal_clip and with delta_final."""
    from refimpl.algos.trpo import TRPOParams

    for hp, switches in ((PPOParams(), dict(anneal_clip=True)),
                         (TRPOParams(delta=0.04), dict(delta_final=0.07))):
        collector, seen = ScriptedCollector(), []
        agent = loop.make_agent(AgentSpec(hidden=(4,)), collector, SEED)

        def update(agent_, data, hp_k, rng):
            seen.append(hp_k)
            return {}
        list(loop.train(update, hp, agent, collector, SEED, 3, HORIZON, GAMMA, LAM, **switches))
        assert seen == [loop.scheduled(hp, k, 3, **switches) for k in range(3)]
        assert seen[0] != seen[1] != seen[2]
