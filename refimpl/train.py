"""The training loop shared by all algorithms, as the lecture's numbered steps:

    for k = 0, 1, 2, ...:
        1. collect a batch with pi_phi_k            (rollout.Collector.collect)
        2. estimate advantages with the critic      (rollout.estimate_advantages, GAE)
        3-7. the algorithm's update                 (algos.UPDATES[cfg.algo])

Run directory: ``config.json``, ``progress.csv`` (one row per update, columns ``COLUMNS``),
``checkpoints/latest.npz`` (after every update), ``checkpoints/update_NNNNNN.npz`` (every
``cfg.checkpoint_every`` updates), ``checkpoints/final.npz`` and ``learning_curve.png``.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from refimpl import checkpoint
from refimpl import distributions as dist
from refimpl.agent import Agent, FlatBatch
from refimpl.algos import UPDATES
from refimpl.config import Config
from refimpl.errors import NumericalError
from refimpl.objectives import explained_variance
from refimpl.optim import Adam
from refimpl.rollout import Collector, check_finite, estimate_advantages

COLUMNS = ("update", "env_steps", "wall_time", "sps", "ep_return", "ep_length", "policy_loss",
           "value_loss", "entropy", "kl", "approx_kl", "clip_fraction", "explained_variance",
           "epochs", "improvement", "accepted", "step_fraction", "step_norm", "cg_iters",
           "cg_residual")
"""progress.csv columns; a metric an algorithm does not produce is left empty."""
TIMING_COLUMNS = ("wall_time", "sps")
"""Columns that differ between two runs of one seed; every other column is reproducible."""


class RunError(ValueError):
    """A user mistake about the run directory or checkpoint (reported as one line)."""


def flatten(agent: Agent, batch, adv, ret, values) -> FlatBatch:
    """The rollout as N = T * E rows, with pi_old's log-probabilities and means."""
    obs = batch.obs.reshape(-1, batch.obs.shape[-1])
    actions = batch.actions.reshape(-1, batch.actions.shape[-1])
    # pi_old's means are kept for the KL of every later update, so the forward pass is spelled
    # out here rather than hidden in GaussianPolicy.log_prob (which would run it a second time)
    mean, log_std, _ = agent.policy.forward(agent.phi, obs)
    return FlatBatch(obs, actions, dist.log_prob(mean, log_std, actions), mean, log_std.copy(),
                     adv.ravel(), ret.ravel(), values.ravel())


