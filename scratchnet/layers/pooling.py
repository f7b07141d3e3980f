r"""2-D max and average pooling (NHWC): plain loops that state the definitions, and fast versions.

A pooling window of size (ph, pw) slides with strides (sh, sw) over each
channel separately; sizes and "same" padding follow TensorFlow's rule
(``conv.window_geometry``: the odd padding pixel goes bottom/right).

The fast versions loop over the ph·pw offsets (p, q) of the window instead of
over output positions: offset (p, q) of every window at once is the strided
slice ``x_p[:, p + s_h·i, q + s_w·j, :]`` over all (i, j), one NumPy operation.
The backward passes add each offset's share back onto the same strided slice.

Where TensorFlow deviates from the textbook, and this code follows TF:

* max pooling, "same": padded cells are :math:`-\infty`, so they never win;
* max pooling, gradient: with several equal maxima in a window the whole
  gradient goes to the FIRST one in row-major order (TF's MaxPoolGrad);
  ``reduce_max``'s gradient would split it instead;
* average pooling, "same": the divisor is the number of real (unpadded)
  cells in the window, not ph·pw.

The loop references do not pad at all: they clip each window to the input,
which is what the :math:`-\infty` padding and the real-cell count amount to.

References: CS231n notes ("Pooling layer") and assignment 2
(``max_pool_forward_naive``); Dumoulin & Visin (2016), §3 (pooling arithmetic).
"""

from __future__ import annotations

import numpy as np

from scratchnet import _checks
from scratchnet.layers.base import Layer, shape_tuple
from scratchnet.layers.conv import _PADDINGS, offset_slice, pad_hw, window_geometry


def _clipped_window(i, stride, pad_before, size, n):
    """Rows ``i·stride - pad_before + 0 .. size-1`` of the unpadded input, clipped to [0, n)."""
    start = i * stride - pad_before
    return slice(max(start, 0), min(start + size, n))


# -- max pooling ---------------------------------------------------------------


def max_pool2d_loop(x, pool_size, strides, padding):
    r"""Reference max pooling, one output element at a time.

    .. math:: y[n,i,j,c] = \max_{p < ph,\, q < pw} x[n,\, i s_h + p - t,\, j s_w + q - l,\, c]

    (t, l: padding top/left; cells outside the input are skipped, as TF's
    :math:`-\infty` padding would.) ``x`` (N, H, W, C) -> y (N, H_out, W_out, C).
    """
    n_batch, h, w, channels = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    y = np.zeros((n_batch, h_out, w_out, channels), dtype=x.dtype)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = _clipped_window(i, sh, top, ph, h)
                cols = _clipped_window(j, sw, left, pw, w)
                for c in range(channels):
                    y[n, i, j, c] = np.max(x[n, rows, cols, c])
    return y


def max_pool2d_backward_loop(x, dy, pool_size, strides, padding):
    r"""Reference max-pool gradient: each :math:`dy[n,i,j,c]` goes to the argmax of its window.

    :math:`\partial y[n,i,j,c]/\partial x[n,a,b,c] = 1` for the one cell (a, b)
    that ``np.argmax`` picks (the first maximum in row-major order: TF's rule
    for ties) and 0 elsewhere. Overlapping windows add up. Returns dx (N, H, W, C).
    """
    n_batch, h, w, channels = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    dx = np.zeros_like(x)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = _clipped_window(i, sh, top, ph, h)
                cols = _clipped_window(j, sw, left, pw, w)
                for c in range(channels):
                    window = x[n, rows, cols, c]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, rows.start + a, cols.start + b, c] += dy[n, i, j, c]
    return dx


def max_pool2d(x, pool_size, strides, padding):
    r"""Fast max pooling: the element-wise maximum of the ph·pw window-offset slices.

    :math:`y = \max_{p,q}\, x_p[:, p + s_h i, q + s_w j, :]`, a running
    ``np.maximum`` over the offsets, starting from a copy of offset (0, 0);
    "same" pads with :math:`-\infty`.
    Returns y (N, H_out, W_out, C).
    """
    ph, pw = pool_size
    sh, sw = strides
    (h_out, w_out), pads = window_geometry(x.shape[1:3], pool_size, strides, padding, "pool_size")
    xp = pad_hw(x, pads, value=-np.inf)  # (N, H_pad, W_pad, C)
    y = xp[:, offset_slice(0, sh, h_out), offset_slice(0, sw, w_out), :].copy()  # offset (0, 0)
    for p in range(ph):
        for q in range(pw):
            if p or q:  # (0, 0) is already in y
                np.maximum(
                    y, xp[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :], out=y
                )
    return y  # (N, H_out, W_out, C)


