"""What the three adapters share: a batch of HalfCheetah-v5 observations, the conversion of
torch ``nn.Linear`` layers to refimpl's flat layout (docs/crosscheck/reference.md, "Parameter
layout"), float64 observations through Stable-Baselines3, and writing IN.npz / THEIRS.npz and
comparing.

refimpl's layout: per layer W (in, out) row-major, then b; the policy's log_std last. A torch
``nn.Linear`` stores W as (out, in), so W_refimpl = ``layer.weight.T``.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from refimpl.crosscheck import compare, format_report


def halfcheetah_observations(n: int, seed: int) -> np.ndarray:
    """n float64 observations of HalfCheetah-v5 along a random-action trajectory."""
    env = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    rows = []
    for _ in range(n):
        rows.append(obs)
        obs, *_ = env.step(env.action_space.sample())
    env.close()
    return np.array(rows, dtype=np.float64)


def flat(linears, tail=()) -> np.ndarray:
    """refimpl's flat vector of a stack of ``nn.Linear`` layers (W.T row-major, then b, per
    layer), followed by the tensors in ``tail`` (the policy's log_std)."""
    parts = []
    for layer in linears:
        parts += [layer.weight.detach().T.reshape(-1), layer.bias.detach().reshape(-1)]
    parts += [t.detach().reshape(-1) for t in tail]
    return torch.cat(parts).numpy().astype(np.float64)


def flat_grad(linears, tail=()) -> np.ndarray:
    """The same layout for the ``.grad`` of each parameter."""
    parts = []
    for layer in linears:
        parts += [layer.weight.grad.T.reshape(-1), layer.bias.grad.reshape(-1)]
    parts += [t.grad.reshape(-1) for t in tail]
    return torch.cat(parts).numpy().astype(np.float64)


def load_flat(vector: np.ndarray, linears, tail=()) -> None:
    """Write a refimpl-layout vector into the layers (the inverse of ``flat``)."""
    k, t = 0, torch.from_numpy(np.asarray(vector, dtype=np.float64))
    with torch.no_grad():
        for layer in linears:
            n_out, n_in = layer.weight.shape
            layer.weight.copy_(t[k:k + n_in * n_out].reshape(n_in, n_out).T)
            k += n_in * n_out
            layer.bias.copy_(t[k:k + n_out])
            k += n_out
        for p in tail:
            p.copy_(t[k:k + p.numel()].reshape(p.shape))
            k += p.numel()
    assert k == len(t), "vector longer than the layers"


def to_refimpl(order_flat: torch.Tensor, named: list, linears, tail=()) -> np.ndarray:
    """A flat tensor in the order of ``named`` (a list of (name, parameter)), as libraries
    concatenate their parameters, converted to refimpl's layout."""
    pieces, k = {}, 0
    for _, p in named:
        pieces[id(p)] = order_flat[k:k + p.numel()].reshape(p.shape)
        k += p.numel()
    parts = []
    for layer in linears:
        parts += [pieces[id(layer.weight)].T.reshape(-1), pieces[id(layer.bias)].reshape(-1)]
    parts += [pieces[id(p)].reshape(-1) for p in tail]
    return torch.cat(parts).detach().numpy().astype(np.float64)


@contextlib.contextmanager
def sb3_float64_observations():
    """Stable-Baselines3's ``preprocess_obs`` casts Box observations to float32
    (``obs.float()``); for a flat Box space that cast is all it does. Inside this block it
    passes them through unchanged, so that a policy made float64 with ``.double()`` runs in
    float64 (``stable_baselines3.common.policies`` looks the function up at call time)."""
    from stable_baselines3.common import policies
    original = policies.preprocess_obs
    policies.preprocess_obs = lambda obs, space, normalize_images=True: obs
    try:
        yield
    finally:
        policies.preprocess_obs = original


def write_and_compare(out_dir, name, inputs, theirs):
    """Write ``{name}_in.npz`` and ``{name}_theirs.npz`` to ``out_dir`` and return
    ``refimpl.crosscheck.compare`` of the two."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / f"{name}_in.npz", **inputs)
    np.savez(out_dir / f"{name}_theirs.npz", **theirs)
    return compare(inputs, theirs)


def errors(report) -> dict[str, float]:
    """Norm-wise relative error per compared key."""
    return {r.key: r.rel_error for r in report.rows if r.rel_error is not None}


def show(title, report) -> None:
    print(f"== {title}")
    print(format_report(report))


def from_refimpl(vector: np.ndarray, named: list, linears, tail=()) -> torch.Tensor:
    """A refimpl-layout vector as a flat tensor in the order of ``named`` (the inverse of
    ``to_refimpl``)."""
    t, k, pieces = torch.from_numpy(np.asarray(vector, dtype=np.float64)), 0, {}
    for layer in linears:
        n_out, n_in = layer.weight.shape
        pieces[id(layer.weight)] = t[k:k + n_in * n_out].reshape(n_in, n_out).T
        k += n_in * n_out
        pieces[id(layer.bias)] = t[k:k + n_out]
        k += n_out
    for p in tail:
        pieces[id(p)] = t[k:k + p.numel()].reshape(p.shape)
        k += p.numel()
    return torch.cat([pieces[id(p)].reshape(-1) for _, p in named])


def torch_standardize(adv: np.ndarray) -> np.ndarray:
    """``(A - A.mean()) / (A.std() + 1e-8)`` in torch, as SB3's PPO and CleanRL standardise
    advantages (torch's std is the 1/(N - 1) one)."""
    a = torch.from_numpy(adv)
    return ((a - a.mean()) / (a.std() + 1e-8)).numpy()


def clip_fraction_as_outside(theirs: dict) -> dict:
    """THEIRS with its |kappa - 1| > eps clip_fraction named as refimpl's clip_fraction_outside."""
    return {k if k != "clip_fraction" else "clip_fraction_outside": v for k, v in theirs.items()}


def main(doc, run, title) -> int:
    """The adapters' command line: ``run(OUT_DIR)`` gives (as written, conventions applied);
    print both tables; exit 0 if the second passes."""
    if len(sys.argv) != 2:
        sys.exit(doc)
    raw, applied = run(sys.argv[1])
    show(f"{title} as written", raw)
    show(f"{title} with the diagnosed conventions applied", applied)
    return 0 if applied.ok else 1
