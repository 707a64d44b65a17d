"""The run directory's rules: what holds a run, what a resumed run may change, and what a stopped
run left; ``RunDirectory`` writes its files.

One writer: a run holds its directory's lock (``lock.DirectoryLock``) from before it reads or
writes anything there until it ends, so a second ``train`` or ``--resume`` of the directory, or a
sweep's worker, is refused naming the PID of the first.

Lifecycle of a run directory. It holds a run once ``checkpoints/latest.npz`` exists, that is once
the first update has finished; a new run refuses such a directory (or one holding another of its
checkpoints or the logs of more than its first update), and ``resume`` continues it. A new
run's ``--out`` must be new, empty, or hold only what a run directory holds (``foreign_entry``),
so that refimpl never writes into a directory of other files. Before the first checkpoint the
directory is disposable:

* every Config field is validated, and the environment made, before anything is written;
* a failure before the first checkpoint (a NaN, Ctrl-C, a full disk) removes what this call
  created (``Run.discard``), so the corrected command starts cleanly;
* what a killed process (``kill -9``) left before its first checkpoint (``config.json``,
  ``run.json``, ``progress.csv``, an empty ``checkpoints/``) is overwritten by a new run, and
  ``resume`` starts it from update 0 with its ``config.json``;
* stale temporary files of interrupted atomic writes (``.NAME.*.tmp``) are removed on every
  start and resume.

``run.json`` (what the run ran on, ``refimpl.engine.provenance``) is written at the start beside
``config.json``; it takes no part in resuming: a resume on another machine or other versions
goes on, says so in one line and appends the new record to it (``_write_provenance``).

Resuming: ``engine.resume``.
"""
from __future__ import annotations

import csv
import fnmatch
import json
import os
from pathlib import Path

from refimpl.engine import checkpoint, provenance
from refimpl.engine.config import Config
from refimpl.engine.errors import RunError, writing
from refimpl.engine.lock import LOCK, DirectoryLock
from refimpl.engine.logs import COLUMNS, EVAL_COLUMNS

TEMPORARIES = (".config.json.*.tmp", ".run.json.*.tmp", ".progress.csv.*.tmp",
               ".eval.csv.*.tmp", ".learning_curve.png.*.tmp",
               "checkpoints/.*.npz.*.tmp")
"""Names of the temporary files of ``checkpoint.atomic_write`` in a run directory."""


FILES = ("config.json", "run.json", "progress.csv", "eval.csv", "learning_curve.png")
"""The files of a run directory beside its ``checkpoints/`` directory (and its LOCK)."""


PENDING = "evaluation.npz"
"""In ``checkpoints/``: the inputs of an evaluation whose eval.csv row is not written yet
(``eval_log.EvaluationLog.start_evaluation``)."""


CHECKPOINTS = ("latest.npz", "final.npz", PENDING, "update_[0-9][0-9][0-9][0-9][0-9][0-9].npz")
"""Names (glob patterns) of the files in a run directory's ``checkpoints/``."""


HOW_IT_RUNS = ("vector", "eval_process", "critic_process")
"""Config fields that choose how a run's work is done, not what it computes: how its
environments are stepped and where its evaluations and critic fits run (the same numbers)."""


def read_config(path: Path, text: str) -> Config:
    """The Config stored as JSON ``text`` in ``path``; RunError naming the file otherwise."""
    try:
        return Config.from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} does not hold a JSON configuration ({e})") from None
    except ValueError as e:
        raise RunError(f"{path}: {e}") from None


def foreign_entry(out: Path) -> str | None:
    """The first name in directory ``out`` or its ``checkpoints/`` (as ``checkpoints/NAME``) that
    is none of a run directory's (FILES, ``checkpoints``, CHECKPOINTS, LOCK, TEMPORARIES);
    None if there is none."""
    def ours(name: str, patterns) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)
    top = (*FILES, "checkpoints", LOCK, *(t for t in TEMPORARIES if "/" not in t))
    inside = (*CHECKPOINTS, *(t.split("/")[1] for t in TEMPORARIES if "/" in t))
    ckpt = out / "checkpoints"
    try:
        names = [*sorted(p.name for p in out.iterdir() if not ours(p.name, top)),
                 *(f"checkpoints/{name}" for name in sorted(
                     p.name for p in (ckpt.iterdir() if ckpt.is_dir() else ())
                     if not ours(p.name, inside)))]
    except OSError as e:
        raise RunError(f"cannot read {out}: {e.strerror or e}") from None
    return names[0] if names else None


def check_new_out(out: Path) -> None:
    """RunError (one line) unless directory ``out`` may take a new run without overwriting
    anything but refimpl's: it does not exist, is empty, or holds only what a run directory holds
    (``foreign_entry``; a config.json must be a refimpl configuration). Reads only: called before
    the run takes the directory's lock. A directory that holds a trained run passes, for the run
    to refuse under the lock (``run_evidence``). Tested in ``tests/engine/test_bad_input.py::
    test_out_holding_other_files_is_refused_writing_nothing``."""
    if not out.is_dir() or run_evidence(out) is not None:
        return
    name = foreign_entry(out)
    if name is not None:
        raise RunError(f"{out} is not empty and holds no refimpl run (it holds {name}); give "
                       "a new or empty directory")
    check_kinds(out)
    config = out / "config.json"
    if config.exists():
        try:
            Config.from_dict(json.loads(config.read_text()))
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise RunError(f"{out} is not empty and holds no refimpl run: its config.json is "
                           f"not a refimpl configuration ({e}); give a new or empty "
                           "directory") from None


