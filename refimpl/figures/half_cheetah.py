"""Lecture figures ``half_cheetah.png`` and ``half_cheetah.gif`` (slide "Example: Half-Cheetah"):
frames of a trained refimpl policy on HalfCheetah-v5, rendered by MuJoCo's offscreen renderer
on the CPU. The policy is the committed final checkpoint of the PPO run with the best final
evaluation among the sweeps' ``summary.csv`` files (``halfcheetah_results.RESULTS``); the
episode is deterministic (mean action), seed 10000. Headless machines need an OpenGL back end: ``MUJOCO_GL=egl`` (package
libegl1; what ``refimpl.evaluate`` uses when MUJOCO_GL is unset) or ``MUJOCO_GL=osmesa`` (libosmesa6).
"""
from __future__ import annotations

import csv
from pathlib import Path

from refimpl.figures.halfcheetah_results import RESULTS
from refimpl.figures.output import plt, save_png

FRAMES = 120
"""GIF length: 120 frames of 0.05 s simulated time each (6 s)."""
STRIP = 6
"""Frames shown side by side in the PNG."""


def best_checkpoint(results: list[Path] | None = None, algo: str = "ppo") -> Path:
    """Final checkpoint of the ``algo`` run with the highest final return in the summaries."""
    runs = []
    for path in RESULTS.values() if results is None else results:
        summary = Path(path) / "summary.csv"
        if summary.exists():
            with summary.open() as f:
                runs += [(float(r["final_return"]), Path(path) / f"{algo}-s{r['seed']}")
                         for r in csv.DictReader(f) if r["algo"] == algo]
    if not runs:
        raise ValueError(f"no {algo} runs in any summary.csv; run 'refimpl sweep' first")
    return max(runs, key=lambda r: r[0])[1] / "checkpoints" / "final.npz"


def make(out_dir: Path) -> list[Path]:
    from refimpl.evaluate import play, write_gif

    returns, frames = play(best_checkpoint(), 1, deterministic=True, seed=10_000, render=True,
                           max_frames=FRAMES)
    ret = returns[0]
    gif = Path(out_dir) / "half_cheetah.gif"
    write_gif(gif, [f[::2, ::2] for f in frames])  # every other pixel: 240 x 240, ~1 MB
    fig, axes = plt.subplots(1, STRIP, figsize=(2.2 * STRIP, 2.4))
    for i, (ax, frame) in enumerate(zip(axes, frames[::FRAMES // STRIP])):
        ax.imshow(frame)
        ax.set_axis_off()
        ax.set_title(f"t = {i * FRAMES // STRIP * 0.05:.1f} s", fontsize=9)
    fig.suptitle(f"refimpl PPO on HalfCheetah-v5 (deterministic episode return {ret:.0f})")
    fig.tight_layout()
    return [gif, save_png(fig, Path(out_dir) / "half_cheetah.png")]
