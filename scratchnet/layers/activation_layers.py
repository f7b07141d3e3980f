r"""Keras' activation layers: Softmax, ReLU, ELU, PReLU.

``Softmax`` and ``ELU`` are ``Activation`` layers with a fixed activation
(``activations.softmax`` / ``activations.elu`` derive their gradients), so a
model ending in ``Softmax()`` gets the fused softmax + cross-entropy gradient
exactly as one ending in ``Dense(..., activation="softmax")``. ``ReLU`` has
Keras' three parameters and ``PReLU`` a learned slope, so both carry their own
forward/backward here.

References: Nair & Hinton (2010) and Maas et al. (2013) for (leaky) ReLU;
Clevert et al. (2016) for ELU; He, Zhang, Ren & Sun (2015), "Delving Deep into
Rectifiers", ICCV, for PReLU.
"""

from __future__ import annotations

import numpy as np

from scratchnet import _checks, activations, initializers
from scratchnet.layers.base import Layer, shape_tuple
from scratchnet.layers.core import Activation


class Softmax(Activation):
    r"""Softmax along ``axis``: :math:`y_i = e^{x_i - m} / \sum_j e^{x_j - m}`, :math:`m = \max_j x_j`.

    Backward (``activations.softmax_backward`` derives it): with
    :math:`\partial y_i/\partial x_k = y_i(\delta_{ik} - y_k)`,
    index form :math:`dx_k = y_k (dy_k - \sum_i dy_i y_i)`;
    matrix form :math:`dx = y \odot (dy - (dy \cdot y)\mathbf{1}^\top)` along ``axis``.

    Used as the last layer with a cross-entropy loss on probabilities, the
    model skips this VJP and feeds :math:`(\mathrm{softmax}(x) - t)/N` straight
    to the input (the ``preactivation``), as Keras does for ``Softmax()``.

    Keras' ``mask`` argument is not supported. Shapes: any (N, ...), output shaped like the input.
    """

    def __init__(self, axis=-1, *, input_shape=None, name=None, dtype=None, trainable=True):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise _checks.invalid("axis", "an integer", axis)
        self.axis = axis
        act = activations.get("softmax").with_params(axis=axis)
        super().__init__(act, input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        _checks.axis(self.axis, len(shape) + 1)
        return shape

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "axis": self.axis}


