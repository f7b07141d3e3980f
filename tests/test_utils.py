"""Tests for scratchnet.utils: to_categorical, train_test_split, KFold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import config
from scratchnet.utils import KFold, to_categorical, train_test_split

# ----------------------------------------------------------------------------
# to_categorical
# ----------------------------------------------------------------------------


def test_to_categorical_known_values():
    out = to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]])
    assert out.dtype == np.float32 == np.dtype(config.floatx())


@given(st.lists(st.integers(0, 6), min_size=1, max_size=20), st.integers(0, 3))
def test_to_categorical_against_a_loop(labels, extra):
    c = max(labels) + 1 + extra
    out = to_categorical(np.array(labels), num_classes=c, dtype="float64")
    expected = np.zeros((len(labels), c))
    for i, k in enumerate(labels):
        expected[i, k] = 1.0
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(np.argmax(out, axis=1), labels)


def test_to_categorical_shapes_and_dtypes():
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)  # trailing 1 dropped, as Keras
    assert to_categorical(np.array([[1, 2], [0, 1]])).shape == (2, 2, 3)
    assert to_categorical(np.array(2), num_classes=4).tolist() == [0, 0, 1, 0]
    assert to_categorical(np.array([], dtype=int), num_classes=3).shape == (0, 3)
    assert to_categorical([1.0, 0.0]).tolist() == [[0, 1], [1, 0]]  # whole floats are labels
    assert to_categorical([1, 0], dtype="uint8").dtype == np.uint8
    labels = np.array([3, 1, 2])[::-1]  # non-contiguous, read-only input is fine and untouched
    labels.flags.writeable = False
    assert to_categorical(labels).shape == (3, 4) and labels.tolist() == [2, 1, 3]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(y=[0, -1]), ValueError, "Expected labels >= 0. Received a label -1"),
        (
            dict(y=[0, 3], num_classes=3),
            ValueError,
            r"Expected labels in \[0, 3\) for num_classes=3. Received a label 3",
        ),
        (
            dict(y=[0.5]),
            ValueError,
            "Expected integer class labels. Received a non-integer label 0.5",
        ),
        (dict(y=[np.nan]), ValueError, "non-integer label nan"),
        (dict(y=["a"]), TypeError, "Invalid dtype for argument y"),
        (
            dict(y=[], num_classes=None),
            ValueError,
            "Expected at least one label when num_classes is None",
        ),
        (dict(y=[1], num_classes=0), ValueError, "Invalid value for argument num_classes"),
        (dict(y=[1], num_classes=2.0), TypeError, "Invalid type for argument num_classes"),
        (dict(y=[1], dtype="str"), ValueError, "Invalid value for argument dtype"),
        (dict(y=[1], dtype="nonsense"), ValueError, "Invalid value for argument dtype"),
    ],
)
def test_to_categorical_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        to_categorical(**kwargs)


# ----------------------------------------------------------------------------
# train_test_split
# ----------------------------------------------------------------------------


def test_split_partitions_the_samples():
    x = np.arange(50).reshape(25, 2)
    y = np.arange(25) * 10
    (x_tr, y_tr), (x_te, y_te) = train_test_split(x, y, test_size=0.2, seed=0)
    assert len(x_te) == 5 and len(x_tr) == 20
    np.testing.assert_array_equal(x_tr[:, 0] // 2 * 10, y_tr)  # pairs stay together
    np.testing.assert_array_equal(x_te[:, 0] // 2 * 10, y_te)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == y.tolist()
    assert not np.array_equal(y_tr, np.sort(y_tr))  # shuffled


def test_split_seed_and_generator():
    x = np.arange(100)
    a = train_test_split(x, x, seed=3)
    b = train_test_split(x, x, seed=3)
    c = train_test_split(x, x, seed=4)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[1][0], c[1][0])
    rng = np.random.default_rng(3)
    d = train_test_split(x, x, seed=rng)
    np.testing.assert_array_equal(a[1][0], d[1][0])  # a Generator seeded 3 draws the same
    e = train_test_split(x, x, seed=rng)  # ...and advances
    assert not np.array_equal(d[1][0], e[1][0])
    np.testing.assert_array_equal(a[1][0], np.random.default_rng(3).permutation(100)[80:])


def test_split_without_shuffle_takes_the_last_samples():
    x = np.arange(10)
    (x_tr, _), (x_te, _) = train_test_split(x, x, test_size=0.3, shuffle=False)
    assert x_tr.tolist() == list(range(7)) and x_te.tolist() == [7, 8, 9]
    (x_tr, _), (x_te, _) = train_test_split(x, x, test_size=0.25, shuffle=False)
    assert len(x_te) == 3  # ceil(2.5)
    (x_tr, _), (x_te, _) = train_test_split(x, x, test_size=4, shuffle=False)
    assert x_te.tolist() == [6, 7, 8, 9]


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (
            (np.arange(5), np.arange(4)),
            {},
            ValueError,
            r"Expected as many samples as x \(5\). Received y with 4",
        ),
        ((np.arange(1), np.arange(1)), {}, ValueError, "Expected at least 2 samples"),
        (
            (np.arange(5), np.arange(5)),
            dict(test_size=0.0),
            ValueError,
            "Invalid value for argument test_size",
        ),
        (
            (np.arange(5), np.arange(5)),
            dict(test_size=1.0),
            ValueError,
            "Invalid value for argument test_size",
        ),
        ((np.arange(5), np.arange(5)), dict(test_size=5), ValueError, r"an int in \[1, 4\]"),
        (
            (np.arange(5), np.arange(5)),
            dict(test_size=0.99),
            ValueError,
            "leaving at least 1 sample",
        ),
        (
            (np.arange(5), np.arange(5)),
            dict(test_size="a"),
            TypeError,
            "Invalid type for argument test_size",
        ),
        ((np.arange(5), np.arange(5)), dict(seed=1.5), TypeError, "Invalid type for argument seed"),
        (
            (np.arange(5), np.arange(5)),
            dict(seed=-1),
            ValueError,
            "Invalid value for argument seed",
        ),
        (
            (np.arange(5), np.arange(5)),
            dict(shuffle=False, seed=1),
            ValueError,
            "None when shuffle=False",
        ),
        (
            (np.arange(5), np.arange(5)),
            dict(shuffle=1),
            TypeError,
            "Invalid type for argument shuffle",
        ),
        ((3, np.arange(5)), {}, ValueError, "Expected an array with a sample axis"),
    ],
)
def test_split_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        train_test_split(*args, **kwargs)


# ----------------------------------------------------------------------------
# KFold
# ----------------------------------------------------------------------------


@given(st.integers(2, 40), st.integers(2, 7), st.booleans())
def test_kfold_every_sample_validated_once(n, k, shuffle):
    if n < k:
        n = k
    folds = list(KFold(k, shuffle=shuffle, seed=0 if shuffle else None).split(n))
    assert len(folds) == k
    seen = np.concatenate([val for _, val in folds])
    assert sorted(seen.tolist()) == list(range(n))
    sizes = [len(val) for _, val in folds]
    assert sizes == [n // k + 1] * (n % k) + [n // k] * (k - n % k)  # scikit-learn's rule
    for train, val in folds:
        assert np.intersect1d(train, val).size == 0 and len(train) + len(val) == n
        assert train.dtype == np.int64 and np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_kfold_without_shuffle_is_contiguous_blocks():
    folds = list(KFold(3, shuffle=False).split(np.zeros((7, 2))))
    assert [v.tolist() for _, v in folds] == [[0, 1, 2], [3, 4], [5, 6]]
    assert folds[0][0].tolist() == [3, 4, 5, 6]


def test_kfold_seed_reproducible():
    a = [v.tolist() for _, v in KFold(4, seed=1).split(20)]
    b = [v.tolist() for _, v in KFold(4, seed=1).split(20)]
    c = [v.tolist() for _, v in KFold(4, seed=2).split(20)]
    assert a == b and a != c
    kf = KFold(4, seed=1)
    assert [v.tolist() for _, v in kf.split(20)] == [v.tolist() for _, v in kf.split(20)]
    assert kf.get_n_splits() == 4


@given(st.lists(st.integers(0, 3), min_size=6, max_size=60), st.integers(2, 5), st.booleans())
def test_stratified_kfold_balances_classes(labels, k, shuffle):
    y = np.array(labels)
    if len(y) < k:
        return
    folds = list(
        KFold(k, shuffle=shuffle, seed=7 if shuffle else None, stratified=True).split(len(y), y)
    )
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(len(y)))
    for c in np.unique(y):
        n_c = int(np.sum(y == c))
        per_fold = [int(np.sum(y[v] == c)) for _, v in folds]
        assert sum(per_fold) == n_c
        assert max(per_fold) - min(per_fold) <= 1  # each class spread evenly
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1


def test_stratified_kfold_with_one_hot_labels():
    y = np.repeat([0, 1], [8, 4])
    plain = [v.tolist() for _, v in KFold(4, seed=0, stratified=True).split(12, y)]
    onehot = [v.tolist() for _, v in KFold(4, seed=0, stratified=True).split(12, np.eye(2)[y])]
    assert plain == onehot
    assert all(np.sum(y[v] == 1) == 1 for v in map(np.array, plain))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(n_splits=1), ValueError, "Expected an integer >= 2"),
        (dict(n_splits=2.5), TypeError, "Invalid type for argument n_splits"),
        (dict(shuffle=False, seed=3), ValueError, "None when shuffle=False"),
        (dict(seed="x"), TypeError, "Invalid type for argument seed"),
        (dict(stratified="yes"), TypeError, "Invalid type for argument stratified"),
    ],
)
def test_kfold_constructor_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        KFold(**kwargs)


def test_kfold_split_errors():
    with pytest.raises(ValueError, match="Expected at least n_splits=5 samples. Received 3"):
        list(KFold().split(3))
    with pytest.raises(ValueError, match="Expected class labels when stratified=True"):
        list(KFold(2, stratified=True).split(4))
    with pytest.raises(ValueError, match=r"Expected 4 labels of shape \(4,\)"):
        list(KFold(2, stratified=True).split(4, [0, 1, 0]))
