r"""Loss functions and their hand-derived gradients, as Keras 3 (TensorFlow backend) computes them.

Every loss is a pair of plain functions, like the activations:

* ``loss_fn(y_true, y_pred, **flags) -> per-sample losses`` of shape
  ``y_pred.shape[:-1]`` (``(N,)`` for the usual ``(N, C)`` output), and
* ``loss_fn_backward(y_true, y_pred, dloss, **flags) -> dy_pred``, the
  vector-Jacobian product :math:`\partial (\sum_n dloss_n \ell_n) / \partial y_{pred}`,
  shape and dtype of ``y_pred``.

The classes (``CategoricalCrossentropy``, ...) hold the flags and reduce with
Keras' default ``"sum_over_batch_size"``: the mean of the per-sample losses,
:math:`L = \frac{1}{N}\sum_n \ell_n`, so ``loss.gradient`` is the VJP with
:math:`dloss_n = 1/N`.

What Keras does that a textbook does not (each is derived in its function):

* Probabilities are clipped to :math:`[\epsilon, 1-\epsilon]`, :math:`\epsilon` =
  ``config.epsilon()`` = 1e-7, before the log, and the clipped entries get a zero
  gradient; categorical cross-entropy first renormalises each row to sum 1;
  sparse cross-entropy does not renormalise but feeds :math:`\log p` to a
  softmax cross-entropy, which renormalises *after* clipping.
* A model whose last layer is a softmax (or sigmoid) is trained on the fused
  "from logits" loss, never on the clipped probabilities: Keras tags the
  softmax output with its logits and the TF backend switches path. Measured
  with TF 2.21 / Keras 3.15: logits ``[0, 200]`` with label ``[1, 0]`` give a
  loss of 200.0 through a softmax layer, but 16.118 (:math:`= -\log 10^{-7}`)
  when the same probabilities are passed as a plain tensor.

Computation happens in the dtype of ``y_pred`` (float32 unless it is float64);
integer predictions are cast to ``config.floatx()``. Reference for the
cross-entropy/softmax algebra: Goodfellow, Bengio & Courville, *Deep Learning*
(2016), §6.2.2.3; Bishop, *Pattern Recognition and Machine Learning* (2006), §4.3.4.
Keras source: ``keras/src/losses/losses.py``, ``keras/src/backend/tensorflow/nn.py``.

String identifiers live in one explicit table, ``_LOSSES``, at the bottom of
this file; ``get`` reads it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from scratchnet import _checks, activations, config

# --------------------------------------------------------------------------- helpers

# Underflow is not an error in a loss: exp of a very negative logit *is* 0 (or a subnormal),
# and so is a tiny softmax entry times 1/N. Every public loss function is decorated with
# @np.errstate(under="ignore") and lets it happen quietly, also under np.errstate(all="raise");
# overflow, 0/0 and log(0) still raise there.


def _pred_array(y_pred) -> np.ndarray:
    """``y_pred`` as a float array: its own float dtype, or ``floatx()`` for lists, ints and bools (as Keras)."""
    is_float = isinstance(y_pred, np.ndarray) and y_pred.dtype.kind == "f"
    arr = _checks.float_array("y_pred", y_pred, y_pred.dtype if is_float else config.floatx())
    if arr.ndim < 1:
        raise ValueError(
            "Invalid value for argument y_pred. Expected an array of rank >= 1 "
            f"(batch, ..., classes). Received y_pred.shape={arr.shape}."
        )
    return arr


def _true_array(y_true, dtype) -> np.ndarray:
    """``y_true`` cast to ``dtype`` (Keras casts the targets to the prediction dtype)."""
    return _checks.float_array("y_true", y_true, dtype)


def _same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> np.ndarray:
    """``y_true`` with the shape of ``y_pred``; a rank-1 ``(N,)`` target is expanded for an ``(N, 1)`` output, as Keras does."""
    if y_true.ndim == 1 and y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_true = y_true[:, None]  # (N, 1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"Invalid value for argument y_true. Expected the shape of y_pred {y_pred.shape} "
            f"for {loss}. Received y_true.shape={y_true.shape}."
        )
    return y_true


def _label_smoothing(value) -> float:
    return _checks.unit_interval("label_smoothing", value, closed_right=True)


def _clip_bounds(dtype) -> tuple[np.ndarray, np.ndarray]:
    r"""Keras' clip bounds :math:`\epsilon` and :math:`1-\epsilon` in ``dtype`` (1 − 1e-7 is 0.99999988 in float32)."""
    eps = config.epsilon()
    return np.asarray(eps, dtype=dtype), np.asarray(1.0 - eps, dtype=dtype)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    r"""Stable log-softmax over the last axis: :math:`z_i - m - \log\sum_j e^{z_j - m}`, :math:`m = \max_j z_j`."""
    shifted = z - np.max(z, axis=-1, keepdims=True)  # (..., C), max entry 0
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _smooth_categorical(y: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Keras' label smoothing for C classes: ``y (1 - ls) + ls / C``."""
    if not label_smoothing:
        return y
    num_classes = y.shape[-1]
    return y * (1.0 - label_smoothing) + label_smoothing / num_classes


def _sparse_labels(y_true, pred_shape: tuple[int, ...]) -> np.ndarray:
    """Integer class indices of shape ``pred_shape[:-1]``; a trailing axis of 1 is squeezed, as Keras does."""
    labels = np.asarray(y_true)
    if labels.dtype.kind not in "biuf":
        raise TypeError(
            "Invalid dtype for argument y_true. Expected integer class labels. "
            f"Received an array of dtype {labels.dtype}."
        )
    if labels.ndim == len(pred_shape) and labels.shape[-1] == 1:
        labels = labels[..., 0]  # (N, ...) from (N, ..., 1)
    if labels.shape != pred_shape[:-1]:
        raise ValueError(
            "Invalid value for argument y_true. Expected integer class labels of shape "
            f"{pred_shape[:-1]} (or {pred_shape[:-1] + (1,)}) for y_pred of shape "
            f"{pred_shape} in sparse_categorical_crossentropy. Received y_true.shape={labels.shape}."
        )
    num_classes = pred_shape[-1]
    if labels.size:
        if labels.dtype.kind == "f" and not (
            np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
        ):
            raise ValueError(
                "Invalid value for argument y_true. Expected integer class labels for "
                "sparse_categorical_crossentropy (Keras would truncate them). "
                "Received non-integer values."
            )
        low, high = labels.min(), labels.max()
        if low < 0 or high >= num_classes:
            raise ValueError(
                "Invalid value for argument y_true. Expected class labels in "
                f"[0, {num_classes}) for {num_classes} classes. "
                f"Received labels from {low} to {high}."
            )
    return labels.astype(np.intp)


def _one_hot(labels: np.ndarray, num_classes: int, dtype) -> np.ndarray:
    """``labels`` (N, ...) as one-hot rows (N, ..., C)."""
    return (labels[..., None] == np.arange(num_classes)).astype(dtype)


# --------------------------------------------------------------------------- categorical CE


@np.errstate(under="ignore")
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    r"""Categorical cross-entropy per sample, :math:`\ell_n = -\sum_i y_{ni} \log p_{ni}`.

    Shapes: ``y_true`` and ``y_pred`` ``(N, ..., C)``; returns ``(N, ...)``.
    Label smoothing first: :math:`y \leftarrow y(1 - ls) + ls/C`.

    **from_logits=True** (``y_pred`` are logits :math:`z`): the stable log-softmax
    :math:`\log p_i = z_i - m - \log\sum_j e^{z_j - m}`, :math:`m = \max_j z_j`,
    and :math:`\ell = -\sum_i y_i \log p_i` (TF's ``softmax_cross_entropy_with_logits``).

    **from_logits=False** (``y_pred`` are probabilities), exactly as Keras' TF backend:

    .. math::
        s = \sum_j p_j,\quad q_i = p_i / s,\quad c_i = \mathrm{clip}(q_i, \epsilon, 1-\epsilon),
        \quad \ell = -\sum_i y_i \log c_i.

    Keras deviates from the textbook :math:`-\sum y \log p` twice: it renormalises
    (a row that does not sum to 1 is rescaled, not penalised) and clips, so the
    loss is bounded by :math:`-\log\epsilon \approx 16.118` per unit of label
    mass. The logits path has no such bound: logits ``[0, 200]`` with label
    ``[1, 0]`` give 200 there and 16.118 here. A Keras model ending in a softmax
    layer always takes the logits path (see ``categorical_crossentropy_backward``).
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    label_smoothing = _label_smoothing(label_smoothing)
    y_pred = _pred_array(y_pred)  # (N, ..., C)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "categorical_crossentropy")
    y = _smooth_categorical(y, label_smoothing)  # (N, ..., C)
    if from_logits:
        return -np.sum(y * _log_softmax(y_pred), axis=-1)  # (N, ...)
    low, high = _clip_bounds(y_pred.dtype)
    q = y_pred / np.sum(y_pred, axis=-1, keepdims=True)  # (N, ..., C) rows sum to 1
    c = np.clip(q, low, high)  # (N, ..., C)
    return -np.sum(y * np.log(c), axis=-1)  # (N, ...)


@np.errstate(under="ignore")
def categorical_crossentropy_backward(
    y_true, y_pred, dloss, from_logits=False, label_smoothing=0.0
):
    r"""VJP of ``categorical_crossentropy``: :math:`\partial(\sum_n dloss_n\,\ell_n)/\partial y_{pred}`.

    Shapes: ``y_true``, ``y_pred`` ``(N, ..., C)``, ``dloss`` ``(N, ...)``; returns ``(N, ..., C)``.
    Below, one row (drop n) and :math:`g = dloss_n`.

    **Logits path.** :math:`\ell = -\sum_i y_i (z_i - \log\sum_j e^{z_j})`, so in index form

    .. math:: \partial\ell/\partial z_k = -y_k + \Big(\sum_i y_i\Big)\,\mathrm{softmax}(z)_k,

    and in matrix form ``dz = g * (softmax(z) * sum(y) - y)``. For targets whose
    rows sum to 1 (one-hot, label-smoothed, any distribution) this is the familiar
    :math:`\mathrm{softmax}(z) - y`, and with :math:`g = 1/N` it is exactly the
    fused softmax + cross-entropy gradient :math:`(\mathrm{softmax}(z) - y)/N`
    that Keras trains with when the last layer is a softmax: Keras tags the
    softmax output with its logits, the loss switches to ``from_logits=True``, and
    the gradient flows straight to the pre-activation :math:`z`, never through
    the clipped log. scratchnet's model does the same: it swaps in the
    ``from_logits=True`` loss and calls ``backward(dz, wrt_preactivation=True)``.
    (TF's kernel returns :math:`\mathrm{softmax}(z) - y` even when the rows of
    :math:`y` do not sum to 1; then it is not the derivative of its own loss. We
    return the true derivative, which agrees whenever the rows sum to 1.)

    **Probability path.** With :math:`s, q, c` as in the forward pass and
    :math:`\mathbb{1}_i = [\epsilon \le q_i \le 1-\epsilon]` (TF's ``clip_by_value``
    passes the gradient at the bounds themselves and zeroes it outside):

    .. math::
        a_i = \partial\ell/\partial q_i = -\mathbb{1}_i\, y_i / c_i, \qquad
        \partial q_i/\partial p_k = \delta_{ik}/s - p_i/s^2 = (\delta_{ik} - q_i)/s,

    .. math:: \partial\ell/\partial p_k = \sum_i a_i (\delta_{ik} - q_i)/s = \Big(a_k - \sum_i a_i q_i\Big)/s.

    Matrix form: ``a = where(inside, -y / c, 0)``;
    ``dp = g * (a - sum(a * q, -1, keepdims=True)) / s``. A clipped :math:`q_i` adds
    nothing through its own log (:math:`a_i = 0`), but :math:`p_i` still gets a
    gradient through the row sum :math:`s` (e.g. ``p = [0, 0.5, 0.5]``, ``y = [0, 1, 0]``
    gives :math:`\partial\ell/\partial p_0 = 1`).
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    label_smoothing = _label_smoothing(label_smoothing)
    y_pred = _pred_array(y_pred)  # (N, ..., C)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "categorical_crossentropy")
    y = _smooth_categorical(y, label_smoothing)  # (N, ..., C)
    g = _upstream(dloss, y_pred)[..., None]  # (N, ..., 1)
    if from_logits:
        total = np.sum(y, axis=-1, keepdims=True)  # (N, ..., 1), 1 for one-hot rows
        return g * (activations.softmax(y_pred) * total - y)  # (N, ..., C)
    low, high = _clip_bounds(y_pred.dtype)
    s = np.sum(y_pred, axis=-1, keepdims=True)  # (N, ..., 1)
    q = y_pred / s  # (N, ..., C)
    c = np.clip(q, low, high)  # (N, ..., C), >= eps so -y / c is finite
    inside = (q >= low) & (q <= high)
    a = np.where(inside, -y / c, 0.0).astype(y_pred.dtype, copy=False)  # dℓ/dq
    return g * (a - np.sum(a * q, axis=-1, keepdims=True)) / s  # (N, ..., C)


# --------------------------------------------------------------------------- sparse categorical CE


@np.errstate(under="ignore")
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    r"""Cross-entropy with integer labels, :math:`\ell_n = -\log p_{n, y_n}`.

    Shapes: ``y_true`` ``(N, ...)`` (or ``(N, ..., 1)``) integer class indices in
    ``[0, C)``, ``y_pred`` ``(N, ..., C)``; returns ``(N, ...)``. Non-integer or
    out-of-range labels are a ``ValueError`` (TF truncates floats, and raises on
    out-of-range labels only on CPU).

    **from_logits=True**: :math:`\ell = -\log\mathrm{softmax}(z)_y` (TF's
    ``sparse_softmax_cross_entropy_with_logits``).

    **from_logits=False**, as Keras' TF backend: clip, take the log, and treat
    the logs as logits:

    .. math::
        c_i = \mathrm{clip}(p_i, \epsilon, 1-\epsilon),\quad l_i = \log c_i,\quad
        \ell = -\log\mathrm{softmax}(l)_y = -\log c_y + \log\sum_j c_j.

    Unlike ``categorical_crossentropy`` there is no renormalisation *before* the
    clip; the softmax renormalises *after* it. For rows that sum to 1 and stay
    inside the bounds the two agree; elsewhere they do not: ``p = [0, 0.3, 0.9]``
    with label 0 gives :math:`-\log\epsilon + \log 1.2 = 16.300` here, but 16.118
    from ``categorical_crossentropy`` on the one-hot row (renormalised to
    ``[0, 0.25, 0.75]``, then clipped).
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    y_pred = _pred_array(y_pred)  # (N, ..., C)
    labels = _sparse_labels(y_true, y_pred.shape)  # (N, ...)
    logits = y_pred if from_logits else np.log(np.clip(y_pred, *_clip_bounds(y_pred.dtype)))
    log_p = _log_softmax(logits)  # (N, ..., C)
    return -np.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0]  # (N, ...)


@np.errstate(under="ignore")
def sparse_categorical_crossentropy_backward(y_true, y_pred, dloss, from_logits=False):
    r"""VJP of ``sparse_categorical_crossentropy``.

    Shapes: ``y_pred`` ``(N, ..., C)``, ``dloss`` ``(N, ...)``; returns ``(N, ..., C)``.
    With :math:`y` the label of the row and :math:`g = dloss_n`:

    **Logits path.** :math:`\ell = -z_y + \log\sum_j e^{z_j}`, so
    :math:`\partial\ell/\partial z_k = \mathrm{softmax}(z)_k - \delta_{ky}`;
    matrix form ``dz = g * (softmax(z) - one_hot(y))``, the fused gradient.

    **Probability path.** :math:`\ell = -l_y + \log\sum_j e^{l_j}` with
    :math:`l = \log c`, so :math:`\partial\ell/\partial l_k = \mathrm{softmax}(l)_k - \delta_{ky}
    = c_k/\sum_j c_j - \delta_{ky}`; then :math:`\partial l_k/\partial c_k = 1/c_k` and
    :math:`\partial c_k/\partial p_k = \mathbb{1}[\epsilon \le p_k \le 1-\epsilon]`:

    .. math:: \partial\ell/\partial p_k = \mathbb{1}_k\,\big(1/\textstyle\sum_j c_j - \delta_{ky}/c_y\big).

    Matrix form: ``dp = g * where(inside, (softmax(log c) - one_hot(y)) / c, 0)``.
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    y_pred = _pred_array(y_pred)  # (N, ..., C)
    labels = _sparse_labels(y_true, y_pred.shape)  # (N, ...)
    one_hot = _one_hot(labels, y_pred.shape[-1], y_pred.dtype)  # (N, ..., C)
    g = _upstream(dloss, y_pred)[..., None]  # (N, ..., 1)
    if from_logits:
        return g * (activations.softmax(y_pred) - one_hot)  # (N, ..., C)
    low, high = _clip_bounds(y_pred.dtype)
    c = np.clip(y_pred, low, high)  # (N, ..., C)
    dlogits = activations.softmax(np.log(c)) - one_hot  # dℓ/dl, l = log c
    inside = (y_pred >= low) & (y_pred <= high)
    return g * np.where(inside, dlogits / c, 0.0).astype(y_pred.dtype, copy=False)


# --------------------------------------------------------------------------- binary CE


@np.errstate(under="ignore")
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    r"""Binary cross-entropy, averaged over the last axis: :math:`\ell_n = \frac{1}{K}\sum_k b_{nk}`.

    Shapes: ``y_true``, ``y_pred`` ``(N, ..., K)`` (a ``(N,)`` target fits a
    ``(N, 1)`` output); returns ``(N, ...)``. Label smoothing squeezes towards
    1/2: :math:`y \leftarrow y(1 - ls) + ls/2`.

    **from_logits=False**, as Keras' TF backend:
    :math:`c = \mathrm{clip}(p, \epsilon, 1-\epsilon)`,
    :math:`b = -(y \log c + (1 - y)\log(1 - c))`.

    **from_logits=True**, TF's ``sigmoid_cross_entropy_with_logits``: the textbook
    :math:`-(y\log\sigma(z) + (1-y)\log(1-\sigma(z)))` rewritten so nothing overflows,

    .. math:: b = \max(z, 0) - z y + \log(1 + e^{-|z|}).

    (For :math:`z \ge 0`: :math:`\log(1+e^{-z}) + z(1-y)`; for :math:`z < 0`:
    :math:`\log(1+e^{z}) - zy`; both are the textbook formula.) No clipping: a
    confident wrong logit costs its full size.
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    label_smoothing = _label_smoothing(label_smoothing)
    y_pred = _pred_array(y_pred)  # (N, ..., K)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "binary_crossentropy")
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        z = y_pred
        b = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))  # (N, ..., K)
    else:
        c = np.clip(y_pred, *_clip_bounds(y_pred.dtype))  # (N, ..., K)
        b = -(y * np.log(c) + (1 - y) * np.log(1 - c))  # (N, ..., K)
    return np.mean(b, axis=-1)  # (N, ...)


@np.errstate(under="ignore")
def binary_crossentropy_backward(y_true, y_pred, dloss, from_logits=False, label_smoothing=0.0):
    r"""VJP of ``binary_crossentropy``.

    Shapes: ``y_pred`` ``(N, ..., K)``, ``dloss`` ``(N, ...)``; returns ``(N, ..., K)``.
    The mean over the last axis contributes :math:`1/K`; with :math:`g = dloss_n`:

    **Logits path.** :math:`\partial b/\partial z = \sigma(z) - y` (differentiate the
    textbook form: :math:`-y(1-\sigma) + (1-y)\sigma`); matrix form
    ``dz = g * (sigmoid(z) - y) / K``. At :math:`z = 0` TF's ``where``-based kernel gives
    the same :math:`1/2 - y` (checked with ``tf.GradientTape``).

    **Probability path.** :math:`\partial b/\partial c = -y/c + (1-y)/(1-c)`, times
    :math:`\mathbb{1}[\epsilon \le p \le 1-\epsilon]` from the clip; matrix form
    ``dp = g * where(inside, -y / c + (1 - y) / (1 - c), 0) / K``.
    """
    from_logits = _checks.boolean("from_logits", from_logits)
    label_smoothing = _label_smoothing(label_smoothing)
    y_pred = _pred_array(y_pred)  # (N, ..., K)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "binary_crossentropy")
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    g = _upstream(dloss, y_pred)[..., None] / y_pred.shape[-1]  # (N, ..., 1)
    if from_logits:
        return g * (activations.sigmoid(y_pred) - y)  # (N, ..., K)
    low, high = _clip_bounds(y_pred.dtype)
    c = np.clip(y_pred, low, high)  # (N, ..., K)
    inside = (y_pred >= low) & (y_pred <= high)
    db = np.where(inside, -y / c + (1 - y) / (1 - c), 0.0).astype(y_pred.dtype, copy=False)
    return g * db  # (N, ..., K)


# --------------------------------------------------------------------------- mean squared error


@np.errstate(under="ignore")
def mean_squared_error(y_true, y_pred):
    r"""Mean squared error over the last axis, :math:`\ell_n = \frac{1}{K}\sum_k (y_{nk} - \hat y_{nk})^2`.

    Shapes: ``y_true``, ``y_pred`` ``(N, ..., K)`` (a ``(N,)`` target fits a
    ``(N, 1)`` output); returns ``(N, ...)``. As Keras; Gauss's least squares.
    """
    y_pred = _pred_array(y_pred)  # (N, ..., K)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "mean_squared_error")
    return np.mean(np.square(y - y_pred), axis=-1)  # (N, ...)


@np.errstate(under="ignore")
def mean_squared_error_backward(y_true, y_pred, dloss):
    r"""VJP of ``mean_squared_error``.

    Index form: :math:`\partial\ell_n/\partial\hat y_{nk} = 2(\hat y_{nk} - y_{nk})/K`;
    matrix form ``dy_pred = dloss[..., None] * 2 (y_pred - y_true) / K``, shape ``(N, ..., K)``.
    """
    y_pred = _pred_array(y_pred)  # (N, ..., K)
    y = _same_shape(_true_array(y_true, y_pred.dtype), y_pred, "mean_squared_error")
    g = _upstream(dloss, y_pred)[..., None]  # (N, ..., 1)
    return g * (2.0 * (y_pred - y) / y_pred.shape[-1])  # (N, ..., K)


def _upstream(dloss, y_pred: np.ndarray) -> np.ndarray:
    """The per-sample upstream gradient, shape ``y_pred.shape[:-1]``, in ``y_pred``'s dtype."""
    d = _checks.float_array("dloss", dloss, y_pred.dtype)
    if d.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"Invalid value for argument dloss. Expected shape {y_pred.shape[:-1]} "
            f"(y_pred.shape[:-1]). Received dloss.shape={d.shape}."
        )
    return d


