r"""``Model`` (the functional API) and ``Sequential``: graphs of layers with Keras' compile / fit / evaluate / predict.

A ``Model`` is a directed acyclic graph of layer calls (``scratchnet.graph``):
``Model(inputs, outputs)`` takes the symbolic tensors of ``Input`` and of the
layers called on them. A ``Sequential`` is the same class with the graph a
chain, built once the input shape is known: ONE training loop (compile, fit,
evaluate, predict, train_on_batch, compute_gradients) serves both, as Keras'
``Sequential`` is a ``Model``. A model is itself usable as a layer (``forward``,
``backward``, ``weights``, ``grads``), so ``Sequential([model, Softmax()])`` works.

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

In a graph the forward pass visits the nodes in topological order and the
backward pass in the reverse order; a tensor that feeds several layers
receives the SUM of their input gradients (the multivariate chain rule).

Batch gradient descent (``optimizer="gd"``): ``fit`` then computes the exact
full-data gradient :math:`\nabla \frac{1}{N}\sum_{n} \ell_n` each epoch, accumulated
over chunks of ``batch_size`` samples (chunk means weighted by ``n_c / N``), and
makes one update per epoch.
"""

from __future__ import annotations

import collections
import copy
import math
import sys
import time
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from scratchnet import _checks, config, graph, losses, metrics, optimizers, saving, threads
from scratchnet import callbacks as callbacks_module
from scratchnet import layers as layers_module
from scratchnet.callbacks import History  # scratchnet.models.History, as before the move
from scratchnet.layers import base as layer_names
from scratchnet.layers import fused
from scratchnet.layers.base import shape_tuple
from scratchnet.layers.input_layer import InputLayer


class TrainingDivergedError(FloatingPointError):
    """The loss or a gradient became NaN or infinite; the update that would have spread it was not applied."""


