"""Hypothesis profiles. Choose one with ``HYPOTHESIS_PROFILE=NAME pytest``.

``deterministic`` (the default when HYPOTHESIS_PROFILE is unset; the README's test command)
    100 examples per property, drawn from a seed fixed per test and no example database, so every
    run on every machine tries the same inputs and passes or fails the same way::

        pytest

``thorough`` (randomised exploration; run it before a release and after touching a strategy)
    300 fresh random examples per property on every run. A failure prints the falsifying example
    and a ``@reproduce_failure`` blob, and the local example database replays it on the next run;
    fix its cause and pin the example with ``@example`` in the test::

        HYPOTHESIS_PROFILE=thorough pytest

``quick`` (while working on one module)
    15 examples per property, derandomised like ``deterministic``::

        HYPOTHESIS_PROFILE=quick pytest tests/core/test_nn.py
"""
import os

from hypothesis import HealthCheck, settings

_COMMON = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deterministic", max_examples=100, derandomize=True, database=None,
                          **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)
settings.register_profile("quick", max_examples=15, derandomize=True, database=None, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
