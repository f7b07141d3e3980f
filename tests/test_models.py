"""Sequential: training, gradients, batch gradient descent, determinism, callbacks and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

from scratchnet import callbacks, layers, losses, optimizers
from scratchnet.gradcheck import numeric_gradient, relative_error
from scratchnet.models import Sequential, TrainingDivergedError
from scratchnet.utils import to_categorical
from tests.helpers import strokes


def small_cnn(seed=0, dtype=None, size=12):
    return Sequential(
        [
            layers.Conv2D(8, 3, activation="relu", input_shape=(size, size, 1), dtype=dtype),
            layers.MaxPooling2D(2, dtype=dtype),
            layers.Flatten(dtype=dtype),
            layers.Dense(4, activation="softmax", dtype=dtype),
        ],
        seed=seed,
    )


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    x, y = strokes(600, rng)
    return x[:400], y[:400], x[400:], y[400:]


def test_small_cnn_learns_strokes(data):
    x, y, xt, yt = data
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.evaluate(xt, yt)[0]
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0, seed=1, validation_data=(xt, yt))
    loss, acc = model.evaluate(xt, yt)
    assert loss < 0.5 * before
    assert acc >= 0.9, f"held-out accuracy {acc}"
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history.history["loss"]) == 8
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(history.history["val_loss"][-1], loss, rtol=1e-6)


def test_predict_evaluate_shapes(data):
    x, y, _, _ = data
    model = small_cnn()
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    assert model.predict(x[:50], batch_size=7).shape == (50, 4)
    np.testing.assert_allclose(model.predict(x[:50]).sum(axis=1), 1.0, rtol=1e-5)
    yc = to_categorical(y, 4)
    result = model.evaluate(x[:50], yc[:50], return_dict=True)
    assert set(result) == {"loss", "accuracy"}
    before = model.test_on_batch(x[:8], yc[:8])
    assert before == pytest.approx(model.evaluate(x[:8], yc[:8], batch_size=8, verbose=0), rel=1e-6)
    trained = model.train_on_batch(x[:8], yc[:8])
    assert isinstance(trained, list) and len(trained) == 2
    assert trained[0] == pytest.approx(before[0], rel=1e-6)  # the loss before the update
    assert model.optimizer.iterations == 1
    after = model.test_on_batch(x[:8], yc[:8])
    assert len(after) == 2 and after[0] != before[0]


def test_summary_counts_match_keras():
    # Keras reports 320 + 54,090 = 54,410 parameters for the classic MNIST CNN.
    model = Sequential(
        [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
            layers.MaxPooling2D((2, 2)),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.build((28, 28, 1))
    printed = []
    assert model.summary(print_fn=printed.append) is None  # Keras returns None
    (text,) = printed
    assert model.count_params() == 54410
    assert "54,410" in text and "(None, 13, 13, 32)" in text and "(None, 5408)" in text


def tiny_dense(activation="softmax", seed=0):
    return Sequential([layers.Dense(5, activation="tanh", dtype="float64"),
                       layers.Dense(3, activation=activation, dtype="float64")], seed=seed)  # fmt: skip


def _numeric_weight_grads(model, x, y, loss_fn):
    grads = []
    for w in model.weights:
        original = w.copy()

        def f(value, w=w):
            np.copyto(w, value)
            return np.array(loss_fn(y, model.predict(x, batch_size=len(x))))

        grads.append(numeric_gradient(f, original, np.array(1.0)))
        np.copyto(w, original)
    return grads


@pytest.mark.parametrize(
    "loss_name", ["categorical_crossentropy", "sparse_categorical_crossentropy", "mse"]
)
def test_compute_gradients_matches_finite_differences(loss_name):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4))
    labels = rng.integers(0, 3, 6)
    y = labels if loss_name.startswith("sparse") else to_categorical(labels, 3, dtype="float64")
    model = tiny_dense()
    model.compile("sgd", loss_name)
    model.build((4,))
    loss, grads = model.compute_gradients(x, y)
    loss_fn = losses.get(loss_name)
    numeric = _numeric_weight_grads(model, x, y, loss_fn)
    assert np.isclose(loss, loss_fn(y, model.predict(x)), rtol=1e-12)
    for analytic, num in zip(grads, numeric, strict=True):
        assert relative_error(analytic, num) < 1e-6


def test_fused_softmax_gradient_equals_logits_model():
    """Dense(softmax)+CE on probabilities trains on the same gradient as Dense(linear)+CE(from_logits)."""
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    y = to_categorical(labels, 3, dtype="float64")
    fused = tiny_dense("softmax")
    fused.compile("sgd", "categorical_crossentropy")
    fused.build((4,))
    logits = tiny_dense("linear")
    logits.compile("sgd", losses.CategoricalCrossentropy(from_logits=True))
    logits.build((4,))
    logits.set_weights(fused.get_weights())
    l1, g1 = fused.compute_gradients(x, y)
    l2, g2 = logits.compute_gradients(x, y)
    assert l1 == pytest.approx(l2, rel=1e-12)
    for a, b in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_fused_path_is_exact_where_probabilities_saturate():
    """Keras' measured case: logits [0, 200] give loss 200 on the fused path (16.118 when clipped)."""
    model = Sequential([layers.Dense(2, activation="softmax", use_bias=False, dtype="float64")])
    model.compile("sgd", "categorical_crossentropy")
    model.build((2,))
    model.set_weights([np.array([[0.0, 200.0], [0.0, 0.0]])])
    loss = model.evaluate(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]]))
    assert loss == pytest.approx(200.0, rel=1e-12)


