"""Files and environments refimpl cannot use, through the real command line: corrupt or mismatched
checkpoints (refimpl/engine/checkpoint.py: ``load``, ``validate``, ``schema``), outputs that cannot be
written (evaluate.py ``--render``, ``refimpl figures --out``), environments that cannot be made
(refimpl/envs/make.py). Every case asserts the exit status 2, a single stderr line
``refimpl: error: ...`` without a traceback, and the files left on disk."""
import csv
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refimpl
from refimpl.engine import checkpoint
from refimpl.engine import evaluate
from refimpl.cli import main

ROOT = Path(refimpl.__file__).resolve().parent.parent
SMALL = ["--horizon", "64", "--epochs", "1", "--vf-epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished two-update HalfCheetah run (norm_obs and norm_reward on, one environment)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--out", str(out), "--steps", "128", *SMALL]) == 0
    return out


def _files(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes: what a failed command must leave as it was."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _one_line(err: str, *matches: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refimpl: error: "), err
    for m in matches:
        assert m in lines[0], lines[0]
    return lines[0]


def _fails(capsys, argv: list[str], *matches: str) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    return _one_line(capsys.readouterr().err, *matches)


def _cli(argv: list[str], cwd: Path | None = None, **env) -> subprocess.CompletedProcess:
    """``python -m refimpl.cli ARGV`` with this tree first on the path and ``env`` set; a
    subprocess because MuJoCo reads MUJOCO_GL once, when it is first imported."""
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), **env}
    if "MUJOCO_GL" in env and "PYOPENGL_PLATFORM" not in env:
        # importing MuJoCo in this process with MUJOCO_GL=egl set PYOPENGL_PLATFORM=egl here; a
        # user who chooses another MUJOCO_GL in a fresh shell does not have it
        environ.pop("PYOPENGL_PLATFORM", None)
    return subprocess.run([sys.executable, "-m", "refimpl.cli", *argv], capture_output=True,
                          text=True, cwd=cwd, env=environ, timeout=300)


def _with_config(d, **changes):
    return {**d, "config": np.array(json.dumps({**json.loads(str(d["config"])), **changes}))}


def _without(d, *prefixes):
    return {k: v for k, v in d.items() if not k.startswith(prefixes)}


