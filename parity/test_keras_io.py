"""Item 6: scratchnet.keras_io, both directions (cases in parity.cases.keras_io), and its errors."""

import subprocess
import sys

import numpy as np
import pytest

from parity._harness import missing_requirement
from parity._pytest import check, params, require_tensorflow
from parity._tf import tf_keras
from parity.cases import keras_io as cases

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("keras_io"))
def test_round_trip(case, dtype):
    check(case, dtype)


def test_importing_scratchnet_and_keras_io_does_not_import_tensorflow():
    code = (
        "import sys, scratchnet, scratchnet.keras_io, scratchnet.models; "
        "bad = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules); "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.fixture
def io():
    reason = missing_requirement(cases.CASES[0])
    if reason:
        pytest.skip(reason)
    from scratchnet import keras_io

    return keras_io


def _keras_model(*layers, shape=(8, 8, 3)):
    _, keras = tf_keras()
    return keras.Sequential([keras.Input(shape=shape), *layers])


def test_an_unsupported_keras_layer_is_named_in_the_error(io):
    _, keras = tf_keras()
    model = _keras_model(keras.layers.Conv2D(2, 3), keras.layers.LayerNormalization(name="ln"))
    with pytest.raises(ValueError, match=r"Layer 'ln' is a Keras LayerNormalization\. scratchnet"):
        io.from_keras(model)
    bn = keras.layers.BatchNormalization(name="bn", gamma_regularizer="l2")
    with pytest.raises(ValueError, match="Layer 'bn' sets gamma_regularizer"):
        io.from_keras(_keras_model(bn))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(dilation_rate=2), "dilation_rate=\\(2, 2\\)"),
        (dict(groups=3), "groups=3"),
        (dict(kernel_regularizer="l2"), "kernel_regularizer"),
        (dict(activation="exponential"), "activation 'exponential'"),
        (dict(kernel_initializer="orthogonal"), "initializer Orthogonal"),
    ],
)
def test_unsupported_conv_settings_are_refused(io, kwargs, match):
    _, keras = tf_keras()
    model = _keras_model(keras.layers.Conv2D(3, 3, name="c", **kwargs))
    with pytest.raises(ValueError, match=match):
        io.from_keras(model)


def test_a_seeded_keras_initializer_is_refused(io):
    _, keras = tf_keras()
    init = keras.initializers.GlorotUniform(seed=3)
    model = _keras_model(keras.layers.Dense(2, kernel_initializer=init), shape=(4,))
    with pytest.raises(ValueError, match="seeded Keras initializer GlorotUniform"):
        io.from_keras(model)


def test_mixed_precision_is_refused(io):
    _, keras = tf_keras()
    model = _keras_model(keras.layers.Dense(2, dtype="mixed_float16", name="d"), shape=(4,))
    with pytest.raises(ValueError, match="mixed dtype policy 'mixed_float16'"):
        io.from_keras(model)


def test_an_unbuilt_or_wrong_model_is_refused(io):
    _, keras = tf_keras()
    with pytest.raises(ValueError, match="Expected a built keras.Sequential"):
        io.from_keras(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(TypeError, match="Expected a keras.Sequential"):
        io.from_keras("model")
    with pytest.raises(TypeError, match="Expected a scratchnet.models.Sequential"):
        io.to_keras(keras.Sequential([keras.layers.Dense(2)]))

    from scratchnet.layers import Dense
    from scratchnet.models import Sequential

    with pytest.raises(ValueError, match="Expected a built model"):
        io.to_keras(Sequential([Dense(2)]))


def test_float64_and_names_travel_both_ways(io):
    rng = np.random.default_rng(5)
    model = cases.scratch_model("every_layer", "float64", rng)
    converted = io.to_keras(model)
    assert converted.name == model.name
    assert [layer.name for layer in converted.layers] == [layer.name for layer in model.layers]
    assert all(w.dtype == np.float64 for w in converted.get_weights())
    assert all(layer.dtype_policy.name == "float64" for layer in converted.layers)
    back = io.from_keras(converted)
    assert all(layer.dtype == np.float64 for layer in back.layers)


def test_parametrised_activations_arrive_as_their_keras_function(io):
    _, keras = tf_keras()
    rng = np.random.default_rng(6)
    converted = io.to_keras(cases.scratch_model("every_layer", "float64", rng))
    conv, elu, last = converted.layers[0], converted.layers[3], converted.layers[-1]
    assert conv.activation.func is keras.activations.leaky_relu
    assert conv.activation.keywords == {"negative_slope": 0.125}
    assert elu.activation.func is keras.activations.elu
    assert elu.activation.keywords == {"alpha": 0.5}
    assert last.activation is keras.activations.softmax  # default parameters: the plain function


def test_shared_and_subclassed_keras_models_are_refused(io):
    _, keras = tf_keras()
    x = keras.Input(shape=(3,))
    shared = keras.layers.Dense(3, name="shared")
    with pytest.raises(ValueError, match="Layer 'shared' is called 2 times \\(shared\\)"):
        io.from_keras(keras.Model(x, shared(shared(x))))

    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    custom = Custom()
    custom.build((None, 3))
    with pytest.raises(ValueError, match="is a subclassed keras.Model"):
        io.from_keras(custom)


def test_a_sequential_holding_a_trained_model_goes_both_ways(io):
    from scratchnet import layers
    from scratchnet.models import Sequential

    inner = Sequential(
        [layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)], seed=0
    )
    outer = Sequential([inner, layers.Softmax()], name="probabilities")
    outer.build()
    converted = io.to_keras(outer)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(converted(x).numpy(), outer.predict(x, verbose=0), rtol=1e-6)
    back = io.from_keras(converted)
    assert type(back.layers[0]) is Sequential and back.layers[0].name == inner.name
    np.testing.assert_array_equal(back.predict(x, verbose=0), outer.predict(x, verbose=0))
