r"""Data utilities: one-hot encoding, a train/test split and k-fold cross-validation indices.

Every random draw goes through an ``np.random.Generator``: ``seed`` may be
``None`` (fresh entropy), an int (same seed, same split, same bits) or a
``Generator`` (its state advances with each draw).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator

import numpy as np

from scratchnet import _checks, config
from scratchnet.config import set_random_seed  # noqa: F401  (Keras: keras.utils.set_random_seed)


def _rng(seed) -> np.random.Generator:
    """``seed`` (None, int or Generator) as a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)):
        if seed is not None and seed < 0:
            raise _checks.invalid("seed", "None, an integer >= 0 or a numpy Generator", seed)
        return np.random.default_rng(seed)
    raise TypeError(
        "Invalid type for argument seed. Expected None, an integer or a numpy Generator. "
        f"Received seed={seed!r} of type {type(seed).__name__}."
    )


def _integer_labels(name: str, y) -> np.ndarray:
    """``y`` as an int64 array; integer dtypes, or floats holding whole numbers, are accepted."""
    arr = np.asarray(y)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            bad = arr[~(np.isfinite(arr) & (arr == np.round(arr)))].ravel()[0]
            raise ValueError(
                f"Invalid value for argument {name}. Expected integer class labels. "
                f"Received a non-integer label {bad.item()!r}."
            )
        return arr.astype(np.int64)
    raise TypeError(
        f"Invalid dtype for argument {name}. Expected integer class labels. "
        f"Received an array of dtype {arr.dtype}."
    )


def to_categorical(y, num_classes=None, dtype=None) -> np.ndarray:
    r"""One-hot encode integer class labels: ``out[..., k] = 1 if y[...] == k else 0``.

    Shapes: ``y`` (N,) → (N, C); ``y`` (N, 1) → (N, C) (a trailing axis of size 1
    is dropped first, as Keras does); in general ``y.shape + (C,)``.
    ``C = num_classes``, or ``max(y) + 1`` when it is None.

    Keras differences: Keras 3 returns float64 for NumPy input and has no
    ``dtype`` argument; here the default is ``config.floatx()`` (float32, the
    dtype of tf.keras 2's ``to_categorical``). Keras silently truncates float
    labels and lets ``-1`` select the last column; here non-integer, negative
    or too-large labels raise ``ValueError``.
    """
    labels = _integer_labels("y", y)
    if dtype is None:
        out_dtype = np.dtype(config.floatx())
    else:
        try:
            out_dtype = np.dtype(dtype)
        except TypeError as exc:
            raise _checks.invalid("dtype", "a numeric NumPy dtype or None", dtype) from exc
        if out_dtype.kind not in "biuf":
            raise _checks.invalid("dtype", "a numeric NumPy dtype or None", dtype)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    flat = labels.reshape(-1)  # (M,)
    if flat.size and flat.min() < 0:
        raise ValueError(
            f"Invalid value for argument y. Expected labels >= 0. Received a label {flat.min()}."
        )
    if num_classes is None:
        if flat.size == 0:
            raise ValueError(
                "Invalid value for argument y. Expected at least one label when num_classes "
                "is None (the class count is max(y) + 1). Received an empty array."
            )
        num_classes = int(flat.max()) + 1
    else:
        num_classes = _checks.positive_int("num_classes", num_classes)
        if flat.size and flat.max() >= num_classes:
            raise ValueError(
                f"Invalid value for argument y. Expected labels in [0, {num_classes}) "
                f"for num_classes={num_classes}. Received a label {flat.max()}."
            )
    out = np.zeros((flat.size, num_classes), dtype=out_dtype)  # (M, C)
    out[np.arange(flat.size), flat] = 1
    return out.reshape(shape + (num_classes,))


def _n_samples(name: str, value) -> int:
    shape = np.shape(value)
    if len(shape) == 0:
        raise ValueError(
            f"Invalid value for argument {name}. Expected an array with a sample axis. "
            f"Received a scalar {value!r}."
        )
    return shape[0]


def train_test_split(x, y, test_size=0.2, seed=None, shuffle=True):
    r"""Split ``(x, y)`` into ``(x_train, y_train), (x_test, y_test)`` along the first axis.

    ``test_size``: a float in (0, 1), giving ``n_test = ceil(test_size · N)`` (as
    scikit-learn), or an int count. With ``shuffle`` the samples are permuted by
    ``Generator.permutation`` first; without it the test set is the last
    ``n_test`` samples, as Keras' ``fit(validation_split=...)`` takes them (Keras
    computes ``n_train = ceil(N·(1 - split))`` instead, so counts can differ by 1
    when ``test_size · N`` is not whole).

    The result has the layout of ``load_data()``: ``(x_train, y_train), (x_test, y_test)``.
    Arrays are new (fancy-indexed copies); the inputs are not modified.
    """
    x, y = np.asarray(x), np.asarray(y)
    n = _n_samples("x", x)
    if _n_samples("y", y) != n:
        raise ValueError(
            f"Invalid value for argument y. Expected as many samples as x ({n}). "
            f"Received y with {len(y)} samples."
        )
    if n < 2:
        raise ValueError(
            f"Invalid value for argument x. Expected at least 2 samples to split. Received {n}."
        )
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise _checks.invalid(
                "test_size", f"an int in [1, {n - 1}] or a float in (0, 1)", test_size
            )
    else:
        frac = _checks.number("test_size", test_size)
        if not 0.0 < frac < 1.0:
            raise _checks.invalid(
                "test_size", f"an int in [1, {n - 1}] or a float in (0, 1)", test_size
            )
        n_test = math.ceil(round(frac * n, 9))  # round: 0.7 * 10 is 7.000000000000001
        if not 1 <= n_test <= n - 1:
            raise _checks.invalid(
                "test_size", f"a fraction leaving at least 1 sample on each side of {n}", test_size
            )
    shuffle = _checks.boolean("shuffle", shuffle)
    if shuffle:
        order = _rng(seed).permutation(n)  # (N,)
    else:
        if seed is not None:
            raise _checks.invalid("seed", "None when shuffle=False (nothing is drawn)", seed)
        order = np.arange(n)
    train, test = order[: n - n_test], order[n - n_test :]
    return (x[train], y[train]), (x[test], y[test])


