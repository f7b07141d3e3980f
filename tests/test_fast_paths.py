"""The optimised paths (layers/_fast.py, the winner-tracking max pool) against the loop references.

Also TF's max-pool semantics on NaN and -inf windows, which the fast path and
the loop reference must both follow (values checked against TF 2.21 on CPU).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import gradcheck
from scratchnet.layers import Conv2D, Dense, MaxPooling2D, _fast
from scratchnet.layers.conv import conv2d_backward_loop, conv2d_loop
from scratchnet.layers.pooling import (
    max_pool2d,
    max_pool2d_backward_from_winner,
    max_pool2d_backward_loop,
    max_pool2d_loop,
    max_pool2d_with_winner,
)
from tests.test_layers_conv import conv_configs
from tests.test_layers_pooling import distinct_values, geometry, pool_configs

# -- convolution -----------------------------------------------------------------


@given(cfg=conv_configs(), use_bias=st.booleans())
def test_fast_conv_agrees_with_the_loop(cfg, use_bias):
    rng = np.random.default_rng(cfg["seed"])
    kh, kw = cfg["kernel_size"]
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    kernel = rng.normal(size=(kh, kw, cfg["hwc"][2], cfg["filters"]))
    bias = rng.normal(size=cfg["filters"]) if use_bias else None
    args = (cfg["strides"], cfg["padding"])
    z, cache = _fast.conv2d_fast(x, kernel, bias, *args)
    dy = rng.normal(size=z.shape)
    fast = _fast.conv2d_backward_fast(cache, kernel, dy, *args, use_bias=use_bias)
    np.testing.assert_allclose(z, conv2d_loop(x, kernel, bias, *args), rtol=1e-12, atol=1e-12)
    slow = conv2d_backward_loop(x, kernel, dy, *args, use_bias=use_bias)
    for a, b in zip(fast, slow, strict=True):
        if b is None:
            assert a is None
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 32])
def test_fast_products_on_mnist_sizes(channels):
    # The K-major (one channel) and row-major layouts at the sizes the benchmarks time.
    rng = np.random.default_rng(0)
    side = 28 if channels == 1 else 13
    x = rng.normal(size=(32, side, side, channels))
    kernel = rng.normal(size=(3, 3, channels, 16))
    bias = rng.normal(size=16)
    z, cache = _fast.conv2d_fast(x, kernel, bias, (1, 1), "valid")
    assert cache.k_major == (channels == 1)
    dy = rng.normal(size=z.shape)
    dx, dk, db = _fast.conv2d_backward_fast(cache, kernel, dy, (1, 1), "valid")
    # the plain im2col formulation, unsplit, in one BLAS call each
    cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 9 * channels)
    w = kernel.reshape(9 * channels, 16)
    np.testing.assert_allclose(z.reshape(-1, 16), cols @ w + bias, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(dk.reshape(-1, 16), cols.T @ dy.reshape(-1, 16), rtol=1e-10)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-10)
    dx_loop, _, _ = conv2d_backward_loop(x[:2], kernel, dy[:2], (1, 1), "valid")
    np.testing.assert_allclose(dx[:2], dx_loop, rtol=1e-10, atol=1e-10)


def test_dense_products_are_the_plain_sums():
    rng = np.random.default_rng(1)
    layer = Dense(128, activation="relu", dtype="float64")
    layer.build((1600,), rng)
    x = rng.normal(size=(64, 1600))
    y = layer.forward(x)
    np.testing.assert_allclose(y, np.maximum(x @ layer.kernel + layer.bias, 0), rtol=1e-12)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    dz = dy * (x @ layer.kernel + layer.bias > 0)
    np.testing.assert_allclose(layer.grads[0], x.T @ dz, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, dz @ layer.kernel.T, rtol=1e-10, atol=1e-12)


@given(cfg=conv_configs(max_side=6))
def test_conv_layer_gradients_on_the_fast_path(cfg):
    rng = np.random.default_rng(cfg["seed"])
    layer = Conv2D(
        cfg["filters"], cfg["kernel_size"], cfg["strides"], cfg["padding"], activation="tanh",
        dtype="float64",
    )  # fmt: skip
    layer.build(cfg["hwc"], rng)
    errors = gradcheck.check_layer(layer, rng.normal(size=(cfg["n"], *cfg["hwc"])), rng)
    assert max(errors.values()) < 1e-7, errors


def test_keep_freed_memory_is_idempotent():
    assert _fast.keep_freed_memory() is _fast.keep_freed_memory()


# -- max pooling: fast path vs loop, NaN and -inf windows ------------------------------

# Values that make ties, NaN and infinities common in small windows.
SPECIAL = [np.nan, -np.inf, np.inf, -1.0, 0.0, 1.0, 2.0]


@given(
    cfg=pool_configs(),
    picks=st.lists(st.integers(0, len(SPECIAL) - 1), min_size=1, max_size=400),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_fast_max_pool_follows_the_loop_on_nan_and_inf(cfg, picks, dtype):
    size = int(np.prod(cfg["shape"]))
    x = np.array([SPECIAL[picks[i % len(picks)]] for i in range(size)], dtype=dtype)
    x = np.random.default_rng(cfg["seed"]).permutation(x).reshape(cfg["shape"])
    args = geometry(cfg)
    y, winner = max_pool2d_with_winner(x, *args)
    y_loop = max_pool2d_loop(x, *args)
    np.testing.assert_array_equal(y, y_loop)
    np.testing.assert_array_equal(max_pool2d(x, *args), y_loop)
    assert not np.isnan(y).any()  # NaN never propagates (TF)
    dy = np.random.default_rng(0).normal(size=y.shape).astype(dtype)
    # the same cells receive the same terms; overlapping windows may add them in another order
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(
        max_pool2d_backward_from_winner(x.shape, winner, dy, *args),
        max_pool2d_backward_loop(x, dy, *args),
        rtol=tol,
        atol=tol,
    )


@pytest.mark.parametrize("training", [True, False])
def test_max_pool_layer_matches_tf_on_nan_and_inf(training):
    # TF 2.21 CPU (tf.nn.max_pool2d and its GradientTape gradient), 2x2 windows, stride 2:
    x = np.array(
        [[1, np.nan, 0, 2], [3, 0, -np.inf, -np.inf], [np.nan, 5, -np.inf, np.nan], [1, 2, -np.inf, -np.inf]],
        dtype=np.float32,
    ).reshape(1, 4, 4, 1)  # fmt: skip
    layer = MaxPooling2D(2)
    layer.build((4, 4, 1))
    y = layer.forward(x, training=training)
    lowest = np.finfo(
        np.float32
    ).min  # TF's max starts from the lowest float: an all -inf/NaN window
    np.testing.assert_array_equal(y[0, :, :, 0], [[3, 2], [5, lowest]])
    dx = layer.backward(np.full(y.shape, 7, dtype=np.float32))
    # the window starting with NaN sends its gradient to that NaN; the -inf/NaN window to its first cell
    expected = [[0, 0, 0, 7], [7, 0, 0, 0], [7, 0, 7, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_max_pool_same_padding_matches_tf_on_nan_and_inf():
    # TF 2.21 CPU, 3x3 windows, stride 1, "same": padding never wins, even over -inf and NaN.
    x = np.array(
        [[-np.inf, np.nan, 1], [np.nan, -np.inf, 2], [0, 0, np.nan]], dtype=np.float32
    ).reshape(1, 3, 3, 1)
    args = ((3, 3), (1, 1), "same")
    y, winner = max_pool2d_with_winner(x, *args)
    lowest = np.finfo(np.float32).min
    np.testing.assert_array_equal(y[0, :, :, 0], [[lowest, 2, 2], [0, 2, 2], [0, 2, 2]])
    dy = (np.arange(9, dtype=np.float32) + 1).reshape(1, 3, 3, 1)
    expected = [[1, 9, 0], [15, 0, 16], [4, 0, 0]]
    for dx in (
        max_pool2d_backward_from_winner(x.shape, winner, dy, *args),
        max_pool2d_backward_loop(x, dy, *args),
    ):
        np.testing.assert_array_equal(dx[0, :, :, 0], expected)


@given(cfg=pool_configs(), training=st.booleans())
def test_max_pool_layer_gradients_both_forward_modes(cfg, training):
    rng = np.random.default_rng(cfg["seed"])
    layer = MaxPooling2D(cfg["pool_size"], cfg["strides"], cfg["padding"], dtype="float64")
    layer.build(cfg["shape"][1:])
    errors = gradcheck.check_layer(
        layer, distinct_values(rng, cfg["shape"]), rng, training=training
    )
    assert errors["x"] < 1e-7, errors


@pytest.mark.parametrize("training", [False, True])
def test_max_pool_window_of_128_cells_or_more(training):
    """The winner index outgrows int8 at 128 offsets (a 12x12 window has 144)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 24, 24, 3))
    layer = MaxPooling2D(12, dtype="float64")
    layer.build(x.shape[1:], rng)
    y = layer.forward(x, training=training)
    np.testing.assert_array_equal(y, max_pool2d_loop(x, (12, 12), (12, 12), "valid"))
    dy = rng.normal(size=y.shape)
    np.testing.assert_array_equal(
        layer.backward(dy), max_pool2d_backward_loop(x, dy, (12, 12), (12, 12), "valid")
    )
