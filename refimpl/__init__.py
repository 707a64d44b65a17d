"""refimpl: natural policy gradient, TRPO and PPO in NumPy, verified equation by equation.

The lecture "Deep Reinforcement Learning, Advanced Algorithms (Part I)" is the specification;
the documentation site's lecture pages (``docs/lecture/``, one per section of the lecture) show
each of its equations with the function implementing it and the tests proving it.
"""
__version__ = "0.1.0"
