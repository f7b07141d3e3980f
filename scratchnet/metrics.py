r"""Classification metrics: accuracy, precision, recall, F1 and the confusion matrix.

Two layers, as in Keras:

* plain functions of ``(y_true, y_pred)`` that return a number or a table
  (``categorical_accuracy``, ``confusion_matrix``, ``precision_recall_f1``, ...);
* stateful metric objects for training (``CategoricalAccuracy``, ``Precision``,
  ...): ``update_state(y_true, y_pred)`` per batch accumulates counts,
  ``result()`` gives the value over everything seen since ``reset_state()``.
  Accumulating counts (not averaging per-batch values) makes the epoch result
  exact whatever the batch sizes.

Definitions, per class k, with TP_k, FP_k, FN_k counted over all samples:

    precision_k = TP_k / (TP_k + FP_k)            of the samples predicted k, the share that are k
    recall_k    = TP_k / (TP_k + FN_k)            of the samples that are k, the share predicted k
    F1_k        = 2 · precision_k · recall_k / (precision_k + recall_k)
                = 2·TP_k / (2·TP_k + FP_k + FN_k)  (the harmonic mean, written without divisions)

Zero division gives 0 (scikit-learn's ``zero_division=0``; Keras gets the same
numbers by adding ``epsilon()`` to each denominator, which also shifts every
other result by about 1e-7 relative). Averages over the C classes:

    macro    = (1/C) Σ_k m_k                       every class counts the same
    micro    = m computed from Σ_k TP_k, Σ_k FP_k, Σ_k FN_k
    weighted = Σ_k s_k m_k / Σ_k s_k,  support s_k = TP_k + FN_k

For single-label predictions (argmax), micro precision = micro recall = micro F1 =
accuracy. Reference: Manning, Raghavan, Schütze, "Introduction to Information
Retrieval", 2008, §8.3; Sokolova & Lapalme, "A systematic analysis of
performance measures for classification tasks", 2009.

One name table, ``_METRICS``, maps string identifiers to classes; ``get`` reads it
and resolves "accuracy"/"acc" as Keras' ``compile`` does.
"""

from __future__ import annotations

import numbers
import re

import numpy as np

from scratchnet import _checks

_AVERAGES = ("macro", "micro", "weighted")

# ----------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------


def _nonempty_scores(name: str, y_pred) -> np.ndarray:
    """``y_pred`` as scores (..., C) with at least one sample."""
    arr = _checks.numeric_array(name, y_pred)
    if arr.ndim < 1 or arr.size == 0:
        raise ValueError(
            f"Invalid value for argument {name}. Expected a non-empty array of shape (N, C). "
            f"Received shape {arr.shape}."
        )
    return arr


def _as_int_labels(name: str, arr: np.ndarray, num_classes: int | None) -> np.ndarray:
    """Integer-valued ``arr`` as int64, each in [0, num_classes) when ``num_classes`` is given."""
    if arr.dtype.kind == "f":
        whole = np.isfinite(arr) & (arr == np.round(arr))
        if not np.all(whole):
            raise ValueError(
                f"Invalid value for argument {name}. Expected integer class labels. "
                f"Received a label {arr[~whole].ravel()[0].item()!r}."
            )
    labels = arr.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"Invalid value for argument {name}. Expected labels >= 0. Received a label {labels.min()}."
        )
    if num_classes is not None and labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"Invalid value for argument {name}. Expected labels in [0, {num_classes}). "
            f"Received a label {labels.max()}."
        )
    return labels


