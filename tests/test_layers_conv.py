"""Conv2D: window arithmetic, loop reference vs im2col, finite-difference gradients, errors."""

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from scratchnet import gradcheck
from scratchnet.layers import Conv2D
from scratchnet.layers.conv import (
    conv2d,
    conv2d_backward,
    conv2d_backward_loop,
    conv2d_loop,
    window_geometry,
)

TOL = 1e-7


@st.composite
def conv_configs(draw, max_side=7):
    """A Conv2D configuration whose kernel fits: strides 1-3, odd/even sizes, "valid"/"same"."""
    padding = draw(st.sampled_from(["valid", "same"]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    low_h, low_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low_h, max_side)), draw(st.integers(low_w, max_side))
    return {
        "n": draw(st.integers(1, 2)),
        "hwc": (h, w, draw(st.integers(1, 3))),
        "filters": draw(st.integers(1, 3)),
        "kernel_size": (kh, kw),
        "strides": (sh, sw),
        "padding": padding,
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def built_layer(cfg, **kwargs):
    rng = np.random.default_rng(cfg["seed"])
    layer = Conv2D(
        cfg["filters"],
        cfg["kernel_size"],
        cfg["strides"],
        cfg["padding"],
        dtype="float64",
        **kwargs,
    )
    layer.build(cfg["hwc"], rng)
    if layer.use_bias:
        layer.bias[...] = rng.normal(size=cfg["filters"])
    return layer, rng


@pytest.mark.parametrize(
    "n, k, s, expected",
    [
        # "same": out = ceil(n / s), total pad = max((out - 1)s + k - n, 0), extra pixel after
        (5, 3, 1, (5, (1, 1))),
        (5, 3, 2, (3, (1, 1))),
        (6, 3, 2, (3, (0, 1))),  # odd total: bottom/right gets the extra row
        (4, 2, 1, (4, (0, 1))),
        (5, 4, 1, (5, (1, 2))),
        (7, 1, 3, (3, (0, 0))),  # total would be negative: no padding
        (3, 5, 1, (3, (2, 2))),  # window larger than the input is fine with "same"
        (2, 4, 3, (1, (1, 1))),
        (28, 3, 1, (28, (1, 1))),
    ],
)
def test_same_padding_follows_tensorflow(n, k, s, expected):
    out, pads = window_geometry((n, 1), (k, 1), (s, 1), "same")
    assert (out[0], pads[0]) == expected


@pytest.mark.parametrize(
    "n, k, s, out", [(7, 3, 2, 3), (6, 3, 2, 2), (28, 3, 1, 26), (5, 5, 1, 1), (9, 2, 3, 3)]
)
def test_valid_output_size(n, k, s, out):
    assert window_geometry((n, n), (k, k), (s, s), "valid") == ((out, out), ((0, 0), (0, 0)))


def test_same_padding_puts_the_extra_pixel_bottom_right():
    # Kernel 2x2 picking its bottom-right tap: y[i, j] = x_p[i+1, j+1]. With the
    # single padding row/column after the input (TF), y is x shifted up-left
    # with zeros in the last row and column. (Checked against tf.nn.conv2d.)
    x = np.random.default_rng(0).normal(size=(1, 3, 4, 1))
    layer = Conv2D(1, 2, padding="same", use_bias=False, dtype="float64")
    layer.build((3, 4, 1))
    layer.set_weights([np.array([[0.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)])
    y = layer(x)[0, :, :, 0]
    expected = np.zeros((3, 4))
    expected[:2, :3] = x[0, 1:, 1:, 0]
    np.testing.assert_array_equal(y, expected)


def test_cross_correlation_by_hand():
    x = np.random.default_rng(1).normal(size=(1, 4, 5, 2))
    w = np.random.default_rng(2).normal(size=(3, 2, 2, 1))
    y, _ = conv2d(x, w, np.array([0.5]), (1, 2), "valid")
    assert y.shape == (1, 2, 2, 1)
    # y[0, i, j, 0] = 0.5 + sum_{p,q,c} x[0, i + p, 2j + q, c] * w[p, q, c, 0]: no kernel flip
    for i, j in np.ndindex(2, 2):
        window = x[0, i : i + 3, 2 * j : 2 * j + 2, :]
        assert y[0, i, j, 0] == pytest.approx(0.5 + np.sum(window * w[..., 0]), rel=1e-12)


@given(cfg=conv_configs(), use_bias=st.booleans())
@example(
    cfg={
        "n": 2,
        "hwc": (28, 28, 1),
        "filters": 3,
        "kernel_size": (3, 3),
        "strides": (1, 1),
        "padding": "valid",
        "seed": 0,
    },
    use_bias=True,
)
def test_loop_and_im2col_agree(cfg, use_bias):
    rng = np.random.default_rng(cfg["seed"])
    kh, kw = cfg["kernel_size"]
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    kernel = rng.normal(size=(kh, kw, cfg["hwc"][2], cfg["filters"]))
    bias = rng.normal(size=cfg["filters"]) if use_bias else None
    args = (cfg["strides"], cfg["padding"])
    y_loop = conv2d_loop(x, kernel, bias, *args)
    y_fast, cols = conv2d(x, kernel, bias, *args)
    np.testing.assert_allclose(y_fast, y_loop, rtol=1e-12, atol=1e-12)
    dy = rng.normal(size=y_loop.shape)
    slow = conv2d_backward_loop(x, kernel, dy, *args, use_bias=use_bias)
    fast = conv2d_backward(x.shape, cols, kernel, dy, *args, use_bias=use_bias)
    for a, b in zip(fast, slow, strict=True):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@given(
    cfg=conv_configs(), use_bias=st.booleans(), activation=st.sampled_from(["linear", "softmax"])
)
def test_conv2d_gradients(cfg, use_bias, activation):
    layer, rng = built_layer(cfg, use_bias=use_bias, activation=activation)
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    errors = gradcheck.check_layer(layer, x, rng)
    assert len(errors) == (3 if use_bias else 2)
    assert all(e < TOL for e in errors.values()), errors


@given(cfg=conv_configs(max_side=5))
def test_conv2d_relu_gradient_away_from_the_kink(cfg):
    layer, rng = built_layer(cfg, activation="relu")
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    layer.forward(x)
    assume(np.abs(layer.preactivation).min() > 1e-3)
    errors = gradcheck.check_layer(layer, x, rng)
    assert all(e < TOL for e in errors.values()), errors


def test_relu_backward_masks_then_convolves_and_wrt_preactivation_skips_it():
    cfg = {
        "n": 2,
        "hwc": (6, 5, 2),
        "filters": 3,
        "kernel_size": (3, 2),
        "strides": (2, 1),
        "padding": "same",
        "seed": 4,
    }
    relu, rng = built_layer(cfg, activation="relu")
    linear, _ = built_layer(cfg)
    linear.set_weights(relu.get_weights())
    x = rng.normal(size=(2, 6, 5, 2))
    y = relu.forward(x)
    z = linear.forward(x)
    np.testing.assert_array_equal(relu.preactivation, z)
    np.testing.assert_array_equal(y, np.maximum(z, 0))
    dy = rng.normal(size=y.shape)
    dx = relu.backward(dy)
    np.testing.assert_allclose(dx, linear.backward(dy * (z > 0)), rtol=1e-12)
    np.testing.assert_allclose(relu.grads[0], linear.grads[0], rtol=1e-12)
    np.testing.assert_allclose(relu.backward(dy, wrt_preactivation=True), linear.backward(dy))


def test_layer_shapes_flags_and_keras_layout():
    rng = np.random.default_rng(0)
    layer = Conv2D(32, 3, activation="relu")
    layer.build((28, 28, 1), rng)
    assert layer.kernel.shape == (3, 3, 1, 32) and layer.bias.shape == (32,)
    assert layer.count_params() == 320
    assert layer.compute_output_shape((28, 28, 1)) == (26, 26, 32)
    x = rng.random((4, 28, 28, 1), dtype=np.float32)
    y = layer(x)
    assert y.shape == (4, 26, 26, 32) and y.dtype == np.float32
    assert Conv2D(8, (3, 2), strides=(2, 3), padding="same").compute_output_shape((7, 8, 3)) == (
        4,
        3,
        8,
    )
    same = Conv2D(2, 3, padding="same", use_bias=False, kernel_initializer="ones", dtype="float64")
    assert same(np.ones((1, 3, 3, 1)))[0, :, :, 0].tolist() == [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    assert len(same.weights) == 1
    biased = Conv2D(2, 3, kernel_initializer="ones", bias_initializer="ones", dtype="float64")
    assert biased(np.ones((1, 3, 3, 1)))[0, 0, 0, :].tolist() == [10.0, 10.0]
    strided = Conv2D(1, 1, strides=2, kernel_initializer="ones", use_bias=False, dtype="float64")
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 1))
    np.testing.assert_array_equal(strided(x), x[:, ::2, ::2, :])
    # spatial size may change after build (the kernel does not depend on it); channels may not
    assert layer(np.zeros((1, 10, 12, 1), dtype=np.float32)).shape == (1, 8, 10, 32)


def test_conv2d_errors():
    with pytest.raises(
        ValueError,
        match=r"argument filters\. Expected a strictly positive integer\. Received filters=0",
    ):
        Conv2D(0, 3)
    with pytest.raises(
        ValueError, match=r"argument kernel_size\. Expected strictly positive integers"
    ):
        Conv2D(1, (3, 0))
    with pytest.raises(
        ValueError, match=r"argument kernel_size\. Expected an integer or a tuple of 2"
    ):
        Conv2D(1, (3, 3, 3))
    with pytest.raises(ValueError, match=r"argument strides\. Expected strictly positive integers"):
        Conv2D(1, 3, strides=-1)
    with pytest.raises(
        ValueError,
        match=r"argument padding\. Expected one of \('valid', 'same'\)\. Received padding='full'",
    ):
        Conv2D(1, 3, padding="full")
    with pytest.raises(
        TypeError, match=r"argument use_bias\. Expected a bool\. Received use_bias=None"
    ):
        Conv2D(1, 3, use_bias=None)
    with pytest.raises(
        ValueError,
        match=r"argument kernel_size\. Expected a window no larger than the input's spatial size \(2, 5\) with padding='valid'",
    ):
        Conv2D(1, 3).build((2, 5, 1))
    with pytest.raises(
        ValueError, match=r"argument input_shape\. Expected a 3-D shape \(H, W, C\)"
    ):
        Conv2D(1, 3).build((28, 28))
    layer = Conv2D(1, 3)
    layer.build((5, 5, 2))
    with pytest.raises(ValueError, match=r"argument inputs\. Expected a 4-D array"):
        layer.forward(np.ones((5, 5, 2)))
    with pytest.raises(ValueError, match=r"argument inputs\. Expected last axis of size 2"):
        layer.forward(np.ones((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"argument kernel_size\. Expected a window no larger"):
        layer.forward(np.ones((1, 2, 5, 2)))
    assert Conv2D(1, 5, padding="same")(np.ones((1, 2, 2, 1))).shape == (1, 2, 2, 1)


def test_backward_without_input_grad_gives_the_same_parameter_grads():
    rng = np.random.default_rng(11)
    layer = Conv2D(3, 3, strides=2, padding="same", activation="relu", dtype="float64")
    x = rng.normal(size=(2, 7, 6, 2))
    dy = rng.normal(size=layer(x).shape)
    dx = layer.backward(dy)
    full = [g.copy() for g in layer.grads]
    layer(x)
    assert layer.backward(dy, input_grad=False) is None
    assert dx.shape == x.shape
    for a, b in zip(full, layer.grads, strict=True):
        np.testing.assert_array_equal(a, b)
