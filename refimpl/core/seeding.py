"""The random streams of one run, all derived from ``numpy.random.SeedSequence(seed)``.

A run draws random numbers for five purposes, and each has a stream of its own::

    weights      the initial policy and critic parameters (``Agent.create``)
    actions      the action noise of data collection (``Collector.collect``)
    update       the update's own draws: PPO's minibatch permutations, TRPO/NPG's Fisher
                 subsampling (an algorithm uses one of the two)
    envs         one child per training environment, whose entropy seeds its ``reset``
    evaluation   the reset seeds of the evaluation episodes during training

``SeedSequence.spawn`` makes the children, and a child's stream is a function of the seed and its
position only. So the streams of one run share nothing with each other, the streams of two seeds
share nothing either, and environment i's stream does not depend on how many environments there
are. (Seeding environment i with ``seed + i`` and the agent with ``default_rng(seed)``, as is
common, gives environment 0 and the agent one bitstream, since gymnasium's ``np_random(s)`` is
``PCG64(SeedSequence(s))``, and makes seeds s and s + 1 share all but one environment.)

Tested in ``tests/core/test_seeding.py``: no raw 64-bit draw among the first 100 of every stream of
seeds 0 and 1 with 16 environments appears in two streams.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STREAMS = ("weights", "actions", "update", "envs", "evaluation")
"""The children of ``SeedSequence(seed)``, in spawn order; never reorder (it would change every
run's numbers), only append."""


def reset_seed(seq: np.random.SeedSequence) -> int:
    """A 128-bit integer drawn from ``seq``, for ``env.reset(seed=...)`` (gymnasium takes an int,
    and builds the environment's generator as ``PCG64(SeedSequence(that int))``)."""
    words = seq.generate_state(4, np.uint32)
    return sum(int(w) << (32 * i) for i, w in enumerate(words))


@dataclass(frozen=True)
class RunSeeds:
    """The seed sequences of one run; see the module docstring for what each is for."""

    seed: int

    def _child(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.seed).spawn(len(STREAMS))[STREAMS.index(name)]

    def generator(self, name: str) -> np.random.Generator:
        """A fresh ``numpy.random.Generator`` on stream ``name`` (one of STREAMS except "envs")."""
        if name == "envs":
            raise ValueError("the environments' streams are reset seeds: use env_seeds")
        return np.random.default_rng(self._child(name))

    def env_seeds(self, num_envs: int) -> list[int]:
        """Reset seeds of training environments 0 .. num_envs - 1."""
        return [reset_seed(s) for s in self._child("envs").spawn(num_envs)]

    def evaluation_seeds(self, episodes: int) -> list[int]:
        """Reset seeds of the evaluation episodes; every evaluation of the run uses the same ones,
        so two evaluations differ only by the policy (common random numbers)."""
        return [reset_seed(s) for s in self._child("evaluation").spawn(episodes)]
