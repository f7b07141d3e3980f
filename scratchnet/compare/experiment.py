r"""One unit of work of ``scratchnet compare``: train one (activation, optimizer, seed, fold) on one backend.

The experiment (issue 8): the classic small CNN

    Conv2D(32, 3×3, activation=<under test>) → MaxPooling2D(2×2) → Flatten → Dense(10, softmax)

with categorical cross-entropy, inputs scaled to [0, 1] and one-hot labels,
trained with the optimizer under test (Keras' defaults unless
``--learning-rate``), the evaluation set (test set, or the validation fold)
evaluated after every epoch.

Side by side: for a seed ``s`` both backends start from the weights of
``Sequential(..., seed=s)`` (the Keras model is ``keras_io.to_keras`` of it,
bit for bit) and see the same batches in the same order: epoch ``e`` trains on
the ``e``-th permutation drawn by ``np.random.default_rng(s)`` (``epoch_orders``),
cut into consecutive batches, fed to ``fit(..., shuffle=False)`` on both sides.

Diagnostics (scratchnet side): after every epoch (and before the first) a
fixed probe batch (the first ``PROBE`` training samples) is passed forward and
backward in inference mode. Per layer with weights: the gradient norm
:math:`\lVert \partial L/\partial θ_l \rVert_2`. For the hidden activation
:math:`a = f(z)`, its derivative :math:`f'(z)` computed by scratchnet's own
``backward`` with ``dy = 1``:

* dead units: the fraction of units (feature-map positions × channels) with
  :math:`f'(z) = 0` on every probe sample — a "dying ReLU" unit passes no gradient;
* saturated entries: the fraction of (sample, unit) entries with
  :math:`f'(z) < 5\%` of the largest :math:`f'` on [-8, 8] — the flat tails of
  sigmoid and tanh where gradients vanish (for ReLU this counts the inactive side).

At the end: histograms of each layer's outputs (the hidden activations and
the pre-softmax logits) and of each layer's kernel gradient on the probe batch.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from scratchnet import activations, callbacks, layers, optimizers
from scratchnet.models import Sequential, TrainingDivergedError

PROBE = 512  # samples in the diagnostics probe batch
# Running-mean losses recorded at the start of training, for the side-by-side check.
FIRST_STEPS = 50
SATURATION = 0.05  # f'(z) below this share of max f' counts as saturated
HIST_BINS = 40
# scratchnet's inference is fastest in small batches (cache-sized im2col); the numbers are the same.
EVAL_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every task of one run shares (and what a finished result must match to be reused)."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float | None = None
    dataset: str = "mnist"
    subset: int | None = None
    cv: int | None = None
    threads: int = 1  # BLAS / TensorFlow intra-op threads of the process running a task

    def fingerprint(self) -> dict:
        """The settings that change results (``threads`` does not)."""
        out = dataclasses.asdict(self)
        out.pop("threads")
        return out


@dataclasses.dataclass(frozen=True)
class Task:
    """One training run: a pair, a seed, a fold (None: train on all, evaluate on the test set), a backend."""

    activation: str
    optimizer: str
    seed: int
    fold: int | None
    backend: str

    @property
    def pair(self) -> str:
        return f"{self.activation}+{self.optimizer}"

    @property
    def key(self) -> str:
        fold = "test" if self.fold is None else f"fold{self.fold}"
        return f"{self.activation}+{self.optimizer}-seed{self.seed}-{fold}-{self.backend}"


# ---------------------------------------------------------------------------- data

_DATA_CACHE: dict = {}


def load_dataset(name: str):
    """``(x_train, y_train), (x_test, y_test)``: floats in [0, 1] (N, 28, 28, 1), integer labels (N,).

    Fetched on first use (the public ``load_data(download=True)``); cached per process.
    """
    if name not in _DATA_CACHE:
        from scratchnet.datasets import fashion_mnist, mnist

        module = {"mnist": mnist, "fashion-mnist": fashion_mnist}[name]
        (xtr, ytr), (xte, yte) = module.load_data(download=True)
        scale = np.float32(1 / 255)
        _DATA_CACHE[name] = (
            (xtr.reshape(-1, 28, 28, 1).astype(np.float32) * scale, ytr.astype(np.int64)),
            (xte.reshape(-1, 28, 28, 1).astype(np.float32) * scale, yte.astype(np.int64)),
        )
    return _DATA_CACHE[name]


def split(task: Task, settings: Settings):
    """``(x_train, y_train), (x_eval, y_eval), eval_indices`` for ``task`` (labels as integers).

    ``--subset N``: the first N training and the first N test images.
    ``--cv K``: the training set is cut into K stratified folds (seed 0, the same
    folds for every pair and seed); fold ``f`` is the evaluation set and
    ``eval_indices`` its positions in the training set. Without CV the test set
    is the evaluation set and ``eval_indices`` is None.
    """
    from scratchnet.utils import KFold

    (xtr, ytr), (xte, yte) = load_dataset(settings.dataset)
    if settings.subset is not None:
        xtr, ytr = xtr[: settings.subset], ytr[: settings.subset]
        xte, yte = xte[: settings.subset], yte[: settings.subset]
    if task.fold is None:
        return (xtr, ytr), (xte, yte), None
    folds = list(KFold(settings.cv, shuffle=True, seed=0, stratified=True).split(len(ytr), ytr))
    train_idx, val_idx = folds[task.fold]
    return (xtr[train_idx], ytr[train_idx]), (xtr[val_idx], ytr[val_idx]), val_idx


def one_hot(y, num_classes=10) -> np.ndarray:
    from scratchnet.utils import to_categorical

    return to_categorical(y, num_classes)  # (N, 10) float32


def epoch_orders(seed: int, n: int, epochs: int):
    """The batch order of every epoch: ``epochs`` permutations of ``range(n)`` from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


