"""Callbacks driven directly, epoch by epoch, against Keras 3's rules (no TensorFlow needed).

The EarlyStopping table below was checked once against ``keras.callbacks.EarlyStopping``
(Keras 3.15) with the same fake model: same epochs run, ``stopped_epoch``,
``best_epoch`` and restored weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import callbacks


class FakeModel:
    """Just what a callback touches: weights that record the epoch, and ``stop_training``."""

    def __init__(self):
        self.w = np.zeros(1)
        self.stop_training = False

    def get_weights(self):
        return [self.w.copy()]

    def set_weights(self, weights):
        self.w[...] = weights[0]


def drive(cb, values, monitor="val_loss"):
    """Run ``cb`` through len(values) epochs (weights = epoch number); returns (model, epochs run)."""
    model = FakeModel()
    cb.set_model(model)
    cb.on_train_begin({})
    run = 0
    for epoch, value in enumerate(values):
        model.w[...] = epoch
        cb.on_epoch_end(epoch, {monitor: value})
        run += 1
        if model.stop_training:
            break
    cb.on_train_end({})
    return model, run


# kwargs, monitored values, (epochs run, stopped_epoch, best_epoch, weight after train end)
EARLY_STOPPING_CASES = [
    ({"patience": 2}, [1.0, 0.9, 0.95, 0.93, 0.8], (4, 3, 1, 3.0)),
    ({"patience": 2}, [1.0, 0.9, 0.95], (3, 0, 1, 2.0)),
    ({"patience": 2, "baseline": 0.5}, [1.0, 0.9, 0.95], (3, 2, 1, 2.0)),
    ({"patience": 1, "baseline": 0.5}, [1.0, 0.9, 0.8, 0.7], (4, 0, 3, 3.0)),
    ({"patience": 1, "min_delta": 0.1}, [1.0, 0.95, 0.99], (2, 1, 0, 1.0)),
    ({"patience": 1, "mode": "max"}, [0.5, 0.6, 0.55], (3, 2, 1, 2.0)),
    ({"patience": 0}, [1.0, 1.0], (2, 1, 0, 1.0)),
    ({"patience": 0, "start_from_epoch": 2}, [3.0, 4.0, 5.0, 6.0], (4, 3, 2, 3.0)),
    ({"patience": 5, "restore_best_weights": True}, [1.0, 0.5, 0.7, 0.8], (4, 0, 1, 1.0)),
    ({"patience": 1, "restore_best_weights": True}, [1.0, 0.5, 0.7, 0.8], (3, 2, 1, 1.0)),
]


@pytest.mark.parametrize("kwargs, values, expected", EARLY_STOPPING_CASES)
def test_early_stopping_follows_keras(kwargs, values, expected):
    cb = callbacks.EarlyStopping(monitor="val_loss", **kwargs)
    model, run = drive(cb, values)
    assert (run, cb.stopped_epoch, cb.best_epoch, float(model.w[0])) == expected


def test_early_stopping_auto_mode_maximises_accuracy():
    cb = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    assert cb.mode == "max"
    _, run = drive(cb, [0.5, 0.6, 0.55], monitor="val_accuracy")
    assert run == 3 and cb.stopped_epoch == 2 and cb.best == 0.6
    assert callbacks.EarlyStopping(monitor="loss").mode == "min"


def test_early_stopping_is_reusable_across_fits():
    cb = callbacks.EarlyStopping(monitor="loss", patience=0)
    drive(cb, [1.0, 2.0], monitor="loss")
    assert cb.stopped_epoch == 1
    _, run = drive(cb, [5.0, 4.0, 3.0], monitor="loss")  # a fresh start: 5.0 is the first best
    assert run == 3 and cb.stopped_epoch == 0 and cb.best == 3.0


def test_early_stopping_missing_monitor_names_the_logs():
    cb = callbacks.EarlyStopping(monitor="val_loss")
    cb.set_model(FakeModel())
    cb.on_train_begin({})
    with pytest.raises(
        ValueError,
        match=r"argument monitor\. Expected one of \['accuracy', 'loss'\]\. Received monitor='val_loss'",
    ):
        cb.on_epoch_end(0, {"loss": 1.0, "accuracy": 0.5})


@pytest.mark.parametrize(
    "kwargs, pattern",
    [
        ({"patience": -1}, r"argument patience\. Expected an integer >= 0\. Received patience=-1"),
        (
            {"patience": 1.5},
            r"argument patience\. Expected an integer >= 0\. Received patience=1\.5",
        ),
        ({"start_from_epoch": -2}, r"argument start_from_epoch\. Expected an integer >= 0"),
        ({"mode": "up"}, r"argument mode"),
    ],
)
def test_early_stopping_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        callbacks.EarlyStopping(**kwargs)


def _dense_model():
    from scratchnet import layers
    from scratchnet.models import Sequential

    model = Sequential([layers.Dense(2, input_shape=(3,))], seed=0)
    model.build((3,))
    return model


def _checkpoint_epochs(cb, model, val_losses):
    cb.set_model(model)
    cb.on_train_begin({})
    for epoch, value in enumerate(val_losses):
        model.weights[1][...] = epoch  # the bias records the epoch
        cb.on_epoch_end(epoch, {"loss": 1.0, "val_loss": value})
    cb.on_train_end({})


def test_model_checkpoint_formats_epoch_and_logs(tmp_path):
    from scratchnet.models import load_model

    model = _dense_model()
    cb = callbacks.ModelCheckpoint(tmp_path / "ck-{epoch:02d}-{val_loss:.2f}.snet")
    _checkpoint_epochs(cb, model, [0.5, 0.25])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-01-0.50.snet", "ck-02-0.25.snet"]
    np.testing.assert_array_equal(load_model(tmp_path / "ck-01-0.50.snet").weights[1], [0.0, 0.0])


def test_model_checkpoint_save_best_only_and_weights_only(tmp_path):
    model = _dense_model()
    cb = callbacks.ModelCheckpoint(
        tmp_path / "best-{epoch}.w", save_best_only=True, save_weights_only=True
    )
    _checkpoint_epochs(cb, model, [0.5, 0.7, 0.3, 0.3])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best-1.w", "best-3.w"]
    other = _dense_model()
    other.load_weights(tmp_path / "best-3.w")
    np.testing.assert_array_equal(other.weights[1], [2.0, 2.0])
    maxed = callbacks.ModelCheckpoint(tmp_path / "acc-{epoch}.w", monitor="val_loss", mode="max",
                                      save_best_only=True, save_weights_only=True)  # fmt: skip
    _checkpoint_epochs(maxed, model, [0.5, 0.7, 0.3])
    assert sorted(p.name for p in tmp_path.glob("acc-*")) == ["acc-1.w", "acc-2.w"]


def test_model_checkpoint_unknown_field_is_a_clear_error(tmp_path):
    cb = callbacks.ModelCheckpoint(tmp_path / "ck-{val_acc:.2f}.snet")
    with pytest.raises(
        ValueError,
        match=r"argument filepath\. Expected format fields among \['epoch', 'loss', 'val_loss'\]",
    ):
        _checkpoint_epochs(cb, _dense_model(), [0.5])
    assert list(tmp_path.iterdir()) == []


def test_csv_logger_append_writes_the_header_once(tmp_path):
    path = tmp_path / "log.csv"
    for first in (0, 2):
        logger = callbacks.CSVLogger(path, append=True)
        logger.on_train_begin({})
        for epoch in (first, first + 1):
            logger.on_epoch_end(epoch, {"loss": 0.5 + epoch, "accuracy": 0.25})
        logger.on_train_end({})
    assert path.read_text().splitlines() == [
        "epoch,accuracy,loss", "0,0.25,0.5", "1,0.25,1.5", "2,0.25,2.5", "3,0.25,3.5"
    ]  # fmt: skip
    fresh = callbacks.CSVLogger(path, separator=";")
    fresh.on_train_begin({})
    fresh.on_epoch_end(0, {"loss": 1.0})
    leaked = fresh._file
    fresh.on_train_begin({})  # a fit that raised never reached on_train_end: no leaked file
    assert leaked.closed
    fresh.on_epoch_end(0, {"loss": 2.0})
    fresh.on_train_end({})
    assert path.read_text().splitlines() == ["epoch;loss", "0;2.0"]


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: callbacks.ModelCheckpoint("m.snet", save_best_only=v), "save_best_only"),
        (lambda v: callbacks.ModelCheckpoint("m.snet", save_weights_only=v), "save_weights_only"),
        (lambda v: callbacks.EarlyStopping(restore_best_weights=v), "restore_best_weights"),
        (lambda v: callbacks.CSVLogger("log.csv", append=v), "append"),
    ],
)
def test_flags_must_be_bools(make, name):
    """``"no"`` is truthy: taking it as True would do the opposite of what was asked."""
    with pytest.raises(
        TypeError, match=rf"argument {name}\. Expected a bool\. Received {name}='no' of type str"
    ):
        make("no")
    assert getattr(make(False), name) is False


def test_history_lives_in_callbacks():
    history = callbacks.History()
    history.on_epoch_end(0, {"loss": 1.0})
    history.on_epoch_end(1, {"loss": 0.5})
    assert history.history == {"loss": [1.0, 0.5]} and history.epoch == [0, 1]
