"""Loading the adapters of examples/adapters/ and reading their reports, for
tests/crosscheck/test_adapters.py (Stable-Baselines3, sb3-contrib, CleanRL) and
tests/crosscheck/test_adapters_tianshou.py (Tianshou)."""
import importlib.util
import sys
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "examples" / "adapters"


def load(name):
    """The adapter module examples/adapters/NAME.py (its directory on sys.path, as when it is
    run as a script, so that it finds _common)."""
    sys.path.insert(0, str(ADAPTERS))
    spec = importlib.util.spec_from_file_location(name, ADAPTERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def failed_with(report):
    """{key: diagnosis ids} of the keys that fail."""
    return {r.key: r.diagnoses for r in report.rows if r.status == "FAIL"}
