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
* max pooling, NaN and :math:`-\infty` (checked against TF 2.21 on CPU, the
  kernels Keras runs there): the forward max starts from the lowest finite
  float and skips NaN, :math:`y = \max(\text{lowest}, \text{nanmax}(\text{window}))`,
  so NaN does not propagate and a window of :math:`-\infty`/NaN gives
  ``np.finfo(dtype).min``. The gradient goes to the window's winner under
  TF's scan: the first real cell is taken, then a later cell only if it is
  strictly greater (NaN never is), so a window that starts with NaN sends
  its gradient to that NaN cell;
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

    .. math:: y[n,i,j,c] = \max\big(\text{lowest},\; \max_{p < ph,\, q < pw} x[n,\, i s_h + p - t,\, j s_w + q - l,\, c]\big)

    (t, l: padding top/left; cells outside the input are skipped, as TF's
    :math:`-\infty` padding would; NaN cells are skipped and the max starts
    from the lowest finite float, as TF's CPU kernel does.)
    ``x`` (N, H, W, C) -> y (N, H_out, W_out, C).
    """
    n_batch, h, w, channels = x.shape
    (ph, pw), (sh, sw) = pool_size, strides
    (h_out, w_out), ((top, _), (left, _)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    lowest = np.finfo(x.dtype).min
    y = np.zeros((n_batch, h_out, w_out, channels), dtype=x.dtype)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = _clipped_window(i, sh, top, ph, h)
                cols = _clipped_window(j, sw, left, pw, w)
                for c in range(channels):
                    window = x[n, rows, cols, c]
                    numbers = window[~np.isnan(window)]
                    y[n, i, j, c] = max(lowest, numbers.max()) if numbers.size else lowest
    return y


def _first_winner(window):
    """TF's scan for the cell a max window's gradient goes to: the first cell, then any strictly greater one.

    Row-major order; ``>`` is False for NaN, so a leading NaN keeps the
    gradient and a later NaN never takes it. Without NaN this is ``np.argmax``
    (the first maximum). Returns the (row, column) index in ``window``.
    """
    best = (0, 0)
    for a in range(window.shape[0]):
        for b in range(window.shape[1]):
            if window[a, b] > window[best]:
                best = (a, b)
    return best


def max_pool2d_backward_loop(x, dy, pool_size, strides, padding):
    r"""Reference max-pool gradient: each :math:`dy[n,i,j,c]` goes to the argmax of its window.

    :math:`\partial y[n,i,j,c]/\partial x[n,a,b,c] = 1` for the one cell (a, b)
    that ``_first_winner`` picks (the first maximum in row-major order: TF's rule
    for ties; TF's scan for NaN) and 0 elsewhere. Overlapping windows add up.
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
                    a, b = _first_winner(x[n, rows, cols, c])
                    dx[n, rows.start + a, cols.start + b, c] += dy[n, i, j, c]
    return dx


def _offsets(pool_size):
    """The window offsets (p, q) in row-major order, numbered k = p·pw + q."""
    ph, pw = pool_size
    return [(p, q) for p in range(ph) for q in range(pw)]


def _max_over_offsets(x, pool_size, strides, padding):
    r"""y = max(lowest, running ``np.fmax`` over the window-offset slices of the NaN-padded input).

    Returns ``(y, xp, window_slice)``: y (N, H_out, W_out, C), the padded input
    and the function that cuts offset (p, q)'s slice out of a padded array.
    """
    sh, sw = strides
    (h_out, w_out), pads = window_geometry(x.shape[1:3], pool_size, strides, padding, "pool_size")
    xp = pad_hw(x, pads, value=np.nan)  # (N, H_pad, W_pad, C)

    def window_slice(a, p, q):
        return a[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :]

    y = window_slice(xp, 0, 0).copy()  # (N, H_out, W_out, C)
    for p, q in _offsets(pool_size)[1:]:
        np.fmax(y, window_slice(xp, p, q), out=y)  # NaN (and padding) skipped
    np.fmax(y, np.finfo(y.dtype).min, out=y)  # TF starts the max from the lowest float
    return y, xp, window_slice


def max_pool2d_with_winner(x, pool_size, strides, padding):
    r"""Fast max pooling that also records which offset of each window won.

    Offset k = p·pw + q (row-major) of every window at once is the strided
    slice :math:`x_p[:, p + s_h i, q + s_w j, :]`. The input is padded with NaN,
    which ``np.fmax`` skips, so a running ``np.fmax`` over the slices is the
    NaN-skipping max of each window's real cells; floored at the lowest finite
    float it is TF's :math:`y` (module docstring).

    ``winner`` (int8; int32 for windows of 128 cells or more) is the first offset whose cell equals that max, which is
    TF's scan (``_first_winner``): the first cell, then any strictly greater
    one. The exceptions: a window whose first real cell is NaN (the scan never
    leaves it), and a window of only -inf and NaN (y is the lowest float, which
    no cell equals): there the first real cell wins. (Equality masks and integer arithmetic, not
    ``np.copyto(where=...)``: a masked copy is ~20x slower on random masks.)

    Returns ``(y, winner)``, both (N, H_out, W_out, C); ``winner`` is all the
    backward pass needs (``max_pool2d_backward_from_winner``).
    """
    y, xp, window_slice = _max_over_offsets(x, pool_size, strides, padding)
    pads = window_geometry(x.shape[1:3], pool_size, strides, padding, "pool_size")[1]
    real = pad_hw(
        np.ones((1, *x.shape[1:3], 1), dtype=bool), pads, value=False
    )  # (1, H_pad, W_pad, 1)
    offsets = _offsets(pool_size)
    index = np.int8 if len(offsets) <= 127 else np.int32  # a window of 128+ cells needs more
    winner = np.zeros(y.shape, dtype=index)
    found = np.zeros(y.shape, dtype=bool)  # the window's winner is known
    seen_real = np.zeros((1, *y.shape[1:3], 1), dtype=bool)  # a real cell came before
    first_offset = np.zeros(
        seen_real.shape, dtype=index
    )  # the offset of each window's first real cell
    for k, (p, q) in enumerate(offsets):
        cell = window_slice(xp, p, q)  # (N, H_out, W_out, C)
        first_real = window_slice(real, p, q) & ~seen_real  # (1, H_out, W_out, 1)
        seen_real |= first_real
        first_offset += first_real * index(k)
        hit = cell == y  # NaN equals nothing; nor does the lowest float (a -inf window's y)
        if first_real.all():  # offset 0 without padding: skip the broadcast
            hit |= np.isnan(cell)  # a leading NaN keeps TF's scan
        elif first_real.any():
            hit |= np.isnan(cell) & first_real
        if k:
            hit &= ~found
            winner += hit * index(k)
        found |= hit
    if not found.all():  # only -inf and NaN cells: nothing beats the first real one
        winner = np.where(found, winner, first_offset)
    return y, winner


def max_pool2d_backward_from_winner(x_shape, winner, dy, pool_size, strides, padding):
    r"""Max-pool gradient from the forward pass's ``winner``: :math:`dx_p[\text{slice}_k] \mathrel{+}= dy \odot 1[\text{winner} = k]`.

    Each window sends dy to the one offset k that won it, onto the strided
    slice of offset k; then the padding is cropped. With non-overlapping
    windows (stride >= pool size) each cell belongs to one window, so the
    slices are written, not added to. ``x_shape`` (N, H, W, C); returns dx.
    (A multiplication by the boolean mask, not ``np.where``: several times
    faster on random masks.)
    """
    n_batch, h, w, channels = x_shape
    sh, sw = strides
    (ph, pw) = pool_size
    (h_out, w_out), ((top, bottom), (left, right)) = window_geometry(
        (h, w), pool_size, strides, padding, "pool_size"
    )
    dxp = np.zeros((n_batch, h + top + bottom, w + left + right, channels), dtype=dy.dtype)
    disjoint = sh >= ph and sw >= pw
    for k, (p, q) in enumerate(_offsets(pool_size)):
        target = dxp[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :]  # a view
        if disjoint:
            np.multiply(dy, winner == k, out=target)
        else:
            target += dy * (winner == k)
    return dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)


def max_pool2d(x, pool_size, strides, padding):
    r"""Fast max pooling without the winners: the running ``np.fmax`` of ``max_pool2d_with_winner``.

    Returns y (N, H_out, W_out, C).
    """
    return _max_over_offsets(x, pool_size, strides, padding)[0]


def max_pool2d_backward(x, y, dy, pool_size, strides, padding):
    r"""Fast max-pool gradient from the forward input ``x`` (``y`` is accepted for the old signature).

    Recomputes the winners (``max_pool2d_with_winner``) and routes dy to them.
    Returns dx (N, H, W, C).
    """
    del y  # the winners carry everything
    _, winner = max_pool2d_with_winner(x, pool_size, strides, padding)
    return max_pool2d_backward_from_winner(x.shape, winner, dy, pool_size, strides, padding)


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
    Matrix form: the forward pass records which offset k won each window
    (``winner``); backward adds :math:`dy \odot 1[\text{winner} = k]` onto offset
    k's strided slice (``max_pool2d_backward_from_winner``).

    TF deviation: a window with tied maxima sends its whole gradient to the
    first one in row-major order (the max is not differentiable there; TF's CPU
    kernel picks this subgradient, GPU kernels need not, and this layer does).
    NaN is skipped and the max starts from the lowest finite float, as TF's CPU
    kernel does (module docstring).

    Reference: CS231n notes, "Pooling layer"; Dumoulin & Visin (2016) §3.
    """

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, H, W, C)
        args = (self.pool_size, self.strides, self.padding)
        if training:  # record the winners now: backward will follow
            y, winner = max_pool2d_with_winner(x, *args)
            self._cache = (x.shape, winner)  # winner (N, H_out, W_out, C) int8: which offset won
        else:  # inference: the max alone; a private copy of x finds the winners if backward is asked
            y = max_pool2d(x, *args)
            self._cache = (x.copy(), None)  # the caller may change x before backward
        return y  # (N, H_out, W_out, C)

    def backward(self, dy):
        x, winner = self._cached()  # x: the input's shape, or (inference) a copy of the input
        args = (self.pool_size, self.strides, self.padding)
        if winner is None:
            _, winner = max_pool2d_with_winner(x, *args)
            x = x.shape
        dy = self._upstream(dy, winner.shape)
        return max_pool2d_backward_from_winner(x, winner, dy, *args)


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
