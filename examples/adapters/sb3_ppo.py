"""Cross-check a Stable-Baselines3 PPO ``MlpPolicy`` against refimpl, in float64.

    python examples/adapters/sb3_ppo.py OUT_DIR

Builds a PPO model on HalfCheetah-v5 with separate pi / vf networks and writes, to OUT_DIR:

* ``sb3_ppo_in.npz``: IN.npz from the model's own weights in refimpl's layout (each
  ``nn.Linear`` as W.T, b; log_std last), N observations of HalfCheetah-v5, actions sampled
  from the policy, random advantages and returns, and theta_new = theta + 0.05 N(0, I);
* ``sb3_ppo_theirs.npz``: THEIRS.npz from SB3's own code: ``evaluate_actions`` and the
  distribution's mean at theta, and one call of ``PPO.train`` itself on a rollout buffer filled
  with that batch, with the parameters at theta_new (one epoch, one minibatch of N): its logged
  policy_gradient_loss, clip_fraction, approx_kl and value_loss, and the gradient autograd
  computed for ``optimizer.step`` (which is replaced by a recorder; ``max_grad_norm`` is inf,
  so ``clip_grad_norm_`` multiplies by exactly 1).

Float64: ``policy.double()``, and the buffer's arrays replaced by float64 ones; SB3's
``preprocess_obs`` casts observations to float32, so ``_common.sb3_float64_observations``
passes them through while SB3 runs; the buffer casts actions to float32, so the adapter
samples actions that float32 represents exactly.

Then it runs ``refimpl.crosscheck.compare`` twice: as written (SB3 standardises the advantages
with torch's 1/(N - 1) std and logs the |kappa - 1| > eps clip fraction: diagnosed
``advantages_normalized`` and ``clip_fraction_outside``), and with those two conventions applied
(IN's advantages standardised as SB3 does, THEIRS's clip_fraction compared as
clip_fraction_outside), where every key passes.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def build(seed=0, n=32, hidden=(8, 8)):
    """A PPO model whose train() runs one epoch over one minibatch of n rows, in float64."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    model = PPO("MlpPolicy", gym.make("HalfCheetah-v5"), n_steps=n, batch_size=n, n_epochs=1,
                seed=seed, device="cpu", max_grad_norm=float("inf"),
                policy_kwargs={"net_arch": {"pi": list(hidden), "vf": list(hidden)},
                               "activation_fn": torch.nn.Tanh})
    model.policy.double()
    model.set_logger(Logger(folder=None, output_formats=[]))
    return model


def layers(model):
    """(policy Linears, critic Linears, log_std) in refimpl's order."""
    p = model.policy
    linear = lambda seq: [m for m in seq if isinstance(m, torch.nn.Linear)]  # noqa: E731
    return (linear(p.mlp_extractor.policy_net) + [p.action_net],
            linear(p.mlp_extractor.value_net) + [p.value_net], p.log_std)


def _fill_buffer(model, obs, actions, logp_old, adv, returns, values):
    """The rollout buffer holding the batch as float64 arrays of shape (n, 1, ...)."""
    buf, n = model.rollout_buffer, len(obs)
    buf.reset()
    col = lambda a: np.asarray(a, dtype=np.float64).reshape(n, 1, -1).squeeze(-1) \
        if np.ndim(a) == 1 else np.asarray(a, dtype=np.float64).reshape(n, 1, -1)  # noqa: E731
    buf.observations, buf.actions = col(obs), col(actions)
    buf.log_probs, buf.advantages, buf.returns, buf.values = map(col, (logp_old, adv, returns,
                                                                       values))
    buf.full, buf.generator_ready = True, False


def _train_once(model):
    """Run PPO.train with optimizer.step recording nothing but leaving the gradients."""
    model.policy.optimizer.step = lambda *args, **kwargs: None
    model.train()
    return dict(model.logger.name_to_value)