def test_batch_gradient_descent_one_exact_step_per_epoch(data):
    x, y, _, _ = data
    model = small_cnn(dtype="float64")
    model.compile(optimizers.GradientDescent(learning_rate=0.5), "sparse_categorical_crossentropy")
    model.build((12, 12, 1))
    start = model.get_weights()
    _, full_grad = model.compute_gradients(x, y, training=True)
    history = model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # 400 samples in 7 uneven chunks
    assert model.optimizer.iterations == 1
    for w0, g, w1 in zip(start, full_grad, model.get_weights(), strict=True):
        np.testing.assert_allclose(w1, w0 - 0.5 * g, rtol=1e-10, atol=1e-12)
    model.fit(x, y, batch_size=64, epochs=3, verbose=0)
    assert model.optimizer.iterations == 4
    assert len(history.history["loss"]) == 1


def test_same_seed_same_bits_different_seed_differs(data):
    x, y, _, _ = data

    def train(model_seed, fit_seed):
        model = small_cnn(seed=model_seed)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, seed=fit_seed)
        return model.get_weights()

    a, b, c = train(0, 7), train(0, 7), train(0, 8)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c, strict=True))
    m1, m2 = small_cnn(seed=1), small_cnn(seed=2)
    m1.build((12, 12, 1))
    m2.build((12, 12, 1))
    assert not np.array_equal(m1.layers[0].weights[0], m2.layers[0].weights[0])


def test_validation_split_takes_the_last_fraction(data):
    x, y, _, _ = data
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    h = model.fit(x[:100], y[:100], epochs=1, verbose=0, validation_split=0.25, seed=0)
    expected = model.evaluate(x[75:100], y[75:100])
    assert h.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- callbacks


def test_callback_hook_order(data):
    x, y, _, _ = data
    calls = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            calls.append("batch")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:64], y[:64], batch_size=32, epochs=2, verbose=0, callbacks=[Recorder()])
    assert calls == ["train_begin", "epoch_begin 0", "batch", "batch", "epoch_end 0 ['accuracy', 'loss']",
                     "epoch_begin 1", "batch", "batch", "epoch_end 1 ['accuracy', 'loss']", "train_end"]  # fmt: skip


