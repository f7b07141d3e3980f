"""Keras conveniences scripts call: backend, initializer aliases, utils.normalize, callback aliases, save_freq."""

import numpy as np
import pytest

import scratchnet
from scratchnet import backend, callbacks, config, initializers, layers, utils


def test_backend_basics():
    assert backend.image_data_format() == "channels_last"
    assert backend.floatx() == config.floatx() == "float32"
    assert backend.epsilon() == 1e-7
    backend.set_floatx("float64")
    try:
        assert config.floatx() == "float64" and layers.Dense(2).dtype == np.float64
    finally:
        backend.set_floatx("float32")
    backend.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match="data_format"):
        backend.set_image_data_format("channels_first")


def test_clear_session_restarts_layer_names():
    layers.Dense(2)
    backend.clear_session()
    assert layers.Dense(2).name == "dense"
    assert layers.Dense(2).name == "dense_1"


def test_lower_case_initializer_aliases():
    assert initializers.glorot_uniform is initializers.GlorotUniform
    for name in ("glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
                 "zeros", "ones", "random_normal", "random_uniform", "variance_scaling"):  # fmt: skip
        cls = getattr(initializers, name)
        assert type(initializers.get(name)) is cls
    layer = layers.Dense(
        3, kernel_initializer=initializers.he_normal(), bias_initializer=initializers.ones
    )
    layer.build((4,), np.random.default_rng(0))
    np.testing.assert_array_equal(layer.bias, 1.0)


def test_normalize_is_keras_l2_normalisation():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(utils.normalize(x), [[0.6, 0.8], [0, 0], [1, 0]])
    cols = utils.normalize(x, axis=0)
    np.testing.assert_allclose(np.linalg.norm(cols, axis=0), [1.0, 1.0])
    np.testing.assert_allclose(utils.normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0], [1, 0]])
    assert utils.normalize(np.arange(4)).dtype == np.float32
    with pytest.raises(ValueError, match="axis"):
        utils.normalize(x, axis=2)


def test_top_level_names():
    assert scratchnet.Input is layers.Input
    assert scratchnet.backend is backend


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_batch_begin(self, batch, logs=None):
        self.calls.append(("begin", batch))

    def on_batch_end(self, batch, logs=None):
        self.calls.append(("end", batch, logs["loss"]))


def test_on_batch_hooks_are_aliases_of_the_train_batch_hooks():
    cb = Recorder()
    cb.on_train_batch_begin(0, {})
    cb.on_train_batch_end(0, {"loss": 1.5})
    assert cb.calls == [("begin", 0), ("end", 0, 1.5)]


class FakeModel:
    def __init__(self):
        self.saved = []

    def get_weights(self):
        return [np.zeros(2)]

    def save(self, path):
        self.saved.append(path)

    save_weights = save


def run_batches(cb, epochs, steps):
    for epoch in range(epochs):
        cb.on_epoch_begin(epoch, {})
        for step in range(steps):
            cb.on_train_batch_end(step, {"loss": 0.5})
        cb.on_epoch_end(epoch, {"loss": 0.5})


def test_model_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "c-{epoch}-{batch}.snet"), save_freq=3)
    cb.set_model(FakeModel())
    run_batches(cb, epochs=2, steps=4)  # 8 batches: saves after the 3rd and the 6th
    assert [p.rsplit("/", 1)[1] for p in cb.model.saved] == ["c-1-3.snet", "c-2-2.snet"]
    cb = callbacks.ModelCheckpoint(str(tmp_path / "e-{epoch}.snet"))
    cb.set_model(FakeModel())
    run_batches(cb, epochs=2, steps=4)
    assert [p.rsplit("/", 1)[1] for p in cb.model.saved] == ["e-1.snet", "e-2.snet"]


def test_model_checkpoint_save_freq_errors_and_best_only_warning(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("x", save_freq=0)
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("x", save_freq="batch")
    cb = callbacks.ModelCheckpoint(str(tmp_path / "b.snet"), save_freq=1, save_best_only=True)
    cb.set_model(FakeModel())
    with pytest.warns(UserWarning, match="only with val_loss available"):
        cb.on_train_batch_end(0, {"loss": 0.5})
    assert cb.model.saved == []


def test_set_random_seed_makes_unseeded_scripts_repeatable():
    from scratchnet import Sequential

    def run():
        utils.set_random_seed(812)
        x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
        model = Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dropout(0.5),
                            layers.Dense(2, activation="softmax")])  # fmt: skip
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, (x[:, 0] > 0).astype(int), epochs=2, verbose=0)
        return model.get_weights()

    try:
        for a, b in zip(run(), run(), strict=True):
            np.testing.assert_array_equal(a, b)
        utils.set_random_seed(None)
        assert Sequential([layers.Dense(1)]).seed is None  # back to fresh entropy
        with pytest.raises(ValueError, match="argument seed"):
            utils.set_random_seed(-1)
    finally:
        utils.set_random_seed(None)
