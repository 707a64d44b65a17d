"""Checkpoints: one ``.npz`` of plain arrays (loaded with ``allow_pickle=False``), written
atomically (temporary file in the same directory, then ``os.replace``), so a reader never sees a
half-written file and an interrupted write leaves the previous checkpoint intact.

Keys (format version 1): ``format_version``, ``config`` (JSON), ``env_id``, ``obs_dim``,
``act_dim``, ``update``, ``env_steps``, ``wall_time``, ``phi`` (policy, layout of
docs/crosscheck.md), ``theta_v`` (critic), ``pi_opt/{m,v,t}``, ``v_opt/{m,v,t}`` (Adam),
``rng`` (JSON state of the training generator), and ``collector/...`` (environment states,
current observation, ``collector/obs_rms/...`` normaliser, reward scaler, episode statistics).
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
REQUIRED = ("format_version", "config", "env_id", "obs_dim", "act_dim", "update", "env_steps",
            "phi", "theta_v")


def atomic_write(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file open()'s usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (plus the format version) to ``path`` atomically."""
    arrays = {"format_version": np.array(FORMAT_VERSION), **arrays}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz archive, loaded without pickles. A missing file raises
    FileNotFoundError; anything else unreadable a ValueError whose message is the reason."""
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("a single array, not an .npz archive of named arrays")
        with f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise ValueError(str(e)) from None


def load(path: Path) -> dict[str, np.ndarray]:
    """Read a checkpoint; ValueError with a one-line reason for anything that is not one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        d = read_npz(path)
    except ValueError as e:
        raise ValueError(f"{path} is not a readable refimpl checkpoint ({e})") from None
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise ValueError(f"{path} is not a refimpl checkpoint: missing {', '.join(missing)}")
    if int(d["format_version"]) != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {int(d['format_version'])}; "
                         f"this refimpl reads format {FORMAT_VERSION}")
    return d


def subdict(d: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries of ``d`` whose keys start with ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}
