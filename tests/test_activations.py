"""Activations: finite-difference gradient checks, TF's kink values, known values,
stability at extreme inputs, dtypes, memory layouts, ``get`` and argument errors.

Reference values marked "TF" were measured with ``tf.GradientTape`` (TF 2.21,
Keras 3.15, float64); everything else is computed here from the formula with
the ``math`` module. No TensorFlow is imported.
"""

import math
import operator

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given

from scratchnet import activations, config
from scratchnet.activations import SELU_ALPHA, SELU_SCALE, ActivationFunction
from scratchnet.gradcheck import check_gradient

GRAD_TOL = 1e-6  # correct float64 code measures about 1e-9
NAMES = sorted(activations._ACTIVATIONS)
FLOATS = (np.float16, np.float32, np.float64)


def _pair(name, params=None):
    """The table's forward and backward for ``name``, with ``params`` bound."""
    params = params or {}
    forward, backward = activations._ACTIVATIONS[name]
    return (
        lambda x: forward(x, **params),
        lambda x, y, dy: backward(x, y, dy, **params),
    )


def _grad(name, x, params=None, dy=None):
    """``dx`` for upstream ``dy`` (ones by default) at ``x``."""
    f, b = _pair(name, params)
    x = np.asarray(x)
    return b(x, f(x), np.ones_like(x) if dy is None else dy)


# ---------------------------------------------------------------------------
# Gradient checks, inputs kept >= 1e-3 from every kink by construction.
# ---------------------------------------------------------------------------


def away_from_kinks(*magnitude_intervals):
    """Floats ``sign * m`` with ``m`` drawn from the given intervals of magnitudes."""
    magnitude = st.one_of(
        *[
            st.floats(lo, hi, allow_nan=False, allow_infinity=False)
            for lo, hi in magnitude_intervals
        ]
    )
    return st.builds(operator.mul, st.sampled_from([-1.0, 1.0]), magnitude)


NEAR_ZERO = ((1e-3, 5.0),)  # |x| in [1e-3, 5]: away from the kink at 0
RELU6 = ((1e-3, 6.0 - 1e-3), (6.0 + 1e-3, 7.0))  # also away from 6, on both sides of it
HARD_SIGMOID = ((1e-3, 3.0 - 1e-3), (3.0 + 1e-3, 5.0))  # away from ±3

GRAD_CASES = [
    ("linear", {}, NEAR_ZERO),
    ("sigmoid", {}, NEAR_ZERO),
    ("tanh", {}, NEAR_ZERO),
    ("relu", {}, NEAR_ZERO),
    ("leaky_relu", {}, NEAR_ZERO),
    ("leaky_relu", {"negative_slope": 0.01}, NEAR_ZERO),
    ("leaky_relu", {"negative_slope": 0.3}, NEAR_ZERO),
    ("leaky_relu", {"negative_slope": 2.0}, NEAR_ZERO),
    ("leaky_relu", {"negative_slope": -0.5}, NEAR_ZERO),
    ("elu", {}, NEAR_ZERO),
    ("elu", {"alpha": 0.5}, NEAR_ZERO),
    ("elu", {"alpha": 2.0}, NEAR_ZERO),
    ("selu", {}, NEAR_ZERO),
    ("gelu", {"approximate": False}, NEAR_ZERO),
    ("gelu", {"approximate": True}, NEAR_ZERO),
    ("silu", {}, NEAR_ZERO),
    ("swish", {}, NEAR_ZERO),
    ("softplus", {}, NEAR_ZERO),
    ("softsign", {}, NEAR_ZERO),
    ("hard_sigmoid", {}, HARD_SIGMOID),
    ("relu6", {}, RELU6),
    ("mish", {}, NEAR_ZERO),
]


