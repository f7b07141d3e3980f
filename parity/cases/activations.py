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

from parity._harness import Case, Comparison, Tolerance
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
        y64 = dx64 = None
        if dtype == "float32":  # TF's own float32 error, allowed on top (see parity._harness)
            y64, (dx64,), _ = vjp(
                _keras_activation(name, params), [x.astype("float64")], dy.astype("float64")
            )
        return [
            Comparison("forward", y, y_tf, "value", context=x, expected64=y64),
            Comparison("gradient", dx, dx_tf, "gradient", context=x, expected64=dx64),
        ]

    return run


def _label(name: str, params: dict | None) -> str:
    if params is None:
        return f"{name}(defaults)"
    return f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"


# TF kernels that take a parameter through float32, even for float64 tensors; see the reasons.
LEAKY_F64 = {"float64": {"value": Tolerance(1e-7, 1e-12), "gradient": Tolerance(1e-7, 1e-12)}}
LEAKY_REASON = (
    "TF's LeakyRelu kernel takes the slope as a float32 op attribute (`alpha: float`), so a "
    "float64 run uses float32(slope): 0.2 → 0.20000000298, 0.3 → 0.30000001192 (relative "
    "1.5e-8 and 4e-8). scratchnet uses the slope as written. The representable slope 0.25 is "
    "held to 1e-9 / 1e-12."
)
GELU_F64 = {"float64": {"value": Tolerance(5e-6, 1e-12), "gradient": Tolerance(5e-6, 1e-12)}}
GELU_REASON = (
    "`tf.nn.gelu` casts its constants to the input dtype through float32 even in float64: "
    "the exact form uses erfc(-x·float32(1/√2)) (0.7071067690849304), the tanh form "
    "float32(0.044715) (0.044714998453855515). scratchnet uses the exact constants; the "
    "relative difference grows like x²·1.7e-8 on the negative tail (measured ≤ 6.3e-7 over "
    "these inputs). A derivative paired with the wrong form is off by 1e-3, far outside."
)


def _tolerances(name: str, params: dict | None) -> tuple[dict, str]:
    if name == "gelu":
        return GELU_F64, GELU_REASON
    if name == "leaky_relu" and (params or {}).get("negative_slope") != 0.25:
        return LEAKY_F64, LEAKY_REASON
    return {}, ""


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
    ("leaky_relu", {"negative_slope": 0.25}),
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
        tolerances=_tolerances(name, params)[0],
        reason=_tolerances(name, params)[1],
        tf32_allowance=True,
    )
    for name, params in SPECS
]
