"""refimpl/algos/agent.py: Agent.create builds actor, critic and their optimisers from the config."""
import numpy as np

from refimpl.algos.agent import Agent
from refimpl.engine.config import Config


def test_create_takes_every_setting_from_the_config():
    """Non-default settings, so that a dropped argument (and the default in its place) shows:
    the activation of both networks, the initial log sigma, both Adam step sizes and epsilons."""
    cfg = Config.for_algo("trpo", hidden=(5,), activation="relu", log_std_init=-0.7, lr=1e-2,
                          vf_lr=2e-3, adam_eps=3e-6)
    agent = Agent.create(cfg.agent_spec(), 3, 2, np.random.default_rng(0))
    assert agent.policy.net.activation == agent.critic.activation == "relu"
    assert agent.policy.net.sizes == (3, 5, 2) and agent.critic.sizes == (3, 5, 1)
    np.testing.assert_array_equal(agent.policy.split(agent.phi)[1], [-0.7, -0.7])
    assert (agent.pi_opt.lr, agent.v_opt.lr) == (1e-2, 2e-3)
    assert (agent.pi_opt.eps, agent.v_opt.eps) == (3e-6, 3e-6)
    assert (agent.pi_opt.m.size, agent.v_opt.m.size) == (agent.phi.size, agent.theta_v.size)


def test_critic_hidden_sets_the_critics_widths_and_none_is_the_policys_bit_for_bit():
    """critic_hidden gives the critic its own widths (the policy keeps hidden's, and its phi
    stays the same draw: the policy is initialised first); critic_hidden None and
    critic_hidden = hidden make the same agent, bit for bit."""
    default = Agent.create(Config.for_algo("ppo").agent_spec(), 3, 2, np.random.default_rng(0))
    same = Agent.create(Config.for_algo("ppo", critic_hidden=(64, 64)).agent_spec(), 3, 2,
                        np.random.default_rng(0))
    wide = Agent.create(Config.for_algo("ppo", critic_hidden=(256, 256, 8)).agent_spec(), 3, 2,
                        np.random.default_rng(0))
    np.testing.assert_array_equal(same.theta_v, default.theta_v)
    np.testing.assert_array_equal(same.phi, default.phi)
    assert same.critic == default.critic and default.critic.sizes == (3, 64, 64, 1)
    assert wide.critic.sizes == (3, 256, 256, 8, 1) and wide.policy == default.policy
    np.testing.assert_array_equal(wide.phi, default.phi)
    assert wide.v_opt.m.size == wide.theta_v.size == wide.critic.n_params


def test_init_scheme_initialises_both_networks_policy_first():
    """init draws the policy's network, then the critic's, by ``nn.MLP.init``'s scheme from the
    one generator (the policy head's log sigma is log_std_init whatever the scheme)."""
    for scheme in ("orthogonal", "xavier", "torch"):
        cfg = Config.for_algo("ppo", hidden=(5,), init=scheme, log_std_init=-0.3)
        agent = Agent.create(cfg.agent_spec(), 3, 2, np.random.default_rng(4))
        rng = np.random.default_rng(4)
        phi = agent.policy.net.init(rng, output_gain=0.01, scheme=scheme)
        np.testing.assert_array_equal(agent.policy.split(agent.phi)[0], phi)
        np.testing.assert_array_equal(agent.policy.split(agent.phi)[1], [-0.3, -0.3])
        np.testing.assert_array_equal(agent.theta_v, agent.critic.init(rng, 1.0, scheme=scheme))


def test_init_scheme_reaches_the_categorical_head():
    """A categorical policy's logits network is drawn by the scheme too (the head has no log
    sigma): the same draws as ``nn.MLP.init`` with the policy head's gain 0.01, then the
    critic's, from one generator; the schemes give different parameters."""
    drawn = {}
    for scheme in ("orthogonal", "xavier", "torch"):
        cfg = Config.for_algo("ppo", hidden=(5,), init=scheme)
        agent = Agent.create(cfg.agent_spec(), 3, 4, np.random.default_rng(4), kind="categorical")
        rng = np.random.default_rng(4)
        np.testing.assert_array_equal(agent.phi, agent.policy.net.init(rng, output_gain=0.01,
                                                                       scheme=scheme))
        np.testing.assert_array_equal(agent.theta_v, agent.critic.init(rng, 1.0, scheme=scheme))
        drawn[scheme] = agent.phi
    assert not np.array_equal(drawn["orthogonal"], drawn["xavier"])
    assert not np.array_equal(drawn["xavier"], drawn["torch"])
