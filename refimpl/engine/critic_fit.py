"""The critic's fit as a job the trainer can run elsewhere: at once in this process
(``CriticFit``) or in a process of its own (``CriticProcess``, ``--critic-process``, the default),
so that the critic fits on the core that collecting the next batch leaves free. Either way it is
``core.critic.fit_critic`` on the same inputs, and the numbers are the same bit for bit
(tests/engine/test_critic_process.py)."""
from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from refimpl.core.critic import CriticFitParams, fit_critic
from refimpl.core.nn import MLP
from refimpl.core.optim import Adam
from refimpl.engine.worker import ServedProcess, finished, may_start_process


class CriticFit:
    """``fit(critic, theta_v, opt, data, hp, rng)`` runs ``fit_critic`` and returns what
    it changed, ``(theta_v, opt, rng, loss)``. ``submit`` runs it at once, on the objects
    themselves; ``CriticProcess`` runs it on copies in a process of its own."""

    def fit(self, critic: MLP, theta_v: np.ndarray, opt: Adam, data, hp: CriticFitParams,
            rng: np.random.Generator):
        loss = fit_critic(critic, theta_v, opt, data, hp, rng)
        return theta_v, opt, rng, loss

    def start(self) -> None:
        """Nothing to start (``CriticProcess.start`` starts its process)."""

    def submit(self, *request) -> Future:
        """A finished Future of ``fit(*request)``."""
        return finished(self.fit(*request))

    def close(self) -> None:
        pass


class CriticProcess(ServedProcess):
    """``CriticFit`` in a process of its own. Its answers are new objects, the same numbers bit
    for bit."""

    def __init__(self):
        super().__init__("critic fit", CriticFit, (), "fit")


def make_critic_fit(critic_process: bool) -> CriticFit | CriticProcess:
    """``CriticProcess`` if ``critic_process`` and this process may start one, else
    ``CriticFit``."""
    return CriticProcess() if critic_process and may_start_process() else CriticFit()
