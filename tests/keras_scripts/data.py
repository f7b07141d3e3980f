"""MNIST-shaped toy data for the scripts: 12x12 uint8 images of four stroke classes, made here (no files).

``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` as
``keras.datasets.mnist.load_data()`` does (uint8 images (N, 12, 12), integer
labels), 480 training and 160 test images, the same every call.
"""

import numpy as np


def load_data(n_train=480, n_test=160, size=12, seed=0):
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    x = np.zeros((n, size, size))
    y = rng.integers(0, 4, size=n)
    for i, label in enumerate(y):
        length = int(rng.integers(size // 2, size - 1))
        r, c = (int(v) for v in rng.integers(0, size - length, size=2))
        if label == 0:  # horizontal bar
            x[i, r + length // 2, c : c + length] = 1.0
        elif label == 1:  # vertical bar
            x[i, r : r + length, c + length // 2] = 1.0
        elif label == 2:  # diagonal
            idx = np.arange(length)
            x[i, r + idx, c + idx] = 1.0
        else:  # square outline
            x[i, r, c : c + length] = x[i, r + length - 1, c : c + length] = 1.0
            x[i, r : r + length, c] = x[i, r : r + length, c + length - 1] = 1.0
    x = np.clip(x + 0.15 * rng.standard_normal(x.shape), 0, 1)
    x = (255 * x).astype(np.uint8)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
