r"""BatchNormalization: batch statistics while training, moving statistics at inference.

Reference: Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep
Network Training by Reducing Internal Covariate Shift", ICML, Algorithm 1 and
§3.1 (the backward pass); CS231n assignment 2 (``batchnorm_backward``).
"""

from __future__ import annotations

import numbers

import numpy as np

from scratchnet import _checks, initializers
from scratchnet.layers.base import Layer, shape_tuple


def batch_norm_backward_reference(x, gamma, dy, epsilon):
    r"""Training-mode :math:`dx` of batch normalisation from its explicit Jacobian, one feature at a time.

    The definition the fast ``BatchNormalization.backward`` reduces: for x (m, C)
    (every axis but the features flattened into m), per feature c,

    .. math:: J_{ik} = \frac{\partial \hat x_i}{\partial x_k}
              = s\Big(\delta_{ik} - \frac1m\Big) - \frac{s}{m}\hat x_i \hat x_k,
              \qquad dx = \gamma\, J^\top dy

    an m×m matrix per feature, so O(m²C): for checking, not for training.
    """
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    m, features = x.shape
    dx = np.zeros_like(x)
    for c in range(features):
        mean = x[:, c].sum() / m
        var = ((x[:, c] - mean) ** 2).sum() / m
        s = 1.0 / np.sqrt(var + epsilon)
        xhat = (x[:, c] - mean) * s
        jac = s * (np.eye(m) - 1.0 / m) - (s / m) * np.outer(xhat, xhat)  # (m, m)
        dx[:, c] = gamma[c] * jac.T @ dy[:, c]
    return dx


