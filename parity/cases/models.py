r"""Item 5: whole models, same weights → same predictions, loss and gradients; then 100 training steps.

Two architectures, each built from ONE table of (class name, arguments) on
both sides, every argument explicit:

* ``classic``: Conv2D 32 3×3 relu → MaxPooling2D 2×2 → Flatten → Dense 10 softmax;
* ``deeper``: two conv blocks (Conv2D 16 same → Conv2D 16 valid → pool;
  Conv2D 32 same → pool) → Flatten → Dense 64 relu → Dense 10 softmax.

scratchnet draws the kernels (seeded); the biases are drawn non-zero (so a
dropped bias shows); Keras receives the same arrays with ``set_weights``.

*Forward/gradient cases*: predictions, the categorical cross-entropy and every
parameter gradient of one batch of 32 (Keras: eager ``tf.GradientTape`` over
``model.trainable_variables``; the softmax output carries its logits, so Keras
takes the fused path, as scratchnet does).

*Training cases*: ``STEPS`` steps of ``train_on_batch`` on both sides over the
same consecutive batches (Keras' ``fit`` would shuffle), Keras compiled with
``jit_compile=False`` (XLA would reorder float sums). float64: the loss of
every step and every weight every 10 steps must stay within the stated
tolerance of Keras'. float32: rounding differences are amplified by training,
so the claim is equal learning: held-out accuracy within ``ACCURACY_GAP``.

Data: the first images of real MNIST (``scratchnet.datasets.mnist``) when
scratchnet can load them without a download; every real-MNIST case also
exists on a seeded synthetic MNIST-shaped set (``parity._data``), which runs
everywhere.
"""

from __future__ import annotations

import contextlib

import numpy as np

from parity import _data
from parity._harness import Case, Comparison, Tolerance
from parity._tf import tf_keras

BATCH = 32
STEPS = 100
N_TEST = 1000
ACCURACY_GAP = 0.02

ARCHITECTURES: dict[str, list[tuple[str, dict]]] = {
    "classic": [
        ("Conv2D", dict(filters=32, kernel_size=3, strides=1, padding="valid", activation="relu")),
        ("MaxPooling2D", dict(pool_size=2, strides=None, padding="valid")),
        ("Flatten", {}),
        ("Dense", dict(units=10, activation="softmax")),
    ],
    "deeper": [
        ("Conv2D", dict(filters=16, kernel_size=3, strides=1, padding="same", activation="relu")),
        ("Conv2D", dict(filters=16, kernel_size=3, strides=1, padding="valid", activation="relu")),
        ("MaxPooling2D", dict(pool_size=2, strides=None, padding="valid")),
        ("Conv2D", dict(filters=32, kernel_size=3, strides=1, padding="same", activation="relu")),
        ("MaxPooling2D", dict(pool_size=2, strides=None, padding="valid")),
        ("Flatten", {}),
        ("Dense", dict(units=64, activation="relu")),
        ("Dense", dict(units=10, activation="softmax")),
    ],
}

# One float32-representable configuration per optimizer (see parity.cases.optimizers):
# (scratchnet class, Keras class, arguments for both).
TRAINING_OPTIMIZERS: list[tuple[str, str, dict]] = [
    ("SGD", "SGD", dict(learning_rate=0.0625, momentum=0.0, nesterov=False)),
    ("SGD", "SGD", dict(learning_rate=0.0625, momentum=0.875, nesterov=False)),
    ("SGD", "SGD", dict(learning_rate=0.0625, momentum=0.875, nesterov=True)),
    ("GradientDescent", "SGD", dict(learning_rate=0.0625)),
    ("Adam", "Adam", dict(learning_rate=2**-10, beta_1=0.875, beta_2=1 - 2**-10, epsilon=1e-7)),
    (
        "Adam",
        "Adam",
        dict(learning_rate=2**-10, beta_1=0.875, beta_2=1 - 2**-10, epsilon=1e-7, amsgrad=True),
    ),
    (
        "AdamW",
        "AdamW",
        dict(learning_rate=2**-10, weight_decay=2**-5, beta_1=0.875, beta_2=1 - 2**-10),
    ),
    (
        "RMSprop",
        "RMSprop",
        dict(learning_rate=2**-10, rho=0.875, momentum=0.5, epsilon=1e-7, centered=True),
    ),
    ("Adagrad", "Adagrad", dict(learning_rate=2**-5, initial_accumulator_value=0.125)),
    ("Adadelta", "Adadelta", dict(learning_rate=1.0, rho=0.9375, epsilon=1e-7)),
    ("Nadam", "Nadam", dict(learning_rate=2**-10, beta_1=0.875, beta_2=1 - 2**-10)),
    ("Adamax", "Adamax", dict(learning_rate=2**-9, beta_1=0.875, beta_2=1 - 2**-10)),
]


