r"""The fast path of Conv2D and Dense: where the code departs from the plain formulation, and why.

``conv.py`` states the convolution twice, as the definition (``conv2d_loop``)
and as im2col + one matrix product (``conv2d`` / ``conv2d_backward``). The
layer runs the versions in this module instead, and Dense runs its three
products through ``matmul`` / ``matmul_sum_split`` (item 4). They compute the same sums
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

4. **Threads: BLAS pinned to one thread, big products split across our own
   workers.** OpenBLAS' own threads wait for each other by spinning; while
   another process holds one of the two cores, a two-thread GEMM stalls
   (the deeper CNN fell to 0.14x Keras). Here every product of the fast path
   runs with BLAS at one thread (threadpoolctl), and a large product is cut
   into ``num_threads()`` row blocks (for :math:`\text{cols}^\top dZ`, blocks of
   the summed-over rows, whose partial products are added) that run on a
   small thread pool: NumPy releases the GIL inside BLAS, and a worker that
   is descheduled only delays the join instead of stalling its partner.
   Splitting a sum changes its rounding order: results agree with the
   unsplit product to float rounding (the tests' tolerance), not bit for bit.
   ``set_num_threads(n)`` chooses the worker count; the default is
   ``SCRATCHNET_NUM_THREADS``, else ``OMP_NUM_THREADS`` when set, else the
   CPUs this process may use.

The cache the backward pass needs is ``ConvCache``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from threadpoolctl import ThreadpoolController

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


# -- threads -------------------------------------------------------------------

_SPLIT_MIN_MACS = 2_000_000  # smaller products are not worth a thread hand-off (~30 µs)
_threads = {"n": None, "pool": None, "controller": None}
_threads_lock = threading.Lock()
_blas_pin = {"depth": 0, "limiter": None}  # overlapping users of _one_blas_thread


def num_threads() -> int:
    """Worker threads the fast path splits a large product across."""
    if _threads["n"] is None:
        env = os.environ.get("SCRATCHNET_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS", "")
        if env.isdigit() and int(env) > 0:
            _threads["n"] = int(env)
        else:
            _threads["n"] = (
                len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity")
                else (os.cpu_count() or 1)
            )
    return _threads["n"]


def set_num_threads(n: int) -> None:
    """Split the fast path's large products across ``n`` threads (1: no split)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(
            f"Invalid value for argument n. Expected a positive integer. Received n={n!r}."
        )
    with _threads_lock:
        if _threads["pool"] is not None and n != _threads["n"]:
            _threads["pool"].shutdown(wait=True)
            _threads["pool"] = None
        _threads["n"] = n


@contextlib.contextmanager
def _one_blas_thread():
    """A context in which BLAS uses one thread (threadpoolctl; the controller is made once).

    Counted, not nested: the first of several overlapping users (threads of the
    caller's) pins BLAS, the last one out restores the caller's setting, so
    interleaved exits cannot leave BLAS pinned at one thread.
    """
    with _threads_lock:
        if _blas_pin["depth"] == 0:
            if _threads["controller"] is None:
                _threads["controller"] = ThreadpoolController()
            _blas_pin["limiter"] = _threads["controller"].limit(limits=1, user_api="blas")
        _blas_pin["depth"] += 1
    try:
        yield
    finally:
        with _threads_lock:
            _blas_pin["depth"] -= 1
            if _blas_pin["depth"] == 0:
                _blas_pin["limiter"].restore_original_limits()
                _blas_pin["limiter"] = None


def _pool(n) -> ThreadPoolExecutor:
    with _threads_lock:
        if _threads["pool"] is None:
            _threads["pool"] = ThreadPoolExecutor(n, thread_name_prefix="scratchnet")
        return _threads["pool"]


def _forget_threads_in_forked_child() -> None:
    """A forked child has none of the parent's worker threads: start afresh (else a job never runs)."""
    global _threads_lock
    _threads_lock = threading.Lock()
    _threads["pool"] = None
    _threads["controller"] = None
    _blas_pin["depth"], _blas_pin["limiter"] = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_in_forked_child)


def _blocks(size, n):
    """``n`` contiguous slices that cover range(size)."""
    edges = np.linspace(0, size, n + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _workers_for(a, b) -> int:
    """How many workers share the product ``a @ b``: one below ``_SPLIT_MIN_MACS`` multiply-adds."""
    return 1 if a.shape[0] * a.shape[1] * b.shape[1] < _SPLIT_MIN_MACS else num_threads()


def matmul(a, b):
    r""":math:`A B`, (M, K) @ (K, F), rows of A split across the workers; BLAS at one thread."""
    n = _workers_for(a, b)
    with _one_blas_thread():
        if n == 1:
            return a @ b
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))  # (M, F)
        pool = _pool(n)
        jobs = [pool.submit(np.matmul, a[r], b, out=out[r]) for r in _blocks(a.shape[0], n)]
        for job in jobs:
            job.result()
        return out


def matmul_sum_split(a, b):
    r""":math:`A B`, (K, M) @ (M, F) with M large: the sum over M split in blocks, partial products added."""
    n = _workers_for(a, b)
    with _one_blas_thread():
        if n == 1:
            return a @ b
        pool = _pool(n)
        jobs = [pool.submit(np.matmul, a[:, r], b[r]) for r in _blocks(a.shape[1], n)]
        total = jobs[0].result()  # (K, F)
        for job in jobs[1:]:
            total += job.result()
        return total


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
    dwb = matmul_sum_split(cache.cols if cache.k_major else cache.cols.T, dz_mat)  # (K + 1, F)
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
