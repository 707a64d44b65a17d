"""Shared output helpers of the figure modules: atomic PNG and JSON/CSV writes, Agg backend.

Every file is written through ``refimpl.checkpoint.atomic_write`` (temporary file, then rename),
so an interrupted run never leaves a half-written figure behind.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the Agg backend)
import numpy as np  # noqa: E402

from refimpl.checkpoint import atomic_write  # noqa: E402

plt.rcParams["svg.hashsalt"] = "refimpl"  # fixed SVG element ids: identical bytes on every rebuild

DPI = 150
"""Resolution of every PNG (dots per inch)."""

__all__ = ["DPI", "plt", "save_png", "save_json", "save_csv"]


def save_png(fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` as PNG (atomically) and close it."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    plt.close(fig)
    return Path(path)


def _plain(x):
    """numpy arrays and scalars -> lists and floats, recursively, for json.dumps."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def save_json(path: Path, data: dict) -> Path:
    """Write ``data`` as indented JSON (numpy converted; inf/nan as the strings "inf"/"nan")."""
    text = json.dumps(_plain(data), indent=1)
    atomic_write(path, lambda f: f.write((text + "\n").encode()))
    return Path(path)


def save_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    """Write equal-length columns as CSV with a header row (full float precision)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(zip(*(np.asarray(c).tolist() for c in columns.values())))
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))
    return Path(path)