# --------------------------------------------------------------------------- target checks


def _targets_array(y_true) -> np.ndarray:
    arr = np.asarray(y_true)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            "Invalid dtype for argument y_true. Expected a numeric array (bool, int or float). "
            f"Received an array of dtype {arr.dtype}."
        )
    if arr.ndim < 1:
        raise ValueError(
            "Invalid value for argument y_true. Expected an array with a batch axis. "
            f"Received y_true.shape={arr.shape}."
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(
            "Invalid value for argument y_true. Expected finite targets. Received NaN or inf."
        )
    return arr


def _output_shape(output_shape) -> tuple[int, ...]:
    if not isinstance(output_shape, (tuple, list)) or not all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in output_shape
    ):
        raise ValueError(
            "Invalid value for argument output_shape. Expected a tuple of positive integers "
            f"(the model output shape without the batch axis). Received output_shape={output_shape!r}."
        )
    if len(output_shape) < 1:
        raise ValueError(
            "Invalid value for argument output_shape. Expected at least one axis (the classes "
            f"or outputs). Received output_shape={tuple(output_shape)!r}."
        )
    return tuple(int(d) for d in output_shape)


def _check_dense_targets(y_true, output_shape, loss: str) -> np.ndarray:
    """Shape check shared by binary CE and MSE: ``(N,) + output_shape``, or ``(N,)`` for output ``(1,)``."""
    arr = _targets_array(y_true)
    shape = _output_shape(output_shape)
    fits = arr.shape[1:] == shape or (arr.ndim == 1 and shape == (1,))
    if not fits:
        raise ValueError(
            f"Invalid value for argument y_true. Expected targets of shape (N,) + {shape} "
            f"to match the model output for {loss}. Received y_true.shape={arr.shape}."
        )
    return arr


