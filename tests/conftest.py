"""Hypothesis profiles: ``ci`` is fast and deterministic (set by ``.ci/run``); ``thorough`` is the
local default. Choose with ``HYPOTHESIS_PROFILE=ci|thorough pytest``."""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=15, derandomize=True, deadline=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "thorough"))
