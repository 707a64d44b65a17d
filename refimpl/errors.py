"""The kinds of failure refimpl tells apart, and how the command line reports them.

* A mistake in what the user gave (a flag, a file, a run directory) is a ``ValueError``:
  one line on stderr, exit status 2, nothing left behind.
* ``NumericalError``: a NaN or infinity, or a curvature that should be positive and is not, met
  inside the math while training. It is not the user's mistake: exit status 1, with a message
  naming where it appeared, and the checkpoint of the last good update is kept.
* ``WorkerError``: a process training started for part of its work (``refimpl.worker``: the
  evaluations, the critic's fit) failed or died. Exit status 1, the message names the work,
  and the checkpoint of the last good update is kept.
"""
from __future__ import annotations


class NumericalError(ArithmeticError):
    """A non-finite or impossible value inside a computation; the message says where."""


class WorkerError(RuntimeError):
    """A helper process's work failed, or the process died; the message names the work."""
