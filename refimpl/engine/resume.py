"""Resuming a run: what it continues from, what it may change, and the logs it keeps.

Resuming keeps the stored configuration: a requested field that differs is refused
(``resumed_config``), except ``vector`` (how the environments are stepped, which gives the same
numbers) and ``steps``, which may lengthen or shorten a run without a schedule (with
``anneal_lr``, PPO's ``anneal_clip`` or TRPO's and NPG's ``delta_final`` the schedule depends on
the run's length, so the updates done would not be those of a run of the new length).
``config.json`` must agree with the checkpoint's stored configuration field for field, and the
logs with the checkpoint row for row (``resumed_logs``): a crash leaves at most the rows of the
one update after the checkpoint, which are dropped and redone, and perhaps that update's row cut
short, which is dropped with a note; anything else (a row missing or repeated, a file that is a
directory, ``latest.npz`` gone beside other checkpoints) is refused in one line, before anything
is written.

Tested in tests/engine/test_bad_files.py, tests/engine/test_bad_input.py and
tests/engine/test_train.py (exact resume and extension).
"""
from __future__ import annotations

import math
from pathlib import Path

from refimpl.engine import checkpoint
from refimpl.engine.config import Config, flag
from refimpl.engine.errors import RunError
from refimpl.engine.logs import COLUMNS, EVAL_COLUMNS, read_log
from refimpl.engine.rundir import HOW_IT_RUNS, PENDING, check_kinds, read_config, run_evidence

RESUME_MAY_CHANGE = ("steps", *HOW_IT_RUNS)
"""Config fields a resumed run may change: its length, and HOW_IT_RUNS."""


def stored_run(out: Path) -> tuple[Config, dict | None]:
    """The configuration and latest checkpoint (None before the first update finished) of the
    run in ``out``; RunError if there is none, if one of its files is not a file
    (``check_kinds``), if config.json is missing, if latest.npz is missing beside other
    checkpoints (resuming would train the run again from update 0), or if config.json disagrees
    with the configuration stored in the checkpoint."""
    check_kinds(out)
    cfg_path, latest = out / "config.json", out / "checkpoints" / "latest.npz"
    if not cfg_path.is_file():
        if latest.exists():
            raise RunError(f"{cfg_path} is missing; a run directory needs it beside its "
                           "checkpoints")
        raise RunError(f"{out} holds no run to resume (no config.json)")
    written = read_config(cfg_path, cfg_path.read_text())
    if not latest.exists():
        other = run_evidence(out)
        if other is not None:
            there = "has rows past update 1" if other.name == "progress.csv" else "is there"
            raise RunError(f"{latest} is missing although {other} {there}: resuming would "
                           "train the run again from update 0; restore latest.npz (a finished "
                           "run's final.npz holds its last update) to continue it")
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


def resumed_logs(out: Path, cfg: Config, update: int) -> list[tuple[Path, bytes, bool]]:
    """What progress.csv and eval.csv of the run of ``cfg`` in ``out`` become when it resumes
    from the checkpoint of ``update`` (0: none): (path, their rows up to ``update``, whether a
    torn last line was dropped), for the files that exist. Reads only.

    A run appends an update's rows (its progress row, an evaluation's row) before it writes the
    update's checkpoint, and an evaluation's row may come an update later or, if the run died
    first, on resume from ``checkpoints/evaluation.npz``. So the logs agree with the checkpoint
    when progress.csv holds the rows of updates 1, 2, ..., ``update`` and perhaps ``update + 1``,
    and eval.csv those of the updates that evaluated (``cfg.eval_every``) up to ``update`` but
    for the last one if its evaluation is pending, and perhaps ``update + 1``'s, in order. A last
    line without its end of line is what an interrupted append leaves (refimpl ends every line
    it writes), so it is dropped; anything else is RunError (one line naming the file and what
    is wrong): the run would continue with updates missing or logged twice. Tested in
    ``tests/engine/test_bad_files.py::test_resume_refuses_logs_and_files_that_disagree_with_the_
    checkpoint`` and ``::test_a_torn_last_line_is_dropped_with_a_note_and_the_run_resumes_exactly``.
    """
    batch, every = cfg.horizon * cfg.num_envs, cfg.eval_every
    evaluated = [k for k in range(1, update + 2)
                 if every and k * batch // every > (k - 1) * batch // every]
    done = [k for k in evaluated if k <= update]
    pending = done[-1:] == [_pending_update(out)]
    latest = out / "checkpoints" / "latest.npz"
    at = f"{latest} (update {update})" if update else f"update 0 ({latest} does not exist)"
    logs = []
    for name, columns, expected, required in (
            ("progress.csv", COLUMNS, list(range(1, update + 2)), update),
            ("eval.csv", EVAL_COLUMNS, evaluated, len(done) - pending)):
        path = out / name
        try:
            rows, torn = read_log(path, columns) if path.exists() else ([], None)
            problem = _disagreement([k for k, _ in rows], expected, required)
        except ValueError as e:
            problem = str(e)
        if problem is not None:
            raise RunError(f"{path} cannot be continued from {at}: {problem}; restore the file, "
                           "or train the run again in another directory")
        if path.exists():
            text = "".join([",".join(columns) + "\n", *(line for k, line in rows if k <= update)])
            logs.append((path, text.encode(), torn is not None))
    return logs


def _disagreement(updates: list[int], expected: list[int], required: int) -> str | None:
    """What is wrong with a log whose rows are of ``updates``, in file order, if they must be
    the first ``required`` or more of ``expected``; None if nothing."""
    for i, k in enumerate(updates):
        if i < len(expected) and k == expected[i]:
            continue
        if k in updates[:i]:
            return f"update {k} has two rows (lines {updates.index(k) + 2} and {i + 2})"
        if i >= len(expected):
            return (f"line {i + 2} is of update {k}, but a run writes at most one row past its "
                    "checkpoint")
        if k > expected[i]:
            return f"the row of update {expected[i]} is missing"
        return f"line {i + 2} is of update {k}, where the row of update {expected[i]} belongs"
    if len(updates) < required:
        return f"the row of update {expected[len(updates)]} is missing"
    return None


def _pending_update(out: Path) -> int | None:
    """The update of the evaluation whose inputs ``checkpoints/evaluation.npz`` holds; None
    if there is none, or it is unreadable (resuming refuses it then, naming it)."""
    try:
        return int(checkpoint.read_npz(out / "checkpoints" / PENDING)["update"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
