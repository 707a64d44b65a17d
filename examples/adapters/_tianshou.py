"""What the three Tianshou adapters (tianshou_npg.py, tianshou_trpo.py, tianshou_ppo.py) share:
Tianshou 2.0.1's own policy, critic and algorithm object, built as its MuJoCo benchmark scripts
build them and run in float64, and recorders around its methods that keep what each of them
computes. Line numbers below are of the installed tianshou 2.0.1 (``tianshou/`` in
site-packages).

Patches Tianshou needs, each a context manager here:

* ``utils/net/common.py:175``: ``MLP.forward`` casts its input with
  ``torch.as_tensor(obs, device=device, dtype=torch.float32)``, and
  ``utils/net/continuous.py:152-165``: ``ContinuousCritic.forward`` casts obs (and act) the same
  way. With ``.double()`` weights the cast makes every forward pass fail (float32 input,
  float64 weights). Inside ``float64_forward`` both methods are Tianshou's own source text with
  ``dtype=torch.float32`` replaced by ``dtype=torch.float64`` (compiled anew, the replaced
  occurrences counted), so nothing else of them changes.
* ``algorithm/modelfree/trpo.py:136, 173`` and ``ppo.py:187``: the importance ratio is
  ``(logp - logp_old).exp().float()``, a float32 cast inside the float64 run: it rounds the
  ratio (and, backwards, the gradient reaching it) to float32, about 6e-8 relative.
  ``ratio_float`` records what every ``Tensor.float`` call returns and, with ``keep=False``,
  makes it return the tensor unchanged, so the run is float64 throughout; the adapters compare
  both ways, and assert the number of calls (one per ratio), so that nothing else was
  intercepted.
* ``data/batch.py:1199-1215``: ``Batch.split`` shuffles the rows of the minibatch; inside
  ``unshuffled`` it keeps their order, so that the per-state ratio lines up with IN's rows.

Layout: ``ContinuousActorProbabilistic.__init__`` (``utils/net/continuous.py:213``) registers
``sigma_param`` (log-std, shape (act_dim, 1)) as the actor's own parameter, so
``actor.parameters()``, the order of Tianshou's flat vectors (``npg.py:226-228``
``_get_flat_grad``, ``npg.py:230-236`` ``_set_from_flat_params``), starts with log-std, then
each ``nn.Linear`` as weight (out, in) and bias. ``to_ours`` / ``to_theirs`` convert with
``_common.to_refimpl`` / ``_common.from_refimpl``.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def _recompiled(function, old, new, count):
    """``function`` compiled anew from its own source with ``old`` replaced by ``new``, which
    must occur exactly ``count`` times, in its module's namespace."""
    source = textwrap.dedent(inspect.getsource(function))
    assert source.count(old) == count, f"{function.__qualname__}: {old!r} not found {count} times"
    namespace = {}
    exec(compile(source.replace(old, new), inspect.getsourcefile(function), "exec"),
         function.__globals__, namespace)
    return namespace[function.__name__]


