r"""Weight and model files that never unpickle, never half-write, and fail fast on hostile input.

File format (one zip file, like Keras' ``.keras``, but with no code in it):

* ``manifest.json``: ``{"format": ..., "format_version": 1, "arrays": [{"name",
  "shape", "dtype", "sha256"}, ...], ...}`` plus whatever the caller stores
  (model config, compile config, training state);
* one ``<name>.npy`` member per array (C order, numeric dtype, no pickle);
* every member stored uncompressed (``ZIP_STORED``).

Reading treats the file as hostile until proven otherwise, and checks sizes
before it reads anything, so memory stays within a small multiple of the file's
size on disk whatever the file claims:

1. the zip opens; ``manifest.json`` is stored, lies inside the file, and is at
   most ``MAX_MANIFEST_BYTES`` (a 200 MB manifest compressed into 200 KB is
   refused unread); it parses (a manifest nested too deeply for the JSON reader
   is a ``CorruptFileError``, not a ``RecursionError``), with the expected format
   and version;
2. every array entry has a valid name, a shape of non-negative integers and a
   numeric dtype; its member exists, is stored uncompressed, lies inside the
   file, and its uncompressed size (``ZipInfo.file_size``) is at most what the
   entry implies (shape x itemsize, plus a ``.npy`` header of at most
   ``MAX_NPY_HEADER`` bytes);
3. the caller's ``check(manifest)`` runs, before any array is read: ``load_model``
   compares the weight shapes the model config implies (``Layer.weight_shapes``,
   nothing built) with the manifest, and ``load_weights`` the model's own;
4. each member is read (at most its checked size); its ``.npy`` header is parsed
   without ``np.load`` (an object dtype, i.e. a pickle, is refused), must match
   the manifest entry, and the data must be exactly as long as the header says
   (a truncated array is reported as truncated); the sha256 of the data bytes
   must match; only then is the array made (``np.frombuffer``, copied).

Any failure is a ``CorruptFileError`` (a ``ValueError``) saying what was wrong;
``MemoryError``, ``RecursionError`` and ``EOFError`` never escape.

What the sha256 is, and is not: a checksum against *accidental* damage (a bad
disk, a truncated copy, a flipped bit). It sits in the same unsigned manifest as
the data, so whoever can edit the file can recompute it: it does not detect
tampering. Against tampering you need a signature or an HMAC over the file
(e.g. ``hmac.new(key, data, "sha256")``) with a key kept somewhere the attacker
cannot reach, or a trusted channel. What reading guarantees for any file,
hostile or not: no code runs, and memory and time stay bounded as above.

Writing is atomic: a temporary file in the target's folder, flushed and
``fsync``-ed, then ``os.replace``-d over the target (and the folder fsync-ed),
so a crash mid-write leaves the previous file intact (the Keras saving guide's
advice, and the POSIX rename guarantee). The file gets the permissions a plain
``open(path, "w")`` would give a new file (0666 less the umask). Saving onto a
symbolic link writes through it: the link stays, and the file it points to is
replaced atomically (a dangling link gets its target created).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import secrets
import zipfile

import numpy as np

from scratchnet import callbacks, losses, metrics, optimizers
from scratchnet import layers as layers_module
from scratchnet.layers.base import shape_tuple

FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 2**20  # a manifest is configs, names and history: far below this
MAX_NPY_HEADER = 4096  # np.lib.format writes 128 bytes for any array scratchnet saves
_MAX_NDIM = 64  # NumPy's own limit


class CorruptFileError(ValueError):
    """A weight/model file that is truncated, damaged, hostile, pickled or of another format."""


def _sha256(buffer) -> str:
    """The sha256 of an array's C-order bytes, or of a bytes-like object (no copy)."""
    if isinstance(buffer, np.ndarray):
        buffer = np.ascontiguousarray(buffer)
    return hashlib.sha256(buffer).hexdigest()


def _check_array_name(name: str) -> None:
    if not name or "\\" in name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"Invalid array name {name!r}: expected a relative name without '..'.")