def _binary_targets(name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` (0/1 or bool) as a bool array."""
    if not np.all((arr == 0) | (arr == 1)):
        bad = arr[~((arr == 0) | (arr == 1))].ravel()[0]
        raise ValueError(
            f"Invalid value for argument {name}. Expected binary targets (0 or 1). Received a value {bad.item()!r}."
        )
    return arr.astype(bool)


def _same_rank(y_true: np.ndarray, y_pred: np.ndarray):
    """Keras' ``squeeze_or_expand_to_same_rank``: drop a trailing axis of size 1 from the longer one."""
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    elif y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = y_pred[..., 0]
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "Invalid value for argument y_true. Expected the shape of y_pred "
            f"{y_pred.shape}. Received y_true of shape {y_true.shape}."
        )
    return y_true, y_pred


def _sparse_targets(y_true, y_pred: np.ndarray) -> np.ndarray:
    """Integer labels (...,) for scores (..., C): accepts shape (...,) or (..., 1)."""
    arr = _checks.numeric_array("y_true", y_true)
    if arr.shape == y_pred.shape[:-1] + (1,):
        arr = arr[..., 0]
    if arr.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"Invalid value for argument y_true. Expected integer labels of shape {y_pred.shape[:-1]} "
            f"(or {y_pred.shape[:-1] + (1,)}) for y_pred of shape {y_pred.shape}. "
            f"Received shape {arr.shape}."
        )
    return _as_int_labels("y_true", arr, y_pred.shape[-1])


# ----------------------------------------------------------------------------
# Plain functions
# ----------------------------------------------------------------------------


def _categorical_matches(y_true, y_pred) -> np.ndarray:
    y_pred = _nonempty_scores("y_pred", y_pred)
    y_true = _checks.numeric_array("y_true", y_true)
    if y_pred.ndim < 2 or y_true.shape != y_pred.shape:
        raise ValueError(
            "Invalid value for argument y_true. Expected one-hot targets of the shape of y_pred "
            f"(N, C), here {y_pred.shape}. Received y_true of shape {y_true.shape}. "
            "(Integer labels go with sparse_categorical_accuracy.)"
        )
    return np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)  # (N,)


def categorical_accuracy(y_true, y_pred) -> float:
    r"""Share of samples whose predicted class is the true class, for one-hot targets.

    ``mean_n 1[argmax_k y_pred[n, k] == argmax_k y_true[n, k]]``. Ties go to the
    first maximal index (``np.argmax``; TensorFlow's ``argmax`` kernel does the
    same). ``y_true``, ``y_pred``: (N, C) (any leading shape (..., C) works).
    """
    return float(np.mean(_categorical_matches(y_true, y_pred)))


def _sparse_matches(y_true, y_pred) -> np.ndarray:
    y_pred = _nonempty_scores("y_pred", y_pred)
    if y_pred.ndim < 2:
        raise ValueError(
            "Invalid value for argument y_pred. Expected class scores of shape (N, C). "
            f"Received shape {y_pred.shape}."
        )
    return _sparse_targets(y_true, y_pred) == np.argmax(y_pred, axis=-1)  # (N,)


def sparse_categorical_accuracy(y_true, y_pred) -> float:
    r"""Share of samples whose predicted class is the true class, for integer labels.

    ``mean_n 1[argmax_k y_pred[n, k] == y_true[n]]``; ``y_true`` (N,) or (N, 1),
    ``y_pred`` (N, C). Ties: first maximal index. Keras compares labels outside
    [0, C) silently (they never match); here they raise ``ValueError``.
    """
    return float(np.mean(_sparse_matches(y_true, y_pred)))


def _binary_matches(y_true, y_pred, threshold) -> np.ndarray:
    threshold = _checks.number("threshold", threshold)
    y_pred = _nonempty_scores("y_pred", y_pred)
    y_true, y_pred = _same_rank(_checks.numeric_array("y_true", y_true), y_pred)
    return _binary_targets("y_true", y_true) == (y_pred > threshold)


def binary_accuracy(y_true, y_pred, threshold=0.5) -> float:
    r"""Share of entries where ``y_pred > threshold`` agrees with the 0/1 target.

    ``mean_{n,j} 1[1[y_pred[n, j] > t] == y_true[n, j]]`` over every entry (for
    several sigmoid outputs, Keras' mean of per-sample means is the same
    number). The comparison is strict: ``y_pred == threshold`` counts as 0, as
    in Keras. ``y_true`` (N,) and ``y_pred`` (N, 1) are accepted together
    (Keras squeezes the trailing 1).
    """
    return float(np.mean(_binary_matches(y_true, y_pred, threshold)))


def _labels(name: str, y, num_classes: int | None) -> np.ndarray:
    """Class labels (N,) from labels (N,) / (N, 1), or from one-hot / score rows (N, C) by argmax."""
    arr = _checks.numeric_array(name, y)
    if arr.ndim == 2 and arr.shape[1] > 1:
        arr = np.argmax(arr, axis=1)  # (N, C) -> (N,)
    elif arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"Invalid value for argument {name}. Expected class labels (N,) or scores (N, C). "
            f"Received shape {np.shape(y)}."
        )
    return _as_int_labels(name, arr, num_classes)


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    r"""Counts ``M[i, j]`` = number of samples of true class i predicted as class j (int64, (C, C)).

    Rows are true classes, columns predicted classes (scikit-learn's and
    ``tf.math.confusion_matrix``'s layout), so ``M.sum(1)`` is the support of
    each class and ``trace(M) / N`` the accuracy. ``y_true``, ``y_pred``:
    integer labels (N,); one-hot or score rows (N, C) are reduced by argmax.
    ``C = num_classes``, or ``max(max(y_true), max(y_pred)) + 1``.

    Computed in one pass as ``bincount(C · y_true + y_pred)`` reshaped to (C, C).
    """
    if num_classes is not None:
        num_classes = _checks.positive_int("num_classes", num_classes)
    t = _labels("y_true", y_true, num_classes)  # (N,)
    p = _labels("y_pred", y_pred, num_classes)  # (N,)
    if t.shape != p.shape:
        raise ValueError(
            f"Invalid value for argument y_pred. Expected {t.shape[0]} predictions, as many as y_true. "
            f"Received {p.shape[0]}."
        )
    if t.size == 0:
        raise ValueError(
            "Invalid value for argument y_true. Expected at least one sample. Received 0."
        )
    if num_classes is None:
        num_classes = int(max(t.max(), p.max())) + 1
    counts = np.bincount(num_classes * t + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)  # (C, C)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` element-wise, 0 where ``den == 0`` (zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _scores_from_counts(tp, fp, fn, average):
    r"""(precision, recall, F1) from per-class counts (C,); arrays when ``average`` is None, else floats."""
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision = _divide(tp, tp + fp)
    recall = _divide(tp, tp + fn)
    f1 = _divide(2 * tp, 2 * tp + fp + fn)
    if average is None:
        return precision, recall, f1
    if average == "micro":
        return float(precision), float(recall), float(f1)
    if average == "macro":
        return float(precision.mean()), float(recall.mean()), float(f1.mean())
    support = (tp + fn).astype(np.float64)  # (C,)
    weights = _divide(support, support.sum())
    return float(weights @ precision), float(weights @ recall), float(weights @ f1)


def _check_average(average, allow_none=True):
    if average is None and allow_none:
        return None
    return _checks.one_of("average", average, _AVERAGES)


def precision_recall_f1(y_true, y_pred, num_classes=None, average=None):
    r"""Precision, recall and F1 of single-label predictions (formulas in the module docstring).

    Returns ``(precision, recall, f1)``: three float64 arrays (C,) per class when
    ``average`` is None, else three floats (``"macro"``, ``"micro"`` or
    ``"weighted"``). Counts come from the confusion matrix M:
    ``TP_k = M[k, k]``, ``FP_k = Σ_i M[i, k] − M[k, k]``, ``FN_k = Σ_j M[k, j] − M[k, k]``.
    A class with no predicted (or no true) sample gets precision (or recall) 0,
    as scikit-learn's ``zero_division=0``; it still counts in the macro average.
    """
    average = _check_average(average)
    m = confusion_matrix(y_true, y_pred, num_classes)  # (C, C)
    tp = np.diag(m)
    return _scores_from_counts(tp, m.sum(axis=0) - tp, m.sum(axis=1) - tp, average)


def classification_report(y_true, y_pred, num_classes=None, target_names=None, digits=2):
    r"""Per-class precision, recall, F1 and support, plus accuracy and the macro/weighted averages.

    Returns ``(report, text)``: ``report`` is a dict in scikit-learn's
    ``output_dict`` layout (``{name: {"precision", "recall", "f1-score",
    "support"}, "accuracy": float, "macro avg": {...}, "weighted avg": {...}}``);
    ``text`` is the same as a table, ``digits`` decimals.
    """
    digits = _checks.positive_int("digits", digits)
    m = confusion_matrix(y_true, y_pred, num_classes)  # (C, C)
    n_classes = m.shape[0]
    if target_names is None:
        names = [str(k) for k in range(n_classes)]
    else:
        names = [str(t) for t in target_names]
        if len(names) != n_classes:
            raise ValueError(
                f"Invalid value for argument target_names. Expected {n_classes} names, one per class. "
                f"Received {len(names)}."
            )
    tp = np.diag(m)
    fp, fn = m.sum(axis=0) - tp, m.sum(axis=1) - tp
    support = m.sum(axis=1)
    total = int(support.sum())
    p, r, f = _scores_from_counts(tp, fp, fn, None)
    report = {}
    for k, name in enumerate(names):
        report[name] = {
            "precision": float(p[k]),
            "recall": float(r[k]),
            "f1-score": float(f[k]),
            "support": int(support[k]),
        }
    report["accuracy"] = float(np.trace(m) / total)
    for label, avg in (("macro avg", "macro"), ("weighted avg", "weighted")):
        ap, ar, af = _scores_from_counts(tp, fp, fn, avg)
        report[label] = {"precision": ap, "recall": ar, "f1-score": af, "support": total}

    width = max(len("weighted avg"), *(len(n) for n in names))
    head = " " * width + "".join(f"{h:>11}" for h in ("precision", "recall", "f1-score", "support"))
    lines = [head, ""]

    def row(label, values, support_):
        cells = "".join(f"{v:>11.{digits}f}" if v is not None else " " * 11 for v in values)
        return f"{label:>{width}}{cells}{support_:>11}"

    for name in names:
        e = report[name]
        lines.append(row(name, (e["precision"], e["recall"], e["f1-score"]), e["support"]))
    lines += ["", row("accuracy", (None, None, report["accuracy"]), total)]
    for label in ("macro avg", "weighted avg"):
        e = report[label]
        lines.append(row(label, (e["precision"], e["recall"], e["f1-score"]), e["support"]))
    return report, "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------
# Stateful metrics
# ----------------------------------------------------------------------------


class Metric:
    """The protocol of a training metric: ``update_state``, ``result``, ``reset_state``, ``get_config``.

    Subclasses keep plain counters; ``result()`` is a Python float computed from them.
    """

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise _checks.invalid("name", "a non-empty string", name)
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        raise NotImplementedError

    def update_state(self, y_true, y_pred) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments, JSON-able: ``type(m).from_config(m.get_config())`` rebuilds ``m`` (without its state)."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**_checks.config_arguments(cls, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class _MatchRate(Metric):
    """Mean of 0/1 matches over every sample seen: ``result = Σ matches / Σ count`` (0 before any update)."""

    def reset_state(self) -> None:
        self.matches = 0
        self.count = 0

    def _accumulate(self, matches: np.ndarray) -> None:
        self.matches += int(np.count_nonzero(matches))
        self.count += int(matches.size)

    def result(self) -> float:
        return self.matches / self.count if self.count else 0.0


class CategoricalAccuracy(_MatchRate):
    r"""Running ``categorical_accuracy`` over all batches since the last reset: correct / seen."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)

    def update_state(self, y_true, y_pred) -> None:
        self._accumulate(_categorical_matches(y_true, y_pred))


class SparseCategoricalAccuracy(_MatchRate):
    r"""Running ``sparse_categorical_accuracy`` (integer labels): correct / seen."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)

    def update_state(self, y_true, y_pred) -> None:
        self._accumulate(_sparse_matches(y_true, y_pred))


class BinaryAccuracy(_MatchRate):
    r"""Running ``binary_accuracy``: entries with ``1[y_pred > threshold] == y_true`` / entries seen."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = _checks.number("threshold", threshold)
        super().__init__(name)

    def update_state(self, y_true, y_pred) -> None:
        self._accumulate(_binary_matches(y_true, y_pred, self.threshold))

    def get_config(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}


class _ConfusionCounts(Metric):
    r"""Per-class TP, FP, FN accumulated over batches; precision, recall and F1 come from them.

    How ``y_pred`` becomes 0/1 predictions:

    * one output unit, ``y_pred`` (N,) or (N, 1): a binary classifier,
      predicted positive when ``y_pred > threshold`` (0.5 when ``threshold`` is
      None); ``y_true`` holds 0/1. The result is the positive class's score, and
      ``average`` changes nothing.
    * C > 1 outputs, ``threshold=None``: single-label, the argmax class is
      predicted (ties: first index); ``y_true`` is one-hot (N, C) or integer
      labels (N,) / (N, 1). The counts are those of the confusion matrix.
    * C > 1 outputs, a float ``threshold``: multi-label, each entry predicted
      positive when ``y_pred > threshold``; ``y_true`` is 0/1 of shape (N, C).

    Keras differences: ``keras.metrics.Precision``/``Recall`` always threshold
    every entry at 0.5 and pool all entries (that is ``threshold=0.5,
    average="micro"`` here); ``keras.metrics.F1Score`` has ``average=None``
    (a vector) by default and, with ``threshold=None``, marks every entry equal
    to the row maximum (ties give several predictions; a single sigmoid output
    is then always "positive"). Keras adds ``epsilon()`` to denominators.
    """

    def __init__(self, name, average="macro", threshold=None):
        self.average = _check_average(average, allow_none=False)
        self.threshold = None if threshold is None else _checks.number("threshold", threshold)
        super().__init__(name)

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = None  # (C,) int64

    def update_state(self, y_true, y_pred) -> None:
        y_pred = _nonempty_scores("y_pred", y_pred)
        if y_pred.ndim == 1 or y_pred.shape[-1] == 1:  # one sigmoid output
            truth, y_pred = _same_rank(_checks.numeric_array("y_true", y_true), y_pred)
            truth = _binary_targets("y_true", truth).reshape(-1, 1)  # (M, 1)
            t = 0.5 if self.threshold is None else self.threshold
            pred = (y_pred > t).reshape(-1, 1)  # (M, 1)
        else:
            n_classes = y_pred.shape[-1]
            y_true_arr = _checks.numeric_array("y_true", y_true)
            if y_true_arr.shape == y_pred.shape:
                truth = _binary_targets("y_true", y_true_arr)
            else:
                labels = _sparse_targets(y_true_arr, y_pred)  # (...,)
                truth = labels[..., None] == np.arange(n_classes)  # (..., C)
            if self.threshold is None:
                pred = np.argmax(y_pred, axis=-1)[..., None] == np.arange(n_classes)  # (..., C)
            else:
                pred = y_pred > self.threshold
            truth, pred = truth.reshape(-1, n_classes), pred.reshape(-1, n_classes)  # (M, C)
        tp = np.count_nonzero(pred & truth, axis=0)
        fp = np.count_nonzero(pred & ~truth, axis=0)
        fn = np.count_nonzero(~pred & truth, axis=0)
        if self.true_positives is None:
            self.true_positives = np.zeros(tp.shape, np.int64)
            self.false_positives = np.zeros(tp.shape, np.int64)
            self.false_negatives = np.zeros(tp.shape, np.int64)
        elif self.true_positives.shape != tp.shape:
            raise ValueError(
                f"Invalid value for argument y_pred. Expected {self.true_positives.shape[0]} output(s) "
                f"per sample, as in earlier batches. Received shape {y_pred.shape}."
            )
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn

    def _scores(self):
        if self.true_positives is None:
            return 0.0, 0.0, 0.0
        return _scores_from_counts(
            self.true_positives, self.false_positives, self.false_negatives, self.average
        )

    def get_config(self) -> dict:
        return {"name": self.name, "average": self.average, "threshold": self.threshold}


class Precision(_ConfusionCounts):
    r"""Running precision TP / (TP + FP), averaged over classes by ``average`` (see ``_ConfusionCounts``)."""

    def __init__(self, name="precision", average="macro", threshold=None):
        super().__init__(name, average, threshold)

    def result(self) -> float:
        return self._scores()[0]


class Recall(_ConfusionCounts):
    r"""Running recall TP / (TP + FN), averaged over classes by ``average`` (see ``_ConfusionCounts``)."""

    def __init__(self, name="recall", average="macro", threshold=None):
        super().__init__(name, average, threshold)

    def result(self) -> float:
        return self._scores()[1]


class F1Score(_ConfusionCounts):
    r"""Running F1 = 2·TP / (2·TP + FP + FN) per class, averaged by ``average`` (see ``_ConfusionCounts``).

    The macro F1 is the mean of the per-class F1 values (as scikit-learn and
    Keras compute it), not the harmonic mean of macro precision and macro recall.
    """

    def __init__(self, name="f1_score", average="macro", threshold=None):
        super().__init__(name, average, threshold)

    def result(self) -> float:
        return self._scores()[2]


# ----------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------

_METRICS = {
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "precision": Precision,
    "recall": Recall,
    "f1_score": F1Score,
    "f1": F1Score,
}
_FUNCTIONS = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
}
_ACCURACY = ("accuracy", "acc")
_SPARSE_LOSSES = ("sparse_categorical_crossentropy",)
_BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy")


def _snake(name: str) -> str:
    """``"SparseCategoricalAccuracy"`` → ``"sparse_categorical_accuracy"``; snake names are unchanged."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _accuracy_class(loss_name, output_shape, y_true_shape):
    r"""Which accuracy "accuracy" means, following Keras 3's ``compile_utils.get_metric``.

    Keras 3 decides from shapes: one output unit → binary; ``y_true`` of lower rank
    than ``y_pred``, or a trailing 1 against C > 1 outputs → sparse; else
    categorical. When ``y_true_shape`` is unknown, the loss stands in for it:
    sparse categorical cross-entropy means integer labels. A binary
    cross-entropy loss means binary accuracy when the output shape is unknown;
    with C > 1 known outputs (multi-label) Keras 3 picks categorical accuracy,
    and so does this (tf.keras 2 picked binary accuracy from the loss).
    """
    units = None if output_shape is None else output_shape[-1]
    if units == 1:
        return BinaryAccuracy
    if y_true_shape is not None and output_shape is not None:
        sparse = len(y_true_shape) < len(output_shape) or (y_true_shape[-1] == 1 and units > 1)
        return SparseCategoricalAccuracy if sparse else CategoricalAccuracy
    loss = None if loss_name is None else _snake(str(getattr(loss_name, "name", loss_name)))
    if loss in _SPARSE_LOSSES:
        return SparseCategoricalAccuracy
    if loss in _BINARY_LOSSES and units is None:
        return BinaryAccuracy
    return CategoricalAccuracy


def _shape(name, value):
    if value is None:
        return None
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    if not shape or not all(s is None or isinstance(s, numbers.Integral) for s in shape):
        raise _checks.invalid(name, "a non-empty shape tuple or None", value)
    return shape


def get(identifier, loss_name=None, output_shape=None, y_true_shape=None):
    r"""A metric object from a name, a dict config, a metric function, a class or an instance.

    * ``"accuracy"`` / ``"acc"``: the accuracy Keras' ``compile`` would pick (see
      ``_accuracy_class``) from ``loss_name``, ``output_shape`` (with or without
      the batch axis) and, when known, ``y_true_shape`` (given the same way);
      the metric is named as written, so the history has ``"accuracy"``.
    * other strings (snake or CamelCase, e.g. ``"precision"``, ``"F1Score"``,
      ``"f1"``): a new object of ``_METRICS[name]`` named as written.
    * ``{"class_name": ..., "config": {...}}``: ``cls.from_config(config)``.
    * ``categorical_accuracy`` etc. (this module's functions): the matching class.
    * a metric class: a new instance with default arguments; an instance: itself.
    * ``None``: ``None`` (no metric).
    """
    if identifier is None or isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        if identifier in (Metric, _MatchRate, _ConfusionCounts):
            raise _checks.invalid("identifier", "a concrete metric class", identifier)
        return identifier()
    if isinstance(identifier, dict):
        if set(identifier) != {"class_name", "config"} or not isinstance(
            identifier["config"], dict
        ):
            raise _checks.invalid(
                "identifier", "a dict {'class_name': ..., 'config': {...}}", identifier
            )
        key = _snake(str(identifier["class_name"]))
        if key not in _METRICS:
            raise _checks.invalid("identifier", f"a class_name among {tuple(_METRICS)}", identifier)
        return _METRICS[key].from_config(identifier["config"])
    if callable(identifier) and _FUNCTIONS.get(getattr(identifier, "__name__", None)) is identifier:
        return _METRICS[identifier.__name__]()
    if isinstance(identifier, str):
        output_shape = _shape("output_shape", output_shape)
        y_true_shape = _shape("y_true_shape", y_true_shape)
        if identifier.lower() in _ACCURACY:
            return _accuracy_class(loss_name, output_shape, y_true_shape)(name=identifier)
        key = _snake(identifier)
        if key in _METRICS:
            return _METRICS[key](name=identifier)
    raise _checks.invalid(
        "identifier", f"a metric name among {('accuracy', 'acc') + tuple(_METRICS)}", identifier
    )
