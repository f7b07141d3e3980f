r"""Item 1: every activation and every flag value, forward and gradient.

scratchnet side: ``activations.get(name)`` for the default flags (so the name
table and the defaults are checked too), the module functions
``f(x, **params)`` / ``f_backward(x, y, dy, **params)`` for explicit flags.
TF side: ``keras.activations`` under ``tf.GradientTape`` with the same random
upstream gradient (``output_gradients``).

Inputs: the kink values (0, ±3, ±6), values just off them (±1e-3), the float32
exp-overflow edge (±88.8), large magnitudes (±20, ±100, ±1000) and standard
normal draws scaled by 4.
"""

from __future__ import annotations

import numpy as np

from parity._harness import Case, Comparison
from parity._tf import tf_keras, vjp

SPECIAL = np.array(
    [0.0, 3.0, -3.0, 6.0, -6.0, 1e-3, -1e-3, 88.8, -88.8, 20.0, -20.0]
    + [100.0, -100.0, 1000.0, -1000.0]
)


def elementwise_input(rng: np.random.Generator, dtype: str) -> np.ndarray:
    """A (6, 8) input: every special value once, the rest standard normal × 4, shuffled."""
    x = 4.0 * rng.standard_normal(48)
    x[: SPECIAL.size] = SPECIAL
    return rng.permutation(x).reshape(6, 8).astype(dtype)


def softmax_input(rng: np.random.Generator, dtype: str) -> np.ndarray:
    """A (3, 4, 5) input, standard normal × 5, with ±1000 and a tie planted."""
    x = 5.0 * rng.standard_normal((3, 4, 5))
    x[0, 0, 0], x[1, 2, 3], x[2, 3, 4] = 1000.0, -1000.0, 1000.0
    x[1, 0, :] = -1000.0  # a whole row of equal large negatives
    return x.astype(dtype)


def _scratch_activation(name: str, params: dict | None):
    """(forward, backward) on scratchnet's side."""
    from scratchnet import activations

    if params is None:
        act = activations.get(name)
        return act, act.backward
    forward = getattr(activations, name)
    backward = getattr(activations, f"{name}_backward")
    return (lambda x: forward(x, **params)), (lambda x, y, dy: backward(x, y, dy, **params))


def _keras_activation(name: str, params: dict | None):
    _, keras = tf_keras()
    if params is None:
        return keras.activations.get(name)
    fn = getattr(keras.activations, name)
    return lambda x: fn(x, **params)


def _runner(name: str, params: dict | None, make_input):
    def run(dtype: str, rng: np.random.Generator) -> list[Comparison]:
        x = make_input(rng, dtype)
        dy = rng.standard_normal(x.shape).astype(dtype)
        forward, backward = _scratch_activation(name, params)
        y = forward(x)
        dx = backward(x, y, dy)
        y_tf, (dx_tf,), _ = vjp(_keras_activation(name, params), [x], dy)
        return [
            Comparison("forward", y, y_tf, "value", context=x),
            Comparison("gradient", dx, dx_tf, "gradient", context=x),
        ]

    return run


def _label(name: str, params: dict | None) -> str:
    if params is None:
        return f"{name}(defaults)"
    return f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"


# (name, params): params None means "through activations.get(name), default flags".
SPECS: list[tuple[str, dict | None]] = [
    ("linear", None),
    ("relu", None),
    ("sigmoid", None),
    ("tanh", None),
    ("leaky_relu", None),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("leaky_relu", {"negative_slope": 0.3}),
    ("leaky_relu", {"negative_slope": 0.01}),
    ("elu", None),
    ("elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}),
    ("selu", None),
    ("gelu", None),
    ("gelu", {"approximate": False}),
    ("gelu", {"approximate": True}),
    ("silu", None),
    ("swish", None),
    ("softplus", None),
    ("softsign", None),
    ("hard_sigmoid", None),
    ("relu6", None),
    ("mish", None),
    ("softmax", None),
    ("softmax", {"axis": -1}),
    ("softmax", {"axis": 0}),
    ("softmax", {"axis": 1}),
]

CASES = [
    Case(
        "activations",
        _label(name, params),
        _runner(name, params, softmax_input if name == "softmax" else elementwise_input),
        needs=("activations",),
    )
    for name, params in SPECS
]