class ELU(Activation):
    r"""ELU layer: :math:`y = x` if :math:`x > 0`, else :math:`\alpha(e^{x} - 1)` (``activations.elu``).

    Backward, element-wise: :math:`dx = dy \odot (1 \text{ if } x > 0 \text{ else } y + \alpha)`
    (:math:`\alpha e^x = y + \alpha`), :math:`\alpha` at :math:`x = 0` as TF.
    Shapes: any (N, ...), output shaped like the input.
    """

    def __init__(self, alpha=1.0, *, input_shape=None, name=None, dtype=None, trainable=True):
        self.alpha = _checks.number("alpha", alpha)
        act = activations.get("elu").with_params(alpha=self.alpha)
        super().__init__(act, input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return {**config, "alpha": self.alpha}


class ReLU(Layer):
    r"""Keras' ReLU layer: threshold :math:`\theta`, negative slope :math:`a`, optional cap :math:`M`.

    Forward, as Keras' ``activations.relu`` computes it:

    .. math:: y = \min\big(x\,1[x > \theta],\ M\big) - a\,\max(\theta - x, 0)

    (no ``min`` without ``max_value``). Defaults :math:`\theta = 0, a = 0`: the
    plain :math:`\max(x, 0)`; :math:`M = 6`: ReLU6; :math:`a > 0`: leaky ReLU.

    Backward, element-wise (index form :math:`dx_k = y'(x_k)\, dy_k`):

    .. math:: y'(x) = 1[x > \theta]\,1[x \le M] + a\,1[x < \theta]

    Kinks (measure zero), TF's values: 0 at :math:`x = \theta`, as TF's
    ``relu'(0) = 0``; at :math:`x = M` the cap is ``clip_by_value``, whose
    gradient passes at the bound (1), except for :math:`M = 6` with
    :math:`\theta = 0`, where Keras calls ``relu6``, whose gradient is 0 at 6
    (checked against TF 2.21). Matrix form :math:`dx = dy \odot y'(x)`.

    Keras refuses a negative ``threshold``; so does this layer.

    Shapes: any (N, ...), output shaped like the input.
    """

    def __init__(
        self,
        max_value=None,
        negative_slope=0.0,
        threshold=0.0,
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        if max_value is not None:
            max_value = _checks.non_negative_float("max_value", max_value)
        self.max_value = max_value
        self.negative_slope = _checks.non_negative_float("negative_slope", negative_slope)
        self.threshold = _checks.non_negative_float("threshold", threshold)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, ...)
        theta = self.dtype.type(self.threshold)
        zero = np.zeros((), dtype=self.dtype)
        y = np.where(x > theta, x, zero)  # (N, ...)
        slope = (x > theta).astype(self.dtype)  # (N, ...) y'(x), kept for backward (not x itself)
        if self.max_value is not None:
            y = np.minimum(y, self.dtype.type(self.max_value))
            relu6 = self.max_value == 6 and self.threshold == 0  # Keras' relu6: y'(6) = 0
            slope *= (x < self.max_value) if relu6 else (x <= self.max_value)  # clip: y'(M) = 1
        if self.negative_slope:
            y = y - self.dtype.type(self.negative_slope) * np.maximum(theta - x, zero)
            slope += self.dtype.type(self.negative_slope) * (x < theta)
        self._cache = slope
        return y

    def backward(self, dy):
        slope = self._cached()
        return self._upstream(dy, slope.shape) * slope  # dx = dy ⊙ y'(x)

    def get_config(self):
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class PReLU(Layer):
    r"""Parametric ReLU: :math:`y = x` if :math:`x > 0`, else :math:`\alpha x`, with :math:`\alpha` learned.

    Keras' layout: ``alpha`` has the input's shape without the batch axis,
    with size 1 on each of ``shared_axes`` (1-based, batch = 0): for (N, H, W, C)
    and ``shared_axes=[1, 2]`` one slope per channel, alpha (1, 1, C).
    Initializer ``"zeros"`` (Keras' default: the layer starts as a ReLU).
    Keras computes :math:`y = \max(x, 0) - \alpha \max(-x, 0)`; this computes the
    same :math:`\max(x, 0) + \alpha \min(x, 0)` (negation is exact).

    Backward. Index form, :math:`\alpha` broadcast over the shared axes:

    * :math:`\partial y/\partial x = 1[x > 0] + \alpha\,1[x < 0]`, so
      :math:`dx = dy \odot (1[x > 0] + \alpha\,1[x < 0])`;
    * :math:`\partial y/\partial \alpha = -\max(-x, 0) = \min(x, 0)`, so
      :math:`d\alpha_k = \sum_{n,\ \text{shared}} dy \odot \min(x, 0)`:
      matrix form, the product summed over the batch and the shared axes
      (``keepdims``), the shape of ``alpha``.

    Shapes: x (N, ...), alpha (input shape with 1 on shared axes).
    Reference: He et al. (2015), "Delving Deep into Rectifiers", ICCV.
    """

    def __init__(
        self,
        alpha_initializer="zeros",
        shared_axes=None,
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        self.alpha_initializer = initializers.get(alpha_initializer)
        if shared_axes is not None:
            if isinstance(shared_axes, int):
                shared_axes = [shared_axes]
            if not isinstance(shared_axes, (list, tuple)) or not all(
                isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in shared_axes
            ):
                raise _checks.invalid(
                    "shared_axes", "None or a list of axes >= 1 (batch is 0)", shared_axes
                )
            shared_axes = tuple(shared_axes)
        self.shared_axes = shared_axes
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        if self.shared_axes and max(self.shared_axes) > len(shape):
            raise _checks.invalid(
                "shared_axes",
                f"axes in 1..{len(shape)} for inputs of shape {shape}",
                self.shared_axes,
            )
        return shape

    def weight_shapes(self, input_shape):
        """``[alpha's shape]``: the input shape with 1 on the shared axes (nothing is built)."""
        shape = self.compute_output_shape(input_shape)
        return [tuple(1 if i + 1 in (self.shared_axes or ()) else d for i, d in enumerate(shape))]

    def build(self, input_shape, rng=None):
        self._set_input_shape(input_shape)
        rng = self._rng(rng)
        (alpha_shape,) = self.weight_shapes(self.input_shape)
        self.alpha = self.alpha_initializer(alpha_shape, rng, self.dtype)
        self.weights = [self.alpha]
        self.grads = [np.zeros_like(self.alpha)]
        self.built = True

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True)  # (N, ...)
        zero = np.zeros((), dtype=self.dtype)
        negative = np.minimum(x, zero)  # (N, ...) min(x, 0) = dy/dalpha
        self._cache = (x > 0, negative)  # derived from x, never the caller's array
        return np.maximum(x, zero) + self.alpha * negative  # (N, ...)

    def backward(self, dy):
        positive, negative = self._cached()
        dy = self._upstream(dy, negative.shape)
        zero = np.zeros((), dtype=self.dtype)
        axes = (0, *(self.shared_axes or ()))
        self.grads = [(dy * negative).sum(axis=axes, keepdims=True)[0]]  # alpha's shape
        return np.where(positive, dy, zero) + np.where(negative < 0, self.alpha * dy, zero)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "shared_axes": None if self.shared_axes is None else list(self.shared_axes),
        }