# ---------------------------------------------------------------------------- the model


def build_model(activation: str, seed: int, input_shape=(28, 28, 1)) -> Sequential:
    """The experiment's CNN, built, with the initial weights of ``seed``."""
    model = Sequential(
        [
            layers.Conv2D(32, (3, 3), activation=activation, input_shape=input_shape, name="conv"),
            layers.MaxPooling2D((2, 2), name="pool"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="dense"),
        ],
        name=f"cnn_{activation}",
        seed=seed,
    )
    model.build(input_shape)
    return model


def make_optimizer(name: str, learning_rate: float | None) -> optimizers.Optimizer:
    """scratchnet's optimizer ``name`` (from its name table), with ``learning_rate`` when given."""
    opt = optimizers.get(name)
    if learning_rate is not None:
        opt.learning_rate = float(learning_rate)
    return opt


# ---------------------------------------------------------------------------- diagnostics


def _derivative(act: activations.ActivationFunction, z: np.ndarray) -> np.ndarray:
    """f'(z) element-wise, from scratchnet's own backward (the VJP with dy = 1)."""
    return act.backward(z, act(z), np.ones_like(z))


def max_derivative(act: activations.ActivationFunction) -> float:
    """The largest f'(x) on a fine grid of [-8, 8] (1 for ReLU and tanh, 1/4 for sigmoid)."""
    x = np.linspace(-8.0, 8.0, 4001)
    return float(np.max(_derivative(act, x)))


def diagnostics(model: Sequential, x_probe, y_probe, histograms: bool = False) -> dict:
    r"""Per-layer gradient norms, dead and saturated fractions (and histograms) on the probe batch."""
    _, grads = model.compute_gradients(x_probe, y_probe)  # inference mode; fills preactivations
    out: dict = {"layers": {}}
    i = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        g = grads[i : i + len(layer.weights)]
        i += len(layer.weights)
        entry = {
            "grad_norm": float(
                math.sqrt(sum(float(np.sum(gk.astype(np.float64) ** 2)) for gk in g))
            )
        }
        act = getattr(layer, "activation", None)
        if act is not None and act.name != "softmax":
            d = _derivative(act, layer.preactivation)  # (N, H, W, C)
            entry["dead_fraction"] = float(np.mean(np.all(d == 0, axis=0)))
            entry["saturated_fraction"] = float(np.mean(d < SATURATION * max_derivative(act)))
        if histograms:
            z = layer.preactivation  # (N, ...)
            values = act(z) if act is not None and act.name != "softmax" else z
            what = f"{act.name} output" if act is not None and act.name != "softmax" else "logits"
            counts, edges = np.histogram(values, bins=HIST_BINS)
            entry["activation_hist"] = {
                "what": what,
                "counts": counts.tolist(),
                "edges": edges.tolist(),
            }
            counts, edges = np.histogram(g[0], bins=HIST_BINS)
            entry["gradient_hist"] = {
                "what": "kernel gradient",
                "counts": counts.tolist(),
                "edges": edges.tolist(),
            }
        out["layers"][layer.name] = entry
    return out