@pytest.mark.parametrize(
    "name, params, intervals", GRAD_CASES, ids=[f"{n}-{p}" for n, p, _ in GRAD_CASES]
)
@given(data=st.data())
def test_backward_matches_finite_differences(name, params, intervals, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=away_from_kinks(*intervals)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    f, b = _pair(name, params)
    assert check_gradient(f, lambda v, dy: b(v, f(v), dy), x, rng) < GRAD_TOL


@pytest.mark.parametrize(
    "shape, axis",
    [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)],
)
@given(data=st.data())
def test_softmax_backward_matches_finite_differences(shape, axis, data):
    elements = st.floats(-5.0, 5.0, allow_nan=False, allow_infinity=False)
    x = data.draw(hnp.arrays(np.float64, shape, elements=elements))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    f, b = _pair("softmax", {"axis": axis})
    assert check_gradient(f, lambda v, dy: b(v, f(v), dy), x, rng) < GRAD_TOL


# ---------------------------------------------------------------------------
# Kinks: TensorFlow's values, exactly.
# ---------------------------------------------------------------------------

KINKS = [  # (name, params, x at the kink, TF's derivative there)
    ("relu", {}, 0.0, 0.0),
    ("leaky_relu", {}, 0.0, 0.2),
    ("leaky_relu", {"negative_slope": 0.1}, 0.0, 0.1),
    ("elu", {}, 0.0, 1.0),
    ("elu", {"alpha": 0.5}, 0.0, 0.5),  # TF: where(x > 0, elu, α·elu) takes α·e⁰ at 0
    ("elu", {"alpha": 2.0}, 0.0, 2.0),
    ("selu", {}, 0.0, SELU_SCALE),
    ("relu6", {}, 0.0, 0.0),
    ("relu6", {}, 6.0, 0.0),
    ("hard_sigmoid", {}, -3.0, 0.0),
    ("hard_sigmoid", {}, 3.0, 0.0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, params, x0, expected", KINKS)
def test_derivative_at_kink_is_tensorflows(name, params, x0, expected, dtype):
    dx = _grad(name, np.array([x0], dtype=dtype), params)
    assert dx.dtype == dtype
    assert dx[0] == dtype(expected)


@pytest.mark.parametrize(
    "name, x0, y0",
    [
        ("relu", 0.0, 0.0),
        ("relu6", 6.0, 6.0),
        ("hard_sigmoid", -3.0, 0.0),
        ("hard_sigmoid", 3.0, 1.0),
    ],
)
def test_value_at_kink(name, x0, y0):
    f, _ = _pair(name)
    assert f(np.array([x0]))[0] == y0


def test_derivative_just_beside_kinks():
    eps = 1e-3
    assert _grad("relu", np.array([-eps, eps])).tolist() == [0.0, 1.0]
    assert _grad("relu6", np.array([eps, 6 - eps, 6 + eps])).tolist() == [1.0, 1.0, 0.0]
    sixth = 1 / 6
    assert _grad("hard_sigmoid", np.array([-3 - eps, -3 + eps, 3 - eps, 3 + eps])).tolist() == [
        0.0,
        sixth,
        sixth,
        0.0,
    ]
    assert _grad("selu", np.array([-1e-12]))[0] == pytest.approx(SELU_SCALE * SELU_ALPHA)


# ---------------------------------------------------------------------------
# Known values.
# ---------------------------------------------------------------------------

E = math.e
SIG1 = 1 / (1 + math.exp(-1))  # σ(1)
PHI1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))  # Φ(1)
GELU_TANH1 = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * (1 + 0.044715)))
LAMBDA_ALPHA = 1.0507009873554805 * 1.6732632423543772  # SELU's λα, from the paper's digits
MISH_T1 = ((1 + E) ** 2 - 1) / ((1 + E) ** 2 + 1)  # tanh(log(1 + e))


def tf(value):
    """A value printed by TF to 8 decimals (TF's float64 GELU also rounds its constants to float32)."""
    return pytest.approx(value, abs=1e-8)


def _close(expected):
    """Formula values to the last bits; ``tf(...)`` values as they are."""
    return (
        pytest.approx(expected, rel=1e-14, abs=1e-15) if isinstance(expected, float) else expected
    )