@contextlib.contextmanager
def torch_default_float32():
    """torch's default dtype float32, as Tianshou's scripts run, whatever the caller set (the
    torch oracle, examples/crosscheck_torch.py, sets float64 when imported, as pytest does when
    it collects tests/crosscheck): ``nn.Linear`` draws its initial weights, and Tianshou makes
    its constants, in the default dtype, so the run and its numbers would otherwise depend on
    what was imported before."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


@contextlib.contextmanager
def float64_forward():
    """``MLP.forward`` and ``ContinuousCritic.forward`` as shipped, but casting to float64
    where they cast to float32 (module docstring), under ``torch_default_float32``."""
    from tianshou.utils.net.common import MLP
    from tianshou.utils.net.continuous import ContinuousCritic
    patched = [(MLP, MLP.forward, 1), (ContinuousCritic, ContinuousCritic.forward, 2)]
    with torch_default_float32(), _patched_forwards(patched):
        yield


@contextlib.contextmanager
def _patched_forwards(patched):
    try:
        for cls, forward, count in patched:
            cls.forward = _recompiled(forward, "dtype=torch.float32", "dtype=torch.float64",
                                      count)
        yield
    finally:
        for cls, forward, _ in patched:
            cls.forward = forward


@contextlib.contextmanager
def ratio_float(keep: bool):
    """Yields a list that receives, as float64 arrays, what each ``Tensor.float()`` call inside
    the block returns: Tianshou's importance ratios (trpo.py:136, 173; ppo.py:187). With
    ``keep`` the call casts to float32 as shipped; without, it returns the float64 tensor."""
    calls = []
    original = torch.Tensor.float

    def float_(self, *args, **kwargs):
        out = original(self, *args, **kwargs) if keep else self
        calls.append(out.detach().double().numpy().copy())
        return out

    torch.Tensor.float = float_
    try:
        yield calls
    finally:
        del torch.Tensor.float  # inherited from torch._C.TensorBase, not Tensor's own
        assert torch.Tensor.float is original


@contextlib.contextmanager
def unshuffled():
    """``Batch.split`` (data/batch.py:1199-1215) shuffles the rows by default, as
    ``_update_with_batch`` calls it (npg.py:149, trpo.py:132, ppo.py:179); inside this block it
    keeps their order, so that the per-state ratio lines up with IN's rows (with the whole batch
    as one minibatch, the order changes no mean beyond rounding)."""
    from tianshou.data import Batch
    split = Batch.split
    Batch.split = lambda self, size, shuffle=True, merge_last=False: split(self, size, False,
                                                                          merge_last)
    try:
        yield
    finally:
        Batch.split = split


def independent_normal(loc_scale):
    """The ``dist_fn`` of Tianshou's MuJoCo scripts: a diagonal Gaussian whose log_prob and
    entropy sum over the action dimensions."""
    from torch.distributions import Independent, Normal
    loc, scale = loc_scale
    return Independent(Normal(loc, scale), 1)


def build(algorithm, seed=0, hidden=(8, 8), **kwargs):
    """Tianshou's ``algorithm`` (NPG, TRPO or PPO) on HalfCheetah-v5 as
    ``examples/mujoco/mujoco_{npg,trpo,ppo}.py`` build it (tanh ``Net`` of width ``hidden``,
    ``ContinuousActorProbabilistic(unbounded=True)``, ``ContinuousCritic``, orthogonal weights
    of gain sqrt(2), zero biases, the mean layer scaled by 0.01, ``Independent(Normal)``,
    action scaling with clipping), in float64. log-std is -0.5 + 0.1 N(0, 1) per dimension
    (the scripts' constant -0.5 would hide a mix-up of action dimensions). Built under
    ``torch_default_float32``, as the scripts build it, then made float64."""
    with torch_default_float32():
        return _build(algorithm, seed, hidden, **kwargs)


def _build(algorithm, seed, hidden, **kwargs):
    import gymnasium as gym
    from tianshou.algorithm.modelfree.reinforce import ProbabilisticActorPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.utils.net.common import Net
    from tianshou.utils.net.continuous import ContinuousActorProbabilistic, ContinuousCritic
    env = gym.make("HalfCheetah-v5")
    torch.manual_seed(seed)
    obs_shape, act_shape = env.observation_space.shape, env.action_space.shape
    actor = ContinuousActorProbabilistic(
        preprocess_net=Net(state_shape=obs_shape, hidden_sizes=hidden, activation=nn.Tanh),
        action_shape=act_shape, unbounded=True)
    critic = ContinuousCritic(
        preprocess_net=Net(state_shape=obs_shape, hidden_sizes=hidden, activation=nn.Tanh))
    for m in list(actor.modules()) + list(critic.modules()):
        if isinstance(m, nn.Linear):
            nn.init.orthogonal_(m.weight, gain=np.sqrt(2))
            nn.init.zeros_(m.bias)
    for m in actor.mu.modules():
        if isinstance(m, nn.Linear):
            m.weight.data.copy_(0.01 * m.weight.data)
    with torch.no_grad():
        actor.sigma_param.copy_(-0.5 + 0.1 * torch.randn_like(actor.sigma_param))
    actor.double()
    critic.double()
    with warnings.catch_warnings():  # reinforce.py:152 warns the scripts' setting as well
        warnings.filterwarnings("ignore", "action_scaling and action_bound_method")
        policy = ProbabilisticActorPolicy(actor=actor, dist_fn=independent_normal,
                                          action_scaling=True, action_bound_method="clip",
                                          action_space=env.action_space)
    return algorithm(policy=policy, critic=critic, optim=AdamOptimizerFactory(lr=1e-3),
                     **kwargs)


def linears(module):
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def to_ours(algo, flat: torch.Tensor) -> np.ndarray:
    """A flat vector in the order of ``actor.parameters()`` in refimpl's layout."""
    actor = algo.policy.actor
    return _common.to_refimpl(flat, list(actor.named_parameters()), linears(actor),
                              [actor.sigma_param])


def to_theirs(algo, vector: np.ndarray) -> torch.Tensor:
    actor = algo.policy.actor
    return _common.from_refimpl(vector, list(actor.named_parameters()), linears(actor),
                                [actor.sigma_param])


def theta_of(algo) -> np.ndarray:
    """The actor's parameters in refimpl's layout."""
    return _common.flat(linears(algo.policy.actor), [algo.policy.actor.sigma_param])


def load_theta(algo, theta) -> None:
    _common.load_flat(theta, linears(algo.policy.actor), [algo.policy.actor.sigma_param])


def preprocess(algo, seed, n):
    """IN's common part and the batch after Tianshou's own ``_preprocess_batch`` (npg.py:123-138,
    ppo.py:146-162): n HalfCheetah observations, actions sampled from the policy
    (``ProbabilisticActorPolicy.forward``), and N(0, 1) advantages and returns standing in for
    ``_add_returns_and_advantages`` (Tianshou's GAE over a replay buffer, not compared here),
    which sets ``v_s`` with the critic as Tianshou does (a2c.py:122-127). Tianshou then computes
    ``logp_old`` and, for NPG and TRPO, normalises the advantages (npg.py:136-137)."""
    from tianshou.data import Batch
    rng = np.random.default_rng(seed)
    obs = _common.halfcheetah_observations(n, seed)
    adv, returns = rng.standard_normal(n), rng.standard_normal(n)
    torch.manual_seed(seed)
    with torch.no_grad():
        actions = algo.policy(Batch(obs=torch.from_numpy(obs), info={})).act

    def given(batch, buffer, indices):
        with torch.no_grad():
            batch.v_s = algo.critic(batch.obs).flatten()
        batch.returns, batch.adv = torch.from_numpy(returns), torch.from_numpy(adv)
        return batch

    algo._add_returns_and_advantages = given
    batch = algo._preprocess_batch(Batch(obs=torch.from_numpy(obs), act=actions.numpy(),
                                         info={}), None, None)
    with torch.no_grad():
        dist = algo.policy(batch).dist
        at_theta = {"mean": dist.mean.numpy(), "logp": batch.logp_old.numpy(),
                    "entropy": np.float64(dist.entropy().mean().item()),
                    "value_pred": batch.v_s.numpy()}
    theta = theta_of(algo)
    inputs = {"hidden_sizes": np.array([m.out_features for m in linears(algo.policy.actor)[:-1]],
                                       dtype=np.int64),
              "activation": np.array("tanh"), "theta": theta, "obs": obs,
              "actions": batch.act.numpy(), "advantages": adv,
              "v": rng.standard_normal(theta.size),
              "theta_new": theta + 0.05 * rng.standard_normal(theta.size),
              "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
              "clip_eps": np.float64(0.2), "critic_theta": _common.flat(linears(algo.critic)),
              "critic_hidden_sizes": np.array([m.out_features
                                               for m in linears(algo.critic)[:-1]],
                                              dtype=np.int64),
              "value_targets": returns}
    return inputs, batch, at_theta


def no_optimizer_step(algo) -> None:
    """``algo.optim.step(loss)`` (algorithm_base.py:484-500: zero_grad, backward, clip) runs as
    shipped but its torch optimizer does not step, so the gradients stay on the parameters
    and every repetition sees the same parameters."""
    algo.optim._optim.step = lambda *args, **kwargs: None


def critic_keys(algo, vf_loss, scale):
    """value_loss and value_grad of refimpl's L_V = 1/2 mean (V - ret)^2 from Tianshou's
    ``vf_loss`` = mean (ret - V)^2 (npg.py:182, ppo.py:208) and the critic's gradient of
    ``scale`` vf_loss."""
    return {"value_loss": np.float64(vf_loss / 2),
            "value_grad": _common.flat_grad(linears(algo.critic)) / (2 * scale)}


class NaturalRecorder:
    """Around one ``_update_with_batch`` of NPG or TRPO: records the input b (= the gradient of
    Tianshou's actor loss) and output of ``_conjugate_gradients`` (npg.py:202-224), the products
    it takes with ``_MVP`` (npg.py:195-200), F v for IN's v from ``_MVP`` itself with
    ``_damping`` set to 0 (on the same ``flat_kl_grad``), every vector
    ``_set_from_flat_params`` writes (npg.py:230-236) and every value of ``kl_divergence`` in
    the algorithm's module (npg.py:164, 177; trpo.py:147, 177)."""

    def __init__(self, algo, v):
        self.algo, self.v = algo, to_theirs(algo, v)
        self.mvp_calls, self.written, self.kls = 0, [], []
        self._cg, self._mvp = algo._conjugate_gradients, algo._MVP
        self._set = algo._set_from_flat_params
        algo._conjugate_gradients, algo._MVP = self.conjugate_gradients, self.mvp
        algo._set_from_flat_params = self.set_from_flat_params
        self.module = sys.modules[type(algo).__module__]
        self._kl = self.module.kl_divergence
        self.module.kl_divergence = self.kl_divergence

    def restore(self):
        self.module.kl_divergence = self._kl

    def mvp(self, v, flat_kl_grad):
        self.mvp_calls += 1
        return self._mvp(v, flat_kl_grad)

    def conjugate_gradients(self, b, flat_kl_grad, nsteps=10, **kwargs):
        self.mvp_calls = 0
        x = self._cg(b, flat_kl_grad, nsteps=nsteps, **kwargs)
        self.b, self.x, self.nsteps, self.iterations = b, x.clone(), nsteps, self.mvp_calls
        damping, self.algo._damping = self.algo._damping, 0.0
        self.fvp = self._mvp(self.v, flat_kl_grad)
        self.algo._damping = damping
        return x

    def set_from_flat_params(self, model, flat_params):
        self.written.append(flat_params.clone())
        return self._set(model, flat_params)

    def kl_divergence(self, p, q):
        kl = self._kl(p, q)
        self.kls.append(kl)
        return kl

    def theirs(self):
        """Their g, F v, x and the CG's iteration count in refimpl's terms: Tianshou's actor
        loss is -L, so b = -g and its CG solves (F + lambda I) x' = -g: x = -x'."""
        algo = self.algo
        return {"grad": -to_ours(algo, self.b), "fvp": to_ours(algo, self.fvp),
                "cg_x": -to_ours(algo, self.x),
                "cg_iterations_run": np.int64(self.iterations)}


def natural_inputs(algo, inputs, recorder):
    """IN's settings as Tianshou has them: ``_damping`` 0.1 (npg.py:121), ``nsteps`` = 10
    (npg.py:167, trpo.py:150)."""
    return {**inputs, "damping": np.float64(algo._damping),
            "cg_iters": np.int64(recorder.nsteps)}


def update(algo, batch, keep_cast):
    """One ``_update_with_batch`` of ``algo`` (one repetition, the whole batch as one minibatch,
    unshuffled, the optimizer not stepping); returns its stats and the ratios recorded by
    ``ratio_float(keep_cast)``. Call inside ``float64_forward``."""
    no_optimizer_step(algo)
    with unshuffled(), ratio_float(keep_cast) as ratios:
        stats = algo._update_with_batch(batch, batch_size=None, repeat=1)
    return stats, ratios


def natural_update(algorithm, seed, n, keep_cast=True, **kwargs):
    """Build ``algorithm`` (NPG or TRPO) with ``optim_critic_iters`` 1 (the critic's optimizer
    does not step, so more iterations would repeat the same loss), run ``_preprocess_batch``
    and one ``update`` in float64, recording (``NaturalRecorder``). Returns (algo, IN, batch
    after preprocessing, THEIRS so far, recorder, update stats, recorded ratios)."""
    algo = build(algorithm, seed, optim_critic_iters=1, **kwargs)
    with float64_forward():
        inputs, batch, at_theta = preprocess(algo, seed, n)
        recorder = NaturalRecorder(algo, inputs["v"])
        try:
            stats, ratios = update(algo, batch, keep_cast)
        finally:
            recorder.restore()
    theirs = {**at_theta, **recorder.theirs(),
              **critic_keys(algo, stats.vf_loss.mean, 1.0)}
    return algo, natural_inputs(algo, inputs, recorder), batch, theirs, recorder, stats, ratios


def written_steps(algo, inputs, recorder):
    """The vectors ``_set_from_flat_params`` wrote, minus theta, in refimpl's layout: NPG's
    step (npg.py:174-175) or TRPO's line-search candidates (trpo.py:168-169)."""
    theta = to_theirs(algo, inputs["theta"])
    return [to_ours(algo, w - theta) for w in recorder.written]


def reports(out_dir, name, adapter, seed, n):
    """(raw, applied) for ``adapter(seed, n, keep_cast)`` -> (IN, THEIRS, IN with Tianshou's
    conventions): raw compares Tianshou as shipped (ratio cast kept) with IN as refimpl reads
    it; applied compares Tianshou without the ratio cast with IN set to its conventions."""
    inputs, theirs, _ = adapter(seed, n, keep_cast=True)
    raw = _common.write_and_compare(out_dir, name, inputs, theirs)
    _, theirs64, applied_in = adapter(seed, n, keep_cast=False)
    return raw, _common.write_and_compare(out_dir, f"{name}_applied", applied_in, theirs64)