def _append_diagnostics(record: dict, snapshot: dict) -> None:
    for name, entry in snapshot["layers"].items():
        target = record.setdefault("layers", {}).setdefault(name, {})
        for key, value in entry.items():
            if key.endswith("_hist"):
                target[key] = value
            else:
                target.setdefault(key, []).append(value)


# ---------------------------------------------------------------------------- the scratchnet side


class _FirstSteps(callbacks.Callback):
    """Records the running-mean training loss after each of the first ``FIRST_STEPS`` batches."""

    def __init__(self, sink: list):
        super().__init__()
        self.sink = sink

    def on_train_batch_end(self, batch, logs=None):
        if len(self.sink) < FIRST_STEPS and logs and "loss" in logs:
            self.sink.append(float(logs["loss"]))


def train_scratchnet(task: Task, settings: Settings, progress=None) -> dict:
    """Train ``task`` with scratchnet; the per-epoch history, predictions and diagnostics."""
    (xtr, ytr), (xev, yev), eval_idx = split(task, settings)
    ytr1, yev1 = one_hot(ytr), one_hot(yev)
    model = build_model(task.activation, task.seed, xtr.shape[1:])
    model.compile(
        optimizer=make_optimizer(task.optimizer, settings.learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    probe = (xtr[:PROBE], ytr1[:PROBE])
    history = {
        k: [] for k in ("loss", "accuracy", "test_loss", "test_accuracy", "epoch_time", "eval_time")
    }
    diag: dict = {}
    _append_diagnostics(diag, diagnostics(model, *probe))
    first_steps: list = []
    error = None
    for epoch, order in enumerate(epoch_orders(task.seed, len(ytr), settings.epochs)):
        xb, yb = xtr[order], ytr1[order]
        start = time.perf_counter()
        try:
            logs = model.fit(
                xb, yb, batch_size=settings.batch_size, epochs=1, shuffle=False, verbose=0,
                callbacks=[_FirstSteps(first_steps)] if epoch == 0 else None,
            ).history  # fmt: skip
        except TrainingDivergedError as exc:
            error = str(exc)
            break
        history["epoch_time"].append(time.perf_counter() - start)
        start = time.perf_counter()
        test_loss, test_acc = model.evaluate(xev, yev1, batch_size=EVAL_BATCH, verbose=0)
        history["eval_time"].append(time.perf_counter() - start)
        history["loss"].append(float(logs["loss"][-1]))
        history["accuracy"].append(float(logs["accuracy"][-1]))
        history["test_loss"].append(float(test_loss))
        history["test_accuracy"].append(float(test_acc))
        last = epoch == settings.epochs - 1
        _append_diagnostics(diag, diagnostics(model, *probe, histograms=last))
        if progress is not None:
            progress(task.key, epoch + 1)
    y_pred = np.argmax(model.predict(xev, batch_size=EVAL_BATCH, verbose=0), axis=1)
    return _result(task, history, first_steps, y_pred, yev, eval_idx, diag, error)


def _result(task, history, first_steps, y_pred, y_true, eval_idx, diag, diverged) -> dict:
    """A finished task as JSON-able data; ``diverged``: the message when training stopped on NaN/Inf."""
    return {
        "key": task.key,
        "task": dataclasses.asdict(task),
        "history": history,
        "first_steps": first_steps,
        "y_pred": np.asarray(y_pred).astype(int).tolist(),
        "y_true": np.asarray(y_true).astype(int).tolist(),
        "eval_indices": None if eval_idx is None else np.asarray(eval_idx).astype(int).tolist(),
        "diagnostics": diag,
        "diverged": diverged,
        "error": None,
    }


def run_task(task: Task, settings: Settings, progress=None) -> dict:
    """Run one task on its backend (TensorFlow imported only for the TensorFlow side)."""
    start = time.perf_counter()
    if task.backend == "tensorflow":
        from scratchnet.compare import tensorflow_side

        result = tensorflow_side.train_tensorflow(task, settings, progress)
    else:
        result = train_scratchnet(task, settings, progress)
    result["wall_time"] = time.perf_counter() - start
    result["threads"] = settings.threads
    return result