class KFold:
    r"""k-fold cross-validation indices: each sample is in exactly one validation fold.

    Fold sizes differ by at most 1: the first ``N mod k`` folds get ``⌊N/k⌋ + 1``
    samples (scikit-learn's ``KFold`` rule). With ``shuffle`` the samples are
    permuted once per ``split`` call (same int seed, same folds).

    ``stratified=True`` keeps each class's share nearly equal in every fold:
    samples are sorted by class (shuffled within each class), then dealt to the
    folds like cards (position ``i`` goes to fold ``i mod k``), so every fold
    holds ``⌊n_c/k⌋`` or ``⌈n_c/k⌉`` samples of each class ``c``. (This dealing
    rule is simpler than scikit-learn's ``StratifiedKFold``, whose folds it does
    not reproduce.) A class with fewer than ``k`` samples is simply absent from
    some folds.

    ``split`` yields ``(train_idx, val_idx)``, each a sorted int64 array.
    """

    def __init__(self, n_splits=5, shuffle=True, seed=None, stratified=False):
        self.n_splits = _checks.positive_int("n_splits", n_splits)
        if self.n_splits < 2:
            raise _checks.invalid("n_splits", "an integer >= 2", n_splits)
        shuffle = _checks.boolean("shuffle", shuffle)
        if not shuffle and seed is not None:
            raise _checks.invalid("seed", "None when shuffle=False (nothing is drawn)", seed)
        stratified = _checks.boolean("stratified", stratified)
        _rng(seed)  # type-check now, not at the first split
        self.shuffle, self.seed, self.stratified = shuffle, seed, stratified

    def get_n_splits(self) -> int:
        """The number of folds, ``k``."""
        return self.n_splits

    def split(self, n_or_x, y=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, val_idx)`` for each fold; ``n_or_x`` is a sample count or an array of samples.

        ``y`` (class labels (N,), or one-hot (N, C)) is required when
        ``stratified=True`` and ignored otherwise.
        """
        if isinstance(n_or_x, numbers.Integral) and not isinstance(n_or_x, bool):
            n = int(n_or_x)
        else:
            n = _n_samples("n_or_x", n_or_x)
        if n < self.n_splits:
            raise ValueError(
                f"Invalid value for argument n_or_x. Expected at least n_splits={self.n_splits} "
                f"samples. Received {n}."
            )
        rng = _rng(self.seed) if self.shuffle else None
        if self.stratified:
            order = self._stratified_order(n, y, rng)
            folds = [np.sort(order[f :: self.n_splits]) for f in range(self.n_splits)]
        else:
            order = rng.permutation(n) if rng is not None else np.arange(n)  # (N,)
            sizes = np.full(self.n_splits, n // self.n_splits)
            sizes[: n % self.n_splits] += 1
            stops = np.cumsum(sizes)
            folds = [
                np.sort(order[stop - size : stop]) for size, stop in zip(sizes, stops, strict=True)
            ]
        for val in folds:
            mask = np.ones(n, dtype=bool)
            mask[val] = False
            yield np.flatnonzero(mask).astype(np.int64), val.astype(np.int64)

    def _stratified_order(self, n, y, rng):
        if y is None:
            raise ValueError(
                "Invalid value for argument y. Expected class labels when stratified=True. Received y=None."
            )
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = np.argmax(labels, axis=1)  # one-hot (N, C) -> (N,)
        labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
        if labels.ndim != 1 or labels.shape[0] != n:
            raise ValueError(
                f"Invalid value for argument y. Expected {n} labels of shape ({n},) or one-hot ({n}, C). "
                f"Received shape {np.shape(y)}."
            )
        parts = []
        for c in np.unique(labels):
            members = np.flatnonzero(labels == c)  # (n_c,)
            parts.append(rng.permutation(members) if rng is not None else members)
        return np.concatenate(parts)


def normalize(x, axis=-1, order=2) -> np.ndarray:
    r"""Keras' ``utils.normalize``: ``x`` divided by its ``order``-norm along ``axis``.

    :math:`y = x / \|x\|_p` along ``axis`` (``np.linalg.norm``'s ``ord``: 2 =
    Euclidean, 1 = sum of absolute values, ``np.inf`` = max); a zero norm is
    replaced by 1, so all-zero slices stay zero, as in Keras. Returns a new
    float array. (Keras' NumPy path re-inserts the norm's axis at ``axis or -1``,
    which misplaces it for ``axis=0`` on non-square inputs; here the norm is
    broadcast along the axis it was taken over.)
    """
    x = np.asarray(x)
    if x.dtype.kind not in "f":
        x = x.astype(config.floatx())
    axis = _checks.axis(axis, max(x.ndim, 1))
    norm = np.atleast_1d(np.linalg.norm(x, order, axis, keepdims=True))
    norm[norm == 0] = 1
    return x / norm