class Model:
    r"""A graph of layers from ``inputs`` to ``outputs`` (Keras' functional API), trained by backpropagation.

    ::

        inputs = layers.Input(shape=(28, 28, 1))
        x = layers.Flatten()(inputs)
        a = layers.Dense(64, activation="relu")(x)
        b = layers.Dense(64, activation="relu")(x)
        outputs = layers.Dense(10, activation="softmax")(layers.Add()([a, b]))
        model = Model(inputs, outputs, seed=0)

    ``inputs``/``outputs``: one symbolic tensor or a list (several inputs; several
    outputs for ``predict`` only: ``fit``/``evaluate`` train one output). Each layer
    may be called once per model (no shared layers) and layer names are unique.
    ``seed`` drives weight initialisation in topological order, and the
    per-layer noise streams (dropout), as in ``Sequential``.
    """

    skips_input_grad = False  # as a layer: the model's input gradient is always computed
    rng = None  # as a layer: a nested model's dropout generators live in its own layers

    def __init__(self, inputs=None, outputs=None, name: str | None = None, seed: int | None = None):
        if inputs is None or outputs is None:
            raise TypeError(
                "Invalid value for arguments inputs and outputs. Expected Model(inputs, outputs) with the "
                "symbolic tensors of layers.Input and of the layers called on them (subclassing "
                "Model with a call() method is not supported). "
                f"Received inputs={inputs!r}, outputs={outputs!r}."
            )
        self._init_state(name or _default_name("functional"), seed)
        self._multi_input = isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        ins = list(inputs) if self._multi_input else [inputs]
        outs = list(outputs) if self._multi_output else [outputs]
        for arg, tensors in (("inputs", ins), ("outputs", outs)):
            if not tensors or not all(isinstance(t, graph.SymbolicTensor) for t in tensors):
                raise _checks.invalid_type(
                    arg,
                    "a symbolic tensor (layers.Input, or a layer called on one) or a list of them",
                    inputs if arg == "inputs" else outputs,
                )
        for t in ins:
            if not isinstance(t.node.layer, InputLayer):
                raise _checks.invalid(
                    "inputs", "tensors made by layers.Input (not by another layer)", t
                )
        self._set_graph(ins, outs)
        self._build_nodes(None)

    def _init_state(self, name, seed) -> None:
        """What every model holds before it is built and compiled."""
        self.name = _checks.non_empty_string("name", name)
        self.seed = _checks.seed("seed", seed)
        if self.seed is None:
            self.seed = config.next_seed()  # None unless utils.set_random_seed was called
        self.trainable = True
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._metric_ids: list = []
        self._metrics = None
        self._rng: np.random.Generator | None = None  # drives shuffling in fit
        self._multi_input = self._multi_output = False
        self._fused_steps = None  # (nodes, their steps with fused pairs): _steps
        self._steps_run = None  # the steps of the latest _forward, for _graph_backward
        self._inner = (None, set())  # (steps, ids of those that need no private copy): _inner_steps
        self._threads = threads.ThreadChooser()  # BLAS's threads or one, by step time (threads.py)

    # ------------------------------------------------------------------ the graph
    def _set_graph(self, inputs, outputs) -> None:
        """Order the nodes between ``inputs`` and ``outputs`` (``graph.topological_nodes``) and check them."""
        nodes = graph.topological_nodes(inputs, outputs)
        seen: dict[str, object] = {}
        for node in nodes:
            other = seen.setdefault(node.layer.name, node.layer)
            if other is node.layer and sum(n.layer is node.layer for n in nodes) > 1:
                raise ValueError(
                    f"Invalid value for argument outputs. Layer {node.layer.name!r} is called more "
                    "than once in this model; shared layers are not supported (each call needs its "
                    "own forward cache). Use a second layer."
                )
            if other is not node.layer:
                raise ValueError(
                    f"Invalid value for argument outputs. Two layers are named {node.layer.name!r}; "
                    "layer names must be unique within a model."
                )
        self._inputs, self._outputs, self._nodes = list(inputs), list(outputs), nodes
        shapes_in = [t.shape[1:] for t in inputs]
        shapes_out = [t.shape[1:] for t in outputs]
        self.input_shape = shapes_in if self._multi_input else shapes_in[0]
        self.output_shape = shapes_out if self._multi_output else shapes_out[0]
        if type(self) is Model:
            self.layers = [node.layer for node in nodes]  # Keras lists the InputLayers too

    def _build_nodes(self, rng) -> None:
        """Build every unbuilt layer in topological order from one seed, as ``Sequential`` always did.

        The model seed is one ``np.random.SeedSequence``: the weights are drawn from
        it in layer order (the same bits as ``np.random.default_rng(seed)``), and each
        layer gets its own spawned child for what it draws while training
        (``seed_noise``), so a Dropout added or removed changes no initial weight.
        ``rng`` (a model built as a layer of another) supplies the seed when the
        model has none of its own.
        """
        seed = self.seed
        if seed is None and rng is not None:
            seed = int(rng.integers(2**63))
        seed_seq = np.random.SeedSequence(seed)
        weight_rng = np.random.default_rng(seed_seq)  # weights
        nodes = [node for node in self._nodes if node.inputs]
        for node, noise_seq in zip(nodes, seed_seq.spawn(len(nodes)), strict=True):
            if not node.layer.built:
                shapes = [t.shape[1:] for t in node.inputs]
                node.layer.build(shapes if node.list_call else shapes[0], weight_rng)
            node.layer.seed_noise(noise_seq)  # dropout masks: a stream apart from the weights'
        self.built = True

    def _ensure_built(self, sample_shape=None) -> None:
        """A functional model is built when it is made; ``Sequential`` overrides this."""

    @property
    def inputs(self) -> list:
        """The model's input symbolic tensors."""
        self._ensure_built()
        return list(self._inputs) if self.built else []

    @property
    def outputs(self) -> list:
        """The model's output symbolic tensors."""
        self._ensure_built()
        return list(self._outputs) if self.built else []

    @property
    def _output_layer(self):
        return self._outputs[0].node.layer

    def get_layer(self, name: str):
        """The layer called ``name`` (Keras' ``get_layer``)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise _checks.invalid("name", f"one of {[layer.name for layer in self.layers]}", name)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._inputs[0].dtype)

    # ------------------------------------------------------------------ weights
    @property
    def weights(self) -> list[np.ndarray]:
        """The live parameter arrays of every layer, layer by layer, in Keras order."""
        self._ensure_built()
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights the optimizer updates: those of trainable layers, never BN's moving statistics."""
        if not self.trainable:
            return []
        self._ensure_built()
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def grads(self) -> list[np.ndarray]:
        """As a layer: the latest gradient of every weight, aligned with ``weights``."""
        return [g for layer in self.layers for g in layer.grads]

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
        if not self.built:
            raise ValueError(
                f"Model {self.name!r} is not built, so it has no weights to count yet. "
                "Call build(input_shape) first."
            )
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length=None, positions=None, print_fn=None) -> None:
        """Print a table of layers, output shapes and parameter counts, as Keras does; returns None.

        ``line_length`` (default 88, 108 with a "Connected to" column for a
        functional model) and ``positions`` (the right end of each column, as
        fractions of the line when all are <= 1, else in characters) as Keras'.
        ``print_fn(text)`` receives the whole table (default ``print``).
        """
        self._ensure_built()
        if not self.built:
            raise ValueError(
                "The model is not built yet: call build(input_shape) or fit/predict first."
            )
        functional = type(self) is not Sequential
        header = ["Layer (type)", "Output Shape", "Param #"] + (
            ["Connected to"] if functional else []
        )
        rows = []
        for node in self._nodes:
            if not node.inputs and not functional:
                continue  # Sequential does not list its InputLayer, as Keras
            row = [
                f"{node.layer.name} ({type(node.layer).__name__})",
                str(node.output.shape),
                f"{node.layer.count_params():,}",
            ]
            if functional:
                row.append(", ".join(t.node.layer.name for t in node.inputs) or "-")
            rows.append(row)
        line_length = _checks.positive_int(
            "line_length", line_length or (108 if functional else 88)
        )
        if positions is None:
            positions = [0.3, 0.6, 0.7, 1.0] if functional else [0.45, 0.8, 1.0]
        if not isinstance(positions, (list, tuple)) or len(positions) != len(header):
            raise _checks.invalid("positions", f"a list of {len(header)} column ends", positions)
        if all(p <= 1 for p in positions):
            positions = [int(line_length * p) for p in positions]
        ends = [int(p) for p in positions]
        widths = [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        if any(w < 1 for w in widths):
            raise _checks.invalid("positions", "increasing column ends", positions)

        def fmt(cells):
            out = ""
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                cell = cell if len(cell) < width else cell[: width - 2] + "…"
                out += cell.rjust(width - 3) + "   " if i == 2 else cell.ljust(width)
            return out.rstrip()

        total = self.count_params()
        trainable = sum(int(w.size) for w in self.trainable_weights)
        out = [f'Model: "{self.name}"', "=" * ends[-1], fmt(header), "=" * ends[-1]]
        for row in rows:
            out += [fmt(row), "-" * ends[-1]]
        out += [
            f"Total params: {total:,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}",
        ]
        (print_fn or print)("\n".join(out))

    # ------------------------------------------------------------------ as a layer
    def compute_output_shape(self, input_shape):
        """As a layer: the output shape for ``input_shape`` (which must be the model's)."""
        self._ensure_built(tuple(input_shape))
        if self._multi_input or self._multi_output:
            raise ValueError(
                f"Model {self.name!r} has several inputs or outputs; as a layer a model takes one "
                "input and gives one output."
            )
        if tuple(input_shape) != tuple(self.input_shape):
            raise _checks.invalid(
                "input_shape",
                f"{self.input_shape} (the input shape of model {self.name!r})",
                input_shape,
            )
        return tuple(self.output_shape)

    def weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """As a layer: the shapes of ``weights`` for ``input_shape``, in order (nothing is built)."""
        self.compute_output_shape(input_shape)  # the model's own errors for a bad shape
        if self.built:
            return [tuple(w.shape) for w in self.weights]
        shapes, shape = [], tuple(input_shape)
        for layer in self.layers:  # an unbuilt Sequential: its chain
            shapes += [tuple(s) for s in layer.weight_shapes(shape)]
            shape = tuple(layer.compute_output_shape(shape))
        return shapes

    def seed_noise(self, seed_seq: np.random.SeedSequence) -> None:
        """As a layer: each inner layer gets its own child of ``seed_seq`` for what it draws."""
        self._ensure_built()
        inner = [node.layer for node in self._nodes if node.inputs]
        for layer, child in zip(inner, seed_seq.spawn(len(inner)), strict=True):
            layer.seed_noise(child)

    @property
    def activation(self):
        """As a layer: the output layer's activation, so an outer model can fuse softmax + cross-entropy."""
        return self._output_layer.activation if self.built and not self._multi_output else None

    @property
    def preactivation(self):
        return self._output_layer.preactivation

    def forward(self, x, training=False) -> np.ndarray:
        """As a layer: the output for a batch ``x`` (one input, one output)."""
        return self._forward([x], training, fuse=False)[0]

    def backward(self, dy, wrt_preactivation=False) -> np.ndarray:
        """As a layer: ``dL/dx`` for the upstream ``dy``; fills every inner layer's ``grads``."""
        return self._graph_backward([dy], wrt_preactivation=wrt_preactivation)[0]

    def __call__(self, x, training: bool = False):
        """On symbolic tensors: a node in a bigger graph. On arrays: the model's output(s)."""
        if graph.is_symbolic(x):
            return graph.call_symbolic(self, x)
        outs = self._forward(self._check_x(x), training)
        return outs if self._multi_output else outs[0]

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
            hint = f" (write metrics=[{metrics!r}], a list)" if isinstance(metrics, str) else ""
            raise TypeError(
                "Invalid type for argument metrics. Expected a list of metric names or objects"
                f"{hint}. Received metrics={metrics!r}."
            )
        self._metric_ids = list(metrics)
        self._metrics = None  # resolved once the output shape is known
        self.compiled = True

    def _require_compiled(self) -> None:
        if not self.compiled:  # a ValueError, as Keras 3
            raise ValueError("You must call compile() before training or evaluating the model.")

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
        """The from-logits twin of the loss when the output layer's activation is the one it fuses with (Keras' fused path)."""
        return self.loss.logits_twin(self._output_layer.activation, len(self.output_shape))

    # ------------------------------------------------------------------ input checks
    def _check_x(self, x, name: str = "x") -> list[np.ndarray]:
        """``x`` as a list of arrays, one per model input, checked and cast to the model's dtype.

        As Keras does, a sample missing a trailing axis of size 1 gets it
        ((N, 28, 28) fed to a model declared for (28, 28, 1)), and an extra
        trailing axis of size 1 is dropped.
        """
        if self._multi_input:
            if not isinstance(x, (list, tuple)) or len(x) != len(self._inputs):
                raise _checks.invalid_received(
                    name,
                    f"a list of {len(self._inputs)} arrays (one per model input)",
                    f"{type(x).__name__}",
                )
            xs, names = list(x), [f"{name}[{i}]" for i in range(len(x))]
        else:
            xs, names = [x], [name]
        arrays = []
        for arr, arr_name in zip(xs, names, strict=True):
            arr = np.asarray(arr)
            if arr.dtype.kind not in "biuf":
                raise TypeError(
                    f"Invalid dtype for argument {arr_name}. Expected a numeric array. Received an array of dtype {arr.dtype}."
                )
            if arr.ndim < 2 or arr.shape[0] == 0:
                raise ValueError(
                    f"Invalid value for argument {arr_name}. Expected a non-empty batch of samples (at least 2 dimensions). "
                    f"Received {arr_name}.shape={arr.shape}."
                )
            if arr.dtype.kind == "f":
                bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
                if bad:
                    raise ValueError(
                        f"Invalid value for argument {arr_name}. Expected finite values. Received {bad} NaN or Inf entries."
                    )
            arrays.append(arr)
        self._ensure_built(arrays[0].shape[1:])
        expected = self.input_shape if self._multi_input else [self.input_shape]
        out = []
        for arr, arr_name, shape in zip(arrays, names, expected, strict=True):
            shape = tuple(shape)
            if arr.shape[1:] + (1,) == shape:
                arr = arr[..., None]  # Keras adds the missing channel axis
            elif arr.shape[1:] == shape + (1,):
                arr = arr[..., 0]
            if tuple(arr.shape[1:]) != shape:
                raise ValueError(
                    f"Invalid value for argument {arr_name}. Expected samples of shape {shape} "
                    f"(the model's input shape). Received {arr_name}.shape={np.shape(arr)}."
                )
            out.append(arr.astype(self.dtype, copy=False))
        if any(a.shape[0] != out[0].shape[0] for a in out):
            raise _checks.invalid_received(
                name, "inputs with one number of samples", str([a.shape for a in out])
            )
        return out

    def _check_xy(self, x, y, xname="x", yname="y") -> tuple[list[np.ndarray], np.ndarray]:
        if self._multi_output:
            raise ValueError(
                f"Model {self.name!r} has {len(self._outputs)} outputs: fit, evaluate and the other "
                "training methods take models with one output (predict works with several)."
            )
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
        if y.ndim == 0 or y.shape[0] != x[0].shape[0]:
            shape = x[0].shape if len(x) == 1 else [a.shape for a in x]
            raise ValueError(
                f"Invalid value for arguments {xname} and {yname}. Expected the same number of samples. "
                f"Received {xname}.shape={shape} and {yname}.shape={y.shape}."
            )
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError(
                f"Invalid value for argument {yname}. Expected finite values. Received NaN or Inf entries."
            )
        self.loss.check_targets(y, self.output_shape)
        self._resolve_metrics(y.shape)
        return x, y

    # ------------------------------------------------------------------ the math of one batch
    def _steps(self, fuse: bool) -> list:
        """The nodes in topological order; with ``fuse``, each Conv2D(relu)-MaxPooling2D pair as one step.

        A pair is fused (``layers/fused.py``: the same numbers with fewer passes
        over the convolution's output) when ``fused.fusable`` accepts it and the
        convolution's output feeds nothing but the pooling layer. The fused step
        stands where the pooling node stood and reads the convolution's inputs.
        """
        if not fuse:
            return self._nodes
        if self._fused_steps is None or self._fused_steps[0] is not self._nodes:
            self._fused_steps = (self._nodes, _fuse_pairs(self._nodes, self._outputs))
        return self._fused_steps[1]

    def _forward(self, xs: list[np.ndarray], training: bool, fuse: bool = True) -> list[np.ndarray]:
        """Every node in topological order; returns the outputs (a list, one per model output).

        ``fuse=False`` runs every layer on its own (``compute_gradients``, a model
        used as a layer): the layers then hold their caches and pre-activations.
        ``_graph_backward`` walks back through the same steps.
        """
        values = {id(t): x for t, x in zip(self._inputs, xs, strict=True)}
        self._steps_run = self._steps(fuse)
        inner = self._inner_steps()
        for node in self._steps_run:
            if not node.inputs:
                continue  # an InputLayer: its output is a model input, checked by _check_x
            args = [values[id(t)] for t in node.inputs]
            # arrays only this model's layers made and will not hand out: no private copy
            token = layer_names.GRAPH_OWNED_INPUTS.set(id(node) in inner)
            try:
                values[id(node.output)] = node.layer.forward(
                    args if node.list_call else args[0], training=training
                )
            finally:
                layer_names.GRAPH_OWNED_INPUTS.reset(token)
        return [values[id(t)] for t in self._outputs]

    def _inner_steps(self) -> set:
        """The ids of the steps (fused or not) that read only arrays of this model's layers that the
        caller never sees (neither a model input nor a model output), and whose own output is not a
        model output either (``layers.base.GRAPH_OWNED_INPUTS``)."""
        if self._inner[0] is not self._steps_run:
            outputs = {id(t) for t in self._outputs}
            shared = outputs | {id(t) for t in self._inputs}
            shared.update(id(n.output) for n in self._steps_run if not n.inputs)
            inner = {
                id(n)
                for n in self._steps_run
                if n.inputs
                and all(id(t) not in shared for t in n.inputs)
                and id(n.output) not in outputs
            }
            self._inner = (self._steps_run, inner)
        return self._inner[1]

    def _batch_loss(self, y, out, logits_loss) -> float:
        if logits_loss is not None:
            return float(logits_loss(y, self._output_layer.preactivation))
        return float(self.loss(y, out))

    def _backward(self, y, out, logits_loss) -> None:
        r"""Backpropagate the batch loss through every layer; fills each ``layer.grads``.

        With :math:`a_l = f_l(a_{l-1}; θ_l)` and :math:`d_l = \partial L/\partial a_l`:

        .. math:: d_{l-1} = J_{f_l}(a_{l-1})^\top d_l, \qquad
                  \partial L/\partial θ_l = J_{θ_l}^\top d_l

        (each layer's ``backward(d_l)`` returns :math:`d_{l-1}` and fills its
        ``grads``; in a graph, ``_graph_backward``). The fused path starts one
        step earlier, at the output layer's pre-activation:
        :math:`dz = (\mathrm{softmax}(z) - y)/N` (N, classes), or
        :math:`(σ(z) - y)/(N·K)` for sigmoid + binary cross-entropy.

        :math:`\partial L/\partial x` of the data is never used, so a layer fed by the
        model input that ``skips_input_grad`` (Conv2D, Dense) is asked not to
        compute it (``input_grad=False``; every parameter gradient is the same bits).
        """
        if logits_loss is not None:
            dz = logits_loss.gradient(y, self._output_layer.preactivation)  # (softmax(z) - y) / N
            self._graph_backward([dz], wrt_preactivation=True, input_grad=False)
        else:
            self._graph_backward([self.loss.gradient(y, out)], input_grad=False)

    def _graph_backward(self, output_grads, wrt_preactivation=False, input_grad=True) -> list:
        r"""Reverse-mode through the graph: the gradient w.r.t. each model input (None if skipped).

        Nodes in reverse topological order: node k receives
        :math:`\bar y_k = \partial L/\partial y_k`, the SUM over its consumers c of
        what they sent back (:math:`\partial L/\partial y_k = \sum_c J_{c}^\top \bar y_c`,
        the multivariate chain rule; in a chain there is one consumer), calls
        ``backward`` and sends each input its share (a merge layer returns a list).
        """
        grads: dict[int, np.ndarray] = {}

        def send(t, g):
            grads[id(t)] = g if id(t) not in grads else grads[id(t)] + g  # a new array: no aliasing

        for t, g in zip(self._outputs, output_grads, strict=True):
            send(t, g)
        for node in reversed(self._steps_run or self._nodes):
            if not node.inputs:
                continue  # an InputLayer
            kwargs = {}
            if wrt_preactivation and node.output is self._outputs[0]:
                kwargs["wrt_preactivation"] = True
            skip = (
                not input_grad
                and node.layer.skips_input_grad
                and all(not t.node.inputs for t in node.inputs)
            )
            if skip:
                kwargs["input_grad"] = False
            dx = node.layer.backward(grads.pop(id(node.output)), **kwargs)
            if not skip:
                for t, d in zip(node.inputs, dx if node.list_call else [dx], strict=True):
                    send(t, d)
        return [grads.get(id(t)) for t in self._inputs]

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
        # the layers one by one, so each keeps its cache and pre-activation
        out = self._forward(x, training, fuse=False)[0]
        loss = self._batch_loss(y, out, logits_loss)
        self._backward(y, out, logits_loss)
        return loss, [g.copy() for g in self._grads()]

    def _trainable_pairs(self, grads) -> list[tuple[np.ndarray, np.ndarray]]:
        """(gradient, weight) pairs of the trainable weights (frozen layers and BN's moving statistics keep theirs)."""
        trainable = {id(w) for w in self.trainable_weights}
        return [(g, w) for g, w in zip(grads, self.weights, strict=True) if id(w) in trainable]

    def _gradients_finite(self, grads) -> bool:
        """True when every trainable gradient is finite: a finite loss can still have an overflowed gradient."""
        return all(np.all(np.isfinite(g)) for g, _ in self._trainable_pairs(grads))

    def _apply(self, grads, where: str, loss: float) -> None:
        """Hand the gradients of the trainable layers' weights to the optimizer, unless one is NaN/Inf."""
        if not self._gradients_finite(grads):
            raise TrainingDivergedError(
                f"A gradient became NaN or Inf {where} (loss {loss}); the update was not applied."
            )
        self._update(grads)

    def _update(self, grads) -> None:
        """The optimizer step on the trainable weights; the caller has checked that every gradient is finite."""
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
        seed = _checks.seed("seed", seed)
        x, y = self._check_xy(x, y)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(
                    "Invalid value for argument validation_data. Expected a tuple (x_val, y_val). "
                    f"Received {type(validation_data).__name__}."
                )
            val = self._check_xy(*validation_data, xname="x_val", yname="y_val")
        elif split > 0:
            n = x[0].shape[0]
            cut = int(n * (1.0 - split))
            if cut == 0 or cut == n:
                raise _checks.invalid(
                    "validation_split",
                    f"a fraction that leaves samples on both sides of {n}",
                    validation_split,
                )
            val = ([a[cut:] for a in x], y[cut:])
            x, y = [a[:cut] for a in x], y[:cut]
        else:
            val = None

        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng(
                config.next_seed()
            )  # set_random_seed's stream, if set
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
                    "samples": x[0].shape[0],
                    "steps": math.ceil(x[0].shape[0] / batch_size),
                }
            )
        terminate_on_nan = any(isinstance(cb, callbacks_module.TerminateOnNaN) for cb in cbs)

        self.stop_training = False
        for cb in cbs:
            cb.on_train_begin({})
        logs: dict = {}
        full_batch = isinstance(self.optimizer, optimizers.GradientDescent)
        steps = 1 if full_batch else math.ceil(x[0].shape[0] / batch_size)
        for epoch in range(initial_epoch, epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            progress = _Progress(steps, verbose, f"Epoch {epoch + 1}/{epochs}")
            with progress:
                if full_batch:
                    logs = self._full_batch_epoch(x, y, batch_size, epoch, cbs, terminate_on_nan)
                    progress.update(1, logs)
                else:
                    logs = self._minibatch_epoch(
                        x, y, batch_size, shuffle, epoch, cbs, terminate_on_nan, progress
                    )
                if self.stop_training and "loss" not in logs:
                    break
                if val is not None:
                    val_results = self._evaluate_arrays(*val, batch_size)
                    logs.update({f"val_{k}": v for k, v in val_results.items()})
                progress.finish(logs)  # the bar's last line shows val_loss/val_* too, as Keras
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
        self, x, y, batch_size, shuffle, epoch, cbs, terminate_on_nan, progress
    ) -> dict:
        r"""One epoch of mini-batch updates over a fresh permutation (the last batch may be smaller).

        For batch b of :math:`n_b` samples: forward, :math:`L_b`, backward,
        :math:`θ ← \mathrm{update}(θ, \nabla_θ L_b)`. The epoch's ``loss`` is
        :math:`\sum_b n_b L_b / \sum_b n_b`, each :math:`L_b` taken before its
        update (Keras' running mean); metrics accumulate over the same outputs.
        """
        n = x[0].shape[0]
        order = self._rng.permutation(n) if shuffle else np.arange(n)
        steps = math.ceil(n / batch_size)
        logits_loss = self._logits_loss()
        metric_objs = self._metric_objects()
        for m in metric_objs:
            m.reset_state()
        total, seen = 0.0, 0
        with self._threads.loop("fit", batch_size) as blas_threads:
            for step in range(steps):
                idx = order[step * batch_size : (step + 1) * batch_size]
                xb, yb = [a[idx] for a in x], y[idx]
                for cb in cbs:
                    cb.on_train_batch_begin(step, {})
                out = self._forward(xb, training=True)[0]
                loss = self._batch_loss(yb, out, logits_loss)
                if not math.isfinite(loss):
                    self._diverged(loss, epoch, step, cbs, terminate_on_nan)
                    return {}
                self._backward(yb, out, logits_loss)
                grads = self._grads()
                if not self._gradients_finite(grads):
                    self._diverged(loss, epoch, step, cbs, terminate_on_nan, gradient=True)
                    return {}
                self._update(grads)  # finite: checked above
                total += loss * len(idx)
                seen += len(idx)
                for m in metric_objs:
                    m.update_state(yb, out)
                logs = {"loss": total / seen}
                for cb in cbs:
                    cb.on_train_batch_end(step, logs)
                progress.update(1, lambda t=total, k=seen: {"loss": t / k, **_results(metric_objs)})
                blas_threads.tick(
                    len(idx)
                )  # threads.py: the step's time decides the next's threads
                if self.stop_training:
                    break
        return {"loss": total / seen, **_results(metric_objs)}

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
        n = x[0].shape[0]
        logits_loss = self._logits_loss()
        metric_objs = self._metric_objects()
        for m in metric_objs:
            m.reset_state()
        for cb in cbs:
            cb.on_train_batch_begin(0, {})
        total = 0.0
        grads = [np.zeros_like(w) for w in self.weights]
        for start in range(0, n, batch_size):
            xb, yb = [a[start : start + batch_size] for a in x], y[start : start + batch_size]
            weight = yb.shape[0] / n
            out = self._forward(xb, training=True)[0]
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
        self._update(grads)  # finite: checked above
        logs = {"loss": total, **{m.name: float(m.result()) for m in metric_objs}}
        for cb in cbs:
            cb.on_train_batch_end(0, {"loss": total})
        return logs

    def train_on_batch(self, x, y):
        """One update on the batch ``(x, y)``; returns the loss (and metrics, as a list, when compiled with some)."""
        self._require_compiled()
        x, y = self._check_xy(x, y)
        logits_loss = self._logits_loss()
        out = self._forward(x, training=True)[0]
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
        out = self._forward(x, training=False)[0]
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
        n = x[0].shape[0]
        with (
            _Progress(math.ceil(n / batch_size), verbose, "evaluate") as progress,
            self._threads.loop("evaluate", batch_size) as blas_threads,
        ):
            for start in range(0, n, batch_size):
                xb, yb = [a[start : start + batch_size] for a in x], y[start : start + batch_size]
                out = self._forward(xb, training=False)[0]
                total += self._batch_loss(yb, out, logits_loss) * yb.shape[0]
                seen = start + yb.shape[0]
                for m in metric_objs:
                    m.update_state(yb, out)
                progress.update(1, lambda t=total, k=seen: {"loss": t / k, **_results(metric_objs)})
                blas_threads.tick(yb.shape[0])
            results = {"loss": total / n, **_results(metric_objs)}
            progress.finish(results)
        return results

    def evaluate(
        self, x=None, y=None, batch_size: int = 32, verbose="auto", return_dict: bool = False
    ):
        """Loss and metrics over ``(x, y)`` in inference mode: a float, ``[loss, *metrics]``, or a dict.

        ``verbose``: 1 ("auto") a progress bar whose last state shows the loss and
        metrics, 2 the one line Keras prints (``"4/4 - 0s - 2ms/step - loss: ... - accuracy: ..."``), 0 nothing.
        """
        self._require_compiled()
        verbose = _verbosity(verbose)
        batch_size = _checks.positive_int("batch_size", batch_size)
        x, y = self._check_xy(x, y)
        results = self._evaluate_arrays(x, y, batch_size, verbose)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size: int = 32, verbose="auto"):
        """The model's outputs for ``x``, computed in batches in inference mode (a list for several outputs)."""
        verbose = _verbosity(verbose)
        batch_size = _checks.positive_int("batch_size", batch_size)
        x = self._check_x(x)
        n = x[0].shape[0]
        outs = []
        with _Progress(math.ceil(n / batch_size), verbose, "predict") as progress:
            with self._threads.loop("predict", batch_size) as blas_threads:
                for s in range(0, n, batch_size):
                    outs.append(self._forward([a[s : s + batch_size] for a in x], training=False))
                    progress.update(1)
                    blas_threads.tick(outs[-1][0].shape[0])
            progress.finish({})
        joined = [np.concatenate(parts, axis=0) for parts in zip(*outs, strict=True)]
        return joined if self._multi_output else joined[0]

    # ------------------------------------------------------------------ configuration and files
    def get_config(self) -> dict:
        """The graph as JSON: each layer's ``serialize`` dict with the names of the layers feeding it."""
        return {
            "name": self.name,
            "seed": self.seed,
            "layers": [
                {
                    **layers_module.serialize(node.layer),
                    "inbound": [t.node.layer.name for t in node.inputs],
                    "list_call": node.list_call,
                }
                for node in self._nodes
            ],
            "inputs": [t.node.layer.name for t in self._inputs],
            "outputs": [t.node.layer.name for t in self._outputs],
            "multi_input": self._multi_input,
            "multi_output": self._multi_output,
        }

    @classmethod
    def from_config(cls, cfg: dict) -> Model:
        """Rebuild the graph of ``get_config`` by calling each new layer on its inbound tensors, in order."""
        tensors = {}
        for layer, entry in _config_layers(cfg):
            if isinstance(layer, InputLayer):
                tensors[layer.name] = layer.output
                continue
            args = [tensors[name] for name in entry["inbound"]]
            tensors[layer.name] = layer(args if entry["list_call"] else args[0])
        ins = [tensors[name] for name in cfg["inputs"]]
        outs = [tensors[name] for name in cfg["outputs"]]
        return cls(
            ins if cfg["multi_input"] else ins[0],
            outs if cfg["multi_output"] else outs[0],
            name=cfg.get("name"),
            seed=cfg.get("seed"),
        )

    def save(self, path) -> None:
        """Save architecture, weights, compile settings, optimizer state, RNG states and history (``saving.save_model``)."""
        saving.save_model(self, path)

    def save_weights(self, path) -> None:
        """Save only the weights, Keras order (``saving.save_weights``)."""
        saving.save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by ``save_weights`` or ``save``; all are checked before any is set (``saving.load_weights``).

        A model with a declared input shape that is not built yet is built first, as Keras does.
        """
        self._ensure_built()
        saving.load_weights(self, path)


class Sequential(Model):
    r"""A linear stack of layers: a ``Model`` whose graph is a chain, built once the input shape is known.

    ``Sequential(layers=None, name=None, seed=None)``: ``seed`` drives weight
    initialisation and, on separate streams, the dropout layers that were given
    no seed of their own, so the same seed gives the same initial weights bit for
    bit, with or without a Dropout in between.

    The input shape comes from ``layers.Input(shape=...)`` (or an ``InputLayer``)
    as the first element, from the first layer's ``input_shape=``, from
    ``build(input_shape)``, or from the first batch. As in Keras, ``model.layers``
    does not list the ``InputLayer``; ``add()`` after the model was built (or
    summarised) makes it rebuild on next use, keeping the weights of built layers.
    A ``Model`` (trained or not) is a layer like any other: ``Sequential([model, Softmax()])``.
    """

    def __init__(self, layers=None, name: str | None = None, seed: int | None = None):
        self._init_state(name or _default_name("sequential"), seed)
        self.layers: list = []
        self._input_layer: InputLayer | None = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer) -> None:
        """Append a layer (a ``scratchnet.layers.Layer`` or a ``Model``); ``Input(...)`` only first."""
        if isinstance(layer, graph.SymbolicTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self.layers or self._input_layer is not None:
                raise ValueError(
                    "Invalid value for argument layer. An Input or InputLayer can only be the first "
                    f"element of a Sequential model. Received {layer!r} after other layers."
                )
            self._input_layer = layer
            return
        if not isinstance(layer, (layers_module.Layer, Model)):
            raise TypeError(
                "Invalid type for argument layer. Expected a scratchnet.layers.Layer or a Model. "
                f"Received {type(layer).__name__}."
            )
        self.layers.append(layer)
        self.built = False  # Keras rebuilds on the next use; built layers keep their weights

    @property
    def dtype(self) -> np.dtype:
        if self._input_layer is not None:
            return self._input_layer.dtype
        if self.layers:
            return np.dtype(self.layers[0].dtype)
        return np.dtype(config.floatx())

    def _declared_input_shape(self):
        """The input shape the model states: its Input's, else its first layer's (a nested Sequential's own)."""
        if self._input_layer is not None:
            return self._input_layer.shape
        if not self.layers:
            return None
        first = self.layers[0]
        return first._declared_input_shape() if isinstance(first, Sequential) else first.input_shape

    def build(self, input_shape=None, rng=None) -> None:
        """Create every layer's weights for samples of ``input_shape`` (without the batch dimension).

        Without ``input_shape``: the declared one (``Input`` or the first layer's).
        ``rng`` (when the model is built as a layer of another) seeds a model that has no seed.
        """
        if not self.layers:
            raise ValueError("Cannot build an empty Sequential model: add a layer first.")
        if input_shape is None:
            input_shape = self._declared_input_shape()
            if input_shape is None:
                raise ValueError(
                    "Invalid value for argument input_shape. Expected the sample shape (the model "
                    "declares none: no Input and no input_shape on its first layer). Received None."
                )
        shape = shape_tuple("input_shape", input_shape)
        first = self._input_layer
        if first is not None and first.shape != shape:
            raise _checks.invalid(
                "input_shape", f"{first.shape} (declared by the model's Input)", shape
            )
        if first is None:
            first = InputLayer(shape=shape, dtype=self.dtype.name, name=f"{self.name}_input")
        x = first.output
        for layer in self.layers:
            x = graph.call_symbolic(layer, x)  # checks each layer's shape rules
        self._set_graph([first.output], [x])
        self._build_nodes(rng)

    def _ensure_built(self, sample_shape=None) -> None:
        """Build from the declared input shape (as Keras does), else from ``sample_shape``."""
        if self.built or not self.layers:
            return
        declared = self._declared_input_shape()
        if declared is not None or sample_shape is not None:
            self.build(declared if declared is not None else sample_shape)

    def compute_output_shape(self, input_shape):
        """As a layer: the chain of the layers' output shapes (nothing is built)."""
        if self.built:
            return super().compute_output_shape(input_shape)
        shape = shape_tuple("input_shape", input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

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


def functional_weight_shapes(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """``(layer name, shape)`` of every weight a ``Model.get_config()`` implies, in ``weights`` order.

    Nothing is built or drawn: the layers are constructed from their configs and
    the shapes flow through the graph by ``compute_output_shape`` (what a model
    file is checked against before any array is read).
    """
    shapes: dict[str, tuple] = {}
    out = []
    for layer, entry in _config_layers(config):
        if isinstance(layer, InputLayer):
            shapes[layer.name] = layer.shape
            continue
        inbound = [shapes[name] for name in entry["inbound"]]
        shape = inbound if entry["list_call"] else inbound[0]
        out += [(layer.name, tuple(s)) for s in layer.weight_shapes(shape)]
        shapes[layer.name] = tuple(layer.compute_output_shape(shape))
    return out


def _config_layers(config: dict):
    """``(layer, entry)`` for each entry of a ``Model.get_config()``, in its (topological) order.

    Each layer is constructed from its config, not built; ``entry`` holds its
    ``inbound`` layer names and ``list_call``.
    """
    for entry in config["layers"]:
        yield (
            layers_module.deserialize(
                {"class_name": entry["class_name"], "config": entry["config"]}
            ),
            entry,
        )


class _Step(NamedTuple):
    """A node-like step of ``Model._steps``: a fused pair (``layers/fused.py``) in its pooling node's place."""

    layer: object
    inputs: list
    output: object
    list_call: bool = False


def _fuse_pairs(nodes, outputs) -> list:
    """``nodes`` with each fusable Conv2D(relu)-MaxPooling2D pair replaced by one ``_Step``."""
    readers = collections.Counter(id(t) for node in nodes for t in node.inputs)
    readers.update(id(t) for t in outputs)
    producer = {id(node.output): node for node in nodes}
    fused_convs, steps = set(), []
    for node in nodes:
        first = producer.get(id(node.inputs[0])) if len(node.inputs) == 1 else None
        if (
            first is not None
            and readers[id(first.output)] == 1
            and len(first.inputs) == 1
            and fused.fusable(first.layer, node.layer)
        ):
            fused_convs.add(id(first))
            steps.append(
                _Step(fused.ConvReluMaxPool(first.layer, node.layer), first.inputs, node.output)
            )
        else:
            steps.append(node)
    return [s for s in steps if id(s) not in fused_convs]


def _default_name(base: str) -> str:
    """Keras' automatic model names: ``sequential``, ``sequential_1``, ... (``backend.clear_session`` restarts them)."""
    count = layer_names._NAME_COUNTS[base]
    layer_names._NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def _results(metric_objs) -> dict:
    return {m.name: float(m.result()) for m in metric_objs}


def _per_step(seconds: float) -> str:
    """Keras' time per step: ``2s/step``, ``18ms/step`` or ``900us/step``."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class _Progress:
    """What fit, evaluate and predict show, in Keras 3's verbosity levels.

    1: a tqdm bar, its postfix the running loss and metrics; its final state
    (``finish``) shows every log, ``val_loss``/``val_*`` included, as Keras'
    bar does at the end of an epoch. 2: one line at the end, as Keras prints
    (``"Epoch 1/5"`` then ``"32/32 - 1s - 18ms/step - loss: ... - val_loss: ..."``). 0: nothing.
    """

    def __init__(self, steps: int, verbose: int, desc: str):
        self.steps, self.verbose, self.desc = steps, verbose, desc
        self.done = 0
        self.start = self.shown = time.perf_counter()
        self.bar = None
        if verbose == 1:
            self.bar = tqdm(
                total=steps, desc=desc, unit="step", file=sys.stdout, leave=True,
                dynamic_ncols=True, mininterval=0.5,
            )  # fmt: skip

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

    def update(self, n: int, logs=None) -> None:
        """``n`` more steps; ``logs`` (a dict, or a function giving one) shown at most twice a second."""
        self.done += n
        if self.bar is None:
            return
        self.bar.update(n)
        now = time.perf_counter()
        if logs is not None and (now - self.shown >= 0.5 or self.done == self.steps):
            self.bar.set_postfix(_formatted(logs() if callable(logs) else logs), refresh=False)
            self.shown = now

    def finish(self, logs: dict) -> None:
        """The last state: every log on the bar (verbose 1) or Keras' one line (verbose 2)."""
        if self.bar is not None:
            if logs:
                self.bar.set_postfix(_formatted(logs), refresh=True)
        elif self.verbose == 2:
            elapsed = time.perf_counter() - self.start
            if self.desc.startswith("Epoch"):
                print(self.desc)
            line = f"{self.done}/{self.steps} - {elapsed:.0f}s - {_per_step(elapsed / max(self.done, 1))}"
            print(line + "".join(f" - {k}: {v:.4f}" for k, v in logs.items()))


def _formatted(logs: dict) -> dict:
    return {k: f"{v:.4f}" for k, v in logs.items()}


def _verbosity(verbose) -> int:
    """Keras' verbose: "auto" or 1 = progress bar, 2 = one line per epoch, 0 = silent."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise _checks.invalid("verbose", '0, 1, 2 or "auto"', verbose)
    return int(verbose)


load_model = saving.load_model  # scratchnet.models.load_model, as before the move
