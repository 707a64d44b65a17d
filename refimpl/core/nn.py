"""Multilayer perceptron with hand-written reverse- and forward-mode derivatives.

All parameters of a network live in ONE flat float64 vector ``theta``. Layer ``i`` owns a
contiguous slice holding its weight ``W_i`` of shape ``(in_i, out_i)`` flattened row-major,
followed by its bias ``b_i`` of shape ``(out_i,)``. ``MLP.views`` returns zero-copy views, so
a gradient, a Fisher-vector product or a TRPO step ``theta + beta * x`` is one vector operation.

Forward pass (per layer, batch of N rows):   z_i = h_{i-1} W_i + b_i,   h_i = act(z_i)
(the last layer is linear: h_L = z_L). Its two derivatives, written beside it:

* ``vjp``  (reverse mode, backprop): given dL/dy, returns dL/dtheta and dL/dx.
      dz_i = dh_i * act'(z_i);  dW_i = h_{i-1}^T dz_i;  db_i = sum_n dz_i;  dh_{i-1} = dz_i W_i^T
* ``jvp``  (forward mode): given a parameter direction v = (dW_i, db_i), returns dy = J v.
      dz_i = dh_{i-1} W_i + h_{i-1} dW_i + db_i;  dh_i = act'(z_i) * dz_i,  dh_0 = 0

Verified by ``tests/core/test_nn.py`` against central finite differences in random directions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("tanh", "relu")
INITS = ("orthogonal", "xavier", "torch")
"""Weight initialisations of ``MLP.init`` (implementation detail, not in the lecture; Engstrom et
al. 2020, "Implementation matters in deep policy gradients", ablate it): ``orthogonal``
(``orthogonal`` weights with per-layer gains, zero biases: OpenAI baselines, CleanRL, SB3's
default ``ortho_init=True``, Engstrom's "orthogonal"), ``xavier`` (``xavier_uniform`` weights, zero
biases: Engstrom's "xavier") and ``torch`` (``torch_linear``: PyTorch's ``nn.Linear`` default for
weights and biases, which SB3 keeps with ``ortho_init=False``)."""


def _act_inplace(name: str, z: np.ndarray) -> np.ndarray:
    """h = act(z), overwriting z (the pre-activation is not needed afterwards)."""
    return np.tanh(z, out=z) if name == "tanh" else np.maximum(z, 0.0, out=z)


def _act_grad(name: str, h: np.ndarray) -> np.ndarray:
    """d act(z) / dz written in terms of h = act(z): tanh' = 1 - h^2; relu' = [h > 0]."""
    return 1.0 - h * h if name == "tanh" else (h > 0.0).astype(h.dtype)


def orthogonal(rng: np.random.Generator, n_in: int, n_out: int, gain: float) -> np.ndarray:
    """Orthogonal matrix of shape (n_in, n_out) scaled by ``gain`` (Saxe et al. 2014).

    QR of a standard-normal matrix with the sign of diag(R) folded into Q, so that Q is
    Haar-distributed; rows (or columns, whichever are fewer) are orthonormal.
    """
    a = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return gain * (q if n_in >= n_out else q.T)


def xavier_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    """W ~ U(-a, a), a = sqrt(6 / (n_in + n_out)), shape (n_in, n_out): variance
    a^2 / 3 = 2 / (n_in + n_out) (Glorot & Bengio 2010; PyTorch's ``xavier_uniform_`` with gain 1,
    which Engstrom et al.'s "xavier" initialisation calls).

    Tested in ``tests/core/test_nn.py::
    test_xavier_weights_are_uniform_with_variance_2_over_fan_sum``.
    """
    a = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-a, a, size=(n_in, n_out))


def torch_linear(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's ``nn.Linear.reset_parameters``: ``kaiming_uniform_(W, a=sqrt(5))``, whose bound
    gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)) = sqrt(1/3) is 1 / sqrt(n_in), and a
    bias from the same interval: W ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), shape (n_in, n_out), then
    b ~ U(-1/sqrt(n_in), 1/sqrt(n_in)), shape (n_out,).

    Tested in ``tests/core/test_nn.py::
    test_torch_init_draws_weights_and_biases_within_1_over_sqrt_fan_in``.
    """
    bound = 1.0 / np.sqrt(n_in)
    return (rng.uniform(-bound, bound, size=(n_in, n_out)),
            rng.uniform(-bound, bound, size=n_out))


@dataclass(frozen=True)
class MLP:
    """Layout of a fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    Attributes
    ----------
    sizes : tuple of int
        Layer widths including input and output, e.g. ``(17, 64, 64, 6)``.
    activation : str
        Hidden nonlinearity, ``"tanh"`` (default, as in the PPO and TRPO papers) or ``"relu"``.
        The output layer is always linear.
    """

    sizes: tuple[int, ...]
    activation: str = "tanh"

    def __post_init__(self):
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"sizes must list at least two positive widths, got {self.sizes}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        # offsets of each layer's W and b in theta, computed once (forward runs at every env step)
        layout, k = [], 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            layout.append((k, k + n_in * n_out, (n_in, n_out), k + n_in * n_out + n_out))
            k += n_in * n_out + n_out
        object.__setattr__(self, "_layout", tuple(layout))
        object.__setattr__(self, "_n_params", k)

    @property
    def n_params(self) -> int:
        return self._n_params

    def views(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per-layer ``(W, b)`` views into ``theta`` (no copies); writing to them writes theta."""
        assert theta.shape == (self._n_params,), f"theta has shape {theta.shape}, want ({self._n_params},)"
        return [(theta[w0:w1].reshape(shape), theta[w1:b1]) for w0, w1, shape, b1 in self._layout]

    def init(self, rng: np.random.Generator, output_gain: float = 1.0,
             hidden_gain: float = np.sqrt(2.0), scheme: str = "orthogonal") -> np.ndarray:
        """Initial parameters, layer by layer from ``rng``, by one of ``INITS``:

        * ``"orthogonal"`` (the default, the common PPO initialisation): orthogonal weights of
          gain sqrt(2) in the hidden layers and ``output_gain`` in the output layer (0.01 for a
          policy head, so the initial policy is nearly state-independent; 1.0 for a value
          head), zero biases;
        * ``"xavier"``: ``xavier_uniform`` weights in every layer, zero biases;
        * ``"torch"``: ``torch_linear`` weights and biases in every layer.

        The gains belong to the orthogonal scheme only: Engstrom et al.'s "xavier" and SB3's
        ``ortho_init=False`` draw the output layers like the others.
        Tested in ``tests/core/test_nn.py::test_init_is_orthogonal_with_gains_and_zero_bias`` and
        the ``xavier``/``torch`` tests there.
        """
        if scheme not in INITS:
            raise ValueError(f"scheme must be one of {INITS}, got {scheme!r}")
        theta = np.zeros(self.n_params)
        layers = self.views(theta)
        for i, (w, b) in enumerate(layers):
            if scheme == "orthogonal":
                gain = output_gain if i == len(layers) - 1 else hidden_gain
                w[:] = orthogonal(rng, *w.shape, gain)
            elif scheme == "xavier":
                w[:] = xavier_uniform(rng, *w.shape)
            else:
                w[:], b[:] = torch_linear(rng, *w.shape)
        return theta

    def forward(self, theta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, list]:
        """y = MLP_theta(x).

        Parameters
        ----------
        theta : ndarray, shape (n_params,)
        x : ndarray, shape (N, sizes[0])

        Returns
        -------
        y : ndarray, shape (N, sizes[-1])
        cache : list [x, h_1, ..., h_L = y] of every layer's output, what ``vjp`` and ``jvp`` need.
        """
        return self._forward_views(self.views(theta), x)

    def bind(self, theta: np.ndarray):
        """``x -> forward(theta, x)`` with ``theta``'s layer views taken once, for the rollout's
        one-row forward passes (there taking the views costs as much as the arithmetic). The views
        alias theta: the bound pass sees theta changed in place, not a new array bound to it."""
        layers = self.views(theta)
        return lambda x: self._forward_views(layers, x)

    def _forward_views(self, layers: list, x: np.ndarray) -> tuple[np.ndarray, list]:
        """``forward`` on the layer views ``self.views(theta)``."""
        cache, h = [x], x
        last = len(layers) - 1
        for i, (w, b) in enumerate(layers):
            h = h @ w
            h += b
            if i < last:
                h = _act_inplace(self.activation, h)
            cache.append(h)
        return h, cache

    def vjp(self, theta: np.ndarray, cache: list, dy: np.ndarray, need_dx: bool = False,
            out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Backprop: (dL/dtheta, dL/dx) from dL/dy, i.e. J^T dy.

        Parameters
        ----------
        dy : ndarray, shape (N, sizes[-1])
        need_dx : bool
            Also return dL/dx (skips one matrix product when False).
        out : ndarray, shape (n_params,), optional
            Written with dtheta and returned (a policy's gradient with more entries than the
            network's passes a slice of its own, saving a concatenation).

        Returns
        -------
        dtheta : ndarray, shape (n_params,), laid out like theta (``out`` if given).
        dx : ndarray of shape (N, sizes[0]), or None.
        """
        dtheta = np.empty(self.n_params) if out is None else out
        layers, grads = self.views(theta), self.views(dtheta)
        dh = dy
        for i in range(len(layers) - 1, -1, -1):
            h_in, h_out = cache[i], cache[i + 1]
            if i == len(layers) - 1:
                dz = dh
            else:  # dz = act'(z) * dh, multiplied into act's fresh array (x * y == y * x exactly)
                dz = _act_grad(self.activation, h_out)
                dz *= dh
            dw, db = grads[i]
            np.matmul(h_in.T, dz, out=dw)
            np.add.reduce(dz, axis=0, out=db)
            if i > 0 or need_dx:
                dh = dz @ layers[i][0].T
        return dtheta, (dh if need_dx else None)

    def jvp(self, theta: np.ndarray, cache: list, v: np.ndarray) -> np.ndarray:
        """Forward mode: dy = J v for a parameter direction ``v`` (shape (n_params,)).

        No Jacobian is formed: one pass of cost comparable to ``forward``.

        Returns
        -------
        dy : ndarray, shape (N, sizes[-1])
        """
        layers, dirs = self.views(theta), self.views(v)
        dh = None
        for i, ((w, _), (dw, db)) in enumerate(zip(layers, dirs)):
            dz = cache[i] @ dw
            dz += db
            if dh is not None:
                dz += dh @ w
            dh = dz if i == len(layers) - 1 else _act_grad(self.activation, cache[i + 1]) * dz
        return dh
