"""Cross-check Tianshou's TRPO against refimpl, in float64.

    python examples/adapters/tianshou_trpo.py OUT_DIR

Builds Tianshou 2.0.1's ``TRPO`` on HalfCheetah-v5 (act_dim 6; max_kl 0.01, backtrack_coeff
0.8, max_backtracks 10, the defaults of the class and of its MuJoCo script), runs its own
``_preprocess_batch`` and one ``_update_with_batch`` on N = 32 states in float64, and writes
``tianshou_trpo_in.npz`` / ``tianshou_trpo_theirs.npz`` to OUT_DIR. As for NPG
(tianshou_npg.py; TRPO inherits ``_MVP`` and ``_conjugate_gradients``) mean, logp, entropy,
grad, fvp, cg_x, cg_iterations_run and value_* are recorded from Tianshou's own calls; here
``grad`` is the gradient of its surrogate -(ratio A).mean() at theta (trpo.py:136-141), and
the line search is recorded too: ``step`` = its first candidate minus theta (trpo.py:168, the
full step step_size * search_direction), ``beta`` = step^T x / x^T x (its ``step_size``, a
local), ``ls_fractions`` = each candidate's step over the first, ``ls_kls`` = its
KL(old || new) at each candidate (trpo.py:177, the mean over states it takes),
``ls_accepted`` (the last candidate, unless it logged step_size 0), ``ls_theta`` = the
parameters it ends with, which are IN's theta_new, so that its logged ``kl`` and the ratio of
its last candidate (trpo.py:172-173) are refimpl's ``kl`` and ``ratio``.

Tianshou's conventions, from its source (tianshou 2.0.1), besides NPG's (advantages centred
and divided by the 1/(N - 1) std without epsilon, npg.py:137; KL(old || new) averaged over
states; damping inside ``_MVP``; CG from 0 stopped by r^T r < 1e-10):

* trpo.py:136 and 173: ``ratio = (dist.log_prob(act) - logp_old).exp().float()``, a float32
  cast in a float64 run; it rounds the ratio, and backwards the gradient reaching it, to
  float32 (2^-24 relative): grad, cg_x, beta, step, ratio and ls_theta move by 1e-9 to 1e-7
  relative, far above refimpl's 1e-10;
* trpo.py:153-160: step_size = sqrt(2 max_kl / (s^T (F + lambda I) s)), s the search
  direction (the damped product: refimpl's x^T g up to rounding);
* trpo.py:179: a candidate is accepted when kl < max_kl and the new loss is below the old
  (refimpl: KL <= delta and improvement > 0; they differ only at equality).

Two comparisons: raw, Tianshou as shipped against IN as refimpl reads it (the advantages as
drawn): grad, cg_x, beta, step, ratio and the line search keys fail; applied, the ratio cast
removed (``_tianshou.ratio_float(keep=False)``) and IN with its normalised advantages (its own
``batch.adv``) and cg_iters = the iterations its CG ran: every key passes.
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
    from tianshou.algorithm import TRPO
    algo, inputs, batch, theirs, recorder, stats, ratios = _tianshou.natural_update(
        TRPO, seed, n, keep_cast)
    # the line search writes each candidate, and theta again if it accepts none
    accepted = stats.step_size.mean != 0
    steps = _tianshou.written_steps(algo, inputs, recorder)[:None if accepted else -1]
    assert len(ratios) == 1 + len(steps) == len(recorder.kls), "ratio at theta, then one each"
    step, x = steps[0], theirs["cg_x"]
    inputs = {**inputs, "theta_new": _tianshou.theta_of(algo),
              "delta": np.float64(algo.max_kl),
              "backtrack_alpha": np.float64(algo.backtrack_coeff),
              "backtrack_iters": np.int64(algo.max_backtracks)}
    theirs = {**theirs, "step": step, "beta": np.float64(step @ x / (x @ x)),
              "ls_fractions": np.array([s @ step / (step @ step) for s in steps]),
              "ls_kls": np.array([kl.mean().item() for kl in recorder.kls[1:]]),
              "ls_accepted": np.arange(len(steps)) == (len(steps) - 1 if accepted else -1),
              "ls_theta": inputs["theta_new"]}
    if accepted:  # theta_new is the accepted candidate, where it logged its kl
        theirs.update(kl=np.float64(stats.kl.mean), ratio=ratios[-1])
    applied = {**inputs, "advantages": batch.adv.numpy(), "cg_iters": theirs["cg_iterations_run"]}
    return inputs, theirs, applied


def run(out_dir, seed=0, n=32):
    """(report as written, report with Tianshou's conventions applied)."""
    return _tianshou.reports(out_dir, "tianshou_trpo", theirs_and_inputs, seed, n)


if __name__ == "__main__":
    sys.exit(_common.main(__doc__, run, "Tianshou TRPO"))
