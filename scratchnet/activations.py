r"""Activation functions and their hand-derived gradients.

Every activation is two plain functions:

* ``f(x, **params) -> y``, the forward formula, and
* ``f_backward(x, y, dy, **params) -> dx``, its vector-Jacobian product
  :math:`dx = J_f(x)^\top dy`, written through the cached output ``y`` where
  the math simplifies (``σ(1-σ)``, ``1 - tanh²``, ``elu + α``). ``y`` must be
  ``f(x, **params)``; ``x``, ``y`` and ``dy`` have the same shape.

For element-wise activations :math:`y_i = f(x_i)`, so
:math:`\partial y_i / \partial x_k = \delta_{ik} f'(x_k)`: the Jacobian is
diagonal, :math:`J = \mathrm{diag}(f'(x))`, and the VJP is the element-wise
product ``dx = dy ⊙ f'(x)``. Softmax couples a row, and its VJP is
``y ⊙ (dy - Σ_j dy_j y_j)``.

Conventions kept by every function here:

* dtype: a float array keeps its dtype (float32 in, float32 out; nothing is
  upcast). Anything else (ints, bools, Python numbers, lists) becomes
  ``config.floatx()``. The backward pass returns ``dx`` in ``x``'s dtype.
* Inputs are never written to; read-only and non-contiguous arrays work.
* Stable by construction: ``np.where`` evaluates both branches, so each branch
  is finite on its own (``exp(-|x|)``, ``expm1(min(x, 0))``, the row max taken
  out of softmax). What remains is *underflow*: :math:`e^{-1000}` rounds to 0,
  which is the correctly rounded answer, yet NumPy flags it, and under
  ``np.errstate(all="raise")`` a flag is an exception. So the functions that
  compute exponentials say ``np.errstate(under="ignore")`` (only underflow;
  overflow and invalid still raise).
* Kinks: the value at a point where the derivative jumps is TensorFlow's
  (checked with ``tf.GradientTape``, TF 2.21): relu'(0) = 0,
  leaky_relu'(0) = slope, elu'(0) = α, selu'(0) = scale, relu6' = 0 at 0 and 6,
  hard_sigmoid' = 0 at ±3.

String identifiers live in one explicit table, ``_ACTIVATIONS``, at the bottom
of this file; ``get`` reads it.

References: Goodfellow, Bengio & Courville, *Deep Learning* (2016), §6.3;
each function names its paper.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from scratchnet._checks import axis as check_axis
from scratchnet._checks import boolean, float_array, non_empty_string, number
from scratchnet.config import floatx

# SELU's fixed point constants (Klambauer et al. 2017, eq. 14), as Keras and TF spell them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT_HALF = math.sqrt(0.5)  # 1/√2, erf's argument scale
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # the tanh-form GELU's scale
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # the normal density's constant
_GELU_CUBIC = 0.044715  # the tanh-form GELU's cubic coefficient


# ---------------------------------------------------------------------------
# Input handling shared by every function.
# ---------------------------------------------------------------------------


def _float_input(x) -> np.ndarray:
    """``x`` as a float array: a float array keeps its dtype, anything else becomes ``floatx()``."""
    if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f":
        return np.asarray(x)
    return float_array("x", x, floatx())


def _vjp_inputs(x, y, dy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``x``, ``y``, ``dy`` as arrays of ``x``'s float dtype, all of ``x``'s shape."""
    x = _float_input(x)
    y = float_array("y", y, x.dtype)
    dy = float_array("dy", dy, x.dtype)
    for name, value in (("y", y), ("dy", dy)):
        if value.shape != x.shape:
            raise ValueError(
                f"Invalid value for argument {name}. Expected an array of shape {x.shape} "
                f"(the shape of x). Received {name}.shape={value.shape}."
            )
    return x, y, dy


# ---------------------------------------------------------------------------
# The activations.
# ---------------------------------------------------------------------------


def linear(x):
    r"""Identity: :math:`f(x) = x`.

    Derivative: :math:`f'(x) = 1`.
      Index form:  ∂y_i/∂x_k = δ_ik,  so  dx_k = dy_k.
      Matrix form: J = I,  dx = dy.

    Keras returns ``x`` itself; scratchnet returns a copy (in ``x``'s float
    dtype), so that nothing downstream can write into the caller's array.

    Shapes: x (any shape) -> y (same shape).
    """
    return _float_input(x).copy()


