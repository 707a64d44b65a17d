"""One writer per run directory: an exclusive ``flock`` on the file ``LOCK`` inside it, held for
the run's life and holding the writer's PID, so that a second writer is refused naming it.

The kernel releases the lock when its process ends, however it ends (``kill -9`` included), so a
lock file left by a dead process blocks nothing: the next writer takes it and writes its own PID.
A writer that ends normally removes the file as it releases the lock. ``flock`` locks an open file,
not a name, so a writer that locked a file which its previous holder removed in between takes the
file now at the name instead. Tested in ``tests/engine/test_faults.py::
test_a_second_writer_is_refused_naming_the_first_and_a_killed_run_resumes``.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from refimpl.engine.errors import RunError, WriteError

LOCK = ".refimpl.lock"
"""The lock file's name in a run directory."""


class DirectoryLock:
    """The exclusive lock of ``directory`` (which must exist), taken at construction: RunError
    (one line naming the PID of the process holding it) if another process holds it, WriteError
    if the lock file cannot be created. ``release`` removes the file and releases the lock."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / LOCK
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _holder(fd)
                os.close(fd)
                raise RunError(f"{directory} is in use by another refimpl process (PID {pid}); "
                               "a run directory has one writer: wait for it to end or stop "
                               "it") from None
            except OSError as e:  # a file system without locks
                os.close(fd)
                raise WriteError(f"cannot lock {self.path}: {e.strerror or e}") from None
            if self._names(fd):
                break
            os.close(fd)  # its holder removed it after we opened it: lock the one there now
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd: int | None = fd

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as e:
            raise WriteError(f"cannot write {self.path}: {e.strerror or e}") from None

    def _names(self, fd: int) -> bool:
        """True if ``self.path`` names the file open as ``fd``."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the lock file (if it is still this lock's) and release the lock; idempotent."""
        if self.fd is None:
            return
        if self._names(self.fd):
            self.path.unlink(missing_ok=True)
        fcntl.flock(self.fd, fcntl.LOCK_UN)  # also for children that inherited the descriptor
        os.close(self.fd)
        self.fd = None


def _holder(fd: int) -> str:
    """The PID written in the lock file open as ``fd``; its holder writes it right after
    locking, so an empty file is read again for up to 1 s; "unknown" if it stays empty."""
    for _ in range(100):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.01)
    return "unknown"
