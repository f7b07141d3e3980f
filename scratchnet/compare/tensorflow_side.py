r"""The TensorFlow side of ``scratchnet compare``: the same model, weights and batches, in Keras.

TensorFlow is imported here only, inside functions (``import scratchnet`` never
imports it). The Keras model is ``scratchnet.keras_io.to_keras`` of the
scratchnet model built with the task's seed, so both start from the same
weights bit for bit; each epoch Keras' ``fit(..., shuffle=False)`` is given the
training set permuted by the same ``epoch_orders`` permutation as the
scratchnet side, so the batches and their order are the same.

Optimizers map by class name (scratchnet's classes carry Keras' names and
defaults): ``"momentum"`` is ``keras.optimizers.SGD(momentum=0.9)``, and so
on, from scratchnet's one name table. Batch gradient descent (``"gd"``) has no
Keras class: here it is ``SGD`` applied once per epoch to the full-data
gradient, accumulated over chunks of ``batch_size`` samples weighted by
``n_c / N`` (as ``Sequential.fit`` does for ``GradientDescent``).
"""

from __future__ import annotations

import math
import time

import numpy as np

from scratchnet.compare import experiment

INSTALL_HINT = (
    'pip install "scratchnet[tf]" (TensorFlow 2.21 CPU, the version the parity suite checks)'
)


def available() -> bool:
    """True when TensorFlow can be imported (found without importing it)."""
    import importlib.util

    return importlib.util.find_spec("tensorflow") is not None


def _import(threads: int):
    """``(tf, keras)``, with ``threads`` intra-op threads when TensorFlow is not yet running."""
    import os

    # 3: also hides Grappler's harmless "remapper failed" lines (LeakyRelu fusion) in the progress.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(f"TensorFlow is not installed. Install it with {INSTALL_HINT}.") from exc
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # TensorFlow already initialised in this process (e.g. --jobs 1): keep its threads
    return tf, keras


def keras_optimizer(name: str, learning_rate: float | None, keras):
    """The Keras optimizer for scratchnet's optimizer name, with the same arguments."""
    from scratchnet import optimizers

    cls, kwargs = optimizers._OPTIMIZERS[name]
    class_name = "SGD" if cls is optimizers.GradientDescent else cls.__name__
    kwargs = dict(kwargs)
    if learning_rate is not None:
        kwargs["learning_rate"] = float(learning_rate)
    return getattr(keras.optimizers, class_name)(**kwargs)


def _full_batch_epoch(model, x, y, batch_size, tf, keras):
    """One batch-gradient-descent step: the exact full-data gradient, chunk by chunk; (loss, accuracy)."""
    loss_fn = keras.losses.CategoricalCrossentropy()
    n = x.shape[0]

    @tf.function
    def chunk(xb, yb, weight):
        with tf.GradientTape() as tape:
            out = model(xb, training=True)
            loss = loss_fn(yb, out) * weight
        hits = tf.reduce_sum(tf.cast(tf.argmax(out, 1) == tf.argmax(yb, 1), tf.float32))
        return loss, hits, tape.gradient(loss, model.trainable_variables)

    total, hits = 0.0, 0.0
    acc = [tf.zeros_like(v) for v in model.trainable_variables]
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        loss, h, grads = chunk(xb, yb, tf.constant(xb.shape[0] / n, tf.float32))
        total += float(loss)
        hits += float(h)
        acc = [a + g for a, g in zip(acc, grads, strict=True)]
    model.optimizer.apply_gradients(zip(acc, model.trainable_variables, strict=True))
    return total, hits / n


def train_tensorflow(task, settings, progress=None) -> dict:
    """Train ``task`` in Keras from the scratchnet model's initial weights, on the same batches."""
    tf, keras = _import(settings.threads)
    from scratchnet import keras_io

    (xtr, ytr), (xev, yev), eval_idx = experiment.split(task, settings)
    ytr1, yev1 = experiment.one_hot(ytr), experiment.one_hot(yev)
    keras.utils.clear_session()
    model = keras_io.to_keras(experiment.build_model(task.activation, task.seed, xtr.shape[1:]))
    model.compile(
        optimizer=keras_optimizer(task.optimizer, settings.learning_rate, keras),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    first_steps: list = []

    class FirstSteps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if len(first_steps) < experiment.FIRST_STEPS and logs and "loss" in logs:
                first_steps.append(float(logs["loss"]))

    history = {
        k: [] for k in ("loss", "accuracy", "test_loss", "test_accuracy", "epoch_time", "eval_time")
    }
    full_batch = task.optimizer == "gd"
    diverged = None
    for epoch, order in enumerate(experiment.epoch_orders(task.seed, len(ytr), settings.epochs)):
        xb, yb = xtr[order], ytr1[order]
        start = time.perf_counter()
        if full_batch:
            loss, acc = _full_batch_epoch(model, xb, yb, settings.batch_size, tf, keras)
        else:
            logs = model.fit(
                xb, yb, batch_size=settings.batch_size, epochs=1, shuffle=False, verbose=0,
                callbacks=[FirstSteps()] if epoch == 0 else None,
            ).history  # fmt: skip
            loss, acc = logs["loss"][-1], logs["accuracy"][-1]
        history["epoch_time"].append(time.perf_counter() - start)
        if not math.isfinite(
            loss
        ):  # Keras trains on through NaN; scratchnet stops, so stop here too
            diverged = f"Loss became {loss} in epoch {epoch + 1} (Keras)."
            break
        start = time.perf_counter()
        test_loss, test_acc = model.evaluate(xev, yev1, batch_size=1000, verbose=0)
        history["eval_time"].append(time.perf_counter() - start)
        history["loss"].append(float(loss))
        history["accuracy"].append(float(acc))
        history["test_loss"].append(float(test_loss))
        history["test_accuracy"].append(float(test_acc))
        if progress is not None:
            progress(task.key, epoch + 1)
    y_pred = np.argmax(model.predict(xev, batch_size=1000, verbose=0), axis=1)
    return experiment._result(task, history, first_steps, y_pred, yev, eval_idx, {}, diverged)
