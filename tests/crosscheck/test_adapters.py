"""The adapters of examples/adapters/ against the real libraries: a Stable-Baselines3 PPO
MlpPolicy, an sb3-contrib TRPO MlpPolicy and a CleanRL-style agent, each in float64, give
THEIRS.npz files whose every failing key `crosscheck compare` explains with the conventions
those libraries are known to use (read from their installed source: PPO.train,
TRPO.train / hessian_vector_product / conjugate_gradient_solver, ppo_continuous_action.py),
and with those conventions applied every key passes. Needs the ``peers`` extra
(``pip install -e '.[peers]'``); without it every test here is skipped, with the reason shown
by ``pytest -ra``."""
import numpy as np
import pytest

for module in ("torch", "stable_baselines3", "sb3_contrib"):
    pytest.importorskip(module, reason=f"{module} is not installed: pip install -e '.[peers]' "
                                       "runs the adapter tests")

from refimpl import crosscheck  # noqa: E402
from refimpl.crosscheck import layout  # noqa: E402

from support.adapter_runs import failed_with as _failed_with, load as _load  # noqa: E402


def test_sb3_ppo_agrees_after_normalised_advantages_and_outside_clip_fraction(tmp_path):
    """PPO.train standardises the advantages with torch's 1/(N - 1) std and logs the
    |kappa - 1| > eps clip fraction; everything else agrees as written."""
    raw, applied = _load("sb3_ppo").run(tmp_path)
    assert _failed_with(raw) == {"clip_objective": ["advantages_normalized"],
                                 "clip_grad": ["advantages_normalized"],
                                 "clip_fraction": ["clip_fraction_outside"]}
    assert "N - 1" in next(dg.setting for dg in raw.diagnoses if dg.id == "advantages_normalized")
    assert applied.ok and not applied.diagnoses
    given = {r.key for r in applied.rows if r.status == "PASS"}
    assert {"mean", "logp", "entropy", "ratio", "clip_objective", "clip_grad", "approx_kl_k3",
            "clip_fraction_outside", "value_pred", "value_loss", "value_grad"} <= given


def test_sb3_named_parameters_order_is_diagnosed_as_its_layout(tmp_path):
    """IN written in SB3's named_parameters order (log_std first, weights (out, in)) instead of
    refimpl's: the mean disagrees and one layout diagnosis names both departures."""
    sb3_ppo = _load("sb3_ppo")
    model = sb3_ppo.build()
    inputs, at_theta = sb3_ppo.sb3_batch(model, 0, 32)
    named = [p for k, p in model.policy.named_parameters() if "value" not in k]
    wrong = np.concatenate([p.detach().numpy().reshape(-1) for p in named])
    policy = crosscheck.validate(inputs)
    np.testing.assert_array_equal(
        wrong, inputs["theta"][layout.their_order(policy, True, True, False)])
    report = crosscheck.compare({**inputs, "theta": wrong}, {"mean": at_theta["mean"]})
    assert _failed_with(report) == {"mean": ["layout"]}
    assert [dg.setting.split(":")[0] for dg in report.diagnoses] == [
        "log_std first, weights (out, in)"]


def test_sb3_contrib_trpo_agrees_after_act_dim_scale_kl_direction_and_cg_stop(tmp_path):
    """sb3-contrib's KL is averaged over the d = 6 action dimensions and runs new || old; its
    CG stops once r^T r < 1e-10; its x_0 = 1e-4 N(0, I) is a note. With IN at (d delta,
    d damping, the iterations its CG ran) and the scales undone, every key agrees."""
    reports = _load("sb3_trpo").run(tmp_path)
    expected = {"fvp": ["act_dim_scale"], "kl": ["act_dim_scale", "kl_reverse"],
                **{k: ["act_dim_scale", "cg_stop_absolute"] for k in ("cg_x", "beta", "step")}}
    assert _failed_with(reports["zero", "raw"]) == expected
    assert reports["zero", "applied"].ok
    assert _failed_with(reports["shipped", "raw"]) == expected
    shipped = _failed_with(reports["shipped", "applied"])
    assert set(shipped) <= {"cg_x", "beta", "step"} and "cg_x" in shipped
    assert all(ids == ["cg_start_nonzero"] for ids in shipped.values())


def test_cleanrl_agent_agrees_after_normalised_advantages_clip_fraction_and_truncation(tmp_path):
    """ppo_continuous_action.py standardises the advantages, logs |kappa - 1| > eps and treats a
    truncated step as terminated in its GAE; its clipped value loss and KL estimators agree."""
    raw, applied = _load("cleanrl_agent").run(tmp_path)
    assert _failed_with(raw) == {"clip_objective": ["advantages_normalized"],
                                 "clip_grad": ["advantages_normalized"],
                                 "clip_fraction": ["clip_fraction_outside"],
                                 "gae_advantages": ["truncated_as_terminated"],
                                 "returns": ["truncated_as_terminated"]}
    assert applied.ok and not applied.diagnoses
    d = dict(np.load(tmp_path / "cleanrl_in.npz"))
    v = crosscheck.compute(d)["value_pred"]
    assert np.any(np.abs(v - d["values_old"]) > d["vf_clip"]), "the value clip is exercised"
