"""The deliberate deviation "bad input is rejected", checked: Keras accepts, scratchnet raises.

Each ``Strictness`` check runs the same call on both sides: Keras must accept
it silently (returning NaN, an empty history, ...), scratchnet must raise a
``ValueError`` whose message names the argument (``match``). The report lists
what each side did; ``parity/test_strictness.py`` asserts it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from parity._tf import seed_keras, tf_keras


@dataclass(frozen=True)
class Strictness:
    name: str
    keras_call: Callable[[], object]
    scratch_call: Callable[[], object]
    match: str  # a regular expression the scratchnet message must contain


def _data():
    x = np.random.default_rng(0).uniform(size=(4, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1, 0, 1]]
    return x, y


def _keras_model():
    _, keras = tf_keras()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=0.0625),
        jit_compile=False,
    )
    return model


def _scratch_model():
    from scratchnet.layers import Dense
    from scratchnet.models import Sequential
    from scratchnet.optimizers import SGD

    model = Sequential([Dense(2, activation="softmax")], seed=0)
    model.build((3,))
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.0625))
    return model


def _with_nan(x):
    x = x.copy()
    x[0, 0] = np.nan
    return x


def _empty():
    return np.zeros((0, 3), "float32"), np.zeros((0, 2), "float32")


def _keras_sparse_ce():
    _, keras = tf_keras()
    return keras.losses.SparseCategoricalCrossentropy(from_logits=False)


def _scratch_sparse_ce():
    from scratchnet.losses import SparseCategoricalCrossentropy

    return SparseCategoricalCrossentropy(from_logits=False)


def _keras_optimizer(name, **kwargs):
    _, keras = tf_keras()
    return getattr(keras.optimizers, name)(**kwargs)


def _scratch_optimizer(name, **kwargs):
    from scratchnet import optimizers

    return getattr(optimizers, name)(**kwargs)


CHECKS = [
    Strictness(
        "NaN in the inputs of predict",
        lambda: _keras_model().predict(_with_nan(_data()[0]), verbose=0),
        lambda: _scratch_model().predict(_with_nan(_data()[0]), verbose=0),
        r"argument x\. Expected finite values",
    ),
    Strictness(
        "NaN in the inputs of fit",
        lambda: _keras_model().fit(_with_nan(_data()[0]), _data()[1], verbose=0).history,
        lambda: _scratch_model().fit(_with_nan(_data()[0]), _data()[1], verbose=0).history,
        r"argument x\. Expected finite values",
    ),
    Strictness(
        "fit on empty arrays",
        lambda: _keras_model().fit(*_empty(), verbose=0).history,
        lambda: _scratch_model().fit(*_empty(), verbose=0).history,
        r"argument x\. Expected a non-empty batch",
    ),
    Strictness(
        "fit with batch_size=0",
        lambda: _keras_model().fit(*_data(), batch_size=0, verbose=0).history,
        lambda: _scratch_model().fit(*_data(), batch_size=0, verbose=0).history,
        r"argument batch_size\. Expected a strictly positive integer",
    ),
    Strictness(
        "sparse cross-entropy with the label 1.7",
        lambda: _keras_sparse_ce()(np.array([0.0, 1.7]), np.full((2, 3), 1 / 3, "float32")),
        lambda: _scratch_sparse_ce()(np.array([0.0, 1.7]), np.full((2, 3), 1 / 3, "float32")),
        r"argument y_true\. Expected integer class labels",
    ),
    Strictness(
        "SGD(learning_rate=-1)",
        lambda: _keras_optimizer("SGD", learning_rate=-1.0),
        lambda: _scratch_optimizer("SGD", learning_rate=-1.0),
        r"argument learning_rate\. Expected a strictly positive float",
    ),
    Strictness(
        "Adam(beta_1=1.5)",
        lambda: _keras_optimizer("Adam", beta_1=1.5),
        lambda: _scratch_optimizer("Adam", beta_1=1.5),
        r"argument beta_1\. Expected a float in \[0, 1\)",
    ),
]


def run_check(check: Strictness) -> tuple[str, str]:
    """(what Keras did, what scratchnet did), as short texts; raises nothing."""
    seed_keras(0)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = check.keras_call()
        keras_text = f"accepted, returned {_short(result)}"
        if caught:
            keras_text += f" (with a {caught[0].category.__name__})"
    except Exception as exc:
        keras_text = f"raised {type(exc).__name__}: {_short(exc)}"
    try:
        result = check.scratch_call()
        scratch_text = f"accepted, returned {_short(result)}"
    except Exception as exc:
        scratch_text = f"raised {type(exc).__name__}: {_short(exc)}"
    return keras_text, scratch_text


def _short(value) -> str:
    text = " ".join(str(value).split())
    if " object at 0x" in text:
        text = f"{type(value).__name__} object"
    return text if len(text) <= 120 else text[:117] + "..."
