"""What a run ran on: ``run.json`` beside config.json, and the same fields in a sweep's summary.

A seed reproduces a run bit for bit only on the same floating-point path: the same code
(refimpl's version and git commit), the same Python, NumPy, SciPy, gymnasium and MuJoCo, the
same BLAS library with the same kernels (OpenBLAS picks them for the CPU: ``architecture``) and
thread count, and the same CPU and operating system (its math library computes MuJoCo's sines and
exponentials). ``record()`` gathers these; the run directory writes them to run.json when a run
starts (``RunDirectory._write_provenance``). A run resumed on anything different goes on (its
numbers are a valid run, only not bit for bit an uninterrupted one's), says so in one line
(``differences``) and appends what changed, and from which update, to run.json's ``resumed``
list. Tested in tests/engine/test_train.py (``test_run_json_records_what_the_run_ran_on`` and
``test_resume_on_another_machine_notes_it_and_records_it``).
"""
from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

FIELDS = ("refimpl", "git_commit", "python", "numpy", "scipy", "gymnasium", "mujoco", "blas",
          "cpu", "platform")
"""run.json's fields, in order (``record``); a sweep's summary.csv has one column for each."""

SOURCE_ROOT = Path(__file__).resolve().parents[2]
"""The directory that holds the refimpl package: a git checkout's root when refimpl runs from
one (then ``git_commit`` reads its HEAD), site-packages when it is installed."""


def record() -> dict:
    """The fields of FIELDS for this process: versions as strings, ``git_commit`` and ``mujoco``
    None when unknown (not a git checkout, MuJoCo not installed), ``blas`` a list (``blas``)."""
    import gymnasium
    import numpy
    import scipy

    import refimpl

    return {"refimpl": refimpl.__version__, "git_commit": git_commit(SOURCE_ROOT),
            "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "gymnasium": gymnasium.__version__,
            "mujoco": _distribution_version("mujoco"), "blas": blas(), "cpu": cpu_model(),
            "platform": platform.platform()}


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _commit(text: str) -> str | None:
    text = text.strip()
    return text if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", text) else None


def git_commit(root: Path) -> str | None:
    """The commit checked out (HEAD) in the git work tree at ``root``, read from git's files, so
    git need not be installed: ``.git`` a directory or, in a linked work tree, a file
    ``gitdir: PATH``; HEAD a commit (detached) or a ref, found loose or in packed-refs. None if
    ``root`` is not a work tree or it cannot be read. Uncommitted changes are not seen."""
    try:
        git = Path(root) / ".git"
        if git.is_file():
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (Path(root) / text.removeprefix("gitdir:").strip()).resolve()
        if not (git / "HEAD").is_file():
            return None
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return _commit(head)
        ref = head.removeprefix("ref:").strip()
        for base in (git, common):
            if (base / ref).is_file():
                return _commit((base / ref).read_text())
        if (common / "packed-refs").is_file():
            for line in (common / "packed-refs").read_text().splitlines():
                sha, _, name = line.partition(" ")
                if name.strip() == ref:
                    return _commit(sha)
    except (OSError, UnicodeDecodeError):
        pass
    return None


def blas() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl): for each its ``internal_api``
    (openblas, mkl, blis, ...), ``library`` (the file's name: NumPy and SciPy each bring one),
    ``version``, ``architecture`` (the kernels OpenBLAS chose for this CPU, where reported) and
    ``num_threads``."""
    from threadpoolctl import threadpool_info

    libs = []
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            libs.append({"internal_api": lib.get("internal_api"),
                         "library": Path(lib.get("filepath") or "").name,
                         "version": lib.get("version"),
                         **({"architecture": lib["architecture"]} if "architecture" in lib else {}),
                         "num_threads": lib.get("num_threads")})
    return sorted(libs, key=lambda lib: (lib["library"], str(lib["version"])))


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name: /proc/cpuinfo's first ``model name`` line on Linux, otherwise
    ``platform.processor()``, or the machine type if that is empty."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def differences(started: dict, now: dict) -> dict:
    """The fields of FIELDS whose value in ``now`` differs from ``started`` (a run.json), with
    the new values."""
    return {k: now.get(k) for k in FIELDS if started.get(k) != now.get(k)}


def text(value) -> str:
    """A field's value as text: the BLAS libraries as 'openblas 0.3.27 Haswell x1', one per
    library joined by '; ', None as 'unknown'."""
    if isinstance(value, list):
        return "; ".join(" ".join(str(lib[k]) for k in ("internal_api", "version", "architecture")
                                  if k in lib) + f" x{lib.get('num_threads')}"
                         for lib in value) or "none"
    return "unknown" if value is None else str(value)


def describe(changed: dict, started: dict) -> str:
    """``changed`` (``differences``' output) as 'numpy 1.26.4 -> 2.1.0, cpu A -> B', for the
    one-line note of a resumed run."""
    return ", ".join(f"{k} {text(started.get(k))} -> {text(v)}" for k, v in changed.items())


def summary_fields(run_json: dict | None) -> dict:
    """run.json's FIELDS as the cells of a sweep's summary.csv row (``text``); empty cells for
    a value that is unknown or a run without run.json (one from before it was written)."""
    run_json = run_json or {}
    return {k: "" if run_json.get(k) is None else text(run_json[k]) for k in FIELDS}