def linear_backward(x, y, dy):
    r"""VJP of ``linear``: ``dx = dy`` (a copy)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    return dy.copy()


def sigmoid(x):
    r"""Logistic sigmoid: :math:`σ(x) = 1 / (1 + e^{-x})`.

    Computed through :math:`z = e^{-|x|} \in (0, 1]`, which never overflows:
    σ(x) = 1/(1 + z) for x ≥ 0 and σ(x) = z/(1 + z) for x < 0 (multiply the
    top and bottom of 1/(1 + e^{-x}) by e^{x}). Both branches are finite
    everywhere, as ``np.where`` needs.

    Derivative: :math:`σ'(x) = e^{-x}/(1 + e^{-x})^2 = σ(x)(1 - σ(x)) = y(1 - y)`.
      Index form:  ∂y_i/∂x_k = δ_ik y_k (1 - y_k),  so  dx_k = dy_k y_k (1 - y_k).
      Matrix form: dx = dy ⊙ y ⊙ (1 - y).
    In the right tail y(1 - y) cancels: 1 - y keeps 1e-16/e^{-x} of relative
    accuracy (1e-10 at x = 14, nothing once y rounds to 1 at x ≈ 37), while
    σ' = e^{-x} is still a good float out to x ≈ 745. σ' is even, so the
    backward computes it from x as :math:`z/(1 + z)^2`, :math:`z = e^{-|x|}`: full
    relative accuracy on both tails (``tests/test_activation_tails.py``).

    Reference: Goodfellow et al., *Deep Learning*, §3.10 and §6.2.2.2.

    Keras/TF: the same formula. TF's float32 kernel is a rational approximation
    (a few ulp off); Keras tags the output with the logits for its fused
    sigmoid + cross-entropy. No kink.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):  # e^{-1000} -> 0 is the right answer
        z = np.exp(-np.abs(x))  # (same shape as x), in (0, 1]
        return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def sigmoid_backward(x, y, dy):
    r"""VJP of ``sigmoid``: ``dx = dy ⊙ y ⊙ (1 - y)``, computed as ``dy ⊙ z/(1 + z)²``, z = e^{-|x|} (no cancellation)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    with np.errstate(under="ignore"):
        z = np.exp(-np.abs(x))  # (same shape as x), in (0, 1]
        return dy * (z / ((1 + z) * (1 + z)))


def tanh(x):
    r"""Hyperbolic tangent: :math:`\tanh x = (e^{x} - e^{-x}) / (e^{x} + e^{-x})`.

    ``np.tanh`` saturates to ±1 without overflowing.

    Derivative: :math:`\tanh' x = 1 - \tanh^2 x = 1 - y^2`.
      Index form:  ∂y_i/∂x_k = δ_ik (1 - y_k²),  so  dx_k = dy_k (1 - y_k²).
      Matrix form: dx = dy ⊙ (1 - y ⊙ y).
    In the tails 1 - y² cancels (3e-8 relative error at |x| = 10, all digits
    gone once y rounds to ±1 at |x| ≈ 19), so the backward computes the same
    :math:`1 - \tanh^2 x = \mathrm{sech}^2 x = 4z/(1 + z)^2`, :math:`z = e^{-2|x|}`,
    from x: full relative accuracy out to |x| ≈ 370.

    Reference: LeCun, Bottou, Orr & Müller, "Efficient BackProp" (1998).

    Keras/TF: the same formula (TF's float32 kernel is a rational
    approximation, a few ulp off). No kink.

    Shapes: x (any shape) -> y (same shape).
    """
    return np.tanh(_float_input(x))


def tanh_backward(x, y, dy):
    r"""VJP of ``tanh``: ``dx = dy ⊙ (1 - y²)``, computed as ``dy ⊙ 4z/(1 + z)²``, z = e^{-2|x|} (no cancellation)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    with np.errstate(under="ignore"):  # e^{-2|x|} of a huge |x|
        z = np.exp(-2 * np.abs(x))  # (same shape as x), in (0, 1]
        return dy * (4 * z / ((1 + z) * (1 + z)))