def test_early_stopping_restores_best_weights(data):
    x, y, xt, yt = data
    model = small_cnn()
    model.compile(optimizers.SGD(learning_rate=0.05), "sparse_categorical_crossentropy")
    seen = []

    class Spy(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_loss"], self.model.get_weights()))

    stopper = callbacks.EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True, min_delta=10.0
    )
    h = model.fit(
        x, y, epochs=10, verbose=0, validation_data=(xt, yt), callbacks=[Spy(), stopper], seed=0
    )
    # min_delta=10 means no epoch after the first counts as an improvement: stop after epoch 2.
    assert len(h.history["loss"]) == 2 and stopper.stopped_epoch == 1
    for w, best in zip(model.get_weights(), seen[0][1], strict=True):
        np.testing.assert_array_equal(w, best)


def test_learning_rate_scheduler_and_csv_logger(tmp_path, data):
    x, y, _, _ = data
    model = small_cnn()
    model.compile(
        optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5**epoch)
    log = tmp_path / "log.csv"
    h = model.fit(x[:64], y[:64], epochs=3, verbose=0, callbacks=[sched, callbacks.CSVLogger(log)])
    assert model.optimizer.learning_rate == pytest.approx(0.025)
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025])
    rows = log.read_text().strip().splitlines()
    assert rows[0].split(",") == ["epoch", "accuracy", "learning_rate", "loss"]
    assert len(rows) == 4 and rows[3].startswith("2,")


def test_nan_loss_raises_with_epoch_and_batch_and_keeps_last_good_checkpoint(tmp_path, data):
    x, y, _, _ = data
    yc = np.eye(4)[y]
    model = Sequential([layers.Flatten(input_shape=(12, 12, 1)), layers.Dense(4)], seed=0)
    model.compile(optimizers.SGD(learning_rate=0.01), "mse")
    ckpt = tmp_path / "last.snet"
    model.fit(x[:32], yc[:32], epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(ckpt)])
    good = ckpt.read_bytes()
    # lr 1e30: the first step makes the weights ~1e30, so the second batch's loss overflows float32.
    model.compile(optimizers.SGD(learning_rate=1e30), "mse")
    with (
        np.errstate(over="ignore", invalid="ignore"),
        pytest.raises(TrainingDivergedError, match=r"Loss became (inf|nan) at epoch 1, batch 1"),
    ):
        model.fit(x[:64], yc[:64], batch_size=8, epochs=3, verbose=0, shuffle=False,
                  callbacks=[callbacks.ModelCheckpoint(ckpt)])  # fmt: skip
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert ckpt.read_bytes() == good
    # The checkpoint callback itself never writes non-finite weights.
    guard = callbacks.ModelCheckpoint(ckpt)
    guard.set_model(model)
    model.layers[1].weights[0][0, 0] = np.inf
    guard.on_epoch_end(5, {"loss": 1.0})
    assert ckpt.read_bytes() == good


def test_terminate_on_nan_stops_quietly_with_finite_weights(data):
    x, y, _, _ = data
    model = Sequential([layers.Flatten(input_shape=(12, 12, 1)), layers.Dense(4)], seed=0)
    model.compile(optimizers.SGD(learning_rate=1e30), "mse")
    with np.errstate(over="ignore", invalid="ignore"):
        h = model.fit(x[:64] * 1e30, np.eye(4)[y[:64]], batch_size=8, epochs=3, verbose=0,
                      callbacks=[callbacks.TerminateOnNaN()])  # fmt: skip
    assert model.stop_training
    assert len(h.history.get("loss", [])) == 0
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


# ---------------------------------------------------------------- bad input