KNOWN = [  # (name, params, x, f(x), f'(x))
    ("linear", {}, -3.5, -3.5, 1.0),
    ("sigmoid", {}, 0.0, 0.5, 0.25),
    ("sigmoid", {}, math.log(3), 0.75, 0.1875),
    ("sigmoid", {}, -math.log(3), 0.25, 0.1875),
    ("tanh", {}, math.log(2), 0.6, 0.64),
    ("relu", {}, -2.0, 0.0, 0.0),
    ("relu", {}, 2.5, 2.5, 1.0),
    ("leaky_relu", {}, -2.0, -0.4, 0.2),
    ("leaky_relu", {}, 3.0, 3.0, 1.0),
    ("leaky_relu", {"negative_slope": 0.1}, -2.0, -0.2, 0.1),
    ("leaky_relu", {"negative_slope": 2.0}, -1.0, -2.0, 2.0),  # TF: where, not max
    ("elu", {}, -1.0, math.exp(-1) - 1, math.exp(-1)),
    ("elu", {"alpha": 2.0}, -1.0, 2 * (math.exp(-1) - 1), 2 * math.exp(-1)),
    ("elu", {"alpha": 2.0}, 2.0, 2.0, 1.0),
    ("selu", {}, 1.0, 1.0507009873554805, 1.0507009873554805),
    ("selu", {}, -1.0, LAMBDA_ALPHA * math.expm1(-1), LAMBDA_ALPHA * math.exp(-1)),
    ("gelu", {}, 1.0, PHI1, PHI1 + math.exp(-0.5) / math.sqrt(2 * math.pi)),
    ("gelu", {"approximate": True}, 1.0, GELU_TANH1, tf(1.08296408)),
    ("gelu", {}, -1.0, -(1 - PHI1), 1 - PHI1 - math.exp(-0.5) / math.sqrt(2 * math.pi)),
    ("silu", {}, 1.0, SIG1, SIG1 * (1 + (1 - SIG1))),
    ("silu", {}, 0.0, 0.0, 0.5),
    ("swish", {}, 1.0, SIG1, tf(0.92767051)),
    ("softplus", {}, 0.0, math.log(2), 0.5),
    ("softplus", {}, math.log(E - 1), 1.0, (E - 1) / E),
    ("softsign", {}, 1.0, 0.5, 0.25),
    ("softsign", {}, -3.0, -0.75, 1 / 16),
    ("softsign", {}, 0.0, 0.0, 1.0),
    ("hard_sigmoid", {}, 0.0, 0.5, 1 / 6),
    ("hard_sigmoid", {}, 1.5, 0.75, 1 / 6),
    ("hard_sigmoid", {}, -4.0, 0.0, 0.0),
    ("hard_sigmoid", {}, 4.0, 1.0, 0.0),
    ("relu6", {}, 3.0, 3.0, 1.0),
    ("relu6", {}, 7.0, 6.0, 0.0),
    ("relu6", {}, -1.0, 0.0, 0.0),
    ("mish", {}, 0.0, 0.0, 0.6),  # tanh(log 2) = 3/5
    ("mish", {}, 1.0, MISH_T1, MISH_T1 + (1 - MISH_T1**2) * SIG1),
    ("mish", {}, -1.0, tf(-0.30340146), tf(0.05921676)),
]


@pytest.mark.parametrize("name, params, x0, y0, d0", KNOWN)
def test_known_values(name, params, x0, y0, d0):
    f, _ = _pair(name, params)
    x = np.array([x0])
    assert f(x)[0] == _close(y0)
    assert _grad(name, x, params)[0] == _close(d0)


def test_selu_constants_are_the_papers():
    # Klambauer et al. (2017), eq. 14, to the digits Keras and TF use.
    assert SELU_ALPHA == 1.6732632423543772
    assert SELU_SCALE == 1.0507009873554805