def write_archive(path, fmt: str, arrays: dict[str, np.ndarray], extra: dict) -> None:
    """Atomically write ``arrays`` (name -> numeric array) and a manifest with ``extra`` to ``path``.

    ``path`` may be a symbolic link: its target is replaced and the link kept.
    """
    path = os.path.realpath(os.fspath(path))  # through symlinks to the file they name
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

    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.part")
    try:
        # 0o666 less the umask, as open(path, "w") would create it (mkstemp would give 0600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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


def read_archive(path, fmt: str, check=None) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and fully validate an archive written by ``write_archive``; returns (manifest, arrays).

    ``check(manifest)``, if given, runs after the manifest and every member's size
    are validated and before any array is read; it raises ``CorruptFileError``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    try:
        zf = zipfile.ZipFile(path, "r")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, MemoryError) as exc:
        raise CorruptFileError(
            f"{path!r} is not a scratchnet {fmt} file (not a readable zip archive: {exc!r})."
        ) from exc
    with zf:
        size = os.path.getsize(path)
        manifest = _read_manifest(zf, path, size, fmt)
        entries = _array_entries(manifest, path)
        infos = {name: _member(zf, path, size, name, entry) for name, entry in entries.items()}
        if check is not None:
            check(manifest)
        arrays = {}
        for name, entry in entries.items():
            try:
                arrays[name] = _read_entry(zf, path, infos[name], name, entry)
            except MemoryError as exc:  # sizes were checked: the file is as big as it says
                raise CorruptFileError(
                    f"{path!r}: out of memory reading array {name!r} ({entry['nbytes']} bytes, "
                    "within the file's size)."
                ) from exc
    return manifest, arrays


def _stored_member(zf: zipfile.ZipFile, path: str, size: int, member: str) -> zipfile.ZipInfo:
    """The ``ZipInfo`` of ``member``, which must be stored uncompressed and lie inside the file."""
    info = zf.getinfo(member)  # KeyError: the caller says what is missing
    if info.compress_type != zipfile.ZIP_STORED:
        raise CorruptFileError(
            f"{path!r}: member {member!r} is compressed (zip method {info.compress_type}); "
            "scratchnet stores every member uncompressed, so that no member can expand beyond "
            "the bytes on disk. Refused unread."
        )
    if info.file_size != info.compress_size or info.header_offset + info.compress_size > size:
        raise CorruptFileError(
            f"{path!r}: member {member!r} claims {info.file_size} bytes, more than the "
            f"{size}-byte file holds there. Refused unread."
        )
    return info


def _read_manifest(zf: zipfile.ZipFile, path: str, size: int, fmt: str) -> dict:
    try:
        info = _stored_member(zf, path, size, _MANIFEST)
    except KeyError as exc:
        raise CorruptFileError(
            f"{path!r} has no {_MANIFEST}: not a scratchnet {fmt} file."
        ) from exc
    if info.file_size > MAX_MANIFEST_BYTES:
        raise CorruptFileError(
            f"{path!r}: {_MANIFEST} is {info.file_size} bytes; a scratchnet manifest is at most "
            f"{MAX_MANIFEST_BYTES} bytes. Refused unread."
        )
    try:
        with zf.open(info) as fh:
            manifest = json.loads(fh.read(MAX_MANIFEST_BYTES + 1).decode("utf-8"))
    except RecursionError as exc:
        raise CorruptFileError(
            f"{path!r}: unreadable manifest (nested deeper than the JSON reader can follow)."
        ) from exc
    except MemoryError as exc:
        raise CorruptFileError(
            f"{path!r}: unreadable manifest (out of memory parsing it)."
        ) from exc
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        raise CorruptFileError(f"{path!r}: unreadable manifest ({exc}).") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise CorruptFileError(f"{path!r}: expected format {fmt!r}. Received format={got!r:.100}.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CorruptFileError(
            f"{path!r}: expected format_version {FORMAT_VERSION}. "
            f"Received format_version={manifest.get('format_version')!r:.100}."
        )
    return manifest


