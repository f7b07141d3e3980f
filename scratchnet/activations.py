r"""Activation functions and their hand-derived gradients.

Every activation is two plain functions:

* ``f(x, **params) -> y``, the forward formula, and
* ``f_backward(x, y, dy, **params) -> dx``, its vector-Jacobian product
  :math:`dx = J_f(x)^\top dy`, written through the cached output ``y`` where
  the math simplifies (``σ(1-σ)``, ``1 - tanh²``, ``elu + α``).

For element-wise activations the Jacobian is diagonal, so the VJP is the
element-wise product ``dy * f'(x)``. Softmax couples a row, and its VJP is
``y * (dy - Σ_j dy_j y_j)``.

String identifiers live in one explicit table, ``_ACTIVATIONS``, at the bottom
of this file; ``get`` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def linear(x):
    r"""Identity: :math:`f(x) = x`.

    Gradient: :math:`\partial f_i / \partial x_i = 1`, so ``dx = dy``.
    """
    return np.asarray(x)


def linear_backward(x, y, dy):
    """VJP of ``linear``: ``dx = dy``."""
    return np.asarray(dy)


def relu(x):
    r"""Rectified linear unit: :math:`f(x) = \max(x, 0)`.

    Gradient: :math:`f'(x) = 1[x > 0]`; at the kink TensorFlow's kernel uses
    :math:`f'(0) = 0`, and so do we (the strict ``>``).
    """
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), dtype=x.dtype))


def relu_backward(x, y, dy):
    r"""VJP of ``relu``: ``dx = dy * 1[x > 0]`` (0 at x = 0, as TF)."""
    return np.where(np.asarray(x) > 0, dy, np.zeros((), dtype=np.asarray(dy).dtype))


def softmax(x, axis=-1):
    r"""Softmax along ``axis``: :math:`y_i = e^{x_i - m} / \sum_j e^{x_j - m}`, :math:`m = \max_j x_j`.

    Subtracting the row max changes nothing mathematically and keeps ``exp`` finite.

    Gradient (index form): :math:`\partial y_i / \partial x_k = y_i(\delta_{ik} - y_k)`, so
    :math:`dx_k = \sum_i dy_i\, y_i(\delta_{ik} - y_k) = y_k (dy_k - \sum_i dy_i y_i)`.
    Matrix form: ``dx = y * (dy - sum(dy * y, axis, keepdims=True))``.
    """
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(x, y, dy, axis=-1):
    """VJP of ``softmax``: ``y * (dy - Σ dy·y)`` along ``axis``."""
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


@dataclass(frozen=True)
class ActivationFunction:
    """An activation: its forward function, its VJP and the parameters both take.

    ``act(x)`` computes ``forward(x, **params)``; ``act.backward(x, y, dy)``
    computes ``backward(x, y, dy, **params)``.
    """

    name: str
    forward: Callable
    backward_fn: Callable
    params: dict = field(default_factory=dict)

    def __call__(self, x):
        return self.forward(x, **self.params)

    def backward(self, x, y, dy):
        return self.backward_fn(x, y, dy, **self.params)

    def get_config(self) -> dict:
        return {"name": self.name, **self.params}


# The one table of string identifiers: name -> (forward, backward).
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "softmax": (softmax, softmax_backward),
}


def get(identifier) -> ActivationFunction:
    """Resolve an activation: a name, an ``ActivationFunction``, ``None`` (linear) or a function of this module."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _ACTIVATIONS:
            raise ValueError(
                f"Invalid value for argument activation. Expected one of {sorted(_ACTIVATIONS)}. "
                f"Received activation={identifier!r}."
            )
        forward, backward = _ACTIVATIONS[key]
        return ActivationFunction(key, forward, backward)
    for key, (forward, backward) in _ACTIVATIONS.items():
        if identifier is forward:
            return ActivationFunction(key, forward, backward)
    raise TypeError(
        "Invalid value for argument activation. Expected a name, an ActivationFunction or None "
        "(a custom activation needs its gradient: ActivationFunction(name, forward, backward)). "
        f"Received activation={identifier!r}."
    )
