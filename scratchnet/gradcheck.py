r"""A numeric gradient checker you can point at anything: an activation, a layer, a loss, your own code.

Method (CS231n's, in float64):

1. Pick a random upstream gradient :math:`g` (never ``ones``: that hides
   transposes and sign errors that cancel) and define the scalar
   :math:`L(x) = \sum_i g_i f(x)_i`.  Then :math:`\nabla_x L = J_f(x)^\top g`,
   exactly what a backward pass returns.
2. Estimate each entry by central differences,
   :math:`\partial L/\partial x_k \approx (L(x + h e_k) - L(x - h e_k)) / 2h`, error :math:`O(h^2)`.
3. Compare with the analytic VJP by the norm-wise relative error
   :math:`\|a - n\| / \max(\|a\| + \|n\|, \text{tiny})`, which, unlike an element-wise
   maximum, is not thrown by entries that are near zero.

In float64 with :math:`h = 10^{-6}` correct code lands near :math:`10^{-9}`; a wrong
derivative (GELU tanh-form paired with the erf derivative, say) is off by
:math:`10^{-3}` or more. Central differences in float32 cannot tell those apart:
keep the check in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numeric_gradient(
    f: Callable, x: np.ndarray, upstream: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    r"""Central-difference estimate of :math:`\nabla_x \sum_i g_i f(x)_i`.

    ``f`` maps an array shaped like ``x`` to an array shaped like ``upstream``.
    ``x`` itself is never modified; a float64 copy is perturbed.
    """
    x = np.array(x, dtype=np.float64)  # (any shape) our own copy
    upstream = np.asarray(upstream, dtype=np.float64)
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for k in range(flat_x.size):
        old = flat_x[k]
        flat_x[k] = old + h
        plus = np.sum(upstream * np.asarray(f(x), dtype=np.float64))
        flat_x[k] = old - h
        minus = np.sum(upstream * np.asarray(f(x), dtype=np.float64))
        flat_x[k] = old
        flat_grad[k] = (plus - minus) / (2.0 * h)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    r"""Norm-wise relative error :math:`\|a - n\| / \max(\|a\| + \|n\|, 10^{-300})`."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(
            f"Invalid value for argument analytic. Expected shape {n.shape} (the numeric gradient's). "
            f"Received analytic.shape={a.shape}."
        )
    return float(np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-300))


def check_gradient(
    f: Callable,
    vjp: Callable,
    x: np.ndarray,
    rng: np.random.Generator,
    h: float = 1e-6,
) -> float:
    r"""Relative error between an analytic VJP and central differences, at a random upstream gradient.

    ``f(x) -> y`` is the forward function, ``vjp(x, dy) -> dx`` the analytic
    vector-Jacobian product under test. Returns the norm-wise relative error
    (see ``relative_error``); about 1e-9 for correct float64 code.

    Example::

        rng = np.random.default_rng(0)
        err = check_gradient(np.tanh, lambda x, dy: dy * (1 - np.tanh(x) ** 2),
                             rng.normal(size=(3, 4)), rng)
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"Invalid type for argument rng. Expected an np.random.Generator. Received rng={rng!r}."
        )
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(f(x))
    upstream = rng.standard_normal(y.shape)
    analytic = np.asarray(vjp(x, upstream), dtype=np.float64)
    numeric = numeric_gradient(f, x, upstream, h=h)
    return relative_error(analytic, numeric)


def check_layer(
    layer, x: np.ndarray, rng: np.random.Generator, h: float = 1e-6, training: bool = False
) -> dict:
    r"""Check a layer's input gradient and every parameter gradient.

    The layer must be built in float64. Returns ``{"x": err, "weight_0": err, ...}``:
    the relative error for ``dL/dx`` and for each array of ``layer.weights``
    (in ``get_weights`` order), with :math:`L = \sum g \odot \text{layer}(x)`.
    ``training`` is passed to ``forward`` (use False for dropout).
    """
    x = np.asarray(x, dtype=np.float64)
    y = layer.forward(x, training=training)
    upstream = rng.standard_normal(y.shape)
    layer.forward(x, training=training)
    dx = layer.backward(upstream)
    param_grads = [np.array(g, dtype=np.float64) for g in layer.grads]
    errors = {
        "x": relative_error(
            dx, numeric_gradient(lambda v: layer.forward(v, training=training), x, upstream, h)
        )
    }
    for i, w in enumerate(layer.weights):
        original = w.copy()

        def f_of_w(value, w=w):
            np.copyto(w, value)
            return layer.forward(x, training=training)

        numeric = numeric_gradient(f_of_w, original, upstream, h)
        np.copyto(w, original)
        errors[f"weight_{i}"] = relative_error(param_grads[i], numeric)
    return errors
