"""End to end on the real MNIST, where it is present (``python -m scratchnet data fetch mnist``)."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import layers
from scratchnet.datasets import mnist
from scratchnet.models import Sequential
from scratchnet.utils import to_categorical


@pytest.fixture(scope="module")
def mnist_data():
    try:
        return mnist.load_data()
    except FileNotFoundError as exc:
        pytest.skip(f"real MNIST is not present here: {exc}")


def test_classic_cnn_trains_one_short_epoch_on_real_mnist(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    x = x_train[:6000].reshape(-1, 28, 28, 1).astype("float32") / 255
    xt = x_test[:1000].reshape(-1, 28, 28, 1).astype("float32") / 255
    model = Sequential(
        [
            layers.Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ],
        seed=0,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x, to_categorical(y_train[:6000], 10), batch_size=32, epochs=1, verbose=0, seed=0
    )
    loss, acc = model.evaluate(xt, to_categorical(y_test[:1000], 10))
    assert history.history["loss"][0] < 1.2
    assert acc > 0.8, f"test accuracy after one short epoch: {acc}"
    assert np.isfinite(loss)
