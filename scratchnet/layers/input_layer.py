r"""``Input`` and ``InputLayer``: where a model declares the shape of its samples.

``x = Input(shape=(28, 28, 1))`` returns a ``SymbolicTensor`` (``scratchnet.graph``)
of shape ``(None, 28, 28, 1)``, produced by an ``InputLayer``. Keras 3 documents
two uses, and both work here:

* the first element of a ``Sequential``: ``Sequential([Input(shape=(28, 28, 1)), Conv2D(...), ...])``
  (the model takes its input shape from it; as in Keras, ``model.layers`` does not list it);
* the start of a functional model: ``Model(inputs=x, outputs=Dense(10)(Flatten()(x)))``.

The layer itself is the identity: :math:`y = x`, :math:`dx = dy`.
"""

from __future__ import annotations

from scratchnet import _checks
from scratchnet.graph import Node, SymbolicTensor
from scratchnet.layers.base import Layer, shape_tuple


class InputLayer(Layer):
    r"""The identity layer at the start of a model: :math:`y = x`, :math:`dx = dy`.

    ``shape`` is the sample shape without the batch axis (Keras 3's name;
    ``input_shape=`` is accepted as in Keras 2, and ``batch_shape=(None, ...)``
    as in Keras 3). ``batch_size`` is accepted and ignored: every batch size works.
    ``output`` is the ``SymbolicTensor`` to call layers on.
    """

    def __init__(
        self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, *,
        input_shape=None,
    ):  # fmt: skip
        given = [s for s in (shape, input_shape) if s is not None]
        if batch_shape is not None:
            if not isinstance(batch_shape, (tuple, list)) or len(batch_shape) < 2:
                raise _checks.invalid("batch_shape", "a tuple (batch, *shape)", batch_shape)
            given.append(tuple(batch_shape)[1:])
        if len(given) != 1:
            raise ValueError(
                "Invalid value for argument shape. Expected exactly one of shape, input_shape or "
                f"batch_shape. Received shape={shape!r}, input_shape={input_shape!r}, "
                f"batch_shape={batch_shape!r}."
            )
        if batch_size is not None:
            _checks.positive_int("batch_size", batch_size)
        super().__init__(input_shape=shape_tuple("shape", given[0]), name=name, dtype=dtype)
        self.built = True
        self.output = SymbolicTensor((None, *self.input_shape), self.dtype)
        Node(self, [], self.output)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.input_shape

    def build(self, input_shape, rng=None):
        self._set_input_shape(input_shape)
        self._rng(rng)

    def forward(self, x, training=False):
        x = self._inputs(x, check_shape=True)  # (N, *shape)
        self._cache = x.shape
        return x.copy()  # the output never shares memory with the caller's array

    def backward(self, dy):
        return self._upstream(dy, self._cached())

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "shape": list(self.input_shape)}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):  # noqa: N802
    """Keras' ``Input``: a ``SymbolicTensor`` of shape ``(None, *shape)`` made by a new ``InputLayer``."""
    layer = InputLayer(
        shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name
    )
    return layer.output
