"""Run a saved policy: ``refimpl eval CHECKPOINT``.

The policy acts on observations normalised with the statistics saved in the checkpoint, frozen
(evaluation never updates them). ``deterministic`` (the default, also of ``refimpl eval``: the
protocol of eval.csv and the results) uses the mode: the mean action mu_phi(s) of a Gaussian
policy, the most probable action of a categorical one; otherwise actions are sampled from
pi_phi(.|s). Frames for ``--render`` come from MuJoCo's offscreen
renderer (headless: set ``MUJOCO_GL=egl`` or ``MUJOCO_GL=osmesa``, docs/running.md,
"Rendering").
"""
from __future__ import annotations

import json
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from refimpl.core.state import subdict
from refimpl.engine import checkpoint
from refimpl.engine.config import Config
from refimpl.envs.make import make_env, render_failure
from refimpl.core.normalize import RunningMeanStd
from refimpl.core.policy import CategoricalPolicy, GaussianPolicy, make_policy
from refimpl.envs.rollout import action_head, clips_actions
from refimpl.engine.worker import ServedProcess, finished, may_start_process


@dataclass(frozen=True)
class SavedPolicy:
    """A policy restored from a checkpoint: layout, parameters, frozen normaliser."""

    cfg: Config
    policy: GaussianPolicy | CategoricalPolicy
    phi: np.ndarray
    obs_rms: RunningMeanStd | None

    @classmethod
    def load(cls, path: Path) -> "SavedPolicy":
        d = checkpoint.load(path)  # validated: every key, dtype, shape and value
        cfg = Config.from_dict(json.loads(str(d["config"])))
        policy = make_policy(str(d["policy"]), int(d["obs_dim"]), int(d["act_dim"]), cfg.hidden,
                             cfg.activation)
        rms = subdict(d, "collector/obs_rms/")
        return cls(cfg, policy, d["phi"], RunningMeanStd.from_state(rms) if rms else None)

    def act(self, raw_obs: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Action for a batch of raw observations (N, obs_dim); the mode if ``rng`` is None."""
        return policy_action(self.policy, self.phi, self.obs_rms, self.cfg.obs_clip, raw_obs, rng)


def policy_action(policy: GaussianPolicy | CategoricalPolicy, phi: np.ndarray,
                  obs_rms: RunningMeanStd | None, obs_clip: float, raw_obs: np.ndarray,
                  rng: np.random.Generator | None) -> np.ndarray:
    """pi_phi's action at raw observations (N, obs_dim), normalised with ``obs_rms`` frozen (no
    update): the mode (the mean mu_phi(s) of a Gaussian, the most probable action of a
    categorical) if ``rng`` is None, else a sample."""
    s = raw_obs if obs_rms is None else obs_rms.normalize(raw_obs, clip=obs_clip)
    params, _ = policy.dist_params(phi, s)
    return policy.mode_of(params) if rng is None else policy.sample_of(params, rng)


def evaluate(path: Path, episodes: int = 10, deterministic: bool = True, seed: int = 10_000,
             render: Path | None = None, max_frames: int = 300) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes, shape (episodes,). Writes a GIF of the
    first episode's first ``max_frames`` frames to ``render`` if given; that the GIF can be
    written there is checked before any episode runs."""
    if render:
        checkpoint.check_writable(Path(render), "the GIF")
    returns, frames = play(path, episodes, deterministic, seed, bool(render), max_frames)
    if render:
        write_gif(Path(render), frames)
    return returns


