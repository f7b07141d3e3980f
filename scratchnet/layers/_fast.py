r"""The fast path of Conv2D and Dense: where the code departs from the plain formulation, and why.

``conv.py`` states the convolution twice, as the definition (``conv2d_loop``)
and as im2col + one matrix product (``conv2d`` / ``conv2d_backward``). The
layer runs the versions in this module instead, and Dense runs its three
products through ``matmul`` (item 4). They compute the same sums
(tests hold them to the loop references and to finite differences); what
changes is only how memory is laid out and touched, because a NumPy training
step of a small CNN is bound by memory passes over the (N, H, W, F)
activation and by page faults, not by arithmetic (measured on the 2-core
machine: ``benchmarks/README.md``).

1. **Freed memory is kept** (``keep_freed_memory``). glibc returns large
   freed blocks to the OS and faults them in again on the next step: ~1,350
   minor page faults per classic-MNIST step at batch 32, ~60 % of its time.
   One ``mallopt`` call makes blocks up to 32 MiB come from the heap and keeps
   up to 256 MiB of freed heap for reuse. Chosen over per-layer preallocated
   buffers (``out=`` arguments) because it needs no aliasing rules: a layer's
   output is handed to the caller (``predict`` keeps every batch's output), so
   only its private temporaries could have been reused, and every layer would
   grow buffer bookkeeping. The cost is that up to 256 MiB of freed memory
   stays with the process (peak RSS: ``benchmarks/README.md``). Set once per
   process, the first time a Conv2D is built; glibc only (elsewhere a no-op);
   ``SCRATCHNET_MALLOPT=0`` switches it off.

2. **The bias rides in the matrix product.** The im2col matrix gets a column
   of ones and the kernel matrix the bias as an extra row:
   :math:`[\text{cols}, \mathbf 1]\,[W; b] = \text{cols}\,W + \mathbf 1 b`.
   The broadcast ``y += b`` pass over the output disappears, and the backward
   product :math:`[\text{cols}, \mathbf 1]^\top dY = [dW; \mathbf 1^\top dY]`
   yields :math:`db` as its last row (a BLAS product instead of a
   ``sum(axis=0)`` over the big gradient).

3. **K-major im2col for one input channel.** With C = 1 the rows of the
   classic im2col matrix are 9 numbers long, and building it is a transpose
   copy with tiny inner runs. Stored transposed, (kh·kw + 1, M), each of the
   kh·kw taps is one contiguous row: nine plain strided-slice copies. The
   product then reads :math:`\text{cols}^\top` (BLAS takes the transposed
   operand as it is). For C > 1 the row-major layout (M, kh·kw·C + 1) is kept
   and filled by one ``np.copyto`` of the window view (C-long contiguous runs).

4. **Threads: BLAS's own.** Every product is one BLAS call on BLAS's own
   threads (as many as BLAS is set to: ``OMP_NUM_THREADS``,
   ``OPENBLAS_NUM_THREADS`` or threadpoolctl decide). Two earlier schemes were
   measured and removed (``benchmarks/README.md`` has the numbers): splitting
   large products into row blocks on scratchnet's own worker threads with BLAS
   pinned to one thread (so that a worker descheduled by another process
   would only delay a join), 2-5x slower on the idle 2-core machine than
   OpenBLAS' own threads (the classic conv product at batch 16: 659 against
   120 µs; the two halves of a product on two threads took 304 µs where one
   half alone took 176 µs); and pinning only the
   small products to one thread, which changed BLAS's thread count back and
   forth on every call and cost more than it saved. How many threads BLAS
   has is chosen per loop, not per product: ``scratchnet/threads.py`` times
   the steps of ``fit``, ``evaluate`` and ``predict`` with BLAS's own count and
   with one thread, and keeps the faster (one wins while another process holds a core).

The cache the backward pass needs is ``ConvCache``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# conv.py imports this module too, so its names are looked up at call time (conv.pad_hw)
from scratchnet.layers import conv

# glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
_TRIM_THRESHOLD = 256 * 1024 * 1024

_malloc_state = {"tried": False, "applied": False}


def keep_freed_memory() -> bool:
    """Ask glibc (once per process) to keep freed memory instead of returning it to the OS.

    Returns whether the setting is in force. A no-op returning False off
    glibc, or when the environment sets ``SCRATCHNET_MALLOPT=0``.
    """
    if not _malloc_state["tried"]:
        _malloc_state["tried"] = True
        if os.environ.get("SCRATCHNET_MALLOPT", "1") != "0":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):  # not glibc
                return False
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
            ok = mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1 and ok
            _malloc_state["applied"] = ok
    return _malloc_state["applied"]


def matmul(a, b):
    r""":math:`A B`, (M, K) @ (K, F): one BLAS call on BLAS's own threads (item 4)."""
    return a @ b


@dataclass
class ConvCache:
    """What ``conv2d_fast`` leaves for ``conv2d_backward_fast``.

    ``cols``: the im2col matrix with its ones column, (M, K + 1), or its
    transpose (K + 1, M) when ``k_major``; M = N·H_out·W_out, K = kh·kw·C.
    """

    x_shape: tuple
    cols: np.ndarray
    k_major: bool
    out_hw: tuple


