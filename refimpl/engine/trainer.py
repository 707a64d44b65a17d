"""The pipelined trainer: the lecture's loop (``refimpl.algos.loop``) made practical::

    for k = 0, 1, 2, ...:
        1. collect a batch with pi_phi_k            (envs.rollout.Collector.collect)
        2. estimate advantages with the critic      (algos.loop.advantages, GAE)
        3-7. the algorithm's policy update          (algos.ALGORITHMS[cfg.algo].policy_update)
        then fit the critic on the batch            (core.critic.fit_critic, through
                                                     engine.critic_fit)

``train`` fits the critic of update k while step 1 of update k + 1 collects, by default in a
process of its own (``cfg.critic_process``, ``critic_fit.CriticProcess``), and records update k
(its progress row, evaluation and checkpoint) when the fit returns. Collection does not use the
critic and step 2 waits for the fit, so the numbers are those of the plain loop, bit for bit
(tests/engine/test_engine_is_the_loop.py). PPO's joint loss (``cfg.grad_clip_scope`` 'joint')
fits the critic inside its policy update; then no fit follows.

Run directory: ``config.json``, ``run.json`` (what the run ran on: versions, commit, BLAS, CPU;
``engine.provenance``), ``progress.csv`` (one row per update, columns ``COLUMNS``),
``eval.csv`` (one row per evaluation during training, columns ``EVAL_COLUMNS``: the mean action
in an environment of its own every ``cfg.eval_every`` steps, ``evaluate.Evaluation``, by default
in a process of its own while training goes on; ``checkpoints/evaluation.npz`` holds the inputs
of one whose row is not written yet, ``eval_log``),
``checkpoints/latest.npz`` (after every update), ``checkpoints/update_NNNNNN.npz`` (every
``cfg.checkpoint_every`` updates), ``checkpoints/final.npz`` and ``learning_curve.png``. With
``tensorboard`` (``--tensorboard DIR``) every row of progress.csv and eval.csv also goes to a
TensorBoard event file in DIR (``engine.tensorboard``).

Lifecycle of a run directory: ``engine.rundir``; what a resumed run may change: ``engine.resume``.

Tests: tests/engine/test_bad_input.py (failures in update 1, a full disk, kill -9 leftovers, resume
conflicts), tests/engine/test_faults.py (SIGKILL and SIGINT at a seeded random point, then continued:
equal to an uninterrupted run bit for bit), tests/engine/test_train.py (exact resume and extension).
"""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refimpl.algos import ALGORITHMS
from refimpl.algos.agent import FlatBatch
from refimpl.algos import loop
from refimpl.core.errors import NumericalError
from refimpl.core.optim import Adam
from refimpl.core.seeding import RunSeeds
from refimpl.core.state import subdict
from refimpl.engine.config import Config
from refimpl.engine.critic_fit import make_critic_fit
from refimpl.engine.errors import RunError, WorkerError, writing
from refimpl.engine.eval_log import EvaluationLog
from refimpl.engine.evaluate import make_evaluation
from refimpl.engine.resume import resumed_config, resumed_logs, stored_run
from refimpl.engine.rundir import RunDirectory
from refimpl.engine.tensorboard import TensorBoardLog, check as check_tensorboard
from refimpl.engine.worker import finished
from refimpl.engine.logs import COLUMNS, plot_learning_curve
from refimpl.envs.rollout import Collector, check_finite


@dataclass
class Fitting:
    """An update whose critic fit is running: its progress.csv row without the fit's
    columns, the checkpoint state of all but the critic (``Run.policy_state``) taken when its
    policy step ended, and the Future of the fit's ``(theta_v, opt, rng, loss)``."""

    row: dict
    state: dict
    reply: Future