@pytest.fixture
def compiled():
    model = small_cnn()
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_before_compile():
    x, y = strokes(8, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"You must call compile\(\) before training"):
        small_cnn().fit(x, y)  # a ValueError, as Keras 3
    for method in ("evaluate", "train_on_batch", "test_on_batch", "compute_gradients"):
        with pytest.raises(ValueError, match=r"You must call compile\(\)"):
            getattr(small_cnn(), method)(x, y)


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.5}, TypeError, "batch_size"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"validation_split": 1.5}, ValueError, "validation_split"),
        ({"initial_epoch": 5, "epochs": 2}, ValueError, "initial_epoch"),
        ({"validation_data": (1, 2, 3)}, ValueError, "validation_data"),
        ({"callbacks": [object()]}, TypeError, "callbacks"),
    ],
)
def test_fit_argument_errors(compiled, kwargs, exc, pattern):
    x, y = strokes(8, np.random.default_rng(0))
    with pytest.raises(exc, match=pattern):
        compiled.fit(x, to_categorical(y, 4), verbose=0, **kwargs)


def test_data_errors(compiled):
    x, y = strokes(8, np.random.default_rng(0))
    yc = to_categorical(y, 4)
    with pytest.raises(
        ValueError, match=r"same number of samples.*x.shape=\(8, 12, 12, 1\).*y.shape=\(7, 4\)"
    ):
        compiled.fit(x, yc[:7], verbose=0)
    with pytest.raises(ValueError, match="non-empty"):
        compiled.fit(x[:0], yc[:0], verbose=0)
    x_nan = x.copy()
    x_nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="argument x. Expected finite values. Received 1 NaN"):
        compiled.fit(x_nan, yc, verbose=0)
    y_inf = yc.copy()
    y_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="argument y. Expected finite"):
        compiled.fit(x, y_inf, verbose=0)
    with pytest.raises(ValueError, match=r"Expected samples of shape \(12, 12, 1\)"):
        compiled.fit(x[:, :10, :10], yc, verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        compiled.fit(np.array([["a"]]), yc, verbose=0)


def test_label_errors_come_from_the_loss(compiled):
    x, y = strokes(8, np.random.default_rng(0))
    with pytest.raises(
        ValueError,
        match=r"argument y_true\. Expected one-hot targets .* Received y_true\.shape=\(8,\), which looks like integer class labels",
    ):
        compiled.fit(x, y, verbose=0)  # integer labels to categorical CE
    with pytest.raises(
        ValueError, match=r"argument y_true\. Expected 4 classes .* Received y_true\.shape=\(8, 5\)"
    ):
        compiled.fit(x, to_categorical(y, 5), verbose=0)  # wrong class count
    compiled.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(
        ValueError,
        match=r"argument y_true\. Expected class labels in \[0, 4\) .* Received labels from 4 to 7",
    ):
        compiled.fit(x, y + 4, verbose=0)  # out of range


def test_inputs_are_not_mutated_and_readonly_works(data):
    x, y, _, _ = data
    x, y = x[:64].copy(), y[:64].copy()
    x_before, y_before = x.copy(), y.copy()
    x.flags.writeable = False
    model = small_cnn()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(y, y_before)
    fortran = np.asfortranarray(x_before)
    np.testing.assert_array_equal(model.predict(fortran), model.predict(x_before))


def test_verbose_modes(capsys, data):
    x, y, _, _ = data
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x[:64], y[:64], epochs=1, verbose=2)
    assert re.fullmatch(
        r"Epoch 1/1\n2/2 - \d+s - \d+[mu]?s/step - loss: \d\.\d{4}\n", capsys.readouterr().out
    )
    model.fit(x[:64], y[:64], epochs=1, verbose=0)
    model.predict(x[:8], verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(x[:8], y[:8])  # "auto": a progress bar, as Keras
    assert "evaluate" in capsys.readouterr().out
    with pytest.raises(
        ValueError, match=r"argument verbose\. Expected 0, 1, 2 or \"auto\"\. Received verbose=3"
    ):
        model.fit(x[:8], y[:8], verbose=3)


def test_frozen_layer_keeps_its_weights(data):
    x, y, _, _ = data
    model = small_cnn()
    model.layers[0].trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    model.build((12, 12, 1))
    conv_before = [w.copy() for w in model.layers[0].weights]
    dense_before = [w.copy() for w in model.layers[3].weights]
    model.fit(x[:64], y[:64], epochs=1, verbose=0, seed=0)
    for a, b in zip(conv_before, model.layers[0].weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(dense_before[0], model.layers[3].weights[0])
    assert len(model.optimizer.get_state()["slots"]) == 2  # only the Dense kernel and bias
    printed = []
    assert model.summary(print_fn=printed.append) is None  # Keras returns None
    (text,) = printed
    assert "Trainable params: 804" in text and "Non-trainable params: 80" in text


def _overflowing_gradient_model(optimizer="sgd"):
    """z = 2^127 * 2^-126 = 2, loss 4 (finite), but dL/dW = x^T dz = 2 * 2^127 * 2 overflows float32."""
    model = Sequential([layers.Dense(1, input_shape=(1,))], seed=0)
    model.compile(optimizer, "mse")
    model.set_weights([np.array([[2.0**-126]], dtype=np.float32), np.zeros(1, dtype=np.float32)])
    x = np.full((2, 1), 2.0**127, dtype=np.float32)
    return model, x, np.zeros((2, 1), dtype=np.float32)


@pytest.mark.parametrize("optimizer", ["sgd", "gd"])
def test_nan_gradient_with_finite_loss_stops_with_epoch_batch_and_loss(optimizer):
    model, x, y = _overflowing_gradient_model(optimizer)
    before = model.get_weights()
    with (
        np.errstate(over="ignore"),
        pytest.raises(
            TrainingDivergedError,
            match=r"A gradient became NaN or Inf \(loss 4\.0\) at epoch 1, batch 0",
        ),
    ):
        model.fit(x, y, batch_size=2, epochs=2, verbose=0, shuffle=False)
    assert model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with (
        np.errstate(over="ignore"),
        pytest.raises(TrainingDivergedError, match=r"in train_on_batch \(loss 4\.0\)"),
    ):
        model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_nan_gradient_under_terminate_on_nan_stops_quietly():
    model, x, y = _overflowing_gradient_model()
    before = model.get_weights()
    with np.errstate(over="ignore"):
        h = model.fit(
            x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callbacks.TerminateOnNaN()]
        )
    assert model.stop_training and h.history == {} and model.optimizer.iterations == 0
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_first_conv_skips_its_input_gradient_with_the_same_parameter_bits(data):
    """The model asks the first Conv2D for no dx; every parameter gradient is bit-identical."""
    x, y, _, _ = data
    model = small_cnn()
    model.compile("sgd", "sparse_categorical_crossentropy")
    _, grads = model.compute_gradients(x[:32], y[:32], training=True)
    conv = model.layers[0]
    assert conv.backward(np.ones((32, 10, 10, 8), np.float32), input_grad=False) is None
    # Reference: the plain chain, every layer computing its dx.
    out = model.predict(x[:32], batch_size=32, verbose=0)
    last = model.layers[-1]
    grad = last.backward(
        model._logits_loss().gradient(y[:32], last.preactivation), wrt_preactivation=True
    )
    for layer in reversed(model.layers[:-1]):
        grad = layer.backward(grad)
    assert grad.shape == x[:32].shape and out.shape == (32, 4)
    reference = [g for layer in model.layers for g in layer.grads]
    for a, b in zip(grads, reference, strict=True):
        np.testing.assert_array_equal(a, b)


def test_epoch_loss_weights_the_last_partial_batch_by_its_size(data):
    """10 samples, batch 4: loss = (4 L_0 + 4 L_1 + 2 L_2) / 10, each L_b taken before its update."""
    x, y, _, _ = data
    x, y = x[:10], y[:10]
    fitted, twin = small_cnn(), small_cnn()
    for model in (fitted, twin):
        model.compile(optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    h = fitted.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    batch_losses = [twin.train_on_batch(x[s : s + 4], y[s : s + 4]) for s in (0, 4, 8)]
    expected = (4 * batch_losses[0] + 4 * batch_losses[1] + 2 * batch_losses[2]) / 10
    assert h.history["loss"] == [pytest.approx(expected, rel=1e-12)]
    assert fitted.optimizer.iterations == 3
    for a, b in zip(fitted.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_shuffle_false_ignores_the_seed_and_shuffle_true_does_not(data):
    x, y, _, _ = data

    def weights(shuffle, seed):
        model = small_cnn()
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x[:96], y[:96], batch_size=16, epochs=1, verbose=0, shuffle=shuffle, seed=seed)
        return model.get_weights()[0]

    np.testing.assert_array_equal(weights(False, 1), weights(False, 2))
    assert not np.array_equal(weights(True, 1), weights(True, 2))


def test_compute_gradients_training_flag_switches_dropout(data):
    x, y, _, _ = data
    model = Sequential(
        [
            layers.Flatten(input_shape=(12, 12, 1)),
            layers.Dropout(0.5, seed=0),
            layers.Dense(4, activation="softmax"),
        ],
        seed=0,
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    loss_a, grads_a = model.compute_gradients(x[:32], y[:32])
    loss_b, grads_b = model.compute_gradients(x[:32], y[:32])
    assert loss_a == loss_b  # inference mode: no dropout, deterministic
    np.testing.assert_array_equal(grads_a[0], grads_b[0])
    loss_t, grads_t = model.compute_gradients(x[:32], y[:32], training=True)
    assert loss_t != loss_a and not np.array_equal(grads_t[0], grads_a[0])


# ---------------------------------------------------------------- protocols, seeds, state by variable


def _mlp(seed=0, dropout=False):
    stack = [
        layers.Dense(4, activation="tanh", input_shape=(4,)),
        layers.Dense(4, activation="tanh"),
    ]
    if dropout:
        stack.insert(1, layers.Dropout(0.5))
    return Sequential([*stack, layers.Dense(3, activation="softmax")], seed=seed)


def _xy(n=24):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 3, n)


def test_a_dropout_changes_no_initial_weight_for_the_same_seed():
    plain, dropped = _mlp(seed=5), _mlp(seed=5, dropout=True)
    plain.build((4,))
    dropped.build((4,))
    for a, b in zip(plain.get_weights(), dropped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # the masks are seeded too, each dropout on its own stream
    twin = _mlp(seed=5, dropout=True)
    twin.build((4,))
    x = np.ones((64, 4), "float32")
    first = dropped.layers[1].forward(x, training=True)
    np.testing.assert_array_equal(first, twin.layers[1].forward(x, training=True))
    pair = Sequential([layers.Dropout(0.5, input_shape=(64,)), layers.Dropout(0.5)], seed=1)
    pair.build((64,))
    x = np.ones((8, 64), "float32")
    a = pair.layers[0].forward(x, training=True)
    assert not np.array_equal(a, pair.layers[1].forward(x, training=True))


def test_seed_and_input_shape_are_checked():
    with pytest.raises(
        ValueError,
        match=r"argument seed\. Expected None or a non-negative integer\. Received seed='abc'",
    ):
        Sequential([layers.Dense(2)], seed="abc")
    with pytest.raises(ValueError, match="argument seed"):
        Sequential([layers.Dense(2)], seed=-1)
    model = Sequential([layers.Flatten()])
    with pytest.raises(
        ValueError, match=r"argument input_shape\. .*Received input_shape=\(3\.9, 2, 1\)"
    ):
        model.build((3.9, 2, 1))
    assert not model.built


def test_fit_seed_is_checked_before_training():
    model = Sequential([layers.Dense(2, input_shape=(3,))], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(
        ValueError,
        match=r"argument seed\. Expected None or a non-negative integer\. Received seed='abc'",
    ):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)), seed="abc", verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_freezing_and_unfreezing_keeps_each_layers_optimizer_state():
    """Freeze layer 0, fit; unfreeze it and freeze layer 1 (same shapes): no moments change hands."""
    x, y = _xy()
    model = _mlp()
    model.compile(optimizers.Adam(learning_rate=0.01), "sparse_categorical_crossentropy")
    model.build((4,))
    first, second = model.layers[0], model.layers[1]
    assert first.kernel.shape == second.kernel.shape

    def slots(layer):
        return model.optimizer.get_state(layer.weights)["slots"]

    first.trainable = False
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0)
    assert slots(first) == [None, None]
    second_slots = slots(second)

    first.trainable, second.trainable = True, False
    _, grads = model.compute_gradients(x[:8], y[:8])
    model.train_on_batch(x[:8], y[:8])
    beta_1, beta_2 = model.optimizer.beta_1, model.optimizer.beta_2
    for g, s in zip(grads[:2], slots(first), strict=True):  # fresh moments, from zero
        np.testing.assert_allclose(s["m"], (1 - beta_1) * g, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(s["v"], (1 - beta_2) * g * g, rtol=1e-5, atol=1e-12)
    for before, after in zip(second_slots, slots(second), strict=True):  # untouched, its own
        for k in before:
            np.testing.assert_array_equal(before[k], after[k])

    second.trainable = True  # layer 1 picks up its own moments again
    _, grads = model.compute_gradients(x[:8], y[:8])
    model.train_on_batch(x[:8], y[:8])
    for g, before, after in zip(grads[2:4], second_slots, slots(second), strict=True):
        expected = before["m"] + (g - before["m"]) * (1 - beta_1)
        np.testing.assert_allclose(after["m"], expected, rtol=1e-5, atol=1e-9)


def test_fused_loss_is_chosen_by_the_activation_function_not_its_name():
    """A custom activation that calls itself "softmax" is not softmax: no fused logits path."""
    from scratchnet import activations

    identity = activations.ActivationFunction("softmax", lambda x: x, lambda x, y, dy: dy)
    model = Sequential(
        [layers.Dense(3, activation=identity, input_shape=(4,))], seed=0
    )  # outputs are not probabilities
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    expected = losses.get("categorical_crossentropy")(y, model.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(expected, rel=1e-6)
    real = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))], seed=0)
    real.compile("sgd", "categorical_crossentropy")
    fused = losses.CategoricalCrossentropy(from_logits=True)
    real.predict(x, verbose=0)
    assert real.evaluate(x, y, verbose=0) == pytest.approx(
        fused(y, real.layers[0].preactivation), rel=1e-6
    )