CORRUPTIONS = {
    "one obs_rms key missing": (lambda d: _without(d, "collector/obs_rms/var"),
                                "key 'collector/obs_rms/var' is missing"),
    "one Adam key missing": (lambda d: _without(d, "pi_opt/m"), "key 'pi_opt/m' is missing"),
    "every obs_rms key missing under norm_obs": (lambda d: _without(d, "collector/obs_rms/"),
                                                 "key 'collector/obs_rms/count' is missing"),
    "obs_rms stored under no norm_obs": (lambda d: _with_config(d, norm_obs=False),
                                         "unexpected key 'collector/obs_rms/count'"),
    "state of a second environment missing": (lambda d: _with_config(d, num_envs=2),
                                              "key 'collector/env1/elapsed' is missing"),
    "unknown config field": (lambda d: _with_config(d, bogus=1),
                             "key 'config' is not a valid refimpl config"),
    "config not JSON": (lambda d: {**d, "config": np.array("{not json")},
                        "key 'config' is not a valid refimpl config"),
    "NaN in phi": (lambda d: {**d, "phi": np.r_[np.nan, d["phi"][1:]]},
                   "key 'phi' holds NaN or infinity"),
    "phi of shape (1, P)": (lambda d: {**d, "phi": d["phi"][None]},
                            "key 'phi' (policy parameters) has shape (1, "),
    "short obs_rms mean": (lambda d: {**d, "collector/obs_rms/mean":
                                      d["collector/obs_rms/mean"][:-1]},
                           "key 'collector/obs_rms/mean' has shape (16,), expected (17,)"),
    "float32 phi": (lambda d: {**d, "phi": d["phi"].astype(np.float32)},
                    "key 'phi' has dtype float32, expected float64"),
    "negative variance": (lambda d: {**d, "collector/obs_rms/var": -d["collector/obs_rms/var"]},
                          "key 'collector/obs_rms/var' must be >= 0"),
    "generator state not JSON": (lambda d: {**d, "rng/update": np.array("{")},
                                 "key 'rng/update' is not JSON"),
    "env_id and config disagree": (lambda d: {**d, "env_id": np.array("Hopper-v5")},
                                   "key 'env_id' is 'Hopper-v5'"),
    "format version 3": (lambda d: {**d, "format_version": np.array(3)}, "checkpoint format 3"),
    "format version 1 (one rng)": (lambda d: {**d, "format_version": np.array(1)},
                                   "checkpoint format 1"),
    "unknown policy head": (lambda d: {**d, "policy": np.array("beta")},
                            "key 'policy' is 'beta', not one of gaussian, categorical"),
    "categorical head for Gaussian parameters": (lambda d: {**d, "policy": np.array("categorical")},
                                                 "key 'phi' (policy parameters) has shape"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_eval_refuses_a_corrupt_checkpoint_naming_file_and_key(case, run_dir, tmp_path, capsys):
    corrupt, match = CORRUPTIONS[case]
    path = tmp_path / "bad.npz"
    checkpoint.save(path, corrupt(checkpoint.read_npz(run_dir / "checkpoints" / "final.npz")))
    before = _files(tmp_path)
    _fails(capsys, ["eval", str(path), "--episodes", "1"], str(path), match)
    assert _files(tmp_path) == before


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_resume_refuses_a_corrupt_checkpoint_and_changes_nothing(case, run_dir, tmp_path, capsys):
    corrupt, match = CORRUPTIONS[case]
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    latest = run / "checkpoints" / "latest.npz"
    checkpoint.save(latest, corrupt(checkpoint.read_npz(latest)))
    before = _files(run)
    _fails(capsys, ["train", "--resume", str(run), "--no-progress"], str(latest), match)
    assert _files(run) == before  # progress.csv not truncated, no checkpoint rewritten


def test_every_key_of_a_checkpoint_is_required(run_dir):
    d = checkpoint.read_npz(run_dir / "checkpoints" / "final.npz")
    for key in d:
        np.savez(run_dir.parent / "k.npz", **{k: v for k, v in d.items() if k != key})
        with pytest.raises(ValueError, match=f"missing {key}|'{key}' is missing"):
            checkpoint.load(run_dir.parent / "k.npz")


def test_every_float_entry_must_be_finite_and_every_shape_exact(run_dir):
    d = checkpoint.read_npz(run_dir / "checkpoints" / "final.npz")
    for key, a in d.items():
        if a.dtype == np.float64 and a.size:
            bad = a.copy()
            bad.flat[-1] = np.inf
            checkpoint.save(run_dir.parent / "f.npz", {**d, key: bad})
            with pytest.raises(ValueError, match=f"key '{key}' holds NaN or infinity"):
                checkpoint.load(run_dir.parent / "f.npz")
        if key != "format_version":  # a version of another shape is another format
            checkpoint.save(run_dir.parent / "s.npz", {**d, key: a[None]})
            with pytest.raises(ValueError, match=f"key '{key}'.* has shape"):
                checkpoint.load(run_dir.parent / "s.npz")


@pytest.mark.parametrize("flags", [
    ["--env", "refimpl/LQ-Lecture-v0", "--num-envs", "3", "--no-norm-obs", "--no-norm-reward"],
    ["--env", "refimpl/LQ-Lecture-v0", "--num-envs", "2", "--hidden"],
    ["--algo", "trpo", "--activation", "relu", "--hidden", "5"],
])
def test_schema_is_exactly_what_training_writes(flags, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "128", *SMALL, *flags]) == 0
    d = checkpoint.read_npz(out / "checkpoints" / "final.npz")
    cfg = checkpoint.validate(d, out / "checkpoints" / "final.npz")
    expected = checkpoint.schema(cfg, int(d["obs_dim"]), int(d["act_dim"]))
    assert set(expected) == set(d)
    for key, (kind, shape) in expected.items():
        assert len(shape) == d[key].ndim, key
        assert all(n in (None, m) for n, m in zip(shape, d[key].shape)), key


# ---- files named .npz that are not archives refimpl can load: refused before any array is

def _npz_declaring(shape) -> bytes:
    """An .npz whose member obs.npy has a header declaring ``shape`` of float64 and 64 bytes of
    data: what a truncated or forged file looks like. NumPy allocates the declared size before
    it reads the data."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": shape})
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("obs.npy", header.getvalue() + bytes(64))
    return archive.getvalue()


NOT_NPZ = {  # case -> (file contents, what the one line says)
    "text": (b"refimpl\nis not an archive\n", "not an .npz archive"),
    "header declaring (1e11, 3)": (_npz_declaring((10**11, 3)),
                                   "array 'obs' declares shape (100000000000, 3) of float64 "
                                   "(2,400,000,000,000 bytes), but the file holds 64 bytes of it"),
    "header declaring (10, 3)": (_npz_declaring((10, 3)), "array 'obs' declares shape (10, 3) of "
                                 "float64 (240 bytes), but the file holds 64 bytes of it"),
}
"""A text file (NumPy's message spoke of pickled data and allow_pickle), and a header that
declares more than the file holds (2.4 TB: a memory error's traceback)."""
READERS = {  # reader -> (the command, its file in it, the first words of its line)
    "eval": (["eval", "FILE"], "is not a readable refimpl checkpoint ("),
    "train --resume": (["train", "--resume", "RUN", "--no-progress"],
                       "is not a readable refimpl checkpoint ("),
    "crosscheck IN": (["crosscheck", "FILE", "OUT"], "is not a readable .npz file of plain "
                      "arrays ("),
    "crosscheck compare THEIRS": (["crosscheck", "compare", "EXAMPLE", "FILE"],
                                  "is not a readable .npz file of plain arrays ("),
}
"""Every command that loads a user's .npz (all through ``checkpoint.read_npz``)."""


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", NOT_NPZ)
def test_a_file_that_is_not_a_loadable_npz_is_one_line_before_any_array_is_loaded(
        case, reader, run_dir, tmp_path, capsys):
    content, match = NOT_NPZ[case]
    argv, says = READERS[reader]
    path = tmp_path / "bad.npz"
    if reader == "train --resume":
        shutil.copytree(run_dir, tmp_path / "run")
        path = tmp_path / "run" / "checkpoints" / "latest.npz"
    if reader == "crosscheck compare THEIRS":
        assert main(["crosscheck", "--make-example", str(tmp_path / "in.npz")]) == 0
    path.write_bytes(content)
    before = _files(tmp_path)
    argv = [str({"FILE": path, "RUN": tmp_path / "run", "OUT": tmp_path / "out.npz",
                 "EXAMPLE": tmp_path / "in.npz"}.get(a, a)) for a in argv]
    line = _fails(capsys, argv, f"{path} {says}{match}")
    assert "pickle" not in line
    assert _files(tmp_path) == before


def test_eval_seed_and_episodes_are_checked_naming_the_flag(run_dir, no_episodes, capsys):
    """--seed -5 said "expected non-negative integer", from inside NumPy's seeding."""
    final = str(run_dir / "checkpoints" / "final.npz")
    _fails(capsys, ["eval", final, "--seed", "-5"], "--seed must be an integer >= 0, got -5")
    _fails(capsys, ["eval", final, "--episodes", "0"], "--episodes must be an integer >= 1, got 0")


def test_render_of_a_classic_control_env_without_pygame_names_pygame(tmp_path, monkeypatch,
                                                                       capsys):
    """CartPole draws with pygame (gymnasium[classic-control]), not MuJoCo: the line names what
    is missing, not MuJoCo's OpenGL back ends. pygame is made unimportable here."""
    out = tmp_path / "cartpole"
    assert main(["train", "--env", "CartPole-v1", "--out", str(out), "--steps", "64",
                 "--horizon", "32", "--num-envs", "2", "--minibatch", "32", "--vf-minibatch",
                 "32", "--no-progress"]) == 0
    monkeypatch.setitem(sys.modules, "pygame", None)  # import pygame raises ImportError
    before = _files(tmp_path)
    line = _fails(capsys, ["eval", str(out / "checkpoints" / "final.npz"), "--episodes", "1",
                           "--render", str(tmp_path / "x.gif")],
                  "cannot render CartPole-v1: DependencyNotInstalled: pygame is not installed",
                  'gymnasium[classic-control]')
    assert "MuJoCo" not in line and "MUJOCO_GL" not in line
    assert _files(tmp_path) == before


@pytest.mark.parametrize("path", sorted(ROOT.glob("results/*/*/checkpoints/final.npz")),
                         ids=lambda p: f"{p.parts[-4]}/{p.parts[-3]}")
def test_every_committed_checkpoint_validates(path):
    """The committed 1M-step runs: finished episodes, 8 and 16 environments (tianshou preset)."""
    d = checkpoint.load(path)
    cfg = checkpoint.validate(d, path)
    assert set(checkpoint.schema(cfg, int(d["obs_dim"]), int(d["act_dim"]))) == set(d)


# ---- outputs that cannot be written: refused before any work is done

def _mount_tmpfs(directory: Path, options: str) -> None:
    """Mount a tmpfs with ``options`` on ``directory``, or skip the test saying why not."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}): {proc.stderr.strip()}")


@pytest.fixture
def read_only_dir(tmp_path):
    """An existing directory that refuses new files. root ignores permission bits, so there it
    is a read-only tmpfs mount."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    _mount_tmpfs(d, "ro,size=64k")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)


@pytest.fixture
def full_dir(tmp_path):
    """A directory on a 64 KiB tmpfs filled to the last block: a new empty file still fits
    (an inode, no block), any content does not."""
    d = tmp_path / "full"
    d.mkdir()
    _mount_tmpfs(d, "size=64k")
    try:
        fd = os.open(d / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=True)


@pytest.fixture
def no_episodes(monkeypatch):
    """Makes running any episode a test failure: unwritable outputs must be found before."""
    def play(*args, **kwargs):
        raise AssertionError("episodes ran before the output was checked")
    monkeypatch.setattr(evaluate, "play", play)


@pytest.mark.parametrize("target, match", [
    ("/nonexistent/x.gif", "cannot write the GIF into /nonexistent: no such directory"),
    ("/proc/x.gif", "cannot write the GIF into /proc"),
    ("DIR", "is a directory; give a file name for the GIF"),
    ("RO/x.gif", "cannot write the GIF into"),
])
def test_unwritable_gif_is_refused_before_any_episode(target, match, run_dir, tmp_path,
                                                      read_only_dir, no_episodes, capsys):
    target = target.replace("DIR", str(tmp_path)).replace("RO", str(read_only_dir))
    before = _files(tmp_path)
    _fails(capsys, ["eval", str(run_dir / "checkpoints" / "final.npz"), "--render", target], match)
    assert _files(tmp_path) == before
    assert not [p for p in Path("/").iterdir() if p.name.startswith(".x.gif.")]


def test_gif_the_disk_cannot_hold_is_one_line_and_leaves_no_partial_file(run_dir, full_dir,
                                                                         monkeypatch, capsys):
    frames = [np.full((64, 64, 3), i, dtype=np.uint8) for i in range(50)]  # > 64 KiB as GIF
    monkeypatch.setattr(evaluate, "play", lambda *args: (np.zeros(1), frames))
    before = sorted(p.name for p in full_dir.iterdir())
    _fails(capsys, ["eval", str(run_dir / "checkpoints" / "final.npz"), "--render",
                    str(full_dir / "x.gif")], f"cannot write the GIF {full_dir / 'x.gif'}",
           "No space left on device")
    assert sorted(p.name for p in full_dir.iterdir()) == before


def test_figures_into_a_read_only_directory_is_one_line(read_only_dir, capsys):
    err = _fails(capsys, ["figures", "--out", str(read_only_dir), "--only", "ppo_clip"],
                 f"cannot write the figures into {read_only_dir}")
    assert "Read-only file system" in err or "Permission denied" in err
    assert list(read_only_dir.iterdir()) == []


@pytest.mark.parametrize("sub, match", [("", "cannot write the sweep's summary into"),
                                        ("sweep", "cannot create")])
def test_sweep_into_a_read_only_directory_is_one_line_before_any_run(sub, match, read_only_dir,
                                                                    capsys):
    _fails(capsys, ["sweep", "--algo", "ppo", "--seeds", "0", "--out", str(read_only_dir / sub),
                    "--env", "refimpl/LQ-Lecture-v0", "--steps", "200", "--set", "horizon=200"],
           match, str(read_only_dir))
    assert list(read_only_dir.iterdir()) == []


# ---- environments that cannot be made: one line, before any run directory exists

@pytest.mark.parametrize("gl", ["nosuch", "osmesa"])
@pytest.mark.parametrize("command", ["train", "eval", "eval --render"])
def test_unusable_mujoco_gl_is_one_line_naming_it_and_the_fix(gl, command, run_dir, tmp_path):
    if gl == "osmesa" and ctypes.util.find_library("OSMesa"):
        pytest.skip("OSMesa is installed here, so MUJOCO_GL=osmesa is usable")
    out = tmp_path / "out"
    argv = {"train": ["train", "--env", "Hopper-v5", "--steps", "2048", "--out", str(out),
                      "--no-progress"],
            "eval": ["eval", str(run_dir / "checkpoints" / "final.npz"), "--episodes", "1"],
            "eval --render": ["eval", str(run_dir / "checkpoints" / "final.npz"), "--episodes",
                              "1", "--render", str(out / "x.gif")]}[command]
    if command == "eval --render":
        out.mkdir()
    proc = _cli(argv, cwd=tmp_path, MUJOCO_GL=gl)
    assert proc.returncode == 2, proc.stderr
    line = _one_line(proc.stderr, f"MUJOCO_GL={gl}", "MUJOCO_GL=egl")
    if command != "eval --render":
        assert "unset MUJOCO_GL" in line
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out"] if out.exists() else [])


def test_render_with_two_different_opengl_back_ends_is_one_line(run_dir, tmp_path):
    """MUJOCO_GL=osmesa with PYOPENGL_PLATFORM=egl left over from an EGL session: one line naming
    both, before any episode (PyOpenGL would fail inside gymnasium's viewer, whose __del__ then
    prints a traceback)."""
    out = tmp_path / "out"
    out.mkdir()
    argv = ["eval", str(run_dir / "checkpoints" / "final.npz"), "--episodes", "1", "--render",
            str(out / "x.gif")]
    proc = _cli(argv, cwd=tmp_path, MUJOCO_GL="osmesa", PYOPENGL_PLATFORM="egl")
    assert proc.returncode == 2, proc.stderr
    _one_line(proc.stderr, "MUJOCO_GL=osmesa but PYOPENGL_PLATFORM=egl", "unset PYOPENGL_PLATFORM")
    assert list(out.iterdir()) == []


def test_training_leaves_nothing_in_the_working_directory_and_prints_no_warning(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = _cli(["train", "--out", str(tmp_path / "run"), "--steps", "64", *SMALL], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert list(cwd.iterdir()) == []  # no MUJOCO_LOG.TXT
    assert proc.stderr == ""  # the model file's known deprecation notice is not shown


def test_environment_mistake_prints_only_the_error_line(tmp_path):
    """Hopper-v3 needs mujoco-py; gymnasium warns that it is out of date before it fails."""
    proc = _cli(["train", "--env", "Hopper-v3", "--out", str(tmp_path / "run"), *SMALL],
                cwd=tmp_path)
    assert proc.returncode == 2
    _one_line(proc.stderr, "cannot make environment 'Hopper-v3': The mujoco v2 and v3")
    assert list(tmp_path.iterdir()) == []


# ---- run directories whose logs or files do not agree with their checkpoint (--resume)

LQ_RUN = ["--env", "refimpl/LQ-Lecture-v0", "--hidden", "--no-norm-reward", "--horizon", "100",
          "--minibatch", "50", "--vf-minibatch", "50", "--epochs", "1", "--vf-epochs", "1",
          "--steps", "300", "--eval-every", "100", "--eval-episodes", "1", "--checkpoint-every",
          "1", "--no-eval-process", "--no-critic-process", "--no-progress"]
"""Three short updates of the lecture's LQ task, each evaluated and kept as update_NNNNNN.npz."""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("logs") / "run"
    assert main(["train", "--out", str(out), *LQ_RUN]) == 0
    return out


def _stopped(finished: Path, to: Path) -> Path:
    """A copy of ``finished`` as a crash inside update 3's record leaves it: the progress.csv and
    eval.csv rows of update 3 written, its checkpoint not (latest.npz is update 2's)."""
    shutil.copytree(finished, to)
    ckpt = to / "checkpoints"
    shutil.copy(ckpt / "update_000002.npz", ckpt / "latest.npz")
    for path in (ckpt / "update_000003.npz", ckpt / "final.npz", to / "learning_curve.png"):
        path.unlink()
    return to


def _log_rows(path: Path) -> list[dict]:
    """A log's rows without the timing columns, which differ between two runs of one seed."""
    from refimpl.engine.logs import TIMING_COLUMNS

    with path.open() as f:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(f)]


def _edit(name: str, change):
    """A damage: the run's file ``name`` rewritten as ``change`` of its lines (each with its
    end of line)."""
    def damage(run: Path) -> None:
        path = run / name
        path.write_text("".join(change(path.read_text().splitlines(keepends=True))))
    return damage


def _a_directory(name: str):
    """A damage: the run's file ``name`` replaced by a directory (holding one file)."""
    def damage(run: Path) -> None:
        path = run / name
        path.unlink(missing_ok=True)
        path.mkdir()
        (path / "x").write_text("x")
    return damage


def _checkpoints_a_file(run: Path) -> None:
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").write_text("x")


def _in_checkpoints(*steps):
    """A damage: ``steps`` (each (source, target) copies a checkpoint, (name,) removes one) done
    in checkpoints/."""
    def damage(run: Path) -> None:
        for step in steps:
            if len(step) == 2:
                shutil.copy(run / "checkpoints" / step[0], run / "checkpoints" / step[1])
            else:
                (run / "checkpoints" / step[0]).unlink()
    return damage


TORN = {  # damage to the stopped run: the cut a crash or a full disk leaves at the end of a log
    "progress.csv's last row cut mid-line": (_edit("progress.csv", lambda l: [*l[:-1], l[-1][:20]]),
                                            ["progress.csv"]),
    "eval.csv's last row cut mid-line": (_edit("eval.csv", lambda l: [*l[:-1], l[-1][:12]]),
                                         ["eval.csv"]),
    "progress.csv's last row without its end of line": (
        _edit("progress.csv", lambda l: [*l[:-1], l[-1][:-1]]), ["progress.csv"]),
    "both logs cut, progress.csv within its first column": (
        lambda run: [_edit("progress.csv", lambda l: [*l[:-1], "3"])(run),
                     _edit("eval.csv", lambda l: [*l[:-1], l[-1][:30]])(run)],
        ["progress.csv", "eval.csv"]),
}


@pytest.mark.parametrize("case", TORN)
def test_a_torn_last_line_is_dropped_with_a_note_and_the_run_resumes_exactly(case, finished,
                                                                             tmp_path, capsys):
    """A log's last line without its end of line is what an interrupted append leaves (a line
    refimpl writes always ends with one): it is dropped, saying so in one line per log, and the
    resumed run's logs equal the uninterrupted run's."""
    damage, torn = TORN[case]
    run = _stopped(finished, tmp_path / "run")
    damage(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"refimpl: note: {run / name} ends in a line cut short (no end of line), "
                   "as an interrupted write leaves it; it is dropped and its update redone"
                   for name in torn], err
    for name in ("progress.csv", "eval.csv"):
        assert _log_rows(run / name) == _log_rows(finished / name), name


RESUME_REFUSED = {  # damage to the stopped run: what the one line of --resume must say
    "a row of progress.csv missing": (_edit("progress.csv", lambda l: [l[0], l[1], l[3]]),
                                      "progress.csv", "the row of update 2 is missing"),
    "a row of progress.csv repeated": (_edit("progress.csv", lambda l: [*l[:2], *l[1:]]),
                                       "progress.csv", "update 1 has two rows (lines 2 and 3)"),
    "progress.csv ends before the checkpoint": (_edit("progress.csv", lambda l: l[:2]),
                                                "progress.csv", "the row of update 2 is missing"),
    "progress.csv runs two updates past the checkpoint": (
        _in_checkpoints(("update_000001.npz", "latest.npz")), "progress.csv",
        "line 4 is of update 3, but a run writes at most one row past its checkpoint"),
    "a row of eval.csv missing": (_edit("eval.csv", lambda l: [l[0], l[2], l[3]]), "eval.csv",
                                  "the row of update 1 is missing"),
    "a row of eval.csv repeated": (_edit("eval.csv", lambda l: [*l[:3], l[2], l[3]]), "eval.csv",
                                   "update 2 has two rows (lines 3 and 4)"),
    "eval.csv deleted": (lambda run: (run / "eval.csv").unlink(), "eval.csv",
                         "the row of update 1 is missing"),
    "a short row that ends its line": (_edit("progress.csv", lambda l: [*l[:-1], "3,300\n"]),
                                       "progress.csv", "line 4 has 2 fields, not 20"),
    "an update that is not a whole number": (
        _edit("progress.csv", lambda l: [l[0], "x" + l[1], *l[2:]]), "progress.csv",
        "line 2 has update 'x1', not a whole number"),
    "another header": (_edit("progress.csv", lambda l: ["step" + l[0][6:], *l[1:]]),
                       "progress.csv", "does not start with refimpl's header line"),
    "latest.npz deleted from a finished run": (
        _in_checkpoints(("latest.npz", "final.npz"), ("latest.npz",)), "latest.npz",
        "is missing although", "final.npz is there"),
    "latest.npz deleted beside periodic checkpoints": (
        _in_checkpoints(("latest.npz",)), "latest.npz", "is missing although",
        "update_000001.npz is there"),
    "every checkpoint deleted": (lambda run: [shutil.rmtree(run / "checkpoints"),
                                              (run / "checkpoints").mkdir()],
                                 "latest.npz", "is missing although",
                                 "progress.csv has rows past update 1"),
    "progress.csv a directory": (_a_directory("progress.csv"), "progress.csv",
                                 "is a directory, not a file"),
    "eval.csv a directory": (_a_directory("eval.csv"), "eval.csv", "is a directory, not a file"),
    "config.json a directory": (_a_directory("config.json"), "config.json",
                                "is a directory, not a file"),
    "learning_curve.png a directory": (_a_directory("learning_curve.png"), "learning_curve.png",
                                       "is a directory, not a file"),
    "latest.npz a directory": (_a_directory("checkpoints/latest.npz"), "latest.npz",
                               "is a directory, not a file"),
    "evaluation.npz a directory": (_a_directory("checkpoints/evaluation.npz"), "evaluation.npz",
                                   "is a directory, not a file"),
    "checkpoints a file": (_checkpoints_a_file, "checkpoints", "is a file, not a directory"),
}


@pytest.mark.parametrize("case", RESUME_REFUSED)
def test_resume_refuses_logs_and_files_that_disagree_with_the_checkpoint(case, finished,
                                                                         tmp_path, capsys):
    """Rows missing, repeated or past the one a crash leaves after the checkpoint, a line that is
    not a row, a checkpoint missing beside others, a file of the run directory that is a directory
    (or the checkpoints/ directory a file): one line naming the file, exit status 2, nothing
    changed, nothing trained (a resume that continued would log updates missing or twice)."""
    damage, name, *matches = RESUME_REFUSED[case]
    run = _stopped(finished, tmp_path / "run")
    damage(run)
    before = _files(run)
    line = _fails(capsys, ["train", "--resume", str(run), "--no-progress"], *matches)
    assert f"{run}{os.sep}" in line and name in line, line
    assert _files(run) == before