def max_pool2d_backward(x, y, dy, pool_size, strides, padding):
    r"""Fast max-pool gradient, routing each window's dy to its FIRST maximum (TF's tie rule).

    Visit the offsets in row-major order (p, then q). Offset (p, q) receives a
    window's gradient if its cell equals the window's max ``y`` and no earlier
    offset has taken it (``routed``):
    :math:`dx_p[:, p + s_h i, q + s_w j, :] \mathrel{+}= dy \odot \text{first}_{pq}`,
    then crop the padding. ``x`` is the forward input (N, H, W, C), ``y`` its
    output; returns dx (N, H, W, C). (A multiplication by the boolean mask,
    not ``np.where``: several times faster on random masks.)
    """
    ph, pw = pool_size
    sh, sw = strides
    h, w = x.shape[1:3]
    (h_out, w_out), pads = window_geometry((h, w), pool_size, strides, padding, "pool_size")
    (top, _), (left, _) = pads
    xp = pad_hw(x, pads, value=-np.inf)  # (N, H_pad, W_pad, C)
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    routed = np.zeros(y.shape, dtype=bool)  # (N, H_out, W_out, C) window already sent its gradient
    for p in range(ph):
        for q in range(pw):
            rows, cols = offset_slice(p, sh, h_out), offset_slice(q, sw, w_out)
            first = (xp[:, rows, cols, :] == y) & ~routed  # (N, H_out, W_out, C)
            dxp[:, rows, cols, :] += dy * first
            routed |= first
    return dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)


# -- average pooling -----------------------------------------------------------


def avg_pool2d_loop(x, pool_size, strides, padding):
    r"""Reference average pooling: the mean of the window's cells that lie inside the input.

    :math:`y[n,i,j,c] = \frac{1}{|R_{ij}|} \sum_{(a,b) \in R_{ij}} x[n,a,b,c]`, with
    :math:`R_{ij}` the window clipped to the input: ph·pw cells for "valid",
    fewer at the borders for "same" (TF divides by the real-cell count).
    """
    n_batch, h, w, channels = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    y = np.zeros((n_batch, h_out, w_out, channels), dtype=x.dtype)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = _clipped_window(i, sh, top, ph, h)
                cols = _clipped_window(j, sw, left, pw, w)
                for c in range(channels):
                    y[n, i, j, c] = np.mean(x[n, rows, cols, c])
    return y


def avg_pool2d_backward_loop(x, dy, pool_size, strides, padding):
    r"""Reference average-pool gradient, one output element at a time.

    :math:`\partial y[n,i,j,c]/\partial x[n,a,b,c] = 1/|R_{ij}|` for (a, b) in
    :math:`R_{ij}`, so each :math:`dy[n,i,j,c]/|R_{ij}|` is added to every cell of its window.
    Returns dx (N, H, W, C).
    """
    n_batch, h, w, channels = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    dx = np.zeros_like(x)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = _clipped_window(i, sh, top, ph, h)
                cols = _clipped_window(j, sw, left, pw, w)
                for c in range(channels):
                    count = (rows.stop - rows.start) * (cols.stop - cols.start)
                    dx[n, rows, cols, c] += dy[n, i, j, c] / count
    return dx


def window_counts(spatial, pool_size, strides, padding, dtype):
    r"""Real (unpadded) cells in each window, (H_out, W_out): :math:`|R_{ij}| = r_i \cdot c_j`.

    The count factorises: rows of window i inside [0, H) times columns of
    window j inside [0, W). All equal ph·pw for "valid".
    """
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        spatial, pool_size, strides, padding, "pool_size"
    )
    (h, w), (ph, pw), (sh, sw) = spatial, pool_size, strides
    rows = [_clipped_window(i, sh, top, ph, h) for i in range(h_out)]
    cols = [_clipped_window(j, sw, left, pw, w) for j in range(w_out)]
    rows = [r.stop - r.start for r in rows]  # (H_out,) real rows per window
    cols = [c.stop - c.start for c in cols]  # (W_out,) real columns per window
    return np.outer(rows, cols).astype(dtype)  # (H_out, W_out)


def avg_pool2d(x, pool_size, strides, padding):
    r"""Fast average pooling: the sum of the ph·pw offset slices of the zero-padded input, over the count.

    :math:`y = \big(\sum_{p,q} x_p[:, p + s_h i, q + s_w j, :]\big) / |R_{ij}|`.
    Returns y (N, H_out, W_out, C).
    """
    ph, pw = pool_size
    sh, sw = strides
    (h_out, w_out), pads = window_geometry(x.shape[1:3], pool_size, strides, padding, "pool_size")
    xp = pad_hw(x, pads)  # (N, H_pad, W_pad, C), zeros add nothing to the sums
    total = np.zeros((x.shape[0], h_out, w_out, x.shape[3]), dtype=x.dtype)
    for p in range(ph):
        for q in range(pw):
            total += xp[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :]
    counts = window_counts(x.shape[1:3], pool_size, strides, padding, x.dtype)  # (H_out, W_out)
    return total / counts[:, :, None]  # (N, H_out, W_out, C)


