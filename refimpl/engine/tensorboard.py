"""``--tensorboard DIR``: a run's progress.csv and eval.csv as TensorBoard scalars.

Every cell of every row is written as a scalar whose step is the row's ``env_steps`` (the
environment steps so far, TensorBoard's x axis), under Stable-Baselines3's metric name where
SB3 logs the same quantity (``on_policy_algorithm.py``, ``ppo/ppo.py``, sb3-contrib's
``trpo/trpo.py``, ``callbacks.EvalCallback``), so that refimpl's curves overlay SB3's, and under
``refimpl/COLUMN`` otherwise (``TAGS``). Two follow SB3's conventions rather than the column:
``train/entropy_loss`` is minus the ``entropy`` column (SB3 logs the entropy bonus's loss), and
``policy_loss`` is SB3's ``train/policy_gradient_loss`` only for PPO (the same -L_CLIP; for the
others it is minus the surrogate improvement, ``refimpl/policy_loss``). An empty cell (a metric
the algorithm does not produce) writes nothing. TensorBoard stores 32-bit floats.

The event file is written by tensorboardX (the optional extra ``tensorboard``: ``pip install
'refimpl[tensorboard]'``), imported only when ``--tensorboard`` is given, and flushed after
every row. It is opened at the first row: a run that fails before it leaves nothing in DIR,
and one that fails before its first checkpoint has its event file removed with the run
(``discard``). A resumed run hides the events after its checkpoint (redone now) through
TensorBoard's purge (tensorboardX's ``purge_step``), and writes the rows already in the logs
first if DIR has no event file yet (``--tensorboard`` given only on resume). DIR shows one run;
point TensorBoard at its parent to compare several. Tested in tests/engine/test_tensorboard.py.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

from refimpl.engine import checkpoint
from refimpl.engine.errors import RunError
from refimpl.engine.logs import COLUMNS, EVAL_COLUMNS

TAGS = {
    "progress.csv": {
        "update": "time/iterations", "wall_time": "time/time_elapsed", "sps": "time/fps",
        "ep_return": "rollout/ep_rew_mean", "ep_length": "rollout/ep_len_mean",
        "policy_loss": "refimpl/policy_loss", "value_loss": "train/value_loss",
        "entropy": "train/entropy_loss", "kl": "refimpl/kl", "approx_kl": "train/approx_kl",
        "clip_fraction": "train/clip_fraction",
        "explained_variance": "train/explained_variance", "epochs": "refimpl/epochs",
        "improvement": "refimpl/improvement", "accepted": "train/is_line_search_success",
        "step_fraction": "refimpl/step_fraction", "step_norm": "refimpl/step_norm",
        "cg_iters": "refimpl/cg_iters", "cg_residual": "refimpl/cg_residual"},
    "eval.csv": {
        "update": "refimpl/eval_update", "mean": "eval/mean_reward", "std": "refimpl/eval_std",
        "min": "refimpl/eval_min", "max": "refimpl/eval_max",
        "wall_time": "refimpl/eval_wall_time"},
}
"""Per log file, each column's TensorBoard tag; ``env_steps`` is every scalar's step."""
assert set(TAGS["progress.csv"]) | {"env_steps"} == set(COLUMNS)
assert set(TAGS["eval.csv"]) | {"env_steps"} == set(EVAL_COLUMNS)

NEGATED = {("progress.csv", "entropy")}
"""Columns written with the opposite sign (SB3's ``train/entropy_loss`` = -entropy)."""

EXTRA = "pip install 'refimpl[tensorboard]' (tensorboardX)"


def tag(name: str, column: str, algo: str) -> str:
    """The tag of ``column`` of the log file ``name`` for a run of ``algo``."""
    if (name, column, algo) == ("progress.csv", "policy_loss", "ppo"):
        return "train/policy_gradient_loss"
    return TAGS[name][column]


def scalars(name: str, row: dict, algo: str) -> dict[str, float]:
    """The tagged values of one row of the log file ``name`` (its cells as written in the CSV,
    or the values the trainer wrote there); empty cells are left out."""
    out = {}
    for column, value in row.items():
        if column == "env_steps" or value in ("", None):
            continue
        x = float(value)
        out[tag(name, column, algo)] = -x if (name, column) in NEGATED else x
    return out


def check(logdir: Path) -> None:
    """One-line RunError unless tensorboardX imports and event files can be written in
    ``logdir`` (the directory, or its nearest existing parent, must be a writable directory);
    writes nothing."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        raise RunError(f"--tensorboard needs tensorboardX, which is not installed: {EXTRA}") \
            from None
    logdir = Path(logdir)
    if logdir.exists() and not logdir.is_dir():
        raise RunError(f"--tensorboard {logdir} is not a directory")
    existing = next(p for p in (logdir, *logdir.parents) if p.exists())
    try:
        checkpoint.check_writable_directory(existing, "TensorBoard's event file")
    except ValueError as e:
        raise RunError(f"--tensorboard {logdir}: {e}") from None


class TensorBoardLog:
    """The TensorBoard event file of the run in ``run_dir``, in ``logdir``; ``write(name, row)``
    after each row appended to its log file ``name``. ``purge_step``: events at or after this
    step in ``logdir`` are hidden (those of updates after the checkpoint a run resumed from)."""

    def __init__(self, logdir: Path, run_dir: Path, algo: str, purge_step: int):
        self.logdir, self.run_dir, self.algo = Path(logdir), Path(run_dir), algo
        self.purge_step = purge_step
        self.writer = None
        self.created: list[Path] = []

    def write(self, name: str, row: dict) -> None:
        """Write ``row`` of the log file ``name``; at the first row, open the event file (and,
        if ``logdir`` had none, write the rows the run's logs already hold, this one among
        them)."""
        if self.writer is None:
            replay = self._open()
            if replay:
                for log in ("progress.csv", "eval.csv"):
                    for old in _rows(self.run_dir / log):
                        self._add(log, old)
                self.writer.flush()
                return
        self._add(name, row)
        self.writer.flush()

    def _add(self, name: str, row: dict) -> None:
        step = int(float(row["env_steps"]))
        for key, value in scalars(name, row, self.algo).items():
            self.writer.add_scalar(key, value, step)

    def _open(self) -> bool:
        """Open the writer; True if ``logdir`` held no event file before. tensorboardX names
        an event file after the second it was opened and the host, and TensorBoard reads a
        directory's files in name order: a file opened within the second of the newest one
        there would overwrite it (same name) or be read before it (another host), and a purge
        would then hide the wrong events. So this waits for the next second (at most one)."""
        from tensorboardX import SummaryWriter

        missing = [p for p in (self.logdir, *self.logdir.parents) if not p.exists()]
        before = set(self.logdir.glob("events.out.tfevents.*"))
        seconds = [int(p.name.split(".")[3]) for p in before if p.name.split(".")[3].isdigit()]
        while seconds and time.time() < max(seconds) + 1:
            time.sleep(max(seconds) + 1 - time.time())
        self.writer = SummaryWriter(str(self.logdir), purge_step=self.purge_step)
        self.created = list(reversed(missing)) + sorted(
            set(self.logdir.glob("events.out.tfevents.*")) - before)
        return not before

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def discard(self) -> None:
        """Close the event file and remove it and the directories opening it created."""
        self.close()
        for path in reversed(self.created):
            try:
                path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
            except OSError:
                pass  # a directory that is not empty holds what someone else put there
        self.created = []


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))