def test_softmax_known_values():
    y = activations.softmax(np.array([[0.0, math.log(3)], [2.0, 2.0]]))
    np.testing.assert_allclose(y, [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)
    y = activations.softmax(np.array([[0.0, math.log(3)]]), axis=0)
    assert y.tolist() == [[1.0, 1.0]]


def test_softmax_backward_is_orthogonal_to_ones():
    # Σ_k dx_k = Σ_k y_k dy_k - (Σ_k y_k)(Σ_i dy_i y_i) = 0: shifting all logits changes nothing.
    rng = np.random.default_rng(3)
    x, dy = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    dx = activations.softmax_backward(x, activations.softmax(x), dy)
    np.testing.assert_allclose(dx.sum(axis=-1), 0.0, atol=1e-15)


# ---------------------------------------------------------------------------
# Every flag and parameter changes the output.
# ---------------------------------------------------------------------------


def test_gelu_approximate_changes_value_and_derivative():
    x = np.array([-2.0, -0.5, 1.0, 2.5])
    exact, tanh_form = activations.gelu(x), activations.gelu(x, approximate=True)
    assert np.all(np.abs(exact - tanh_form) > 1e-5)
    d_exact = activations.gelu_backward(x, exact, np.ones_like(x))
    d_tanh = activations.gelu_backward(x, tanh_form, np.ones_like(x), approximate=True)
    assert np.all(np.abs(d_exact - d_tanh) > 1e-5)
    assert np.array_equal(activations.gelu(x, approximate=False), exact)  # the default is exact


def test_gelu_tanh_form_needs_its_own_derivative():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, size=(5, 4))

    def tanh_form(v):
        return activations.gelu(v, approximate=True)

    def erf_derivative(v, dy):  # the wrong pairing
        return activations.gelu_backward(v, tanh_form(v), dy, approximate=False)

    def tanh_derivative(v, dy):
        return activations.gelu_backward(v, tanh_form(v), dy, approximate=True)

    assert check_gradient(tanh_form, erf_derivative, x, rng) > 1e-5
    assert check_gradient(tanh_form, tanh_derivative, x, rng) < GRAD_TOL


@pytest.mark.parametrize(
    "name, a, b",
    [
        ("leaky_relu", {"negative_slope": 0.1}, {"negative_slope": 0.3}),
        ("leaky_relu", {}, {"negative_slope": 0.3}),  # the function's 0.2 is not the layer's 0.3
        ("elu", {"alpha": 0.5}, {}),
        ("gelu", {"approximate": True}, {}),
    ],
)
def test_parameter_changes_value_and_derivative(name, a, b):
    x = np.array([-1.5, -0.25])
    fa, ba = _pair(name, a)
    fb, bb = _pair(name, b)
    assert np.all(fa(x) != fb(x))
    dy = np.array([0.7, -1.3])
    assert np.all(ba(x, fa(x), dy) != bb(x, fb(x), dy))


def test_softmax_axis_changes_value_and_derivative():
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    y0, y1 = activations.softmax(x, axis=0), activations.softmax(x, axis=1)
    assert not np.allclose(y0, y1)
    assert np.array_equal(activations.softmax(x), y1)  # default axis=-1
    d0 = activations.softmax_backward(x, y0, dy, axis=0)
    d1 = activations.softmax_backward(x, y1, dy, axis=1)
    assert not np.allclose(d0, d1)


# ---------------------------------------------------------------------------
# Stability: no FloatingPointError, finite outputs and gradients.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_stay_finite(name, dtype):
    x = np.array([-1000.0, -88.8, -1.0, 0.0, 1.0, 88.8, 1000.0], dtype=dtype)
    dy = np.ones_like(x)
    f, b = _pair(name)
    with np.errstate(all="raise"):
        y = f(x)
        dx = b(x, y, dy)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_values_are_right(dtype):
    x = np.array([-1000.0, 1000.0], dtype=dtype)
    with np.errstate(all="raise"):
        assert activations.sigmoid(x).tolist() == [0.0, 1.0]
        assert activations.silu(x).tolist() == [0.0, 1000.0]
        assert activations.softplus(x).tolist() == [0.0, 1000.0]
        assert activations.mish(x).tolist() == [0.0, 1000.0]
        assert activations.elu(x).tolist() == [-1.0, 1000.0]
        assert activations.selu(x).tolist() == [
            dtype(-SELU_SCALE * SELU_ALPHA),
            dtype(SELU_SCALE) * dtype(1000),
        ]
        assert activations.gelu(x).tolist() == [0.0, 1000.0]
        assert activations.gelu(x, approximate=True).tolist() == [0.0, 1000.0]
        assert _grad("sigmoid", x).tolist() == [0.0, 0.0]
        assert _grad("silu", x).tolist() == [0.0, 1.0]
        assert _grad("softplus", x).tolist() == [0.0, 1.0]
        # float32 exp overflows past 88.7; the stable forms do not care.
        y = activations.sigmoid(np.array([-88.8, 88.8], dtype=dtype))
        assert 0 < y[0] < 1e-38 and y[1] == 1.0


