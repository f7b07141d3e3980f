r"""The IDX file format of MNIST and Fashion-MNIST: reading, writing, and a content hash.

An IDX file is a tiny header followed by the raw array, all big-endian
(LeCun et al., "THE MNIST DATABASE of handwritten digits", file-format section)::

    byte 0, 1   0x00 0x00                      magic, always zero
    byte 2      dtype code                     0x08 uint8, 0x09 int8, 0x0B int16,
                                               0x0C int32, 0x0D float32, 0x0E float64
    byte 3      ndim                           e.g. 3 for images, 1 for labels
    then        ndim big-endian uint32 sizes   e.g. 60000, 28, 28
    then        the data, C order (last index fastest), prod(sizes) · itemsize bytes

So ``train-images-idx3-ubyte`` starts ``00 00 08 03 | 00 00 EA 60 | 00 00 00 1C |
00 00 00 1C`` (60000 images of 28 × 28 uint8 pixels) and is 16 + 47,040,000 bytes.
Files may be gzip-compressed (``.gz``); the reader recognises gzip by its first
two bytes (1F 8B), not by the file name.

The content hash (``canonical_sha256``) is the sha256 of the array written as an
uncompressed IDX file (header + data). It does not depend on where the array came
from: a raw IDX file, a ``.gz`` of it (whatever the gzip level) or Keras'
``mnist.npz`` all give the same hash for the same numbers. For the original
MNIST files it equals the sha256 of the decompressed file.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

# IDX dtype code -> NumPy dtype (big-endian on disk).
IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20  # read and hash in 1 MiB pieces


class CorruptDataError(ValueError):
    """A data file that is not what it should be: bad IDX header, wrong length, wrong hash or shape.

    The message names the file and says what was expected and what was found.
    """


def _idx_code(dtype) -> int:
    """The IDX dtype code of a NumPy dtype (byte order ignored)."""
    dtype = np.dtype(dtype)
    for code, idx_dtype in IDX_DTYPES.items():
        if dtype.kind == idx_dtype.kind and dtype.itemsize == idx_dtype.itemsize:
            return code
    raise TypeError(
        "Invalid dtype for an IDX array. Expected one of uint8, int8, int16, int32, "
        f"float32, float64. Received an array of dtype {dtype}."
    )


def idx_header(shape, dtype) -> bytes:
    """The IDX header of an array: ``00 00 <dtype code> <ndim>`` then ndim big-endian uint32 sizes."""
    shape = tuple(int(s) for s in shape)
    if not 1 <= len(shape) <= 255:
        raise ValueError(
            f"Invalid value for argument shape. Expected 1 to 255 dimensions. Received shape={shape}."
        )
    if any(s < 0 or s > 0xFFFFFFFF for s in shape):
        raise ValueError(
            f"Invalid value for argument shape. Expected sizes in [0, 2**32). Received shape={shape}."
        )
    return bytes([0, 0, _idx_code(dtype), len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _big_endian_data(array: np.ndarray) -> np.ndarray:
    """``array`` as a C-ordered big-endian array (the IDX data layout); uint8 is returned as is."""
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    return np.ascontiguousarray(array, dtype=big)


def idx_bytes(array) -> bytes:
    """``array`` written as an uncompressed IDX file: header + big-endian C-order data."""
    array = np.asarray(array)
    return idx_header(array.shape, array.dtype) + _big_endian_data(array).tobytes()


def canonical_sha256(array) -> str:
    """sha256 (hex) of ``idx_bytes(array)``, computed without building that byte string.

    Equal arrays (same shape, same dtype kind and size, same values) give equal
    hashes whatever file they were read from.
    """
    array = np.asarray(array)
    digest = hashlib.sha256(idx_header(array.shape, array.dtype))
    data = _big_endian_data(array).reshape(-1).view(np.uint8)  # (nbytes,)
    for start in range(0, data.size, _CHUNK):
        digest.update(data[start : start + _CHUNK].data)
    return digest.hexdigest()


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file at ``path`` (gzip-compressed if ``compress``, or by default if the name ends in ``.gz``).

    Used by the tests to build tiny data sets, and handy for exporting arrays.
    """
    path = Path(path)
    if compress is None:
        compress = path.name.endswith(".gz")
    payload = idx_bytes(array)
    if compress:
        # No name, mtime=0: the same array always gives the same bytes.
        with (
            open(path, "wb") as raw,
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz,
        ):
            gz.write(payload)
    else:
        path.write_bytes(payload)
    return path


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_exactly(f, n: int) -> bytearray:
    """Up to ``n`` bytes from ``f`` in chunks (fewer only when the stream ends)."""
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def read_idx(path, *, expected_shape=None) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a new, writeable, native-endian array.

    Every part of the header is checked, and the data length must match the
    header exactly (no missing and no trailing bytes). With ``expected_shape``
    the sizes in the header are checked before any data is read, so a
    malformed header cannot make the reader allocate a huge buffer.

    Raises ``CorruptDataError`` (a ``ValueError``) naming the file, and
    ``FileNotFoundError`` if there is no file.
    """
    path = Path(path)
    try:
        gz = _is_gzip(path)
        opener = gzip.open if gz else open
        with opener(path, "rb") as f:
            return _read_idx_stream(f, path, gz, expected_shape)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise CorruptDataError(
            f"The IDX file {path} is not a valid gzip file or is truncated ({exc})."
        ) from exc


def _read_idx_stream(f, path: Path, gz: bool, expected_shape) -> np.ndarray:
    kind = "gzip-compressed IDX file" if gz else "IDX file"
    magic = f.read(4)
    if len(magic) < 4:
        raise CorruptDataError(
            f"The {kind} {path} is too short: {len(magic)} bytes, expected at least a 4-byte header."
        )
    if magic[0] != 0 or magic[1] != 0:
        raise CorruptDataError(
            f"The file {path} is not an IDX file: its magic number starts with "
            f"{magic[:2].hex(' ')}, expected 00 00."
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise CorruptDataError(
            f"The {kind} {path} has an unknown dtype code 0x{code:02X}; expected one of {known}."
        )
    if ndim == 0:
        raise CorruptDataError(f"The {kind} {path} declares 0 dimensions; expected at least 1.")
    dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise CorruptDataError(
            f"The {kind} {path} is truncated inside its header: {ndim} dimensions need "
            f"{4 * ndim} bytes of sizes, found {len(dims_raw)}."
        )
    shape = struct.unpack(f">{ndim}I", dims_raw)
    if expected_shape is not None and tuple(shape) != tuple(expected_shape):
        raise CorruptDataError(
            f"The {kind} {path} holds an array of shape {shape}; expected shape {tuple(expected_shape)}."
        )
    dtype = IDX_DTYPES[code]
    n_bytes = math.prod(shape) * dtype.itemsize
    if not gz:
        available = os.fstat(f.fileno()).st_size - 4 - 4 * ndim
        if available != n_bytes:
            what = "truncated" if available < n_bytes else "longer than its header says"
            raise CorruptDataError(
                f"The {kind} {path} is {what}: its header declares shape {shape} "
                f"({n_bytes} data bytes), but the file holds {available} data bytes."
            )
    data = _read_exactly(f, n_bytes)
    if len(data) < n_bytes:
        raise CorruptDataError(
            f"The {kind} {path} is truncated: its header declares shape {shape} "
            f"({n_bytes} data bytes), but only {len(data)} data bytes follow."
        )
    if gz and f.read(1):
        raise CorruptDataError(
            f"The {kind} {path} is longer than its header says: more than the {n_bytes} "
            f"data bytes of shape {shape} follow."
        )
    array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writeable: backed by a bytearray
    if dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder("="))
    return array