class _RecordingDense(layers.Dense):
    def backward(self, dy, **kwargs):
        self.asked = kwargs
        return super().backward(dy, **kwargs)


class _NoSkipConv(layers.Conv2D):
    skips_input_grad = False

    def backward(self, dy, **kwargs):
        self.asked = kwargs
        return super().backward(dy, **kwargs)


def test_first_layer_input_gradient_is_skipped_by_protocol_not_by_class():
    x, y = _xy(8)
    dense = Sequential([_RecordingDense(3, activation="softmax", input_shape=(4,))], seed=0)
    dense.compile("sgd", "sparse_categorical_crossentropy")
    loss, grads = dense.compute_gradients(x, y)
    assert dense.layers[0].asked == {"wrt_preactivation": True, "input_grad": False}
    dense.layers[0].forward(x)
    dz = losses.SparseCategoricalCrossentropy(from_logits=True).gradient(
        y, dense.layers[0].preactivation
    )
    assert dense.layers[0].backward(dz, wrt_preactivation=True).shape == x.shape
    for a, b in zip(grads, dense.layers[0].grads, strict=True):
        np.testing.assert_array_equal(a, b)  # the same parameter bits with or without dx

    conv = Sequential(
        [_NoSkipConv(2, 3, input_shape=(5, 5, 1)), layers.Flatten(), layers.Dense(3)], seed=0
    )
    conv.compile("sgd", "mse")
    conv.compute_gradients(np.ones((2, 5, 5, 1), "float32"), np.zeros((2, 3), "float32"))
    assert conv.layers[0].asked == {}  # a layer that does not declare it is not asked


