r"""The dense and element-wise layers: Dense, Activation, LeakyReLU, Dropout, Flatten.

References: CS231n notes and assignment 2 (affine and dropout layers);
Goodfellow, Bengio & Courville (2016), *Deep Learning*, §6.5 (back-propagation)
and §7.12 (dropout); Srivastava et al. (2014), "Dropout", JMLR 15.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scratchnet import _checks, initializers
from scratchnet.layers import _fast
from scratchnet.layers.base import Layer, activation_config, activation_from_config, shape_tuple


class Dense(Layer):
    r"""Fully connected layer: :math:`y = \varphi(z)`, :math:`z = xW + b`.

    Shapes: x (N, in), W = kernel (in, units) (Keras layout), b = bias (units,),
    z and y (N, units).

    Forward, index form: :math:`z_{nj} = \sum_i x_{ni} W_{ij} + b_j`.

    Backward. Given :math:`dz = \partial L/\partial z` (the activation's VJP of
    ``dy``, or ``dy`` itself with ``wrt_preactivation=True``):

    * :math:`\partial z_{nj}/\partial W_{ij} = x_{ni}`, so
      :math:`dW_{ij} = \sum_n x_{ni}\, dz_{nj}`;  matrix form :math:`dW = x^\top dz`  (in, units).
    * :math:`\partial z_{nj}/\partial b_j = 1`, so :math:`db_j = \sum_n dz_{nj}`;
      matrix form :math:`db = \mathbf{1}^\top dz`  (units,).
    * :math:`\partial z_{nj}/\partial x_{ni} = W_{ij}`, so
      :math:`dx_{ni} = \sum_j dz_{nj} W_{ij}`;  matrix form :math:`dx = dz\, W^\top`  (N, in).

    ``preactivation`` keeps the latest :math:`z`; ``backward(dz, wrt_preactivation=True)``
    skips the activation's VJP (the model uses this for the fused softmax +
    cross-entropy gradient :math:`(\mathrm{softmax}(z) - y)/N`, as Keras does).

    Keras differs: its Dense also accepts inputs of rank > 2 (applied to the
    last axis); this one takes (N, in) only, and says so.

    Reference: CS231n, "affine layer"; Goodfellow et al. (2016) §6.5.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        self.units = _checks.positive_int("units", units)
        self.activation = activation_from_config(activation)
        self.use_bias = _checks.boolean("use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)
        self.preactivation = None

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        if len(shape) != 1:
            raise _checks.invalid(
                "input_shape",
                f"a 1-D shape (features,) for Dense {self.name!r}; Flatten first",
                shape,
            )
        return (self.units,)

    def weight_shapes(self, input_shape):
        self.compute_output_shape(input_shape)  # (features,), else the layer's error
        (features,) = shape_tuple("input_shape", input_shape)
        return (
            [(features, self.units), (self.units,)] if self.use_bias else [(features, self.units)]
        )

    def build(self, input_shape, rng=None):
        (features,) = self._set_input_shape(input_shape)
        rng = self._rng(rng)
        kernel_shape = (features, self.units)  # (in, units)
        self.kernel = self.kernel_initializer(kernel_shape, rng, self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.units,), rng, self.dtype)  # (units,)
            self.weights.append(self.bias)
        self.grads = [np.zeros_like(w) for w in self.weights]
        self.built = True

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True, private=True)  # (N, in), kept for dW = x^T dz
        z = _fast.matmul(x, self.kernel)  # (N, units), a new array: x @ W (_fast.py: the threads)
        if self.use_bias:
            z += self.bias
        y = self.activation(z)  # (N, units)
        self.preactivation = z
        self._cache = (x, z, y)
        return y

    skips_input_grad = True

    def backward(self, dy, wrt_preactivation=False, input_grad=True):
        """Fills ``grads``; returns dx (N, in), or None with ``input_grad=False`` (skips ``dz W^T``)."""
        x, z, y = self._cached()
        dy = self._upstream(dy, y.shape)
        if wrt_preactivation:
            dz = dy  # (N, units) already dL/dz
        else:
            dz = np.asarray(self.activation.backward(z, y, dy), dtype=self.dtype)  # (N, units)
        self.grads = [_fast.matmul(x.T, dz)]  # (in, units): x^T dz
        if self.use_bias:
            self.grads.append(dz.sum(axis=0))  # (units,)
        return _fast.matmul(dz, self.kernel.T) if input_grad else None  # (N, in): dz W^T

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