def avg_pool2d_backward(x_shape, dy, pool_size, strides, padding):
    r"""Fast average-pool gradient: every offset slice of dx_p receives :math:`dy / |R_{ij}|`.

    Padded cells receive their share too and are cropped away. Returns dx (N, H, W, C).
    """
    n_batch, h, w, channels = x_shape
    ph, pw = pool_size
    sh, sw = strides
    (h_out, w_out), ((top, bottom), (left, right)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    share = dy / window_counts((h, w), pool_size, strides, padding, dy.dtype)[:, :, None]
    dxp = np.zeros((n_batch, h + top + bottom, w + left + right, channels), dtype=dy.dtype)
    for p in range(ph):
        for q in range(pw):
            dxp[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :] += share
    return dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)


# -- the layers ----------------------------------------------------------------


class _Pooling2D(Layer):
    """The arguments both pooling layers share: ``pool_size``, ``strides`` (None: pool_size), ``padding``."""

    def __init__(
        self,
        pool_size=(2, 2),
        strides=None,
        padding="valid",
        *,
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        self.pool_size = _checks.int_tuple("pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _checks.int_tuple("strides", strides)
        self.padding = _checks.one_of("padding", padding, _PADDINGS)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        if len(shape) != 3:
            raise _checks.invalid(
                "input_shape",
                f"a 3-D shape (H, W, C) for {type(self).__name__} {self.name!r}",
                shape,
            )
        (h_out, w_out), _ = window_geometry(
            shape[:2], self.pool_size, self.strides, self.padding, "pool_size"
        )
        return (h_out, w_out, shape[2])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
        }


class MaxPooling2D(_Pooling2D):
    r"""Max pooling, NHWC: :math:`y[n,i,j,c] = \max_{p<ph,\, q<pw} x_p[n, i s_h + p, j s_w + q, c]`.

    Shapes: x (N, H, W, C) -> y (N, H_out, W_out, C); ``strides=None`` means
    strides = pool_size (Keras). :math:`x_p` is padded with :math:`-\infty` for "same".

    Backward, index form: the max is locally the identity of its winning cell
    :math:`(a^*, b^*)`: :math:`\partial y[n,i,j,c]/\partial x[n,a,b,c] = 1[(a,b) = (a^*,b^*)]`,
    so :math:`dx[n,a,b,c] = \sum_{(i,j):\,(a,b)\text{ won window }(i,j)} dy[n,i,j,c]`.
    Matrix form: over the offsets in row-major order, send dy where the offset's
    cell equals y and no earlier offset did (``max_pool2d_backward``).

    TF deviation: a window with tied maxima sends its whole gradient to the
    first one in row-major order (the max is not differentiable there; TF's CPU
    kernel picks this subgradient, GPU kernels need not, and this layer does).

    Reference: CS231n notes, "Pooling layer"; Dumoulin & Visin (2016) §3.
    """

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, H, W, C)
        y = max_pool2d(x, self.pool_size, self.strides, self.padding)
        self._cache = (x, y)
        return y  # (N, H_out, W_out, C)

    def backward(self, dy):
        x, y = self._cached()
        dy = self._upstream(dy, y.shape)
        return max_pool2d_backward(x, y, dy, self.pool_size, self.strides, self.padding)


class AveragePooling2D(_Pooling2D):
    r"""Average pooling, NHWC: :math:`y[n,i,j,c] = \frac{1}{|R_{ij}|}\sum_{(a,b) \in R_{ij}} x[n,a,b,c]`.

    :math:`R_{ij}` is window (i, j) clipped to the input; :math:`|R_{ij}| = ph \cdot pw`
    with "valid" padding.

    Backward, index form: :math:`\partial y[n,i,j,c]/\partial x[n,a,b,c] = 1/|R_{ij}|`
    for :math:`(a,b) \in R_{ij}`, so
    :math:`dx[n,a,b,c] = \sum_{(i,j):\,(a,b)\in R_{ij}} dy[n,i,j,c]/|R_{ij}|`.
    Matrix form: add :math:`dy/|R|` onto each of the ph·pw offset slices (``avg_pool2d_backward``).

    TF deviation: with "same" padding the border windows divide by their count
    of real cells, not by ph·pw (zero padding would bias them toward 0).

    Reference: CS231n notes, "Pooling layer"; Dumoulin & Visin (2016) §3.
    """

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, H, W, C)
        y = avg_pool2d(x, self.pool_size, self.strides, self.padding)
        self._cache = (x.shape, y.shape)
        return y  # (N, H_out, W_out, C)

    def backward(self, dy):
        x_shape, y_shape = self._cached()
        dy = self._upstream(dy, y_shape)
        return avg_pool2d_backward(x_shape, dy, self.pool_size, self.strides, self.padding)
