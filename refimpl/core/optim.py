"""First-order optimiser for PPO and the critics: Adam, and gradient-norm clipping.

The lecture's "PPO: Final algorithm" step 3 optimises L_CLIP "via mini-batch training" with a
"gradient descent algorithm (Adam, RMSprop, ...)"; this is that optimiser. Adam DESCENDS: pass the
gradient of a loss (for an objective to maximise, pass minus its gradient).
"""
from __future__ import annotations

import numpy as np

CLIP_NORM_EPS = 1e-6
"""Added to the norm in ``clip_grad_norm``'s scale factor (PyTorch's ``clip_grad_norm_`` value)."""


class Adam:
    """Adam (Kingma & Ba 2015, "Adam: a method for stochastic optimization", Algorithm 1):

        t <- t + 1
        m <- beta1 m + (1 - beta1) g          v <- beta2 v + (1 - beta2) g^2
        mhat = m / (1 - beta1^t)              vhat = v / (1 - beta2^t)
        theta <- theta - lr mhat / (sqrt(vhat) + eps)

    State: the moments m, v (float64, shape (n_params,)) and the step count t. ``step`` updates
    theta in place with two preallocated scratch buffers and no other full-size temporaries.
    Tested in ``tests/core/test_optim.py`` against a textbook loop (bit for bit).

    Parameters
    ----------
    n_params : int
        Length of the flat parameter vector.
    lr : float > 0
        Step size alpha; 3e-4 in the PPO paper's MuJoCo runs (Table 3).
    beta1, beta2 : float in [0, 1)
        Moment decay rates; 0.9 and 0.999 (Kingma & Ba 2015).
    eps : float >= 0
        Added to sqrt(vhat); 1e-8 (Kingma & Ba 2015). PyTorch's PPO ports often use 1e-5.
    """

    def __init__(self, n_params: int, lr: float = 3e-4, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8):
        if n_params < 1:
            raise ValueError(f"n_params must be >= 1, got {n_params}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {beta}")
        if not eps >= 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.lr, self.eps = float(lr), float(eps)
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.m, self.v, self.t = np.zeros(n_params), np.zeros(n_params), 0
        self._buf, self._denom = np.empty(n_params), np.empty(n_params)

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float | None = None) -> None:
        """One descent step on ``theta`` (float64, shape (n_params,)), modified in place.

        ``lr`` overrides the constructor's step size for this step (for annealing).
        """
        if theta.shape != self.m.shape or grad.shape != self.m.shape:
            raise ValueError(f"theta and grad must have shape {self.m.shape}, "
                             f"got {theta.shape} and {grad.shape}")
        lr = self.lr if lr is None else lr
        buf, denom = self._buf, self._denom
        self.t += 1
        self.m *= self.beta1                                  # m <- b1 m + (1 - b1) g
        self.m += np.multiply(grad, 1.0 - self.beta1, out=buf)
        self.v *= self.beta2                                  # v <- b2 v + (1 - b2) g^2
        np.multiply(grad, grad, out=buf)
        buf *= 1.0 - self.beta2
        self.v += buf
        np.divide(self.v, 1.0 - self.beta2 ** self.t, out=denom)  # sqrt(vhat) + eps
        np.sqrt(denom, out=denom)
        denom += self.eps
        np.divide(self.m, 1.0 - self.beta1 ** self.t, out=buf)    # lr mhat / denom
        buf *= lr
        buf /= denom
        theta -= buf

    def state(self) -> dict[str, np.ndarray]:
        """Checkpoint as npz-friendly arrays: m, v, t and the hyperparameters."""
        return {"m": self.m.copy(), "v": self.v.copy(), "t": np.array(self.t),
                "lr": np.array(self.lr), "beta1": np.array(self.beta1),
                "beta2": np.array(self.beta2), "eps": np.array(self.eps)}

    @classmethod
    def from_state(cls, d: dict[str, np.ndarray]) -> "Adam":
        """Inverse of ``state``: the restored optimiser continues bit-identically."""
        opt = cls(len(d["m"]), float(d["lr"]), float(d["beta1"]), float(d["beta2"]),
                  float(d["eps"]))
        opt.m[:], opt.v[:], opt.t = d["m"], d["v"], int(d["t"])
        return opt


def clip_grad_norm(grad: np.ndarray, max_norm: float | None) -> tuple[np.ndarray, float]:
    """Global gradient-norm clipping (implementation detail, not in the lecture; PPO ports'
    ``max_grad_norm``, typically 0.5), with PyTorch's ``clip_grad_norm_`` rule:

        norm = ||g||_2,   c = max_norm / (norm + CLIP_NORM_EPS)
        g' = c g  if c < 1,   else g unchanged

    so ||g'|| < max_norm after clipping; a norm within CLIP_NORM_EPS below max_norm is also scaled
    (by a factor within about 1e-6 of 1). ``max_norm`` None or inf disables clipping.

    Parameters
    ----------
    grad : ndarray, shape (n,)
    max_norm : float > 0, or None

    Returns
    -------
    grad_clipped : ndarray, shape (n,)
        ``grad`` itself (the same object) when not clipped, else a new array.
    norm : float
        ||grad||_2 before clipping (a diagnostic).

    Tested in ``tests/core/test_optim.py::test_clip_grad_norm_*``.
    """
    if max_norm is not None and not max_norm > 0:
        raise ValueError(f"max_norm must be > 0 or None, got {max_norm}")
    # np.linalg.norm of a float vector is sqrt(x.dot(x)); spelled out, as its wrapper costs more
    # than the dot product at every minibatch step
    norm = float(np.sqrt(grad.dot(grad)))
    if max_norm is None or not np.isfinite(max_norm):
        return grad, norm
    c = max_norm / (norm + CLIP_NORM_EPS)
    return (grad * c if c < 1.0 else grad), norm
