"""Checkpoints: one ``.npz`` of plain arrays (loaded with ``allow_pickle=False``), written
atomically (temporary file in the same directory, then ``os.replace``), so a reader never sees a
half-written file and an interrupted write leaves the previous checkpoint intact.

Keys (format version 2): ``format_version``, ``config`` (JSON), ``env_id``, ``obs_dim``,
``act_dim`` (d, or K for a categorical policy), ``policy`` (the head kind, ``gaussian`` or
``categorical``), ``update``, ``env_steps``, ``wall_time``, ``phi`` (policy, layout of
docs/crosscheck/reference.md), ``theta_v`` (critic), ``pi_opt/{m,v,t}``, ``v_opt/{m,v,t}`` (Adam),
``rng/actions`` and ``rng/update`` (JSON states of the action-noise and update generators of
``refimpl.core.seeding``), and ``collector/...`` (environment states, current observation,
``collector/obs_rms/...`` normaliser, reward scaler, episode statistics). Format 2 replaced
format 1's single ``rng`` by independent streams.
``schema`` lists them with dtype and shape as the stored config implies; ``load`` refuses a file
that deviates in any key, in one line naming the key.
"""
from __future__ import annotations

import json
import math
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from refimpl.engine.config import Config
from refimpl.core.nn import MLP
from refimpl.core.policy import HEADS, make_policy

FORMAT_VERSION = 2
REQUIRED = ("format_version", "config", "env_id", "obs_dim", "act_dim", "policy", "update",
            "env_steps", "phi", "theta_v")
FLOAT, INT, TEXT, JSON = "float64", "integer", "text", "JSON text"
"""Kinds of checkpoint entries: float64 array (finite), integer array, string, string of JSON."""
NONNEGATIVE = ("update", "env_steps", "wall_time", "pi_opt/t", "pi_opt/v", "pi_opt/eps",
               "v_opt/t", "v_opt/v", "v_opt/eps", "collector/ep_length", "collector/obs_rms/var",
               "collector/obs_rms/count", "collector/rew_scaler/rms_var",
               "collector/rew_scaler/rms_count", "collector/rew_scaler/epsilon")
"""Entries that are counts, times or variances: every element >= 0."""


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


