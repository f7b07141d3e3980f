"""Tests for scratchnet.metrics: known values, brute-force loops, Keras reference values, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchnet import metrics as M

# Small example used throughout: 4 samples, 3 classes.
Y_TRUE = np.eye(3)[[0, 1, 2, 1]]
Y_PRED = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.5, 0.4, 0.1]])
LABELS = np.array([0, 1, 2, 1])

# Reference values printed by Keras 3.15 (TF 2.21) for Y_TRUE, Y_PRED (float32 results).
KERAS = {
    ("Precision", "keras-default"): 0.6666666865348816,
    ("Recall", "keras-default"): 0.5,
    ("F1Score", "macro"): 0.3888888359069824,
    ("F1Score", "micro"): 0.4999999403953552,
    ("F1Score", "weighted"): 0.4166666269302368,
}


def scores_strategy(max_n=12, max_c=5):
    return st.integers(1, max_n).flatmap(
        lambda n: st.integers(2, max_c).flatmap(
            lambda c: st.tuples(
                hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)),
                hnp.arrays(
                    np.float64, (n, c), elements=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 1.0])
                ),
            )
        )
    )


# ----------------------------------------------------------------------------
# Accuracy functions
# ----------------------------------------------------------------------------


def test_accuracy_known_values():
    assert M.categorical_accuracy(Y_TRUE, Y_PRED) == 0.5
    assert M.sparse_categorical_accuracy(LABELS, Y_PRED) == 0.5
    assert M.sparse_categorical_accuracy(LABELS[:, None], Y_PRED) == 0.5
    assert M.sparse_categorical_accuracy(LABELS.astype(np.float32), Y_PRED) == 0.5


def test_argmax_ties_go_to_the_first_index():
    # Keras gives 0.0 here: [0.4, 0.4, 0.2] predicts class 0, not 1.
    y_true = np.array([[0, 1, 0], [1, 0, 0]])
    y_pred = np.array([[0.4, 0.4, 0.2], [0.3, 0.3, 0.4]])
    assert M.categorical_accuracy(y_true, y_pred) == 0.0
    assert M.sparse_categorical_accuracy([0, 2], y_pred) == 1.0


@given(scores_strategy())
def test_accuracy_against_a_loop(data):
    labels, scores = data
    correct = 0
    for i in range(len(labels)):
        best = 0
        for k in range(scores.shape[1]):
            if scores[i, k] > scores[i, best]:
                best = k
        correct += best == labels[i]
    expected = correct / len(labels)
    assert M.sparse_categorical_accuracy(labels, scores) == expected
    assert M.categorical_accuracy(np.eye(scores.shape[1])[labels], scores) == expected


def test_binary_accuracy_threshold_is_strict():
    y_true = np.array([1, 0, 1, 0])
    y_pred = np.array([[0.5], [0.5], [0.51], [0.2]])
    assert M.binary_accuracy(y_true, y_pred) == 0.75  # Keras: 0.75 (0.5 counts as 0)
    assert M.binary_accuracy(y_true[:, None], y_pred) == 0.75
    assert M.binary_accuracy(y_true, y_pred[:, 0]) == 0.75
    assert M.binary_accuracy(y_true, y_pred, threshold=0.55) == 0.5
    assert M.binary_accuracy([[1, 0], [0, 0]], [[0.9, 0.9], [0.1, 0.1]]) == 0.75  # per entry


def test_inputs_not_mutated_and_layout_free():
    y_pred = np.asfortranarray(Y_PRED)
    y_pred.flags.writeable = False
    before = y_pred.copy()
    assert M.categorical_accuracy(Y_TRUE[::-1][::-1], y_pred) == 0.5
    np.testing.assert_array_equal(y_pred, before)


@pytest.mark.parametrize(
    "fn, args, error, match",
    [
        (
            M.categorical_accuracy,
            (LABELS, Y_PRED),
            ValueError,
            r"Expected one-hot targets .*sparse_categorical_accuracy",
        ),
        (
            M.categorical_accuracy,
            (Y_TRUE, np.zeros((0, 3))),
            ValueError,
            "Expected a non-empty array",
        ),
        (
            M.categorical_accuracy,
            (Y_TRUE, [["a"] * 3] * 4),
            TypeError,
            "Invalid dtype for argument y_pred",
        ),
        (
            M.sparse_categorical_accuracy,
            ([0, 1, 3, 1], Y_PRED),
            ValueError,
            r"labels in \[0, 3\). Received a label 3",
        ),
        (
            M.sparse_categorical_accuracy,
            ([0, -1, 2, 1], Y_PRED),
            ValueError,
            "Expected labels >= 0",
        ),
        (
            M.sparse_categorical_accuracy,
            ([0, 1.5, 2, 1], Y_PRED),
            ValueError,
            "Received a label 1.5",
        ),
        (
            M.sparse_categorical_accuracy,
            ([0, 1], Y_PRED),
            ValueError,
            r"shape \(4,\) .*Received shape \(2,\)",
        ),
        (
            M.sparse_categorical_accuracy,
            (LABELS, LABELS),
            ValueError,
            r"Expected class scores of shape \(N, C\)",
        ),
        (
            M.binary_accuracy,
            ([1, 0], [[0.2], [0.3], [0.4]]),
            ValueError,
            "Invalid value for argument y_true",
        ),
        (
            M.binary_accuracy,
            ([1, 2], [0.2, 0.3]),
            ValueError,
            r"binary targets \(0 or 1\). Received a value 2",
        ),
        (
            M.binary_accuracy,
            ([1, 0], [0.2, 0.3], "x"),
            TypeError,
            "Invalid type for argument threshold",
        ),
    ],
)
def test_accuracy_errors(fn, args, error, match):
    with pytest.raises(error, match=match):
        fn(*args)


# ----------------------------------------------------------------------------
# Confusion matrix, precision / recall / F1, report
# ----------------------------------------------------------------------------


def test_confusion_matrix_known_values():
    m = M.confusion_matrix([0, 1, 2, 1, 0], [0, 1, 1, 1, 2])
    np.testing.assert_array_equal(m, [[1, 0, 1], [0, 2, 0], [0, 1, 0]])  # rows true, cols predicted
    assert m.dtype == np.int64
    assert M.confusion_matrix([0, 1], [1, 1], num_classes=4).shape == (4, 4)
    np.testing.assert_array_equal(
        M.confusion_matrix(Y_TRUE, Y_PRED), M.confusion_matrix(LABELS, Y_PRED.argmax(1))
    )


@given(scores_strategy())
def test_confusion_matrix_and_scores_against_loops(data):
    labels, scores = data
    c = scores.shape[1]
    pred = scores.argmax(1)
    m = np.zeros((c, c), dtype=int)
    for t, p in zip(labels, pred, strict=True):
        m[t, p] += 1
    np.testing.assert_array_equal(M.confusion_matrix(labels, pred, num_classes=c), m)

    def ratio(a, b):
        return a / b if b else 0.0

    tp = [sum(1 for t, p in zip(labels, pred, strict=True) if t == p == k) for k in range(c)]
    fp = [sum(1 for t, p in zip(labels, pred, strict=True) if p == k != t) for k in range(c)]
    fn = [sum(1 for t, p in zip(labels, pred, strict=True) if t == k != p) for k in range(c)]
    prec = [ratio(tp[k], tp[k] + fp[k]) for k in range(c)]
    rec = [ratio(tp[k], tp[k] + fn[k]) for k in range(c)]
    f1 = [
        ratio(2 * prec[k] * rec[k], prec[k] + rec[k]) for k in range(c)
    ]  # the textbook harmonic mean
    p, r, f = M.precision_recall_f1(labels, pred, num_classes=c)
    np.testing.assert_allclose(p, prec, rtol=1e-12)
    np.testing.assert_allclose(r, rec, rtol=1e-12)
    np.testing.assert_allclose(f, f1, rtol=1e-12, atol=1e-15)
    assert M.precision_recall_f1(labels, pred, c, "macro") == pytest.approx(
        (np.mean(prec), np.mean(rec), np.mean(f1))
    )
    support = np.array(tp) + np.array(fn)
    w = support / support.sum()
    assert M.precision_recall_f1(labels, pred, c, "weighted") == pytest.approx(
        (w @ prec, w @ rec, w @ f1)
    )
    acc = float(np.mean(labels == pred))
    assert M.precision_recall_f1(labels, pred, c, "micro") == pytest.approx((acc, acc, acc))


def test_precision_recall_f1_known_values_and_zero_division():
    p, r, f = M.precision_recall_f1([0, 1, 2, 1, 0], [0, 1, 1, 1, 2])
    np.testing.assert_allclose(p, [1.0, 2 / 3, 0.0])
    np.testing.assert_allclose(r, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(f, [2 / 3, 0.8, 0.0])
    # Class 3 is never true nor predicted: 0/0 -> 0, and it still counts in the macro mean.
    p, r, f = M.precision_recall_f1([0, 1], [0, 1], num_classes=3)
    assert p.tolist() == [1.0, 1.0, 0.0] and r.tolist() == [1.0, 1.0, 0.0]
    assert M.precision_recall_f1([0, 1], [0, 1], num_classes=3, average="macro") == pytest.approx(
        (2 / 3,) * 3
    )
    assert M.precision_recall_f1([0, 1], [0, 1], num_classes=3, average="weighted") == (
        1.0,
        1.0,
        1.0,
    )


def test_classification_report():
    report, text = M.classification_report(
        [0, 1, 2, 1, 0], [0, 1, 1, 1, 2], target_names=["a", "b", "c"]
    )
    assert report["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1-score": pytest.approx(2 / 3),
        "support": 2,
    }
    assert report["accuracy"] == 0.6
    assert report["macro avg"]["precision"] == pytest.approx((1 + 2 / 3) / 3)
    assert report["weighted avg"]["recall"] == pytest.approx(0.6)
    assert report["macro avg"]["support"] == 5
    json.dumps(report)  # plain Python numbers
    lines = text.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["a", "1.00", "0.50", "0.67", "2"]
    assert "    accuracy" in text and lines[-2].split() == [
        "macro",
        "avg",
        "0.56",
        "0.50",
        "0.49",
        "5",
    ]
    _, text4 = M.classification_report([0, 1], [0, 1], digits=4)
    assert "1.0000" in text4
    with pytest.raises(ValueError, match="Expected 3 names, one per class. Received 2"):
        M.classification_report([0, 1, 2], [0, 1, 2], target_names=["a", "b"])


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        (([0, 1], [0]), {}, ValueError, "Expected 2 predictions, as many as y_true. Received 1"),
        (([], []), {}, ValueError, "Expected at least one sample"),
        (([0, 5], [0, 1]), dict(num_classes=3), ValueError, r"labels in \[0, 3\)"),
        (
            ([0, 1], [0, 1]),
            dict(num_classes=0),
            ValueError,
            "Invalid value for argument num_classes",
        ),
        (
            ([0, 1], [0, 1]),
            dict(average="mean"),
            ValueError,
            "Expected one of \\('macro', 'micro', 'weighted'\\)",
        ),
        (
            (np.zeros((2, 2, 2)), [0, 1]),
            {},
            ValueError,
            r"Expected class labels \(N,\) or scores \(N, C\)",
        ),
    ],
)
def test_precision_recall_f1_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        M.precision_recall_f1(*args, **kwargs)


# ----------------------------------------------------------------------------
# Stateful metrics
# ----------------------------------------------------------------------------


@given(scores_strategy(max_n=20), st.integers(1, 6))
def test_stateful_metrics_accumulate_exactly_over_batches(data, batch):
    labels, scores = data
    one_hot = np.eye(scores.shape[1])[labels]
    objs = [
        M.CategoricalAccuracy(),
        M.SparseCategoricalAccuracy(),
        M.Precision(),
        M.Recall(),
        M.F1Score(),
    ]
    targets = [one_hot, labels, labels, one_hot, labels]
    for start in range(0, len(labels), batch):
        for obj, target in zip(objs, targets, strict=True):
            obj.update_state(target[start : start + batch], scores[start : start + batch])
    acc = M.sparse_categorical_accuracy(labels, scores)
    assert objs[0].result() == acc and objs[1].result() == acc
    p, r, f = M.precision_recall_f1(labels, scores, num_classes=scores.shape[1], average="macro")
    assert (objs[2].result(), objs[3].result(), objs[4].result()) == pytest.approx(
        (p, r, f), abs=1e-15
    )


def test_reset_and_empty_results():
    m = M.CategoricalAccuracy()
    assert m.result() == 0.0
    m.update_state(Y_TRUE, Y_PRED)
    assert m.result() == 0.5
    m.reset_state()
    assert m.result() == 0.0
    p = M.Precision()
    assert p.result() == 0.0
    p.update_state(Y_TRUE, Y_PRED)
    p.reset_state()
    p.update_state([[1]], [[0.9]])  # after a reset a different output width is fine
    assert p.result() == 1.0


def test_precision_recall_f1_match_keras_reference_values():
    for cls, key in ((M.Precision, "Precision"), (M.Recall, "Recall")):
        m = cls(
            threshold=0.5, average="micro"
        )  # Keras' Precision/Recall: every entry vs 0.5, pooled
        m.update_state(Y_TRUE, Y_PRED)
        assert m.result() == pytest.approx(KERAS[(key, "keras-default")], rel=1e-6)
    for average in ("macro", "micro", "weighted"):
        m = M.F1Score(average=average)
        m.update_state(Y_TRUE, Y_PRED)
        assert m.result() == pytest.approx(KERAS[("F1Score", average)], rel=1e-6)
    # The example of Keras' F1Score docstring: per class [0.5, 0.8, 0.6666667], macro 0.6555555.
    m = M.F1Score(threshold=0.5)
    m.update_state(
        np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]]),
        np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]]),
    )
    assert m.result() == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


def test_average_and_threshold_change_the_result():
    results = {}
    for average in ("macro", "micro", "weighted"):
        m = M.Precision(average=average)
        m.update_state(LABELS, Y_PRED)
        results[average] = m.result()
    assert results == pytest.approx({"macro": 1 / 3, "micro": 0.5, "weighted": 0.375})
    m = M.Precision(threshold=0.25)  # multi-label: every entry > 0.25 is a prediction
    m.update_state(Y_TRUE, Y_PRED)
    assert m.result() == pytest.approx(np.mean([1 / 2, 2 / 4, 1 / 1]))


@given(
    hnp.arrays(np.int64, (9, 3), elements=st.integers(0, 1)),
    hnp.arrays(np.float64, (9, 3), elements=st.floats(0, 1)),
)
def test_multilabel_counts_against_a_loop(truth, scores):
    m = M.Recall(threshold=0.4, average="micro")
    m.update_state(truth, scores)
    tp = fn = 0
    for i in range(9):
        for k in range(3):
            tp += truth[i, k] == 1 and scores[i, k] > 0.4
            fn += truth[i, k] == 1 and not scores[i, k] > 0.4
    assert m.result() == (tp / (tp + fn) if tp + fn else 0.0)


def test_single_sigmoid_output_is_binary():
    y_true = np.array([1, 0, 1, 1, 0])
    y_pred = np.array([[0.9], [0.6], [0.4], [0.7], [0.1]])
    p, r, f = M.Precision(), M.Recall(), M.F1Score(average="micro")
    for m in (p, r, f):
        m.update_state(y_true, y_pred)
    assert p.result() == pytest.approx(2 / 3) and r.result() == pytest.approx(2 / 3)
    assert f.result() == pytest.approx(2 / 3)
    b = M.BinaryAccuracy(threshold=0.65)
    b.update_state(y_true, y_pred)
    assert b.result() == pytest.approx(4 / 5)
    p2 = M.Precision(threshold=0.65)
    p2.update_state(y_true, y_pred)
    assert p2.result() == 1.0


def test_stateful_errors():
    m = M.Precision()
    m.update_state(Y_TRUE, Y_PRED)
    with pytest.raises(
        ValueError, match=r"Expected 3 output\(s\) per sample, as in earlier batches"
    ):
        m.update_state(np.eye(4)[[0, 1]], np.eye(4)[[0, 1]])
    with pytest.raises(ValueError, match="Expected binary targets"):
        M.Recall().update_state(Y_TRUE * 2, Y_PRED)
    with pytest.raises(ValueError, match="Invalid value for argument average"):
        M.F1Score(average=None)
    with pytest.raises(TypeError, match="Invalid type for argument threshold"):
        M.BinaryAccuracy(threshold="0.5")
    with pytest.raises(ValueError, match="Invalid value for argument name"):
        M.CategoricalAccuracy(name="")


def test_get_config_round_trip():
    for m in (
        M.CategoricalAccuracy("ca"),
        M.BinaryAccuracy("b", 0.3),
        M.F1Score("f", "weighted", 0.2),
    ):
        config = json.loads(json.dumps(m.get_config()))
        clone = type(m).from_config(config)
        assert clone.get_config() == m.get_config()
    assert M.Precision().get_config() == {
        "name": "precision",
        "average": "macro",
        "threshold": None,
    }


# ----------------------------------------------------------------------------
# Name resolution
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, cls",
    [
        (
            dict(loss_name="sparse_categorical_crossentropy", output_shape=(None, 10)),
            M.SparseCategoricalAccuracy,
        ),
        (dict(loss_name="SparseCategoricalCrossentropy"), M.SparseCategoricalAccuracy),
        (dict(loss_name="categorical_crossentropy", output_shape=(10,)), M.CategoricalAccuracy),
        (dict(loss_name="binary_crossentropy"), M.BinaryAccuracy),
        (dict(loss_name="binary_crossentropy", output_shape=(None, 1)), M.BinaryAccuracy),
        (
            dict(loss_name="mse", output_shape=(1,)),
            M.BinaryAccuracy,
        ),  # one unit: binary, whatever the loss
        (
            dict(loss_name="binary_crossentropy", output_shape=(None, 3)),
            M.CategoricalAccuracy,
        ),  # Keras 3
        (
            dict(loss_name="mse", output_shape=(None, 3), y_true_shape=(None,)),
            M.SparseCategoricalAccuracy,
        ),
        (dict(output_shape=(None, 3), y_true_shape=(None, 1)), M.SparseCategoricalAccuracy),
        (
            dict(
                loss_name="sparse_categorical_crossentropy",
                output_shape=(None, 3),
                y_true_shape=(None, 3),
            ),
            M.CategoricalAccuracy,
        ),
        ({}, M.CategoricalAccuracy),
    ],
)
def test_accuracy_resolves_as_keras_compile(kwargs, cls):
    for name in ("accuracy", "acc"):
        m = M.get(name, **kwargs)
        assert type(m) is cls and m.name == name


def test_get_names_objects_and_configs():
    assert type(M.get("precision")) is M.Precision and M.get("precision").name == "precision"
    assert type(M.get("recall")) is M.Recall
    f1 = M.get("f1")
    assert type(f1) is M.F1Score and f1.name == "f1"
    assert type(M.get("F1Score")) is M.F1Score and type(M.get("f1_score")) is M.F1Score
    assert type(M.get("SparseCategoricalAccuracy")) is M.SparseCategoricalAccuracy
    assert M.get("binary_accuracy").name == "binary_accuracy"
    assert type(M.get(M.categorical_accuracy)) is M.CategoricalAccuracy
    assert type(M.get(M.Recall)) is M.Recall
    m = M.Precision("p", "micro")
    assert M.get(m) is m
    assert M.get(None) is None
    clone = M.get({"class_name": "Precision", "config": m.get_config()})
    assert type(clone) is M.Precision and clone.get_config() == m.get_config()


@pytest.mark.parametrize(
    "identifier, kwargs, error, match",
    [
        (
            "auc",
            {},
            ValueError,
            "Invalid value for argument identifier. Expected a metric name among",
        ),
        (3, {}, ValueError, "Received identifier=3"),
        (len, {}, ValueError, "Invalid value for argument identifier"),
        ({"class_name": "Nope", "config": {}}, {}, ValueError, "a class_name among"),
        ({"name": "precision"}, {}, ValueError, r"Expected a dict \{'class_name'"),
        (M.Metric, {}, ValueError, "a concrete metric class"),
        ("accuracy", dict(output_shape=3), ValueError, "Invalid value for argument output_shape"),
    ],
)
def test_get_errors(identifier, kwargs, error, match):
    with pytest.raises(error, match=match):
        M.get(identifier, **kwargs)