def _kernel_matrix(kernel, bias):
    """[W; b] (K + 1, F): the kernel as (kh·kw·C, F) with the bias (or zeros) as the last row."""
    kh, kw, c, n_filters = kernel.shape
    k = kh * kw * c
    wb = np.empty((k + 1, n_filters), dtype=kernel.dtype)  # (K + 1, F)
    wb[:k] = kernel.reshape(k, n_filters)
    wb[k] = 0 if bias is None else bias
    return wb


def im2col_with_ones(x, kernel_hw, strides, padding):
    r"""The im2col matrix of ``conv.im2col`` with a column of ones appended, laid out for speed.

    C = 1: returns ``(cols_T, True, (H_out, W_out))`` with ``cols_T`` (kh·kw + 1, M),
    row p·kw + q the tap (p, q) of every window, last row ones.
    C > 1: returns ``(cols, False, (H_out, W_out))`` with ``cols`` (M, kh·kw·C + 1),
    row (n, i, j) in (p, q, c) order, last column ones.
    """
    kh, kw = kernel_hw
    sh, sw = strides
    n_batch, _, _, c = x.shape
    (h_out, w_out), pads = conv.window_geometry(x.shape[1:3], kernel_hw, strides, padding)
    xp = conv.pad_hw(x, pads)  # (N, H_pad, W_pad, C)
    m, k = n_batch * h_out * w_out, kh * kw * c
    if c == 1:
        cols_t = np.empty((k + 1, m), dtype=x.dtype)  # (K + 1, M)
        for p in range(kh):
            for q in range(kw):
                tap = cols_t[p * kw + q].reshape(n_batch, h_out, w_out)  # a view of one row
                tap[...] = xp[
                    :, conv.offset_slice(p, sh, h_out), conv.offset_slice(q, sw, w_out), 0
                ]
        cols_t[k] = 1
        return cols_t, True, (h_out, w_out)
    cols = np.empty((m, k + 1), dtype=x.dtype)  # (M, K + 1)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    # windows (N, H_out, W_out, C, kh, kw) -> (p, q, c) order, copied straight into cols[:, :K]
    body = cols.reshape(n_batch, h_out, w_out, k + 1)[..., :k]  # views: axes split, never merged
    body = body.reshape(n_batch, h_out, w_out, kh, kw, c)
    np.copyto(body, windows.transpose(0, 1, 2, 4, 5, 3))
    cols[:, k] = 1
    return cols, False, (h_out, w_out)


def conv2d_fast(x, kernel, bias, strides, padding):
    r"""``conv.conv2d`` with the bias in the product: :math:`Y = [\text{cols}, \mathbf 1]\,[W; b]`.

    ``x`` (N, H, W, C), ``kernel`` (kh, kw, C, F), ``bias`` (F,) or None.
    Returns ``(z, cache)``, z (N, H_out, W_out, F).
    """
    keep_freed_memory()
    kh, kw, _, n_filters = kernel.shape
    cols, k_major, (h_out, w_out) = im2col_with_ones(x, (kh, kw), strides, padding)
    wb = _kernel_matrix(kernel, bias)  # (K + 1, F)
    z = matmul(cols.T if k_major else cols, wb)  # (M, F)
    cache = ConvCache(x.shape, cols, k_major, (h_out, w_out))
    return z.reshape(x.shape[0], h_out, w_out, n_filters), cache


def conv2d_backward_fast(cache, kernel, dz, strides, padding, use_bias=True, input_grad=True):
    r"""``conv.conv2d_backward`` from ``conv2d_fast``'s cache: db is the last row of the dW product.

    :math:`[dW; db] = [\text{cols}, \mathbf 1]^\top dZ` (K + 1, F);
    :math:`d\text{cols} = dZ\, W_{mat}^\top`, then the same col2im as
    ``conv.conv2d_backward``. Returns ``(dx, dkernel, dbias)``; ``dbias`` is
    None without bias, ``dx`` None with ``input_grad=False``.
    """
    n_batch, h, w, c = cache.x_shape
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    h_out, w_out = cache.out_hw
    k = kh * kw * c
    dz_mat = dz.reshape(-1, n_filters)  # (M, F)
    dwb = matmul(cache.cols if cache.k_major else cache.cols.T, dz_mat)  # (K + 1, F)
    dkernel = dwb[:k].reshape(kh, kw, c, n_filters)  # (kh, kw, C, F)
    dbias = dwb[k].copy() if use_bias else None  # (F,)
    if not input_grad:
        return None, dkernel, dbias
    _, ((top, bottom), (left, right)) = conv.window_geometry((h, w), (kh, kw), strides, padding)
    dcols = matmul(dz_mat, kernel.reshape(k, n_filters).T)  # (M, K)
    dcols = dcols.reshape(n_batch, h_out, w_out, kh, kw, c)
    dxp = np.zeros((n_batch, h + top + bottom, w + left + right, c), dtype=dz.dtype)
    for p in range(kh):
        for q in range(kw):
            dxp[:, conv.offset_slice(p, sh, h_out), conv.offset_slice(q, sw, w_out), :] += dcols[
                :, :, :, p, q, :
            ]
    return dxp[:, top : top + h, left : left + w, :], dkernel, dbias  # dx (N, H, W, C)
