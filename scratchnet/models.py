r"""``Sequential``: a stack of layers with Keras' compile / fit / evaluate / predict.

Training one mini-batch is the chain rule applied layer by layer::

    a_0 = x                       # (N, ...) the batch
    a_l = layer_l.forward(a_{l-1})            for l = 1..L
    L   = loss(y, a_L)            # mean over the batch
    d_L = dL/da_L = loss.gradient(y, a_L)
    d_{l-1} = layer_l.backward(d_l)           for l = L..1  (fills layer_l.grads)
    θ ← optimizer.update(θ, dL/dθ)

When the last layer is a softmax (sigmoid) and the loss is categorical /
sparse categorical (binary) cross-entropy on probabilities, Keras does not
differentiate through ``log(softmax(z))``: it notices the softmax and computes
the loss from the logits ``z`` (``softmax_cross_entropy_with_logits``), whose
gradient is :math:`\partial L/\partial z = (\mathrm{softmax}(z) - y)/N`. This model
does the same ("the fused gradient"): it evaluates the loss with
``from_logits=True`` on the last layer's pre-activation and feeds the gradient
into ``backward(dz, wrt_preactivation=True)``. Besides being cheaper, it is
exact where the probability path is clipped at 1e-7 (see ``scratchnet.losses``).

Batch gradient descent (``optimizer="gd"``): ``fit`` then computes the exact
full-data gradient :math:`\nabla \frac{1}{N}\sum_{n} \ell_n` each epoch, accumulated
over chunks of ``batch_size`` samples (chunk means weighted by ``n_c / N``), and
makes one update per epoch.
"""

from __future__ import annotations

import copy
import math
import sys

import numpy as np
from tqdm.auto import tqdm