def build_pair(arch: str, dtype: str, rng: np.random.Generator):
    """(scratchnet Sequential, keras.Sequential) with the same architecture and weights."""
    from scratchnet import layers
    from scratchnet.models import Sequential

    _, keras = tf_keras()
    spec = ARCHITECTURES[arch]
    model = Sequential(
        [getattr(layers, cls)(**kwargs, dtype=dtype) for cls, kwargs in spec],
        name=f"{arch}_scratchnet",
        seed=int(rng.integers(2**31)),
    )
    model.build((28, 28, 1))
    keras_layers = []
    for cls, kwargs in spec:
        extra = {"use_bias": True} if cls in ("Conv2D", "Dense") else {}
        if cls in ("Conv2D", "MaxPooling2D", "Flatten"):
            extra["data_format"] = "channels_last"
        keras_layers.append(getattr(keras.layers, cls)(**kwargs, **extra, dtype=dtype))
    keras_model = keras.Sequential(
        [keras.Input(shape=(28, 28, 1), dtype=dtype), *keras_layers], name=f"{arch}_keras"
    )
    weights = model.get_weights()
    weights = [w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(dtype) for w in weights]
    model.set_weights(weights)
    keras_model.set_weights(weights)
    return model, keras_model


def _keras_loss(dtype):
    _, keras = tf_keras()
    return keras.losses.CategoricalCrossentropy(
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        dtype=dtype,
    )


def _forward_case(arch: str, source: str):
    def run(dtype, rng):
        from scratchnet.optimizers import SGD

        tf, _ = tf_keras()
        (x_all, y_all), _ = _data.load(source, 4 * BATCH, 0, dtype)
        pick = rng.choice(len(x_all), BATCH, replace=False)
        x, y = x_all[pick], y_all[pick]
        model, keras_model = build_pair(arch, dtype, rng)
        model.compile(optimizer=SGD(learning_rate=0.0625), loss="categorical_crossentropy")
        probs = model.predict(x, batch_size=BATCH, verbose=0)
        loss, grads = model.compute_gradients(x, y)
        evaluated = model.evaluate(x, y, batch_size=BATCH, verbose=0)
        loss_fn = _keras_loss(dtype)
        with tf.GradientTape() as tape:
            probs_tf = keras_model(x, training=False)
            loss_tf = loss_fn(y, probs_tf)
        grads_tf = tape.gradient(loss_tf, keras_model.trainable_variables)
        _compile_keras(keras_model, "SGD", dict(learning_rate=0.0625), dtype)
        evaluated_tf = keras_model.evaluate(x, y, batch_size=BATCH, verbose=0)
        out = [
            Comparison("predictions", probs, probs_tf, "value"),
            Comparison("loss", loss, loss_tf, "value", check_dtype=False),
            Comparison("evaluate()", evaluated, evaluated_tf, "value", check_dtype=False),
        ]
        for var, g, g_tf in zip(keras_model.trainable_variables, grads, grads_tf, strict=True):
            out.append(Comparison(f"dL/d{var.path}", g, g_tf, "gradient"))
        return out

    data = "real MNIST" if source == "mnist" else "synthetic batch"
    needs = ("models", "mnist") if source == "mnist" else ("models",)
    return Case("models", f"{arch}: predictions, loss, gradients ({data})", run, needs=needs)


@contextlib.contextmanager
def keras_floatx(dtype: str):
    """Keras' ``floatx()`` set to ``dtype`` inside the block, restored after."""
    _, keras = tf_keras()
    floatx = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)


def _compile_keras(keras_model, optimizer: str, params: dict, dtype: str, metrics=None) -> None:
    """``compile`` with every setting explicit: no XLA (it reorders float sums), one step per call.

    Keras' loss tracker (the ``Mean`` metric that ``train_on_batch``/``evaluate``
    report) takes ``floatx()`` at compile time: compiled under floatx float64
    here, or every reported float64 loss would be rounded to float32.
    """
    _, keras = tf_keras()
    with keras_floatx(dtype):
        keras_model.compile(
            optimizer=getattr(keras.optimizers, optimizer)(**params),
            loss=_keras_loss(dtype),
            metrics=metrics,
            jit_compile=False,
            run_eagerly=False,
            steps_per_execution=1,
        )


def _accuracy(probs, y) -> float:
    return float(np.mean(np.argmax(probs, axis=-1) == np.argmax(y, axis=-1)))


