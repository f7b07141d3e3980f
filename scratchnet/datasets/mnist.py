r"""MNIST: 70,000 handwritten digits, 28 × 28 grey levels, 10 classes.

LeCun, Bottou, Bengio, Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 86(11), 1998; the IDX files of
"THE MNIST DATABASE of handwritten digits" (LeCun, Cortes, Burges).

Canonical class counts (train / test): 0: 5923/980, 1: 6742/1135, 2: 5958/1032,
3: 6131/1010, 4: 5842/982, 5: 5421/892, 6: 5918/958, 7: 6265/1028, 8: 5851/974,
9: 5949/1009.
"""

from __future__ import annotations

from scratchnet.datasets.download import load_or_fetch


def load_data(*, download: bool = False, cache_dir=None, mirrors=None):
    r"""Load MNIST as ``keras.datasets.mnist.load_data()`` does: ``(x_train, y_train), (x_test, y_test)``.

    Returns:
        x_train: uint8 (60000, 28, 28), pixel values 0..255.
        y_train: uint8 (60000,), digits 0..9.
        x_test: uint8 (10000, 28, 28).
        y_test: uint8 (10000,).

    The arrays come from scratchnet's cache, Keras' ``~/.keras/datasets/mnist.npz``
    or the IDX files, whichever is found first (``scratchnet.datasets.store``), and
    each is checked against its recorded sha256 before it is returned.

    Args:
        download: when no copy is found, fetch one into the cache first
            (``scratchnet.datasets.fetch``). Keras always downloads; here it is
            opt-in, and without it a missing data set raises
            ``DataNotFoundError`` (a ``FileNotFoundError``) that says how to get it
            (``python -m scratchnet data fetch mnist``).
        cache_dir: root of scratchnet's cache (default ``$SCRATCHNET_DATA_DIR`` or
            the platform's user cache folder).
        mirrors: base URLs to fetch from when ``download`` is needed.

    Keras' own ``load_data(path="mnist.npz")`` takes a file name as its only
    positional argument; the arguments here are keyword-only so that such a call
    fails loudly instead of meaning something else.
    """
    return load_or_fetch("mnist", download=download, cache_dir=cache_dir, mirrors=mirrors)