# --------------------------------------------------------------------------- loss classes


class Loss:
    r"""What every loss class shares: the batch mean and its gradient.

    Keras' default reduction ``"sum_over_batch_size"``: with per-sample losses
    :math:`\ell` of shape ``(N, ...)`` and :math:`M` entries,
    :math:`L = \frac{1}{M}\sum \ell`, so :math:`\partial L/\partial y_{pred}` is the
    per-sample VJP with upstream :math:`1/M` everywhere. Subclasses provide
    ``per_sample``, ``backward``, ``check_targets`` and ``get_config``.
    """

    name: str = "loss"
    # The activation function whose inputs (logits) the ``from_logits=True`` twin of this loss takes.
    logits_activation: Callable | None = None

    def logits_twin(self, activation, output_rank: int):
        r"""This loss with ``from_logits=True`` when the predictions are ``activation``'s output; else None.

        Keras' fused path: a cross-entropy on the probabilities of a softmax
        (sigmoid) over the last axis is computed from the logits :math:`z`
        instead, with gradient :math:`(\mathrm{softmax}(z) - y)/N`. ``activation`` is
        the ``ActivationFunction`` the model's output comes from (or None) and
        ``output_rank`` the rank of one output sample, so a softmax over another
        axis is not mistaken for one over the classes.
        """
        if (
            self.logits_activation is None
            or self.from_logits
            or activation is None
            or activation.forward is not self.logits_activation
            or activation.params.get("axis", -1) not in (-1, output_rank)
        ):
            return None
        return type(self).from_config({**self.get_config(), "from_logits": True})

    def __call__(self, y_true, y_pred) -> float:
        """The mean loss over the batch, a Python float."""
        per = self.per_sample(y_true, y_pred)  # (N, ...)
        _check_not_empty(per)
        return float(np.sum(per) / per.size)

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """:math:`\\partial L/\\partial y_{pred}` of the batch mean; shape and dtype of ``y_pred``."""
        y_pred = _pred_array(y_pred)  # (N, ..., C)
        batch_shape = y_pred.shape[:-1]
        count = int(np.prod(batch_shape))
        if count == 0:
            _check_not_empty(np.empty(batch_shape))
        upstream = np.full(batch_shape, 1.0 / count, dtype=y_pred.dtype)  # (N, ...)
        return self.backward(y_true, y_pred, upstream)

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild from ``get_config()``."""
        return cls(**_checks.config_arguments(cls, config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_not_empty(per: np.ndarray) -> None:
    if per.size == 0:
        raise ValueError(
            "Invalid value for argument y_pred. Expected a non-empty batch. "
            f"Received a batch of shape {per.shape}."
        )


class CategoricalCrossentropy(Loss):
    r"""Categorical cross-entropy with one-hot (or soft) targets; see ``categorical_crossentropy``.

    ``from_logits=True`` is the fused softmax + cross-entropy: gradient
    :math:`(\mathrm{softmax}(z) - y)/N`; a model ending in a softmax trains on it
    (as Keras does), not on the clipped probabilities.
    """

    logits_activation = staticmethod(activations.softmax)

    def __init__(self, from_logits=False, label_smoothing=0.0, name="categorical_crossentropy"):
        self.from_logits = _checks.boolean("from_logits", from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.name = _checks.non_empty_string("name", name)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def backward(self, y_true, y_pred, dloss) -> np.ndarray:
        return categorical_crossentropy_backward(
            y_true, y_pred, dloss, self.from_logits, self.label_smoothing
        )

    def check_targets(self, y_true, output_shape) -> None:
        """One-hot targets ``(N,) + output_shape``; integer labels are refused with a pointer to the sparse loss."""
        arr = _targets_array(y_true)
        shape = _output_shape(output_shape)
        num_classes = shape[-1]
        if arr.shape[1:] == shape:
            return
        if arr.shape[1:] in (shape[:-1], shape[:-1] + (1,)) and num_classes > 1:
            raise ValueError(
                "Invalid value for argument y_true. Expected one-hot targets of shape "
                f"(N,) + {shape} for categorical_crossentropy. Received y_true.shape={arr.shape}, "
                "which looks like integer class labels: use sparse_categorical_crossentropy, "
                "or one-hot encode them (utils.to_categorical)."
            )
        if arr.shape[1:-1] == shape[:-1] and arr.ndim == len(shape) + 1:
            raise ValueError(
                f"Invalid value for argument y_true. Expected {num_classes} classes (one-hot "
                f"rows of length {num_classes}, the model's output size) for "
                f"categorical_crossentropy. Received y_true.shape={arr.shape} "
                f"with {arr.shape[-1]} columns."
            )
        raise ValueError(
            f"Invalid value for argument y_true. Expected targets of shape (N,) + {shape} for "
            f"categorical_crossentropy. Received y_true.shape={arr.shape}."
        )

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class SparseCategoricalCrossentropy(Loss):
    r"""Cross-entropy with integer class labels; see ``sparse_categorical_crossentropy``."""

    logits_activation = staticmethod(activations.softmax)

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        self.from_logits = _checks.boolean("from_logits", from_logits)
        self.name = _checks.non_empty_string("name", name)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def backward(self, y_true, y_pred, dloss) -> np.ndarray:
        return sparse_categorical_crossentropy_backward(y_true, y_pred, dloss, self.from_logits)

    def check_targets(self, y_true, output_shape) -> None:
        """Integer labels ``(N,) + output_shape[:-1]`` (or with a trailing 1) in ``[0, C)``."""
        arr = _targets_array(y_true)
        shape = _output_shape(output_shape)
        num_classes = shape[-1]
        if arr.shape[1:] == shape and num_classes > 1:
            raise ValueError(
                "Invalid value for argument y_true. Expected integer class labels of shape "
                f"(N,) + {shape[:-1]} for sparse_categorical_crossentropy. "
                f"Received y_true.shape={arr.shape}, which looks one-hot: use "
                "categorical_crossentropy, or pass the labels (argmax) instead."
            )
        _sparse_labels(arr, (arr.shape[0],) + shape)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}


class BinaryCrossentropy(Loss):
    r"""Binary cross-entropy for independent 0/1 targets; see ``binary_crossentropy``."""

    logits_activation = staticmethod(activations.sigmoid)

    def __init__(self, from_logits=False, label_smoothing=0.0, name="binary_crossentropy"):
        self.from_logits = _checks.boolean("from_logits", from_logits)
        self.label_smoothing = _label_smoothing(label_smoothing)
        self.name = _checks.non_empty_string("name", name)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def backward(self, y_true, y_pred, dloss) -> np.ndarray:
        return binary_crossentropy_backward(
            y_true, y_pred, dloss, self.from_logits, self.label_smoothing
        )

    def check_targets(self, y_true, output_shape) -> None:
        """Targets of the output's shape with values in [0, 1]."""
        arr = _check_dense_targets(y_true, output_shape, "binary_crossentropy")
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                "Invalid value for argument y_true. Expected targets in [0, 1] for "
                f"binary_crossentropy. Received values from {arr.min()} to {arr.max()}."
            )

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


