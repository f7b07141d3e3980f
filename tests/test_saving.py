"""Model and weight files: round trips, bit-identical resume, and files that are damaged on purpose."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from scratchnet import layers, saving
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
