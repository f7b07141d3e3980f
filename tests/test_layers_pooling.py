"""MaxPooling2D and AveragePooling2D: TF's rules, loop vs fast, gradients without ties, errors."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from scratchnet import gradcheck
from scratchnet.layers import AveragePooling2D, MaxPooling2D
from scratchnet.layers.pooling import (
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_backward_loop,
    avg_pool2d_loop,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_backward_loop,
    max_pool2d_loop,
)

TOL = 1e-7


@st.composite
def pool_configs(draw, max_side=7):
    padding = draw(st.sampled_from(["valid", "same"]))
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    low_h, low_w = (ph, pw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low_h, max_side)), draw(st.integers(low_w, max_side))
    return {
        "shape": (draw(st.integers(1, 2)), h, w, draw(st.integers(1, 3))),
        "pool_size": (ph, pw),
        "strides": strides,
        "padding": padding,
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def distinct_values(rng, shape):
    """A random arrangement of values at least 0.1 apart (no ties), with random offsets and signs."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.1 - 0.05 * size + rng.uniform(-0.01, 0.01)).reshape(shape)


def geometry(cfg):
    strides = cfg["pool_size"] if cfg["strides"] is None else cfg["strides"]
    return cfg["pool_size"], strides, cfg["padding"]


@given(cfg=pool_configs(), layer_class=st.sampled_from([MaxPooling2D, AveragePooling2D]))
def test_pooling_gradients(cfg, layer_class):
    rng = np.random.default_rng(cfg["seed"])
    layer = layer_class(cfg["pool_size"], cfg["strides"], cfg["padding"], dtype="float64")
    layer.build(cfg["shape"][1:])
    x = distinct_values(rng, cfg["shape"])  # ties excluded by construction
    errors = gradcheck.check_layer(layer, x, rng)
    assert set(errors) == {"x"} and errors["x"] < TOL, errors


@given(cfg=pool_configs(), tied=st.booleans())
@example(
    cfg={
        "shape": (2, 26, 26, 4),
        "pool_size": (2, 2),
        "strides": None,
        "padding": "valid",
        "seed": 0,
    },
    tied=False,
)
def test_loop_and_fast_agree(cfg, tied):
    rng = np.random.default_rng(cfg["seed"])
    # tied: few distinct values, so most windows hold several equal maxima
    x = (
        rng.integers(-2, 2, size=cfg["shape"]).astype(float)
        if tied
        else rng.normal(size=cfg["shape"])
    )
    args = geometry(cfg)
    y = max_pool2d(x, *args)
    np.testing.assert_array_equal(y, max_pool2d_loop(x, *args))
    dy = rng.normal(size=y.shape)
    np.testing.assert_allclose(
        max_pool2d_backward(x, y, dy, *args), max_pool2d_backward_loop(x, dy, *args), rtol=1e-12
    )
    a = avg_pool2d(x, *args)
    np.testing.assert_allclose(a, avg_pool2d_loop(x, *args), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        avg_pool2d_backward(x.shape, dy, *args),
        avg_pool2d_backward_loop(x, dy, *args),
        rtol=1e-12,
        atol=1e-15,
    )


def test_max_pool_tie_sends_the_whole_gradient_to_the_first_maximum():
    # Windows (2x2, stride 2) with tied maxima; TF's MaxPoolGrad picks the first in row-major order.
    x = np.array(
        [
            [1.0, 3.0, 3.0, 0.0],
            [3.0, 2.0, 1.0, 3.0],
            [0.0, 0.0, 5.0, 5.0],
            [5.0, 5.0, 0.0, 0.0],
        ]
    ).reshape(1, 4, 4, 1)
    layer = MaxPooling2D(dtype="float64")
    np.testing.assert_array_equal(layer(x)[0, :, :, 0], [[3.0, 3.0], [5.0, 5.0]])
    dx = layer.backward(np.array([1.0, 10.0, 100.0, 1000.0]).reshape(1, 2, 2, 1))
    expected = [  # measured with tf.nn.max_pool2d + GradientTape (TF 2.21)
        [0.0, 1.0, 10.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 1000.0, 0.0],
        [100.0, 0.0, 0.0, 0.0],
    ]
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_overlapping_windows_each_pick_their_own_first_maximum():
    # All equal, 2x2 windows with stride 1: each window's top-left cell (TF gives the same).
    layer = MaxPooling2D(2, strides=1, dtype="float64")
    x = np.full((1, 3, 4, 1), 0.7)
    layer(x)
    dx = layer.backward(np.ones((1, 2, 3, 1)))[0, :, :, 0]
    np.testing.assert_array_equal(dx, [[1, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]])


