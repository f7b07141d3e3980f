r"""Conv2D(relu) followed by MaxPooling2D, run as one operation: the one place a model fuses two layers.

A model whose graph has a ``Conv2D(..., activation="relu")`` feeding only a
``MaxPooling2D`` with non-overlapping windows (``strides == pool_size``) and
"valid" padding runs the pair through ``ConvReluMaxPool`` in ``fit``,
``evaluate`` and ``predict`` (``Model._steps`` finds the pairs). The two layers
keep their own ``forward``/``backward``, which state the math; this module
computes the same numbers with fewer passes over the big (N, H, W, F)
convolution output, which is where a NumPy training step of a small CNN spends
its time (``benchmarks/README.md`` has the profile). ``Model.compute_gradients``
runs the layers one by one, so it is the unfused reference the tests hold this
module to.

Three facts make the fusion exact: max, relu and the choice of the cell that
receives each window's gradient are the layers' own; only the matrix products
may differ, in their last bit, because BLAS may round a row's sum differently
when the im2col rows are ordered otherwise (the tests hold the pair to the
layers at 1e-12 in float64). A tie that exists in one rounding and not in the
other can therefore send a window's gradient to another of its maxima: both
are subgradients.

1. **ReLU commutes with max.** For a non-decreasing f,
   :math:`\max_k f(z_k) = f(\max_k z_k)`, so
   :math:`\mathrm{pool}(\mathrm{relu}(z)) = \mathrm{relu}(\mathrm{pool}(z))`: the
   ReLU runs on the pooled tensor, :math:`p_h p_w` times smaller.

2. **The gradient goes to the same cells.** Unfused, the pool's gradient goes to
   the first maximum of :math:`\mathrm{relu}(z)` in each window (TF's tie rule,
   ``pooling.py``), then ReLU's backward multiplies by :math:`1[z > 0]`.
   Fused, it goes to the first maximum :math:`k^*` of :math:`z` itself, times
   :math:`1[\max_k z_k > 0]`. When the window's max is positive both pick the
   same cell (positive values are unchanged by relu, so the first maximum is the
   same cell) with factor 1; when it is :math:`\le 0`, relu turns the window
   into ties at 0 and the winners may differ, but both factors are 0. Index
   form, for window w with cells :math:`z_{w,k}` and :math:`y_w = \max_k z_{w,k}`:

   .. math:: \frac{\partial L}{\partial z_{w,k}} = 1[k = k^*_w]\; 1[y_w > 0]\;
             \frac{\partial L}{\partial\, \mathrm{relu}(y_w)}

   and cells outside every window (the last row/column when the size is odd)
   get 0.

3. **Non-finite values are left to the layers.** With NaN or :math:`\pm\infty` in
   :math:`z`, max pooling skips NaN (TF's rule) while relu passes it on, and the
   two orders differ. Before fusing, ``_sums_stay_finite`` proves that no
   partial sum of :math:`z = [\text{cols}, 1][W; b]` can overflow:
   :math:`|z| \le \max(\max|x|, 1)\,\max_f (\|W_{:,f}\|_1 + |b_f|)` (and every
   partial sum obeys the same bound). If the input or a weight is not finite, or
   the bound comes within a factor 4 of the largest float, the batch runs through
   the two layers unfused.

The layout that makes it fast (the departure from the plain formulation):
**pool-major im2col.** The im2col rows are ordered by window offset
:math:`k = p\,p_w + q` first, then (n, i, j) over the *pooled* output:
row block k holds the convolution windows at output positions
:math:`(i p_h + p,\; j p_w + q)`. The product
:math:`Z = [\text{cols}, 1][W; b]` then comes out as :math:`p_h p_w` contiguous
blocks :math:`Z_k` (N·H_p·W_p, F), and max pooling is
:math:`y = \max_k Z_k`, element-wise over contiguous arrays (no strided
window views, no padding with NaN). The winners are kept as one boolean mask per
offset, :math:`m_k = 1[Z_k = y] \wedge \neg(m_0 \vee \dots \vee m_{k-1})` (first
maximum wins), ANDed with relu's :math:`1[y > 0]` in the forward pass, and the
backward pass writes :math:`dZ_k = dy \odot m_k` for every block in one
broadcast multiplication: no zero-filled (N, H, W, F) array, no scatter. The
max is taken in place in the output array. Output positions that no window
reads are not computed at all (they would only receive zero gradient). The
input gradient is added back one kernel tap at a time
(``_input_gradient``). The rest is as in ``_fast.py``: the bias as a ones
column (db is the last row of the dW product), the K-major layout for one
input channel, products on BLAS's threads. A batch whose Z would not fit in
the cache runs in chunks of images, each chunk's Z read back while it is
still there (``CHUNK_BYTES`` has the rule and its measurements).

Reference for the identity: CS231n notes ("Convolutional Networks": the
conv-relu-pool pattern); Chellapilla, Puri & Simard, "High Performance
Convolutional Neural Networks for Document Processing" (2006), for im2col.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scratchnet import activations
from scratchnet.layers import _fast, conv
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPooling2D


def fusable(first, second) -> bool:
    """Whether ``first`` then ``second`` is a Conv2D(relu) - MaxPooling2D pair this module runs exactly."""
    return (
        type(first) is Conv2D
        and type(second) is MaxPooling2D
        and first.activation is not None
        and first.activation.forward is activations.relu
        and first.activation.backward_fn is activations.relu_backward
        and second.strides == second.pool_size
        and second.padding == "valid"
        and first.dtype == second.dtype
    )


def _sums_stay_finite(x, wb) -> bool:
    r"""True when no partial sum of :math:`[\text{cols}, 1][W; b]` can be NaN or overflow (fact 3).

    ``x`` (N, H, W, C) the input, ``wb`` (K + 1, F) the kernel matrix with the
    bias row. NaN anywhere makes a comparison False, so this is False then too.
    """
    with np.errstate(
        over="ignore", invalid="ignore"
    ):  # an infinite bound is an answer, not an error
        reach = np.maximum(np.maximum(x.max(), -x.min()), 1)  # max(|x|, 1): the ones column too
        bound = reach * np.abs(wb).sum(axis=0).max()
    return bool(bound < np.finfo(wb.dtype).max / 4)


def _pool_major_cols(x, kernel_hw, strides, padding, pool_size):
    r"""im2col with the ones column, rows ordered by pool offset k, then (n, i, j) of the pooled output.

    Returns ``(cols, k_major, (H_p, W_p))``: for one input channel ``cols`` is
    (kh·kw + 1, P·M_p) (K-major, row p·kw + q the tap (p, q)); otherwise
    (P·M_p, kh·kw·C + 1) in (p, q, c) order. P = ph·pw offsets, M_p = N·H_p·W_p.
    Row block k = a·pw + b holds the windows of the convolution outputs
    :math:`(i\,p_h + a,\; j\,p_w + b)`, whose top-left input pixel is
    :math:`((i p_h + a) s_h,\; (j p_w + b) s_w)`: a strided slice with step
    :math:`p_h s_h` (rows) and :math:`p_w s_w` (columns).
    """
    kh, kw = kernel_hw
    sh, sw = strides
    ph, pw = pool_size
    n_batch, _, _, c = x.shape
    (h_out, w_out), pads = conv.window_geometry(x.shape[1:3], kernel_hw, strides, padding)
    hp, wp = h_out // ph, w_out // pw
    xp = conv.pad_hw(x, pads)  # (N, H_pad, W_pad, C)
    mp, k = n_batch * hp * wp, kh * kw * c
    if c == 1:
        cols = np.empty((k + 1, ph * pw * mp), dtype=x.dtype)  # (K + 1, P·M_p)
        for p in range(kh):
            for q in range(kw):
                tap = cols[p * kw + q].reshape(ph, pw, n_batch, hp, wp)  # a view of one row
                tap[...] = _by_pool_offset(xp[..., 0], p, q, strides, (hp, wp), pool_size)
        cols[k] = 1
        return cols, True, (hp, wp)
    cols = np.empty((ph * pw * mp, k + 1), dtype=x.dtype)  # (P·M_p, K + 1)
    body = cols[:, :k].reshape(
        ph, pw, n_batch, hp, wp, kh, kw, c
    )  # views: axes split, never merged
    windows = sliding_window_view(
        xp, (kh, kw), axis=(1, 2)
    )  # (N, H_pad-kh+1, W_pad-kw+1, C, kh, kw)
    windows = _by_pool_offset(
        windows, 0, 0, strides, (hp, wp), pool_size
    )  # (ph, pw, N, H_p, W_p, C, kh, kw)
    np.copyto(body, windows.transpose(0, 1, 2, 3, 4, 6, 7, 5))
    cols[:, k] = 1
    return cols, False, (hp, wp)


def _by_pool_offset(a, p, q, strides, pooled_hw, pool_size):
    r"""The view of ``a`` (N, H, W, ...) at conv outputs' tap (p, q), axes (ph, pw, N, H_p, W_p, ...).

    Element [a', b', n, i, j] is ``a[n, (i p_h + a') s_h + p, (j p_w + b') s_w + q]``: the
    rows :math:`p + s_h t` for :math:`t < H_p p_h` split as :math:`t = i p_h + a'` (a view:
    axes are split, never merged), then the pool offsets moved to the front.
    """
    (sh, sw), (hp, wp), (ph, pw) = strides, pooled_hw, pool_size
    view = a[:, conv.offset_slice(p, sh, hp * ph), conv.offset_slice(q, sw, wp * pw)]
    view = view.reshape(a.shape[0], hp, ph, wp, pw, *a.shape[3:])
    return view.transpose(2, 4, 0, 1, 3, *range(5, view.ndim))  # the pool offsets first


CHUNK_BYTES = 2 * 2**20
"""How much of the convolution's output Z one pass holds when the whole batch's would not fit a cache.