from scratchnet import _checks, config, losses, metrics, optimizers, saving
from scratchnet import callbacks as callbacks_module
from scratchnet import layers as layers_module
from scratchnet.callbacks import History  # scratchnet.models.History, as before the move
from scratchnet.layers.base import shape_tuple


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the update that would have spread it was not applied."""


class Sequential:
    r"""A linear stack of layers, trained by backpropagation.

    ``Sequential(layers=None, name=None, seed=None)``: ``seed`` drives weight
    initialisation and, on separate streams, the dropout layers that were given
    no seed of their own, so the same seed gives the same initial weights bit for
    bit, with or without a Dropout in between.
    """

    def __init__(self, layers=None, name: str | None = None, seed: int | None = None):
        self.name = name or "sequential"
        self.seed = _checks.seed("seed", seed)
        self.layers: list = []
        self.built = False
        self.input_shape: tuple | None = None
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._metric_ids: list = []
        self._rng: np.random.Generator | None = None  # drives shuffling in fit
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    def add(self, layer) -> None:
        """Append a layer (anything derived from ``scratchnet.layers.Layer``)."""
        if not isinstance(layer, layers_module.Layer):
            raise TypeError(
                "Invalid type for argument layer. Expected a scratchnet.layers.Layer. "
                f"Received {type(layer).__name__}."
            )
        if self.built:
            raise ValueError("Cannot add a layer to a model that is already built.")
        self.layers.append(layer)

    def build(self, input_shape) -> None:
        """Create every layer's weights for samples of ``input_shape`` (without the batch dimension).

        The model seed is one ``np.random.SeedSequence``: the weights are drawn from
        it in layer order (the same bits as ``np.random.default_rng(seed)``), and each
        layer gets its own spawned child for what it draws while training
        (``seed_noise``), so a Dropout added or removed changes no initial weight.
        """
        if not self.layers:
            raise ValueError("Cannot build an empty Sequential model: add a layer first.")
        shape = shape_tuple("input_shape", input_shape)
        self.input_shape = shape
        seed_seq = np.random.SeedSequence(self.seed)
        rng = np.random.default_rng(seed_seq)  # weights
        for layer, noise_seq in zip(self.layers, seed_seq.spawn(len(self.layers)), strict=True):
            layer.seed_noise(noise_seq)  # dropout masks: a stream apart from the weights'
            if not layer.built:
                layer.build(shape, rng)
            shape = tuple(layer.compute_output_shape(shape))
        self.output_shape = shape
        self.built = True

    def _ensure_built(self, sample_shape=None) -> None:
        """Build from the first layer's declared ``input_shape`` (as Keras does), else from ``sample_shape``."""
        if self.built:
            return
        first = getattr(self.layers[0], "input_shape", None) if self.layers else None
        if first is not None or sample_shape is not None:
            self.build(first if first is not None else sample_shape)

    @property
    def dtype(self) -> np.dtype:
        if self.layers and getattr(self.layers[0], "dtype", None) is not None:
            return np.dtype(self.layers[0].dtype)
        return np.dtype(config.floatx())

    @property
    def weights(self) -> list[np.ndarray]:
        """The live parameter arrays of every layer, in Keras order."""
        self._ensure_built()
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every parameter array, layer by layer, Keras order ([kernel, bias], ...)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` (a list in ``get_weights`` order) into the model; all shapes are checked first."""
        self._ensure_built()
        if not self.built:
            raise ValueError(
                "The model is not built yet: call build(input_shape) or fit/predict first."
            )
        weights = list(weights)
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(
                f"Invalid value for argument weights. Expected a list of {len(current)} arrays. "
                f"Received {len(weights)} arrays."
            )
        for i, (new, old) in enumerate(zip(weights, current, strict=True)):
            if np.shape(new) != old.shape:
                raise ValueError(
                    f"Invalid value for argument weights. Expected weights[{i}] of shape {old.shape}. "
                    f"Received shape {np.shape(new)}."
                )
        for new, old in zip(weights, current, strict=True):
            np.copyto(old, np.asarray(new, dtype=old.dtype))

    def count_params(self) -> int:
        self._ensure_built()
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> str:
        """Print (and return) a table of layers, output shapes and parameter counts, as Keras does."""
        self._ensure_built()
        if not self.built:
            raise ValueError(
                "The model is not built yet: call build(input_shape) or fit/predict first."
            )
        rows = [("Layer (type)", "Output Shape", "Param #")]
        shape = self.input_shape
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    str((None, *shape)),
                    f"{layer.count_params():,}",
                )
            )
        widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(widths)
        out = [f'Model: "{self.name}"', line]
        for i, (a, b, c) in enumerate(rows):
            out.append(a.ljust(widths[0]) + b.ljust(widths[1]) + c.rjust(widths[2]))
            out.append("=" * sum(widths) if i == 0 else line)
        total = self.count_params()
        trainable = sum(layer.count_params() for layer in self.layers if layer.trainable)
        out += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
        """Choose the optimizer, the loss and the metrics (names or objects), as ``keras.Model.compile``."""
        if loss is None:
            raise ValueError(
                "Invalid value for argument loss. Expected a loss name or object. Received loss=None."
            )
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, dict)) or not isinstance(metrics, (list, tuple)):
            raise TypeError(
                f"Invalid type for argument metrics. Expected a list of metric names or objects. Received metrics={metrics!r}."
            )
        self._metric_ids = list(metrics)
        self._metrics = None  # resolved once the output shape is known
        self.compiled = True

    def _require_compiled(self) -> None:
        if not self.compiled:
            raise RuntimeError("You must call compile() before training or evaluating the model.")

    def _metric_objects(self) -> list:
        return self._metrics

    def _resolve_metrics(self, y_shape) -> None:
        """Turn metric names into objects once the target shape is known ("accuracy" depends on it, as in Keras)."""
        if self._metrics is None:
            self._metrics = [
                metrics.get(
                    m,
                    loss_name=self.loss.name,
                    output_shape=(None, *self.output_shape),
                    y_true_shape=y_shape,
                )
                for m in self._metric_ids
            ]

    def _logits_loss(self):
        """The from-logits twin of the loss when the last layer's activation is the one it fuses with (Keras' fused path)."""
        return self.loss.logits_twin(self.layers[-1].activation, len(self.output_shape))

    # ------------------------------------------------------------------ input checks
    def _check_x(self, x, name: str = "x") -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Invalid dtype for argument {name}. Expected a numeric array. Received an array of dtype {arr.dtype}."
            )
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise ValueError(
                f"Invalid value for argument {name}. Expected a non-empty batch of samples (at least 2 dimensions). "
                f"Received {name}.shape={arr.shape}."
            )
        if arr.dtype.kind == "f":
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            if bad:
                raise ValueError(
                    f"Invalid value for argument {name}. Expected finite values. Received {bad} NaN or Inf entries."
                )
        self._ensure_built(arr.shape[1:])
        if tuple(arr.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"Invalid value for argument {name}. Expected samples of shape {tuple(self.input_shape)} "
                f"(the model's input shape). Received {name}.shape={arr.shape}."
            )
        return arr.astype(self.dtype, copy=False)

    def _check_xy(self, x, y, xname="x", yname="y") -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, xname)
        if y is None:
            raise ValueError(
                f"Invalid value for argument {yname}. Expected target values. Received {yname}=None."
            )
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(
                f"Invalid dtype for argument {yname}. Expected a numeric array. Received an array of dtype {y.dtype}."
            )
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            raise ValueError(
                f"Invalid value for arguments {xname} and {yname}. Expected the same number of samples. "
                f"Received {xname}.shape={x.shape} and {yname}.shape={y.shape}."
            )
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(
                f"Invalid value for argument {yname}. Expected finite values. Received NaN or Inf entries."
            )
        self.loss.check_targets(y, self.output_shape)
        self._resolve_metrics(y.shape)
        return x, y

    # ------------------------------------------------------------------ the math of one batch
    def _forward(self, x, training: bool) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _batch_loss(self, y, out, logits_loss) -> float:
        if logits_loss is not None:
            return float(logits_loss(y, self.layers[-1].preactivation))
        return float(self.loss(y, out))

    def _backward(self, y, out, logits_loss) -> None:
        r"""Backpropagate the batch loss through every layer; fills each ``layer.grads``.

        With :math:`a_l = f_l(a_{l-1}; θ_l)` and :math:`d_l = \partial L/\partial a_l`:

        .. math:: d_{l-1} = J_{f_l}(a_{l-1})^\top d_l, \qquad
                  \partial L/\partial θ_l = J_{θ_l}^\top d_l

        (each layer's ``backward(d_l)`` returns :math:`d_{l-1}` and fills its
        ``grads``). The fused path starts one step earlier, at the last layer's
        pre-activation: :math:`dz = (\mathrm{softmax}(z) - y)/N` (N, classes),
        or :math:`(σ(z) - y)/(N·K)` for sigmoid + binary cross-entropy.

        :math:`d_0 = \partial L/\partial x` is never used, so a first layer that
        ``skips_input_grad`` (Conv2D, Dense) is asked not to compute it
        (``input_grad=False``; every parameter gradient is the same bits).
        """
        first, last = self.layers[0], self.layers[-1]

        def backward(layer, grad, **kwargs):
            if layer is first and layer.skips_input_grad:
                kwargs["input_grad"] = False
            return layer.backward(grad, **kwargs)

        if logits_loss is not None:
            dz = logits_loss.gradient(y, last.preactivation)  # (N, classes): (softmax(z) - y) / N
            grad = backward(last, dz, wrt_preactivation=True)
        else:
            grad = backward(last, self.loss.gradient(y, out))  # (N, *output_shape)
        for layer in reversed(self.layers[:-1]):
            grad = backward(layer, grad)

    def _grads(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.grads]

    def compute_gradients(self, x, y, training: bool = False) -> tuple[float, list[np.ndarray]]:
        r"""The loss on ``(x, y)`` as one batch and its gradient w.r.t. every weight.

        .. math:: L = \frac{1}{N}\sum_{n=1}^{N} \ell(y_n, f(x_n; θ)), \qquad
                  g_k = \partial L / \partial θ_k

        computed by one forward and one backward pass (``_backward``: the chain
        rule layer by layer, fused softmax/sigmoid + cross-entropy as in ``fit``).
        ``x`` (N, *input_shape); returns ``(L, [g_0, g_1, ...])`` with ``g_k`` of
        ``get_weights()[k]``'s shape, as copies; no weight changes. ``training``
        switches dropout on (it then draws from the layers' generators).
        """
        self._require_compiled()
        x, y = self._check_xy(x, y)
        logits_loss = self._logits_loss()
        out = self._forward(x, training)
        loss = self._batch_loss(y, out, logits_loss)
        self._backward(y, out, logits_loss)
        return loss, [g.copy() for g in self._grads()]

    def _trainable_pairs(self, grads) -> list[tuple[np.ndarray, np.ndarray]]:
        """(gradient, weight) pairs of the trainable layers' weights (frozen layers keep theirs)."""
        trainable = [layer.trainable for layer in self.layers for _ in layer.weights]
        return [(g, w) for g, w, t in zip(grads, self.weights, trainable, strict=True) if t]

    def _gradients_finite(self, grads) -> bool:
        """True when every trainable gradient is finite: a finite loss can still have an overflowed gradient."""
        return all(np.all(np.isfinite(g)) for g, _ in self._trainable_pairs(grads))

    def _apply(self, grads, where: str, loss: float) -> None:
        """Hand the gradients of the trainable layers' weights to the optimizer, unless one is NaN/Inf."""
        if not self._gradients_finite(grads):
            raise TrainingDivergedError(
                f"A gradient became NaN or Inf {where} (loss {loss}); the update was not applied."
            )
        self.optimizer.apply_gradients(self._trainable_pairs(grads))

    # ------------------------------------------------------------------ training
    def fit(
        self,
        x=None,
        y=None,
        batch_size: int = 32,
        epochs: int = 1,
        verbose="auto",
        callbacks=None,
        validation_split: float = 0.0,
        validation_data=None,
        shuffle: bool = True,
        initial_epoch: int = 0,
        seed: int | None = None,
    ) -> History:
        r"""Train for ``epochs - initial_epoch`` epochs of mini-batch updates; returns a ``History``.

        Keras' semantics: ``validation_split`` takes the LAST fraction of the data
        (before shuffling); the epoch's ``loss`` is the sample-weighted mean of the
        batch losses seen while training; ``val_*`` are computed after the epoch.
        ``seed`` reseeds the shuffling generator; without it a model loaded from a
        checkpoint continues the saved generator, so resuming is bit-identical.
        A NaN/Inf loss or gradient stops training with ``TrainingDivergedError``
        (or quietly with ``TerminateOnNaN``) before the bad update is applied.
        """
        self._require_compiled()
        verbose = _verbosity(verbose)
        batch_size = _checks.positive_int("batch_size", batch_size)
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise _checks.invalid("epochs", "an integer >= 0", epochs)
        if (
            isinstance(initial_epoch, bool)
            or not isinstance(initial_epoch, int)
            or not 0 <= initial_epoch <= epochs
        ):
            raise _checks.invalid(
                "initial_epoch", f"an integer in [0, epochs={epochs}]", initial_epoch
            )
        split = _checks.unit_interval("validation_split", validation_split)
        x, y = self._check_xy(x, y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    "Invalid value for argument validation_data. Expected a tuple (x_val, y_val). "
                    f"Received {type(validation_data).__name__}."
                )
            val = self._check_xy(*validation_data, xname="x_val", yname="y_val")
        elif split > 0:
            cut = int(x.shape[0] * (1.0 - split))
            if cut == 0 or cut == x.shape[0]:
                raise _checks.invalid(
                    "validation_split",
                    f"a fraction that leaves samples on both sides of {x.shape[0]}",
                    validation_split,
                )
            x, y, val = x[:cut], y[:cut], (x[cut:], y[cut:])
        else:
            val = None

        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng()
        history = History()
        if (
            initial_epoch > 0
            and self.history is not None
            and len(self.history.epoch) == initial_epoch
        ):
            history.history = copy.deepcopy(
                self.history.history
            )  # resuming: continue the saved record
            history.epoch = list(self.history.epoch)
        self.history = history
        cbs = [*(callbacks or []), history]
        for cb in cbs:
            if not isinstance(cb, callbacks_module.Callback):
                raise TypeError(
                    f"Invalid type for argument callbacks. Expected Callback objects. Received {type(cb).__name__}."
                )
            cb.set_model(self)
            cb.set_params(
                {
                    "epochs": epochs,
                    "batch_size": batch_size,
                    "verbose": verbose,
                    "samples": x.shape[0],
                }
            )
        terminate_on_nan = any(isinstance(cb, callbacks_module.TerminateOnNaN) for cb in cbs)

        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin({})
        logs: dict = {}
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            if isinstance(self.optimizer, optimizers.GradientDescent):
                logs = self._full_batch_epoch(x, y, batch_size, epoch, cbs, terminate_on_nan)
            else:
                logs = self._minibatch_epoch(
                    x, y, batch_size, shuffle, epoch, epochs, verbose, cbs, terminate_on_nan
                )
            if self.stop_training and "loss" not in logs:
                break
            if val is not None:
                val_results = self._evaluate_arrays(*val, batch_size)
                logs.update({f"val_{k}": v for k, v in val_results.items()})
            if verbose == 2 or (
                verbose == 1 and isinstance(self.optimizer, optimizers.GradientDescent)
            ):
                print(
                    f"Epoch {epoch + 1}/{epochs} - "
                    + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
                )
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for cb in cbs:
            cb.on_train_end(logs)
        return history

    def _diverged(
        self, loss: float, epoch: int, batch: int, cbs, terminate_on_nan: bool, gradient=False
    ) -> bool:
        """React to a non-finite batch loss (or gradient): stop quietly under TerminateOnNaN, else raise."""
        for cb in cbs:
            cb.on_train_batch_end(batch, {"loss": loss})
        if terminate_on_nan:
            self.stop_training = True
            return True
        what = f"A gradient became NaN or Inf (loss {loss})" if gradient else f"Loss became {loss}"
        raise TrainingDivergedError(
            f"{what} at epoch {epoch + 1}, batch {batch}; training stopped before applying the "
            "update, so the weights are those of the last finite step."
        )

    def _minibatch_epoch(
        self, x, y, batch_size, shuffle, epoch, epochs, verbose, cbs, terminate_on_nan
    ) -> dict:
        r"""One epoch of mini-batch updates over a fresh permutation (the last batch may be smaller).

        For batch b of :math:`n_b` samples: forward, :math:`L_b`, backward,
        :math:`θ ← \mathrm{update}(θ, \nabla_θ L_b)`. The epoch's ``loss`` is
        :math:`\sum_b n_b L_b / \sum_b n_b`, each :math:`L_b` taken before its
        update (Keras' running mean); metrics accumulate over the same outputs.
        """
        n = x.shape[0]
        order = self._rng.permutation(n) if shuffle else np.arange(n)
        steps = math.ceil(n / batch_size)
        logits_loss = self._logits_loss()
        metric_objs = self._metric_objects()
        for m in metric_objs:
            m.reset_state()
        total, seen = 0.0, 0
        bar = tqdm(
            total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", disable=verbose != 1,
            file=sys.stdout, leave=True, dynamic_ncols=True, mininterval=0.5,
        )  # fmt: skip
        with bar:
            for step in range(steps):
                idx = order[step * batch_size : (step + 1) * batch_size]
                xb, yb = x[idx], y[idx]
                for cb in cbs:
                    cb.on_train_batch_begin(step, {})
                out = self._forward(xb, training=True)
                loss = self._batch_loss(yb, out, logits_loss)
                if not math.isfinite(loss):
                    self._diverged(loss, epoch, step, cbs, terminate_on_nan)
                    return {}
                self._backward(yb, out, logits_loss)
                grads = self._grads()
                if not self._gradients_finite(grads):
                    self._diverged(loss, epoch, step, cbs, terminate_on_nan, gradient=True)
                    return {}
                self._apply(grads, f"at epoch {epoch + 1}, batch {step}", loss)
                total += loss * len(idx)
                seen += len(idx)
                for m in metric_objs:
                    m.update_state(yb, out)
                logs = {"loss": total / seen}
                for cb in cbs:
                    cb.on_train_batch_end(step, logs)
                bar.update(1)
                if step % 20 == 0 or step == steps - 1:
                    bar.set_postfix(
                        {
                            "loss": f"{total / seen:.4f}",
                            **{m.name: f"{m.result():.4f}" for m in metric_objs},
                        }
                    )
                if self.stop_training:
                    break
        return {"loss": total / seen, **{m.name: float(m.result()) for m in metric_objs}}

    def _full_batch_epoch(self, x, y, batch_size, epoch, cbs, terminate_on_nan) -> dict:
        r"""One step of batch gradient descent on the exact full-data gradient.

        Chunk c holds :math:`n_c` samples (``batch_size``, the last one fewer);
        :math:`L_c` is its mean loss. The full-data mean loss and its gradient are
        the chunk means weighted by size:

        .. math:: L = \frac{1}{N}\sum_n \ell_n = \sum_c \frac{n_c}{N} L_c, \qquad
                  \nabla_θ L = \sum_c \frac{n_c}{N} \nabla_θ L_c

        so memory is bounded by one chunk, and ``θ ← θ - η ∇_θ L`` is applied once,
        after every chunk, as one optimizer step (one batch-end callback, batch 0).
        """
        n = x.shape[0]
        logits_loss = self._logits_loss()
        metric_objs = self._metric_objects()
        for m in metric_objs:
            m.reset_state()
        for cb in cbs:
            cb.on_train_batch_begin(0, {})
        total = 0.0
        grads = [np.zeros_like(w) for w in self.weights]
        for start in range(0, n, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            weight = xb.shape[0] / n
            out = self._forward(xb, training=True)
            total += weight * self._batch_loss(yb, out, logits_loss)
            self._backward(yb, out, logits_loss)
            for acc, g in zip(grads, self._grads(), strict=True):
                acc += (weight * g).astype(acc.dtype, copy=False)
            for m in metric_objs:
                m.update_state(yb, out)
        if not math.isfinite(total):
            self._diverged(total, epoch, 0, cbs, terminate_on_nan)
            return {}
        if not self._gradients_finite(grads):
            self._diverged(total, epoch, 0, cbs, terminate_on_nan, gradient=True)
            return {}
        self._apply(grads, f"at epoch {epoch + 1}", total)
        logs = {"loss": total, **{m.name: float(m.result()) for m in metric_objs}}
        for cb in cbs:
            cb.on_train_batch_end(0, {"loss": total})
        return logs

    def train_on_batch(self, x, y):
        """One update on the batch ``(x, y)``; returns the loss (and metrics, as a list, when compiled with some)."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        logits_loss = self._logits_loss()
        out = self._forward(x, training=True)
        loss = self._batch_loss(y, out, logits_loss)
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"Loss became {loss} in train_on_batch; the update was not applied."
            )
        self._backward(y, out, logits_loss)
        self._apply(self._grads(), "in train_on_batch", loss)
        return self._result_list(loss, y, out)

    def test_on_batch(self, x, y):
        """The loss (and metrics) on one batch, in inference mode; no update."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        out = self._forward(x, training=False)
        return self._result_list(self._batch_loss(y, out, self._logits_loss()), y, out)

    def _result_list(self, loss, y, out):
        objs = self._metric_objects()
        if not objs:
            return loss
        results = [loss]
        for m in objs:
            m.reset_state()
            m.update_state(y, out)
            results.append(float(m.result()))
        return results

    # ------------------------------------------------------------------ inference
    def _evaluate_arrays(self, x, y, batch_size, verbose: int = 0) -> dict:
        logits_loss = self._logits_loss()
        metric_objs = self._metric_objects()
        for m in metric_objs:
            m.reset_state()
        total = 0.0
        starts = range(0, x.shape[0], batch_size)
        for start in tqdm(
            starts, desc="evaluate", unit="batch", disable=verbose != 1, file=sys.stdout
        ):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            out = self._forward(xb, training=False)
            total += self._batch_loss(yb, out, logits_loss) * xb.shape[0]
            for m in metric_objs:
                m.update_state(yb, out)
        return {"loss": total / x.shape[0], **{m.name: float(m.result()) for m in metric_objs}}

    def evaluate(
        self, x=None, y=None, batch_size: int = 32, verbose="auto", return_dict: bool = False
    ):
        """Loss and metrics over ``(x, y)`` in inference mode: a float, ``[loss, *metrics]``, or a dict."""
        self._require_compiled()
        verbose = _verbosity(verbose)
        batch_size = _checks.positive_int("batch_size", batch_size)
        x, y = self._check_xy(x, y)
        results = self._evaluate_arrays(x, y, batch_size, verbose)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int = 32, verbose="auto") -> np.ndarray:
        """The model's outputs for ``x``, computed in batches in inference mode."""
        verbose = _verbosity(verbose)
        batch_size = _checks.positive_int("batch_size", batch_size)
        x = self._check_x(x)
        starts = range(0, x.shape[0], batch_size)
        outs = [
            self._forward(x[s : s + batch_size], training=False)
            for s in tqdm(
                starts, desc="predict", unit="batch", disable=verbose != 1, file=sys.stdout
            )
        ]
        return np.concatenate(outs, axis=0)

    def __call__(self, x, training: bool = False) -> np.ndarray:
        return self._forward(self._check_x(x), training)

    # ------------------------------------------------------------------ configuration and files
    def get_config(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [layers_module.serialize(layer) for layer in self.layers],
        }

    @classmethod
    def from_config(cls, cfg: dict) -> Sequential:
        model = cls(
            [layers_module.deserialize(c) for c in cfg["layers"]],
            name=cfg.get("name"),
            seed=cfg.get("seed"),
        )
        if cfg.get("input_shape") is not None:
            model.build(tuple(cfg["input_shape"]))
        return model

    def save(self, path) -> None:
        """Save architecture, weights, compile settings, optimizer state, RNG states and history (``saving.save_model``)."""
        saving.save_model(self, path)

    def save_weights(self, path) -> None:
        """Save only the weights, Keras order (``saving.save_weights``)."""
        saving.save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by ``save_weights`` or ``save``; all are checked before any is set (``saving.load_weights``)."""
        saving.load_weights(self, path)


def _verbosity(verbose) -> int:
    """Keras' verbose: "auto" or 1 = progress bar, 2 = one line per epoch, 0 = silent."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise _checks.invalid("verbose", '0, 1, 2 or "auto"', verbose)
    return int(verbose)


load_model = saving.load_model  # scratchnet.models.load_model, as before the move