class Run(EvaluationLog, RunDirectory):
    """One training run: its directory, collector, agent and random generators; its evaluations
    during training are ``EvaluationLog``'s."""

    def __init__(self, cfg: Config | dict | None, out: Path, resume: bool = False,
                 tensorboard: Path | None = None):
        """A new run of ``cfg`` in ``out``, or with ``resume`` the run in ``out`` continued
        (``cfg``: None, or a dict of field values, each of which must equal the stored one
        except ``steps`` and ``vector``; see ``resumed_config``); with ``tensorboard``, its
        logs also go to TensorBoard's event file there (``engine.tensorboard``)."""
        if tensorboard is not None:
            check_tensorboard(tensorboard)
        self.out = Path(out)
        self.ckpt_dir = self.out / "checkpoints"
        self.created: list[Path] = []
        self.notes: list[str] = []  # one-line remarks for the user (``train``'s ``note``)
        try:
            self._open(cfg, resume, tensorboard)
        except BaseException:
            self.discard()
            self.release()
            raise

    def _open(self, cfg: Config | dict | None, resume: bool, tensorboard: Path | None) -> None:
        """The rest of ``__init__``, under the run directory's lock (``take``)."""
        self.take(resume)
        stored, state, logs = None, None, []
        if resume:
            stored, state = stored_run(self.out)
            done = 0 if state is None else int(state["update"])
            cfg = resumed_config(stored, cfg, done)
            logs = resumed_logs(self.out, cfg, done)
        self._build(cfg)
        self._remove_stale_temporaries()
        if state is not None:
            self._restore(state)
            self._write_logs(logs)
        if self.update == 0 and cfg.steps < self.batch_size:
            self.notes.append(cfg.short_run_note())
        if tensorboard is not None:  # hides the events of the updates redone from here
            self.tensorboard = TensorBoardLog(tensorboard, self.out, cfg.algo, self.env_steps + 1)
        if state is not None:
            self._finish_pending_file()
            if self.cfg != stored:  # a new length: the checkpoint first, config.json second
                self.save()
                self._write_config(ours=False)
        else:
            self._create_directory(stored)
        if resume:
            self._write_provenance(resumed_at=self.update)

    def _build(self, cfg: Config) -> None:
        """The run's parts for ``cfg``, at update 0: its environments (``Collector``), random
        generators, agent, evaluation and critic fit, and the bookkeeping of ``step``."""
        self.cfg = cfg
        self.collector = Collector(cfg.env, cfg.num_envs, cfg.seed, cfg.gamma, cfg.norm_obs,
                                   cfg.obs_clip, cfg.norm_reward, cfg.clip_actions, cfg.vector,
                                   cfg.reward_clip)
        seeds = RunSeeds(cfg.seed)
        self.action_rng, self.update_rng = seeds.generator("actions"), seeds.generator("update")
        self.algorithm, self.hp = ALGORITHMS[cfg.algo], cfg.algorithm_params()
        self.agent = loop.make_agent(cfg.agent_spec(), self.collector, cfg.seed)
        self.evaluation = make_evaluation(cfg, seeds.evaluation_seeds(cfg.eval_episodes)) \
            if cfg.eval_every else None
        self.critic_fit = make_critic_fit(cfg.critic_process)
        self.fitting: Fitting | None = None  # the update whose critic fit is running
        self.completed: dict | None = None  # the checkpoint state of the last finished update
        self._since, self._unassigned = 0.0, 0.0  # training time not yet in a row (Run.step)
        self.last_evaluation = float("nan")  # mean return of the last eval.csv row written
        self.pending: tuple[int, int, Future] | None = None  # update, env_steps, its returns
        self.batch_size = cfg.horizon * cfg.num_envs
        self.num_updates = math.ceil(cfg.steps / self.batch_size)
        self.update, self.env_steps, self.wall_time = 0, 0, 0.0

    def state(self) -> dict[str, np.ndarray]:
        """The checkpoint: everything training needs to continue bit for bit."""
        return {**self.policy_state(), **self.critic_state(),
                "wall_time": np.array(self.wall_time)}

    def policy_state(self) -> dict[str, np.ndarray]:
        """The checkpoint but for the critic's part and the wall time, as copies."""
        a = self.agent
        d = {"config": np.array(json.dumps(self.cfg.to_dict())), "env_id": np.array(self.cfg.env),
             "obs_dim": np.array(self.collector.obs_dim), "act_dim": np.array(self.collector.act_dim),
             "policy": np.array(self.collector.kind),
             "update": np.array(self.update), "env_steps": np.array(self.env_steps),
             "phi": a.phi.copy(),
             "rng/actions": np.array(json.dumps(self.action_rng.bit_generator.state))}
        d.update({f"pi_opt/{k}": v for k, v in a.pi_opt.state().items()})
        d.update({f"collector/{k}": v for k, v in self.collector.state().items()})
        return d

    def critic_state(self) -> dict[str, np.ndarray]:
        """The critic's part of the checkpoint: theta_v, its Adam state and the update stream
        (which the critic's fit draws from last)."""
        a = self.agent
        return {"theta_v": a.theta_v.copy(),
                "rng/update": np.array(json.dumps(self.update_rng.bit_generator.state)),
                **{f"v_opt/{k}": v for k, v in a.v_opt.state().items()}}

    def _restore(self, d: dict[str, np.ndarray]) -> None:
        if str(d["policy"]) != self.collector.kind:
            raise RunError(f"checkpoint holds a {d['policy']} policy, but {self.cfg.env}'s action "
                           f"space needs a {self.collector.kind} one")
        if int(d["obs_dim"]) != self.collector.obs_dim or int(d["act_dim"]) != self.collector.act_dim:
            raise RunError(f"checkpoint has obs/act sizes {int(d['obs_dim'])}/{int(d['act_dim'])}, "
                           f"but {self.cfg.env} has {self.collector.obs_dim}/{self.collector.act_dim}")
        a = self.agent
        a.phi, a.theta_v = d["phi"].copy(), d["theta_v"].copy()
        a.pi_opt = Adam.from_state(subdict(d, "pi_opt/"))
        a.v_opt = Adam.from_state(subdict(d, "v_opt/"))
        for name, rng in self.generators().items():
            rng.bit_generator.state = json.loads(str(d[f"rng/{name}"]))
        self.collector.load_state(subdict(d, "collector/"))
        self.update, self.env_steps = int(d["update"]), int(d["env_steps"])
        self.wall_time = float(d["wall_time"])

    def generators(self) -> dict[str, np.random.Generator]:
        """The generators that training draws from after initialisation (refimpl.core.seeding)."""
        return {"actions": self.action_rng, "update": self.update_rng}

    def collect_batch(self) -> FlatBatch:
        """Lecture steps 1-2: a batch from pi_phi_k with GAE advantages, flattened."""
        batch = self.collector.collect(self.agent.policy, self.agent.phi, self.cfg.horizon,
                                       self.action_rng)                               # step 1
        return self.advantages(batch)

    def advantages(self, batch) -> FlatBatch:
        """Lecture step 2 on a collected batch (``algos.loop.advantages``)."""
        return loop.advantages(self.agent, batch, self.cfg.gamma, self.cfg.lam)

    def step(self, overlap: bool = False) -> dict | None:
        """One iteration of the lecture's loop. Without ``overlap``, returns its progress.csv row
        once its critic fit (its last part) has finished, and leaves its checkpoint state in
        ``completed``. With ``overlap``, the fit of the update before ran while this one
        collected (on another core with ``cfg.critic_process``): that update is recorded
        (``record``) as soon as its fit ends, its row is returned (None at the first step), and
        this update's fit is left running (``finish`` waits for it). The numbers are the same
        either way: collection does not use the critic, and step 2 waits for the fit."""
        cfg, agent = self.cfg, self.agent
        self._since = time.perf_counter()
        hp = loop.scheduled(self.hp, self.update, self.num_updates, **cfg.schedule())
        where = f"in update {self.update + 1} ({cfg.algo})"
        done = None
        # a critic process that has not started starts up (imports included) while this
        # update collects, instead of at the fit's first request, which would wait for it
        self.critic_fit.start()
        try:
            batch = self.collector.collect(agent.policy, agent.phi, cfg.horizon,
                                           self.action_rng)                             # step 1
        except NumericalError as err:
            raise type(err)(f"{err} {where}") from None
        if self.fitting is not None:  # the update before, whose failures name it
            done = self._finish_fit()
            self.record(done)  # before this update's policy step, which may fail
        try:
            data = self.advantages(batch)                                               # step 2
            metrics = self.algorithm.policy_update(agent, data, hp, self.update_rng)   # 3-7
        except NumericalError as err:
            raise type(err)(f"{err} {where}") from None
        check_finite(f"after update {self.update + 1} ({cfg.algo})",
                     **{"policy parameters": agent.phi,
                        "losses": np.array([metrics["policy_loss"]])})
        self.update += 1
        self.env_steps += self.batch_size
        if cfg.grad_clip_scope == "joint":  # PPO's joint loss has fitted the critic too
            fit = finished((agent.theta_v, agent.v_opt, self.update_rng,
                            metrics.pop("value_loss")))
        else:
            fit = self.critic_fit.submit(agent.critic, agent.theta_v, agent.v_opt, data,  # critic
                                         hp.critic, self.update_rng)
        row = loop.row(metrics, self.update, self.env_steps, self.collector, data)
        self.fitting = Fitting(row, self.policy_state(), fit)
        if not overlap:
            return self._finish_fit()
        self._unassigned += time.perf_counter() - self._since
        return done

    def finish(self) -> dict | None:
        """Wait for the critic fit that ``step(overlap=True)`` left running and record its
        update; returns its row (None if no fit is running)."""
        if self.fitting is None:
            return None
        self._since = time.perf_counter()
        row = self._finish_fit()
        self.record(row)
        return row

    def _finish_fit(self) -> dict:
        """Take the running critic fit's result into the agent; its update's row, with the
        training time since the row before (the time ``step`` and ``finish`` ran)."""
        fitting, self.fitting = self.fitting, None
        update = int(fitting.state["update"])
        try:
            theta_v, v_opt, rng, value_loss = fitting.reply.result()
        except WorkerError as err:
            raise WorkerError(f"{err}, in update {update} ({self.cfg.algo})") from None
        check_finite(f"after update {update} ({self.cfg.algo})",
                     **{"critic parameters": theta_v, "losses": np.array([value_loss])})
        self.agent.theta_v, self.agent.v_opt = theta_v, v_opt
        self.update_rng.bit_generator.state = rng.bit_generator.state
        now = time.perf_counter()
        elapsed = self._unassigned + now - self._since
        self._unassigned, self._since = 0.0, now
        self.wall_time += elapsed
        self.completed = {**fitting.state, **self.critic_state(),
                          "wall_time": np.array(self.wall_time)}
        row = {**fitting.row, "value_loss": value_loss, "wall_time": round(self.wall_time, 3),
               "sps": round(self.batch_size / elapsed, 1)}
        assert set(row) <= set(COLUMNS), f"undocumented metrics {set(row) - set(COLUMNS)}"
        return row

    def record(self, row: dict) -> None:
        """After ``row``'s update finished: append the row to progress.csv, start the evaluation
        of its policy if one is due, write the eval.csv row of an evaluation that has finished
        (keeping its mean return in ``last_evaluation``), and write the update's checkpoint
        (``completed``) as latest.npz, and every ``cfg.checkpoint_every`` updates as
        update_NNNNNN.npz. Its time is not training time (progress.csv's wall_time)."""
        t0, state = time.perf_counter(), self.completed
        update, env_steps = int(state["update"]), int(state["env_steps"])
        self.append_progress(row)
        if self.evaluation_due(env_steps):  # before the checkpoint: a crash in between redoes both
            self.start_evaluation(state)
        evaluated = self.finish_evaluation(wait=False)  # its row, or after a crash on resume
        if evaluated is not None:
            self.last_evaluation = evaluated["mean"]
        self.save(state=state)
        if update % self.cfg.checkpoint_every == 0:
            self.save(f"update_{update:06d}.npz", state)
        self._since += time.perf_counter() - t0

    def close(self) -> None:
        self.collector.close()
        self.critic_fit.close()
        if self.evaluation is not None:
            self.evaluation.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
        self.release()


