r"""Weight and model files that never unpickle and never half-write.

File format (one zip file, like Keras' ``.keras``, but with no code in it):

* ``manifest.json``: ``{"format": ..., "format_version": 1, "arrays": [{"name",
  "shape", "dtype", "sha256"}, ...], ...}`` plus whatever the caller stores
  (model config, compile config, training state);
* one ``<name>.npy`` entry per array, written with ``allow_pickle=False``.

Reading validates everything before anything is handed back: the zip opens,
the manifest parses and has the expected format and version, every listed
array is present, loads with ``allow_pickle=False`` (object arrays, i.e.
pickles, are refused), has the listed shape and dtype, a numeric dtype, and the
listed sha256 of its bytes. Callers then check shapes against the model before
assigning any weight.

Writing is atomic: a temporary file in the same folder, flushed and
``fsync``-ed, then ``os.replace``-d over the target (and the folder fsync-ed),
so a crash mid-write leaves the previous file intact. This follows the advice
in the Keras saving guide and the POSIX rename guarantee.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"


class CorruptFileError(ValueError):
    """A weight/model file that is truncated, tampered with, pickled or of another format."""


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _check_array_name(name: str) -> None:
    if not name or "\\" in name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"Invalid array name {name!r}: expected a relative name without '..'.")


def write_archive(path, fmt: str, arrays: dict[str, np.ndarray], extra: dict) -> None:
    """Atomically write ``arrays`` (name -> numeric array) and a manifest with ``extra`` to ``path``."""
    path = os.fspath(path)
    entries = []
    for name, array in arrays.items():
        _check_array_name(name)
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"Cannot save array {name!r} of dtype {array.dtype}: only numeric arrays are stored."
            )
        entries.append(
            {
                "name": name,
                "shape": list(array.shape),
                "dtype": array.dtype.str,
                "sha256": _sha256(array),
            }
        )
    manifest = {"format": fmt, "format_version": FORMAT_VERSION, "arrays": entries, **extra}
    manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_MANIFEST, manifest_bytes)
                for name, array in arrays.items():
                    buf = io.BytesIO()
                    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
                    zf.writestr(name + ".npy", buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_archive(path, fmt: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and fully validate an archive written by ``write_archive``; returns (manifest, arrays)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorruptFileError(
            f"{path!r} is not a scratchnet {fmt} file (not a readable zip archive: {exc})."
        ) from exc
    with zf:
        try:
            manifest = json.loads(zf.read(_MANIFEST).decode("utf-8"))
        except KeyError as exc:
            raise CorruptFileError(
                f"{path!r} has no {_MANIFEST}: not a scratchnet {fmt} file."
            ) from exc
        except (
            zipfile.BadZipFile,
            UnicodeDecodeError,
            json.JSONDecodeError,
            OSError,
            EOFError,
        ) as exc:
            raise CorruptFileError(f"{path!r}: unreadable manifest ({exc}).") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != fmt:
            got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
            raise CorruptFileError(f"{path!r}: expected format {fmt!r}. Received format={got!r}.")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise CorruptFileError(
                f"{path!r}: expected format_version {FORMAT_VERSION}. "
                f"Received format_version={manifest.get('format_version')!r}."
            )
        entries = manifest.get("arrays")
        if not isinstance(entries, list):
            raise CorruptFileError(f"{path!r}: the manifest lists no arrays.")
        arrays = {}
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise CorruptFileError(
                    f"{path!r}: expected each manifest array entry to be a dict with a name. "
                    f"Received {entry!r:.100}."
                )
            arrays[entry["name"]] = _read_entry(zf, path, entry)
    return manifest, arrays


def _read_entry(zf: zipfile.ZipFile, path: str, entry: dict) -> np.ndarray:
    name = entry.get("name")
    try:
        raw = zf.read(f"{name}.npy")
    except KeyError as exc:
        raise CorruptFileError(
            f"{path!r}: array {name!r} is listed in the manifest but missing."
        ) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC mismatch: bytes changed on disk
        raise CorruptFileError(f"{path!r}: array {name!r} is corrupt ({exc}).") from exc
    try:
        array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        raise CorruptFileError(
            f"{path!r}: array {name!r} could not be read without unpickling; refusing it ({exc})."
        ) from exc
    except (OSError, EOFError) as exc:
        raise CorruptFileError(f"{path!r}: array {name!r} is truncated ({exc}).") from exc
    if array.dtype.kind not in "biuf":
        raise CorruptFileError(f"{path!r}: array {name!r} has non-numeric dtype {array.dtype}.")
    if list(array.shape) != list(entry.get("shape", [])) or array.dtype.str != entry.get("dtype"):
        raise CorruptFileError(
            f"{path!r}: array {name!r} expected shape {tuple(entry.get('shape', []))} dtype {entry.get('dtype')}. "
            f"Received shape {array.shape} dtype {array.dtype.str}."
        )
    if _sha256(array) != entry.get("sha256"):
        raise CorruptFileError(
            f"{path!r}: array {name!r} failed its sha256 check (expected {entry.get('sha256')}, "
            f"received {_sha256(array)}): the file was modified or damaged."
        )
    return array
