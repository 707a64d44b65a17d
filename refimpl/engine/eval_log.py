"""A run's evaluations during training (``cfg.eval_every``): when one is due, its submission
(``evaluate.Evaluation``, by default in a process of its own while training goes on), its
eval.csv row, and ``checkpoints/evaluation.npz``, the inputs of one whose row is not written yet,
with which a resumed run redoes it. ``EvaluationLog`` is a part of ``trainer.Run``, whose
attributes it uses: ``cfg``, ``agent``, ``collector``, ``evaluation``, ``pending``,
``update``, ``env_steps``, ``batch_size``, the run directory's ``out``, ``ckpt_dir`` and
writers.

Tested in tests/engine/test_evaluation.py and tests/engine/test_faults.py.
"""
from __future__ import annotations

import csv

import numpy as np

from refimpl.core.normalize import RunningMeanStd
from refimpl.core.state import subdict
from refimpl.engine import checkpoint
from refimpl.engine.errors import RunError, writing
from refimpl.engine.logs import eval_row
from refimpl.engine.rundir import PENDING


class EvaluationLog:
    """The evaluations during training of a ``trainer.Run``."""

    def evaluation_due(self, env_steps: int | None = None) -> bool:
        """True if the update that ended at ``env_steps`` (by default the last) crossed a
        multiple of ``cfg.eval_every`` environment steps."""
        every, n = self.cfg.eval_every, self.env_steps if env_steps is None else env_steps
        return bool(every) and n // every > (n - self.batch_size) // every

    def evaluate(self) -> dict:
        """Evaluate the current policy now; returns the eval.csv row."""
        returns, seconds = self.evaluation.submit(self.agent.policy, self.agent.phi,
                                                  self.collector.obs_rms).result()
        return eval_row(self.update, self.env_steps, returns, seconds)

    def start_evaluation(self, state: dict | None = None) -> None:
        """Submit the evaluation of the policy of the checkpoint state ``state`` (by default the
        current one; ``record`` passes the finished update's), after ``finish_evaluation`` of
        the one before. An evaluation that runs in its own process leaves its inputs in
        ``checkpoints/evaluation.npz`` until its row is written, so that a run that dies in
        between, with its checkpoint already past this update, redoes it on resume
        (``_finish_pending_file``)."""
        self.finish_evaluation(wait=True)
        state = self.state() if state is None else state
        update, env_steps, phi = int(state["update"]), int(state["env_steps"]), state["phi"]
        rms = subdict(state, "collector/obs_rms/")
        future = self.evaluation.submit(self.agent.policy, phi,
                                        RunningMeanStd.from_state(rms) if rms else None)
        self.pending = (update, env_steps, future)
        if not future.done():
            d = {"update": np.array(update), "env_steps": np.array(env_steps), "phi": phi,
                 **{f"obs_rms/{k}": v for k, v in rms.items()}}
            path = self.ckpt_dir / PENDING
            with writing(path):
                checkpoint.atomic_write(path, lambda f: np.savez(f, **d))
            if not self.has_checkpoint():
                self.created.append(path)

    def finish_evaluation(self, wait: bool) -> dict | None:
        """Write the eval.csv row of the submitted evaluation if it has finished (with
        ``wait``, once it has); returns the row, or None."""
        if self.pending is None or not (wait or self.pending[2].done()):
            return None
        update, env_steps, future = self.pending
        row = eval_row(update, env_steps, *future.result())
        self.append_eval(row)
        self.pending = None
        with writing(self.ckpt_dir / PENDING):
            (self.ckpt_dir / PENDING).unlink(missing_ok=True)
        return row

    def _finish_pending_file(self) -> None:
        """On resume: evaluate the inputs left in ``checkpoints/evaluation.npz`` if their update
        is one the checkpoint has passed and eval.csv has no row for it, then remove the
        file (one of a later update is stale: that update will be redone)."""
        path = self.ckpt_dir / PENDING
        if not path.exists():
            return
        try:
            d = checkpoint.read_npz(path)
            update, env_steps, phi = int(d["update"]), int(d["env_steps"]), d["phi"]
            rms = subdict(d, "obs_rms/")
            obs_rms = RunningMeanStd.from_state(rms) if rms else None
        except (ValueError, KeyError) as e:
            raise RunError(f"{path} is not an evaluation refimpl left ({e}); remove it to "
                           "resume without that evaluation") from None
        if phi.shape != self.agent.phi.shape or (obs_rms is None) != (not self.cfg.norm_obs):
            raise RunError(f"{path} does not belong to this run's policy; remove it to resume "
                           "without that evaluation")
        eval_path = self.out / "eval.csv"
        done = False
        if eval_path.exists():
            with eval_path.open() as f:
                done = any(int(r["update"]) == update for r in csv.DictReader(f))
        if update <= self.update and not done and self.evaluation is not None:
            returns, seconds = self.evaluation.submit(self.agent.policy, phi, obs_rms).result()
            self.append_eval(eval_row(update, env_steps, returns, seconds))
        with writing(path):
            path.unlink()
