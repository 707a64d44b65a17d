"""Cross-check Tianshou's PPO against refimpl, in float64.

    python examples/adapters/tianshou_ppo.py OUT_DIR

Builds Tianshou 2.0.1's ``PPO`` on HalfCheetah-v5 as its MuJoCo script builds it
(``_tianshou.build``; eps_clip 0.2, vf_coef 0.25, ent_coef 0, no value clipping, advantage
normalisation on), runs its own ``_preprocess_batch`` at theta (``logp_old``, the critic's
``v_s``) and then, with the actor at theta_new = theta + 0.05 N(0, I), one
``_update_with_batch`` (one repetition, the whole batch as one minibatch) in float64, and writes
``tianshou_ppo_in.npz`` / ``tianshou_ppo_theirs.npz`` to OUT_DIR. The keys are what Tianshou's
code computed: mean, logp, entropy from its policy's distribution at theta; ``ratio`` as
ppo.py:187 computes it (recorded by ``_tianshou.ratio_float``); ``clip_objective`` = -its logged
``actor_loss`` (the clip loss, ppo.py:196); ``clip_grad`` = -the actor's gradient its loss
left for ``optim.step`` (the optimizer does not step; ``max_grad_norm`` None, so no clipping;
ent_coef 0, so the actor's gradient is the clip loss's alone); ``value_pred`` its critic at
obs; ``value_loss`` = its ``vf_loss`` / 2 and ``value_grad`` = the critic's gradient /
(2 vf_coef): refimpl's L_V has the 1/2, Tianshou's (ret - V)^2 mean (ppo.py:208) none.
Float64 and the parameter layout: ``_tianshou``'s docstring.

Tianshou's conventions, from its source (tianshou 2.0.1):

* ppo.py:184-186 with a2c.py:113 (``self._eps = 1e-8``): per minibatch
  ``(advantages - mean) / (std + self._eps)``, torch's 1/(N - 1) std, epsilon outside the
  square root;
* ppo.py:187: ``ratios = (dist.log_prob(act) - logp_old).exp().float()``, a float32 cast in
  a float64 run: the ratio, clip_objective and clip_grad move by 1e-9 to 1e-6 relative, far
  above refimpl's 1e-10;
* ppo.py:189-196: -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A).mean(): refimpl's L_CLIP.

Two comparisons: raw, Tianshou as shipped against IN as refimpl reads it (the advantages as
drawn): ratio, clip_objective and clip_grad fail; applied, the ratio cast removed
(``_tianshou.ratio_float(keep=False)``) and IN's advantages standardised as ppo.py:185-186
does (``_common.torch_standardize`` is that torch expression, with Tianshou's epsilon): every
key passes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _tianshou  # noqa: E402


def theirs_and_inputs(seed=0, n=32, keep_cast=True):
    """(IN, THEIRS, IN with Tianshou's conventions); ``keep_cast`` keeps the ratio's float32
    cast (as shipped)."""
    from tianshou.algorithm import PPO
    algo = _tianshou.build(PPO, seed, eps_clip=0.2, vf_coef=0.25, ent_coef=0.0,
                           max_grad_norm=None, value_clip=False, advantage_normalization=True)
    with _tianshou.float64_forward():
        inputs, batch, at_theta = _tianshou.preprocess(algo, seed, n)
        _tianshou.load_theta(algo, inputs["theta_new"])
        stats, ratios = _tianshou.update(algo, batch, keep_cast)
    assert len(ratios) == 1, "one ratio (ppo.py:187) for the one minibatch"
    actor = algo.policy.actor
    inputs = {**inputs, "clip_eps": np.float64(algo.eps_clip)}
    theirs = {**at_theta, "ratio": ratios[0],
              "clip_objective": np.float64(-stats.actor_loss.mean),
              "clip_grad": -_common.flat_grad(_tianshou.linears(actor), [actor.sigma_param]),
              **_tianshou.critic_keys(algo, stats.vf_loss.mean, algo.vf_coef)}
    assert algo._eps == 1e-8, "torch_standardize's epsilon"
    applied = {**inputs, "advantages": _common.torch_standardize(inputs["advantages"])}
    return inputs, theirs, applied


def run(out_dir, seed=0, n=32):
    """(report as written, report with Tianshou's conventions applied)."""
    return _tianshou.reports(out_dir, "tianshou_ppo", theirs_and_inputs, seed, n)


if __name__ == "__main__":
    sys.exit(_common.main(__doc__, run, "Tianshou PPO"))