@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_extreme_logits(dtype):
    x = np.array([[1000.0, 0.0], [-1000.0, -1000.0], [88.8, -88.8]], dtype=dtype)
    with np.errstate(all="raise"):
        y = activations.softmax(x)
        dx = activations.softmax_backward(x, y, np.ones_like(x))
    assert y[:2].tolist() == [[1.0, 0.0], [0.5, 0.5]]
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


# ---------------------------------------------------------------------------
# dtypes.
# ---------------------------------------------------------------------------


@pytest.fixture
def restore_floatx():
    old = config.floatx()
    yield
    config.set_floatx(old)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", NAMES)
def test_output_dtype_follows_input(name, dtype):
    x = np.linspace(-4, 4, 12).reshape(3, 4).astype(dtype)
    f, b = _pair(name)
    y = f(x)
    assert y.dtype == dtype and y.shape == x.shape
    dx = b(x, y, np.ones(x.shape, dtype=np.float64))  # a float64 dy does not upcast dx
    assert dx.dtype == dtype and dx.shape == x.shape


@pytest.mark.parametrize("name", NAMES)
def test_non_float_input_becomes_floatx(name, restore_floatx):
    f, b = _pair(name)
    for x in (np.array([[-2, 0, 3]]), [[-2, 0, 3]], np.array([[True, False]])):
        y = f(x)
        assert y.dtype == np.float32
        assert b(x, y, np.ones_like(y)).dtype == np.float32
    config.set_floatx("float64")
    assert f(np.array([[1, 2]])).dtype == np.float64


def test_python_scalars_become_floatx(restore_floatx):
    assert np.asarray(activations.relu(3)).dtype == np.float32
    assert np.asarray(activations.sigmoid(0.5)).dtype == np.float32
    assert np.asarray(activations.gelu(1.0)).dtype == np.float32
    assert (
        np.asarray(activations.sigmoid(np.float64(0.5))).dtype == np.float64
    )  # a NumPy float keeps it
    config.set_floatx("float64")
    assert np.asarray(activations.tanh(1)).dtype == np.float64


# ---------------------------------------------------------------------------
# Inputs are not mutated; memory layout does not change results.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_layouts_give_identical_results_and_inputs_are_untouched(name):
    rng = np.random.default_rng(7)
    base = rng.normal(scale=3.0, size=(10, 12))
    dy_base = rng.normal(size=(10, 12))
    f, b = _pair(name)
    x = np.ascontiguousarray(base[::2, ::3])  # (5, 4)
    dy = np.ascontiguousarray(dy_base[::2, ::3])
    y_ref = f(x)
    dx_ref = b(x, y_ref, dy)

    read_only_x, read_only_dy = x.copy(), dy.copy()
    read_only_x.flags.writeable = False
    read_only_dy.flags.writeable = False
    layouts = {
        "strided view": (base[::2, ::3], dy_base[::2, ::3]),
        "fortran": (np.asfortranarray(x), np.asfortranarray(dy)),
        "read-only": (read_only_x, read_only_dy),
    }
    for label, (xv, dyv) in layouts.items():
        x_before, dy_before = xv.copy(), dyv.copy()
        y = f(xv)
        y_before = y.copy()
        dx = b(xv, y, dyv)
        assert np.array_equal(y, y_ref), label
        assert np.array_equal(dx, dx_ref), label
        assert np.array_equal(xv, x_before) and np.array_equal(dyv, dy_before), label
        assert np.array_equal(y, y_before), label
    assert not np.shares_memory(f(x), x)  # linear included: the output is a new array


# ---------------------------------------------------------------------------
# get() and ActivationFunction.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_get_every_table_name(name):
    act = activations.get(name)
    forward, backward = activations._ACTIVATIONS[name]
    assert isinstance(act, ActivationFunction)
    assert act.name == name and act.forward is forward and act.backward_fn is backward
    x = np.array([[-1.5, 0.5, 2.0]])
    assert np.array_equal(act(x), forward(x))
    assert np.array_equal(act.backward(x, act(x), x), backward(x, forward(x), x))
    assert activations.get(name.upper()) == act
    assert activations.get(act.get_config()) == act  # the config round-trips
    assert activations.get(forward).forward is forward


