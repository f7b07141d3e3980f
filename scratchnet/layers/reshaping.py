r"""Shape and scale layers: Reshape, Rescaling, GlobalAveragePooling2D, GlobalMaxPooling2D.

Reference: Lin, Chen & Yan (2014), "Network In Network", ICLR (global average
pooling); Goodfellow et al. (2016), §6.5 (a reshape's gradient is the reshape back).
"""

from __future__ import annotations

import math

import numpy as np

from scratchnet import _checks
from scratchnet.layers.base import Layer, shape_tuple


class Reshape(Layer):
    r"""Reshapes each sample to ``target_shape`` (C order; one entry may be -1, inferred).

    Forward: :math:`y_n = \mathrm{reshape}(x_n)`, a relabelling of the same
    values in C order, so :math:`\partial y_{n,j}/\partial x_{n,i} = 1` for the one
    pair with the same flat index. Backward: :math:`dx` is :math:`dy` reshaped
    back to the input's shape.

    Shapes: (N, *input_shape) -> (N, *target_shape), same number of values per sample.
    """

    def __init__(self, target_shape, *, input_shape=None, name=None, dtype=None, trainable=True):
        if isinstance(target_shape, int) and not isinstance(target_shape, bool):
            target_shape = (target_shape,)
        if (
            not isinstance(target_shape, (tuple, list))
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1)
                for d in target_shape
            )
            or list(target_shape).count(-1) > 1
        ):
            raise _checks.invalid(
                "target_shape", "a tuple of positive integers (at most one -1)", target_shape
            )
        self.target_shape = tuple(target_shape)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        size = math.prod(shape_tuple("input_shape", input_shape))
        known = math.prod(d for d in self.target_shape if d != -1)
        if (-1 in self.target_shape and size % known) or (
            -1 not in self.target_shape and size != known
        ):
            raise _checks.invalid(
                "target_shape",
                f"a shape with {size} values per sample (input_shape={tuple(input_shape)})",
                self.target_shape,
            )
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True)  # (N, *input_shape)
        self._cache = x.shape
        out = x.reshape(x.shape[0], *self.compute_output_shape(self.input_shape))
        return out.copy()  # a copy: the output is never a view of the caller's array

    def backward(self, dy):
        shape = self._cached()
        out = (shape[0], *self.compute_output_shape(self.input_shape))
        return self._upstream(dy, out).reshape(shape)  # (N, *input_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Rescaling(Layer):
    r"""Affine rescaling of the inputs: :math:`y = x \cdot \text{scale} + \text{offset}`.

    ``Rescaling(1/255)`` maps pixels to [0, 1]; ``Rescaling(1/127.5, offset=-1)`` to [-1, 1].
    Backward: :math:`\partial y_i/\partial x_i = \text{scale}`, so :math:`dx = \text{scale}\cdot dy`.
    No weights. Keras also takes arrays for scale and offset; this takes numbers.

    Shapes: any (N, ...), output shaped like the input.
    """

    def __init__(
        self, scale, offset=0.0, *, input_shape=None, name=None, dtype=None, trainable=True
    ):
        self.scale = _checks.number("scale", scale)
        self.offset = _checks.number("offset", offset)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, ...)
        self._cache = x.shape
        return x * self.dtype.type(self.scale) + self.dtype.type(self.offset)

    def backward(self, dy):
        return self._upstream(dy, self._cached()) * self.dtype.type(self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class _GlobalPooling2D(Layer):
    """(N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``."""

    def __init__(
        self, data_format=None, keepdims=False, *, input_shape=None, name=None, dtype=None,
        trainable=True,
    ):  # fmt: skip
        if data_format not in (None, "channels_last"):
            raise _checks.invalid("data_format", '"channels_last" (or None)', data_format)
        self.data_format = "channels_last"
        self.keepdims = _checks.boolean("keepdims", keepdims)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        if len(shape) != 3:
            raise _checks.invalid(
                "input_shape", f"a 3-D shape (H, W, C) for {type(self).__name__}", shape
            )
        return (1, 1, shape[2]) if self.keepdims else (shape[2],)

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "keepdims": self.keepdims,
        }


class GlobalAveragePooling2D(_GlobalPooling2D):
    r"""Mean over the spatial axes: :math:`y_{nc} = \frac{1}{HW}\sum_{h,w} x_{nhwc}`.

    Backward: :math:`\partial y_{nc}/\partial x_{nhwc} = 1/(HW)`, so every
    position gets an equal share, :math:`dx_{nhwc} = dy_{nc}/(HW)` (matrix form:
    ``dy`` broadcast over H and W, divided by HW).

    Shapes: (N, H, W, C) -> (N, C) (``keepdims``: (N, 1, 1, C)).
    """

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True)  # (N, H, W, C)
        self._cache = x.shape
        return x.mean(axis=(1, 2), keepdims=self.keepdims)  # (N, C)

    def backward(self, dy):
        shape = self._cached()
        n, h, w, c = shape
        dy = self._upstream(dy, (n, 1, 1, c) if self.keepdims else (n, c))
        share = dy.reshape(n, 1, 1, c) / self.dtype.type(h * w)  # (N, 1, 1, C)
        return np.broadcast_to(share, shape).copy()  # (N, H, W, C)


class GlobalMaxPooling2D(_GlobalPooling2D):
    r"""Maximum over the spatial axes: :math:`y_{nc} = \max_{h,w} x_{nhwc}`.

    Backward: the maximum's derivative is 1 at the position that attains it;
    with ties TF's ``reduce_max`` gradient SPLITS the gradient equally among
    the :math:`k_{nc}` maximal positions, and so does this:
    :math:`dx_{nhwc} = dy_{nc}\, 1[x_{nhwc} = y_{nc}] / k_{nc}`. (Unlike
    ``MaxPooling2D``, whose TF kernel gives a tie's whole gradient to the first
    maximum: Keras implements this layer with ``reduce_max``.)

    Shapes: (N, H, W, C) -> (N, C) (``keepdims``: (N, 1, 1, C)).
    """

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True)  # (N, H, W, C)
        y = x.max(axis=(1, 2), keepdims=True)  # (N, 1, 1, C)
        hit = (x == y).astype(self.dtype)  # (N, H, W, C) 1 at the maxima
        self._cache = hit / hit.sum(axis=(1, 2), keepdims=True)  # (N, H, W, C) 1/k at the k maxima
        return y if self.keepdims else y[:, 0, 0, :]  # (N, C)

    def backward(self, dy):
        share = self._cached()
        n, _, _, c = share.shape
        dy = self._upstream(dy, (n, 1, 1, c) if self.keepdims else (n, c))
        return share * dy.reshape(n, 1, 1, c)  # (N, H, W, C)