def _array_entries(manifest: dict, path: str) -> dict[str, dict]:
    """The manifest's array entries by name, each checked: name, shape, numeric dtype, sha256."""
    entries = manifest.get("arrays")
    if not isinstance(entries, list):
        raise CorruptFileError(f"{path!r}: the manifest lists no arrays.")
    checked = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CorruptFileError(
                f"{path!r}: expected each manifest array entry to be a dict with a name. "
                f"Received {entry!r:.100}."
            )
        name, shape, dtype = entry["name"], entry.get("shape"), entry.get("dtype")
        try:
            _check_array_name(name)
        except ValueError as exc:
            raise CorruptFileError(f"{path!r}: {exc}") from None
        if name in checked:
            raise CorruptFileError(f"{path!r}: array {name!r} is listed twice in the manifest.")
        if (
            not isinstance(shape, list)
            or len(shape) > _MAX_NDIM
            or not all(type(d) is int and d >= 0 for d in shape)
        ):
            raise CorruptFileError(
                f"{path!r}: array {name!r}: expected a shape of at most {_MAX_NDIM} non-negative "
                f"integers. Received shape={shape!r:.100}."
            )
        try:
            dtype = np.dtype(dtype) if isinstance(dtype, str) else None
        except (TypeError, ValueError):
            dtype = None
        if dtype is None or dtype.kind not in "biuf":
            raise CorruptFileError(
                f"{path!r}: array {name!r}: expected a numeric dtype. "
                f"Received dtype={entry.get('dtype')!r:.100}."
            )
        if not isinstance(entry.get("sha256"), str):
            raise CorruptFileError(f"{path!r}: array {name!r} has no sha256 in the manifest.")
        nbytes = math.prod(shape) * dtype.itemsize
        checked[name] = {**entry, "shape": tuple(shape), "dtype": dtype, "nbytes": nbytes}
    return checked


def _member(zf: zipfile.ZipFile, path: str, size: int, name: str, entry: dict) -> zipfile.ZipInfo:
    """The array's member, its size checked against what the manifest entry implies (nothing read)."""
    try:
        info = _stored_member(zf, path, size, f"{name}.npy")
    except KeyError as exc:
        raise CorruptFileError(
            f"{path!r}: array {name!r} is listed in the manifest but missing."
        ) from exc
    if info.file_size > entry["nbytes"] + MAX_NPY_HEADER:
        raise CorruptFileError(
            f"{path!r}: array {name!r} is a {info.file_size}-byte member; its manifest entry "
            f"(shape {entry['shape']}, dtype {entry['dtype'].str}) implies {entry['nbytes']} bytes "
            f"of data and a header of at most {MAX_NPY_HEADER}. Refused unread."
        )
    return info


