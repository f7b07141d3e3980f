"""The layers Keras scripts need beyond the classic CNN: gradients, Keras behaviour, configs, errors.

Input/InputLayer, Softmax, ReLU, ELU, PReLU, BatchNormalization, Reshape,
Rescaling, GlobalAveragePooling2D/GlobalMaxPooling2D, Add, Concatenate and the
MaxPool2D/AvgPool2D aliases. Gradient checks in float64 by central differences.
"""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import gradcheck, layers
from scratchnet.graph import SymbolicTensor
from scratchnet.layers import (
    ELU,
    Add,
    BatchNormalization,
    Concatenate,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Input,
    InputLayer,
    PReLU,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)

TOL = 1e-7
SEEDS = st.integers(0, 2**32 - 1)


def away_from(rng, shape, points=(0.0,), gap=1e-2, scale=3.0):
    """Normal draws nudged at least ``gap`` away from each kink in ``points``."""
    x = scale * rng.standard_normal(shape)
    for p in points:
        near = np.abs(x - p) < gap
        x[near] = p + np.where(x[near] >= p, gap, -gap) * 2
    return x


def assert_ok(errors):
    assert all(e < TOL for e in errors.values()), errors


def randomise(layer, rng):
    for w in layer.weights:
        w[...] = rng.uniform(0.5, 1.5, w.shape)


# -- gradients -------------------------------------------------------------------------------------


@given(seed=SEEDS, n=st.integers(3, 5), training=st.booleans(), four_d=st.booleans())
def test_batch_normalization_gradients(seed, n, training, four_d):
    # n >= 3: with two values per feature the training-mode dx is orthogonal to both 1 and
    # xhat, so it is ~0 and only finite-difference noise is left to compare.
    rng = np.random.default_rng(seed)
    shape = (3, 2, 4) if four_d else (5,)
    layer = BatchNormalization(dtype="float64")
    layer.build(shape, rng)
    randomise(layer, rng)
    x = rng.normal(1.0, 2.0, size=(n, *shape))
    assert_ok(gradcheck.check_layer(layer, x, rng, training=training))


@given(seed=SEEDS, center=st.booleans(), scale=st.booleans(), axis=st.sampled_from([1, -1, 2]))
def test_batch_normalization_flags_and_axis_gradients(seed, center, scale, axis):
    rng = np.random.default_rng(seed)
    layer = BatchNormalization(axis=axis, center=center, scale=scale, dtype="float64")
    layer.build((3, 4), rng)
    randomise(layer, rng)
    assert len(layer.weights) == 2 + center + scale
    assert_ok(gradcheck.check_layer(layer, rng.normal(size=(4, 3, 4)), rng, training=True))


@given(seed=SEEDS, shared=st.sampled_from([None, [1], [1, 2], [2]]))
def test_prelu_gradients(seed, shared):
    rng = np.random.default_rng(seed)
    layer = PReLU(shared_axes=shared, dtype="float64")
    layer.build((3, 4, 2), rng)
    randomise(layer, rng)
    assert_ok(gradcheck.check_layer(layer, away_from(rng, (2, 3, 4, 2)), rng))


