"""Independent random streams (refimpl.core.seeding): no two streams of a run, or of two seeds, share
draws, and training really draws from them."""
import numpy as np
import pytest
from gymnasium.utils.seeding import np_random
from hypothesis import given
from support.strategies import seeds

from refimpl.engine.config import Config
from refimpl.core.seeding import STREAMS, RunSeeds, reset_seed
from refimpl.engine.trainer import Run

DRAWS = 100


def _streams(seed: int, num_envs: int, episodes: int) -> dict[str, np.ndarray]:
    """The first DRAWS raw 64-bit outputs of every stream of a run: its generators, and the
    generator gymnasium builds from each reset seed (``np_random`` is what ``Env.reset(seed=)``
    calls)."""
    seeds = RunSeeds(seed)
    out = {f"{seed}/{name}": seeds.generator(name) for name in STREAMS
           if name not in ("envs", "evaluation")}
    out.update({f"{seed}/env{i}": np_random(s)[0] for i, s in enumerate(seeds.env_seeds(num_envs))})
    out.update({f"{seed}/eval{j}": np_random(s)[0]
                for j, s in enumerate(seeds.evaluation_seeds(episodes))})
    return {k: g.bit_generator.random_raw(DRAWS) for k, g in out.items()}


def test_no_two_streams_of_seeds_0_and_1_share_a_draw():
    """Seeds 0 and 1 with 16 environments and 10 evaluation episodes: 2 x 29 streams. A shared
    64-bit draw would reveal a shared or shifted stream (as environment 1 of seed 0 and
    environment 0 of seed 1 are with reset seeds seed + i); for independent streams the chance
    of any collision among these 5,800 draws is about 5800^2 / 2^65 ~ 1e-12."""
    streams = {**_streams(0, 16, 10), **_streams(1, 16, 10)}
    assert len(streams) == 2 * (3 + 16 + 10)
    owner = {}
    for name, draws in streams.items():
        for x in draws:
            assert owner.setdefault(int(x), name) == name, f"{name} and {owner[int(x)]} share a draw"


def test_a_stream_depends_only_on_the_seed_and_its_position():
    """Environment i's reset seed does not depend on the number of environments, so adding
    environments leaves the others' streams alone; each call gives the same generator."""
    seeds = RunSeeds(3)
    assert seeds.env_seeds(16)[:4] == seeds.env_seeds(4)
    assert seeds.evaluation_seeds(10)[:5] == seeds.evaluation_seeds(5)
    a, b = seeds.generator("actions"), seeds.generator("actions")
    assert np.array_equal(a.random(5), b.random(5))
    with pytest.raises(ValueError, match="env_seeds"):
        seeds.generator("envs")


def test_training_draws_from_the_run_streams(tmp_path):
    """A Run initialises its weights from the "weights" stream, resets environment i with
    env_seeds[i], and draws action noise and update randomness from their own streams (not a
    generator shared with the environments)."""
    cfg = Config.for_algo("ppo", env="refimpl/LQ-Lecture-v0", hidden=(), num_envs=3, horizon=8,
                          minibatch=8, vf_minibatch=8, steps=24, seed=5)
    run = Run(cfg, tmp_path / "r")
    seeds = RunSeeds(5)
    envs = run.collector.envs.envs
    assert [e.unwrapped.np_random_seed for e in envs] == seeds.env_seeds(3)
    expected = run.agent.policy.init(seeds.generator("weights"), cfg.log_std_init)
    assert np.array_equal(run.agent.phi, expected)
    for name, rng in run.generators().items():
        assert rng.bit_generator.state == seeds.generator(name).bit_generator.state
    run.close()



@given(seeds)
def test_reset_seed_is_the_sequences_first_128_bits(seed):
    """reset_seed joins four 32-bit words; SeedSequence also hands the same bits out as two
    64-bit words (little-endian pairs of its 32-bit words, numpy's documented layout), so the
    integer must equal w0 + 2^64 w1 of those, and lie in [0, 2^128)."""
    seq = np.random.SeedSequence(seed)
    w0, w1 = (int(w) for w in seq.generate_state(2, np.uint64))
    assert reset_seed(seq) == w0 + (w1 << 64)
    assert 0 <= reset_seed(seq) < 2 ** 128
