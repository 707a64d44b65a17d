"""The engine's failures. A user's mistake is a ValueError (one line, exit status 2); a helper
process that failed is a WorkerError (exit status 1, the last good checkpoint kept); the math's
own failure, ``refimpl.core.errors.NumericalError``, is told the same way as a WorkerError."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path


class WorkerError(RuntimeError):
    """A helper process's work failed, or the process died; the message names the work."""


class RunError(ValueError):
    """A user mistake about the run directory or checkpoint (reported as one line)."""


class WriteError(RunError):
    """A file of the run directory could not be written (full disk, read-only, removed)."""


@contextmanager
def writing(path: Path):
    """Turn an OSError raised inside the block into a one-line WriteError naming ``path``."""
    try:
        yield
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
