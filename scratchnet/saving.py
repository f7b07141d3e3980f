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

from scratchnet import callbacks, losses, metrics, optimizers

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


def _model_classes() -> dict[str, type]:
    """The one table of model class names a model file may name (imported here: ``models`` imports this module)."""
    from scratchnet import models

    return {"Sequential": models.Sequential, "Model": models.Model}


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
    """Load weights saved by ``save_weights`` (or ``save_model``); every shape is checked before any is set."""
    _, arrays = read_archive(path, _sniff_format(path))
    weights = _ordered(arrays, "weights/")
    _check_weight_list(model, weights, path)
    model.set_weights(weights)


def _check_weight_list(model, weights, path) -> None:
    if not model.built:
        raise ValueError("Build the model (build(input_shape)) before loading weights into it.")
    current = model.weights
    if len(weights) != len(current):
        raise CorruptFileError(
            f"{os.fspath(path)!r} holds {len(weights)} weight arrays; this model expects {len(current)}."
        )
    for i, (new, old) in enumerate(zip(weights, current, strict=True)):
        if new.shape != old.shape or new.dtype != old.dtype:
            raise CorruptFileError(
                f"{os.fspath(path)!r}: weight {i} expected shape {old.shape} dtype {old.dtype}. "
                f"Received shape {new.shape} dtype {new.dtype}."
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
    manifest, arrays = read_archive(path, MODEL_FORMAT)
    classes = _model_classes()
    class_name = manifest.get(
        "class_name", "Sequential"
    )  # files before class_name held a Sequential
    if class_name not in classes:
        raise CorruptFileError(
            f"{os.fspath(path)!r}: expected class_name one of {sorted(classes)}. "
            f"Received class_name={class_name!r:.100}."
        )
    try:
        model = classes[class_name].from_config(manifest["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(f"{os.fspath(path)!r}: invalid model_config ({exc}).") from exc
    weights = _ordered(arrays, "weights/")
    _check_weight_list(model, weights, path)
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
