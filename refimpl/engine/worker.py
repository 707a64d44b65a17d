"""Work served by a process of its own, so that it runs on another core while training goes on:
the evaluations during training (``evaluate.EvaluationProcess``) and the critic's fit
(``critic.CriticProcess``).

``ServedProcess(what, make, args, method)`` starts a process (``spawn``: nothing of the training
process's state is inherited) at ``start`` or its first ``submit``, builds ``make(*args)``
there, and answers each request with that object's ``method`` on the request's arguments,
pickled at ``submit``, so the caller may change them right after. The answers are the numbers the same call gives in the
training process, bit for bit: the same code on the same inputs with one BLAS thread, as
training uses. One request at a time: ``submit`` waits for the answer before. The process
ignores Ctrl-C, which the training process handles, from its start (without a traceback if it
comes while the process starts), and NumPy's floating-point warnings, as training does; it ends
when it is closed or the training process dies.

Tested through its users in tests/engine/test_evaluation.py and tests/engine/test_critic_process.py,
and in tests/engine/test_faults.py::test_a_helper_process_interrupted_as_it_starts_prints_nothing.
"""
from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import Future
from multiprocessing import resource_tracker

import numpy as np

from refimpl.engine.errors import WorkerError


class ServedProcess:
    """``make(*args)``'s ``method`` in a process of its own; ``what`` names the work in errors."""

    def __init__(self, what: str, make, args: tuple, method: str):
        self.what, self.make, self.args, self.method = what, make, args, method
        self.conn = self.process = None
        self.future: Future | None = None

    def start(self) -> None:
        """Start the process if it has not started, without waiting for it: it starts up
        (imports, ``make``) while the caller goes on. ``submit`` starts it if this did not."""
        if self.process is None:
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.process = ctx.Process(target=_serve, daemon=True,
                                       args=(child, self.make, self.args, self.method))
            # Ctrl-C reaches the process group, the new process too while it starts, before
            # _serve ignores it: it starts with SIGINT blocked (pending here meanwhile). The
            # resource tracker, which starting it starts first, unblocks SIGINT as it starts.
            resource_tracker.ensure_running()
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self.process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            child.close()

    def submit(self, *request) -> Future:
        """A Future of ``method(*request)`` computed in the process."""
        self.start()
        if self.future is not None:
            self.future.result()
        self.future = _Reply(self.conn, self.process, self.what)
        try:
            self.conn.send(request)
        except OSError:
            pass  # the process has died, and its reply will say so (the pipe is closed)
        return self.future

    def close(self) -> None:
        if self.process is not None:
            self.conn.close()
            self.process.terminate()
            self.process.join()
            self.process = None


def finished(value) -> Future:
    """A Future already holding ``value``: what the in-process twins of a ``ServedProcess``
    (``evaluate.Evaluation``, ``critic.CriticFit``) return from ``submit``."""
    future: Future = Future()
    future.set_result(value)
    return future


def may_start_process() -> bool:
    """False in a daemonic process (such as a Dask or multiprocessing pool worker), which may not
    start processes of its own."""
    return not multiprocessing.current_process().daemon


class _Reply(Future):
    """The Future of a request sent to a ``ServedProcess``: its answer is the next message on
    the pipe. A failure in the process, or its death, is a WorkerError here."""

    def __init__(self, conn, process, what: str):
        super().__init__()
        self.conn, self.process, self.what = conn, process, what

    def done(self) -> bool:
        return super().done() or self.conn.poll()

    def result(self, timeout=None):
        if not super().done():
            try:
                ok, value = self.conn.recv()
            except (EOFError, OSError):
                self.process.join(timeout=5)
                ok, value = False, (f"the {self.what} process ended (exit status "
                                    f"{self.process.exitcode})")
            if ok:
                self.set_result(value)
            else:
                self.set_exception(WorkerError(f"{self.what} failed: {value}"))
        return super().result()


def _serve(conn, make, args: tuple, method: str) -> None:
    """The loop of a ``ServedProcess``: receive a request, answer (True, the result) or
    (False, the error), until the pipe closes."""
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # discards one that came while it started
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threadpool_limits(1, user_api="blas")  # one core, as training uses
    np.seterr(all="ignore")  # as in training (trainer.train): its checks tell a NaN or infinity
    server = make(*args)
    answer_to = getattr(server, method)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        try:
            answer = (True, answer_to(*request))
        except Exception as e:  # reported in the training process, which stops
            answer = (False, f"{type(e).__name__}: {e}")
        try:
            conn.send(answer)
        except (BrokenPipeError, OSError):
            break
    close = getattr(server, "close", None)
    if close is not None:
        close()
