"""The run directory's rules: what holds a run, what a resumed run may change, and what a stopped
run left; ``RunDirectory`` writes its files.

Lifecycle of a run directory. It holds a run once ``checkpoints/latest.npz`` exists, that is once
the first update has finished; a new run refuses such a directory, and ``resume`` continues it.
Before that the directory is disposable:

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

Resuming keeps the stored configuration: a requested field that differs is refused
(``resumed_config``), except ``vector`` (how the environments are stepped, which gives the same
numbers) and ``steps``, which may lengthen or shorten a run without a schedule (with
``anneal_lr``, PPO's ``anneal_clip`` or TRPO's and NPG's ``delta_final`` the schedule depends on
the run's length, so the updates done would not be those of a run of the new length).
``config.json`` must agree with the checkpoint's stored configuration field for field.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

from refimpl.engine import checkpoint, provenance
from refimpl.engine.config import Config, flag
from refimpl.engine.errors import RunError, writing
from refimpl.engine.logs import COLUMNS, EVAL_COLUMNS

TEMPORARIES = (".config.json.*.tmp", ".run.json.*.tmp", ".progress.csv.*.tmp",
               ".eval.csv.*.tmp", ".learning_curve.png.*.tmp",
               "checkpoints/.*.npz.*.tmp")
"""Names of the temporary files of ``checkpoint.atomic_write`` in a run directory."""


HOW_IT_RUNS = ("vector", "eval_process", "critic_process")
"""Config fields that choose how a run's work is done, not what it computes: how its
environments are stepped and where its evaluations and critic fits run (the same numbers)."""


RESUME_MAY_CHANGE = ("steps", *HOW_IT_RUNS)
"""Config fields a resumed run may change: its length, and HOW_IT_RUNS."""


def read_config(path: Path, text: str) -> Config:
    """The Config stored as JSON ``text`` in ``path``; RunError naming the file otherwise."""
    try:
        return Config.from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} does not hold a JSON configuration ({e})") from None
    except ValueError as e:
        raise RunError(f"{path}: {e}") from None


def stored_run(out: Path) -> tuple[Config, dict | None]:
    """The configuration and latest checkpoint (None before the first update finished) of the
    run in ``out``; RunError if there is none, if config.json is missing, or if it disagrees
    with the configuration stored in the checkpoint."""
    cfg_path, latest = out / "config.json", out / "checkpoints" / "latest.npz"
    if not cfg_path.is_file():
        if latest.exists():
            raise RunError(f"{cfg_path} is missing; a run directory needs it beside its "
                           "checkpoints")
        raise RunError(f"{out} holds no run to resume (no config.json)")
    written = read_config(cfg_path, cfg_path.read_text())
    if not latest.exists():
        return written, None
    state = checkpoint.load(latest)
    trained = read_config(latest, str(state["config"]))
    name = written.first_difference(trained)
    if name is not None:
        raise RunError(f"{cfg_path} says {name} = {getattr(written, name)!r}, but {latest} was "
                       f"trained with {getattr(trained, name)!r}; restore config.json to "
                       "continue the run")
    return trained, state


def resumed_config(stored: Config, requested: dict | None, done: int) -> Config:
    """``stored`` with the ``requested`` field values, refusing any that differs except those
    of RESUME_MAY_CHANGE; ``done`` is the number of updates already finished."""
    if not requested:
        return stored
    cfg = Config.from_dict({**stored.to_dict(), **requested})
    for name in requested:
        if name not in RESUME_MAY_CHANGE and getattr(cfg, name) != getattr(stored, name):
            raise RunError(f"{flag(name)} {getattr(cfg, name)!r} conflicts with the run's stored "
                           f"{name} = {getattr(stored, name)!r}; a resumed run keeps its "
                           "configuration, only --steps and how it runs (--vector, "
                           "--eval-process, --critic-process) may change")
    batch = stored.horizon * stored.num_envs
    before, after = math.ceil(stored.steps / batch), math.ceil(cfg.steps / batch)
    if after < done:
        raise RunError(f"--steps {cfg.steps} is fewer than the {done * batch} steps the run has "
                       "already done")
    schedules = [name for name, on in stored.schedule().items() if on not in (False, None)]
    if schedules and after != before:
        raise RunError(f"--steps cannot change the length of a run with {' and '.join(schedules)}: "
                       f"its schedule runs over its {before} updates, so the updates done "
                       "would differ from those of a run of the new length")
    return cfg


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
    atomically; ``created`` lists what this process made, for ``discard``; ``notes`` collects
    one-line remarks for the user. Every row appended to progress.csv or eval.csv also goes to
    ``tensorboard`` if it is set (``refimpl.engine.tensorboard``). The trainer's ``Run`` is one;
    it provides ``cfg`` and ``state()``."""

    tensorboard = None

    def has_checkpoint(self) -> bool:
        """True once the first update has finished (from then on the directory holds a run)."""
        return (self.ckpt_dir / "latest.npz").exists()

    def _remove_stale_temporaries(self) -> None:
        """Delete the temporary files that interrupted atomic writes (kill -9) left behind."""
        for pattern in TEMPORARIES:
            for tmp in self.out.glob(pattern):
                with writing(tmp):
                    tmp.unlink(missing_ok=True)

    def _create_directory(self, stored: Config | None = None) -> None:
        """Start a run directory: the directories missing, config.json and the progress.csv
        header. For a run resumed from update 0, ``stored`` is its configuration, whose
        config.json stays (rewritten only for a new length) and is not removed by
        ``discard``. Removes what it made if it fails."""
        try:
            for d in (self.out, self.ckpt_dir):
                missing = [p for p in (d, *d.parents) if not p.exists()]
                try:
                    d.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise RunError(f"cannot create run directory {self.out}: "
                                   f"{e.strerror}") from None
                self.created.extend(reversed(missing))  # outermost first
            if not os.access(self.out, os.W_OK):
                raise RunError(f"cannot write to run directory {self.out}")
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

    def _truncate_logs(self, update: int) -> None:
        """Keep the progress.csv and eval.csv rows up to the checkpoint's update (later ones are
        redone). A row cut short by a crash or a full disk lacks its last columns and is
        dropped."""
        for name, columns in (("progress.csv", COLUMNS), ("eval.csv", EVAL_COLUMNS)):
            path = self.out / name
            if not path.exists() and name == "eval.csv":
                continue
            rows = []
            if path.exists():
                with path.open() as f:
                    rows = [r for r in csv.DictReader(f)
                            if None not in r.values() and None not in r]
            buf = io.StringIO()
            w = csv.DictWriter(buf, columns, lineterminator="\n")
            w.writeheader()
            w.writerows(r for r in rows if int(r["update"]) <= update)
            with writing(path):
                checkpoint.atomic_write(path, lambda f: f.write(buf.getvalue().encode()))

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
