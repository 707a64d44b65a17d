"""The Tianshou adapters of examples/adapters/ (tianshou_npg.py, tianshou_trpo.py,
tianshou_ppo.py) against Tianshou 2.0.1's own NPG, TRPO and PPO in float64: which keys fail
as Tianshou ships them, and that with its conventions matched (the ratio's float32 cast
removed, the advantages normalised its way, NPG's fixed step as a delta) every key agrees
with refimpl to 1e-12, and which diagnoses compare names for the conventions as shipped
(``advantages_normalized``, ``npg_fixed_step``, ``float32_cast``). Source lines cited are of the
installed tianshou 2.0.1. Needs the
``tianshou`` extra (``pip install -e '.[tianshou]'``); without it every test here is skipped,
with the reason shown by ``pytest -ra``.

Tolerances. Two float64 implementations of the same formula differ by about n eps S
(docs/crosscheck/reference.md, "How to compare"): here n = P + N + 16 = 324 (P = 276 parameters,
N = 32 states), n eps = 7e-14 relative to S, and S / max|value| is at most about 10 for the
cancelling keys (kl, clip_objective), so 1e-12 (``MATCHED``) bounds every key once the
conventions match, with a margin of 1.4 over the worst case. Each convention moves some key by
far more: the float32 ratio cast by 1e-9 or more (it rounds by up to 2^-24 = 6e-8 relative),
the advantage normalisation and the fixed step by 1e-2 or more."""
import numpy as np
import pytest

for module in ("torch", "tianshou"):
    pytest.importorskip(module, reason=f"{module} is not installed: pip install -e '.[tianshou]' "
                                       "runs the Tianshou adapter tests")

import torch  # noqa: E402

from refimpl import crosscheck  # noqa: E402

from support.adapter_runs import failed_with, load  # noqa: E402

npg, trpo, ppo = map(load, ("tianshou_npg", "tianshou_trpo", "tianshou_ppo"))
import _common  # noqa: E402  (load put examples/adapters on sys.path)
import _tianshou as helper  # noqa: E402

MATCHED = 1e-12
"""Largest norm-wise relative error of any key once Tianshou's conventions match (above)."""
U32 = 2.0 ** -24
"""float32's unit roundoff: a float64 value cast to float32 moves by at most U32 of itself."""
CAST_RANGE = (1e-10, 1e-6)
"""Norm-wise relative error of a key on the path of the float32 ratio cast: above refimpl's
float64 tolerance (1e-10), below 16 U32 = 1e-6 (each of its terms moves by at most U32; a
norm-wise error exceeds that only through cancellation, a factor of 10 for clip_objective
here), and far below any convention (1e-2 and more)."""


TIANSHOU_NPG_ADV = "(A - mean A) / std (no epsilon), var with 1/(N - 1)"
"""The setting of ``advantages_normalized`` that is npg.py:137's (adv - mean) / adv.std()."""
TIANSHOU_PPO_ADV = "(A - mean A) / (std + 1e-8), var with 1/(N - 1)"
"""The setting that is ppo.py:185-186's (A - mean) / (std + 1e-8), a2c.py:113's epsilon."""


def _settings(report, id_):
    return [dg.setting for dg in report.diagnoses if dg.id == id_]


def _assert_n_minus_1_among(report, variant):
    """Every ``advantages_normalized`` setting names torch's 1/(N - 1) std only (the 1/N one
    moves the advantages by sqrt(N / (N - 1)) - 1 = 1.6%, far outside the cast's rounding)
    and lists ``variant``. Under the float32 cast it may list the other places of the 1e-8 as
    well: they move the advantages by ~1e-8 relative, as much as the cast moves the keys, so
    compare names all three as indistinguishable (below)."""
    settings = _settings(report, "advantages_normalized")
    assert settings
    for setting in settings:
        assert variant in setting and "var with 1/N " not in setting, setting


def _given(report):
    return {r.key for r in report.rows if r.status != "not given"}


def _assert_matched(report, keys):
    """Every key passes with no diagnosis, within MATCHED, and ``keys`` are among those given."""
    assert report.ok and not report.diagnoses, crosscheck.format_report(report)
    assert keys <= _given(report)
    worst = max(_common.errors(report).items(), key=lambda kv: kv[1])
    assert worst[1] < MATCHED, worst


