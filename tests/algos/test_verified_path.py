"""Every public function of the math core and the middle layer that training calls is named in
a test: short runs of every algorithm (and of the options that switch code paths), with the
Gaussian and the categorical policy head, are traced,
and each refimpl function they call must appear, by name, in some tests/test_*.py file.

Naming is not proving, but it keeps the promise checkable: a new function on the training path
without a test of its own fails here. The I/O edge (command line, run directory, checkpoints,
environment creation, plotting) is excluded; its failure cases are tested in test_bad_input.py,
test_bad_files.py and test_faults.py.
"""
import re
import sys
from pathlib import Path

from refimpl.engine.config import Config
from refimpl.engine.trainer import train

TESTS = Path(__file__).resolve().parents[1]
PROVED_MODULES = re.compile(r"refimpl\.(core\.\w+|algos\.\w+|envs\.rollout)$")
PATHS = [("ppo", dict(target_kl=0.01, vf_clip=0.2, ent_coef=0.01)), ("ppo", dict(norm_adv=False)),
         ("trpo", dict(fvp_fraction=0.5)), ("npg", dict(npg_step="fixed")), ("npg", {}),
         ("vpg", {}), ("ppo", dict(env="CartPole-v1", num_envs=2, ent_coef=0.01)),
         ("trpo", dict(env="CartPole-v1", vf_minibatch=64))]
"""(algorithm, options) of the traced runs: every branch of the updates that a flag selects, and
the categorical head (CartPole-v1's Discrete actions) through PPO with its entropy bonus and
through TRPO (NPG's and VPG's policy code is TRPO's and PPO's)."""


def _functions_training_calls(tmp_path) -> set[tuple[str, str]]:
    called = set()

    def profile(frame, event, arg):
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if PROVED_MODULES.match(module):
                called.add((module, frame.f_code.co_qualname))
    sys.setprofile(profile)
    try:
        for i, (algo, options) in enumerate(PATHS):
            cfg = Config.for_algo(algo, steps=256, horizon=128, epochs=2, vf_epochs=1,
                                  minibatch=64, cg_iters=3, **options)
            train(cfg, tmp_path / f"run{i}", progress=False)
    finally:
        sys.setprofile(None)
    return called


def test_every_public_function_training_calls_is_named_in_a_test(tmp_path):
    called = _functions_training_calls(tmp_path)
    public = {(m, q) for m, q in called
              if not any(part.startswith("_") or "<" in part for part in q.split("."))}
    assert len(public) > 40, "the trace should see the whole training path"
    text = "".join(p.read_text() for p in TESTS.rglob("test_*.py") if p.name != Path(__file__).name)
    unnamed = sorted(f"{m}.{q}" for m, q in public
                     if not re.search(rf"\b{re.escape(q.split('.')[-1])}\b", text))
    assert unnamed == [], f"called by training but named in no test: {unnamed}"
