"""Lecture figures ``half_cheetah.png`` and ``half_cheetah.gif`` (slide "Example: Half-Cheetah"):
frames of a trained refimpl policy on HalfCheetah-v5, rendered by MuJoCo's offscreen renderer
on the CPU. The policy is the final checkpoint of the PPO run with the best final evaluation
among the ``summary.csv`` files of the sweeps ``halfcheetah_results.SWEEPS`` under the results
directory (``refimpl figures --results``; by default the repository's committed runs); the
episode is deterministic (mean action), seed 10000. Headless machines need an OpenGL back end:
``MUJOCO_GL=egl`` (package libegl1; what ``refimpl.engine.evaluate`` uses when MUJOCO_GL is unset) or
``MUJOCO_GL=osmesa`` (libosmesa6).

Why the final returns spread over runs: ``half_cheetah_gaits.csv`` measures the gait of every
committed run (TRPO, PPO, NPG) over its 10 evaluation episodes (``gait``: forward speed, torso
pitch, episodes spent upside down; each run named by its path from the results directory's
parent, ``results/halfcheetah-v5/ppo-s0`` by default), and ``half_cheetah_slow_gait.gif`` shows
the slowest PPO run that stays upright, rendered like the fast one.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from refimpl.figures import DEFAULT_RESULTS
from refimpl.figures.halfcheetah_results import ALGOS, sweeps
from refimpl.engine.plots import plt, save_csv, save_png

FRAMES = 120
"""GIF length: 120 frames of 0.05 s simulated time each (6 s)."""
STRIP = 6
"""Frames shown side by side in the PNG."""


EVAL_SEED, EVAL_EPISODES = 10_000, 10
"""The episodes of ``refimpl sweep``'s final evaluation (``refimpl.engine.evaluate.evaluate``)."""
UPRIGHT = 0.5
"""An episode counts as upside down if it spends more than this share of its steps so; a run
is upright if none of its evaluation episodes is."""


def finished_runs(algo: str, results: list[Path]) -> list[tuple[float, Path]]:
    """(final return, run directory) of every ``algo`` run in the summaries of the sweep
    directories ``results`` whose final checkpoint is there (a sweep may commit its logs
    without its checkpoints)."""
    runs = []
    for path in results:
        summary = Path(path) / "summary.csv"
        if summary.exists():
            with summary.open() as f:
                runs += [(float(r["final_return"]), Path(path) / f"{algo}-s{r['seed']}")
                         for r in csv.DictReader(f) if r["algo"] == algo]
    return [(ret, run) for ret, run in runs if (run / "checkpoints" / "final.npz").exists()]


def best_checkpoint(results: list[Path], algo: str = "ppo") -> Path:
    """Final checkpoint of the ``algo`` run with the highest final return in the summaries of
    the sweep directories ``results``."""
    runs = finished_runs(algo, results)
    if not runs:
        raise ValueError(f"no {algo} runs in any summary.csv; run 'refimpl sweep' first")
    return max(runs, key=lambda r: r[0])[1] / "checkpoints" / "final.npz"


def gait(checkpoint: Path, episodes: int = EVAL_EPISODES, seed: int = EVAL_SEED) -> dict:
    """How the policy runs, per deterministic episode (reset seeds seed, seed + 1, ...), from
    the simulator state before every step: ``speed``, the torso's forward displacement over the
    episode's steps divided by the simulated time they took (m/s; the reward's forward term is
    this speed);
    ``pitch``, the mean absolute torso angle to the horizontal (degrees, the root's hinge angle
    qpos[2]); ``upside_down``, the share of steps with the torso turned past vertical,
    cos(angle) < 0. Returns arrays of shape (episodes,) under those names and ``return``.
    Tested in ``tests/figures/test_figures_results.py::test_gait_is_measured_from_the_episode_itself``
    against gymnasium's own x_velocity and the observation's torso angle."""
    from refimpl.engine.evaluate import play

    states: list[list] = [[] for _ in range(episodes)]  # per step: (sim time, x, z, angle)

    def watch(ep, env):
        data = env.unwrapped.data
        states[ep].append((data.time, *data.qpos[:3]))
    returns, _ = play(checkpoint, episodes, deterministic=True, seed=seed, render=False,
                      max_frames=0, watch=watch)
    t, x, _, angle = zip(*(np.array(q).T for q in states))
    return {"return": returns,
            "speed": np.array([(xs[-1] - xs[0]) / (ts[-1] - ts[0]) for ts, xs in zip(t, x)]),
            "pitch": np.array([np.degrees(np.abs(a).mean()) for a in angle]),
            "upside_down": np.array([np.mean(np.cos(a) < 0) for a in angle])}


def _render_gif(checkpoint: Path, path: Path) -> tuple[float, list]:
    from refimpl.engine.evaluate import play, write_gif

    returns, frames = play(checkpoint, 1, deterministic=True, seed=EVAL_SEED, render=True,
                           max_frames=FRAMES)
    write_gif(path, [f[::2, ::2] for f in frames])  # every other pixel: 240 x 240, ~1 MB
    return returns[0], frames


def make(out_dir: Path, results: Path = DEFAULT_RESULTS) -> list[Path]:
    """The figures of the best PPO run, and the gaits of every run, of the sweeps
    ``halfcheetah_results.SWEEPS`` under the results directory ``results``."""
    out_dir, results = Path(out_dir), Path(results)
    found = list(sweeps(results).values())
    ret, frames = _render_gif(best_checkpoint(found), out_dir / "half_cheetah.gif")
    fig, axes = plt.subplots(1, STRIP, figsize=(2.2 * STRIP, 2.4))
    for i, (ax, frame) in enumerate(zip(axes, frames[::FRAMES // STRIP])):
        ax.imshow(frame)
        ax.set_axis_off()
        ax.set_title(f"t = {i * FRAMES // STRIP * 0.05:.1f} s", fontsize=9)
    fig.suptitle(f"refimpl PPO on HalfCheetah-v5 (deterministic episode return {ret:.0f})")
    fig.tight_layout()
    written = [out_dir / "half_cheetah.gif", save_png(fig, out_dir / "half_cheetah.png")]
    runs = [(algo, *run) for algo in ALGOS for run in sorted(finished_runs(algo, found))]
    gaits = [gait(run / "checkpoints" / "final.npz") for _, _, run in runs]
    upright = [run for (algo, _, run), g in zip(runs, gaits)
               if algo == "ppo" and g["upside_down"].max() <= UPRIGHT]
    if upright:  # the slowest of them, as runs are sorted by final return
        _render_gif(upright[0] / "checkpoints" / "final.npz", out_dir / "half_cheetah_slow_gait.gif")
        written.append(out_dir / "half_cheetah_slow_gait.gif")
    written.append(save_csv(out_dir / "half_cheetah_gaits.csv", {
        "run": [str(results.name / run.relative_to(results)) for _, _, run in runs],
        "final_return": [r for _, r, _ in runs],
        "speed_mean": [g["speed"].mean() for g in gaits],
        "speed_min": [g["speed"].min() for g in gaits],
        "pitch_mean": [g["pitch"].mean() for g in gaits],
        "episodes_upside_down": [int(np.sum(g["upside_down"] > UPRIGHT)) for g in gaits]}))
    return written