NATURAL_KEYS = {"mean", "logp", "entropy", "kl", "grad", "fvp", "cg_x", "cg_iterations_run",
                "beta", "step", "value_pred", "value_loss", "value_grad"}


def test_float64_patch_is_needed_and_changes_only_the_cast():
    """MLP.forward (common.py:175) and ContinuousCritic.forward (continuous.py:152-165) cast to
    float32, so a float64 network fails outside ``float64_forward``; inside it the actor and
    critic run in float64, and the shipped methods are back afterwards."""
    from tianshou.algorithm import PPO
    from tianshou.utils.net.common import MLP
    from tianshou.utils.net.continuous import ContinuousCritic
    forwards = (MLP.forward, ContinuousCritic.forward)
    algo = helper.build(PPO)
    obs = torch.zeros(3, 17, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="dtype"):
        algo.policy.actor(obs)
    with helper.float64_forward():
        (mu, sigma), _ = algo.policy.actor(obs)
        value = algo.critic(obs)
    assert mu.dtype == sigma.dtype == value.dtype == torch.float64
    assert (MLP.forward, ContinuousCritic.forward) == forwards


def test_ratio_float_records_and_keeps_or_removes_the_cast():
    """``ratio_float(keep=True)`` is the shipped float32 cast, recorded; ``keep=False`` returns
    the float64 tensor itself; ``Tensor.float`` is torch's own again afterwards."""
    t = torch.tensor([1 / 3, 2 / 3], dtype=torch.float64)
    with helper.ratio_float(keep=True) as calls:
        assert t.float().dtype == torch.float32
    assert calls[0].dtype == np.float64 and np.all(calls[0] != t.numpy())
    np.testing.assert_array_equal(calls[0], t.numpy().astype(np.float32))
    with helper.ratio_float(keep=False) as calls:
        assert t.float() is t
    np.testing.assert_array_equal(calls[0], t.numpy())
    assert t.float().dtype == torch.float32


def test_tianshou_flat_order_is_log_std_first_and_diagnosed_as_its_layout():
    """``actor.parameters()`` (the order of ``_get_flat_grad``, npg.py:226-228) puts
    ``sigma_param`` first (continuous.py:213) and each weight as (out, in): ``to_theirs`` is
    exactly that order, and IN written in it is diagnosed as one layout with both departures."""
    from tianshou.algorithm import NPG
    algo = helper.build(NPG)
    actor = algo.policy.actor
    theta = helper.theta_of(algo)
    theirs_order = torch.cat([p.detach().reshape(-1) for p in actor.parameters()]).numpy()
    np.testing.assert_array_equal(helper.to_theirs(algo, theta).numpy(), theirs_order)
    np.testing.assert_array_equal(theirs_order[:6], actor.sigma_param.detach().numpy()[:, 0])
    inputs, theirs, _ = npg.theirs_and_inputs()
    report = crosscheck.compare({**inputs, "theta": theirs_order}, {"mean": theirs["mean"]})
    assert failed_with(report) == {"mean": ["layout"]}
    assert [dg.setting.split(":")[0] for dg in report.diagnoses] == [
        "log_std first, weights (out, in)"]


def test_npg_fails_on_normalised_advantages_and_fixed_step_and_agrees_applied(tmp_path):
    """As written, NPG's normalised advantages (npg.py:137) move grad and cg_x, named
    ``advantages_normalized`` with exactly its setting (the eps-free 1/(N - 1) std: no cast
    here, so the 1e-8 of the other variants, ~1e-8 relative, is far outside the float64
    tolerances); its step trust_region_size x (npg.py:174) is ``npg_fixed_step`` with
    alpha = 0.1 on the normalised advantages' x, and its beta, the same alpha, is named
    ``npg_fixed_step`` too. With its batch.adv in IN and delta = alpha^2 x^T g / 2, every key
    matches."""
    raw, applied = npg.run(tmp_path)
    assert failed_with(raw) == {"grad": ["advantages_normalized"],
                                "cg_x": ["advantages_normalized"], "beta": ["npg_fixed_step"],
                                "step": ["advantages_normalized", "npg_fixed_step"]}
    assert raw.ids() == {"advantages_normalized", "npg_fixed_step"}
    (adv,) = _settings(raw, "advantages_normalized")
    assert adv == f"set IN's advantages to {TIANSHOU_NPG_ADV} (torch's std)"
    (step,) = _settings(raw, "npg_fixed_step")
    assert step.startswith(f"step = alpha * cg_x, alpha = {npg.TRUST_REGION_SIZE:g} ")
    assert adv in step, "alpha times the x of the normalised advantages"
    assert min(_common.errors(raw)[k] for k in ("grad", "cg_x", "beta", "step")) > 1e-2
    _assert_matched(applied, NATURAL_KEYS)
    d = dict(np.load(tmp_path / "tianshou_npg_applied_in.npz"))
    assert d["cg_iters"] == 10, "CG ran its nsteps = 10 (npg.py:167): no absolute stop here"