def _read_entry(
    zf: zipfile.ZipFile, path: str, info: zipfile.ZipInfo, name: str, entry: dict
) -> np.ndarray:
    try:
        with zf.open(info) as fh:
            raw = fh.read(info.file_size)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # CRC mismatch: bytes changed on disk
        raise CorruptFileError(f"{path!r}: array {name!r} is corrupt ({exc}).") from exc
    buf = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(buf, MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(buf, MAX_NPY_HEADER)
        else:
            raise ValueError(f".npy format version {version}; expected 1.0 or 2.0")
    except (
        ValueError,
        TypeError,
        SyntaxError,
        EOFError,
        OSError,
        RecursionError,
        MemoryError,
    ) as exc:
        raise CorruptFileError(
            f"{path!r}: array {name!r} has no readable .npy header ({exc})."
        ) from exc
    if dtype.hasobject:
        raise CorruptFileError(
            f"{path!r}: array {name!r} holds Python objects (dtype {dtype}): reading it would "
            "mean unpickling, which could run code. Refused."
        )
    if shape != entry["shape"] or dtype != entry["dtype"] or fortran_order:
        raise CorruptFileError(
            f"{path!r}: array {name!r} expected shape {entry['shape']} dtype {entry['dtype'].str} "
            f"(C order), as its manifest entry says. Received shape {shape} dtype {dtype.str}"
            f"{' (Fortran order)' if fortran_order else ''}."
        )
    data = memoryview(raw)[buf.tell() :]
    if len(data) != entry["nbytes"]:
        what = "is truncated" if len(data) < entry["nbytes"] else "has trailing bytes"
        raise CorruptFileError(
            f"{path!r}: array {name!r} {what}: shape {shape} dtype {dtype.str} needs "
            f"{entry['nbytes']} bytes of data; the member holds {len(data)}."
        )
    digest = _sha256(data)
    if digest != entry["sha256"]:
        raise CorruptFileError(
            f"{path!r}: array {name!r} failed its sha256 checksum (expected {entry['sha256']:.64}, "
            f"received {digest}): the bytes changed after the file was written. (The checksum "
            "catches accidental damage; it is no defence against deliberate edits, which can "
            "update it too.)"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


# --------------------------------------------------------------------------- models and their weights
#
# These functions work on any model object that offers what ``Sequential`` does:
# ``get_config()`` / ``cls.from_config(cfg)``, ``weights`` (the live arrays, in a
# fixed order), ``set_weights``, ``built``, ``layers`` (a layer that draws in its
# forward pass has ``layer.rng``), and for training state ``compiled``,
# ``compile(optimizer, loss, metrics)``, ``optimizer``, ``loss``, ``_metric_ids``
# (the metrics as given to compile), ``_rng`` (fit's shuffling generator) and
# ``history``. A model file names its class (``"class_name"``), looked up in
# ``_model_classes()``.

MODEL_FORMAT = "scratchnet-model"
WEIGHTS_FORMAT = "scratchnet-weights"


def _model_classes() -> dict[str, tuple[type, object]]:
    """The one table of model classes a model file may name: ``class_name -> (class, weight_shapes)``.

    ``weight_shapes(model_config)`` lists ``(owner, shape)`` of every weight, in
    ``weights`` order, that the config implies, without building anything
    (imported here: ``models`` imports this module).
    """
    from scratchnet import models

    return {"Sequential": (models.Sequential, _sequential_weight_shapes)}


def _sequential_weight_shapes(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """``(layer name, shape)`` of every weight a Sequential config implies: nothing is built or drawn."""
    stack = [layers_module.deserialize(c) for c in config["layers"]]  # constructors only: cheap
    if config.get("input_shape") is None:
        return []
    shape = shape_tuple("input_shape", config["input_shape"])
    shapes = []
    for layer in stack:
        shapes += [(layer.name, tuple(s)) for s in layer.weight_shapes(shape)]
        shape = layer.compute_output_shape(shape)
    return shapes


def _version() -> str:
    from scratchnet import __version__

    return __version__


def _built_weights(model, what: str) -> list[np.ndarray]:
    weights = model.weights  # builds from a declared input_shape, as Keras does
    if not model.built:
        raise ValueError(
            f"Cannot save {what} that is not built: call build(input_shape) or fit first."
        )
    return weights


def _compile_config(model) -> dict | None:
    """The compile arguments as JSON: optimizer and loss configs, metrics by name or config."""
    if not model.compiled:
        return None
    metric_ids = []
    for m in model._metric_ids:
        if not isinstance(m, str):  # a Metric, a metric class or one of metrics' functions
            obj = m if isinstance(m, metrics.Metric) else metrics.get(m)
            m = {"class_name": type(obj).__name__, "config": obj.get_config()}
        metric_ids.append(m)
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": losses.serialize(model.loss),
        "metrics": metric_ids,
    }


def _rng_states(model) -> dict:
    """The bit-generator states of fit's shuffling generator and of every layer that draws (Dropout)."""
    states = {"fit": None if model._rng is None else model._rng.bit_generator.state}
    for i, layer in enumerate(model.layers):
        if layer.rng is not None:
            states[f"layer_{i}"] = layer.rng.bit_generator.state
    return states


def save_model(model, path) -> None:
    """Save architecture, weights, compile settings, optimizer state, RNG states and history to one file.

    No pickle: a zip of ``.npy`` arrays plus a JSON manifest with a sha256 per
    array, written atomically (``write_archive``). Optimizer slots are stored by
    the index of their variable in ``model.weights`` (``optimizer/<i>/<slot>``).
    """
    weights = _built_weights(model, "a model")
    arrays = {f"weights/{i}": w for i, w in enumerate(weights)}
    training = None
    if model.compiled:
        state = model.optimizer.get_state(weights)  # one entry per weight, None: no slots yet
        slot_names = {}
        for i, slots in enumerate(state["slots"]):
            if slots is not None:
                slot_names[str(i)] = sorted(slots)
                for slot_name, value in slots.items():
                    arrays[f"optimizer/{i}/{slot_name}"] = value
        training = {
            "optimizer_iterations": int(state["iterations"]),
            "optimizer_slots_by_weight": slot_names,
            "rng": _rng_states(model),
            "history": None
            if model.history is None
            else {"history": model.history.history, "epoch": model.history.epoch},
        }
    extra = {
        "scratchnet_version": _version(),
        "class_name": type(model).__name__,
        "model_config": model.get_config(),
        "compile_config": _compile_config(model),
        "training_state": training,
    }
    write_archive(path, MODEL_FORMAT, arrays, extra)


def save_weights(model, path) -> None:
    """Save only the weights (``model.weights`` order), atomically, with a sha256 per array."""
    weights = _built_weights(model, "the weights of a model")
    arrays = {f"weights/{i}": w for i, w in enumerate(weights)}
    write_archive(path, WEIGHTS_FORMAT, arrays, {"scratchnet_version": _version()})


def load_weights(model, path) -> None:
    """Load weights saved by ``save_weights`` (or ``save_model``) into ``model``, as Keras does.

    Every shape is checked against the model before any array is read, and all
    before any is set. Another float dtype is cast to the model's (a float64 file
    loads into a float32 model), as Keras' ``load_weights`` casts.
    """
    weights = model.weights
    if not model.built:
        raise ValueError("Build the model (build(input_shape)) before loading weights into it.")
    expected = [(f"weights[{i}]", w.shape) for i, w in enumerate(weights)]
    _, arrays = read_archive(
        path, _sniff_format(path), check=lambda m: _check_listed_shapes(m, expected, path, "model")
    )
    model.set_weights(_ordered(arrays, "weights/"))  # set_weights casts to each weight's dtype


def _check_listed_shapes(manifest: dict, expected: list, path, source: str) -> None:
    """The manifest's ``weights/<i>`` shapes must be ``expected`` (from the model or its config); nothing read yet."""
    listed = _ordered({e["name"]: e["shape"] for e in manifest["arrays"]}, "weights/")
    if len(listed) != len(expected):
        raise CorruptFileError(
            f"{os.fspath(path)!r} holds {len(listed)} weight arrays; the {source} expects {len(expected)}."
        )
    for i, (shape, (owner, want)) in enumerate(zip(listed, expected, strict=True)):
        if tuple(shape) != tuple(want):
            raise CorruptFileError(
                f"{os.fspath(path)!r}: weight {i} ({owner}) expected shape {tuple(want)} by the "
                f"{source}. Received shape {tuple(shape)} in the manifest."
            )


def _ordered(arrays: dict, prefix: str) -> list[np.ndarray]:
    keys = [k for k in arrays if k.startswith(prefix)]
    try:
        indices = sorted(int(k[len(prefix) :]) for k in keys)
    except ValueError as exc:
        raise CorruptFileError(f"Unexpected array names under {prefix!r}: {sorted(keys)}.") from exc
    if indices != list(range(len(indices))):
        raise CorruptFileError(f"Weight arrays are not numbered 0..{len(indices) - 1}: {indices}.")
    return [arrays[f"{prefix}{i}"] for i in indices]


def _sniff_format(path) -> str:
    """Weights can be loaded from a weights file or from a full model file."""
    try:
        with zipfile.ZipFile(os.fspath(path)) as zf:
            fmt = json.loads(zf.read(_MANIFEST)).get("format")
    except Exception:
        return WEIGHTS_FORMAT  # read_archive then reports what is wrong
    return MODEL_FORMAT if fmt == MODEL_FORMAT else WEIGHTS_FORMAT


def load_model(path, compile: bool = True):
    """Rebuild a model saved by ``save_model``: architecture, weights, and (with ``compile``) training state.

    Everything in the file is validated (format, version, sha256 of each array,
    shapes against the rebuilt model) before any weight is assigned.
    """
    manifest, arrays = read_archive(path, MODEL_FORMAT, check=lambda m: _check_config(m, path))
    model_class, _ = _model_classes()[manifest.get("class_name", "Sequential")]
    try:
        model = model_class.from_config(manifest["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"{os.fspath(path)!r}: invalid model_config ({exc}).") from exc
    weights = _ordered(arrays, "weights/")
    compile_cfg = manifest.get("compile_config")
    if compile and compile_cfg is not None:
        try:
            _restore_training(model, compile_cfg, manifest.get("training_state"), arrays)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise CorruptFileError(
                f"{os.fspath(path)!r}: invalid compile_config or training_state ({exc!r})."
            ) from exc
    model.set_weights(weights)
    return model


def _check_config(manifest: dict, path) -> None:
    """Before any array is read or any weight allocated: a known class, and config shapes = manifest shapes."""
    classes = _model_classes()
    class_name = manifest.get(
        "class_name", "Sequential"
    )  # files before class_name held a Sequential
    if not isinstance(class_name, str) or class_name not in classes:
        raise CorruptFileError(
            f"{os.fspath(path)!r}: expected class_name one of {sorted(classes)}. "
            f"Received class_name={class_name!r:.100}."
        )
    try:
        expected = classes[class_name][1](manifest["model_config"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptFileError(f"{os.fspath(path)!r}: invalid model_config ({exc}).") from exc
    _check_listed_shapes(manifest, [(f"layer {n!r}", s) for n, s in expected], path, "model_config")


def _restore_training(model, compile_cfg: dict, training: dict | None, arrays) -> None:
    """Compile ``model`` as saved and restore optimizer slots, RNG states and history (any error: corrupt file)."""
    model.compile(compile_cfg["optimizer"], compile_cfg["loss"], compile_cfg["metrics"])
    if training is None:
        return
    state = {"iterations": training["optimizer_iterations"]}
    if "optimizer_slots" in training:  # files from before slots were stored by weight index
        state["slots"] = [
            {name: arrays[f"optimizer/{i}/{name}"] for name in names}
            for i, names in enumerate(training["optimizer_slots"])
        ]
        model.optimizer.set_state(state)  # matched, in order, to the first step's variables
    else:
        by_weight = training["optimizer_slots_by_weight"]
        if not isinstance(by_weight, dict):
            raise TypeError(f"optimizer_slots_by_weight must be a dict, not {by_weight!r:.100}")
        state["slots"] = [
            None
            if str(i) not in by_weight
            else {name: arrays[f"optimizer/{i}/{name}"] for name in by_weight[str(i)]}
            for i in range(len(model.weights))
        ]
        model.optimizer.set_state(state, model.weights)
    rng = training.get("rng") or {}
    if rng.get("fit") is not None:
        model._rng = np.random.default_rng()
        model._rng.bit_generator.state = rng["fit"]
    for i, layer in enumerate(model.layers):
        if f"layer_{i}" in rng:
            layer.rng.bit_generator.state = rng[f"layer_{i}"]
    saved = training.get("history")
    if saved is not None:
        history, epochs = saved["history"], saved["epoch"]
        if not isinstance(history, dict) or not isinstance(epochs, list):
            raise TypeError(f"history must be a dict and a list of epochs, not {saved!r:.100}")
        model.history = callbacks.History()
        model.history.history = history
        model.history.epoch = epochs
