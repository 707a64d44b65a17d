"""The kinds of failure refimpl tells apart, and how the command line reports them.

* A mistake in what the user gave (a flag, a file, a run directory) is a ``ValueError``:
  one line on stderr, exit status 2, nothing left behind.
* ``NumericalError``: a NaN or infinity, or a curvature that should be positive and is not, met
  inside the math while training. It is not the user's mistake: exit status 1, with a message
  naming where it appeared, and the checkpoint of the last good update is kept.
* The engine's own failures (a helper process, a file that cannot be written, a run directory
  that is not what it should be) are in ``refimpl.engine.errors``.
"""
from __future__ import annotations


class NumericalError(ArithmeticError):
    """A non-finite or impossible value inside a computation; the message says where."""