def test_npg_advantages_are_centred_and_divided_by_the_n_minus_1_std_without_eps():
    """npg.py:137, ``(adv - adv.mean()) / adv.std()``: with exactly that (numpy, ddof=1) grad
    matches; the nearby variants do not: no centring (a / std), the 1/N std, or an epsilon of
    1e-8 added to the std (another ``advantages_normalized`` setting), which moves grad by
    1e-8 / std, about 1e-8, a hundred times refimpl's tolerance."""
    inputs, theirs, _ = npg.theirs_and_inputs()
    a = inputs["advantages"]
    variants = {"tianshou": (a - a.mean()) / a.std(ddof=1), "uncentred": a / a.std(ddof=1),
                "population std": (a - a.mean()) / a.std(),
                "eps 1e-8": (a - a.mean()) / (a.std(ddof=1) + 1e-8)}
    err = {name: crosscheck.compare({**inputs, "advantages": adv}, theirs, only=["grad"])
           for name, adv in variants.items()}
    assert err["tianshou"].ok and _common.errors(err["tianshou"])["grad"] < MATCHED
    for name in ("uncentred", "population std", "eps 1e-8"):
        assert err[name].failed == ["grad"], name
    assert 1e-9 < _common.errors(err["eps 1e-8"])["grad"] < 1e-7


TRPO_CAST_PATH = {"grad", "cg_x", "beta", "step", "ratio", "ls_kls", "ls_theta"}
"""TRPO's keys that the ratio's float32 cast reaches (trpo.py:136 feeds g, trpo.py:173 the
ratio at theta_new; the line search follows the step)."""


def test_trpo_fails_as_shipped_and_agrees_with_its_conventions_applied(tmp_path):
    """As shipped, the normalised advantages and the float32 ratio cast move grad, cg_x, beta,
    step and the line search, named ``advantages_normalized`` with ``float32_cast``, and the
    cast alone the ratio, named ``float32_cast`` (theta_new is its accepted candidate). The
    setting is torch's 1/(N - 1) std; where the 1e-8 sits (npg.py:137 has none) moves the keys
    by ~1e-8 relative, no more than the cast does, so compare lists the three places as
    indistinguishable. ls_kls needs no cast: the cast moves a KL by 1e-10 relative here, at its
    tolerance (so either naming is right). Without the cast and with its batch.adv every key
    matches, the line search included."""
    raw, applied = trpo.run(tmp_path)
    failed = failed_with(raw)
    assert set(failed) == TRPO_CAST_PATH
    assert failed.pop("ratio") == ["float32_cast"]
    assert failed.pop("ls_kls") in (["advantages_normalized"],
                                    ["advantages_normalized", "float32_cast"])
    assert all(ids == ["advantages_normalized", "float32_cast"] for ids in failed.values()), failed
    _assert_n_minus_1_among(raw, TIANSHOU_NPG_ADV)
    _assert_matched(applied, NATURAL_KEYS | {"ratio", "ls_fractions", "ls_kls", "ls_accepted",
                                             "ls_theta"})
    d = dict(np.load(tmp_path / "tianshou_trpo_applied_theirs.npz"))
    assert d["ls_accepted"].tolist() == [True], "its full step was accepted"


