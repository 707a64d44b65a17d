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
