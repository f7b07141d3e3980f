"""Model and weight files: round trips, bit-identical resume, and files that are damaged on purpose."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from scratchnet import layers, metrics, saving
from scratchnet.models import Sequential, load_model
from tests.helpers import strokes

OPTIMIZERS = [
    "sgd",
    "momentum",
    "nesterov",
    "adam",
    "rmsprop",
    "adagrad",
    "adadelta",
    "nadam",
    "adamax",
    "adamw",
    "gd",
]


def model_with_dropout(seed=0):
    return Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.25),
            layers.Dense(4, activation="softmax"),
        ],
        seed=seed,
    )


@pytest.fixture(scope="module")
def data():
    x, y = strokes(96, np.random.default_rng(5))
    return x, y


def _state_equal(a, b):
    assert a["iterations"] == b["iterations"]
    assert len(a["slots"]) == len(b["slots"])
    for sa, sb in zip(a["slots"], b["slots"], strict=True):
        assert sorted(sa) == sorted(sb)
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
            assert sa[k].dtype == sb[k].dtype


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_resume_is_bit_identical(tmp_path, data, optimizer):
    x, y = data
    straight = model_with_dropout()
    straight.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    h_straight = straight.fit(x, y, batch_size=16, epochs=4, verbose=0, seed=11)

    first = model_with_dropout()
    first.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    first.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=11)
    first.save(tmp_path / "half.snet")
    resumed = load_model(tmp_path / "half.snet")
    h_resumed = resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0)

    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    _state_equal(straight.optimizer.get_state(), resumed.optimizer.get_state())
    assert h_straight.history == h_resumed.history
    assert h_resumed.epoch == [0, 1, 2, 3]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_save_load_round_trip(tmp_path, data, optimizer):
    x, y = data
    model = model_with_dropout()
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "m.snet")
    loaded = load_model(tmp_path / "m.snet")
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    _state_equal(model.optimizer.get_state(), loaded.optimizer.get_state())
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]


def test_weights_round_trip_and_mismatch(tmp_path, data):
    x, _ = data
    model = model_with_dropout(seed=1)
    model.build((12, 12, 1))
    model.save_weights(tmp_path / "w.snet")
    other = model_with_dropout(seed=2)
    other.build((12, 12, 1))
    other.load_weights(tmp_path / "w.snet")
    np.testing.assert_array_equal(model.predict(x), other.predict(x))
    other.load_weights(tmp_path / "w.snet")  # loading twice is fine
    different = Sequential([layers.Flatten(input_shape=(12, 12, 1)), layers.Dense(3)])
    different.build((12, 12, 1))
    before = different.get_weights()
    with pytest.raises(saving.CorruptFileError, match="expects 2|expected shape"):
        different.load_weights(tmp_path / "w.snet")
    for a, b in zip(before, different.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing was assigned


@pytest.fixture
def saved(tmp_path, data):
    x, y = data
    model = model_with_dropout()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    path = tmp_path / "model.snet"
    model.save(path)
    return model, path


def test_crash_mid_write_keeps_previous_file(saved, monkeypatch):
    model, path = saved
    good = path.read_bytes()
    real = np.lib.format.write_array
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(path.parent)) == ["model.snet"]  # no temp file left behind


def test_crash_in_replace_keeps_previous_file(saved, monkeypatch):
    model, path = saved
    good = path.read_bytes()

    def failing_replace(src, dst):
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(path.parent)) == ["model.snet"]


def test_flipped_byte_is_detected(saved):
    _, path = saved
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights/0.npy")
    offset = (
        info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    )  # inside the array data
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(saving.CorruptFileError, match="weights/0"):
        load_model(path)


def test_truncated_file_is_detected(saved):
    _, path = saved
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(saving.CorruptFileError, match="not a readable zip"):
        load_model(path)


def _rewrite(path, mutate):
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    mutate(entries)
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)


def test_pickle_inside_the_file_is_refused(saved):
    _, path = saved

    def put_pickle(entries):
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
        entries["weights/0.npy"] = buf.getvalue()

    _rewrite(path, put_pickle)
    with pytest.raises(saving.CorruptFileError, match="unpickling"):
        load_model(path)


def test_tampered_weights_fail_the_hash(saved):
    _, path = saved

    def tamper(entries):
        manifest = json.loads(entries["manifest.json"])
        shape = manifest["arrays"][0]["shape"]
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.zeros(shape, dtype=np.float32))
        entries["weights/0.npy"] = buf.getvalue()

    _rewrite(path, tamper)
    with pytest.raises(saving.CorruptFileError, match="sha256"):
        load_model(path)


def test_manifest_shape_lie_is_detected(saved):
    _, path = saved

    def lie(entries):
        manifest = json.loads(entries["manifest.json"])
        manifest["arrays"][0]["shape"] = [1, 2, 3]
        entries["manifest.json"] = json.dumps(manifest).encode()

    _rewrite(path, lie)
    with pytest.raises(saving.CorruptFileError, match="expected shape"):
        load_model(path)


def test_wrong_format_and_version(saved, tmp_path):
    model, path = saved
    model.save_weights(tmp_path / "weights.snet")
    with pytest.raises(saving.CorruptFileError, match="expected format 'scratchnet-model'"):
        load_model(tmp_path / "weights.snet")

    def bump(entries):
        manifest = json.loads(entries["manifest.json"])
        manifest["format_version"] = 99
        entries["manifest.json"] = json.dumps(manifest).encode()

    _rewrite(path, bump)
    with pytest.raises(saving.CorruptFileError, match="format_version"):
        load_model(path)
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(saving.CorruptFileError, match="not a readable zip"):
        load_model(tmp_path / "plain.txt")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.snet")


def _edit_manifest(edit):
    def mutate(entries):
        manifest = json.loads(entries["manifest.json"])
        edit(manifest)
        entries["manifest.json"] = json.dumps(manifest).encode()

    return mutate


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["compile_config"].pop("optimizer"),
        lambda m: m.__setitem__("compile_config", [1]),
        lambda m: m["training_state"].pop("optimizer_slots_by_weight"),
        lambda m: m["training_state"]["optimizer_slots_by_weight"]["0"].append("nope"),
        lambda m: m["training_state"].__setitem__("optimizer_iterations", "a"),
        lambda m: m["training_state"]["rng"].__setitem__("fit", {"bit_generator": "X"}),
        lambda m: m["training_state"].__setitem__("history", {"x": 1}),
    ],
    ids=[
        "no-optimizer",
        "compile-list",
        "no-slots",
        "missing-slot",
        "iterations",
        "rng",
        "history",
    ],
)
def test_malformed_training_state_is_a_corrupt_file(saved, edit):
    _, path = saved
    _rewrite(path, _edit_manifest(edit))
    with pytest.raises(saving.CorruptFileError, match="invalid compile_config or training_state"):
        load_model(path)
    load_model(path, compile=False)  # the architecture and weights are still readable


@pytest.mark.parametrize("entry", ["x", {"shape": [1]}])
def test_malformed_array_entry_is_a_corrupt_file(saved, entry):
    _, path = saved
    _rewrite(path, _edit_manifest(lambda m: m["arrays"].append(entry)))
    with pytest.raises(saving.CorruptFileError, match="array entry to be a dict with a name"):
        load_model(path)


def test_uncompiled_model_without_input_shape_round_trips(tmp_path, data):
    x, y = data
    model = Sequential([layers.Flatten(), layers.Dense(4, activation="softmax")], seed=3)
    with pytest.raises(ValueError, match="not built"):
        model.save(tmp_path / "early.snet")  # no input_shape and no data yet
    model.predict(x, verbose=0)  # builds from the data, as Keras does
    model.save(tmp_path / "m.snet")
    loaded = load_model(tmp_path / "m.snet")
    assert not loaded.compiled and loaded.input_shape == (12, 12, 1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(RuntimeError, match="compile"):
        loaded.fit(x, y, verbose=0)


@pytest.mark.parametrize(
    "metric",
    [None, "accuracy", metrics.sparse_categorical_accuracy, metrics.Precision,
     metrics.F1Score(average="macro")],
    ids=["none", "name", "function", "class", "instance"],
)  # fmt: skip
def test_compiled_metrics_round_trip(tmp_path, data, metric):
    x, y = data
    model = model_with_dropout()
    if metric is metrics.Precision:
        y = (y > 1).astype("int64")  # a binary task for the binary-averaged class default
        model = Sequential([layers.Flatten(input_shape=(12, 12, 1)),
                            layers.Dense(1, activation="sigmoid")], seed=0)  # fmt: skip
        model.compile("adam", "binary_crossentropy", metrics=[metric])
    else:
        model.compile(
            "adam", "sparse_categorical_crossentropy", metrics=[] if metric is None else [metric]
        )
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    model.save(tmp_path / "m.snet")
    loaded = load_model(tmp_path / "m.snet")
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == expected
    assert len(expected) == (1 if metric is None else 2)


# ---------------------------------------------------------------- slots by weight, the model class, moved names


def _frozen_first_mlp():
    model = Sequential(
        [
            layers.Flatten(input_shape=(12, 12, 1)),
            layers.Dense(8, activation="tanh"),
            layers.Dense(8, activation="tanh"),
            layers.Dense(4, activation="softmax"),
        ],
        seed=0,
    )
    model.layers[1].trainable = False
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_slots_are_saved_by_weight_index_and_resume_after_unfreezing(tmp_path, data):
    x, y = data
    straight, first = _frozen_first_mlp(), _frozen_first_mlp()
    straight.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=3)
    first.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=3)
    first.save(tmp_path / "m.snet")
    with zipfile.ZipFile(tmp_path / "m.snet") as zf:
        names = sorted(n for n in zf.namelist() if n.startswith("optimizer/"))
    assert names == [f"optimizer/{i}/{s}.npy" for i in (2, 3, 4, 5) for s in ("m", "v")]
    resumed = load_model(tmp_path / "m.snet")
    assert not resumed.layers[1].trainable
    for model in (straight, resumed):
        model.layers[1].trainable = True
        model.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    sa = straight.optimizer.get_state(straight.weights)
    sb = resumed.optimizer.get_state(resumed.weights)
    for a, b in zip(sa["slots"], sb["slots"], strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_files_with_positional_slots_still_load(saved, data):
    """Model files written before slots were stored by weight index list them in step order."""
    model, path = saved

    def positional(entries):
        manifest = json.loads(entries["manifest.json"])
        by_weight = manifest["training_state"].pop("optimizer_slots_by_weight")
        manifest["training_state"]["optimizer_slots"] = [
            by_weight[k] for k in sorted(by_weight, key=int)
        ]
        entries["manifest.json"] = json.dumps(manifest).encode()

    _rewrite(path, positional)
    loaded = load_model(path)
    x, y = data
    for m in (model, loaded):
        m.fit(x, y, epochs=2, initial_epoch=1, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_model_class_is_recorded_and_checked(saved):
    _, path = saved
    with zipfile.ZipFile(path) as zf:
        assert json.loads(zf.read("manifest.json"))["class_name"] == "Sequential"
    _rewrite(path, _edit_manifest(lambda m: m.__setitem__("class_name", "os.system")))
    with pytest.raises(
        saving.CorruptFileError,
        match=r"expected class_name one of \['Sequential'\]\. Received class_name='os\.system'",
    ):
        load_model(path)


def test_persistence_lives_in_saving_and_old_names_still_import():
    import scratchnet
    from scratchnet import callbacks, models

    assert models.History is callbacks.History
    assert models.load_model is saving.load_model and scratchnet.load_model is saving.load_model
    assert not hasattr(models, "_restore_training") and not hasattr(models, "_sniff_format")


def test_weights_of_another_float_dtype_are_cast_as_keras_does(tmp_path, data):
    x, _ = data
    wide = model_with_dropout(seed=4)
    wide64 = Sequential.from_config(
        {
            **wide.get_config(),
            "layers": [
                {**c, "config": {**c["config"], "dtype": "float64"}}
                for c in wide.get_config()["layers"]
            ],
            "input_shape": [12, 12, 1],
        }
    )
    wide64.save_weights(tmp_path / "w64.snet")
    narrow = model_with_dropout(seed=5)
    narrow.build((12, 12, 1))
    narrow.load_weights(tmp_path / "w64.snet")
    for w32, w64 in zip(narrow.get_weights(), wide64.get_weights(), strict=True):
        assert w32.dtype == np.float32
        np.testing.assert_array_equal(w32, w64.astype(np.float32))