def relu(x):
    r"""Rectified linear unit: :math:`f(x) = \max(x, 0)`.

    Derivative: :math:`f'(x) = 1[x > 0]`.
      Index form:  ∂y_i/∂x_k = δ_ik 1[x_k > 0],  so  dx_k = dy_k 1[x_k > 0].
      Matrix form: dx = dy ⊙ 1[x > 0].
    Kink: at x = 0 any value in [0, 1] is a subgradient; TensorFlow's kernel
    uses relu'(0) = 0 (the strict ``>``), and so do we.

    Reference: Nair & Hinton, "Rectified Linear Units Improve Restricted
    Boltzmann Machines" (ICML 2010); Glorot, Bordes & Bengio, "Deep Sparse
    Rectifier Neural Networks" (AISTATS 2011).

    Keras: ``keras.activations.relu`` also takes ``negative_slope``,
    ``max_value`` and ``threshold``; scratchnet spells those variants
    ``leaky_relu`` and ``relu6``.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    return np.maximum(x, _zeros_like(x))


_ZEROS: dict = {}  # (shape, dtype) -> a read-only zeros array, the latest few


def _zeros_like(x):
    """A read-only array of zeros shaped like ``x``, kept for reuse (ReLU's second operand).

    ``np.maximum(x, zeros)`` with a full zeros array runs ~3x faster than
    against a 0-d zero, which NumPy broadcasts through a slower inner loop
    (measured: 62 vs 258 µs on a (32, 26, 26, 32) float32 array). The same
    values come out. The last four shapes are kept.
    """
    key = (x.shape, x.dtype)
    zeros = _ZEROS.pop(key, None)
    if zeros is None:
        zeros = np.zeros(x.shape, dtype=x.dtype)
        zeros.flags.writeable = False
    _ZEROS[key] = zeros  # now the most recent
    while len(_ZEROS) > 4:
        _ZEROS.pop(next(iter(_ZEROS), None), None)  # another thread may have dropped it
    return zeros


def relu_backward(x, y, dy):
    r"""VJP of ``relu``: ``dx = dy ⊙ 1[x > 0]`` (0 at x = 0, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    return dy * (x > 0)  # a multiply by the 0/1 mask: ~15x faster than np.where on random signs


def leaky_relu(x, negative_slope=0.2):
    r"""Leaky ReLU: :math:`f(x) = x` if :math:`x > 0`, else :math:`a x`, with ``a = negative_slope``.

    Derivative: :math:`f'(x) = 1` if :math:`x > 0`, else :math:`a`.
      Index form:  ∂y_i/∂x_k = δ_ik (1 if x_k > 0 else a),  so  dx_k = dy_k or a·dy_k.
      Matrix form: dx = where(x > 0, dy, a·dy).
    Kink: TensorFlow takes the negative branch at 0, leaky_relu'(0) = a.

    Reference: Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural
    Network Acoustic Models" (ICML 2013), with a = 0.01.

    Keras: the function ``keras.activations.leaky_relu`` defaults to a = 0.2;
    the layer ``keras.layers.LeakyReLU`` defaults to 0.3. TF computes
    ``where(x > 0, x, a·x)``, not the textbook ``max(x, a·x)``: the two differ
    when a > 1 (leaky_relu(-1, 2.0) = -2 in TF). Any finite a is accepted.
    TF keeps a as a float32 attribute, so in float64 it multiplies by
    float32(0.2) = 0.20000000298...: float64 parity needs a slope float32
    represents exactly (0.25, 0.125) or a tolerance of about 1e-8.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    negative_slope = number("negative_slope", negative_slope)
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_backward(x, y, dy, negative_slope=0.2):
    r"""VJP of ``leaky_relu``: ``dx = where(x > 0, dy, a·dy)`` (a at x = 0, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    negative_slope = number("negative_slope", negative_slope)
    return np.where(x > 0, dy, negative_slope * dy)


def elu(x, alpha=1.0):
    r"""Exponential linear unit: :math:`f(x) = x` if :math:`x > 0`, else :math:`α(e^{x} - 1)`.

    The negative branch is ``α·expm1(min(x, 0))``: ``expm1`` keeps relative
    accuracy near 0, and ``min(x, 0)`` keeps it from overflowing at large
    positive x (``np.where`` evaluates both branches).

    Derivative: :math:`f'(x) = 1` if :math:`x > 0`, else :math:`α e^{x} = f(x) + α`.
      Index form:  ∂y_i/∂x_k = δ_ik (1 if x_k > 0 else α e^{x_k}).
      Matrix form: dx = dy ⊙ where(x > 0, 1, α e^{min(x, 0)}).
    The cached-output form y + α cancels in the left tail (y → -α: 2e-3
    relative error at x = -30), so the backward takes :math:`α e^{x}` from x.
    Kink: TensorFlow gives elu'(0) = α (so 1 at the default α = 1, where ELU
    is differentiable): Keras computes ``where(x > 0, elu(x), α·elu(x))``, so
    at 0 the gradient comes from the negative branch, α·e⁰.

    Reference: Clevert, Unterthiner & Hochreiter, "Fast and Accurate Deep
    Network Learning by Exponential Linear Units (ELUs)", ICLR 2016,
    arXiv:1511.07289.

    Keras/TF: TF's kernel computes ``exp(x) - 1``, not ``expm1``; near 0 that
    loses relative accuracy (float32 elu(-1e-8) is 0 in TF, -1e-8 here). The
    absolute difference stays below float eps. Any finite α is accepted.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    alpha = number("alpha", alpha)
    with np.errstate(under="ignore"):
        negative = alpha * np.expm1(np.minimum(x, 0))  # finite for every x
        return np.where(x > 0, x, negative)


def elu_backward(x, y, dy, alpha=1.0):
    r"""VJP of ``elu``: ``dx = dy ⊙ where(x > 0, 1, α e^x)`` (α at x = 0, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    alpha = number("alpha", alpha)
    with np.errstate(under="ignore"):
        negative = dy * (alpha * np.exp(np.minimum(x, 0)))  # α e^x, finite for every x
        return np.where(x > 0, dy, negative)


def selu(x):
    r"""Scaled ELU: :math:`f(x) = λ x` if :math:`x > 0`, else :math:`λ α (e^{x} - 1)`.

    λ = ``SELU_SCALE`` ≈ 1.0507 and α = ``SELU_ALPHA`` ≈ 1.6733 are the
    constants for which zero mean and unit variance are a fixed point of a
    layer with LeCun-normal weights. Negative branch through
    ``expm1(min(x, 0))``, as in ``elu``.

    Derivative: :math:`f'(x) = λ` if :math:`x \ge 0`, else :math:`λ α e^{x} = f(x) + λα`.
      Index form:  ∂y_i/∂x_k = δ_ik (λ if x_k ≥ 0 else λα e^{x_k}).
      Matrix form: dx = dy ⊙ where(x < 0, λα e^{x}, λ).
    As in ``elu``, the backward takes :math:`λα e^{x}` from x: y + λα cancels in
    the left tail.
    Kink: f is not differentiable at 0 (left slope λα ≈ 1.76, right slope λ);
    TensorFlow's kernel takes the positive branch there, selu'(0) = λ, and so
    does this (unlike ``elu``, whose gradient at 0 comes from the negative branch).

    Reference: Klambauer, Unterthiner, Mayr & Hochreiter, "Self-Normalizing
    Neural Networks", NeurIPS 2017, arXiv:1706.02515.

    Keras/TF: TF computes ``λα·(exp(x) - 1)`` (see ``elu`` for the tiny
    difference from ``expm1`` near 0).

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):
        negative = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0))
        return np.where(x > 0, SELU_SCALE * x, negative)


def selu_backward(x, y, dy):
    r"""VJP of ``selu``: ``dx = dy ⊙ where(x < 0, λα e^x, λ)`` (λ at x = 0, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    with np.errstate(under="ignore"):
        negative = dy * ((SELU_SCALE * SELU_ALPHA) * np.exp(np.minimum(x, 0)))  # λα e^x
        return np.where(x < 0, negative, SELU_SCALE * dy)


def gelu(x, approximate=False):
    r"""Gaussian error linear unit: :math:`f(x) = x Φ(x)`, Φ the standard normal CDF.

    Two forms, chosen by ``approximate``; each has its own derivative:

    * ``approximate=False`` (exact):
      :math:`Φ(x) = ½(1 + \mathrm{erf}(x/\sqrt2)) = ½\,\mathrm{erfc}(-x/\sqrt2)`.
      We use the erfc form (``scipy.special.erfc``), as ``tf.nn.gelu`` does:
      for x ≪ 0, 1 + erf(x/√2) cancels to 0 while erfc keeps the tiny value.

      Derivative: :math:`f'(x) = Φ(x) + x φ(x)`, :math:`φ(x) = e^{-x^2/2}/\sqrt{2π}`.

    * ``approximate=True`` (tanh form):
      :math:`f(x) = ½ x (1 + \tanh u)`, :math:`u = \sqrt{2/π}\,(x + 0.044715 x^3)`.
      Since 1 + tanh u = 2σ(2u), this is :math:`f(x) = x σ(2u)`, and that is
      how we compute it: for x ≪ 0, 1 + tanh u cancels (at x = -5 it is about
      1e-7 and keeps only 9 good digits in float64), while the stable sigmoid
      keeps full relative accuracy.

      Derivative (product and chain rule), with s = σ(2u) and
      :math:`u'(x) = \sqrt{2/π}\,(1 + 3·0.044715 x^2)`:
      :math:`f'(x) = s + 2 x s (1 - s) u'(x)`; in tanh notation, t = tanh u,
      the same is ½(1 + t) + ½ x (1 - t²) u'(x), as 1 + t = 2s and 1 - t² = 4s(1 - s).
      This is *not* Φ(x) + xφ(x): pairing the tanh forward with the exact
      derivative is off by about 1e-4 (relative, over [-3, 3]), which a
      gradient check catches.

    Index form (both): ∂y_i/∂x_k = δ_ik f'(x_k).  Matrix form: dx = dy ⊙ f'(x).
    No kink.

    Clipping x, which changes no value: for |x| ≥ 22, |2u| > 745 and σ(2u) is
    exactly 0 or 1 even in float64; for |x| ≥ 40, x φ(x) underflows to 0. The
    clip keeps x³ and x² finite in float16 and float32.

    Reference: Hendrycks & Gimpel, "Gaussian Error Linear Units (GELUs)",
    2016, arXiv:1606.08415 (both forms).

    Keras/TF: ``keras.activations.gelu`` defaults to ``approximate=False``, but
    ``keras.ops.gelu`` and ``tf.nn.gelu`` default to ``approximate=True``.
    ``tf.nn.gelu`` casts its constants 1/√2 and 0.044715 through float32, so
    in float64 TF is off from the exact formula by about 5e-9 (exact form) and
    1e-9 (tanh form); here the constants are exact. TF computes the tanh form
    as ½x(1 + tanh u), whose cancellation shows in float32: near x = -5 it
    differs from x σ(2u) by up to 6e-7 in value and 6e-6 in gradient.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):  # x · erfc(27) is below the smallest float: 0 is right
        if boolean("approximate", approximate):
            _, two_u = _gelu_two_u(x)
            return x * sigmoid(two_u)
        two_cdf = special.erfc(-x * _SQRT_HALF)  # 2Φ(x)
        return 0.5 * x * two_cdf.astype(x.dtype, copy=False)  # float16 comes back float64


def _gelu_two_u(x):
    r"""The tanh-form GELU's 2u = 2√(2/π)(x + 0.044715 x³), on x clipped to [-22, 22] (no value changes)."""
    xc = np.clip(x, -22.0, 22.0)  # (same shape as x)
    return xc, (2 * _SQRT_2_OVER_PI) * (xc + _GELU_CUBIC * xc * xc * xc)


def gelu_backward(x, y, dy, approximate=False):
    r"""VJP of ``gelu``: ``dx = dy ⊙ f'(x)``, with the derivative of the form the forward used.

    Exact: f'(x) = Φ(x) + x φ(x).
    Tanh form: f'(x) = s + 2 x s (1 - s) √(2/π) (1 + 3·0.044715 x²), s = σ(2u).
    """
    x, y, dy = _vjp_inputs(x, y, dy)
    with np.errstate(under="ignore"):
        if boolean("approximate", approximate):
            xc, two_u = _gelu_two_u(x)  # beyond the clip, s(1 - s) is exactly 0
            s, one_minus_s = sigmoid(two_u), sigmoid(-two_u)  # 1 - s without cancellation
            du_dx = _SQRT_2_OVER_PI * (1 + (3 * _GELU_CUBIC) * xc * xc)
            return dy * (s + 2 * xc * s * one_minus_s * du_dx)
        cdf = 0.5 * special.erfc(-x * _SQRT_HALF).astype(x.dtype, copy=False)  # Φ(x)
        xc = np.clip(x, -40.0, 40.0)  # beyond, x φ(x) underflows to 0 anyway
        x_pdf = xc * (_INV_SQRT_2PI * np.exp(-0.5 * xc * xc))  # x φ(x)
        return dy * (cdf + x_pdf)


def silu(x):
    r"""Sigmoid-weighted linear unit (swish): :math:`f(x) = x σ(x)`.

    Derivative: :math:`f'(x) = σ(x) + x σ(x)(1 - σ(x)) = σ(x)(1 + x(1 - σ(x)))`.
      Index form:  ∂y_i/∂x_k = δ_ik σ_k (1 + x_k (1 - σ_k)).
      Matrix form: dx = dy ⊙ σ ⊙ (1 + x ⊙ (1 - σ)).
    σ comes from the stable ``sigmoid``; at x = -1000, σ = 0 and the product
    is 0, not NaN. No kink.

    Reference: Elfwing, Uchibe & Doya, "Sigmoid-Weighted Linear Units for
    Neural Network Function Approximation in Reinforcement Learning" (2018),
    arXiv:1702.03118; Ramachandran, Zoph & Le, "Searching for Activation
    Functions" (2017), arXiv:1710.05941 (as swish).

    Keras: ``silu`` and ``swish`` are the same function, without the swish
    paper's trainable β (β = 1). TF's gradient is written as here.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):
        return x * sigmoid(x)


def silu_backward(x, y, dy):
    r"""VJP of ``silu``: ``dx = dy ⊙ σ(x) ⊙ (1 + x ⊙ (1 - σ(x)))``."""
    x, y, dy = _vjp_inputs(x, y, dy)
    s = sigmoid(x)  # (same shape as x)
    with np.errstate(under="ignore"):
        return dy * s * (1 + x * (1 - s))


swish = silu  # the same function object, so ``get(swish)`` and ``get(silu)`` agree
swish_backward = silu_backward


def softmax(x, axis=-1):
    r"""Softmax along ``axis``: :math:`y_i = e^{x_i - m} / \sum_j e^{x_j - m}`, :math:`m = \max_j x_j`.

    Subtracting the max changes nothing mathematically (it cancels between
    top and bottom) and keeps ``exp`` in (0, 1]: softmax([1000, 0]) is [1, 0],
    not NaN.

    Derivative. Index form: with s = Σ_j e^{x_j},
    :math:`\partial y_i / \partial x_k = (δ_{ik} e^{x_i} s - e^{x_i} e^{x_k}) / s^2 = y_i(δ_{ik} - y_k)`,
    so :math:`dx_k = \sum_i dy_i\, y_i(δ_{ik} - y_k) = y_k (dy_k - \sum_i dy_i y_i)`.
    Matrix form (one row y): J = diag(y) - y yᵀ (symmetric), so
    dx = Jᵀ dy = y ⊙ (dy - (dy · y)), i.e.
    ``dx = y * (dy - sum(dy * y, axis, keepdims=True))``. No kink.

    Reference: Bridle, "Probabilistic Interpretation of Feedforward
    Classification Network Outputs" (1990); Goodfellow et al., §6.2.2.3.

    Keras/TF: the same formula. Keras tags the output with its logits so that a
    following cross-entropy takes the fused path (gradient softmax(z) - y); in
    scratchnet the model asks the layer for its pre-activation instead. Keras
    also accepts ``axis=None`` (all elements); here ``axis`` is an int.

    Shapes: x (..., C, ...) -> y (same shape), normalised along ``axis``.
    """
    x = _float_input(x)
    axis = check_axis(axis, x.ndim)
    with np.errstate(under="ignore"):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))  # (same shape as x), in (0, 1]
        return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(x, y, dy, axis=-1):
    r"""VJP of ``softmax``: ``dx = y ⊙ (dy - Σ_axis dy ⊙ y)``."""
    x, y, dy = _vjp_inputs(x, y, dy)
    axis = check_axis(axis, x.ndim)
    with np.errstate(under="ignore"):
        return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def softplus(x):
    r"""Softplus: :math:`f(x) = \log(1 + e^{x})`, a smooth ReLU.

    Computed as :math:`\max(x, 0) + \log(1 + e^{-|x|})` (``log1p``): equal,
    since log(1 + eˣ) = x + log(1 + e⁻ˣ), and the exponent is never positive.

    Derivative: :math:`f'(x) = e^{x}/(1 + e^{x}) = σ(x)`.
      Index form:  ∂y_i/∂x_k = δ_ik σ(x_k).
      Matrix form: dx = dy ⊙ σ(x).   No kink.

    Reference: Dugas, Bengio, Bélisle, Nadeau & Garcia, "Incorporating
    Second-Order Functional Knowledge for Better Option Pricing" (NIPS 2000).

    Keras/TF: TF's kernel returns x for x > -log(eps) - 2 and eˣ for
    x < log(eps) + 2 (±13.9 in float32); those differ from the exact value by
    less than 5e-7 relative in float32.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softplus_backward(x, y, dy):
    r"""VJP of ``softplus``: ``dx = dy ⊙ σ(x)``."""
    x, y, dy = _vjp_inputs(x, y, dy)
    with np.errstate(under="ignore"):
        return dy * sigmoid(x)


def softsign(x):
    r"""Softsign: :math:`f(x) = x / (1 + |x|)`.

    Derivative: for x > 0, f = x/(1 + x) and f' = 1/(1 + x)²; for x < 0 the
    same with -x; so :math:`f'(x) = 1/(1 + |x|)^2`, continuous at 0 (f'(0) = 1).
      Index form:  ∂y_i/∂x_k = δ_ik / (1 + |x_k|)².
      Matrix form: dx = dy ⊙ d ⊙ d, d = 1/(1 + |x|) (two factors, so a huge
      |x| never squares into overflow).

    Reference: Bergstra, Desjardins, Lamblin & Bengio, "Quadratic Polynomials
    Learn Better Image Features" (2009); Glorot & Bengio (AISTATS 2010).

    Keras/TF: the same formula.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    return x / (1 + np.abs(x))


def softsign_backward(x, y, dy):
    r"""VJP of ``softsign``: ``dx = dy / (1 + |x|)²``."""
    x, y, dy = _vjp_inputs(x, y, dy)
    d = 1 / (1 + np.abs(x))  # (same shape as x)
    with np.errstate(under="ignore"):
        return dy * (d * d)


def hard_sigmoid(x):
    r"""Hard sigmoid: :math:`f(x) = \mathrm{clip}(x/6 + 1/2, 0, 1)`, computed as ``relu6(x + 3) / 6``.

    A piecewise-linear sigmoid: 0 for x ≤ -3, 1 for x ≥ 3, x/6 + 1/2 between.
    ``relu6(x + 3) / 6`` is the same function written the way TF computes it
    (bit for bit in float32).

    Derivative: :math:`f'(x) = 1/6` for -3 < x < 3, else 0.
      Index form:  ∂y_i/∂x_k = δ_ik 1[0 < x_k + 3 < 6] / 6.
      Matrix form: dx = dy/6 ⊙ 1[0 < x + 3 < 6].
    Kinks: TensorFlow (the gradient of relu6 at 0 and 6) gives 0 at x = ±3.

    Reference: Howard et al., "Searching for MobileNetV3" (ICCV 2019),
    arXiv:1905.02244.

    Keras: Keras 3 uses x/6 + 1/2; Keras 2 and ``tf.keras`` used the slope
    0.2 (0.2x + 0.5, clipped at ±2.5).

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    return np.clip(x + 3, 0, 6) / 6


def hard_sigmoid_backward(x, y, dy):
    r"""VJP of ``hard_sigmoid``: ``dx = dy/6`` where 0 < x + 3 < 6, else 0 (0 at ±3, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    z = x + 3  # relu6's input, so the kinks are exactly TF's
    return np.where((z > 0) & (z < 6), dy / 6, np.zeros((), dtype=dy.dtype))


def relu6(x):
    r"""ReLU capped at 6: :math:`f(x) = \min(\max(x, 0), 6)`.

    Derivative: :math:`f'(x) = 1[0 < x < 6]`.
      Index form:  ∂y_i/∂x_k = δ_ik 1[0 < x_k < 6].
      Matrix form: dx = dy ⊙ 1[0 < x < 6].
    Kinks: TensorFlow gives relu6'(0) = 0 and relu6'(6) = 0.

    Reference: Krizhevsky, "Convolutional Deep Belief Networks on CIFAR-10"
    (2010); Howard et al., "MobileNets" (2017), arXiv:1704.04861.

    Keras/TF: the same formula.

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    return np.clip(x, 0, 6)


def relu6_backward(x, y, dy):
    r"""VJP of ``relu6``: ``dx = dy ⊙ 1[0 < x < 6]`` (0 at 0 and at 6, as TF)."""
    x, y, dy = _vjp_inputs(x, y, dy)
    return np.where((x > 0) & (x < 6), dy, np.zeros((), dtype=dy.dtype))


def mish(x):
    r"""Mish: :math:`f(x) = x \tanh(\mathrm{softplus}(x))`.

    Derivative, with t = tanh(softplus(x)) and softplus' = σ:
    :math:`f'(x) = t + x (1 - t^2) σ(x)`.
      Index form:  ∂y_i/∂x_k = δ_ik (t_k + x_k (1 - t_k²) σ(x_k)).
      Matrix form: dx = dy ⊙ (t + x ⊙ (1 - t ⊙ t) ⊙ σ(x)).
    At 0: t = tanh(log 2) = 3/5, so mish'(0) = 0.6. No kink.

    Reference: Misra, "Mish: A Self Regularized Non-Monotonic Activation
    Function" (BMVC 2020), arXiv:1908.08681.

    Keras/TF: the same formula, through TF's softplus (see ``softplus``).

    Shapes: x (any shape) -> y (same shape).
    """
    x = _float_input(x)
    with np.errstate(under="ignore"):
        return x * np.tanh(softplus(x))


def mish_backward(x, y, dy):
    r"""VJP of ``mish``: ``dx = dy ⊙ (t + x (1 - t²) σ(x))``, t = tanh(softplus(x))."""
    x, y, dy = _vjp_inputs(x, y, dy)
    t = np.tanh(softplus(x))  # (same shape as x)
    s = sigmoid(x)  # softplus'(x)
    with np.errstate(under="ignore"):
        return dy * (t + x * (1 - t * t) * s)


# ---------------------------------------------------------------------------
# Activation objects and string identifiers.
# ---------------------------------------------------------------------------


def _keyword_params(fn: Callable, skip: int):
    """(names, defaults) of ``fn``'s parameters after the first ``skip``; None if unknown (``np.tanh``, ``**kw``)."""
    if not inspect.isfunction(
        fn
    ):  # a ufunc's or a partial's signature is not about activation parameters
        return None
    try:
        parameters = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    names = [p.name for p in parameters]
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    return names, defaults


@dataclass(frozen=True)
class ActivationFunction:
    r"""An activation: its forward function, its VJP and the parameters both take.

    ``act(x)`` computes ``forward(x, **params)``; ``act.backward(x, y, dy)``
    computes ``backward_fn(x, y, dy, **params)``.

    ``params`` is completed with the forward function's defaults, so
    ``get("leaky_relu").params == {"negative_slope": 0.2}`` and
    ``get_config()`` spells out every parameter (a saved model does not depend
    on today's defaults). A parameter neither function takes is a ValueError.

    A custom activation needs its gradient::

        cube = ActivationFunction("cube", lambda x: x**3, lambda x, y, dy: 3 * x**2 * dy)
    """

    name: str
    forward: Callable
    backward_fn: Callable
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        non_empty_string("name", self.name)
        for arg in ("forward", "backward_fn"):
            if not callable(getattr(self, arg)):
                raise TypeError(
                    f"Invalid type for argument {arg}. Expected a callable. "
                    f"Received {arg}={getattr(self, arg)!r}."
                )
        if not isinstance(self.params, dict):
            raise TypeError(
                f"Invalid type for argument params. Expected a dict. Received params={self.params!r}."
            )
        params = dict(self.params)  # our own copy
        for fn, skip in ((self.forward, 1), (self.backward_fn, 3)):
            signature = _keyword_params(fn, skip)
            if signature is None:
                continue
            names, defaults = signature
            unknown = sorted(set(params) - set(names))
            if unknown:
                raise ValueError(
                    f"Invalid value for argument params. Expected parameters of {self.name!r} "
                    f"among {names}. Received unknown parameters {unknown}."
                )
            if fn is self.forward:
                params = {**defaults, **params}
        object.__setattr__(self, "params", params)

    def __call__(self, x):
        r"""``y = forward(x, **params)``."""
        return self.forward(x, **self.params)

    def backward(self, x, y, dy):
        r"""``dx = backward_fn(x, y, dy, **params)``, the vector-Jacobian product ``J^T dy``."""
        return self.backward_fn(x, y, dy, **self.params)

    def with_params(self, **params) -> ActivationFunction:
        r"""A copy with some parameters changed: ``get("elu").with_params(alpha=0.5)``."""
        return dataclasses.replace(self, params={**self.params, **params})

    def get_config(self) -> dict:
        r"""``{"name": ..., **params}``; ``get(config)`` rebuilds the activation."""
        return {"name": self.name, **self.params}


# The one table of string identifiers: name -> (forward, backward).
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "linear": (linear, linear_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "relu": (relu, relu_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "elu": (elu, elu_backward),
    "selu": (selu, selu_backward),
    "gelu": (gelu, gelu_backward),
    "silu": (silu, silu_backward),
    "swish": (swish, swish_backward),
    "softmax": (softmax, softmax_backward),
    "softplus": (softplus, softplus_backward),
    "softsign": (softsign, softsign_backward),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward),
    "relu6": (relu6, relu6_backward),
    "mish": (mish, mish_backward),
}


def _from_name(name: str, params: dict) -> ActivationFunction:
    key = name.lower()
    if key not in _ACTIVATIONS:
        raise ValueError(
            f"Invalid value for argument activation. Expected one of {sorted(_ACTIVATIONS)}. "
            f"Received activation={name!r}."
        )
    forward, backward = _ACTIVATIONS[key]
    return ActivationFunction(key, forward, backward, params)


def get(identifier) -> ActivationFunction:
    r"""Resolve an activation.

    Accepts a name (case-insensitive), an ``ActivationFunction`` (returned
    as is), ``None`` (linear), one of this module's forward functions, or a
    config dict ``{"name": "leaky_relu", "negative_slope": 0.1}`` as
    ``ActivationFunction.get_config()`` returns it.
    """
    if identifier is None:
        return _from_name("linear", {})
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, str):
        return _from_name(identifier, {})
    if isinstance(identifier, dict):
        params = dict(identifier)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ValueError(
                "Invalid value for argument activation. Expected a config dict with a string "
                f'"name" key, as ActivationFunction.get_config() returns. Received activation={identifier!r}.'
            )
        return _from_name(name, params)
    for key, (forward, backward) in _ACTIVATIONS.items():
        if identifier is forward:
            return ActivationFunction(key, forward, backward)
    raise TypeError(
        "Invalid type for argument activation. Expected a name, a config dict, an "
        "ActivationFunction, None or a function of scratchnet.activations "
        "(a custom activation needs its gradient: ActivationFunction(name, forward, backward)). "
        f"Received activation={identifier!r}."
    )