class Run:
    """One training run: its directory, collector, agent and random generator."""

    def __init__(self, cfg: Config, out: Path, resume: bool = False):
        self.out = Path(out)
        self.ckpt_dir = self.out / "checkpoints"
        state = checkpoint.load(self.ckpt_dir / "latest.npz") if resume else None
        self.cfg = cfg = Config.from_dict(json.loads(str(state["config"]))) if resume else cfg
        self.collector = Collector(cfg.env, cfg.num_envs, cfg.seed, cfg.gamma, cfg.norm_obs,
                                   cfg.obs_clip, cfg.norm_reward, cfg.clip_actions)
        self.rng = np.random.default_rng(cfg.seed)
        self.agent = Agent.create(cfg, self.collector.obs_dim, self.collector.act_dim, self.rng)
        self.batch_size = cfg.horizon * cfg.num_envs
        self.num_updates = math.ceil(cfg.steps / self.batch_size)
        self.update, self.env_steps, self.wall_time = 0, 0, 0.0
        if resume:
            self._restore(state)
        else:
            self._create_directory()

    def _create_directory(self) -> None:
        """Start a new run directory: config.json and the progress.csv header."""
        if (self.out / "config.json").exists():
            raise RunError(f"{self.out} already holds a run; pass --resume {self.out} to continue "
                           "it or choose another --out")
        try:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create run directory {self.out}: {e.strerror}") from None
        if not os.access(self.out, os.W_OK):
            raise RunError(f"cannot write to run directory {self.out}")
        checkpoint.atomic_write(self.out / "config.json",
                                lambda f: f.write(json.dumps(self.cfg.to_dict(), indent=2).encode()))
        checkpoint.atomic_write(self.out / "progress.csv",
                                lambda f: f.write((",".join(COLUMNS) + "\n").encode()))

    def _truncate_progress(self, update: int) -> None:
        """Keep progress.csv rows up to the checkpoint's update (later ones are redone)."""
        path = self.out / "progress.csv"
        rows = []
        if path.exists():
            with path.open() as f:
                rows = list(csv.DictReader(f))
        buf = io.StringIO()
        w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(r for r in rows if int(r["update"]) <= update)
        checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue().encode()))

    def state(self) -> dict[str, np.ndarray]:
        a = self.agent
        d = {"config": np.array(json.dumps(self.cfg.to_dict())), "env_id": np.array(self.cfg.env),
             "obs_dim": np.array(self.collector.obs_dim), "act_dim": np.array(self.collector.act_dim),
             "update": np.array(self.update), "env_steps": np.array(self.env_steps),
             "wall_time": np.array(self.wall_time), "phi": a.phi, "theta_v": a.theta_v,
             "rng": np.array(json.dumps(self.rng.bit_generator.state))}
        for name, opt in (("pi_opt", a.pi_opt), ("v_opt", a.v_opt)):
            d.update({f"{name}/{k}": v for k, v in opt.state().items()})
        d.update({f"collector/{k}": v for k, v in self.collector.state().items()})
        return d

    def _restore(self, d: dict[str, np.ndarray]) -> None:
        if int(d["obs_dim"]) != self.collector.obs_dim or int(d["act_dim"]) != self.collector.act_dim:
            raise RunError(f"checkpoint has obs/act sizes {int(d['obs_dim'])}/{int(d['act_dim'])}, "
                           f"but {self.cfg.env} has {self.collector.obs_dim}/{self.collector.act_dim}")
        a = self.agent
        a.phi, a.theta_v = d["phi"].copy(), d["theta_v"].copy()
        a.pi_opt = Adam.from_state(checkpoint.subdict(d, "pi_opt/"))
        a.v_opt = Adam.from_state(checkpoint.subdict(d, "v_opt/"))
        self.rng.bit_generator.state = json.loads(str(d["rng"]))
        self.collector.load_state(checkpoint.subdict(d, "collector/"))
        self.update, self.env_steps = int(d["update"]), int(d["env_steps"])
        self.wall_time = float(d["wall_time"])
        self._truncate_progress(self.update)

    def collect_batch(self) -> FlatBatch:
        """Lecture steps 1-2: a batch from pi_phi_k with GAE advantages, flattened."""
        cfg, agent = self.cfg, self.agent
        batch = self.collector.collect(agent.policy, agent.phi, cfg.horizon, self.rng)  # step 1
        adv, ret, values = estimate_advantages(agent.critic, agent.theta_v, batch,      # step 2
                                               cfg.gamma, cfg.lam)
        return flatten(agent, batch, adv, ret, values)

    def step(self) -> dict:
        """One iteration of the lecture's loop; returns the progress.csv row."""
        cfg, agent, t0 = self.cfg, self.agent, time.perf_counter()
        lr_scale = 1.0 - self.update / self.num_updates if cfg.anneal_lr else 1.0
        where = f"in update {self.update + 1} ({cfg.algo})"
        try:
            data = self.collect_batch()                                                 # steps 1-2
            metrics = UPDATES[cfg.algo](agent, data, cfg, self.rng, lr_scale)           # steps 3-7
        except NumericalError as err:
            raise type(err)(f"{err} {where}") from None
        check_finite(f"after update {self.update + 1} ({cfg.algo})",
                     **{"policy parameters": agent.phi, "critic parameters": agent.theta_v,
                        "losses": np.array([metrics["policy_loss"], metrics["value_loss"]])})
        self.update += 1
        self.env_steps += self.batch_size
        elapsed = time.perf_counter() - t0
        self.wall_time += elapsed
        ep_return, ep_length = self.collector.episode_stats()
        row = {**metrics, "update": self.update, "env_steps": self.env_steps,
               "wall_time": round(self.wall_time, 3), "sps": round(self.batch_size / elapsed, 1),
               "ep_return": ep_return, "ep_length": ep_length,
               "explained_variance": explained_variance(data.values, data.ret)}
        assert set(row) <= set(COLUMNS), f"undocumented metrics {set(row) - set(COLUMNS)}"
        return row

    def save(self, name: str = "latest.npz") -> Path:
        path = self.ckpt_dir / name
        checkpoint.save(path, self.state())
        return path

    def append_progress(self, row: dict) -> None:
        with (self.out / "progress.csv").open("a", newline="") as f:
            csv.DictWriter(f, COLUMNS, lineterminator="\n").writerow(row)

    def close(self) -> None:
        self.collector.close()


def train(cfg: Config, out: Path, resume: bool = False, progress: bool = True) -> Run:
    """Train to ``cfg.steps`` environment steps. ``checkpoints/latest.npz`` is written after every
    update, so Ctrl-C (KeyboardInterrupt) and a NaN or infinity (NonFiniteError) both leave it at
    the last finished, good update."""
    from tqdm import tqdm

    run = Run(cfg, out, resume)
    bar = tqdm(total=run.num_updates * run.batch_size, initial=run.env_steps, unit="step",
               disable=not progress, dynamic_ncols=True)
    try:
        while run.update < run.num_updates:
            row = run.step()
            run.append_progress(row)
            run.save()
            if run.update % run.cfg.checkpoint_every == 0:
                run.save(f"update_{run.update:06d}.npz")
            bar.update(run.batch_size)
            bar.set_postfix(sps=row["sps"], ret=f"{row['ep_return']:.0f}")
        run.save("final.npz")
        plot_learning_curve(run.out)
    finally:
        bar.close()
        run.close()
    return run


def read_progress(path: Path) -> dict[str, np.ndarray]:
    """progress.csv as float columns (empty cells become NaN)."""
    with Path(path).open() as f:
        rows = list(csv.DictReader(f))
    return {c: np.array([float(r[c]) if r.get(c) not in ("", None) else np.nan for r in rows])
            for c in COLUMNS}


def plot_learning_curve(out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = json.loads((Path(out) / "config.json").read_text())
    p = read_progress(Path(out) / "progress.csv")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(p["env_steps"], p["ep_return"])
    ax.set(xlabel="environment steps", ylabel="mean episode return (last 20)",
           title=f"{cfg['algo'].upper()} on {cfg['env']}, seed {cfg['seed']}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    checkpoint.atomic_write(Path(out) / "learning_curve.png",
                            lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)
