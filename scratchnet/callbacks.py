r"""Callbacks: code that ``fit`` calls at fixed points of training, as in Keras.

The hooks, in the order ``fit`` calls them::

    on_train_begin(logs)
      on_epoch_begin(epoch, logs)
        on_train_batch_begin(batch, logs) / on_train_batch_end(batch, logs)   # per batch
      on_epoch_end(epoch, logs)        # logs: {"loss": ..., "accuracy": ..., "val_loss": ...}
    on_train_end(logs)

A callback reaches the model through ``self.model`` (set by ``fit``) and can
stop training by setting ``self.model.stop_training = True``.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from scratchnet import _checks


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params`` are set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """What ``fit`` returns: ``history.history`` maps each log name to its per-epoch values.

    ``history.epoch`` lists the (0-based) epochs recorded. A ``fit`` that resumes
    at ``initial_epoch`` from a loaded model continues the saved record.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _non_negative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise _checks.invalid(name, "an integer >= 0", value)
    return int(value)


def _monitor_mode(monitor: str, mode: str) -> str:
    """Keras' rule for mode="auto": maximise accuracy-like quantities, minimise the rest."""
    mode = _checks.one_of("mode", mode, ("auto", "min", "max"))
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    return (
        "max"
        if name in ("acc", "accuracy", "precision", "recall", "f1") or "accuracy" in name
        else "min"
    )


class EarlyStopping(Callback):
    r"""Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3's rule).

    An epoch improves on the best value so far when
    ``current < best - min_delta`` (mode "min") or ``current > best + min_delta``
    (mode "max"); the first monitored epoch (``epoch >= start_from_epoch``)
    always does. Every monitored epoch adds one to ``wait``; an improvement
    resets it to 0 only if it also beats ``baseline`` (when one is given). Once
    ``wait >= patience`` after an epoch that did not improve (and not at epoch
    0), training stops and ``stopped_epoch`` is that epoch.

    ``restore_best_weights``: the weights at the end of the best epoch are put
    back when training ends, whether it stopped early or ran out of epochs
    (Keras 3 does this; Keras 2 restored them only after an early stop).

    Deviation: a ``monitor`` missing from the logs raises a ``ValueError``
    naming the keys that exist (Keras only warns and never stops).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        baseline: float | None = None,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(_checks.number("min_delta", min_delta))
        self.patience = _non_negative_int("patience", patience)
        self.mode = _monitor_mode(monitor, mode)
        self.restore_best_weights = _checks.boolean("restore_best_weights", restore_best_weights)
        self.baseline = None if baseline is None else _checks.number("baseline", baseline)
        self.start_from_epoch = _non_negative_int("start_from_epoch", start_from_epoch)
        self.stopped_epoch = 0

    def _improved(self, current: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"Invalid value for argument monitor. Expected one of {sorted(logs)}. "
                f"Received monitor={self.monitor!r}."
            )
        if epoch < self.start_from_epoch:
            return
        current = float(logs[self.monitor])
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._improved(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    r"""Save the model (or its weights) at the end of every epoch, or only when ``monitor`` improves.

    ``filepath`` may hold format fields filled from the epoch (1-based, as
    Keras) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.3f}.snet"``. Files are
    written atomically (see ``scratchnet.saving``), and a model whose weights are
    not all finite is never written, so the last good checkpoint survives a
    diverging run.
    """

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        verbose: int = 0,
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = _checks.boolean("save_best_only", save_best_only)
        self.save_weights_only = _checks.boolean("save_weights_only", save_weights_only)
        self.mode = _monitor_mode(monitor, mode)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            if self.monitor not in logs:
                raise ValueError(
                    f"Invalid value for argument monitor. Expected one of {sorted(logs)}. "
                    f"Received monitor={self.monitor!r}."
                )
            current = float(logs[self.monitor])
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = current
        if not all(np.all(np.isfinite(w)) for w in self.model.get_weights()):
            if self.verbose:
                print(
                    f"Epoch {epoch + 1}: weights are not finite; keeping the previous checkpoint."
                )
            return
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "Invalid value for argument filepath. Expected format fields among "
                f"{['epoch', *sorted(logs)]}. Received filepath={self.filepath!r} ({exc!r})."
            ) from exc
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")


class TerminateOnNaN(Callback):
    r"""Stop training when the loss becomes NaN or infinite.

    ``fit`` checks each batch loss before applying the update; with this
    callback present it stops quietly (weights untouched, i.e. still those of the
    last good step) instead of raising ``TrainingDivergedError``.
    """

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LearningRateScheduler(Callback):
    r"""Set the optimizer's learning rate at the start of each epoch: ``lr = schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"Invalid type for argument schedule. Expected a callable. Received schedule={schedule!r}."
            )
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, float(self.model.optimizer.learning_rate))
        self.model.optimizer.learning_rate = _checks.positive_float("learning_rate", lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    r"""Write one CSV row of logs per epoch (``epoch,loss,accuracy,...``), flushed as it goes.

    Columns: ``epoch`` (0-based, as Keras), then the log keys of the first epoch,
    sorted. With ``append`` the rows go after an existing file's rows and the
    header is written only when the file is new or empty. Deviation: Keras 3
    also adds ``val_<key>`` columns filled with "NA" when the first epoch has
    no validation logs; this writes only the keys that exist.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = _checks.boolean("append", append)
        self._file = None
        self._writer = None
        self._keys = None

    def on_train_begin(self, logs=None):
        if self._file is not None:  # the previous fit raised before on_train_end
            self._file.close()
        has_header = (
            self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        )
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._keys = None
        self._has_header = has_header

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self._keys], delimiter=self.separator
            )
            if not self._has_header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
