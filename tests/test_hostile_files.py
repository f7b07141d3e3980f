"""Hostile model files: each one built here fails fast, with bounded memory and a clear CorruptFileError.

Memory is measured with ``tracemalloc`` (NumPy reports its array buffers to it).
The huge-config file also runs under an address-space limit (Linux), so a
regression fails with a MemoryError instead of drawing gigabytes.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

from scratchnet import layers, saving
from scratchnet.models import Sequential, load_model

MiB = 2**20


@contextlib.contextmanager
def peak_memory():
    """Yields a dict whose "peak" is the traced peak (bytes) of the block."""
    result = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@contextlib.contextmanager
def address_space_limit(extra_bytes):
    """On Linux, cap the address space at its current size + ``extra_bytes`` for the block."""
    try:
        import resource

        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    except (ImportError, OSError, StopIteration):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + extra_bytes
    if hard != resource.RLIM_INFINITY and hard < limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def npy(array_or_header, data=b""):
    """The bytes of a .npy member: an array, or a header dict followed by raw ``data``."""
    buf = io.BytesIO()
    if isinstance(array_or_header, np.ndarray):
        np.lib.format.write_array(buf, array_or_header, allow_pickle=False)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(buf, array_or_header)
    return buf.getvalue() + data


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)


def entry(name, shape, dtype="<f4", sha="0" * 64):
    return {"name": name, "shape": list(shape), "dtype": dtype, "sha256": sha}


@pytest.fixture
def small_model(tmp_path):
    model = Sequential([layers.Dense(3, activation="softmax", input_shape=(4,))], seed=0)
    model.compile("adam", "categorical_crossentropy")
    path = tmp_path / "small.snet"
    model.save(path)
    return model, path


def members_of(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_zip_bomb_manifest_is_refused_unread(tmp_path):
    """~200 KB on disk, a 200 MB manifest once inflated (the issue's file)."""
    path = tmp_path / "bomb.snet"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("manifest.json", "w") as fh:
            fh.write(b'{"format": "scratchnet-model", "format_version": 1, "arrays": [], "pad": "')
            chunk = b" " * MiB
            for _ in range(200):
                fh.write(chunk)
            fh.write(b'"}')
    assert path.stat().st_size < 1 * MiB
    with peak_memory() as mem, pytest.raises(saving.CorruptFileError) as err:
        load_model(path)
    assert "'manifest.json' is compressed" in str(err.value) and "Refused unread" in str(err.value)
    assert mem["peak"] < 8 * MiB


def test_oversized_stored_manifest_is_refused_unread(small_model, monkeypatch):
    _, path = small_model
    monkeypatch.setattr(saving, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(
        saving.CorruptFileError,
        match=r"manifest\.json is \d+ bytes; a scratchnet manifest is at most 100",
    ):
        load_model(path)


def test_compressed_arrays_are_refused(small_model):
    _, path = small_model
    write_zip(path, members_of(path), compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(saving.CorruptFileError, match=r"member 'manifest\.json' is compressed"):
        load_model(path)


def _huge_dense_file(path, listed_shapes):
    """A tiny file whose config is Dense(20000) on 60000 inputs (a 4.8 GB kernel, 9 GiB with its gradient)."""
    dense = layers.Dense(20000, input_shape=(60000,), name="huge")
    config = {
        "name": "huge",
        "seed": 0,
        "input_shape": [60000],
        "layers": [layers.serialize(dense)],
    }
    arrays = [entry(f"weights/{i}", shape) for i, shape in enumerate(listed_shapes)]
    manifest = {
        "format": "scratchnet-model",
        "format_version": 1,
        "class_name": "Sequential",
        "arrays": arrays,
        "model_config": config,
        "compile_config": None,
        "training_state": None,
    }
    members = {"manifest.json": json.dumps(manifest).encode()}
    for a in arrays:
        members[a["name"] + ".npy"] = npy(np.zeros((2,) * len(a["shape"]), np.float32))
    write_zip(path, members)


@pytest.mark.parametrize(
    "listed, match",
    [
        (
            [(2, 2), (2,)],
            r"weight 0 \(layer 'huge'\) expected shape \(60000, 20000\) by the model_config\. "
            r"Received shape \(2, 2\) in the manifest",
        ),
        ([(60000, 20000), (20000,)], r"array 'weights/0' expected shape \(60000, 20000\)"),
    ],
    ids=["manifest-small", "manifest-agrees"],
)
def test_huge_config_fails_before_anything_is_built(tmp_path, listed, match):
    path = tmp_path / "huge.snet"
    _huge_dense_file(path, listed)
    assert path.stat().st_size < 4096
    with (
        address_space_limit(2 * 2**30),
        peak_memory() as mem,
        pytest.raises(saving.CorruptFileError, match=match),
    ):
        load_model(path)
    assert mem["peak"] < 8 * MiB


def test_npy_header_declaring_2_to_the_38_elements(tmp_path):
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**38,)}
    path = tmp_path / "w.snet"
    for listed, match in [
        (
            [2**38],
            r"'weights/0' is truncated: shape \(274877906944,\) dtype <f4 needs 1099511627776",
        ),
        (
            [4],
            r"'weights/0' expected shape \(4,\) dtype <f4 \(C order\).*Received shape \(274877906944,\)",
        ),
    ]:
        manifest = {
            "format": "scratchnet-weights",
            "format_version": 1,
            "arrays": [entry("weights/0", listed)],
        }
        write_zip(
            path, {"manifest.json": json.dumps(manifest).encode(), "weights/0.npy": npy(header)}
        )
        with peak_memory() as mem, pytest.raises(saving.CorruptFileError, match=match):
            saving.read_archive(path, "scratchnet-weights")
        assert mem["peak"] < 8 * MiB


def test_deeply_nested_manifest(tmp_path):
    path = tmp_path / "deep.snet"
    write_zip(path, {"manifest.json": b"[" * 100_000})
    with pytest.raises(
        saving.CorruptFileError, match="unreadable manifest \\(nested deeper than the JSON reader"
    ):
        load_model(path)


def test_truncated_array_is_called_truncated(small_model):
    _, path = small_model
    members = members_of(path)
    members["weights/0.npy"] = members["weights/0.npy"][:-20]  # 48 data bytes, 28 left
    write_zip(path, members)
    with pytest.raises(saving.CorruptFileError) as err:
        load_model(path)
    message = str(err.value)
    assert (
        "'weights/0' is truncated: shape (4, 3) dtype <f4 needs 48 bytes of data; the member holds 28"
        in message
    )
    assert "unpickling" not in message


def test_member_larger_than_its_entry_is_refused_unread(small_model):
    _, path = small_model
    members = members_of(path)
    members["weights/1.npy"] = npy(np.zeros(100_000, np.float32))  # the entry says (3,)
    write_zip(path, members)
    with pytest.raises(
        saving.CorruptFileError,
        match=r"'weights/1' is a 400128-byte member; its manifest entry \(shape \(3,\), dtype <f4\) "
        r"implies 12 bytes of data and a header of at most 4096\. Refused unread",
    ):
        load_model(path)


def test_member_claiming_more_bytes_than_the_file_has(small_model):
    _, path = small_model
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("weights/0.npy")
    # the central directory entry of weights/0.npy: sizes at bytes 20-27, its name at byte 46
    start = raw.index(b"weights/0.npy", raw.index(b"PK\x01\x02")) - 46
    assert raw[start : start + 4] == b"PK\x01\x02" and info.file_size < 1000
    raw[start + 20 : start + 28] = (2**31 - 1).to_bytes(4, "little") * 2
    path.write_bytes(bytes(raw))
    with pytest.raises(
        saving.CorruptFileError, match=r"'weights/0\.npy' claims 2147483647 bytes, more than"
    ):
        load_model(path)


def test_checksum_wording_is_honest(small_model):
    _, path = small_model
    members = members_of(path)
    manifest = json.loads(members["manifest.json"])
    members["weights/0.npy"] = npy(np.zeros(manifest["arrays"][0]["shape"], np.float32))
    write_zip(path, members)
    with pytest.raises(saving.CorruptFileError) as err:
        load_model(path)
    assert "sha256 checksum" in str(err.value) and "accidental damage" in str(err.value)
    assert "no defence against deliberate edits" in str(err.value)
    for text in (saving.__doc__, saving.CorruptFileError.__doc__):
        assert "tampered with" not in text
    assert "HMAC" in saving.__doc__ and "key kept somewhere" in saving.__doc__


# ---------------------------------------------------------------- file modes and symlinks


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_follow_the_umask(tmp_path, umask, mode):
    model = Sequential([layers.Dense(2, input_shape=(3,))], seed=0)
    old = os.umask(umask)
    try:
        model.save(tmp_path / "m.snet")
        model.save_weights(tmp_path / "w.snet")
        model.save(tmp_path / "m.snet")  # replacing keeps following it
    finally:
        os.umask(old)
    for name in ("m.snet", "w.snet"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode
    assert sorted(os.listdir(tmp_path)) == ["m.snet", "w.snet"]


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_saving_onto_a_symlink_writes_through_to_its_target(tmp_path):
    model = Sequential([layers.Dense(2, input_shape=(3,))], seed=0)
    other = Sequential([layers.Dense(2, input_shape=(3,))], seed=1)
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "model.snet"
    other.save(target)
    link = tmp_path / "latest.snet"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(load_model(target).get_weights()[0], model.get_weights()[0])
    assert sorted(os.listdir(tmp_path / "runs")) == ["model.snet"]
    dangling = tmp_path / "next.snet"
    dangling.symlink_to(tmp_path / "runs" / "new.snet")
    model.save_weights(dangling)
    assert dangling.is_symlink() and (tmp_path / "runs" / "new.snet").is_file()


def test_out_of_memory_while_reading_an_array_is_a_clear_error(small_model, monkeypatch):
    _, path = small_model

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(np, "frombuffer", no_memory)
    with pytest.raises(
        saving.CorruptFileError, match=r"out of memory reading array 'weights/0' \(48 bytes"
    ):
        load_model(path)
