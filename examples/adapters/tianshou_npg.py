"""Cross-check Tianshou's NPG against refimpl, in float64.

    python examples/adapters/tianshou_npg.py OUT_DIR

Builds Tianshou 2.0.1's ``NPG`` on HalfCheetah-v5 (act_dim 6) as its MuJoCo script builds it
(``_tianshou.build``; trust_region_size 0.1, the step of refimpl's ``tianshou`` preset), runs
its own ``_preprocess_batch`` and one ``_update_with_batch`` on N = 32 states in float64, and
writes ``tianshou_npg_in.npz`` / ``tianshou_npg_theirs.npz`` to OUT_DIR. Every key is what
Tianshou's code computed (``_tianshou.NaturalRecorder``): mean, logp (``logp_old``), entropy
from its policy's distribution; ``grad`` = -(the input of ``_conjugate_gradients``), the
gradient of its actor loss -(logp A).mean() (npg.py:155-158); ``fvp`` from ``_MVP`` with
``_damping`` 0; ``cg_x`` = -(the output of ``_conjugate_gradients``) and its number of
``_MVP`` products; ``step`` = what ``_set_from_flat_params`` wrote minus theta; ``beta`` =
trust_region_size; ``kl`` its logged KL(old || new) at the parameters it moved to, which are
IN's theta_new; ``value_*`` from its critic and its critic loss ``F.mse_loss`` (halved: refimpl's
L_V has the 1/2). Float64 and the parameter layout: ``_tianshou``'s docstring (the patches
Tianshou needs).

Tianshou's conventions, from its source (tianshou 2.0.1):

* npg.py:136-137: ``batch.adv = (batch.adv - batch.adv.mean()) / batch.adv.std()``: advantages
  centred and divided by torch's 1/(N - 1) standard deviation, with no epsilon;
* npg.py:164: ``kl_divergence(old_dist, dist).mean()``, KL(old || new) of the
  ``Independent(Normal)`` (summed over action dimensions), averaged over the states: refimpl's;
* npg.py:195-200: ``_MVP`` returns the Hessian-vector product of that KL plus
  ``v * self._damping``, damping inside the product, ``_damping`` = 0.1 fixed (npg.py:121);
* npg.py:202-224: CG from x = 0 (npg.py:209), at most ``nsteps`` = 10 (npg.py:167), stopped
  once the new r^T r < ``residual_tol`` = 1e-10 (npg.py:207, 220), an absolute test;
* npg.py:167, 174: search_direction = -CG(-g) = (F + 0.1 I)^-1 g, step = trust_region_size *
  search_direction: a fixed multiple of x, no sqrt(2 delta / x^T g) normalisation.

Two comparisons: raw, IN as refimpl reads it (the advantages as drawn, delta 0.01): ``grad``,
``cg_x``, ``step`` and ``beta`` fail; applied, IN with Tianshou's conventions: its normalised
advantages (the ``batch.adv`` its ``_preprocess_batch`` produced), cg_iters = the iterations
its CG ran, and delta = alpha^2 (x^T g) / 2 with alpha = trust_region_size and x, g its own,
the delta at which refimpl's step sqrt(2 delta / x^T g) x is alpha x: every key passes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _tianshou  # noqa: E402

TRUST_REGION_SIZE = 0.1
"""NPG's fixed step alpha (refimpl's ``tianshou`` preset: npg_alpha 0.1; the class default is
0.5)."""


def theirs_and_inputs(seed=0, n=32, keep_cast=True):
    """(IN, THEIRS, IN with Tianshou's conventions). NPG has no ratio, so ``keep_cast`` changes
    nothing (and no ``Tensor.float`` call happens: asserted)."""
    from tianshou.algorithm import NPG
    algo, inputs, batch, theirs, recorder, stats, ratios = _tianshou.natural_update(
        NPG, seed, n, keep_cast, trust_region_size=TRUST_REGION_SIZE)
    assert not ratios, "NPG's update casts nothing with .float()"
    (step,) = _tianshou.written_steps(algo, inputs, recorder)
    inputs = {**inputs, "theta_new": _tianshou.theta_of(algo)}
    theirs = {**theirs, "step": step, "beta": np.float64(algo.trust_region_size),
              "kl": np.float64(stats.kl.mean)}
    nu = float(theirs["cg_x"] @ theirs["grad"])
    applied = {**inputs, "advantages": batch.adv.numpy(),
               "delta": np.float64(algo.trust_region_size ** 2 * nu / 2),
               "cg_iters": theirs["cg_iterations_run"]}
    return inputs, theirs, applied


def run(out_dir, seed=0, n=32):
    """(report as written, report with Tianshou's conventions applied)."""
    return _tianshou.reports(out_dir, "tianshou_npg", theirs_and_inputs, seed, n)


if __name__ == "__main__":
    sys.exit(_common.main(__doc__, run, "Tianshou NPG"))