class Activation(Layer):
    r"""Applies an activation element-wise (softmax: along the last axis): :math:`y = \varphi(x)`.

    Backward: :math:`dx = J_\varphi(x)^\top dy`, the activation's own VJP
    (``activations.py`` derives each). With ``wrt_preactivation=True`` the
    upstream gradient is already :math:`\partial L/\partial x` and passes through.
    ``preactivation`` is the latest input :math:`x`.

    Shapes: any (N, ...), output shaped like the input.
    """

    def __init__(self, activation, *, input_shape=None, name=None, dtype=None, trainable=True):
        self.activation = activation_from_config(activation)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)
        self.preactivation = None

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True, private=True)  # (N, ...), kept for the VJP
        y = self.activation(x)  # (N, ...)
        self.preactivation = x
        self._cache = (x, y)
        return y

    def backward(self, dy, wrt_preactivation=False):
        x, y = self._cached()
        dy = self._upstream(dy, y.shape)
        if wrt_preactivation:
            return dy
        return np.asarray(self.activation.backward(x, y, dy), dtype=self.dtype)

    def get_config(self):
        return {**super().get_config(), "activation": activation_config(self.activation)}


class LeakyReLU(Layer):
    r"""Leaky ReLU layer: :math:`y = x` if :math:`x > 0`, else :math:`\alpha x`, :math:`\alpha` = ``negative_slope``.

    Derivative: :math:`\partial y/\partial x = 1` if :math:`x > 0` else :math:`\alpha`;
    at the kink :math:`x = 0` TensorFlow's kernel uses :math:`\alpha`, and so does
    the strict ``>`` here. Element-wise, so :math:`dx = dy \odot y'(x)`.

    Shapes: any (N, ...), output shaped like the input.

    Keras' layer default is :math:`\alpha = 0.3`; the function
    ``keras.activations.leaky_relu`` defaults to 0.2. :math:`\alpha \ge 0` is
    required (Keras raises for a negative slope too).

    Reference: Maas, Hannun & Ng (2013), "Rectifier Nonlinearities Improve
    Neural Network Acoustic Models", ICML workshop.
    """

    def __init__(
        self, negative_slope=0.3, *, input_shape=None, name=None, dtype=None, trainable=True
    ):
        self.negative_slope = _checks.non_negative_float("negative_slope", negative_slope)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, ...)
        slope = self.dtype.type(self.negative_slope)
        positive = x > 0  # (N, ...) bool: all backward needs, and not the caller's array
        self._cache = positive
        return np.where(positive, x, slope * x)  # (N, ...)

    def backward(self, dy):
        positive = self._cached()
        dy = self._upstream(dy, positive.shape)
        slope = self.dtype.type(self.negative_slope)
        return np.where(positive, dy, slope * dy)  # (N, ...)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Dropout(Layer):
    r"""Inverted dropout: during training :math:`y = x \odot m / (1 - r)`, identity otherwise.

    With ``training=True`` and rate :math:`r > 0`, the mask is
    :math:`m = 1[u \ge r]`, :math:`u \sim U[0, 1)` drawn from ``self.rng``
    (shape ``noise_shape``, broadcast over the input), so each unit is kept
    with probability :math:`1 - r`. Dividing the kept units by :math:`1 - r`
    keeps :math:`E[y] = x`, so inference needs no rescaling.
    TensorFlow computes :math:`y = \text{where}(m, x \cdot \tfrac{1}{1-r}, 0)`; so does this.

    Backward (index form): :math:`\partial y_k/\partial x_k = m_k/(1-r)`, so
    :math:`dx = dy \odot m/(1-r)` with the mask the forward pass drew; identity
    when the forward pass was not training.

    ``noise_shape`` (Keras): the mask's shape including the batch axis, ``None``
    entries taken from the input; size-1 axes share one mask value, e.g.
    ``(None, 1, 1, C)`` drops whole feature maps. The layer owns
    ``self.rng = np.random.default_rng(seed)``; saving
    ``rng.bit_generator.state`` and restoring it replays the same masks.

    Shapes: any (N, ...), output shaped like the input.

    Reference: Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov (2014),
    "Dropout", JMLR 15; CS231n notes ("inverted dropout").
    """

    def __init__(
        self,
        rate,
        noise_shape=None,
        seed=None,
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        self.rate = _checks.unit_interval("rate", rate)
        if noise_shape is not None:
            if not isinstance(noise_shape, (tuple, list)) or not all(
                d is None
                or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1)
                for d in noise_shape
            ):
                raise _checks.invalid(
                    "noise_shape", "None or a tuple of positive integers or None", noise_shape
                )
            noise_shape = tuple(None if d is None else int(d) for d in noise_shape)
        self.noise_shape = noise_shape
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise _checks.invalid("seed", "None or a non-negative integer", seed)
        self.seed = None if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def seed_noise(self, seed_seq):
        """Without a seed of its own, the masks come from ``seed_seq`` (the model's stream for this layer)."""
        if self.seed is None:
            self.rng = np.random.default_rng(seed_seq)

    def _mask_shape(self, shape):
        if self.noise_shape is None:
            return shape
        concrete = tuple(
            s if d is None else d for d, s in zip(self.noise_shape, shape, strict=False)
        )
        if len(self.noise_shape) != len(shape) or any(
            d not in (1, s) for d, s in zip(concrete, shape, strict=True)
        ):
            raise _checks.invalid(
                "noise_shape",
                f"a shape that broadcasts to the inputs' shape {shape} (entries 1, None or equal)",
                self.noise_shape,
            )
        return concrete

    def forward(self, x, training=False):
        identity = not training or self.rate == 0.0
        x = self._inputs(x, check_last_axis=True, private=identity)  # (N, ...)
        if identity:
            self._cache = (x.shape, None)
            return x  # a copy of the caller's array: the output is the caller's to change
        keep = self.rng.random(self._mask_shape(x.shape)) >= self.rate  # noise_shape, bool
        scale = self.dtype.type(1.0 / (1.0 - self.rate))
        self._cache = (x.shape, keep)
        return np.where(keep, x * scale, np.zeros((), dtype=self.dtype))  # (N, ...)

    def backward(self, dy):
        shape, keep = self._cached()
        dy = self._upstream(dy, shape)
        if keep is None:
            return dy
        scale = self.dtype.type(1.0 / (1.0 - self.rate))
        return np.where(keep, dy * scale, np.zeros((), dtype=self.dtype))  # (N, ...)

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "noise_shape": self.noise_shape,
            "seed": self.seed,
        }


class Flatten(Layer):
    r"""Flattens each sample in channels-last order: (N, H, W, C) -> (N, H·W·C).

    A plain C-order reshape: :math:`y_{n,(h W + w) C + c} = x_{n,h,w,c}`, the
    order Keras uses for ``data_format="channels_last"``, so a Dense kernel that
    follows moves to and from Keras unchanged. Backward: the reshape is a
    permutation-free relabelling, so :math:`dx` is :math:`dy` reshaped back.
    """

    def __init__(self, *, input_shape=None, name=None, dtype=None, trainable=True):
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        return (math.prod(shape_tuple("input_shape", input_shape)),)

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True, private=True)  # (N, H, W, C)
        self._cache = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (N, H*W*C), a view of the copy

    def backward(self, dy):
        shape = self._cached()
        return self._upstream(dy, (shape[0], math.prod(shape[1:]))).reshape(shape)  # (N, H, W, C)