def test_max_pool_same_pads_with_minus_infinity():
    x = -np.random.default_rng(0).uniform(1.0, 2.0, size=(1, 3, 3, 1))
    y = MaxPooling2D(2, padding="same", dtype="float64")(x)[0, :, :, 0]
    expected = [
        [x[0, :2, :2, 0].max(), x[0, :2, 2, 0].max()],
        [x[0, 2, :2, 0].max(), x[0, 2, 2, 0]],
    ]
    np.testing.assert_array_equal(y, expected)  # all negative: a zero pad would have won
    assert np.all(y < 0)


def test_average_pool_same_divides_by_the_real_cells():
    x = np.random.default_rng(1).normal(size=(1, 3, 3, 1))
    y = AveragePooling2D(2, padding="same", dtype="float64")(x)[0, :, :, 0]
    expected = [
        [x[0, :2, :2, 0].mean(), x[0, :2, 2, 0].mean()],  # 4 cells, then 2 cells (not 4)
        [x[0, 2, :2, 0].mean(), x[0, 2, 2, 0]],  # 2 cells, then 1 cell
    ]
    np.testing.assert_allclose(y, expected, rtol=1e-14)
    layer = AveragePooling2D(2, padding="same", dtype="float64")
    layer(x)
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    np.testing.assert_allclose(dx, [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


@pytest.mark.parametrize("layer_class", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize(
    "hw, pool, strides, padding, out",
    [
        ((28, 28), (2, 2), None, "valid", (14, 14)),
        ((27, 27), (2, 2), None, "valid", (13, 13)),  # odd: the last row/column is dropped
        ((27, 27), (2, 2), None, "same", (14, 14)),  # odd: one padding row/column bottom/right
        ((5, 6), (3, 3), (2, 2), "same", (3, 3)),
        ((5, 6), (3, 2), (1, 3), "valid", (3, 2)),
        ((2, 2), (3, 3), None, "same", (1, 1)),
        ((7, 4), (1, 1), (3, 3), "same", (3, 2)),
    ],
)
def test_output_sizes(layer_class, hw, pool, strides, padding, out):
    layer = layer_class(pool, strides, padding)
    assert layer.compute_output_shape((*hw, 3)) == (*out, 3)
    assert layer(np.zeros((2, *hw, 3))).shape == (2, *out, 3)


def test_strides_default_to_pool_size_and_flags_change_the_output():
    x = np.random.default_rng(2).normal(size=(1, 6, 6, 2))
    assert MaxPooling2D(3).strides == (3, 3)
    assert MaxPooling2D(3)(x).shape == (1, 2, 2, 2)
    assert MaxPooling2D(3, strides=1)(x).shape == (1, 4, 4, 2)
    assert not np.allclose(MaxPooling2D(2)(x), AveragePooling2D(2)(x))
    assert MaxPooling2D(4, padding="same")(x).shape == (1, 2, 2, 2)
    assert MaxPooling2D().get_config()["pool_size"] == (2, 2)


@pytest.mark.parametrize("layer_class", [MaxPooling2D, AveragePooling2D])
def test_pooling_errors(layer_class):
    with pytest.raises(
        ValueError, match=r"argument pool_size\. Expected strictly positive integers"
    ):
        layer_class(0)
    with pytest.raises(ValueError, match=r"argument strides\. Expected strictly positive integers"):
        layer_class(2, strides=(0, 1))
    with pytest.raises(ValueError, match=r"argument padding\. Expected one of \('valid', 'same'\)"):
        layer_class(2, padding="causal")
    with pytest.raises(
        ValueError,
        match=r"argument pool_size\. Expected a window no larger than the input's spatial size \(3, 3\)",
    ):
        layer_class(4).build((3, 3, 1))
    with pytest.raises(
        ValueError, match=r"argument input_shape\. Expected a 3-D shape \(H, W, C\)"
    ):
        layer_class().build((4, 4))
    layer = layer_class()
    layer.build((4, 4, 2))
    with pytest.raises(ValueError, match=r"argument inputs\. Expected last axis of size 2"):
        layer.forward(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"argument inputs\. Expected a 4-D array"):
        layer.forward(np.zeros((4, 4, 2)))
    layer.forward(np.zeros((1, 4, 4, 2)))
    with pytest.raises(
        ValueError, match=r"argument dy\. Expected the shape of the latest output \(1, 2, 2, 2\)"
    ):
        layer.backward(np.zeros((1, 4, 4, 2)))


def test_max_pool_tie_rule_names_its_kernel():
    """First maximum in row-major order is TF's CPU kernel's choice; the docstring says which."""
    assert "TF's CPU\n    kernel picks this subgradient" in MaxPooling2D.__doc__
