"""Dense, Activation, LeakyReLU, Dropout, Flatten and the Layer base: gradients, contracts, errors.

Gradient checks run in float64 with central differences (scratchnet.gradcheck);
inputs to kinked functions are drawn away from the kink by construction.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scratchnet import activations, gradcheck, layers
from scratchnet.layers import Activation, Dense, Dropout, Flatten, Layer, LeakyReLU

TOL = 1e-7  # float64 central differences land near 1e-9 (reliability.md)
SEEDS = st.integers(0, 2**32 - 1)


def away_from_zero(rng, shape, low=1e-2, high=3.0):
    """Values with |v| in [low, high] and random sign: >= low from the kink at 0."""
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def assert_grads_ok(errors):
    assert all(e < TOL for e in errors.values()), errors


# -- Dense -----------------------------------------------------------------------------------------


@given(
    seed=SEEDS,
    n=st.integers(1, 4),
    features=st.integers(1, 6),
    units=st.integers(1, 5),
    activation=st.sampled_from(["linear", "softmax", None]),
    use_bias=st.booleans(),
)
def test_dense_gradients(seed, n, features, units, activation, use_bias):
    rng = np.random.default_rng(seed)
    layer = Dense(units, activation=activation, use_bias=use_bias, dtype="float64")
    layer.build((features,), rng)
    if use_bias:
        layer.bias[...] = rng.normal(size=units)  # zeros would hide a wrong bias gradient
    errors = gradcheck.check_layer(layer, rng.normal(size=(n, features)), rng)
    assert set(errors) == ({"x", "weight_0", "weight_1"} if use_bias else {"x", "weight_0"})
    assert_grads_ok(errors)


@given(seed=SEEDS)
def test_dense_relu_gradient_away_from_the_kink(seed):
    rng = np.random.default_rng(seed)
    layer = Dense(4, activation="relu", dtype="float64")
    layer.build((3,), rng)
    layer.bias[...] = rng.normal(size=4)
    x = rng.normal(size=(3, 3))
    z = x @ layer.kernel + layer.bias
    assume(np.abs(z).min() > 1e-3)
    assert_grads_ok(gradcheck.check_layer(layer, x, rng))


def test_dense_forward_formula_and_keras_layout():
    rng = np.random.default_rng(0)
    layer = Dense(3, activation="relu", dtype="float64")
    layer.build((5,), rng)
    assert layer.kernel.shape == (5, 3) and layer.bias.shape == (3,)
    assert layer.weights[0] is layer.kernel and layer.weights[1] is layer.bias
    layer.bias[...] = [0.5, -0.5, 0.0]
    x = rng.normal(size=(4, 5))
    y = layer.forward(x)
    z = np.einsum("ni,ij->nj", x, layer.kernel) + layer.bias
    np.testing.assert_allclose(layer.preactivation, z, rtol=1e-12)
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-12)
    assert layer.compute_output_shape((5,)) == (3,)


def test_dense_flags_change_the_output():
    x = np.random.default_rng(1).normal(size=(2, 4))
    outputs = {}
    for key, kwargs in {
        "default": {},
        "no_bias": {"use_bias": False, "bias_initializer": "ones"},
        "bias_ones": {"bias_initializer": "ones"},
        "kernel_ones": {"kernel_initializer": "ones"},
        "softmax": {"activation": "softmax"},
    }.items():
        layer = Dense(3, dtype="float64", **kwargs)
        layer.build((4,), np.random.default_rng(0))
        outputs[key] = layer.forward(x)
    np.testing.assert_allclose(outputs["bias_ones"], outputs["default"] + 1.0)
    np.testing.assert_array_equal(outputs["no_bias"], outputs["default"])  # zero bias == no bias
    np.testing.assert_allclose(outputs["kernel_ones"], np.repeat(x.sum(1, keepdims=True), 3, 1))
    np.testing.assert_allclose(outputs["softmax"].sum(axis=1), 1.0)
    assert len(Dense(3, use_bias=False)(x).shape) == 2


def test_wrt_preactivation_is_the_fused_softmax_crossentropy_path():
    rng = np.random.default_rng(2)
    layer = Dense(4, activation="softmax", dtype="float64")
    layer.build((3,), rng)
    x, n = rng.normal(size=(5, 3)), 5
    targets = np.eye(4)[rng.integers(0, 4, size=n)]
    probs = layer.forward(x)
    # dL/dp of the mean cross-entropy -sum(t log p)/N, pushed through softmax's VJP ...
    dx_chain = layer.backward(-targets / probs / n)
    grads_chain = [g.copy() for g in layer.grads]
    # ... equals the fused gradient (p - t)/N given directly w.r.t. the pre-activation.
    dx_fused = layer.backward((probs - targets) / n, wrt_preactivation=True)
    np.testing.assert_allclose(dx_fused, dx_chain, rtol=1e-10, atol=1e-14)
    for fused, chain in zip(layer.grads, grads_chain, strict=True):
        np.testing.assert_allclose(fused, chain, rtol=1e-10, atol=1e-14)
    # and with wrt_preactivation the activation's VJP is skipped: same as a linear layer on dz
    linear = Dense(4, dtype="float64")
    linear.build((3,))
    linear.set_weights(layer.get_weights())
    linear.forward(x)
    dz = rng.normal(size=(5, 4))
    np.testing.assert_allclose(layer.backward(dz, wrt_preactivation=True), linear.backward(dz))


# -- Activation and LeakyReLU ----------------------------------------------------------------------


@given(seed=SEEDS, activation=st.sampled_from(["linear", "softmax", "relu"]))
def test_activation_layer_gradients(seed, activation):
    rng = np.random.default_rng(seed)
    layer = Activation(activation, dtype="float64")
    layer.build((3, 4))
    x = away_from_zero(rng, (2, 3, 4))  # relu's kink excluded by construction
    assert_grads_ok(gradcheck.check_layer(layer, x, rng))
    assert layer.weights == [] and layer.count_params() == 0


def test_activation_layer_preactivation_and_kink():
    layer = Activation("relu", dtype="float64")
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(layer(x), [[0.0, 0.0, 2.0]])
    assert layer.preactivation is not None and np.array_equal(layer.preactivation, x)
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])
    dz = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(layer.backward(dz, wrt_preactivation=True), dz)
    softmax = Activation("softmax")
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])


@given(seed=SEEDS, slope=st.sampled_from([0.0, 0.01, 0.3, 1.7]))
def test_leaky_relu_gradients(seed, slope):
    rng = np.random.default_rng(seed)
    layer = LeakyReLU(slope, dtype="float64")
    layer.build((5,))
    assert_grads_ok(gradcheck.check_layer(layer, away_from_zero(rng, (3, 5)), rng))


def test_leaky_relu_formula_default_and_kink():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    layer = LeakyReLU(dtype="float64")
    assert layer.negative_slope == 0.3  # Keras' layer default (the function's is 0.2)
    np.testing.assert_allclose(layer(x), [[-0.6, -0.15, 0.0, 0.5, 2.0]])
    # derivative: 1 if x > 0 else slope, and the slope at x = 0 exactly
    np.testing.assert_allclose(layer.backward(np.full((1, 5), 2.0)), [[0.6, 0.6, 0.6, 2.0, 2.0]])
    np.testing.assert_allclose(LeakyReLU(0.1, dtype="float64")(x), [[-0.2, -0.05, 0, 0.5, 2]])


# -- Dropout ---------------------------------------------------------------------------------------


@given(seed=SEEDS, rate=st.sampled_from([0.1, 0.5, 0.8]), noise=st.booleans())
def test_dropout_gradient_given_the_drawn_mask(seed, rate, noise):
    rng = np.random.default_rng(seed)
    layer = Dropout(rate, noise_shape=(None, 1, 3) if noise else None, seed=seed, dtype="float64")
    layer.build((4, 3))
    state = layer.rng.bit_generator.state  # replay the same mask on every forward

    def f(v):
        layer.rng.bit_generator.state = state
        return layer.forward(v, training=True)

    def vjp(v, dy):
        f(v)
        return layer.backward(dy)

    x = rng.normal(size=(2, 4, 3))
    assert gradcheck.check_gradient(f, vjp, x, rng) < TOL


def test_dropout_mask_scaling_and_rate():
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=(200, 500))
    layer = Dropout(0.25, seed=3, dtype="float64")
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * (1.0 / 0.75))
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    dy = np.random.default_rng(1).normal(size=x.shape)
    np.testing.assert_array_equal(layer.backward(dy), np.where(kept, dy * (1.0 / 0.75), 0.0))
    # the mask is u >= rate with u = rng.random(shape): TensorFlow's rule
    expected = np.random.default_rng(3).random(x.shape) >= 0.25
    np.testing.assert_array_equal(kept, expected)


def test_dropout_seed_inference_and_rate_zero():
    x = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    a, b, c = Dropout(0.5, seed=11), Dropout(0.5, seed=11), Dropout(0.5, seed=12)
    ya, yb, yc = a(x, training=True), b(x, training=True), c(x, training=True)
    assert ya.dtype == np.float32
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    assert not np.array_equal(a(x, training=True), ya)  # the next batch gets a new mask
    np.testing.assert_array_equal(a(x), x)  # inference: identity
    np.testing.assert_array_equal(a.backward(np.ones_like(x)), np.ones_like(x))
    zero = Dropout(0.0, seed=1)
    state = zero.rng.bit_generator.state
    np.testing.assert_array_equal(zero(x, training=True), x)
    assert zero.rng.bit_generator.state == state  # rate 0 draws nothing


def test_dropout_noise_shape_shares_the_mask():
    x = np.ones((3, 4, 5, 6))
    y = Dropout(0.5, noise_shape=(None, 1, 1, 6), seed=0, dtype="float64")(x, training=True)
    assert np.all(y == y[:, :1, :1, :])  # one decision per (sample, channel)
    assert 0 < (y == 0).mean() < 1
    with pytest.raises(
        ValueError, match=r"argument noise_shape\. Expected a shape that broadcasts"
    ):
        Dropout(0.5, noise_shape=(None, 2, 1, 6))(x, training=True)
    with pytest.raises(
        ValueError, match=r"argument noise_shape\. Expected a shape that broadcasts"
    ):
        Dropout(0.5, noise_shape=(None, 6))(x, training=True)


# -- Flatten ---------------------------------------------------------------------------------------


def test_flatten_is_channels_last_order_and_its_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    layer = Flatten(dtype="float64")
    y = layer(x)
    assert y.shape == (2, 60) and layer.compute_output_shape((3, 4, 5)) == (60,)
    for h, w, c in np.ndindex(3, 4, 5):
        assert y[1, (h * 4 + w) * 5 + c] == x[1, h, w, c]
    assert_grads_ok(gradcheck.check_layer(layer, x, rng))
    assert Flatten()(np.zeros((0, 2, 2))).shape == (0, 4)


# -- what every layer shares -----------------------------------------------------------------------


def make_all(dtype="float64"):
    """One instance of every layer type with its input shape (no batch)."""
    return [
        (Dense(3, activation="softmax", dtype=dtype), (4,)),
        (
            layers.Conv2D(2, (2, 3), strides=2, padding="same", activation="relu", dtype=dtype),
            (5, 6, 3),
        ),
        (layers.MaxPooling2D((2, 2), strides=1, padding="same", dtype=dtype), (5, 4, 2)),
        (layers.AveragePooling2D(3, padding="same", dtype=dtype), (5, 4, 2)),
        (Flatten(dtype=dtype), (3, 2, 2)),
        (Activation("softmax", dtype=dtype), (3, 5)),
        (LeakyReLU(0.2, dtype=dtype), (6,)),
        (Dropout(0.5, seed=0, dtype=dtype), (4, 3)),
    ]


@pytest.mark.parametrize("index", range(8))
def test_dtype_is_kept_and_inputs_are_not_mutated(index):
    rng = np.random.default_rng(index)
    for dtype in ("float32", "float64"):
        layer, shape = make_all(dtype)[index]
        layer.build(shape, rng)
        x = rng.normal(size=(2, *shape)).astype(dtype)
        x_before = x.copy()
        y = layer.forward(x, training=True)
        dx = layer.backward(rng.normal(size=y.shape).astype(dtype))
        assert y.dtype == dtype and dx.dtype == dtype, (type(layer).__name__, dtype)
        assert all(g.dtype == dtype for g in layer.grads)
        assert all(w.dtype == dtype for w in layer.weights)
        np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("index", range(8))
def test_read_only_and_non_contiguous_inputs_give_the_same_results(index):
    rng = np.random.default_rng(index)
    layer, shape = make_all()[index]
    layer.build(shape, rng)
    x = rng.normal(size=(3, *shape))
    dy = None
    results = []
    big = np.zeros((3, *(2 * d for d in shape)))
    variants = [x, np.asfortranarray(x), big[(slice(None), *(slice(None, None, 2),) * len(shape))]]
    variants[2][...] = x
    frozen = x.copy()
    frozen.flags.writeable = False
    variants.append(frozen)
    for v in variants:
        if isinstance(layer, Dropout):
            layer.rng = np.random.default_rng(5)
        y = layer.forward(v, training=True)
        dy = rng.normal(size=y.shape) if dy is None else dy
        results.append((y, layer.backward(dy), [g.copy() for g in layer.grads]))
    for y, dx, grads in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(dx, results[0][1])
        for g, g0 in zip(grads, results[0][2], strict=True):
            np.testing.assert_array_equal(g, g0)


@pytest.mark.parametrize("index", range(8))
def test_serialize_round_trip(index):
    layer, shape = make_all()[index]
    layer.build(shape, np.random.default_rng(0))
    blob = json.loads(json.dumps(layers.serialize(layer)))
    assert blob["class_name"] == type(layer).__name__
    again = layers.deserialize(blob)
    assert type(again) is type(layer) and not again.built
    assert json.dumps(again.get_config()) == json.dumps(layer.get_config())
    again.build(shape, np.random.default_rng(1))
    again.set_weights(layer.get_weights())
    x = np.random.default_rng(2).normal(size=(2, *shape))
    np.testing.assert_array_equal(again.forward(x), layer.forward(x))


def test_get_config_contents():
    layer = Dense(
        7,
        activation="softmax",
        use_bias=False,
        kernel_initializer="he_normal",
        input_shape=(3,),
        name="head",
    )
    assert layer.get_config() == {
        "name": "head",
        "dtype": "float32",
        "trainable": True,
        "input_shape": (3,),
        "units": 7,
        "activation": "softmax",
        "use_bias": False,
        "kernel_initializer": {"class_name": "HeNormal", "config": {}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
    }
    assert Dropout(0.3, (None, 1), 4).get_config()["noise_shape"] == (None, 1)
    assert LeakyReLU(0.1).get_config()["negative_slope"] == 0.1
    assert Activation("linear", trainable=False).get_config()["trainable"] is False


def test_activation_with_parameters_survives_the_config():
    act = activations.ActivationFunction(
        "softmax", activations.softmax, activations.softmax_backward, {"axis": 1}
    )
    layer = Activation(act, dtype="float64")
    config = layer.get_config()
    assert config["activation"] == {"name": "softmax", "axis": 1}
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_allclose(again(x).sum(axis=1), 1.0)  # along axis 1, not -1
    np.testing.assert_array_equal(again(x), layer(x))
    with pytest.raises(
        ValueError, match=r'argument activation\. Expected a config dict with a string "name"'
    ):
        Activation({"axis": 1})


def test_get_set_weights_round_trip_and_identity():
    rng = np.random.default_rng(0)
    layer = layers.Conv2D(4, 3, dtype="float64")
    layer.build((6, 6, 2), rng)
    kernel, bias = layer.weights
    assert kernel.shape == (3, 3, 2, 4) and bias.shape == (4,)  # Keras layout (kh, kw, in, out)
    copies = layer.get_weights()
    copies[0][...] = 0.0
    assert np.abs(layer.kernel).sum() > 0  # get_weights returned copies
    new = [rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4).astype(np.float32)]
    layer.set_weights(new)
    assert layer.weights[0] is kernel and layer.weights[1] is bias  # same arrays, new values
    np.testing.assert_array_equal(layer.get_weights()[0], new[0])
    np.testing.assert_array_equal(layer.bias, new[1].astype(np.float64))
    assert layer.count_params() == 3 * 3 * 2 * 4 + 4


def test_set_weights_errors_change_nothing():
    layer = Dense(3, dtype="float64")
    layer.build((2,), np.random.default_rng(0))
    before = layer.get_weights()
    with pytest.raises(
        ValueError, match=r"argument weights\. Expected a list of 2 arrays .* Received a list of 1"
    ):
        layer.set_weights([np.zeros((2, 3))])
    with pytest.raises(
        ValueError, match=r"argument weights\[1\]\. Expected shape \(3,\) .* of shape \(4,\)"
    ):
        layer.set_weights([np.zeros((2, 3)), np.zeros(4)])
    with pytest.raises(TypeError, match=r"Invalid dtype for argument weights\[0\]"):
        layer.set_weights([np.full((2, 3), "a"), np.zeros(3)])
    for w, w0 in zip(layer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(w, w0)
    with pytest.raises(ValueError, match=r"Expected a list of 0 arrays .*not built yet"):
        Dense(3).set_weights([np.zeros((2, 3)), np.zeros(3)])


def test_call_builds_once_and_names_are_unique():
    layer = Dense(2)
    assert not layer.built
    x = np.ones((3, 4), dtype=np.float32)
    layer(x)
    kernel = layer.kernel
    assert layer.built and layer.input_shape == (4,) and kernel.shape == (4, 2)
    layer(x)
    assert layer.kernel is kernel
    # inputs are cast to the layer's dtype, as Keras autocasts: float64 or uint8 in, float32 out
    assert layer(x.astype(np.float64)).dtype == np.float32
    assert layer(np.ones((3, 4), dtype=np.uint8)).dtype == np.float32
    names = [layers.Conv2D(1, 1).name for _ in range(3)]
    assert len(set(names)) == 3 and all(n.startswith("conv2d") for n in names)
    assert LeakyReLU().name.startswith("leaky_re_lu")
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
    assert Dense(1, name="out").name == "out"


def test_build_is_deterministic_given_the_rng():
    a, b = Dense(5), Dense(5)
    a.build((3,), np.random.default_rng(9))
    b.build((3,), np.random.default_rng(9))
    np.testing.assert_array_equal(a.kernel, b.kernel)


def test_base_errors():
    with pytest.raises(
        ValueError, match=r"argument name\. Expected a non-empty string without '/'"
    ):
        Dense(2, name="a/b")
    with pytest.raises(
        TypeError, match=r"argument trainable\. Expected a bool\. Received trainable=1"
    ):
        Dense(2, trainable=1)
    with pytest.raises(ValueError, match=r"argument dtype\. Expected one of"):
        Dense(2, dtype="int8")
    with pytest.raises(
        ValueError, match=r"argument input_shape\. Expected a tuple of positive integers"
    ):
        Dense(2, input_shape=(0,))
    with pytest.raises(ValueError, match=r"argument input_shape\. Expected \(4,\) \(declared"):
        Dense(2, input_shape=(4,)).build((5,))
    with pytest.raises(
        TypeError, match=r"argument rng\. Expected an np\.random\.Generator or None"
    ):
        Dense(2).build((3,), rng=0)
    with pytest.raises(ValueError, match=r"is not built\. Call build"):
        Dense(2).forward(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"is not built, so it has no weights to count"):
        Flatten().count_params()
    layer = Dense(2)
    layer.build((3,))
    with pytest.raises(RuntimeError, match=r"backward\(\) needs the cache of a forward\(\) call"):
        layer.backward(np.ones((1, 2)))
    layer.forward(np.ones((4, 3)))
    with pytest.raises(
        ValueError, match=r"argument dy\. Expected the shape of the latest output \(4, 2\)"
    ):
        layer.backward(np.ones((4, 3)))
    with pytest.raises(TypeError, match=r"Invalid dtype for argument inputs"):
        layer.forward(np.array([["a", "b", "c"]]))


def test_dense_errors():
    with pytest.raises(ValueError, match=r"argument units\. Expected a strictly positive integer"):
        Dense(0)
    with pytest.raises(TypeError, match=r"Invalid type for argument units"):
        Dense(2.5)
    with pytest.raises(ValueError, match=r"argument activation\. Expected one of"):
        Dense(2, activation="swoosh")
    with pytest.raises(
        TypeError, match=r"argument use_bias\. Expected a bool\. Received use_bias='yes'"
    ):
        Dense(2, use_bias="yes")
    with pytest.raises(
        TypeError, match=r"argument use_bias\. Expected a bool\. Received use_bias=0"
    ):
        layers.Conv2D(2, 3, use_bias=0)
    with pytest.raises(ValueError, match=r"argument initializer\. Expected one of"):
        Dense(2, kernel_initializer="xavier")
    with pytest.raises(
        ValueError, match=r"argument input_shape\. Expected a 1-D shape .*Flatten first"
    ):
        Dense(2).build((28, 28))
    layer = Dense(2)
    layer.build((3,))
    with pytest.raises(
        ValueError, match=r"argument inputs\. Expected a 2-D array .* shape \(2, 3, 1\)"
    ):
        layer.forward(np.ones((2, 3, 1)))
    with pytest.raises(
        ValueError, match=r"argument inputs\. Expected last axis of size 3 .* shape \(2, 4\)"
    ):
        layer.forward(np.ones((2, 4)))


def test_other_constructor_errors():
    with pytest.raises(ValueError, match=r"argument rate\. Expected a float in \[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(ValueError, match=r"argument rate\. Expected a float in \[0, 1\)"):
        Dropout(-0.1)
    with pytest.raises(
        ValueError, match=r"argument seed\. Expected None or a non-negative integer"
    ):
        Dropout(0.5, seed=-1)
    with pytest.raises(ValueError, match=r"argument noise_shape\. Expected None or a tuple"):
        Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match=r"argument negative_slope\. Expected a float >= 0"):
        LeakyReLU(-0.1)
    with pytest.raises(TypeError, match=r"argument activation"):
        Activation(np.tanh)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'alpha'"):
        LeakyReLU(alpha=0.1)  # no **kwargs: Keras 2's name fails loudly


def test_deserialize_errors():
    with pytest.raises(ValueError, match=r"argument class_name\. Expected one of \['Activation'"):
        layers.deserialize({"class_name": "LSTM", "config": {}})
    with pytest.raises(ValueError, match=r'argument config\. Expected a dict \{"class_name"'):
        layers.deserialize({"class_name": "Dense"})
    with pytest.raises(TypeError, match=r"Invalid type for argument layer"):
        layers.serialize(Layer())


def test_layer_table_is_complete():
    assert layers._LAYERS == {
        cls.__name__: cls
        for cls in (
            layers.Dense,
            layers.Conv2D,
            layers.MaxPooling2D,
            layers.AveragePooling2D,
            layers.Flatten,
            layers.Activation,
            layers.LeakyReLU,
            layers.Dropout,
            layers.InputLayer,
            layers.Softmax,
            layers.ReLU,
            layers.ELU,
            layers.PReLU,
            layers.BatchNormalization,
            layers.GlobalAveragePooling2D,
            layers.GlobalMaxPooling2D,
            layers.Rescaling,
            layers.Reshape,
            layers.Add,
            layers.Concatenate,
        )
    }


def test_flatten_refuses_a_shape_other_than_its_build():
    # Flatten's output size depends on every axis: (N, 3, 3, 1) would silently become (N, 9)
    layer = Flatten()
    layer.build((2, 2, 1))
    with pytest.raises(
        ValueError,
        match=r"argument inputs\. Expected shape \(N, 2, 2, 1\) \(layer .* built for "
        r"input_shape=\(2, 2, 1\)\)\. Received an array of shape \(1, 3, 3, 1\)",
    ):
        layer.forward(np.zeros((1, 3, 3, 1)))


@pytest.mark.parametrize(
    "make", [lambda: Activation("relu"), lambda: Dropout(0.5), lambda: LeakyReLU()]
)
def test_elementwise_layers_refuse_other_features_than_their_build(make):
    layer = make()
    layer.build((3,))
    with pytest.raises(
        ValueError, match=r"argument inputs\. Expected last axis of size 3 .* shape \(2, 4\)"
    ):
        layer.forward(np.zeros((2, 4)), training=True)


# ---------------------------------------------------------------- arrays shared with the caller


def _contract_cases():
    from scratchnet.layers import AveragePooling2D, Conv2D, MaxPooling2D

    return [
        pytest.param(lambda: Dense(3, activation="tanh"), (5, 4), False, id="dense"),
        pytest.param(lambda: Dense(3), (5, 4), False, id="dense-linear"),
        pytest.param(lambda: Activation("gelu"), (5, 4), False, id="activation"),
        pytest.param(lambda: Activation("linear"), (5, 4), False, id="activation-linear"),
        pytest.param(lambda: LeakyReLU(0.2), (5, 4), False, id="leaky-relu"),
        pytest.param(lambda: Dropout(0.5, seed=1), (5, 4), False, id="dropout-inference"),
        pytest.param(lambda: Dropout(0.5, seed=1), (5, 4), True, id="dropout-training"),
        pytest.param(lambda: Flatten(), (5, 2, 3, 2), False, id="flatten"),
        pytest.param(lambda: Conv2D(2, 2, activation="relu"), (2, 4, 4, 3), False, id="conv2d"),
        pytest.param(lambda: AveragePooling2D(2), (2, 4, 4, 3), False, id="avg-pool"),
        pytest.param(lambda: MaxPooling2D(2), (2, 4, 4, 3), False, id="max-pool"),
        pytest.param(lambda: MaxPooling2D(2), (2, 4, 4, 3), True, id="max-pool-training"),
    ]


@pytest.mark.parametrize("make, shape, training", _contract_cases())
def test_outputs_never_alias_the_input_and_backward_keeps_nothing_of_it(make, shape, training):
    """Writing into an output leaves the input alone; changing the input after forward changes no gradient."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    layer = make()
    layer.build(shape[1:], np.random.default_rng(1))
    state = layer.rng.bit_generator.state if layer.rng is not None else None

    def forward(x_in):
        if state is not None:
            layer.rng.bit_generator.state = state  # the same mask every time
        return layer.forward(x_in, training=training)

    def backward(y):
        dy = np.linspace(-1, 1, y.size, dtype=np.float32).reshape(y.shape)
        return layer.backward(dy).copy(), [g.copy() for g in layer.grads]

    y = forward(x)
    reference = (y.copy(), *backward(y))
    x_kept = x.copy()
    y[...] = 777.0  # after backward, as the contract allows
    np.testing.assert_array_equal(x, x_kept)  # the output was never a view of the input

    y = forward(x)
    x *= -3.0  # the caller reuses its buffer between forward and backward
    x += 1.0
    dx, grads = backward(y)
    np.testing.assert_array_equal(y, reference[0])
    np.testing.assert_array_equal(dx, reference[1])
    for a, b in zip(grads, reference[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_outputs_are_fresh_arrays():
    """predict and model(x) hand back arrays the caller may change: the next step is unaffected."""
    from scratchnet.models import Sequential

    model = Sequential([Flatten(input_shape=(2, 3)), Dropout(0.5)], seed=0)
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    for out in (model.predict(x, verbose=0), model(x)):
        out[...] = -1.0
        np.testing.assert_array_equal(x, np.arange(12, dtype=np.float32).reshape(2, 2, 3))


def test_weight_shapes_are_what_build_makes_for_every_layer_in_the_table():
    """Model files are checked against weight_shapes before building: it must agree with build."""
    samples = {
        "Dense": [(layers.Dense(3), (5,)), (layers.Dense(2, use_bias=False), (4,))],
        "Conv2D": [
            (layers.Conv2D(4, (3, 2), padding="same"), (6, 5, 2)),
            (layers.Conv2D(2, 3, use_bias=False), (5, 5, 1)),
        ],
        "MaxPooling2D": [(layers.MaxPooling2D(2), (4, 4, 3))],
        "AveragePooling2D": [(layers.AveragePooling2D(2), (4, 4, 3))],
        "Flatten": [(layers.Flatten(), (2, 3))],
        "Activation": [(layers.Activation("relu"), (3,))],
        "LeakyReLU": [(layers.LeakyReLU(), (3,))],
        "Dropout": [(layers.Dropout(0.5), (3,))],
        "InputLayer": [(layers.InputLayer(shape=(3, 2)), (3, 2))],
        "Softmax": [(layers.Softmax(), (3,))],
        "ReLU": [(layers.ReLU(6.0), (3,))],
        "ELU": [(layers.ELU(), (3,))],
        "PReLU": [(layers.PReLU(), (2, 3)), (layers.PReLU(shared_axes=[1, 2]), (4, 4, 3))],
        "BatchNormalization": [
            (layers.BatchNormalization(), (4, 4, 3)),
            (layers.BatchNormalization(axis=1, center=False, scale=False), (5, 2)),
        ],
        "GlobalAveragePooling2D": [(layers.GlobalAveragePooling2D(), (4, 4, 3))],
        "GlobalMaxPooling2D": [(layers.GlobalMaxPooling2D(), (4, 4, 3))],
        "Rescaling": [(layers.Rescaling(0.5), (3,))],
        "Reshape": [(layers.Reshape((-1,)), (2, 3))],
        "Add": [(layers.Add(), [(3,), (3,)])],
        "Concatenate": [(layers.Concatenate(), [(3,), (2,)])],
    }
    assert sorted(samples) == sorted(layers._LAYERS), "add a sample for every layer class"
    for cases in samples.values():
        for layer, shape in cases:
            predicted = layer.weight_shapes(shape)
            layer.build(shape, np.random.default_rng(0))
            assert predicted == [w.shape for w in layer.weights], layer
    with pytest.raises(ValueError, match="a 1-D shape"):
        layers.Dense(3).weight_shapes((2, 2))


@pytest.mark.parametrize(
    "module",
    sorted(
        p.stem
        for p in (Path(__file__).parent.parent / "scratchnet" / "layers").glob("*.py")
        if p.stem != "__init__"
    ),
)
def test_each_layers_module_imports_first_in_a_fresh_process(module):
    """No import cycle among layers/ modules, whichever one a user imports first."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import scratchnet.layers.{module}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