def test_expected_names_are_in_the_table():
    assert set(NAMES) == {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "elu",
        "selu",
        "gelu",
        "silu",
        "swish",
        "softmax",
        "softplus",
        "softsign",
        "hard_sigmoid",
        "relu6",
        "mish",
    }


def test_swish_is_silu():
    assert activations.swish is activations.silu
    assert activations._ACTIVATIONS["swish"][0] is activations._ACTIVATIONS["silu"][0]
    assert activations.get("swish").get_config() == {"name": "swish"}


def test_get_none_identity_and_functions():
    assert activations.get(None).name == "linear"
    act = activations.get("tanh")
    assert activations.get(act) is act
    assert activations.get(activations.relu).name == "relu"
    assert activations.get(activations.softmax).name == "softmax"


def test_params_are_completed_with_defaults():
    assert activations.get("leaky_relu").params == {"negative_slope": 0.2}
    assert activations.get("elu").params == {"alpha": 1.0}
    assert activations.get("gelu").params == {"approximate": False}
    assert activations.get("softmax").params == {"axis": -1}
    assert activations.get("relu").params == {}
    assert activations.get("leaky_relu").get_config() == {
        "name": "leaky_relu",
        "negative_slope": 0.2,
    }


def test_get_dict_config_restores_parameters():
    act = activations.get({"name": "Leaky_ReLU", "negative_slope": 0.1})
    assert act.name == "leaky_relu" and act.params == {"negative_slope": 0.1}
    x = np.array([-2.0, 3.0])
    assert act(x).tolist() == [-0.2, 3.0]
    assert act.backward(x, act(x), np.ones(2)).tolist() == [0.1, 1.0]
    assert act.get_config() == {"name": "leaky_relu", "negative_slope": 0.1}
    assert activations.get(act.get_config()) == act
    gelu_tanh = activations.get({"name": "gelu", "approximate": True})
    assert gelu_tanh(np.array([1.0]))[0] == pytest.approx(GELU_TANH1, rel=1e-14)
    softmax0 = activations.get({"name": "softmax", "axis": 0})
    assert softmax0(np.array([[0.0, 5.0], [0.0, 5.0]])).tolist() == [[0.5, 0.5], [0.5, 0.5]]


def test_with_params():
    elu = activations.get("elu")
    half = elu.with_params(alpha=0.5)
    assert half.params == {"alpha": 0.5} and elu.params == {"alpha": 1.0}
    assert half(np.array([-1.0]))[0] == pytest.approx(0.5 * (math.exp(-1) - 1), rel=1e-14)
    with pytest.raises(ValueError, match=r"Received unknown parameters \['alpah'\]"):
        elu.with_params(alpah=0.5)


def test_activation_function_copies_its_params():
    params = {"alpha": 0.5}
    act = ActivationFunction("elu", activations.elu, activations.elu_backward, params)
    params["alpha"] = 3.0
    assert act.params == {"alpha": 0.5}


def test_custom_activation_function():
    cube = ActivationFunction("cube", lambda x: x**3, lambda x, y, dy: 3 * x**2 * dy)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2))
    assert check_gradient(cube, lambda v, dy: cube.backward(v, cube(v), dy), x, rng) < GRAD_TOL
    assert cube.get_config() == {"name": "cube"}
    ufunc = ActivationFunction("tanh2", np.tanh, activations.tanh_backward)  # no signature: fine
    assert ufunc.params == {}


