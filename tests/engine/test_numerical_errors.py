"""Numerical failures inside training (refimpl.core.errors.NumericalError) are not user mistakes:
a NaN injected into the policy gradient g, into the Fisher-vector product or into the rewards
of update 2 stops ``refimpl train`` with exit status 1 and one stderr line naming the update,
the algorithm and the quantity, and the latest checkpoint stays that of update 1, bit for bit
what an uninterrupted run has after one update."""
import warnings

import gymnasium as gym
import numpy as np
import pytest

from refimpl.engine import checkpoint
from refimpl.algos import trpo
from refimpl.cli import main
from refimpl.core.policy import GaussianPolicy
from test_cli import NaNAfterEnv

SMALL = ["--horizon", "128", "--epochs", "1", "--vf-epochs", "1", "--no-progress"]


class NaNRewardAfterEnv(NaNAfterEnv):
    """Finite observations always; reward 1 for 150 steps, then NaN (inside update 2 at a
    horizon of 128)."""

    def step(self, action):
        self.t += 1
        return np.full(2, 0.1), np.nan if self.t > 150 else 1.0, False, False, {}


gym.register("test/NaNRewardAfter-v0", entry_point=NaNRewardAfterEnv)


class HugeRewardAfterEnv(NaNAfterEnv):
    """Reward 1 for 150 steps, then ``reward`` (inside update 2 at a horizon of 128)."""

    reward = np.inf

    def step(self, action):
        self.t += 1
        return np.full(2, 0.1), self.reward if self.t > 150 else 1.0, False, False, {}


class FiniteHugeRewardAfterEnv(HugeRewardAfterEnv):
    """Rewards of 1e308 after 150 steps: finite, but their discounted sum is not."""

    reward = 1e308


gym.register("test/InfRewardAfter-v0", entry_point=HugeRewardAfterEnv)
gym.register("test/FiniteHugeRewardAfter-v0", entry_point=FiniteHugeRewardAfterEnv)


def _nan_on_call(real, n):
    """``real`` with its n-th call (1-based) returning NaN of the same shape."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        out = real(*args, **kwargs)
        return np.full_like(out, np.nan) if len(calls) == n else out
    return wrapped


def _nan_fvp_on_call(real, n):
    """``make_fvp`` whose n-th product returns NaN: v -> NaN * v."""
    calls = []

    def make(*args, **kwargs):
        calls.append(1)
        fvp = real(*args, **kwargs)
        return (lambda v: np.full_like(v, np.nan)) if len(calls) == n else fvp
    return make


def _assert_stops_at_update_2(capsys, tmp_path, argv, match):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--steps", "384", *SMALL]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("refimpl: stopped: ") and match in err, err
    assert "latest.npz" in err and "Traceback" not in err
    latest = checkpoint.load(out / "checkpoints" / "latest.npz")
    assert int(latest["update"]) == 1
    return latest


def _one_good_update(tmp_path, argv):
    ref = tmp_path / "ref"
    assert main(["train", *argv, "--out", str(ref), "--steps", "128", *SMALL]) == 0
    return checkpoint.load(ref / "checkpoints" / "final.npz")


@pytest.mark.parametrize("algo", ["trpo", "npg"])
def test_nan_in_policy_gradient_exits_1_naming_update_and_quantity(capsys, tmp_path,
                                                                   monkeypatch, algo):
    argv = ["--algo", algo]
    good = _one_good_update(tmp_path, argv)
    monkeypatch.setattr(GaussianPolicy, "score", _nan_on_call(GaussianPolicy.score, 2))
    latest = _assert_stops_at_update_2(
        capsys, tmp_path, argv, f"the policy gradient g is not finite in update 2 ({algo})")
    np.testing.assert_array_equal(latest["phi"], good["phi"])
    np.testing.assert_array_equal(latest["theta_v"], good["theta_v"])


def test_nan_in_fisher_vector_product_exits_1_naming_update_and_quantity(capsys, tmp_path,
                                                                         monkeypatch):
    argv = ["--algo", "trpo"]
    good = _one_good_update(tmp_path, argv)
    monkeypatch.setattr(trpo, "make_fvp", _nan_fvp_on_call(trpo.make_fvp, 2))
    latest = _assert_stops_at_update_2(
        capsys, tmp_path, argv, "solving F x = g: CG: the product A p is not finite at "
        "iteration 1 (A = the damped Fisher matrix) in update 2 (trpo)")
    np.testing.assert_array_equal(latest["phi"], good["phi"])


@pytest.mark.parametrize("algo", ["trpo", "ppo"])
def test_nan_in_rewards_exits_1_naming_update_and_quantity(capsys, tmp_path, algo):
    argv = ["--algo", algo, "--env", "test/NaNRewardAfter-v0"]
    good = _one_good_update(tmp_path, argv)
    latest = _assert_stops_at_update_2(
        capsys, tmp_path, argv, f"non-finite rewards from the environment in update 2 ({algo})")
    np.testing.assert_array_equal(latest["phi"], good["phi"])


WITHOUT_WARNINGS = [  # (flags, the one line)
    (["--lr", "1e300"], "non-finite policy parameters after update 1 (ppo); no update had "
     "finished"),
    (["--log-std-init", "800"], "non-finite policy parameters after update 1 (ppo)"),
    (["--algo", "trpo", "--log-std-init", "800"], "the policy gradient g is not finite in "
     "update 1 (trpo)"),
    (["--vf-lr", "1e300"], "non-finite critic parameters after update 1 (ppo); no update had "
     "finished"),
    (["--env", "test/InfRewardAfter-v0"], "non-finite rewards from the environment in update 2 "
     "(ppo); the last good checkpoint"),
    (["--env", "test/FiniteHugeRewardAfter-v0"], "non-finite rewards from the reward normaliser "
     "(--norm-reward): the running discounted return of the environment's finite rewards (|r| "
     "up to 1e+308) overflowed in update 2 (ppo); the last good checkpoint"),
]
"""NumPy printed 2 to 10 RuntimeWarning lines before these; the critic's fit (--vf-lr) printed
them from its own process, and its line said "in update 2" of a failure in update 1; a
reward of 1e308 was blamed on the environment."""


@pytest.mark.parametrize("flags, match", WITHOUT_WARNINGS, ids=[" ".join(f) for f, _ in
                                                                 WITHOUT_WARNINGS])
def test_numerical_failure_is_its_one_line_without_numpy_warnings(capfd, tmp_path, flags, match):
    """A RuntimeWarning in this process is an error here (pytest would otherwise swallow it);
    one in the critic's or the evaluation's process reaches the file descriptor that capfd
    reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        status = main(["train", *flags, "--out", str(tmp_path / "run"), "--steps", "384",
                       *SMALL])
    err = capfd.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("refimpl: stopped: ") and match in err, err
