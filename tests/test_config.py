"""Global settings: floatx switches every default dtype; bad values are refused."""

import numpy as np
import pytest

from scratchnet import Sequential, config, layers


@pytest.fixture
def float64():
    config.set_floatx("float64")
    yield
    config.set_floatx("float32")


def test_float32_is_the_default():
    assert config.floatx() == "float32"
    layer = layers.Dense(3)
    layer.build((4,), np.random.default_rng(0))
    assert all(w.dtype == np.float32 for w in layer.weights)


def test_set_floatx_float64_reaches_layers_models_and_outputs(float64):
    model = Sequential([layers.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), layers.Flatten(),
                        layers.Dense(3, activation="softmax")], seed=0)  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 1)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, verbose=0, seed=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert model.predict(x).dtype == np.float64
    assert all(
        v.dtype == np.float64 for s in model.optimizer.get_state()["slots"] for v in s.values()
    )


def test_dtype_argument_overrides_floatx():
    layer = layers.Dense(3, dtype="float64")
    layer.build((4,), np.random.default_rng(0))
    assert layer.weights[0].dtype == np.float64
    assert layer(np.ones((2, 4), dtype=np.float32)).dtype == np.float64


def test_bad_settings_are_refused():
    with pytest.raises(
        ValueError, match=r"argument value\. Expected one of .*Received value='float128'"
    ):
        config.set_floatx("float128")
    with pytest.raises(ValueError, match="argument dtype"):
        config.resolve_dtype("int32")
    with pytest.raises(ValueError, match="positive float"):
        config.set_epsilon(0)
    assert config.floatx() == "float32" and config.epsilon() == 1e-7
