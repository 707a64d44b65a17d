"""Cost of the matrix-free Fisher-vector product ("TRPO: Avoiding matrix inversion").

Prints (1) the time of one FVP against one policy gradient (``policy.score``) on a
17 -> 64 -> 64 -> 6 tanh policy (HalfCheetah-sized) with 2,048 states, and (2) how one FVP and
a 10-iteration CG solve grow with the parameter count, next to building the dense Fisher.
Median of repeated ``time.perf_counter`` measurements. Run: ``python benchmarks/bench_core.py``.
"""
import time

import numpy as np

from refimpl.core.cg import cg
from refimpl.core.fisher import dense_fisher, make_fvp
from refimpl.core.policy import GaussianPolicy

N_STATES = 2048
OBS_DIM, ACT_DIM = 17, 6


def median_time(fn, repeats):
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def setup(hidden, seed=0):
    rng = np.random.default_rng(seed)
    policy = GaussianPolicy.build(OBS_DIM, ACT_DIM, hidden)
    phi = policy.init(rng, log_std=-0.5)
    phi[:policy.net.n_params] += 0.1 * rng.standard_normal(policy.net.n_params)
    obs = rng.standard_normal((N_STATES, OBS_DIM))
    act = rng.standard_normal((N_STATES, ACT_DIM))
    return rng, policy, phi, obs, act


def fvp_vs_gradient():
    rng, policy, phi, obs, act = setup((64, 64))
    w = rng.standard_normal(N_STATES) / N_STATES
    fvp = make_fvp(policy, phi, obs, damping=0.1)
    v = rng.standard_normal(policy.n_params)
    t_grad = median_time(lambda: policy.score(phi, obs, act, w), 200)
    t_fvp = median_time(lambda: fvp(v), 200)
    t_make = median_time(lambda: make_fvp(policy, phi, obs, damping=0.1), 200)
    print(f"policy 17->64->64->6 tanh, {policy.n_params} params, {N_STATES} states")
    print(f"  gradient (policy.score, forward + backward): {1e3 * t_grad:8.3f} ms")
    print(f"  one FVP (jvp + vjp, forward cached):         {1e3 * t_fvp:8.3f} ms")
    print(f"  make_fvp (the one cached forward pass):      {1e3 * t_make:8.3f} ms")
    print(f"  FVP / gradient = {t_fvp / t_grad:.2f}   (goal <= 3)")
    print(f"  (make_fvp + 10 FVPs) / gradient = {(t_make + 10 * t_fvp) / t_grad:.2f}")


def scaling(widths=(16, 32, 64, 128, 256), dense_up_to=32):
    print(f"\nscaling with parameter count, hidden (w, w), {N_STATES} states")
    print(f"{'width':>6} {'params':>8} {'FVP ms':>9} {'FVP ns/param':>13} {'CG10 ms':>9} "
          f"{'CG10 ns/param':>14} {'dense F ms':>11}")
    for width in widths:
        rng, policy, phi, obs, _ = setup((width, width))
        fvp = make_fvp(policy, phi, obs, damping=0.1)
        v, g = rng.standard_normal((2, policy.n_params))
        p = policy.n_params
        t_fvp = median_time(lambda: fvp(v), 100)
        t_cg = median_time(lambda: cg(fvp, g, max_iters=10, tol=0.0), 20)
        dense = (f"{1e3 * median_time(lambda: dense_fisher(policy, phi, obs), 1):11.1f}"
                 if width <= dense_up_to else f"{'-':>11}")
        print(f"{width:>6} {p:>8} {1e3 * t_fvp:9.3f} {1e9 * t_fvp / p:13.1f} "
              f"{1e3 * t_cg:9.2f} {1e9 * t_cg / p:14.1f} {dense}")


if __name__ == "__main__":
    fvp_vs_gradient()
    scaling()