def train(cfg: Config | dict | None, out: Path, resume: bool = False,
          progress: bool = True, tensorboard: Path | None = None, note=None) -> Run:
    """Train to ``cfg.steps`` environment steps (with ``resume``, ``cfg`` is None or the field
    values requested, see ``Run``; ``tensorboard``: a directory for TensorBoard's event file).
    ``note(text)``, if given, receives the run's one-line remarks (``Run.notes``) before it
    trains. ``checkpoints/latest.npz`` is written after every update, so Ctrl-C
    (KeyboardInterrupt), a NaN or infinity (NumericalError, without NumPy's RuntimeWarnings
    before it: tests/engine/test_numerical_errors.py), a helper process that fails or dies
    (WorkerError) and a file that cannot be written (WriteError) all leave it at the last
    finished, good update; before the first one they remove what this call created (see the
    module docstring). The progress bar ends with the last evaluation's mean return."""
    from tqdm import tqdm

    run = Run(cfg, out, resume, tensorboard)
    for text in run.notes if note is not None else ():
        note(text)
    bar = tqdm(total=run.num_updates * run.batch_size, initial=run.env_steps, unit="step",
               disable=not progress, dynamic_ncols=True)
    shown: dict = {}

    def show(row: dict | None) -> None:
        if row is not None:
            bar.update(run.batch_size)
            shown.update(sps=row["sps"], ret=f"{row['ep_return']:.0f}")
        last = run.last_evaluation
        if shown:
            bar.set_postfix(shown, eval="-" if math.isnan(last) else f"{last:.0f}")
    try:
        # each update is recorded when its critic's fit, which runs while the next update
        # collects, has finished (Run.step); NumPy's floating-point warnings are off, as a NaN
        # or infinity is told in one line by the checks that stop training (NumericalError)
        with np.errstate(all="ignore"):
            while run.update < run.num_updates:
                show(run.step(overlap=True))
            show(run.finish())
        evaluated = run.finish_evaluation(wait=True)
        if evaluated is not None:
            run.last_evaluation = evaluated["mean"]
            show(None)
        run.save("final.npz")
        with writing(run.out / "learning_curve.png"):
            plot_learning_curve(run.out)
    except BaseException:
        if run.fitting is not None:  # the update before the failure keeps its checkpoint
            with suppress(Exception):  # unless its fit failed too: the first failure is told
                run.finish()
        if not run.has_checkpoint():
            run.discard()
        raise
    finally:
        bar.close()
        run.close()
    return run