class MeanSquaredError(Loss):
    r"""Mean squared error; see ``mean_squared_error``."""

    def __init__(self, name="mean_squared_error"):
        self.name = _checks.non_empty_string("name", name)

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        return mean_squared_error(y_true, y_pred)

    def backward(self, y_true, y_pred, dloss) -> np.ndarray:
        return mean_squared_error_backward(y_true, y_pred, dloss)

    def check_targets(self, y_true, output_shape) -> None:
        """Targets of the output's shape (``(N,)`` fits an output of shape ``(1,)``)."""
        _check_dense_targets(y_true, output_shape, "mean_squared_error")

    def get_config(self) -> dict:
        return {"name": self.name}


# The one table of string identifiers: name -> loss class.
_LOSSES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}

# The plain per-sample functions, so ``get(categorical_crossentropy)`` finds its class.
_FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
}


def serialize(loss: Loss) -> dict:
    """``{"class_name": ..., "config": ...}``, JSON-able; ``get`` reads it back."""
    if not isinstance(loss, Loss):
        raise TypeError(
            f"Invalid type for argument loss. Expected a Loss instance. Received loss={loss!r}."
        )
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def get(identifier) -> Loss:
    """Resolve a loss: a name from ``_LOSSES``, a ``Loss`` instance, a dict from ``serialize``, or a function of this module."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _LOSSES:
            raise ValueError(
                f"Invalid value for argument loss. Expected one of {sorted(_LOSSES)}. "
                f"Received loss={identifier!r}."
            )
        return _LOSSES[key]()
    if isinstance(identifier, dict):
        classes = {cls.__name__: cls for cls in _LOSSES.values()}
        if set(identifier) != {"class_name", "config"} or identifier["class_name"] not in classes:
            raise ValueError(
                "Invalid value for argument loss. Expected a dict {'class_name': one of "
                f"{sorted(classes)}, 'config': {{...}}}} (from serialize). Received loss={identifier!r}."
            )
        return classes[identifier["class_name"]].from_config(identifier["config"])
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    raise TypeError(
        "Invalid type for argument loss. Expected a name, a Loss instance or a serialized dict "
        f"(a custom loss needs its gradient: subclass Loss). Received loss={identifier!r}."
    )