A batch whose Z (P·M_p·F numbers) is larger than ``4 * CHUNK_BYTES`` runs in
runs of images whose Z fits ``CHUNK_BYTES`` (2 MiB: the L2 of one core of the
2-vCPU Xeon VM the benchmarks ran on), so Z is still in cache when the max,
the masks and, in the backward pass, the gradient blocks read it. Measured
there for the first convolution of the MNIST CNNs (28x28x1 → 26x26x32, Z 86.5
KB per image), its fused forward and backward alternated with the whole
batch: at batch 128 (Z 11 MB) chunks of 8–32 images took 0.82–0.94 of the
time, chunks of 64 0.98; at batch 32 and 64 (Z 2.8 and 5.5 MB), 0.97–1.03;
the second convolution at batch 128 (Z 3.3 MB) 0.94–1.01. With this rule
(runs of 24 images for the first convolution from batch 97 up), against no
chunks, in one process, rounds alternated: the classic CNN's ``fit`` step at
batch 128 18.7 → 15.6 ms (per-round ratio 0.82, 0.76–0.91, 10 rounds), the
deeper CNN's 0.97 (0.86–1.10); ``predict`` at batch 128 0.91 (classic) and
0.98 (deeper).
"""


def _image_chunks(n_batch: int, image_bytes: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """Consecutive image ranges ``(start, stop)`` that cover the batch, by the rule of ``CHUNK_BYTES``."""
    if n_batch * image_bytes <= 4 * chunk_bytes:
        return [(0, n_batch)]
    size = max(1, chunk_bytes // image_bytes)
    return [(start, min(start + size, n_batch)) for start in range(0, n_batch, size)]


class ConvReluMaxPool:
    r"""``pool(relu(conv(x)))`` of a ``fusable`` pair, forward and backward, by the facts in the module docstring.

    ``forward(x, training)`` returns :math:`\mathrm{relu}(\max_k Z_k)` (N, H_p, W_p, F);
    ``backward(dy, input_grad=True)`` fills ``conv.grads`` and returns
    :math:`\partial L/\partial x` (None with ``input_grad=False``). A batch
    that fails ``_sums_stay_finite`` goes through ``conv`` and ``pool`` unfused.
    A large batch runs in chunks of images (``CHUNK_BYTES``, read at each call;
    ``chunk_bytes`` sets another size): the forward pass of each chunk writes
    its own rows of the output, and the backward pass adds up the chunks' dW
    products, :math:`dW = \sum_{\text{chunks}} [\text{cols}_c, 1]^\top dZ_c`,
    the same sum over the images in another order.
    """

    skips_input_grad = True

    def __init__(
        self, conv_layer: Conv2D, pool_layer: MaxPooling2D, chunk_bytes: int | None = None
    ):
        if not fusable(conv_layer, pool_layer):
            raise ValueError(
                "Invalid value for arguments conv_layer, pool_layer. Expected a Conv2D with "
                "activation='relu' and a MaxPooling2D with strides == pool_size and "
                f"padding='valid'. Received {conv_layer!r}, {pool_layer!r}."
            )
        if chunk_bytes is not None and (
            isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 1
        ):
            raise ValueError(
                "Invalid value for argument chunk_bytes. Expected None (CHUNK_BYTES) or a "
                f"positive int. Received chunk_bytes={chunk_bytes!r}"
            )
        self.conv, self.pool = conv_layer, pool_layer
        self.chunk_bytes = chunk_bytes
        self.name = f"{conv_layer.name}+{pool_layer.name}"
        self._cache = None

    def forward(self, x, training=False):
        layer, pool = self.conv, self.pool
        x = layer._inputs(x, check_last_axis=True)  # (N, H, W, C)
        wb = _fast._kernel_matrix(
            layer.kernel, layer.bias if layer.use_bias else None
        )  # (K + 1, F)
        if not _sums_stay_finite(x, wb):  # fact 3: the layers themselves
            self._cache = ("unfused",)
            return pool.forward(layer.forward(x, training=training), training=training)
        _fast.keep_freed_memory()
        hp, wp = self._pooled_hw(x.shape)
        out = np.empty((x.shape[0], hp, wp, wb.shape[1]), dtype=layer.dtype)  # (N, H_p, W_p, F)
        image_bytes = pool.pool_size[0] * pool.pool_size[1] * hp * wp * wb.shape[1] * out.itemsize
        chunks = [
            self._forward_chunk(x[start:stop], wb, out[start:stop], training)
            for start, stop in _image_chunks(x.shape[0], image_bytes, self._chunk_bytes())
        ]
        self._cache = ("fused", x.shape, chunks if training else None)
        return out

    def _chunk_bytes(self):
        return CHUNK_BYTES if self.chunk_bytes is None else self.chunk_bytes

    def _forward_chunk(self, x, wb, out, training):
        """One run of images: fills ``out`` (its rows of the output); returns what backward needs."""
        layer, pool = self.conv, self.pool
        cols, k_major, _ = _pool_major_cols(
            x, layer.kernel_size, layer.strides, layer.padding, pool.pool_size
        )
        z = _fast.matmul(cols.T if k_major else cols, wb)  # (P·M_p, F)
        y = out.reshape(-1, z.shape[1])  # (M_p, F), a view of out: the max is taken in place
        zk = z.reshape(-1, *y.shape)  # (P, M_p, F): Z_k contiguous
        if zk.shape[0] == 1:
            np.copyto(y, zk[0])
        else:
            np.maximum(zk[0], zk[1], out=y)
        for k in range(2, zk.shape[0]):
            np.maximum(y, zk[k], out=y)
        masks = _first_max_masks(zk, y) if training else None  # (P, M_p, F)
        np.maximum(y, 0, out=y)  # relu on the pooled tensor (fact 1)
        if not training:
            return None
        np.logical_and(masks, y > 0, out=masks)  # relu'(y) = 1[y > 0] folded in (fact 2)
        return x.shape[0], cols, k_major, masks

    def backward(self, dy, input_grad=True):
        if self._cache is None:
            raise RuntimeError(
                f"{self.name}: backward() needs the cache of a forward() call; call forward first."
            )
        if self._cache[0] == "unfused":
            return self.conv.backward(self.pool.backward(dy), input_grad=input_grad)
        _, x_shape, chunks = self._cache
        layer = self.conv
        if chunks is None:
            raise RuntimeError(
                f"{self.name}: backward() needs a forward(training=True) call; the latest was inference."
            )
        kh, kw, c, n_filters = layer.kernel.shape
        dy = layer._upstream(dy, (x_shape[0], *self._pooled_hw(x_shape), n_filters))
        dwb, dxs, start = None, [], 0
        for n_chunk, cols, k_major, masks in chunks:
            # dZ_k = dy ⊙ m_k ⊙ 1[y > 0] (the masks hold both), every block in one broadcast
            dz = np.multiply(dy[start : start + n_chunk].reshape(masks.shape[1:]), masks)
            dz = dz.reshape(-1, n_filters)  # (P·M_p, F)
            part = _fast.matmul(cols if k_major else cols.T, dz)  # (K + 1, F): [cols, 1]^T dZ
            dwb = part if dwb is None else np.add(dwb, part, out=dwb)
            if input_grad:
                dxs.append(self._input_gradient(dz, (n_chunk, *x_shape[1:])))
            start += n_chunk
        dkernel = dwb[: kh * kw * c].reshape(kh, kw, c, n_filters)
        layer.grads = [dkernel, dwb[-1].copy()] if layer.use_bias else [dkernel]
        if not input_grad:
            return None
        return dxs[0] if len(dxs) == 1 else np.concatenate(dxs)  # (N, H, W, C)

    def _pooled_hw(self, x_shape):
        (h_out, w_out), _ = conv.window_geometry(
            x_shape[1:3], self.conv.kernel_size, self.conv.strides, self.conv.padding
        )
        return h_out // self.pool.pool_size[0], w_out // self.pool.pool_size[1]

    def _input_gradient(self, dz, x_shape):
        r""":math:`dx` from ``dz`` (P·M_p, F), one kernel tap at a time.

        Index form: :math:`dx[n, i s_h + p, j s_w + q, c] \mathrel{+}= \sum_f dz[n,i,j,f]\, W[p,q,c,f]`
        over the conv outputs (i, j) that the pooling windows cover. ``dz`` is first
        put back in (N, H_p p_h, W_p p_w, F) order; then each tap (p, q) is one
        product :math:`dz\, W_{pq}^\top` (M, C) added onto one strided view of
        :math:`dx_p` whose inner runs are whole rows, W_p p_w C numbers long. (One
        product and a col2im in the im2col order adds short runs of C numbers, 36
        times: 13.1 against 9.6 ms for the deeper CNN's second convolution at batch 128.)
        """
        n_batch, h, w, c = x_shape
        kernel = self.conv.kernel  # (kh, kw, C, F)
        kh, kw, _, n_filters = kernel.shape
        strides, pool_size = self.conv.strides, self.pool.pool_size
        hp, wp = self._pooled_hw(x_shape)
        rows, cols = hp * pool_size[0], wp * pool_size[1]  # the conv outputs the windows cover
        dz_nhwc = np.empty((n_batch, rows, cols, n_filters), dtype=dz.dtype)
        np.copyto(
            _by_pool_offset(dz_nhwc, 0, 0, (1, 1), (hp, wp), pool_size),
            dz.reshape(*pool_size, n_batch, hp, wp, n_filters),
        )
        dz_nhwc = dz_nhwc.reshape(-1, n_filters)  # (M, F)
        _, ((top, bottom), (left, right)) = conv.window_geometry(
            (h, w), (kh, kw), strides, self.conv.padding
        )
        dxp = np.zeros((n_batch, h + top + bottom, w + left + right, c), dtype=dz.dtype)
        for p in range(kh):
            for q in range(kw):
                tap = _fast.matmul(dz_nhwc, kernel[p, q].T).reshape(n_batch, rows, cols, c)
                dxp[
                    :,
                    conv.offset_slice(p, strides[0], rows),
                    conv.offset_slice(q, strides[1], cols),
                    :,
                ] += tap
        return dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)


def _first_max_masks(zk, y):
    r""":math:`m_k = 1[Z_k = y] \wedge \neg(m_0 \vee \dots \vee m_{k-1})`: which offset each window's gradient goes to.

    ``zk`` (P, M_p, F) finite, ``y`` (M_p, F) their max; returns bool (P, M_p, F),
    exactly one True per window and filter (the first maximum: TF's tie rule).
    For booleans :math:`a \wedge \neg b` is :math:`a > b`.
    """
    masks = np.empty(zk.shape, dtype=bool)
    np.equal(zk[0], y, out=masks[0])
    taken = masks[0].copy()  # a maximum came before
    for k in range(1, zk.shape[0] - 1):
        hit = zk[k] == y
        np.greater(hit, taken, out=masks[k])
        taken |= hit
    if zk.shape[0] > 1:  # finite: the last offset holds the max if none before did
        np.logical_not(taken, out=masks[-1])
    return masks
