r"""Merge layers: ``Add`` and ``Concatenate``, the layers with several inputs.

A merge layer's ``forward`` takes a LIST of batches and its ``backward``
returns a list of input gradients, one per input, in the same order. In a
functional model (``scratchnet.models.Model``) they join branches:
``Add()([a, b])``, ``Concatenate()([a, b])``.

Reference: Goodfellow et al. (2016), §6.5.6 (the sum and the split in the
back-propagation of a computational graph); He et al. (2016), "Deep Residual
Learning", CVPR (the additive skip connection).
"""

from __future__ import annotations

import numpy as np

from scratchnet import _checks
from scratchnet.layers.base import Layer, shape_tuple


class _Merge(Layer):
    """What both merge layers share: a list of inputs, each checked against its built shape."""

    def __init__(self, *, name=None, dtype=None, trainable=True):
        super().__init__(name=name, dtype=dtype, trainable=trainable)

    def _shapes(self, input_shapes) -> list[tuple[int, ...]]:
        if not isinstance(input_shapes, (list, tuple)) or len(input_shapes) < 2:
            raise _checks.invalid(
                "input_shape",
                f"a list of at least 2 shapes (one per input of {type(self).__name__})",
                input_shapes,
            )
        return [shape_tuple(f"input_shape[{i}]", s) for i, s in enumerate(input_shapes)]

    def _set_input_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        if self.input_shape is not None and shapes != self.input_shape:
            raise _checks.invalid(
                "input_shape", f"{self.input_shape} (built before for layer {self.name!r})", shapes
            )
        self.compute_output_shape(shapes)
        self.input_shape = shapes
        return shapes

    def _sample_shape(self, x):
        if not isinstance(x, (list, tuple)):
            raise _checks.invalid_type("inputs", f"a list of batches for {type(self).__name__}", x)
        return [np.shape(v)[1:] for v in x]

    def _input_list(self, xs) -> list[np.ndarray]:
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built. Call build(input_shapes) or call the layer "
                "on a list of batches first."
            )
        if not isinstance(xs, (list, tuple)) or len(xs) != len(self.input_shape):
            raise _checks.invalid_received(
                "inputs",
                f"a list of {len(self.input_shape)} batches for layer {self.name!r}",
                f"{type(xs).__name__} of length {len(xs) if isinstance(xs, (list, tuple)) else '-'}",
            )
        out = []
        for i, (x, shape) in enumerate(zip(xs, self.input_shape, strict=True)):
            x = _checks.float_array(f"inputs[{i}]", x, self.dtype)
            if x.shape[1:] != shape or x.shape[0] != np.shape(xs[0])[0]:
                raise _checks.invalid_received(
                    f"inputs[{i}]",
                    f"shape (N, {', '.join(map(str, shape))}) with the batch size of inputs[0]",
                    f"an array of shape {x.shape}",
                )
            out.append(x)
        return out

    def get_config(self):
        config = super().get_config()
        del config["input_shape"]  # a merge layer's shapes come from its inputs
        return config


class Add(_Merge):
    r"""Element-wise sum of its inputs: :math:`y = \sum_k x^{(k)}`, all of one shape.

    Backward: :math:`\partial y_i/\partial x^{(k)}_j = \delta_{ij}` for every
    input k, so the upstream gradient fans out unchanged to each input:
    :math:`dx^{(k)} = dy` (index form :math:`dx^{(k)}_i = dy_i`; matrix form,
    the Jacobian of each input is the identity). Keras also broadcasts inputs
    of different shapes; this one requires equal shapes and says so.

    Shapes: K inputs (N, ...) of one shape -> (N, ...).
    """

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        if any(s != shapes[0] for s in shapes):
            raise _checks.invalid("input_shape", "inputs of one shape for Add", shapes)
        return shapes[0]

    def forward(self, x, training=False):
        xs = self._input_list(x)  # K x (N, ...)
        y = xs[0].copy()
        for other in xs[1:]:
            y += other
        self._cache = (len(xs), y.shape)
        return y  # (N, ...)

    def backward(self, dy):
        k, shape = self._cached()
        dy = self._upstream(dy, shape)
        return [dy.copy() for _ in range(k)]  # each input's gradient: dy itself


class Concatenate(_Merge):
    r"""Joins its inputs along ``axis`` (the last by default): :math:`y = [x^{(1)}, \dots, x^{(K)}]`.

    Forward, index form along the axis: input k occupies the slice
    :math:`[o_k, o_k + c_k)` of the output, :math:`o_k = \sum_{j<k} c_j`, so
    :math:`y_{\dots, o_k + i} = x^{(k)}_{\dots, i}`.

    Backward: each output entry is a copy of exactly one input entry, so the
    Jacobian is a 0/1 selection and :math:`dx^{(k)} = dy_{\dots,\ o_k : o_k + c_k}`:
    the upstream gradient splits into the same slices (``np.split`` at the
    offsets). Every other axis must match.

    Shapes: inputs (N, ..., c_k, ...) -> (N, ..., sum c_k, ...).
    """

    def __init__(self, axis=-1, *, name=None, dtype=None, trainable=True):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise _checks.invalid_type("axis", "an integer", axis)
        self.axis = axis
        super().__init__(name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        rank = len(shapes[0]) + 1
        axis = _checks.axis(self.axis, rank) % rank
        if axis == 0:
            raise _checks.invalid("axis", "a feature axis, not the batch axis 0", self.axis)
        others = [s[: axis - 1] + s[axis:] for s in shapes]
        if any(len(s) != len(shapes[0]) for s in shapes) or any(o != others[0] for o in others):
            raise _checks.invalid(
                "input_shape",
                f"inputs whose shapes match except on the concatenation axis {self.axis}",
                shapes,
            )
        out = list(shapes[0])
        out[axis - 1] = sum(s[axis - 1] for s in shapes)
        return tuple(out)

    def forward(self, x, training=False):
        xs = self._input_list(x)  # K x (N, ..., c_k)
        axis = self.axis % xs[0].ndim
        y = np.concatenate(xs, axis=axis)  # (N, ..., sum c_k)
        self._cache = (np.cumsum([v.shape[axis] for v in xs])[:-1], axis, y.shape)
        return y

    def backward(self, dy):
        offsets, axis, shape = self._cached()
        dy = self._upstream(dy, shape)
        return [part.copy() for part in np.split(dy, offsets, axis=axis)]  # slice k -> input k

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
