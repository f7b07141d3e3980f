"""The functional API (Model(inputs, outputs)), models as layers, and the Keras model conveniences.

Gradients of whole graphs are checked against central differences in float64:
fan-out (one tensor feeding several layers), Add, Concatenate, a nested model.
"""

import re

import numpy as np
import pytest

from scratchnet import Input, Sequential, gradcheck, layers, load_model
from scratchnet.models import Model
from tests.helpers import strokes


def residual_model(seed=0, dtype="float64"):
    """x -> Dense a; x -> Dense b; Add(a, b) -> Dense c; Concatenate(c, a) -> Dense(3, softmax)."""
    inputs = Input(shape=(4,), dtype=dtype)
    a = layers.Dense(5, activation="tanh", dtype=dtype)(inputs)
    b = layers.Dense(5, activation="sigmoid", dtype=dtype)(inputs)
    c = layers.Dense(5, activation="tanh", dtype=dtype)(layers.Add(dtype=dtype)([a, b]))
    joined = layers.Concatenate(dtype=dtype)([c, a])  # a feeds Add AND Concatenate
    outputs = layers.Dense(3, activation="softmax", dtype=dtype)(joined)
    return Model(inputs, outputs, seed=seed)


def numeric_loss_gradients(model, x, y):
    def loss_at(w, k):
        saved = model.get_weights()
        ws = [v.copy() for v in saved]
        ws[k] = w
        model.set_weights(ws)
        value = model.loss(y, model.predict(x, verbose=0))
        model.set_weights(saved)
        return np.asarray(value)

    return [
        gradcheck.numeric_gradient(lambda w, k=k: loss_at(w, k), w, np.ones(()))
        for k, w in enumerate(model.get_weights())
    ]


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "mse"])
def test_dag_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(0)
    model = residual_model()
    model.set_weights([rng.normal(0, 0.5, w.shape) for w in model.get_weights()])
    model.compile("sgd", loss)
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, 6) if loss.startswith("sparse") else rng.normal(size=(6, 3))
    _, grads = model.compute_gradients(x, y)
    for g, n in zip(grads, numeric_loss_gradients(model, x, y), strict=True):
        assert gradcheck.relative_error(g, n) < 1e-7


def test_the_graph_is_in_topological_order_and_fans_out():
    model = residual_model()
    names = [type(layer).__name__ for layer in model.layers]
    assert names[0] == "InputLayer" and names[-1] == "Dense"
    assert names.index("Add") < names.index("Concatenate")
    assert model.input_shape == (4,) and model.output_shape == (3,)
    assert len(model.get_weights()) == 8
    x = np.random.default_rng(1).normal(size=(2, 4))
    by_hand = model.get_layer(model.layers[-1].name)
    assert by_hand is model.layers[-1]
    # the output computed by hand from the layers equals the model's
    a, b = (model.layers[i].forward(x) for i in (1, 2))
    assert model.predict(x, verbose=0).shape == (2, 3)
    assert model.layers[1].name != model.layers[2].name and a.shape == b.shape


def test_same_seed_same_weights_and_fit_learns():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 4))
    y = np.argmax(x[:, :3], axis=1)
    m1, m2 = residual_model(seed=5), residual_model(seed=5)
    for w1, w2 in zip(m1.get_weights(), m2.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    m1.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = m1.fit(x, y, epochs=20, batch_size=16, verbose=0, seed=0)
    assert history.history["accuracy"][-1] > 0.85
    loss, acc = m1.evaluate(x, y, verbose=0)
    assert acc > 0.85 and loss < history.history["loss"][0]


def test_several_inputs_and_outputs():
    left, right = Input(shape=(3,), name="left"), Input(shape=(2,), name="right")
    joined = layers.Concatenate()([layers.Dense(4)(left), right])
    out1 = layers.Dense(2, activation="softmax")(joined)
    out2 = layers.Dense(1)(joined)
    model = Model([left, right], [out1, out2], seed=0)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(5, 3)), rng.normal(size=(5, 2))]
    p1, p2 = model.predict(xs, verbose=0)
    assert p1.shape == (5, 2) and p2.shape == (5, 1)
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="has 2 outputs: fit, evaluate and the other"):
        model.fit(xs, rng.normal(size=(5, 1)))
    single = Model([left, right], out1, seed=0)
    single.compile("sgd", "sparse_categorical_crossentropy")
    single.fit(xs, np.array([0, 1, 0, 1, 1]), verbose=0)
    with pytest.raises(ValueError, match="Expected a list of 2 arrays"):
        single.predict(xs[0])