def run_evidence(out: Path) -> Path | None:
    """The first file in ``out`` that shows the run there has finished an update, or None: a
    checkpoint (latest.npz, final.npz, update_NNNNNN.npz), or a progress.csv with rows past
    update 1 (a run killed before its first checkpoint leaves at most that one)."""
    ckpt = out / "checkpoints"
    named = [ckpt / "latest.npz", ckpt / "final.npz",
             *sorted(ckpt.glob(CHECKPOINTS[-1]) if ckpt.is_dir() else ())]
    found = next((p for p in named if p.exists()), None)
    progress = out / "progress.csv"
    if found is None and progress.is_file() and progress.read_bytes().count(b"\n") > 2:
        return progress
    return found


def check_kinds(out: Path) -> None:
    """RunError (one line) naming the first file of run directory ``out`` that exists but is
    not a file (a directory, say), or its ``checkpoints/`` if that is not a directory."""
    ckpt = out / "checkpoints"
    if ckpt.exists() and not ckpt.is_dir():
        raise RunError(f"{ckpt} is a file, not a directory; a run directory keeps its "
                       "checkpoints in a directory of that name")
    names = ([ckpt / p for p in CHECKPOINTS[:-1]] + sorted(ckpt.glob(CHECKPOINTS[-1]))
             if ckpt.is_dir() else [])
    for path in [*(out / name for name in FILES), *names]:
        if path.exists() and not path.is_file():
            kind = "a directory, not a file" if path.is_dir() else "not a regular file"
            raise RunError(f"{path} is {kind}: a run directory holds its own file under that "
                           "name; move it away")


def _read_run_json(path: Path) -> tuple[dict | None, str | None]:
    """run.json's contents and None, or None and why it cannot be used."""
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return None, "is missing (a run from before refimpl recorded what a run ran on)"
    except (OSError, ValueError) as e:
        return None, f"is unreadable ({e})"
    if not isinstance(stored, dict) or not isinstance(stored.get("resumed", []), list):
        return None, "is not a run.json object"
    return stored, None


def kept(out: Path) -> str:
    """What a stopped run left: its last good checkpoint, or that there is none."""
    latest = Path(out) / "checkpoints" / "latest.npz"
    if not latest.exists():
        return "no update had finished, so no checkpoint was kept"
    try:
        update = f" (update {int(checkpoint.load(latest)['update'])})"
    except ValueError:
        update = ""
    return f"the last good checkpoint is {latest}{update}"


