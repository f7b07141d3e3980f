r"""Gradient checks in the tails: every activation, out to where it saturates in float64.

Central differences in float64 cannot check a tail: where :math:`\sigma(x)` is
:math:`1 - 10^{-13}`, :math:`(f(x+h) - f(x-h))/2h` is rounding noise. So the
reference here is each derivative written out by hand (calculus on the
textbook formula, not a copy of scratchnet's expression) and evaluated by
``mpmath`` with 400 significant digits (so that even :math:`1 + e^{-690}`
keeps 100 of them and the references may be written as plainly as the
textbook writes them), and the check is **element by
element**: :math:`|dx - f'(x)\,dy| \le` ``RTOL`` :math:`|f'(x)\,dy|` for every
entry, with a random upstream :math:`dy`. A norm-wise error would let the
largest entry hide the others, which is how a tail goes wrong unnoticed.

Each activation is drawn from :math:`|x| \ge 5` out to where its derivative
(or its distance from its asymptote) leaves float64's normal range
(about :math:`10^{-300}`): :math:`|x| \le 690` where the tail is
:math:`e^{-|x|}`, 345 for tanh's :math:`e^{-2|x|}`, 37 for GELU's
:math:`e^{-x^2/2}`, 21 for the tanh-form GELU's :math:`e^{2u}` (both GELUs out to
:math:`10^{150}` on the right, where :math:`x^3` would overflow without the clip), :math:`10^{150}`
for softsign's :math:`1/x^2`, :math:`10^{300}` for the piecewise-linear ones.

``RTOL`` = 1e-10: a correct formula loses a few ulps to :math:`e^{x}` of a
rounded argument (:math:`|x|\cdot 10^{-16}`); a formula that cancels fails by
orders of magnitude (tanh' as :math:`1 - y^2` at :math:`x = 10`: 3e-8; σ' as
:math:`y(1 - y)` at :math:`x = 30`: 1e-3; ELU' as :math:`y + \alpha` at
:math:`x = -30`: 2e-3). Those three were fixed for this test.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchnet import activations

mp.mp.dps = 400  # 1 + e^{-690} still keeps 100 digits: the references may cancel freely
RTOL = 1e-10


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _gelu_tanh_derivative(x):
    c, k = mp.sqrt(2 / mp.pi), mp.mpf(0.044715)
    u = c * (x + k * x**3)
    return (1 + mp.tanh(u)) / 2 + x / 2 * mp.sech(u) ** 2 * c * (1 + 3 * k * x**2)


def _mish_derivative(x):
    sp = mp.log(1 + mp.exp(x))
    return mp.tanh(sp) + x * mp.sech(sp) ** 2 * _sigmoid(x)


SLOPE, LAMBDA, ALPHA = mp.mpf(0.2), mp.mpf(activations.SELU_SCALE), mp.mpf(activations.SELU_ALPHA)
LINEAR_TAILS = ((-1e300, -5.0), (5.0, 1e300))
EXP = ((-690.0, -5.0), (5.0, 690.0))  # e^{-|x|} >= 1e-300

# (name, params, f'(x) derived by hand and evaluated in 400 digits, signed intervals of x)
CASES = [
    ("linear", {}, lambda x: 1, LINEAR_TAILS),
    ("relu", {}, lambda x: 1 if x > 0 else 0, LINEAR_TAILS),
    ("leaky_relu", {}, lambda x: 1 if x > 0 else SLOPE, LINEAR_TAILS),
    ("relu6", {}, lambda x: 1 if 0 < x < 6 else 0, ((-1e300, -5.0), (7.0, 1e300))),
    ("hard_sigmoid", {}, lambda x: mp.mpf(1) / 6 if -3 < x < 3 else 0, LINEAR_TAILS),
    ("sigmoid", {}, lambda x: _sigmoid(x) * _sigmoid(-x), EXP),
    ("tanh", {}, lambda x: mp.sech(x) ** 2, ((-345.0, -5.0), (5.0, 345.0))),
    ("softplus", {}, _sigmoid, EXP),
    ("softsign", {}, lambda x: 1 / (1 + abs(x)) ** 2, ((-1e150, -5.0), (5.0, 1e150))),
    ("elu", {}, lambda x: 1 if x > 0 else mp.exp(x), EXP),
    ("elu", {"alpha": 0.5}, lambda x: 1 if x > 0 else mp.mpf(0.5) * mp.exp(x), EXP),
    ("selu", {}, lambda x: LAMBDA if x > 0 else LAMBDA * ALPHA * mp.exp(x), EXP),
    (
        "gelu",
        {"approximate": False},
        lambda x: mp.erfc(-x / mp.sqrt(2)) / 2 + x * mp.npdf(x),
        ((-37.0, -5.0), (5.0, 1e150)),
    ),
    ("gelu", {"approximate": True}, _gelu_tanh_derivative, ((-21.0, -5.0), (5.0, 1e150))),
    ("silu", {}, lambda x: _sigmoid(x) + x * _sigmoid(x) * _sigmoid(-x), EXP),
    ("swish", {}, lambda x: _sigmoid(x) + x * _sigmoid(x) * _sigmoid(-x), EXP),
    ("mish", {}, _mish_derivative, EXP),
]


def tail(intervals):
    return st.one_of(*[st.floats(lo, hi) for lo, hi in intervals])


@pytest.mark.parametrize(
    "name,params,derivative,intervals", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
@given(data=st.data())
def test_backward_in_the_tails(name, params, derivative, intervals, data):
    x = data.draw(hnp.arrays(np.float64, data.draw(st.integers(1, 6)), elements=tail(intervals)))
    dy = data.draw(
        hnp.arrays(
            np.float64, x.shape, elements=st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 0.1)
        )
    )
    act = activations.get({"name": name, **params})
    dx = act.backward(x, act(x), dy)
    expected = np.array(
        [float(derivative(mp.mpf(xi)) * mp.mpf(di)) for xi, di in zip(x, dy, strict=True)]
    )
    np.testing.assert_allclose(dx, expected, rtol=RTOL, atol=0, err_msg=f"x = {x!r}")


@given(data=st.data())
def test_softmax_backward_with_saturated_rows(data):
    # Logits spread by up to 700: one probability is 1 − 1e-300 or so, the rest tiny. The VJP
    # y_k (dy_k − Σ_i dy_i y_i) cancels when dy is nearly constant along the row, for any O(n)
    # formula (TF's too), so each entry is held to RTOL of its own scale
    # y_k (|dy_k| + Σ_i |dy_i| y_i): the tiny probabilities' gradients keep full relative accuracy.
    n = data.draw(st.integers(2, 5))
    x = data.draw(hnp.arrays(np.float64, (2, n), elements=st.floats(-350.0, 350.0)))
    dy = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-2.0, 2.0)))
    dx = activations.softmax_backward(x, activations.softmax(x), dy)
    for row, g_row, dx_row in zip(x, dy, dx, strict=True):
        xs = [mp.mpf(v) for v in row]
        e = [mp.exp(v - max(xs)) for v in xs]
        y = [v / sum(e) for v in e]
        dot = sum(mp.mpf(gi) * yi for gi, yi in zip(g_row, y, strict=True))
        size = sum(abs(mp.mpf(gi)) * yi for gi, yi in zip(g_row, y, strict=True))
        for k, (yk, gk) in enumerate(zip(y, g_row, strict=True)):
            expected = yk * (mp.mpf(gk) - dot)
            scale = yk * (abs(mp.mpf(gk)) + size)
            assert abs(mp.mpf(dx_row[k]) - expected) <= RTOL * scale + mp.mpf(1e-300), (row, k)