def test_graph_errors():
    x = Input(shape=(3,))
    dense = layers.Dense(3)
    with pytest.raises(ValueError, match="called more than once in this model; shared layers"):
        Model(x, dense(dense(x)))
    other = Input(shape=(3,))
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(x, layers.Add()([x, other]))
    with pytest.raises(TypeError, match="Model\\(inputs, outputs\\)"):
        Model()
    with pytest.raises(ValueError, match="tensors made by layers.Input"):
        Model(layers.Dense(2)(x), layers.Dense(2)(x))


def test_functional_model_save_load_and_summary(tmp_path):
    rng = np.random.default_rng(0)
    model = residual_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = rng.normal(size=(32, 4)), rng.integers(0, 3, 32)
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    model.save(tmp_path / "f.snet")
    loaded = load_model(tmp_path / "f.snet")
    assert type(loaded) is Model
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    loaded.fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # resuming is bit-identical
    printed = []
    assert model.summary(print_fn=printed.append) is None
    assert "Connected to" in printed[0] and "Total params: 113" in printed[0]
    assert re.search(r"add(_\d+)? \(Add\)\s+\(None, 5\)\s+0\s+dense(_\d+)?, dense_\d+", printed[0])


def test_a_trained_model_is_a_layer_of_another_sequential():
    """The TF beginner tutorial: probability_model = Sequential([model, Softmax()])."""
    x, y = strokes(64, np.random.default_rng(0))
    model = Sequential(
        [
            Input(shape=(12, 12, 1)),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(4),
        ],
        seed=0,
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    from scratchnet import losses

    model.compile(
        "adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    model.fit(x, y, epochs=3, verbose=0, seed=0)
    probability_model = Sequential([model, layers.Softmax()])
    probs = probability_model.predict(x[:5], verbose=0)
    logits = model.predict(x[:5], verbose=0)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(axis=1, keepdims=True), rtol=1e-5)
    assert probability_model.count_params() == model.count_params()
    assert probability_model(x[:2]).shape == (2, 4)


def test_nested_model_gradients_and_training():
    rng = np.random.default_rng(2)
    inner = Sequential([layers.Dense(4, activation="tanh", dtype="float64")], seed=1)
    outer = Sequential(
        [layers.Dense(3, activation="tanh", input_shape=(2,), dtype="float64"), inner,
         layers.Dense(2, activation="softmax", dtype="float64")],
        seed=0,
    )  # fmt: skip
    outer.compile("sgd", "sparse_categorical_crossentropy")
    x, y = rng.normal(size=(5, 2)), rng.integers(0, 2, 5)
    _, grads = outer.compute_gradients(x, y)
    assert len(grads) == 6 and inner.built
    for g, n in zip(grads, numeric_loss_gradients(outer, x, y), strict=True):
        assert gradcheck.relative_error(g, n) < 1e-7
    inner.trainable = False
    before = inner.get_weights()
    outer.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(before, inner.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nested_model_in_a_functional_model_saves_and_loads(tmp_path):
    inner = Sequential([layers.Dense(3, activation="relu", input_shape=(4,))], name="block", seed=0)
    x = Input(shape=(4,))
    out = layers.Dense(2, activation="softmax")(layers.Add()([inner(x), layers.Dense(3)(x)]))
    model = Model(x, out, seed=1)
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    model.fit(data, np.arange(8) % 2, verbose=0)
    model.save(tmp_path / "n.snet")
    loaded = load_model(tmp_path / "n.snet")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    assert type(loaded.get_layer("block")) is Sequential


# -- Sequential conveniences -------------------------------------------------------------------


def test_input_as_first_element_of_sequential():
    model = Sequential([Input(shape=(12, 12, 1)), layers.Flatten(), layers.Dense(4)], seed=0)
    assert model.built is False or model.input_shape == (12, 12, 1)
    model.build()
    assert model.input_shape == (12, 12, 1) and len(model.layers) == 2  # no InputLayer, as Keras
    with pytest.raises(ValueError, match="can only be the first element"):
        Sequential([layers.Dense(2), Input(shape=(3,))])
    declared = Sequential([layers.InputLayer(input_shape=(5,)), layers.Dense(2)])
    assert declared.count_params() == 12


def test_missing_channel_axis_is_added_as_keras_does():
    x, y = strokes(16, np.random.default_rng(0))
    model = Sequential(
        [layers.Conv2D(2, 3, input_shape=(12, 12, 1)), layers.Flatten(), layers.Dense(4)], seed=0
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    np.testing.assert_array_equal(model.predict(x[..., 0], verbose=0), model.predict(x, verbose=0))
    model.fit(x[..., 0], y, verbose=0)
    with pytest.raises(ValueError, match=r"Expected samples of shape \(12, 12, 1\)"):
        model.predict(x[:, :10, :, 0], verbose=0)


def test_add_after_build_rebuilds_keeping_built_weights():
    model = Sequential([layers.Dense(3, input_shape=(2,))], seed=0)
    model.summary(print_fn=lambda text: None)
    kernel = model.layers[0].kernel
    model.add(layers.Dense(1))
    assert model.count_params() == 9 + 4
    assert model.layers[0].kernel is kernel
    assert model.predict(np.ones((2, 2)), verbose=0).shape == (2, 1)


def test_load_weights_builds_a_declared_model_first(tmp_path):
    model = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)], seed=0)
    model.save_weights(tmp_path / "w.snet")
    fresh = Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1)], seed=9)
    assert not fresh.built
    fresh.load_weights(tmp_path / "w.snet")
    for a, b in zip(model.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_summary_line_length_and_positions():
    model = Sequential([layers.Dense(3, input_shape=(2,), name="d")], seed=0)
    printed = []
    model.summary(line_length=60, positions=[0.5, 0.8, 1.0], print_fn=printed.append)
    lines = printed[0].splitlines()
    assert max(len(line) for line in lines) == 60
    row = next(line for line in lines if line.startswith("d (Dense)"))
    assert row.index("(None, 3)") == 30 and row.endswith("9")
    printed.clear()
    model.summary(positions=[20, 40, 50], print_fn=printed.append)
    assert "=" * 50 in printed[0]
    with pytest.raises(ValueError, match="positions"):
        model.summary(positions=[0.5, 1.0])


def test_summary_prints_once_and_returns_none(capsys):
    model = Sequential([layers.Dense(3, input_shape=(2,))])
    assert model.summary() is None
    assert capsys.readouterr().out.count("Total params: 9") == 1


def test_bare_string_metrics_are_refused_with_the_fix_in_the_message():
    model = Sequential([layers.Dense(2, input_shape=(2,))])
    with pytest.raises(TypeError, match=r"write metrics=\[\'accuracy\'\], a list"):
        model.compile("adam", "mse", metrics="accuracy")


def test_batch_normalization_in_a_model_trains_gamma_beta_only():
    x, y = strokes(64, np.random.default_rng(0))
    model = Sequential(
        [layers.Conv2D(4, 3, input_shape=(12, 12, 1)), layers.BatchNormalization(), layers.ReLU(),
         layers.GlobalAveragePooling2D(), layers.Dense(4, activation="softmax")],
        seed=0,
    )  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    bn = model.layers[1]
    printed = []
    model.summary(print_fn=printed.append)
    assert "Non-trainable params: 8" in printed[0]  # moving mean and variance, as Keras
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    assert not np.array_equal(bn.moving_mean, 0.0)  # moved towards the batch statistics
    state = model.optimizer.get_state(model.weights)
    slots = [s is not None for s in state["slots"]]
    assert slots == [True, True, True, True, False, False, True, True]  # no slots for moving stats
    # inference uses the moving statistics: the same input gives the same output in any batch
    np.testing.assert_allclose(
        model.predict(x[:4], verbose=0), model.predict(x, verbose=0)[:4], rtol=1e-5
    )


# -- what fit and evaluate show --------------------------------------------------------------


def small_model():
    model = Sequential(
        [layers.Flatten(input_shape=(12, 12, 1)), layers.Dense(4, activation="softmax")], seed=0
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_progress_bar_ends_with_the_validation_logs(capsys):
    x, y = strokes(64, np.random.default_rng(0))
    small_model().fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out
    assert re.search(r"accuracy=\d\.\d{4}, val_loss=\d\.\d{4}, val_accuracy=\d\.\d{4}", out)


def test_fit_verbose_2_prints_keras_epoch_lines(capsys):
    x, y = strokes(64, np.random.default_rng(0))
    small_model().fit(x, y, epochs=2, batch_size=16, validation_data=(x[:8], y[:8]), verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(
        r"4/4 - \d+s - \d+[mu]?s/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: \d\.\d{4} - val_accuracy: \d\.\d{4}",
        lines[3],
    )


def test_evaluate_shows_loss_and_metrics(capsys):
    x, y = strokes(40, np.random.default_rng(0))
    model = small_model()
    loss, acc = model.evaluate(x, y, verbose=1)
    assert re.search(rf"loss={loss:.4f}, accuracy={acc:.4f}", capsys.readouterr().out)
    model.evaluate(x, y, verbose=2)
    out = capsys.readouterr().out
    assert re.fullmatch(
        rf"2/2 - \d+s - \d+[mu]?s/step - loss: {loss:.4f} - accuracy: {acc:.4f}\n", out
    )
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_models_get_keras_automatic_names_and_nest_under_them():
    from scratchnet import backend

    backend.clear_session()
    a, b = Sequential([layers.Dense(2)]), Sequential([layers.Dense(2)])
    assert (a.name, b.name) == ("sequential", "sequential_1")
    x = Input(shape=(3,))
    model = Model(x, layers.Add()([a(x), b(x)]))
    assert model.name == "functional" and model.predict(np.ones((1, 3)), verbose=0).shape == (1, 2)


def test_every_new_layer_saves_loads_and_resumes(tmp_path):
    x, y = strokes(48, np.random.default_rng(0))
    model = Sequential(
        [Input(shape=(12, 12, 1)), layers.Rescaling(2.0, offset=-1.0), layers.Conv2D(4, 3),
         layers.BatchNormalization(momentum=0.9), layers.PReLU(shared_axes=[1, 2]), layers.ELU(0.5),
         layers.ReLU(max_value=6.0), layers.MaxPool2D(2), layers.AvgPool2D(1), layers.Reshape((5, 20)),
         layers.Reshape((5, 5, 4)), layers.GlobalMaxPooling2D(keepdims=True), layers.Flatten(),
         layers.Dense(4), layers.Softmax()],
        seed=0,
    )  # fmt: skip
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    model.save(tmp_path / "all.snet")
    loaded = load_model(tmp_path / "all.snet")
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # moving statistics included
    assert loaded.get_config() == model.get_config()
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    loaded.fit(x, y, epochs=3, initial_epoch=2, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequential_starting_with_a_model_takes_its_declared_input_shape():
    inner = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    outer = Sequential([inner, layers.Softmax()])
    assert outer.count_params() == 16 + 10 and outer.input_shape == (3,)


def test_weight_shapes_from_a_functional_config_without_building():
    from scratchnet.models import functional_weight_shapes

    x = Input(shape=(4, 4, 2))
    a = layers.BatchNormalization(center=False)(x)
    b = layers.PReLU(shared_axes=[1, 2])(x)
    out = layers.GlobalMaxPooling2D()(layers.Concatenate()([a, b]))
    model = Model(x, out, seed=0)
    expected = [(layer.name, w.shape) for layer in model.layers for w in layer.weights]
    assert functional_weight_shapes(model.get_config()) == expected
    assert model.weight_shapes((4, 4, 2)) == [s for _, s in expected]
    inner = Sequential([layers.PReLU(), layers.BatchNormalization()])
    assert inner.weight_shapes((3,)) == [(3,), (3,), (3,), (3,), (3,)]
    assert not inner.built


def test_a_damaged_functional_model_file_is_a_corrupt_file_error(tmp_path):
    import json
    import zipfile

    from scratchnet import saving

    model = residual_model()
    model.save(tmp_path / "f.snet")
    with zipfile.ZipFile(tmp_path / "f.snet") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["model_config"]["layers"][-1]["inbound"] = ["no_such_layer"]
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "bad.snet", "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(saving.CorruptFileError, match="invalid model_config"):
        load_model(tmp_path / "bad.snet")
