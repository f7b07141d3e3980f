"""TensorFlow and Keras, imported on first use and set up for reproducible float comparisons."""

from __future__ import annotations

import functools

import numpy as np


@functools.cache
def tf_keras():
    """``(tensorflow, keras)``, configured once: CPU only, TF32 off, deterministic ops.

    ``parity/__init__`` has already set ``TF_ENABLE_ONEDNN_OPTS=0`` and
    ``CUDA_VISIBLE_DEVICES=-1``; a TensorFlow imported before that (by the
    caller) is reported by ``environment_notes``.
    """
    import keras
    import tensorflow as tf

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # the runtime is already initialised: CUDA_VISIBLE_DEVICES did it
        pass
    tf.config.experimental.enable_tensor_float_32_execution(False)
    tf.config.experimental.enable_op_determinism()
    return tf, keras


def seed_keras(seed: int) -> None:
    """``keras.utils.set_random_seed`` (Python, NumPy's global state and TF at once)."""
    _, keras = tf_keras()
    keras.utils.set_random_seed(seed)


def versions() -> dict[str, str]:
    """Installed versions of everything a parity number depends on."""
    import platform

    import numpy as np
    import scipy

    import scratchnet

    tf, keras = tf_keras()
    return {
        "scratchnet": scratchnet.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
    }


def environment_notes() -> list[str]:
    """How TensorFlow is set up for this run, for the report header."""
    import os

    import parity

    tf, _ = tf_keras()
    notes = [
        f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}",
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}",
        f"visible GPUs: {len(tf.config.get_visible_devices('GPU'))}",
        "TF32: " + ("on" if tf.config.experimental.tensor_float_32_execution_enabled() else "off"),
        "op determinism: on",
    ]
    if parity.TF_IMPORTED_EARLY:
        notes.append("WARNING: TensorFlow was imported before parity set its environment")
    return notes


def vjp(fn, inputs, upstream, variables=()):
    """``fn(*inputs)`` and its vector-Jacobian products by ``tf.GradientTape``.

    Returns ``(y, [dL/d input ...], [dL/d variable ...])`` as NumPy arrays with
    ``L = Σ upstream ⊙ y`` (``output_gradients=upstream``); a gradient TF
    reports as ``None`` (no dependence) comes back as zeros.
    """
    tf, _ = tf_keras()
    xs = [tf.constant(x) for x in inputs]
    with tf.GradientTape(persistent=False) as tape:
        for x in xs:
            tape.watch(x)
        y = fn(*xs)
    targets = list(xs) + list(variables)
    grads = tape.gradient(y, targets, output_gradients=tf.constant(upstream, dtype=y.dtype))
    grads = [
        (g.numpy() if g is not None else np.zeros(t.shape, t.dtype.as_numpy_dtype))
        for g, t in zip(grads, targets, strict=True)
    ]
    return y.numpy(), grads[: len(xs)], grads[len(xs) :]