@given(
    seed=SEEDS,
    max_value=st.sampled_from([None, 6.0, 1.5]),
    slope=st.sampled_from([0.0, 0.1, 0.3]),
    threshold=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_relu_gradients(seed, max_value, slope, threshold):
    rng = np.random.default_rng(seed)
    layer = ReLU(max_value, slope, threshold, dtype="float64")
    layer.build((4, 3), rng)
    kinks = [0.0, threshold] + ([] if max_value is None else [max_value])
    assert_ok(gradcheck.check_layer(layer, away_from(rng, (3, 4, 3), kinks), rng))


# Keras' ReLU layer on x = [-1, 0, 1, 2, 4, 6, 7]: (kwargs, y, dy/dx), as TF 2.21 / Keras 3.15 gave
RELU_KINKS_TF = [
    ({"max_value": 6.0}, [0, 0, 1, 2, 4, 6, 6], [0, 0, 1, 1, 1, 0, 0]),
    ({"max_value": 4.0}, [0, 0, 1, 2, 4, 4, 4], [0, 0, 1, 1, 1, 0, 0]),
    ({"max_value": 6.0, "threshold": 1.0}, [0, 0, 0, 2, 4, 6, 6], [0, 0, 0, 1, 1, 1, 0]),
    ({"max_value": 4.0, "negative_slope": 0.5}, [-0.5, 0, 1, 2, 4, 4, 4], [0.5, 0, 1, 1, 1, 0, 0]),
    ({"threshold": 1.0}, [0, 0, 0, 2, 4, 6, 7], [0, 0, 0, 1, 1, 1, 1]),
]


@pytest.mark.parametrize(("kwargs", "y_tf", "dx_tf"), RELU_KINKS_TF)
def test_relu_layer_kinks_are_tfs(kwargs, y_tf, dx_tf):
    """At the cap M the gradient is clip_by_value's 1, except relu6's 0 at 6 (threshold 0)."""
    layer = ReLU(**kwargs, dtype="float64")
    layer.build((7,), np.random.default_rng(0))
    y = layer.forward(np.array([[-1.0, 0.0, 1.0, 2.0, 4.0, 6.0, 7.0]]), training=True)
    np.testing.assert_array_equal(y[0], y_tf)
    np.testing.assert_array_equal(layer.backward(np.ones_like(y))[0], dx_tf)


def test_relu_layer_refuses_a_negative_threshold():
    with pytest.raises(ValueError, match=r"argument threshold\. Expected a float >= 0\. Received"):
        ReLU(threshold=-1.0)


@given(seed=SEEDS, axis=st.sampled_from([-1, 1, 2]))
def test_softmax_and_elu_gradients(seed, axis):
    rng = np.random.default_rng(seed)
    for layer in (Softmax(axis=axis, dtype="float64"), ELU(alpha=0.7, dtype="float64")):
        layer.build((3, 4), rng)
        assert_ok(gradcheck.check_layer(layer, away_from(rng, (2, 3, 4)), rng))


@given(seed=SEEDS, keepdims=st.booleans(), ties=st.booleans())
def test_global_pooling_gradients(seed, keepdims, ties):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 4, 2))
    layer = GlobalAveragePooling2D(keepdims=keepdims, dtype="float64")
    layer.build((3, 4, 2), rng)
    assert_ok(gradcheck.check_layer(layer, x, rng))
    layer = GlobalMaxPooling2D(keepdims=keepdims, dtype="float64")
    layer.build((3, 4, 2), rng)
    if not ties:  # central differences only hold away from ties
        assert_ok(gradcheck.check_layer(layer, x, rng))
        return
    x = rng.integers(-1, 2, size=(2, 3, 4, 2)).astype("float64")
    y = layer.forward(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    hits = x == x.max(axis=(1, 2), keepdims=True)
    share = dy.reshape(2, 1, 1, 2) / hits.sum(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(dx, np.where(hits, share, 0.0))  # TF's reduce_max: split equally
    np.testing.assert_allclose(dx.sum(axis=(1, 2)), dy.reshape(2, 2))


@given(seed=SEEDS, target=st.sampled_from([(6, 2), (-1, 3), (12,), (2, -1, 2)]))
def test_reshape_and_rescaling_gradients(seed, target):
    rng = np.random.default_rng(seed)
    layer = Reshape(target, dtype="float64")
    layer.build((3, 4), rng)
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_array_equal(
        layer.forward(x), x.reshape(2, *layer.compute_output_shape((3, 4)))
    )
    assert_ok(gradcheck.check_layer(layer, x, rng))
    layer = Rescaling(1 / 127.5, offset=-1.0, dtype="float64")
    layer.build((3, 4), rng)
    np.testing.assert_allclose(layer.forward(x), x / 127.5 - 1.0)
    assert_ok(gradcheck.check_layer(layer, x, rng))


def merge_gradient_errors(layer, xs, rng):
    """Relative error of each input's gradient against central differences of sum(dy * y)."""
    y = layer.forward(xs)
    dy = rng.normal(size=y.shape)
    dxs = layer.backward(dy)
    errors = {}
    for k in range(len(xs)):

        def f(v, k=k):
            return layer.forward([v if j == k else x for j, x in enumerate(xs)])

        errors[f"x{k}"] = gradcheck.relative_error(dxs[k], gradcheck.numeric_gradient(f, xs[k], dy))
    return errors


@given(seed=SEEDS, k=st.integers(2, 4))
def test_add_fans_the_gradient_out_to_each_input(seed, k):
    rng = np.random.default_rng(seed)
    layer = Add(dtype="float64")
    layer.build([(3, 2)] * k)
    xs = [rng.normal(size=(2, 3, 2)) for _ in range(k)]
    np.testing.assert_allclose(layer.forward(xs), sum(xs))
    assert_ok(merge_gradient_errors(layer, xs, rng))


@given(
    seed=SEEDS,
    axis=st.sampled_from([-1, 1, 2]),
    sizes=st.lists(st.integers(1, 3), min_size=2, max_size=3),
)
def test_concatenate_splits_the_gradient_by_slices(seed, axis, sizes):
    rng = np.random.default_rng(seed)
    layer = Concatenate(axis=axis, dtype="float64")
    shapes = [(s, 2) if axis == 1 else (2, s) for s in sizes]
    xs = [rng.normal(size=(3, *s)) for s in shapes]
    y = layer(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=axis))
    assert_ok(merge_gradient_errors(layer, xs, rng))


# -- Keras behaviour -------------------------------------------------------------------------------


def test_batch_normalization_training_statistics_and_moving_averages():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(dtype="float64")
    layer.build((2, 3), rng)
    assert [w.shape for w in layer.weights] == [(3,)] * 4
    assert layer.momentum == 0.99 and layer.epsilon == 1e-3  # Keras' defaults
    x = rng.normal(2.0, 3.0, size=(8, 2, 3))
    y = layer.forward(x, training=True)
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))  # biased variance
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    np.testing.assert_allclose(layer.moving_mean, 0.01 * mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, 0.99 + 0.01 * var, rtol=1e-12)
    before = [w.copy() for w in layer.weights]
    y_inf = layer.forward(x, training=False)  # moving statistics, untouched
    np.testing.assert_allclose(
        y_inf, (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3), rtol=1e-12
    )
    for a, b in zip(before, layer.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_batch_normalization_weights_split_into_trainable_and_not():
    layer = BatchNormalization()
    layer.build((4,), np.random.default_rng(0))
    gamma, beta, mm, mv = layer.weights
    assert [id(w) for w in layer.trainable_weights] == [id(gamma), id(beta)]
    assert [id(w) for w in layer.non_trainable_weights] == [id(mm), id(mv)]
    assert layer.count_params() == 16
    layer.trainable = False  # Keras 3: frozen BN uses its moving statistics even when training
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    np.testing.assert_array_equal(layer.forward(x, training=True), layer.forward(x))
    np.testing.assert_array_equal(layer.moving_mean, 0.0)


def test_dense_layer_trainable_weights_follow_the_flag():
    layer = layers.Dense(2)
    layer.build((3,))
    assert len(layer.trainable_weights) == 2 and layer.non_trainable_weights == []
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2


def test_prelu_uses_keras_alpha_layout_and_zero_initializer():
    layer = PReLU(shared_axes=[1, 2])
    layer.build((5, 6, 3), np.random.default_rng(0))
    assert layer.alpha.shape == (1, 1, 3)
    np.testing.assert_array_equal(layer.alpha, 0.0)  # starts as a ReLU
    layer.alpha[...] = [0.1, 0.2, 0.3]
    x = -np.ones((1, 5, 6, 3), dtype="float32")
    np.testing.assert_allclose(layer.forward(x)[0, 0, 0], [-0.1, -0.2, -0.3])


def test_relu_parameters_change_the_output():
    x = np.array([[-2.0, -0.5, 0.25, 0.75, 3.0, 8.0]])
    cases = {
        (None, 0.0, 0.0): [0, 0, 0.25, 0.75, 3, 8],
        (6.0, 0.0, 0.0): [0, 0, 0.25, 0.75, 3, 6],
        (None, 0.1, 0.0): [-0.2, -0.05, 0.25, 0.75, 3, 8],
        (None, 0.0, 0.5): [0, 0, 0, 0.75, 3, 8],
        (2.0, 0.5, 0.5): [-1.25, -0.5, -0.125, 0.75, 2, 2],
    }
    for args, expected in cases.items():
        layer = ReLU(*args, dtype="float64")
        np.testing.assert_allclose(layer(x)[0], expected, err_msg=str(args))


def test_softmax_layer_is_an_activation_the_model_can_fuse():
    layer = Softmax()
    assert layer.activation.name == "softmax"
    y = layer(np.array([[1.0, 2.0, 3.0]], dtype="float32"))
    np.testing.assert_allclose(y.sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(layer.preactivation, [[1.0, 2.0, 3.0]])


def test_global_pooling_values():
    x = np.arange(2 * 2 * 3 * 2, dtype="float64").reshape(2, 2, 3, 2)
    np.testing.assert_allclose(GlobalAveragePooling2D(dtype="float64")(x), x.mean(axis=(1, 2)))
    np.testing.assert_allclose(GlobalMaxPooling2D(dtype="float64")(x), x.max(axis=(1, 2)))
    assert GlobalMaxPooling2D(keepdims=True)(x).shape == (2, 1, 1, 2)


def test_pooling_aliases_are_the_keras_names():
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.AvgPool2D is layers.AveragePooling2D


def test_input_returns_a_symbolic_tensor_from_an_input_layer():
    x = Input(shape=(28, 28, 1), name="pixels")
    assert isinstance(x, SymbolicTensor)
    assert x.shape == (None, 28, 28, 1) and x.dtype == np.float32
    assert isinstance(x.node.layer, InputLayer) and x.node.layer.name == "pixels"
    y = layers.Flatten()(x)
    assert y.shape == (None, 784) and y.node.inputs == [x]
    z = layers.Dense(10)(y)
    assert z.shape == (None, 10)
    assert not z.node.layer.built  # symbolic calls only record; the model builds
    merged = Concatenate()([z, layers.Dense(3)(y)])
    assert merged.shape == (None, 13) and len(merged.node.inputs) == 2


def test_input_layer_spellings_and_identity():
    assert InputLayer(shape=(3,)).shape == (3,)
    assert InputLayer(input_shape=(3,)).shape == (3,)
    assert InputLayer(batch_shape=(None, 2, 2)).shape == (2, 2)
    with pytest.raises(
        ValueError, match="Expected exactly one of shape, input_shape or batch_shape"
    ):
        InputLayer()
    layer = InputLayer(shape=(2,), dtype="float64")
    x = np.ones((3, 2))
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)


def test_symbolic_calls_check_shapes():
    x = Input(shape=(4, 4, 3))
    with pytest.raises(ValueError, match="a 1-D shape \\(features,\\) for Dense"):
        layers.Dense(2)(x)
    with pytest.raises(ValueError, match="inputs of one shape for Add"):
        Add()([layers.Flatten()(x), layers.GlobalAveragePooling2D()(x)])
    with pytest.raises(ValueError, match="Expected inputs of shape \\(5,\\)"):
        layers.Dense(2, input_shape=(5,))(layers.Flatten()(x))


# -- configs and errors ----------------------------------------------------------------------------

NEW_LAYERS = [
    lambda: InputLayer(shape=(3, 2), name="in_x"),
    lambda: Softmax(axis=1),
    lambda: ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
    lambda: ELU(alpha=0.5),
    lambda: PReLU(alpha_initializer="ones", shared_axes=[1]),
    lambda: BatchNormalization(
        momentum=0.9, epsilon=1e-5, center=False, gamma_initializer="he_normal"
    ),
    lambda: GlobalAveragePooling2D(keepdims=True),
    lambda: GlobalMaxPooling2D(),
    lambda: Rescaling(1 / 255, offset=0.5),
    lambda: Reshape((-1, 2)),
    lambda: Add(),
    lambda: Concatenate(axis=1),
]


@pytest.mark.parametrize("index", range(len(NEW_LAYERS)))
def test_new_layers_serialize_round_trip(index):
    layer = NEW_LAYERS[index]()
    blob = json.loads(json.dumps(layers.serialize(layer)))
    again = layers.deserialize(blob)
    assert type(again) is type(layer)
    assert again.get_config() == layer.get_config()


def test_new_layer_argument_errors():
    with pytest.raises(ValueError, match="negative_slope"):
        ReLU(negative_slope=-1)
    with pytest.raises(ValueError, match="shared_axes"):
        PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="a feature axis, not the batch axis 0"):
        BatchNormalization(axis=0).build((3,))
    with pytest.raises(ValueError, match="target_shape"):
        Reshape((5, 5)).build((3, 4))
    with pytest.raises(ValueError, match="a 3-D shape \\(H, W, C\\) for GlobalMaxPooling2D"):
        GlobalMaxPooling2D().build((3, 4))
    with pytest.raises(ValueError, match="data_format"):
        GlobalAveragePooling2D(data_format="channels_first")
    with pytest.raises(ValueError, match="at least 2 shapes"):
        Add().build([(3,)])
    with pytest.raises(ValueError, match="match except on the concatenation axis"):
        Concatenate().build([(3, 2), (4, 2)])
    layer = Add()
    layer.build([(2,), (2,)])
    with pytest.raises(ValueError, match="a list of 2 batches"):
        layer.forward([np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"inputs\[1\]"):
        layer.forward([np.ones((1, 2)), np.ones((1, 3))])


@given(seed=SEEDS, n=st.integers(2, 6))
def test_batch_normalization_backward_equals_the_explicit_jacobian(seed, n):
    from scratchnet.layers.normalization import batch_norm_backward_reference

    rng = np.random.default_rng(seed)
    layer = BatchNormalization(dtype="float64", epsilon=1e-3)
    layer.build((2, 3), rng)
    randomise(layer, rng)
    x = rng.normal(size=(n, 2, 3))
    y = layer.forward(x, training=True)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    reference = batch_norm_backward_reference(
        x.reshape(-1, 3), layer.gamma, dy.reshape(-1, 3), 1e-3
    )
    np.testing.assert_allclose(dx.reshape(-1, 3), reference, rtol=1e-9, atol=1e-12)


# -- main's contracts: weight_shapes without building; arrays shared with the caller ---------------

SAMPLES = [
    (lambda: InputLayer(shape=(3, 2)), (3, 2)),
    (lambda: Softmax(), (3, 4)),
    (lambda: ReLU(6.0, 0.1, 0.5), (3, 4)),
    (lambda: ELU(), (5,)),
    (lambda: PReLU(shared_axes=[1]), (3, 4)),
    (lambda: PReLU(), (2, 3, 2)),
    (lambda: BatchNormalization(), (4, 3, 2)),
    (lambda: BatchNormalization(axis=1, center=False), (3, 4)),
    (lambda: BatchNormalization(scale=False, center=False), (5,)),
    (lambda: GlobalAveragePooling2D(), (3, 4, 2)),
    (lambda: GlobalMaxPooling2D(), (3, 4, 2)),
    (lambda: Rescaling(0.5), (3, 4)),
    (lambda: Reshape((-1,)), (3, 4)),
]


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_weight_shapes_are_what_build_makes(index):
    make, shape = SAMPLES[index]
    layer = make()
    predicted = layer.weight_shapes(shape)
    layer.build(shape, np.random.default_rng(0))
    assert predicted == [w.shape for w in layer.weights]
    merge = Concatenate()
    assert merge.weight_shapes([(3, 2), (3, 1)]) == [] and Add().weight_shapes([(2,), (2,)]) == []


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_outputs_never_alias_the_input_and_backward_keeps_nothing_of_it(index):
    make, shape = SAMPLES[index]
    rng = np.random.default_rng(1)
    layer = make()
    layer.dtype = np.dtype("float64")
    layer.build(shape, rng)
    x = rng.normal(size=(4, *shape))
    x_before = x.copy()
    y = layer.forward(x, training=True)
    assert not np.shares_memory(y, x)
    dy = rng.normal(size=y.shape)
    x[...] = 99.0  # the caller reuses its buffer between forward and backward
    dx = layer.backward(dy)
    layer.forward(x_before.copy(), training=True)
    np.testing.assert_array_equal(dx, layer.backward(dy))
