r"""2-D convolution (NHWC), as a plain loop that states the definition and as im2col + one matmul.

Window arithmetic (Dumoulin & Visin 2016, "A guide to convolution arithmetic
for deep learning", §2), for an input side :math:`n`, window :math:`k`,
stride :math:`s`:

* ``"valid"``: no padding, :math:`n_{out} = \lfloor (n - k)/s \rfloor + 1`; needs :math:`k \le n`.
* ``"same"`` (TensorFlow's rule): :math:`n_{out} = \lceil n/s \rceil`, padding
  :math:`p = \max((n_{out}-1)s + k - n, 0)` in total, :math:`\lfloor p/2 \rfloor`
  before and the rest after. So an odd total puts the extra row/column at the
  BOTTOM/RIGHT (TF's asymmetry; Caffe and PyTorch pad symmetrically), and a
  window larger than the input is fine.

``window_geometry`` computes both; the pooling layers use it too.

The two implementations of the convolution:

* ``conv2d_loop`` / ``conv2d_backward_loop``: the definition, one output
  element at a time. Slow; they are the reference the tests hold the fast
  pair to.
* ``conv2d`` / ``conv2d_backward``: im2col. ``sliding_window_view`` lays every
  kh×kw×C receptive field out as a row of a matrix (a view, then one copy),
  and the convolution becomes one matrix product with the kernel reshaped to
  (kh·kw·C, F). The backward pass is two matrix products and a col2im that adds
  each of the kh·kw kernel-offset blocks back onto a strided slice of the
  input gradient.

References: CS231n notes, "Convolutional Neural Networks" and assignment 2
(``conv_forward_naive`` / im2col); Chellapilla, Puri & Simard (2006),
"High Performance Convolutional Neural Networks for Document Processing" (im2col).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scratchnet import _checks, initializers
from scratchnet.layers import _fast
from scratchnet.layers.base import Layer, activation_config, activation_from_config, shape_tuple

_PADDINGS = ("valid", "same")


def window_geometry(spatial, window, strides, padding, argument="kernel_size"):
    r"""Output size and padding of a sliding window over (H, W).

    Returns ``((H_out, W_out), ((pad_top, pad_bottom), (pad_left, pad_right)))``
    by the rules in the module docstring. ``argument`` names the window in the
    error raised when a "valid" window does not fit the input.
    """
    out, pads = [], []
    for n, k, s in zip(spatial, window, strides, strict=True):
        if padding == "valid":
            if k > n:
                raise _checks.invalid(
                    argument,
                    f"a window no larger than the input's spatial size {tuple(spatial)} "
                    "with padding='valid' (or padding='same')",
                    tuple(window),
                )
            out.append((n - k) // s + 1)
            pads.append((0, 0))
        else:
            n_out = -(-n // s)  # ceil(n / s)
            total = max((n_out - 1) * s + k - n, 0)
            out.append(n_out)
            pads.append((total // 2, total - total // 2))  # the odd pixel goes after
    return tuple(out), tuple(pads)


def pad_hw(x, pads, value=0.0):
    """``x`` (N, H, W, C) with ``pads`` rows/columns of ``value`` added around H and W (a copy if any)."""
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def offset_slice(offset, stride, n_out):
    """The rows ``offset + stride·i`` for i = 0 .. n_out-1, as a slice."""
    return slice(offset, offset + stride * (n_out - 1) + 1, stride)


def conv2d_loop(x, kernel, bias, strides, padding):
    r"""Reference convolution, the definition element by element.

    .. math:: y[n,i,j,f] = b[f] + \sum_{p,q,c} x_p[n,\, i s_h + p,\, j s_w + q,\, c]\; W[p,q,c,f]

    with :math:`x_p` the zero-padded input. ``x`` (N, H, W, C), ``kernel``
    (kh, kw, C, F), ``bias`` (F,) or None; returns y (N, H_out, W_out, F).
    This is cross-correlation (no kernel flip), as every deep-learning library computes.
    """
    n_batch, _, _, _ = x.shape
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    (h_out, w_out), pads = window_geometry(x.shape[1:3], (kh, kw), strides, padding)
    xp = pad_hw(x, pads)  # (N, H_pad, W_pad, C)
    y = np.zeros((n_batch, h_out, w_out, n_filters), dtype=x.dtype)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                window = xp[n, i * sh : i * sh + kh, j * sw : j * sw + kw, :]  # (kh, kw, C)
                for f in range(n_filters):
                    y[n, i, j, f] = np.sum(window * kernel[:, :, :, f])
                    if bias is not None:
                        y[n, i, j, f] += bias[f]
    return y


def conv2d_backward_loop(x, kernel, dy, strides, padding, use_bias=True):
    r"""Reference backward pass of ``conv2d_loop``, one output element at a time.

    Each output element touched one window, so it sends its gradient
    :math:`g = dy[n,i,j,f]` back along the same window:

    * :math:`\partial y[n,i,j,f]/\partial W[p,q,c,f] = x_p[n, i s_h+p, j s_w+q, c]`:
      ``dW[:, :, :, f] += g · window``;
    * :math:`\partial y[n,i,j,f]/\partial x_p[n, i s_h+p, j s_w+q, c] = W[p,q,c,f]`:
      ``dx_p[n, window] += g · W[:, :, :, f]``;
    * :math:`\partial y[n,i,j,f]/\partial b[f] = 1`: ``db[f] += g``.

    The gradient of the padding is dropped (cropped away) at the end.
    Returns ``(dx, dkernel, dbias)``; ``dbias`` is None without bias.
    """
    n_batch, h, w, _ = x.shape
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    (h_out, w_out), pads = window_geometry((h, w), (kh, kw), strides, padding)
    (top, _), (left, _) = pads
    xp = pad_hw(x, pads)
    dxp = np.zeros_like(xp)  # (N, H_pad, W_pad, C)
    dkernel = np.zeros_like(kernel)  # (kh, kw, C, F)
    dbias = np.zeros(n_filters, dtype=x.dtype)  # (F,)
    for n in range(n_batch):
        for i in range(h_out):
            for j in range(w_out):
                rows = slice(i * sh, i * sh + kh)
                cols = slice(j * sw, j * sw + kw)
                for f in range(n_filters):
                    g = dy[n, i, j, f]
                    dkernel[:, :, :, f] += g * xp[n, rows, cols, :]
                    dxp[n, rows, cols, :] += g * kernel[:, :, :, f]
                    dbias[f] += g
    dx = dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)
    return dx, dkernel, (dbias if use_bias else None)


def im2col(x, kernel_hw, strides, padding):
    r"""Every receptive field as one row: returns ``cols`` (N·H_out·W_out, kh·kw·C) and (H_out, W_out).

    Row :math:`(n, i, j)` holds :math:`x_p[n, i s_h + p, j s_w + q, c]` in
    (p, q, c) order, the order of ``kernel.reshape(kh·kw·C, F)``'s rows.
    """
    kh, kw = kernel_hw
    sh, sw = strides
    (h_out, w_out), pads = window_geometry(x.shape[1:3], kernel_hw, strides, padding)
    xp = pad_hw(x, pads)  # (N, H_pad, W_pad, C)
    windows = sliding_window_view(
        xp, (kh, kw), axis=(1, 2)
    )  # (N, H_pad-kh+1, W_pad-kw+1, C, kh, kw), a view
    windows = windows[:, ::sh, ::sw]  # (N, H_out, W_out, C, kh, kw)
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * x.shape[3])  # the one copy
    return cols, (h_out, w_out)


def conv2d(x, kernel, bias, strides, padding):
    r"""Fast convolution: :math:`Y = \text{cols}\; W_{mat} + b`, one matrix product.

    ``cols`` = ``im2col(x)`` (N·H_out·W_out, kh·kw·C); :math:`W_{mat}` = ``kernel``
    reshaped to (kh·kw·C, F). Row (n, i, j) of the product is exactly the sum
    over (p, q, c) of ``conv2d_loop``. Returns ``(y, cols)``; ``cols`` is the
    cache the backward pass needs.
    """
    kh, kw, c, n_filters = kernel.shape
    cols, (h_out, w_out) = im2col(x, (kh, kw), strides, padding)  # (N*H_out*W_out, kh*kw*C)
    y = cols @ kernel.reshape(kh * kw * c, n_filters)  # (N*H_out*W_out, F)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[0], h_out, w_out, n_filters), cols


def conv2d_backward(x_shape, cols, kernel, dy, strides, padding, use_bias=True, input_grad=True):
    r"""Fast backward pass of ``conv2d``: two matrix products and a col2im.

    With :math:`dY` = ``dy`` reshaped to (N·H_out·W_out, F), the loop's sums become:

    * :math:`dW_{mat} = \text{cols}^\top dY` (kh·kw·C, F), reshaped to (kh, kw, C, F);
    * :math:`db = \mathbf{1}^\top dY` (F,);
    * :math:`d\text{cols} = dY\, W_{mat}^\top` (N·H_out·W_out, kh·kw·C), and col2im:
      column block (p, q) of ``dcols`` is the gradient of the strided slice
      :math:`x_p[:, p + s_h i, q + s_w j, :]`, so
      ``dx_p[:, p::s_h, q::s_w, :] += dcols[..., p, q, :]`` over the kh·kw
      offsets (overlapping windows add up), then the padding is cropped.

    Returns ``(dx, dkernel, dbias)``; ``dbias`` is None without bias, ``dx`` is
    None with ``input_grad=False`` (a first layer's input needs no gradient).
    """
    n_batch, h, w, c = x_shape
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    (h_out, w_out), pads = window_geometry((h, w), (kh, kw), strides, padding)
    (top, bottom), (left, right) = pads
    dy_mat = dy.reshape(-1, n_filters)  # (N*H_out*W_out, F)
    dkernel = (cols.T @ dy_mat).reshape(kh, kw, c, n_filters)  # (kh, kw, C, F)
    dbias = dy_mat.sum(axis=0) if use_bias else None  # (F,)
    if not input_grad:
        return None, dkernel, dbias
    dcols = dy_mat @ kernel.reshape(kh * kw * c, n_filters).T  # (N*H_out*W_out, kh*kw*C)
    dcols = dcols.reshape(n_batch, h_out, w_out, kh, kw, c)
    dxp = np.zeros((n_batch, h + top + bottom, w + left + right, c), dtype=dy.dtype)
    for p in range(kh):
        for q in range(kw):
            dxp[:, offset_slice(p, sh, h_out), offset_slice(q, sw, w_out), :] += dcols[
                :, :, :, p, q, :
            ]
    dx = dxp[:, top : top + h, left : left + w, :]  # (N, H, W, C)
    return dx, dkernel, dbias


class Conv2D(Layer):
    r"""2-D convolution, NHWC: :math:`y = \varphi(z)`, :math:`z = x \star W + b`.

    .. math:: z[n,i,j,f] = b[f] + \sum_{p=0}^{kh-1} \sum_{q=0}^{kw-1} \sum_{c}
              x_p[n,\, i s_h + p,\, j s_w + q,\, c]\; W[p,q,c,f]

    Shapes: x (N, H, W, C); kernel W (kh, kw, C, F) (Keras layout); bias (F,);
    z and y (N, H_out, W_out, F) with H_out, W_out from ``window_geometry``.
    :math:`x_p` is x zero-padded by TF's "same" rule (extra pixel bottom/right)
    or not at all ("valid").

    Backward, index form (the loop reference ``conv2d_backward_loop``), with
    :math:`dz = \partial L/\partial z`:

    * :math:`dW[p,q,c,f] = \sum_{n,i,j} dz[n,i,j,f]\; x_p[n, i s_h+p, j s_w+q, c]`,
    * :math:`db[f] = \sum_{n,i,j} dz[n,i,j,f]`,
    * :math:`dx_p[n, a, b', c] = \sum_f \sum_{i s_h + p = a}\; \sum_{j s_w + q = b'} dz[n,i,j,f]\, W[p,q,c,f]`,
      summed over every window (i, j) and tap (p, q) that touched the pixel;
      then crop the padding.
      For stride 1 this is a "full" convolution of dz with the flipped kernel.

    Matrix form (``conv2d_backward``): :math:`dW = \text{cols}^\top dZ`,
    :math:`db = \mathbf 1^\top dZ`, :math:`dx = \text{col2im}(dZ\, W_{mat}^\top)`.
    The layer runs these products as ``_fast.conv2d_fast`` / ``conv2d_backward_fast``
    lay them out (bias as a ones column in the product, K-major im2col for one
    input channel, freed memory kept): the same sums, fewer passes over memory.

    ``preactivation`` keeps the latest z; ``backward(dz, wrt_preactivation=True)``
    skips the activation's VJP.

    Keras differs in scope only: no dilation, groups or channels_first here.

    References: CS231n notes (convolutional layer); Dumoulin & Visin (2016)
    for the output sizes and padding; Chellapilla et al. (2006) for im2col.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
        padding="valid",
        *,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        input_shape=None,
        name=None,
        dtype=None,
        trainable=True,
    ):
        self.filters = _checks.positive_int("filters", filters)
        self.kernel_size = _checks.int_tuple("kernel_size", kernel_size)
        self.strides = _checks.int_tuple("strides", strides)
        self.padding = _checks.one_of("padding", padding, _PADDINGS)
        self.activation = activation_from_config(activation)
        self.use_bias = _checks.boolean("use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)
        self.preactivation = None

    def compute_output_shape(self, input_shape):
        shape = shape_tuple("input_shape", input_shape)
        if len(shape) != 3:
            raise _checks.invalid(
                "input_shape", f"a 3-D shape (H, W, C) for Conv2D {self.name!r}", shape
            )
        (h_out, w_out), _ = window_geometry(shape[:2], self.kernel_size, self.strides, self.padding)
        return (h_out, w_out, self.filters)

    def weight_shapes(self, input_shape):
        self.compute_output_shape(input_shape)
        kernel = (*self.kernel_size, shape_tuple("input_shape", input_shape)[-1], self.filters)
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def build(self, input_shape, rng=None):
        _, _, channels = self._set_input_shape(input_shape)
        _fast.keep_freed_memory()  # once per process (_fast.py: why)
        rng = self._rng(rng)
        kernel_shape = (*self.kernel_size, channels, self.filters)  # (kh, kw, C, F)
        self.kernel = self.kernel_initializer(kernel_shape, rng, self.dtype)
        self.weights = [self.kernel]
        if self.use_bias:
            self.bias = self.bias_initializer((self.filters,), rng, self.dtype)  # (F,)
            self.weights.append(self.bias)
        self.grads = [np.zeros_like(w) for w in self.weights]
        self.built = True

    def forward(self, x, training=False):
        x = self._inputs(x, check_last_axis=True)  # (N, H, W, C)
        bias = self.bias if self.use_bias else None
        # conv2d's sums, laid out for speed (_fast.py says how; the tests hold it to conv2d_loop)
        z, cols = _fast.conv2d_fast(x, self.kernel, bias, self.strides, self.padding)
        y = self.activation(z)  # (N, H_out, W_out, F)
        self.preactivation = z
        self._cache = (cols, z, y)
        return y

    skips_input_grad = True

    def backward(self, dy, wrt_preactivation=False, input_grad=True):
        """Fills ``grads``; returns dx (N, H, W, C), or None with ``input_grad=False`` (skips the col2im)."""
        cols, z, y = self._cached()
        dy = self._upstream(dy, y.shape)
        if wrt_preactivation:
            dz = dy
        else:
            dz = np.asarray(self.activation.backward(z, y, dy), dtype=self.dtype)
        dx, dkernel, dbias = _fast.conv2d_backward_fast(
            cols, self.kernel, dz, self.strides, self.padding, self.use_bias, input_grad
        )
        self.grads = [dkernel] if dbias is None else [dkernel, dbias]
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "activation": activation_config(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }
