"""Making gymnasium environments, every way that can fail reported as one line.

``make_env`` (one environment, for ``refimpl eval``) and ``make_vector_env`` (training's vector
env) turn a user's mistake into a ``ValueError`` that says what to do: an unknown id, an
environment that needs a package that is not installed, a Box2D environment (which refimpl does
not support, ``BOX2D``), or a ``MUJOCO_GL`` that MuJoCo cannot load (MuJoCo reads it when it is
first imported, and fails then, even where nothing is rendered). An id of gymnasium's form
``MODULE:ID`` imports MODULE first, which registers ID (a third-party package's environments).
Warnings raised while an environment is made are held back (``held_warnings``): they are shown
once it exists, and dropped if making it fails, so that a mistake prints only its error line.

MuJoCo's own warnings go to Python's ``warnings`` instead of to stderr and a ``MUJOCO_LOG.TXT`` in
the working directory; the known deprecation notice of the model files that ship with gymnasium
(``KNOWN_MUJOCO_WARNINGS``) is dropped. Tested in ``tests/engine/test_bad_files.py``.
"""
from __future__ import annotations

import importlib
import os
import warnings
from contextlib import contextmanager

import gymnasium as gym

KNOWN_MUJOCO_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
"""MuJoCo warnings that are not the user's to act on: gymnasium's HalfCheetah model file uses
``settotalmass``, which MuJoCo reports as deprecated each time it compiles the model."""

RENDER_FIX = "install libegl1 and set MUJOCO_GL=egl, or libosmesa6 and MUJOCO_GL=osmesa"
"""What a user does about an offscreen renderer that fails (docs/running.md, "Rendering")."""

BOX2D = ("refimpl does not support Box2D environments: a run's checkpoints hold each "
         "environment's exact state, which Box2D's worlds do not expose (refimpl runs MuJoCo and "
         "classic-control environments, and any that provides get_state/set_state)")
"""Why a Box2D environment (LunarLander, BipedalWalker, CarRacing) is refused before gymnasium
asks for Box2D to be installed: ``refimpl.envs.envstate`` could not save its state."""


def make_env(env_id: str, render: bool = False) -> gym.Env:
    """``gym.make(env_id)``, with ``render_mode="rgb_array"`` if ``render``; one-line ValueError
    if it cannot be made. Rendering defaults ``MUJOCO_GL`` to ``egl`` (headless: EGL renders
    without a display)."""
    if render:
        os.environ.setdefault("MUJOCO_GL", "egl")
    with _creating(env_id, render):
        return gym.make(env_id, **({"render_mode": "rgb_array"} if render else {}))


def make_vector_env(env_id: str, num_envs: int, mode: str = "sync",
                    **kwargs) -> gym.vector.VectorEnv:
    """``gym.make_vec(env_id, num_envs, vectorization_mode=mode, **kwargs)`` (mode "sync" or
    "async"); one-line ValueError if it cannot be made."""
    with _creating(env_id, render=False):
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)


def render_failure(env: gym.Env, err: BaseException) -> str:
    """One line for a frame that could not be rendered: MuJoCo's OpenGL back end
    (``gl_failure``), or, for another environment, its own renderer's error (CartPole's names
    pygame, which gymnasium[classic-control] installs)."""
    if _is_mujoco(env.spec):
        return gl_failure(err, render=True)
    return f"cannot render {env.spec.id if env.spec else env}: {type(err).__name__}: {err}"


def gl_failure(err: BaseException, render: bool) -> str:
    """One line for an OpenGL back end that does not load: the variable, the error, the fix."""
    value = os.environ.get("MUJOCO_GL")
    cause = f"{'MUJOCO_GL unset' if value is None else 'MUJOCO_GL=' + value}: " \
        f"{type(err).__name__}: {err}"
    if render:
        return f"MuJoCo offscreen rendering failed ({cause}); {RENDER_FIX}"
    return (f"MuJoCo cannot load its OpenGL back end ({cause}); unset MUJOCO_GL (only --render "
            f"needs OpenGL), or {RENDER_FIX}")


@contextmanager
def held_warnings():
    """Hold back the warnings raised inside the block: shown after it if it succeeds, dropped
    if it raises, so that a failure prints only its own line."""
    with warnings.catch_warnings(record=True) as held:
        yield
    for w in held:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


@contextmanager
def _creating(env_id: str, render: bool):
    """Hold back warnings while making ``env_id``; map its failures to one-line ValueErrors."""
    with held_warnings():
        try:
            spec = gym.spec(_registered_id(env_id))
            if "box2d" in str(spec.entry_point):
                raise ValueError(f"cannot make environment {env_id!r}: {BOX2D}")
            if _is_mujoco(spec):
                _prepare_mujoco(render)
            yield
        except (gym.error.Error, TypeError, ImportError) as e:
            raise ValueError(f"cannot make environment {env_id!r}: {e}") from None


def _registered_id(env_id: str) -> str:
    """The id under which ``env_id`` is registered: for gymnasium's ``MODULE:ID``, ID, after
    importing MODULE (which registers it), as ``gym.make`` does; ImportError if it cannot be
    imported."""
    module, sep, name = env_id.partition(":")
    if not sep:
        return env_id
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise ImportError(f"{e}; the form MODULE:ID imports MODULE ({module!r}), which should "
                          "register ID") from None
    return name


def _is_mujoco(spec) -> bool:
    return spec is not None and "mujoco" in str(spec.entry_point)


def _prepare_mujoco(render: bool) -> None:
    """Import MuJoCo (which loads the back end ``MUJOCO_GL`` names) and route its warnings.
    Rendering refuses a PYOPENGL_PLATFORM that names another back end than MUJOCO_GL (MuJoCo
    sets the one from the other; two different ones fail inside PyOpenGL with a traceback)."""
    gl, platform = os.environ.get("MUJOCO_GL"), os.environ.get("PYOPENGL_PLATFORM")
    if render and gl in ("egl", "osmesa") and platform not in (None, gl):
        raise ValueError(f"MUJOCO_GL={gl} but PYOPENGL_PLATFORM={platform}: they must name the "
                         f"same OpenGL back end; unset PYOPENGL_PLATFORM (MuJoCo sets it from "
                         f"MUJOCO_GL) or set it to {gl}")
    try:
        import mujoco
    except (ImportError, AttributeError, RuntimeError, OSError) as e:
        if "MUJOCO_GL" not in os.environ and isinstance(e, ImportError):
            raise
        raise ValueError(gl_failure(e, render)) from None
    mujoco.set_mju_user_warning(_mujoco_warning)


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warning callback: known notices dropped, the others as RuntimeWarnings."""
    if not any(known in message for known in KNOWN_MUJOCO_WARNINGS):
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)