def sb3_batch(model, seed, n):
    """IN.npz for the model and a HalfCheetah batch, and SB3's outputs at theta."""
    pi, vf, log_std = layers(model)
    rng = np.random.default_rng(seed)
    obs = _common.halfcheetah_observations(n, seed)
    theta, critic_theta = _common.flat(pi, [log_std]), _common.flat(vf)
    torch.manual_seed(seed)
    with _common.sb3_float64_observations(), torch.no_grad():
        obs_t = torch.from_numpy(obs)
        dist = model.policy.get_distribution(obs_t)
        # the rollout buffer casts actions to float32 (RolloutBuffer._get_samples): actions
        # that float32 represents exactly lose nothing in that cast
        actions = dist.sample().float().double()
        values, logp, entropy = model.policy.evaluate_actions(obs_t, actions)
        at_theta = {"mean": dist.distribution.mean.numpy(), "logp": logp.numpy(),
                    "entropy": np.float64(entropy.mean().item()),
                    "value_pred": values.flatten().numpy()}
    inputs = {"hidden_sizes": np.array([m.out_features for m in pi[:-1]], dtype=np.int64),
              "activation": np.array("tanh"), "theta": theta, "obs": obs,
              "actions": actions.numpy().astype(np.float64), "advantages": rng.standard_normal(n),
              "v": rng.standard_normal(theta.size),
              "theta_new": theta + 0.05 * rng.standard_normal(theta.size),
              "delta": np.float64(0.01), "damping": np.float64(0.1), "cg_iters": np.int64(10),
              "clip_eps": np.float64(model.clip_range(1.0)), "critic_theta": critic_theta,
              "critic_hidden_sizes": np.array([m.out_features for m in vf[:-1]], dtype=np.int64),
              "value_targets": rng.standard_normal(n)}
    return inputs, at_theta


def theirs_of(model, inputs, at_theta):
    """THEIRS.npz: SB3 at theta (``at_theta``), then PPO.train at theta_new."""
    pi, vf, log_std = layers(model)
    _common.load_flat(inputs["theta_new"], pi, [log_std])
    _fill_buffer(model, inputs["obs"], inputs["actions"], at_theta["logp"], inputs["advantages"],
                 inputs["value_targets"], at_theta["value_pred"])
    with _common.sb3_float64_observations():
        logged = _train_once(model)
        with torch.no_grad():
            _, logp_new, _ = model.policy.evaluate_actions(torch.from_numpy(inputs["obs"]),
                                                           torch.from_numpy(inputs["actions"]))
    assert model.vf_coef == 0.5 and model.ent_coef == 0.0, "L = pg_loss + 0.5 mse below"
    return {**at_theta, "ratio": torch.exp(logp_new).numpy() / np.exp(at_theta["logp"]),
            "clip_objective": np.float64(-logged["train/policy_gradient_loss"]),
            "clip_grad": -_common.flat_grad(pi, [log_std]),
            "clip_fraction": np.float64(logged["train/clip_fraction"]),
            "approx_kl_k3": np.float64(logged["train/approx_kl"]),
            # SB3's value loss is F.mse_loss, without refimpl's 1/2; vf_coef = 0.5 supplies it
            "value_loss": np.float64(model.vf_coef * logged["train/value_loss"]),
            "value_grad": _common.flat_grad(vf)}


def run(out_dir, seed=0, n=32):
    """(report as written, report with the diagnosed conventions applied)."""
    model = build(seed, n)
    inputs, at_theta = sb3_batch(model, seed, n)
    theirs = theirs_of(model, inputs, at_theta)
    raw = _common.write_and_compare(out_dir, "sb3_ppo", inputs, theirs)
    applied_in = {**inputs, "advantages": _common.torch_standardize(inputs["advantages"])}
    return raw, _common.write_and_compare(out_dir, "sb3_ppo_applied", applied_in,
                                          _common.clip_fraction_as_outside(theirs))


if __name__ == "__main__":
    sys.exit(_common.main(__doc__, run, "SB3 PPO"))