def check_writable(path: Path, what: str) -> None:
    """ValueError (one line, naming ``what``) unless a file can be written at ``path``: it must
    not be a directory, and its directory must accept a new file. Tried by creating and removing
    a temporary file there, so a missing directory, a read-only file system, permissions and
    pseudo file systems such as /proc are all found before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name for {what}")
    check_writable_directory(path.parent, what)


def check_writable_directory(directory: Path, what: str) -> None:
    """ValueError (one line, naming ``what``) unless a file can be created in ``directory``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"cannot write {what} into {directory}: no such directory")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".refimpl-probe.", suffix=".tmp")
    except OSError as e:
        raise ValueError(f"cannot write {what} into {directory}: {e.strerror or e}") from None
    os.close(fd)
    os.unlink(probe)


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (plus the format version) to ``path`` atomically."""
    arrays = {"format_version": np.array(FORMAT_VERSION), **arrays}
    atomic_write(path, lambda f: np.savez(f, **arrays))


ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")
"""The first bytes of a zip archive: its first member's local header, or an empty archive's
end record. An .npz is a zip of .npy files."""
NPY_HEADERS = {(1, 0): npy_format.read_array_header_1_0, (2, 0): npy_format.read_array_header_2_0}
"""Readers of the .npy header versions that ``numpy.savez`` writes for plain arrays (3.0 only
serves structured dtypes with non-Latin-1 field names, which no refimpl file holds)."""
DEFLATE_MAX_RATIO = 1032
"""Deflate's largest expansion: n compressed bytes inflate to at most about 1032 n."""


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz archive, loaded without pickles. A missing file raises
    FileNotFoundError; anything else unreadable a ValueError whose message is the reason, before
    any array is loaded where the file itself shows it (``check_npz``): a file that is not an
    .npz archive, or an array whose header declares more data than the file can hold (NumPy
    would allocate the declared size first). Tested in tests/engine/test_bad_files.py."""
    try:
        check_npz(Path(path))
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError) as e:
        raise ValueError(e.strerror if isinstance(e, OSError) and e.strerror else str(e)) \
            from None


def check_npz(path: Path) -> None:
    """ValueError (one line) unless ``path`` is a zip archive of .npy arrays, stored or deflated,
    each of whose headers (read with ``numpy.lib.format``, no data loaded) declares at most the
    bytes its member holds, and each member at most what its compressed bytes in the file can
    inflate to."""
    with open(path, "rb") as f:
        start = f.read(len(npy_format.MAGIC_PREFIX))
    if start == npy_format.MAGIC_PREFIX:
        raise ValueError("a single array, not an .npz archive of named arrays")
    if not start.startswith(ZIP_STARTS):
        raise ValueError("not an .npz archive: its first bytes are not a zip archive's")
    size = path.stat().st_size
    with zipfile.ZipFile(path) as z:
        for member in z.infolist():
            _check_member(z, member, size)


def _check_member(z: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> None:
    """``check_npz`` for one member of an archive of ``size`` bytes."""
    name = member.filename
    ratio = {zipfile.ZIP_STORED: 1, zipfile.ZIP_DEFLATED: DEFLATE_MAX_RATIO}.get(
        member.compress_type)
    if not name.endswith(".npy") or ratio is None:
        raise ValueError(f"member {name!r} is not a .npy array, stored or deflated, as "
                         "numpy.savez writes")
    if member.file_size > ratio * min(member.compress_size, size):
        raise ValueError(f"member {name!r} declares {member.file_size:,} bytes, more than its "
                         f"{member.compress_size:,} bytes in the file can hold")
    with z.open(member) as f:
        try:
            version = npy_format.read_magic(f)
            if version not in NPY_HEADERS:
                raise ValueError(f".npy format version {version[0]}.{version[1]}, which refimpl "
                                 "does not read")
            shape, _, dtype = NPY_HEADERS[version](f)
        except ValueError as e:
            raise ValueError(f"member {name!r} is not a readable .npy array ({e})") from None
        declared, held = math.prod(shape) * dtype.itemsize, member.file_size - f.tell()
    if declared > held:
        raise ValueError(f"array {name[:-4]!r} declares shape {shape} of {dtype} "
                         f"({declared:,} bytes), but the file holds {max(held, 0):,} bytes of it")


def load(path: Path) -> dict[str, np.ndarray]:
    """Read and ``validate`` a checkpoint; ValueError with a one-line reason naming the file and,
    where one is at fault, the key, for anything that is not a checkpoint refimpl wrote."""
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
    validate(d, path)
    return d


def validate(d: dict[str, np.ndarray], path: Path) -> Config:
    """Check every entry of checkpoint ``d`` (read from ``path``) and return its stored config.

    Order: the format version, the stored config (JSON that ``Config.from_dict`` accepts), its
    obs/act sizes and policy head, then ``schema``: exactly its keys, each of its kind (float64
    entries finite) and shape, and the entries of ``NONNEGATIVE`` >= 0. Raises ValueError naming ``path`` and
    the first offending key. Tested in ``tests/engine/test_bad_files.py``.
    """
    version = d["format_version"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != FORMAT_VERSION:
        raise ValueError(f"{path} has checkpoint format {version}; "
                         f"this refimpl reads format {FORMAT_VERSION}")
    for key in ("obs_dim", "act_dim"):
        _check_entry(d, key, INT, (), path)
        if int(d[key]) < 1:
            raise ValueError(f"{path}: key {key!r} is {int(d[key])}, not a positive size")
    obs_dim, act_dim = int(d["obs_dim"]), int(d["act_dim"])
    _check_entry(d, "policy", TEXT, (), path)
    kind = str(d["policy"])
    if kind not in HEADS:
        raise ValueError(f"{path}: key 'policy' is {kind!r}, not one of {', '.join(HEADS)}")
    _check_entry(d, "config", TEXT, (), path)
    try:
        cfg = Config.from_dict(json.loads(str(d["config"])))
        expected = schema(cfg, obs_dim, act_dim, kind)
    except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: key 'config' is not a valid refimpl config ({e})") from None
    implied = (f"a checkpoint of its config has num_envs={cfg.num_envs}, "
               f"norm_obs={cfg.norm_obs}, norm_reward={cfg.norm_reward}")
    missing, unexpected = sorted(set(expected) - set(d)), sorted(set(d) - set(expected))
    if missing:
        raise ValueError(f"{path}: key {missing[0]!r} is missing ({implied})")
    if unexpected:
        raise ValueError(f"{path}: unexpected key {unexpected[0]!r} ({implied})")
    sizes = (f", which obs/act sizes {obs_dim}/{act_dim}, hidden {cfg.hidden} and num_envs "
             f"{cfg.num_envs} imply")
    for key, (kind, shape) in expected.items():
        _check_entry(d, key, kind, shape, path, sizes)
        if key in NONNEGATIVE and np.any(d[key] < 0):
            raise ValueError(f"{path}: key {key!r} must be >= 0, holds {d[key].min()}")
    if str(d["env_id"]) != cfg.env:
        raise ValueError(f"{path}: key 'env_id' is {str(d['env_id'])!r}, its config says "
                         f"{cfg.env!r}")
    return cfg


def schema(cfg: Config, obs_dim: int, act_dim: int,
           head: str = "gaussian") -> dict[str, tuple[str, tuple]]:
    """Every key of a checkpoint of a run of ``cfg`` with policy head ``head`` -> (kind, shape);
    None in a shape is any length. P and V are the policy's and the critic's parameter counts,
    E = cfg.num_envs.
    ``collector/obs_rms/...`` exists iff cfg.norm_obs, ``collector/rew_scaler/...`` iff
    cfg.norm_reward. Tested against the checkpoints training writes in
    ``tests/engine/test_bad_files.py::test_schema_is_exactly_what_training_writes``."""
    P = make_policy(head, obs_dim, act_dim, cfg.hidden, cfg.activation).n_params
    V = MLP((obs_dim, *cfg.agent_spec().critic_widths, 1), cfg.activation).n_params
    E, scalar = cfg.num_envs, (FLOAT, ())
    keys = {"format_version": (INT, ()), "config": (TEXT, ()), "env_id": (TEXT, ()),
            "obs_dim": (INT, ()), "act_dim": (INT, ()), "policy": (TEXT, ()), "update": (INT, ()),
            "env_steps": (INT, ()), "wall_time": scalar, "phi": (FLOAT, (P,)),
            "theta_v": (FLOAT, (V,)), "rng/actions": (JSON, ()), "rng/update": (JSON, ())}
    for opt, n in (("pi_opt", P), ("v_opt", V)):  # optim.Adam.state
        keys.update({f"{opt}/m": (FLOAT, (n,)), f"{opt}/v": (FLOAT, (n,)), f"{opt}/t": (INT, ()),
                     **{f"{opt}/{k}": scalar for k in ("lr", "beta1", "beta2", "eps")}})
    c = "collector/"  # rollout.Collector.state
    keys.update({c + "raw_obs": (FLOAT, (E, obs_dim)), c + "ep_return": (FLOAT, (E,)),
                 c + "ep_length": (INT, (E,)), c + "recent": (FLOAT, (None, 2))})
    for i in range(E):  # envstate.get_state
        keys.update({f"{c}env{i}/sim": (FLOAT, (None,)), f"{c}env{i}/rng": (JSON, ()),
                     f"{c}env{i}/elapsed": (INT, ())})
    if cfg.norm_obs:  # normalize.RunningMeanStd.state
        keys.update({c + "obs_rms/mean": (FLOAT, (obs_dim,)),
                     c + "obs_rms/var": (FLOAT, (obs_dim,)), c + "obs_rms/count": scalar})
    if cfg.norm_reward:  # normalize.RewardScaler.state
        keys.update({c + "rew_scaler/R": (FLOAT, (E,)),
                     **{c + f"rew_scaler/{k}": scalar for k in ("gamma", "epsilon", "rms_mean",
                                                                  "rms_var", "rms_count")}})
    return keys


def _check_entry(d: dict[str, np.ndarray], key: str, kind: str, shape: tuple, path: Path,
                 sizes: str = "") -> None:
    """ValueError naming ``key`` unless d[key] is of ``kind`` (float64 ones finite, JSON ones
    parseable) and ``shape`` (None: any length); ``sizes`` says where the shape comes from."""
    a = d[key]
    ok = a.dtype == np.float64 if kind == FLOAT else a.dtype.kind in ("iu" if kind == INT else "U")
    if not ok:
        raise ValueError(f"{path}: key {key!r} has dtype {a.dtype}, expected {kind}")
    if len(a.shape) != len(shape) or any(n not in (None, m) for n, m in zip(shape, a.shape)):
        want = tuple("any" if n is None else n for n in shape)
        raise ValueError(f"{path}: key {key!r}{_WHAT.get(key, '')} has shape {a.shape}, "
                         f"expected {want}{sizes}")
    if kind == FLOAT and not np.all(np.isfinite(a)):
        raise ValueError(f"{path}: key {key!r} holds NaN or infinity")
    if kind == JSON:
        try:
            json.loads(str(a))
        except ValueError as e:
            raise ValueError(f"{path}: key {key!r} is not JSON ({e})") from None


_WHAT = {"phi": " (policy parameters)", "theta_v": " (critic parameters)"}