def play(path: Path, episodes: int, deterministic: bool, seed: int, render: bool,
         max_frames: int, watch=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Returns of ``episodes`` episodes (seeds seed, seed + 1, ...) and, if ``render``, the
    first episode's first ``max_frames`` RGB frames. ``watch(ep, env)``, if given, runs before
    every step of every episode (ep counts from 0), to record the simulator's state."""
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    saved = SavedPolicy.load(path)
    env = make_env(saved.cfg.env, render)
    if int(np.prod(env.observation_space.shape)) != saved.policy.obs_dim:
        raise ValueError(f"{path} was trained on observations of size {saved.policy.obs_dim}, "
                         f"{saved.cfg.env} gives {env.observation_space.shape}")
    if action_head(env.action_space, saved.cfg.env) != saved.policy.kind:
        raise ValueError(f"{path} holds a {saved.policy.kind} policy, but {saved.cfg.env}'s action "
                         f"space {env.action_space} needs a {action_head(env.action_space, '')} one")
    if render:
        _follow_with_tracking_camera(env)
    rng = None if deterministic else np.random.default_rng(seed)
    frames: list[np.ndarray] = []

    def on_step(ep: int) -> None:
        if render and ep == 0 and len(frames) < max_frames:
            frames.append(_render(env))
        if watch is not None:
            watch(ep, env)
    clip = clips_actions(saved.cfg.clip_actions, saved.policy.kind)
    returns = episode_returns(env, lambda obs: saved.act(obs, rng), clip,
                              [seed + ep for ep in range(episodes)], on_step)
    env.close()
    return returns, frames


def episode_returns(env: gym.Env, act, clip_actions: bool, seeds: list[int],
                    on_step=None) -> np.ndarray:
    """Undiscounted returns of one episode per reset seed in ``seeds``, shape (len(seeds),).

    ``act`` maps raw observations (1, obs_dim) to actions (1, act_dim), clipped to the action
    space if ``clip_actions``; ``on_step(ep)`` runs before every step of episode ``ep`` (to grab
    frames, or record the state). Used by ``refimpl eval`` and by the evaluation during training
    (``Evaluation``); tested in tests/engine/test_evaluation.py.
    """
    space = env.action_space
    returns = np.zeros(len(seeds))
    for ep, seed in enumerate(seeds):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            if on_step is not None:
                on_step(ep)
            a = act(np.asarray(obs, dtype=np.float64)[None])[0]
            obs, r, term, trunc, _ = env.step(np.clip(a, space.low, space.high) if clip_actions
                                              else a)
            returns[ep] += r
            done = term or trunc
    return returns


class Evaluation:
    """Deterministic evaluation during training (``--eval-every``): ``episodes`` episodes of the
    policy's mode in an environment of its own, with the observation normaliser frozen at the
    training statistics of the moment. The reset seeds come from the run's "evaluation" stream
    (``refimpl.core.seeding``) and are the same at every evaluation, so two evaluations differ only
    by the policy; nothing is drawn from a training stream, so training is the same with and
    without evaluation (tests/engine/test_evaluation.py). ``submit`` evaluates in this process, at
    once; ``EvaluationProcess`` does the same in a process of its own."""

    def __init__(self, cfg: Config, seeds: list[int]):
        self.cfg, self.seeds = cfg, seeds
        self.env = make_env(cfg.env)

    def __call__(self, policy: GaussianPolicy | CategoricalPolicy, phi: np.ndarray,
                 obs_rms: RunningMeanStd | None) -> np.ndarray:
        """The returns of the evaluation episodes, shape (episodes,)."""
        def act(obs):
            return policy_action(policy, phi, obs_rms, self.cfg.obs_clip, obs, None)
        clip = clips_actions(self.cfg.clip_actions, policy.kind)
        return episode_returns(self.env, act, clip, self.seeds)

    def timed(self, policy, phi, obs_rms) -> tuple[np.ndarray, float]:
        """The returns and the seconds they took."""
        t0 = time.perf_counter()
        returns = self(policy, phi, obs_rms)
        return returns, time.perf_counter() - t0

    def submit(self, policy, phi, obs_rms) -> Future:
        """A finished Future of ``timed``'s result."""
        return finished(self.timed(policy, phi, obs_rms))

    def close(self) -> None:
        self.env.close()


class EvaluationProcess(ServedProcess):
    """``Evaluation`` in a process of its own (``--eval-process``, the default), so that on a
    machine with a core to spare the evaluation episodes run while training goes on
    (``refimpl.engine.worker``). ``submit(policy, phi, obs_rms)`` returns a Future of
    ``Evaluation.timed``'s result: the same numbers, bit for bit, as in the training process
    (tested in tests/engine/test_evaluation.py). The process is started at the first ``submit``, so a
    run that never evaluates starts none."""

    def __init__(self, cfg: Config, seeds: list[int]):
        super().__init__("evaluation", Evaluation, (cfg, seeds), "timed")


def make_evaluation(cfg: Config, seeds: list[int]) -> Evaluation | EvaluationProcess:
    """``EvaluationProcess`` if ``cfg.eval_process`` and this process may start one (a daemonic
    process, such as a Dask worker's, may not), else ``Evaluation``."""
    if cfg.eval_process and may_start_process():
        return EvaluationProcess(cfg, seeds)
    return Evaluation(cfg, seeds)


def _follow_with_tracking_camera(env: gym.Env) -> None:
    """Render through the model's camera named "track" where there is one (HalfCheetah, Hopper,
    Walker2d: it follows the body), instead of a fixed free camera it runs out of."""
    base = env.unwrapped
    renderer, model = getattr(base, "mujoco_renderer", None), getattr(base, "model", None)
    if renderer is not None and model is not None:
        names = [model.camera(i).name for i in range(model.ncam)]
        if "track" in names:
            renderer.camera_id, renderer.camera_name = names.index("track"), None


def _render(env: gym.Env) -> np.ndarray:
    """One RGB frame; a failing renderer becomes a one-line ValueError (``make.render_failure``:
    MuJoCo's OpenGL back end, or what another environment's renderer needs, such as pygame)."""
    try:
        return env.render()
    except Exception as e:  # OpenGL back ends fail in many ways; all mean "no renderer"
        raise ValueError(render_failure(env, e)) from None


def write_gif(path: Path, frames: list[np.ndarray], fps: int = 30) -> None:
    """Write RGB frames (H, W, 3) uint8 as an animated GIF, atomically; a one-line ValueError
    if the file system refuses it."""
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    try:
        checkpoint.atomic_write(path, lambda f: images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps),
            loop=0))
    except OSError as e:
        raise ValueError(f"cannot write the GIF {path}: {e.strerror or e}") from None
