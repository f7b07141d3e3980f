r"""Item 3: every loss on both paths (logits and probabilities), values and gradients.

scratchnet: ``loss(y_true, y_pred)`` (the batch mean), ``loss.per_sample`` and
``loss.gradient`` (d mean / d y_pred). Keras: the loss class with every
argument explicit (``reduction="sum_over_batch_size"``, ``dtype`` = the run's
dtype, as Keras losses otherwise compute in float32), the gradient by
``tf.GradientTape``; ``reduction=None`` for the per-sample values.

Probability inputs are plain tensors (no softmax layer in front), so Keras
takes its probability path: renormalise (categorical), clip to
``[1e-7, 1 - 1e-7]``. Each probability batch holds a row whose true class has
probability exactly 0, a row that does not sum to 1, a row equal to its
one-hot target (clipped at 1 - 1e-7) and a row with entries below 1e-7.
"""

from __future__ import annotations

import numpy as np

from parity._harness import Case, Comparison
from parity._tf import tf_keras, vjp

N, C = 6, 5


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _labels(rng):
    return rng.integers(0, C, size=N)


def _logits(rng, dtype):
    z = 3.0 * rng.standard_normal((N, C))
    z[0] = [1000.0, 0.0, -1000.0, 5.0, 0.0]  # far beyond exp's range: needs the max shift
    return z.astype(dtype)


def _probabilities(rng, labels, dtype):
    p = _softmax(2.0 * rng.standard_normal((N, C)))
    p[0, labels[0]] = 0.0  # the true class has probability exactly 0
    p[0] /= p[0].sum()
    p[1] *= 1.3  # does not sum to 1 (categorical CE renormalises)
    p[2] = np.eye(C)[labels[2]]  # equal to the target: clipped at 1 - 1e-7 and 1e-7
    p[3] = _softmax(np.array([20.0, -1.0, 0.0, 1.0, -2.0]))  # entries below 1e-7
    return p.astype(dtype)


def _compare_loss(scratch_loss, keras_loss_fn, y_true, y_pred, dtype):
    """Mean, per-sample values and d mean / d y_pred from both sides."""
    value = scratch_loss(y_true, y_pred)
    per = scratch_loss.per_sample(y_true, y_pred)
    grad = scratch_loss.gradient(y_true, y_pred)
    one = np.array(1.0, dtype=dtype)
    value_tf, (grad_tf,), _ = vjp(lambda p: keras_loss_fn(p, "sum_over_batch_size"), [y_pred], one)
    per_tf = keras_loss_fn(y_pred, None).numpy()
    return [
        Comparison("mean loss", value, value_tf, "value", check_dtype=False),
        Comparison("per-sample loss", per, per_tf, "value"),
        Comparison("d mean / d y_pred", grad, grad_tf, "gradient", context=y_pred),
    ]


def _categorical_case(from_logits, label_smoothing):
    def run(dtype, rng):
        from scratchnet.losses import CategoricalCrossentropy

        _, keras = tf_keras()
        labels = _labels(rng)
        y_true = np.eye(C, dtype=dtype)[labels]
        y_pred = _logits(rng, dtype) if from_logits else _probabilities(rng, labels, dtype)

        def keras_loss(p, reduction):
            loss = keras.losses.CategoricalCrossentropy(
                from_logits=from_logits,
                label_smoothing=label_smoothing,
                axis=-1,
                reduction=reduction,
                dtype=dtype,
            )
            return loss(y_true, p)

        scratch = CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
        return _compare_loss(scratch, keras_loss, y_true, y_pred, dtype)

    name = f"CategoricalCrossentropy(from_logits={from_logits}, label_smoothing={label_smoothing})"
    return Case("losses", name, run, needs=("losses",))


def _sparse_case(from_logits, label_shape="(N,)"):
    def run(dtype, rng):
        from scratchnet.losses import SparseCategoricalCrossentropy

        _, keras = tf_keras()
        labels = _labels(rng)
        y_pred = _logits(rng, dtype) if from_logits else _probabilities(rng, labels, dtype)
        y_true = labels if label_shape == "(N,)" else labels[:, None]

        def keras_loss(p, reduction):
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=from_logits, ignore_class=None, reduction=reduction, dtype=dtype
            )
            return loss(y_true, p)

        scratch = SparseCategoricalCrossentropy(from_logits=from_logits)
        return _compare_loss(scratch, keras_loss, y_true, y_pred, dtype)

    name = f"SparseCategoricalCrossentropy(from_logits={from_logits}), labels {label_shape}"
    return Case("losses", name, run, needs=("losses",))


def _binary_case(from_logits, label_smoothing, soft_targets=False):
    def run(dtype, rng):
        from scratchnet.losses import BinaryCrossentropy

        _, keras = tf_keras()
        shape = (N, 3)
        if soft_targets:
            y_true = rng.uniform(0, 1, size=shape).astype(dtype)
        else:
            y_true = rng.integers(0, 2, size=shape).astype(dtype)
        if from_logits:
            y_pred = 3.0 * rng.standard_normal(shape)
            y_pred[0] = [1000.0, -1000.0, 0.0]
        else:
            y_pred = rng.uniform(0, 1, size=shape)
            y_pred[0] = [0.0, 1.0, 1e-9]  # exact 0 and 1 (clipped), one below 1e-7
            y_pred[1, 0] = 1.0 - y_true[1, 0]  # the true label has probability exactly 0
        y_pred = y_pred.astype(dtype)

        def keras_loss(p, reduction):
            loss = keras.losses.BinaryCrossentropy(
                from_logits=from_logits,
                label_smoothing=label_smoothing,
                axis=-1,
                reduction=reduction,
                dtype=dtype,
            )
            return loss(y_true, p)

        scratch = BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
        return _compare_loss(scratch, keras_loss, y_true, y_pred, dtype)

    name = f"BinaryCrossentropy(from_logits={from_logits}, label_smoothing={label_smoothing})" + (
        ", soft targets" if soft_targets else ""
    )
    return Case("losses", name, run, needs=("losses",))


def _mse_case():
    def run(dtype, rng):
        from scratchnet.losses import MeanSquaredError

        _, keras = tf_keras()
        y_true = rng.standard_normal((N, 4)).astype(dtype)
        y_pred = (y_true + rng.standard_normal((N, 4))).astype(dtype)
        y_pred[0, 0] = y_true[0, 0]  # a zero residual

        def keras_loss(p, reduction):
            return keras.losses.MeanSquaredError(reduction=reduction, dtype=dtype)(y_true, p)

        return _compare_loss(MeanSquaredError(), keras_loss, y_true, y_pred, dtype)

    return Case("losses", "MeanSquaredError()", run, needs=("losses",))


CASES = (
    [_categorical_case(from_logits, ls) for from_logits in (True, False) for ls in (0.0, 0.1, 0.2)]
    + [_sparse_case(True), _sparse_case(False), _sparse_case(False, "(N, 1)")]
    + [_binary_case(from_logits, ls) for from_logits in (True, False) for ls in (0.0, 0.1)]
    + [_binary_case(True, 0.0, soft_targets=True), _binary_case(False, 0.0, soft_targets=True)]
    + [_mse_case()]
)