class BatchNormalization(Layer):
    r"""Normalise each feature over the batch (and every other axis but ``axis``), then scale and shift.

    Shapes: x (N, ..., C) with C on ``axis`` (the last by default); gamma,
    beta, moving_mean, moving_variance (C,). Let :math:`m` be the number of
    values reduced per feature (N·H·W for (N, H, W, C) inputs) and sums
    :math:`\sum_i` run over those values.

    Forward, training (``training=True``), per feature:

    .. math::
        \mu = \frac1m \sum_i x_i, \quad
        \sigma^2 = \frac1m \sum_i (x_i - \mu)^2, \quad
        \hat x_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
        y_i = \gamma \hat x_i + \beta

    (the biased variance, as Keras 3), and the moving statistics move towards the batch's:
    :math:`\bar\mu \leftarrow \rho\bar\mu + (1-\rho)\mu`,
    :math:`\bar\sigma^2 \leftarrow \rho\bar\sigma^2 + (1-\rho)\sigma^2`
    with Keras' momentum :math:`\rho = 0.99` (Keras 3 also averages the
    biased variance; Keras 2's fused kernel used :math:`\tfrac{m}{m-1}\sigma^2`).
    Inference (``training=False``, and always when ``trainable=False``, as
    Keras 3 does for fine-tuning): the same formula with :math:`\bar\mu, \bar\sigma^2` in
    place of :math:`\mu, \sigma^2`. :math:`\epsilon = 10^{-3}` (Keras; the paper's is smaller).

    Backward, training. Write :math:`s = (\sigma^2+\epsilon)^{-1/2}` and
    :math:`g_i = \partial L/\partial \hat x_i = \gamma\, dy_i`. The parameters:
    :math:`d\gamma = \sum_i dy_i \hat x_i`, :math:`d\beta = \sum_i dy_i`.
    The input reaches :math:`\hat x_k` three ways, directly and through
    :math:`\mu` and :math:`\sigma^2`:

    .. math::
        \frac{\partial \sigma^2}{\partial x_k} = \frac2m (x_k - \mu), \qquad
        \frac{\partial \mu}{\partial x_k} = \frac1m, \qquad
        \frac{\partial \hat x_i}{\partial x_k}
          = s\Big(\delta_{ik} - \frac1m\Big) - \frac{s}{m}\,\hat x_i \hat x_k

    (the last term: :math:`\partial s/\partial\sigma^2 = -\tfrac12 s^3`, times
    :math:`(x_i - \mu)\cdot\tfrac2m(x_k-\mu)`; the :math:`\mu`-path through
    :math:`\sigma^2` vanishes because :math:`\sum_i (x_i - \mu) = 0`). Index form:

    .. math::
        dx_k = \sum_i g_i \frac{\partial \hat x_i}{\partial x_k}
             = \frac{s}{m}\Big(m\, g_k - \sum_i g_i - \hat x_k \sum_i g_i \hat x_i\Big)

    Matrix form, per feature column: :math:`dx = \frac{s}{m}\,(m\,g - \mathbf 1\mathbf 1^\top g
    - \hat x\,(\hat x^\top g))`; the gradient is orthogonal to the constant
    vector and to :math:`\hat x` (shifting or scaling a feature's batch changes nothing).
    ``batch_norm_backward_reference`` builds the m×m Jacobian itself and is
    tested against this.

    Backward, inference: the statistics are constants of the input, so
    :math:`dx = \gamma\,\bar s\, dy` with :math:`\bar s = (\bar\sigma^2 + \epsilon)^{-1/2}`.
    The moving statistics get their gradients too (nothing trains them, but
    ``gradcheck.check_layer`` checks every weight):
    :math:`d\bar\mu = -\gamma\bar s\sum_i dy_i`,
    :math:`d\bar\sigma^2 = -\tfrac12\gamma\bar s^3 \sum_i dy_i (x_i - \bar\mu)`; zeros while training.

    Weights in Keras' order ``[gamma, beta, moving_mean, moving_variance]``
    (without gamma when ``scale=False``, without beta when ``center=False``); the
    moving statistics are non-trainable: ``trainable_weights`` leaves them out,
    so no optimizer ever touches them. Every training-mode forward pass moves
    them (``fit``, ``train_on_batch``, and ``compute_gradients(training=True)``,
    as a Keras call with ``training=True`` does). Keras computes
    :math:`y = x\,(\gamma s) + (\beta - \mu\,\gamma s)`; so does this.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise _checks.invalid_type("axis", "an integer", axis)
        self.axis = int(axis)
        self.momentum = _checks.unit_interval("momentum", momentum, closed_right=True)
        self.epsilon = _checks.positive_float("epsilon", epsilon)
        self.center = _checks.boolean("center", center)
        self.scale = _checks.boolean("scale", scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        _checks.axis(self.axis, len(shape) + 1)
        if self.axis in (0, -len(shape) - 1):
            raise _checks.invalid("axis", "a feature axis, not the batch axis 0", self.axis)
        return shape

    def weight_shapes(self, input_shape):
        """``(C,)`` for each of gamma (with ``scale``), beta (with ``center``), moving mean and variance."""
        shape = self.compute_output_shape(input_shape)
        features = (shape[self.axis - 1] if self.axis > 0 else shape[self.axis],)  # (C,)
        return [features] * (2 + self.scale + self.center)

    def build(self, input_shape, rng=None):
        self._set_input_shape(input_shape)
        rng = self._rng(rng)
        features = self.weight_shapes(self.input_shape)[0]  # (C,)
        self.gamma = self.gamma_initializer(features, rng, self.dtype) if self.scale else None
        self.beta = self.beta_initializer(features, rng, self.dtype) if self.center else None
        self.moving_mean = self.moving_mean_initializer(features, rng, self.dtype)
        self.moving_variance = self.moving_variance_initializer(features, rng, self.dtype)
        self.weights = [
            w
            for w in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
            if w is not None
        ]
        self.grads = [np.zeros_like(w) for w in self.weights]
        self.built = True

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """gamma and beta (when the layer is trainable); never the moving statistics."""
        if not self.trainable:
            return []
        return [w for w in (self.gamma, self.beta) if w is not None]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        frozen = [] if self.trainable else [w for w in (self.gamma, self.beta) if w is not None]
        return [*frozen, self.moving_mean, self.moving_variance]

    def _axes(self, ndim):
        """The reduced axes (all but the feature axis) and the parameters' broadcast shape."""
        axis = self.axis % ndim
        reduce = tuple(i for i in range(ndim) if i != axis)
        shape = tuple(-1 if i == axis else 1 for i in range(ndim))
        return reduce, shape

    def forward(self, x, training=False):
        x = self._inputs(x)  # (N, ..., C)
        reduce, bshape = self._axes(x.ndim)
        one = self.dtype.type(1.0)
        training = bool(training) and self.trainable  # Keras 3: a frozen BN runs in inference mode
        if training:
            mean = x.mean(axis=reduce)  # (C,)
            var = np.square(x - mean.reshape(bshape)).mean(axis=reduce)  # (C,) biased
            rho = self.dtype.type(self.momentum)
            self.moving_mean *= rho
            self.moving_mean += (one - rho) * mean
            self.moving_variance *= rho
            self.moving_variance += (one - rho) * var
        else:
            mean, var = self.moving_mean, self.moving_variance
        s = one / np.sqrt(var + self.dtype.type(self.epsilon))  # (C,)
        inv = s if self.gamma is None else s * self.gamma  # (C,) gamma * s
        shift = -mean * inv if self.beta is None else self.beta - mean * inv  # (C,)
        y = x * inv.reshape(bshape) + shift.reshape(bshape)  # (N, ..., C)
        xhat = (x - mean.reshape(bshape)) * s.reshape(bshape)  # (N, ..., C), kept instead of x
        self._cache = (xhat, s, training)
        return y

    def backward(self, dy):
        xhat, s, training = self._cached()
        dy = self._upstream(dy, xhat.shape)
        reduce, bshape = self._axes(xhat.ndim)
        m = xhat.size // s.size
        gamma = np.ones_like(s) if self.gamma is None else self.gamma
        dbeta = dy.sum(axis=reduce)  # (C,)
        dgamma = (dy * xhat).sum(axis=reduce)  # (C,)
        if training:
            # dx = s/m (m g - sum g - xhat sum(g xhat)),  g = gamma dy
            k = (gamma * s / m).reshape(bshape)
            dx = k * (m * dy - dbeta.reshape(bshape) - xhat * dgamma.reshape(bshape))
            dmean = np.zeros_like(s)
            dvar = np.zeros_like(s)
        else:
            dx = dy * (gamma * s).reshape(bshape)
            dmean = -gamma * s * dbeta
            dvar = -0.5 * gamma * s**2 * dgamma  # sum dy (x - mean) s^3 = s^2 sum dy xhat
        self.grads = [
            g
            for g, w in ((dgamma, self.gamma), (dbeta, self.beta), (dmean, 0), (dvar, 0))
            if w is not None
        ]
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }
