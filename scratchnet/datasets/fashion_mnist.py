r"""Fashion-MNIST: 70,000 Zalando article images, 28 × 28 grey levels, 10 classes, in MNIST's format.

Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
Machine Learning Algorithms", arXiv:1708.07747, 2017. A drop-in replacement for
MNIST that is harder to classify. Each class has exactly 6000 training and 1000
test images.
"""

from __future__ import annotations

from scratchnet.datasets.download import load_or_fetch

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_data(*, download: bool = False, cache_dir=None, mirrors=None):
    r"""Load Fashion-MNIST as ``keras.datasets.fashion_mnist.load_data()`` does.

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (60000, 28, 28)
    and (10000, 28, 28), uint8 labels (60000,) and (10000,) in 0..9
    (``CLASS_NAMES[label]`` names them).

    The arrays come from scratchnet's cache, Keras' ``~/.keras/datasets/fashion-mnist/``
    or Debian's ``/usr/share/datasets/fashion-mnist/`` (package
    ``dataset-fashion-mnist``), whichever is found first, each checked against
    its recorded sha256. ``download``, ``cache_dir`` and ``mirrors`` are as in
    ``scratchnet.datasets.mnist.load_data``.
    """
    return load_or_fetch("fashion-mnist", download=download, cache_dir=cache_dir, mirrors=mirrors)
