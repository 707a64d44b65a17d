"""refimpl: natural policy gradient, TRPO and PPO in NumPy, verified equation by equation.

The lecture "Deep Reinforcement Learning, Advanced Algorithms (Part I)" is the specification;
``docs/equations.md`` maps each of its equations to the function implementing it and the test
proving it.
"""
__version__ = "0.1.0"