def test_get_errors():
    with pytest.raises(
        ValueError, match=r"Expected one of \[.*'relu'.*\]\. Received activation='relu7'"
    ):
        activations.get("relu7")
    with pytest.raises(TypeError, match=r"ActivationFunction\(name, forward, backward\)"):
        activations.get(lambda x: x)
    with pytest.raises(TypeError, match=r"needs its gradient"):
        activations.get(np.tanh)
    with pytest.raises(TypeError, match=r"Received activation=42"):
        activations.get(42)
    with pytest.raises(TypeError, match=r"Received activation="):
        activations.get(activations.relu_backward)  # a backward is not an activation
    with pytest.raises(ValueError, match=r'string "name" key'):
        activations.get({"negative_slope": 0.1})
    with pytest.raises(ValueError, match=r"Expected one of"):
        activations.get({"name": "nope"})
    with pytest.raises(ValueError, match=r"Received unknown parameters \['alpha'\]"):
        activations.get({"name": "relu", "alpha": 1.0})
    with pytest.raises(TypeError, match=r"argument forward\. Expected a callable"):
        ActivationFunction("x", "relu", activations.relu_backward)
    with pytest.raises(TypeError, match=r"argument name"):
        ActivationFunction("", activations.relu, activations.relu_backward)
    with pytest.raises(TypeError, match=r"argument params\. Expected a dict"):
        ActivationFunction("relu", activations.relu, activations.relu_backward, [("a", 1)])


# ---------------------------------------------------------------------------
# Argument errors.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, kwargs, exc, pattern",
    [
        (activations.leaky_relu, {"negative_slope": float("nan")}, ValueError, "negative_slope"),
        (activations.leaky_relu, {"negative_slope": float("inf")}, ValueError, "negative_slope"),
        (activations.leaky_relu, {"negative_slope": "0.2"}, TypeError, "negative_slope"),
        (activations.leaky_relu, {"negative_slope": True}, TypeError, "negative_slope"),
        (
            activations.elu,
            {"alpha": float("nan")},
            ValueError,
            r"argument alpha\. Expected a finite",
        ),
        (activations.elu, {"alpha": None}, TypeError, "alpha"),
        (
            activations.gelu,
            {"approximate": "yes"},
            TypeError,
            r"argument approximate\. Expected a bool",
        ),
        (activations.gelu, {"approximate": 1}, TypeError, "approximate"),
        (
            activations.softmax,
            {"axis": 2},
            ValueError,
            r"argument axis\. Expected an integer in \[-2, 2\)",
        ),
        (activations.softmax, {"axis": -3}, ValueError, "axis=-3"),
        (activations.softmax, {"axis": 1.0}, TypeError, r"argument axis\. Expected an integer"),
        (activations.softmax, {"axis": None}, TypeError, "axis"),
    ],
)
def test_bad_parameters(fn, kwargs, exc, pattern):
    x = np.zeros((2, 3))
    with pytest.raises(exc, match=pattern):
        fn(x, **kwargs)
    backward = getattr(activations, fn.__name__ + "_backward")
    with pytest.raises(exc, match=pattern):
        backward(x, x, x, **kwargs)


def test_numpy_bool_is_a_bool():
    x = np.array([1.0])
    assert activations.gelu(x, approximate=np.True_)[0] == activations.gelu(x, approximate=True)[0]


def test_softmax_of_a_scalar_has_no_axis():
    with pytest.raises(ValueError, match=r"rank 0"):
        activations.softmax(np.float64(1.0))


def test_backward_shape_mismatch():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"argument dy\. Expected an array of shape \(2, 3\)"):
        activations.relu_backward(x, x, np.zeros((3,)))
    with pytest.raises(ValueError, match=r"argument y\. .*Received y\.shape=\(3, 2\)"):
        activations.sigmoid_backward(x, np.zeros((3, 2)), x)


def test_non_numeric_input():
    with pytest.raises(TypeError, match=r"argument x\. Expected a numeric array"):
        activations.relu(np.array(["a", "b"]))
    with pytest.raises(TypeError, match=r"argument x"):
        activations.sigmoid(np.array([1 + 2j]))
    with pytest.raises(TypeError, match=r"argument dy"):
        activations.tanh_backward(np.zeros(2), np.zeros(2), None)


def test_selu_docstring_states_one_rule_at_zero():
    """The derivative, its index form and the kink note all say selu'(0) = λ (the code's rule)."""
    doc = activations.selu.__doc__
    assert r":math:`f'(x) = λ` if :math:`x \ge 0`" in doc and "λ if x_k ≥ 0" in doc
    assert "if :math:`x > 0`, else :math:`λ α e^{x}" not in doc
    dx = activations.selu_backward(np.zeros(1), activations.selu(np.zeros(1)), np.ones(1))
    np.testing.assert_allclose(dx, activations.SELU_SCALE)
