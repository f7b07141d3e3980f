r"""Item 7: float32 training that tracks TF as closely as TF tracks itself.

The classic MNIST CNN (Conv2D 32 3×3 relu → MaxPooling2D 2×2 → Flatten →
Dense 10 softmax) starts from the same float32 weights in scratchnet, Keras
float32 and Keras float64; each takes ``STEPS`` ``train_on_batch`` steps on the
same ``BATCH``-sample batches drawn at random from the first ``POOL`` training
images. Every optimizer runs with **Keras' default hyperparameters** (0.001,
0.9, 0.999, 1e-7, ...: values float32 does not represent, so how each side
rounds them shows; Adadelta with ``learning_rate=1.0``, at whose default it
barely moves; centered RMSprop with momentum 0.5: at momentum 0.9 its effective
step of ~0.01 per coordinate makes the run chaotic enough that Keras float32 and
float64 themselves drift 1.2e-6 apart on one draw).

Measured: the norm-wise relative distance over all weights (kernels and biases
concatenated), :math:`\|w_{\text{scratchnet}} - w_{\text{Keras32}}\| / \|w_{\text{Keras32}}\|`,
next to Keras' own float32 error :math:`\|w_{\text{Keras32}} - w_{\text{Keras64}}\| / \|w_{\text{Keras64}}\|`.
The first must stay within ``NORMWISE`` = 1e-6 plus twice the second (the
suite's float32 rule: a result as accurate as TF's own passes). The allowance
matters only on chaotic draws: on this suite's draw every optimizer's distance
is below 6e-7 (Nadam; most are near 1e-7), while Keras' own float32 error
reaches 3.8e-5 (amsgrad: a ReLU unit flips). This holds because in float32 scratchnet's
optimizers round their hyperparameters and compute their scalar coefficients as
TF does (``scratchnet.optimizers`` module docstring). Measured on one draw
(seed 1): Adam 1.3e-7 from Keras float32 (Keras' own float32 error 2.5e-7);
with the former float64 coefficients it was 3.2e-6 (issue #9 measured 1.6e-4
on another draw).
"""

from __future__ import annotations

import numpy as np

from parity import _data
from parity._harness import Case, Comparison, Tolerance
from parity.cases.models import _compile_keras, build_pair

STEPS = 30
BATCH = 16
POOL = 2000
NORMWISE = 1e-6

# (scratchnet identifier, Keras class, Keras arguments): Keras' defaults, all explicit.
OPTIMIZERS: list[tuple[str, str, dict]] = [
    ("sgd", "SGD", dict(learning_rate=0.01, momentum=0.0, nesterov=False)),
    ("momentum", "SGD", dict(learning_rate=0.01, momentum=0.9, nesterov=False)),
    ("nesterov", "SGD", dict(learning_rate=0.01, momentum=0.9, nesterov=True)),
    ("adam", "Adam", dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("amsgrad", "Adam", dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, amsgrad=True)),
    ("adamw", "AdamW", dict(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999)),
    ("rmsprop", "RMSprop", dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7)),
    (
        "rmsprop-centered-momentum",
        "RMSprop",
        dict(learning_rate=0.001, rho=0.9, momentum=0.5, epsilon=1e-7, centered=True),
    ),
    ("adagrad", "Adagrad", dict(learning_rate=0.001, initial_accumulator_value=0.1)),
    ("adadelta", "Adadelta", dict(learning_rate=1.0, rho=0.95, epsilon=1e-7)),
    ("nadam", "Nadam", dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
    ("adamax", "Adamax", dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7)),
]


def _scratch_optimizer(ident: str, keras_name: str, params: dict):
    from scratchnet import optimizers

    return getattr(optimizers, keras_name)(**params)


def normwise(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """:math:`\\|a - b\\| / \\|b\\|` over all arrays concatenated, in float64."""
    num = sum(
        float(np.sum((x.astype(np.float64) - y.astype(np.float64)) ** 2))
        for x, y in zip(a, b, strict=True)
    )
    den = sum(float(np.sum(y.astype(np.float64) ** 2)) for y in b)
    return float(np.sqrt(num / den))


def run_tracking(ident, keras_name, params, rng, source):
    """(scratchnet-vs-Keras32, Keras32-vs-Keras64) norm-wise distances after ``STEPS`` steps."""
    (x_all, y_all), _ = _data.load(source, POOL, 0, "float32")
    batches = [rng.choice(POOL, BATCH, replace=False) for _ in range(STEPS)]
    model, keras32 = build_pair("classic", "float32", rng)
    _, keras64 = build_pair("classic", "float64", np.random.default_rng(0))
    weights = model.get_weights()
    keras32.set_weights(weights)
    keras64.set_weights([w.astype(np.float64) for w in weights])
    model.compile(
        optimizer=_scratch_optimizer(ident, keras_name, params), loss="categorical_crossentropy"
    )
    _compile_keras(keras32, keras_name, params, "float32")
    _compile_keras(keras64, keras_name, params, "float64")
    for pick in batches:
        xb, yb = x_all[pick], y_all[pick]
        model.train_on_batch(xb, yb)
        keras32.train_on_batch(xb, yb)
        keras64.train_on_batch(xb.astype(np.float64), yb.astype(np.float64))
    w32 = keras32.get_weights()
    return normwise(model.get_weights(), w32), normwise(w32, keras64.get_weights())


REASON = (
    f"Compared norm-wise (‖Δw‖/‖w‖ over all weights after {STEPS} train_on_batch steps), not "
    "entry by entry: training amplifies one-ulp differences of single entries (ReLU units "
    f"near 0), while the norm-wise distance measures the trajectory. The bound {NORMWISE:g} "
    "is what Keras float32 typically keeps from Keras float64 on the same run; twice that "
    "distance (TF's own float32 error) is allowed on top, as for every float32 row."
)


def _case(ident, keras_name, params, source):
    def run(dtype, rng):
        ours, theirs = run_tracking(ident, keras_name, params, rng, source)
        label = (
            f"‖w − w_Keras32‖/‖w_Keras32‖ (Keras' own float32 error ‖w_Keras32 − "
            f"w_Keras64‖/‖w_Keras64‖ = {theirs:.2e})"
        )
        return [Comparison(label, ours, 0.0, "normwise", check_dtype=False, expected64=theirs)]

    args = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
    data = "real MNIST" if source == "mnist" else "synthetic data"
    needs = ("models", "mnist") if source == "mnist" else ("models",)
    return Case(
        "tracking",
        f"classic, {STEPS} steps of {keras_name}({args}) ({data})",
        run,
        needs=needs,
        dtypes=("float32",),
        kinds=("normwise",),
        tolerances={"float32": {"normwise": Tolerance(0.0, NORMWISE)}},
        reason=REASON,
        tf32_allowance=True,
    )


CASES = [_case(ident, name, params, "mnist") for ident, name, params in OPTIMIZERS] + [
    _case("adam", *OPTIMIZERS[3][1:], "synthetic")
]