def test_trpo_ratio_cast_alone_moves_the_keys_on_its_path_by_float32_rounding():
    """Tianshou as shipped against IN with its conventions otherwise matched: exactly the keys
    the cast reaches fail, by CAST_RANGE, each named ``float32_cast`` and nothing else; the
    ratio by at most U32 of itself elementwise; every other key still matches."""
    _, theirs, applied = trpo.theirs_and_inputs(keep_cast=True)
    report = crosscheck.compare(applied, theirs)
    err = _common.errors(report)
    assert {"grad", "cg_x", "beta", "step", "ratio"} <= set(report.failed) <= TRPO_CAST_PATH
    failed = failed_with(report)
    assert all(ids == ["float32_cast"] for ids in failed.values()), failed
    assert report.ids() == {"float32_cast"}
    for key in report.failed:
        assert CAST_RANGE[0] < err[key] < CAST_RANGE[1], (key, err[key])
    ours = crosscheck.compute(applied)["ratio"]
    assert np.all(np.abs(theirs["ratio"] - ours) <= U32 * ours + 1e-15)
    assert max(e for k, e in err.items() if k not in TRPO_CAST_PATH) < MATCHED


def test_ppo_fails_as_shipped_and_agrees_with_its_conventions_applied(tmp_path):
    """As shipped, PPO's float32 ratio (ppo.py:187) moves the ratio, named ``float32_cast``,
    and, with its normalised advantages (ppo.py:185-186), clip_objective and clip_grad, named
    ``advantages_normalized`` with ``float32_cast`` (torch's 1/(N - 1) std; the 1e-8's place is
    below the cast's resolution, so listed with the other two); without the cast and with IN's
    advantages normalised its way, every key matches."""
    raw, applied = ppo.run(tmp_path)
    cast_and_adv = ["advantages_normalized", "float32_cast"]
    assert failed_with(raw) == {"ratio": ["float32_cast"], "clip_objective": cast_and_adv,
                                "clip_grad": cast_and_adv}
    _assert_n_minus_1_among(raw, TIANSHOU_PPO_ADV)
    _assert_matched(applied, {"mean", "logp", "entropy", "ratio", "clip_objective", "clip_grad",
                              "value_pred", "value_loss", "value_grad"})


def test_ppo_without_the_cast_is_diagnosed_as_normalised_advantages():
    """With the cast removed and IN's advantages as drawn, only clip_objective and clip_grad
    fail, named ``advantages_normalized`` with exactly Tianshou's (A - mean) / (std + 1e-8),
    torch's 1/(N - 1) std (ppo.py:186, a2c.py:113): without the cast the other places of the
    1e-8 (~1e-8 relative) are far outside the float64 tolerances."""
    inputs, theirs, _ = ppo.theirs_and_inputs(keep_cast=False)
    report = crosscheck.compare(inputs, theirs)
    assert failed_with(report) == {"clip_objective": ["advantages_normalized"],
                                   "clip_grad": ["advantages_normalized"]}
    (diagnosis,) = report.diagnoses
    assert diagnosis.setting == f"set IN's advantages to {TIANSHOU_PPO_ADV} (torch's std)"


def test_ppo_ratio_cast_alone_moves_ratio_and_clip_keys_by_float32_rounding():
    """Tianshou as shipped against IN with its advantages matched: ratio, clip_objective and
    clip_grad fail, by CAST_RANGE, each named ``float32_cast``. Each ratio moves by at most U32
    of itself; each term of L_CLIP is the rounded kappa_n A_n or its clip (1 +- eps rounded)
    A_n, so L_CLIP moves by at most U32 mean((|kappa_n| + 1 + eps) |A_n|)."""
    _, theirs, applied = ppo.theirs_and_inputs(keep_cast=True)
    report = crosscheck.compare(applied, theirs)
    assert failed_with(report) == {k: ["float32_cast"]
                                   for k in ("ratio", "clip_objective", "clip_grad")}
    err = _common.errors(report)
    for key in report.failed:
        assert CAST_RANGE[0] < err[key] < CAST_RANGE[1], (key, err[key])
    ours = crosscheck.compute(applied)
    kappa, a = ours["ratio"], applied["advantages"]
    assert np.all(np.abs(theirs["ratio"] - kappa) <= U32 * kappa + 1e-15)
    bound = U32 * np.mean((np.abs(kappa) + 1 + applied["clip_eps"]) * np.abs(a))
    assert abs(theirs["clip_objective"] - ours["clip_objective"]) <= bound + 1e-15