class _Noise(layers.Layer):
    """A layer that draws in forward, with the ``rng`` and ``seed`` attributes a Dropout has."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed = None
        self.rng = np.random.default_rng(123)

    def forward(self, x, training=False):
        return x + self.rng.random(x.shape).astype(x.dtype) if training else x


class _SeededNoise(_Noise):
    def seed_noise(self, seed_seq):
        self.rng = np.random.default_rng(seed_seq)


def test_layers_are_seeded_through_seed_noise_not_by_attribute():
    kept = Sequential([_Noise(input_shape=(3,))], seed=0)
    kept.build((3,))
    assert kept.layers[0].rng.random() == np.random.default_rng(123).random()  # left alone
    a = Sequential([_SeededNoise(input_shape=(3,))], seed=0)
    b = Sequential([_SeededNoise(input_shape=(3,))], seed=0)
    a.build((3,))
    b.build((3,))
    assert a.layers[0].rng.random() == b.layers[0].rng.random()  # from the model seed


def test_weights_are_drawn_as_default_rng_of_the_seed_would():
    """The separate dropout streams cost nothing: a model without Dropout keeps its bits for each seed."""
    from scratchnet import initializers

    model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)], seed=3)
    model.build((3,))
    rng = np.random.default_rng(3)
    glorot = initializers.get("glorot_uniform")
    np.testing.assert_array_equal(model.layers[0].kernel, glorot((3, 4), rng, np.float32))
    np.testing.assert_array_equal(model.layers[1].kernel, glorot((4, 2), rng, np.float32))


def test_layers_inside_a_model_skip_the_private_copy_of_arrays_the_model_made():
    """Model._forward: a layer fed by another layer's output keeps it without a copy; the caller's
    input and the model's output stay private (ARCHITECTURE.md, arrays shared with the caller)."""
    model = Sequential(
        [
            layers.Flatten(input_shape=(4, 4, 2)),
            layers.Dense(6, activation="tanh"),
            layers.Dense(3),
            layers.Flatten(),
        ],
        seed=0,
    )
    model.build((4, 4, 2))
    x = np.random.default_rng(0).random((5, 4, 4, 2)).astype(np.float32)
    out = model._forward([x], training=True)[0]
    flatten, dense1, dense2, last = model.layers
    assert not np.shares_memory(dense1._cache[0], x)  # the first layer copied the caller's x
    assert dense2._cache[0] is dense1._cache[2]  # dense1's output, kept as it is: no copy
    assert not np.shares_memory(out, dense2._cache[2])  # the model output is a private copy
    # the layer on its own (no model around it) still copies a caller's array
    y1 = dense1._cache[2]
    dense2.forward(y1)
    assert not np.shares_memory(dense2._cache[0], y1)


def test_a_layer_reading_a_model_output_keeps_its_private_copy():
    """An intermediate array that is also a model output reaches the caller, so its reader copies it."""
    from scratchnet import Input
    from scratchnet.models import Model

    inputs = Input(shape=(4,))
    first, second, third, fourth = (layers.Dense(n) for n in (3, 2, 2, 2))
    hidden = first(inputs)
    model = Model(inputs, [hidden, fourth(third(second(hidden)))], seed=0)
    x = np.random.default_rng(0).random((5, 4)).astype(np.float32)
    hidden_out, _ = model._forward([x], training=True)
    assert not np.shares_memory(second._cache[0], hidden_out)  # second's output is internal
    assert third._cache[0] is second._cache[2]  # ... so third keeps it without a copy