def _training_case(arch, scratch_name, keras_name, params, source, tolerances, reason):
    def run(dtype, rng):
        from scratchnet import optimizers

        (x_train, y_train), (x_test, y_test) = _data.load(source, STEPS * BATCH, N_TEST, dtype)
        model, keras_model = build_pair(arch, dtype, rng)
        model.compile(
            optimizer=getattr(optimizers, scratch_name)(**params), loss="categorical_crossentropy"
        )
        keras_params = {
            **params,
            **({"momentum": 0.0, "nesterov": False} if scratch_name == "GradientDescent" else {}),
        }
        _compile_keras(keras_model, keras_name, keras_params, dtype)
        losses, losses_tf, snapshots, snapshots_tf = [], [], [], []
        for step in range(STEPS):
            xb = x_train[step * BATCH : (step + 1) * BATCH]
            yb = y_train[step * BATCH : (step + 1) * BATCH]
            losses.append(float(model.train_on_batch(xb, yb)))
            losses_tf.append(float(keras_model.train_on_batch(xb, yb)))
            if (step + 1) % 10 == 0:
                snapshots.append(model.get_weights())
                snapshots_tf.append(keras_model.get_weights())
        acc = _accuracy(model.predict(x_test, batch_size=250, verbose=0), y_test)
        acc_tf = _accuracy(keras_model.predict(x_test, batch_size=250, verbose=0), y_test)
        out = [
            Comparison("loss of the first step", losses[0], losses_tf[0], "value"),
            Comparison("held-out accuracy", acc, acc_tf, "accuracy", check_dtype=False),
        ]
        if dtype == "float64":
            out.append(Comparison("loss at every step", losses, losses_tf, "value"))
            for i, var in enumerate(keras_model.trainable_variables):
                got = np.stack([s[i] for s in snapshots])  # (10, *shape): every 10th step
                expected = np.stack([s[i] for s in snapshots_tf])
                out.append(
                    Comparison(f"{var.path} every 10 steps", got, expected, relative_atol=True)
                )
        return out

    args = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
    data = "real MNIST" if source == "mnist" else "synthetic data"
    needs = ("models", "mnist") if source == "mnist" else ("models",)
    name = f"{arch}: {STEPS} steps of {scratch_name}({args}) ({data})"
    kinds = ("value", "accuracy")
    return Case("models", name, run, needs=needs, kinds=kinds, tolerances=tolerances, reason=reason)


TRAINING_REASON = (
    f"Training amplifies rounding: in float32 the runs drift apart (ReLU units near 0 flip, "
    f"Adam-type steps of ~lr for near-zero gradients), so float32 compares held-out accuracy on "
    f"{N_TEST} test images, allowed to differ by {ACCURACY_GAP:.0%} absolute. float64 keeps "
    f"1e-9 on the loss and weights (atol relative to each weight array's largest entry)."
)
TRAINING_TOL = {
    "float64": {"value": Tolerance(1e-9, 1e-12), "accuracy": Tolerance(0.0, 0.0)},
    "float32": {"accuracy": Tolerance(0.0, ACCURACY_GAP)},
}
NADAM_TRAINING_TOL = {
    **TRAINING_TOL,
    "float64": {"value": Tolerance(1e-3, 1e-5), "accuracy": Tolerance(0.0, 0.0)},
}


def _training_cases(arch, source, optimizers):
    cases = []
    for scratch_name, keras_name, params in optimizers:
        tol, reason = TRAINING_TOL, TRAINING_REASON
        if scratch_name == "Nadam":
            tol = NADAM_TRAINING_TOL
            reason = TRAINING_REASON + (
                " Nadam float64: Keras rounds 0.96 through float32 (a ~1e-8 relative change "
                "of the momentum schedule), which 100 training steps amplify to ~1.4e-4 "
                "relative on single weights; allowed 1e-3 / 1e-5."
            )
        cases.append(_training_case(arch, scratch_name, keras_name, params, source, tol, reason))
    return cases


# The deeper model with the classic model's SGD step (effective rate 0.0625 / (1 - 0.875) = 0.5)
# trains erratically for its first 100 steps, and float32 rounding then decides which spike
# each run takes (held-out accuracy 0.83 vs 0.72 with another input seed); at 2⁻⁶ it
# trains smoothly and the comparison measures the implementations, not the chaos.
_DEEPER_OPTIMIZERS = [
    ("SGD", "SGD", dict(learning_rate=2**-6, momentum=0.875, nesterov=False)),
    TRAINING_OPTIMIZERS[4],  # Adam
]

CASES = (
    [_forward_case(arch, source) for arch in ARCHITECTURES for source in ("mnist", "synthetic")]
    + _training_cases("classic", "mnist", TRAINING_OPTIMIZERS)
    + _training_cases("deeper", "mnist", _DEEPER_OPTIMIZERS)
    + _training_cases("classic", "synthetic", [TRAINING_OPTIMIZERS[4]])
)
