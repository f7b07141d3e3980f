"""Data for the whole-model cases: real MNIST when scratchnet can load it, else a seeded synthetic set.

Real MNIST comes from ``scratchnet.datasets.mnist.load_data()`` (never
downloaded here: the call only reads scratchnet's or Keras' cache). The
synthetic stand-in is ten smooth random "prototype" images plus noise, so a
CNN can learn it; it is drawn from a fixed seed, the same on every run.
"""

from __future__ import annotations

import functools

import numpy as np

SYNTHETIC_SEED = 20260402


@functools.cache
def _real_mnist():
    try:
        from scratchnet.datasets import mnist
    except ImportError:
        return None
    try:
        return mnist.load_data()
    except (OSError, ValueError):  # DataNotFoundError is a FileNotFoundError
        return None


def real_mnist_available() -> bool:
    """Whether ``scratchnet.datasets.mnist.load_data()`` finds the data without a download."""
    return _real_mnist() is not None


def _prepare(images: np.ndarray, labels: np.ndarray, dtype: str):
    x = (images.astype(np.float64) / 255.0).astype(dtype)[..., None]  # (N, 28, 28, 1)
    y = np.eye(10, dtype=dtype)[labels]  # (N, 10) one-hot
    return x, y


def mnist(n_train: int, n_test: int, dtype: str):
    """The first ``n_train`` training and ``n_test`` test images of real MNIST, scaled to [0, 1]."""
    (x_train, y_train), (x_test, y_test) = _real_mnist()
    return _prepare(x_train[:n_train], y_train[:n_train], dtype), _prepare(
        x_test[:n_test], y_test[:n_test], dtype
    )


@functools.cache
def _synthetic(n: int):
    rng = np.random.default_rng(SYNTHETIC_SEED)
    coarse = rng.uniform(0, 1, size=(10, 7, 7))
    prototypes = np.kron(coarse, np.ones((4, 4)))  # (10, 28, 28) blocky digits
    labels = rng.integers(0, 10, size=n)
    noise = rng.normal(0, 0.25, size=(n, 28, 28))
    images = np.clip(prototypes[labels] + noise, 0, 1)
    return np.round(images * 255).astype(np.uint8), labels


def synthetic(n_train: int, n_test: int, dtype: str):
    """A seeded MNIST-shaped stand-in (uint8 images scaled to [0, 1], 10 classes)."""
    images, labels = _synthetic(n_train + n_test)
    return _prepare(images[:n_train], labels[:n_train], dtype), _prepare(
        images[n_train:], labels[n_train:], dtype
    )


def load(source: str, n_train: int, n_test: int, dtype: str):
    """``((x_train, y_train), (x_test, y_test))`` from "mnist" or "synthetic"."""
    if source == "mnist":
        return mnist(n_train, n_test, dtype)
    return synthetic(n_train, n_test, dtype)