class RunDirectory:
    """The files of a run in ``self.out``: config.json, run.json (what it ran on,
    ``refimpl.engine.provenance``), progress.csv, eval.csv and ``checkpoints/``, each written
    atomically, under the directory's lock (``take``, ``release``); ``created`` lists what this
    process made, for ``discard``; ``notes`` collects one-line remarks for the user. Every row
    appended to progress.csv or eval.csv also goes to ``tensorboard`` if it is set
    (``refimpl.engine.tensorboard``). The trainer's ``Run`` is one; it provides ``cfg`` and
    ``state()``."""

    tensorboard = None
    lock: DirectoryLock | None = None

    def take(self, resume: bool) -> None:
        """Take the run directory before reading or writing anything in it: for a new run, check
        ``--out`` (``check_new_out``) and create it; then take its lock (a RunError naming the
        PID of another process that holds it), whose file ``discard`` removes with what else
        this process created. A new run then refuses a directory that holds a trained run."""
        if resume and not self.out.is_dir():
            raise RunError(f"{self.out} holds no run to resume ("
                           f"{'not a directory' if self.out.exists() else 'no such directory'})")
        if not resume:
            check_new_out(self.out)
            self._make_directory(self.out)
        self.lock = DirectoryLock(self.out)
        self.created.append(self.lock.path)
        if not resume and run_evidence(self.out) is not None:
            raise RunError(f"{self.out} already holds a run; pass --resume {self.out} to continue "
                           "it or choose another --out")

    def release(self) -> None:
        """Remove the lock file and release the directory's lock (``take``)."""
        if self.lock is not None:
            self.lock.release()

    def has_checkpoint(self) -> bool:
        """True once the first update has finished (from then on the directory holds a run)."""
        return (self.ckpt_dir / "latest.npz").exists()

    def _remove_stale_temporaries(self) -> None:
        """Delete the temporary files that interrupted atomic writes (kill -9) left behind."""
        for pattern in TEMPORARIES:
            for tmp in self.out.glob(pattern):
                with writing(tmp):
                    tmp.unlink(missing_ok=True)

    def _make_directory(self, d: Path) -> None:
        """Create directory ``d`` and its missing parents, remembering them for ``discard``."""
        missing = [p for p in (d, *d.parents) if not p.exists()]
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RunError(f"cannot create run directory {self.out}: {e.strerror}") from None
        self.created.extend(reversed(missing))  # outermost first

    def _create_directory(self, stored: Config | None = None) -> None:
        """Start a run directory: ``checkpoints/``, config.json and the progress.csv header,
        removing the eval.csv and pending evaluation a run killed before its first checkpoint
        left (its update 1 is redone). For a run resumed from update 0, ``stored`` is its
        configuration, whose config.json stays (rewritten only for a new length) and is not
        removed by ``discard``. Removes what it made if it fails."""
        try:
            self._make_directory(self.ckpt_dir)
            if not os.access(self.out, os.W_OK):
                raise RunError(f"cannot write to run directory {self.out}")
            for leftover in (self.out / "eval.csv", self.ckpt_dir / PENDING):
                with writing(leftover):
                    leftover.unlink(missing_ok=True)
            if stored is None or self.cfg != stored:
                self._write_config(ours=stored is None)
            if stored is None:
                self._write_provenance()
            self._write(self.out / "progress.csv", (",".join(COLUMNS) + "\n").encode())
        except BaseException:
            self.discard()
            raise

    def _write_config(self, ours: bool = True) -> None:
        self._write(self.out / "config.json", json.dumps(self.cfg.to_dict(), indent=2).encode(),
                    ours)

    def _write_provenance(self, resumed_at: int | None = None) -> None:
        """run.json: at a run's start (``resumed_at`` None) ``provenance.record()``. On resume
        at update ``resumed_at``, nothing if this process's record equals the last one of the
        run (its start, or the last entry of the list ``resumed``); otherwise the record is
        appended to ``resumed`` with the update, and a note says what changed. A run.json that
        is missing (a run from before it was written) or unreadable never stops a resume: it
        is written anew, its start unknown (null)."""
        path, now = self.out / "run.json", provenance.record()
        if resumed_at is None:
            self._write(path, (json.dumps(now, indent=2) + "\n").encode())
            return
        stored, problem = _read_run_json(path)
        if stored is None:
            stored = {**{k: None for k in provenance.FIELDS}, "resumed": []}
            self.notes.append(f"{path} {problem}: recording what this run runs on from update "
                              f"{resumed_at} on")
        history = stored.setdefault("resumed", [])
        last = history[-1] if history else stored
        changed = provenance.differences(last, now)
        if not changed:
            return
        if problem is None:
            self.notes.append(f"resuming at update {resumed_at} with "
                              f"{provenance.describe(changed, last)}: the run goes on, but is no "
                              f"longer bit for bit one machine's run (recorded in {path})")
        history.append({"update": resumed_at, **now})
        self._write(path, (json.dumps(stored, indent=2) + "\n").encode(), ours=False)

    def _write(self, path: Path, data: bytes, ours: bool = True) -> None:
        """Write ``data`` to ``path`` atomically; ``ours``: remember it for ``discard``."""
        with writing(path):
            checkpoint.atomic_write(path, lambda f: f.write(data))
        if ours:
            self.created.append(path)

    def discard(self) -> None:
        """Remove the files and (now empty) directories this Run created, newest first, and
        its TensorBoard event file; for a failure before the first checkpoint, when the
        directory holds nothing worth keeping."""
        if self.tensorboard is not None:
            self.tensorboard.discard()
        for path in reversed(self.created):
            try:
                path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
            except OSError:
                pass  # a directory that is not empty holds what someone else put there
        self.created.clear()

    def _write_logs(self, logs: list[tuple[Path, bytes, bool]]) -> None:
        """Write the logs of a resumed run as ``resumed_logs`` gave them (their rows up to the
        checkpoint's update; later ones are redone), with a note of each whose torn last line
        was dropped."""
        for path, data, torn in logs:
            if torn:
                self.notes.append(f"{path} ends in a line cut short (no end of line), as an "
                                  "interrupted write leaves it; it is dropped and its update "
                                  "redone")
            with writing(path):
                checkpoint.atomic_write(path, lambda f: f.write(data))

    def save(self, name: str = "latest.npz", state: dict | None = None) -> Path:
        """Write the checkpoint ``state`` (by default the current one) as ``checkpoints/name``."""
        path = self.ckpt_dir / name
        with writing(path):
            checkpoint.save(path, self.state() if state is None else state)
        return path

    def append_progress(self, row: dict) -> None:
        self._append_row("progress.csv", COLUMNS, row)

    def append_eval(self, row: dict) -> None:
        self._append_row("eval.csv", EVAL_COLUMNS, row)

    def _append_row(self, name: str, columns: tuple[str, ...], row: dict) -> None:
        """Append ``row`` to the CSV file ``name`` of the run, with a header if it is new."""
        path = self.out / name
        new = not path.exists()
        with writing(path), path.open("a", newline="") as f:
            w = csv.DictWriter(f, columns, lineterminator="\n")
            if new:
                w.writeheader()
            w.writerow(row)
        if new and not self.has_checkpoint():
            self.created.append(path)
        if self.tensorboard is not None:
            self.tensorboard.write(name, row)
