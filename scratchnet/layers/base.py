r"""``Layer``: the short base every layer shares, and the input checks they use.

A layer is a forward/backward pair (CS231n's pattern):

* ``forward(x, training)`` computes the output and caches what the backward
  pass needs;
* ``backward(dy)`` takes the upstream gradient :math:`\partial L/\partial y`
  (shaped like the output), returns :math:`\partial L/\partial x` and fills
  ``grads`` with :math:`\partial L/\partial \theta` for every array of ``weights``.

The base holds only what is the same for every layer: name, dtype, declared
input shape, the weight list and its copies in and out, the config round trip,
and ``__call__`` (build on first use, then forward). The math is in the
subclasses.
"""

from __future__ import annotations

import collections
import contextvars
import re

import numpy as np

from scratchnet import _checks, activations, config, graph

# Set by Model._forward while a layer reads only arrays the model's own layers made and
# its output is not a model output: ``_inputs(private=True)`` then need not copy (the
# model never writes into those arrays and hands none of them to the caller).
GRAPH_OWNED_INPUTS = contextvars.ContextVar("scratchnet_graph_owned_inputs", default=False)

# How many layers of each snake-case class name were created: "dense", "dense_1", ...
_NAME_COUNTS: collections.Counter = collections.Counter()


def _snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``MaxPooling2D`` -> ``max_pooling2d``, ``LeakyReLU`` -> ``leaky_re_lu``."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_name(cls: type) -> str:
    """Keras' automatic layer names: the first Dense is ``dense``, the next ``dense_1``."""
    base = _snake_case(cls.__name__)
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


def shape_tuple(name: str, value) -> tuple[int, ...]:
    """A shape without the batch dimension: a tuple of positive ints (a bare int means ``(int,)``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise _checks.invalid(name, "a tuple of positive integers (without the batch size)", value)
    try:
        return tuple(_checks.positive_int(name, d) for d in value)
    except (TypeError, ValueError):
        raise _checks.invalid(
            name, "a tuple of positive integers (without the batch size)", value
        ) from None


class Layer:
    r"""What every layer has; subclasses write ``build``, ``forward``, ``backward``.

    Attributes:
        name: unique string (Keras' automatic names when ``name=None``).
        dtype: NumPy float dtype of weights and outputs (``floatx()`` by default).
            Inputs are cast to it, as Keras autocasts layer inputs.
        input_shape: shape without the batch dimension; declared in the
            constructor (``input_shape=``) or set by ``build``.
        built: whether ``build`` created the weights.
        trainable: whether an optimizer should update ``weights``.
        weights: the LIVE parameter arrays in Keras order (``[kernel, bias]``).
        grads: :math:`\partial L/\partial w` for each of ``weights``, same order
            and shapes, filled by ``backward``.

    What a model may ask of a layer, declared here (subclasses that can, say so):
        activation: the ``ActivationFunction`` :math:`\varphi` of a layer whose output
            is :math:`\varphi(z)` of a pre-activation it keeps in ``preactivation``;
            its ``backward(dz, wrt_preactivation=True)`` then takes
            :math:`\partial L/\partial z` directly (the fused softmax + cross-entropy).
            None for the others.
        skips_input_grad: True when ``backward(dy, input_grad=False)`` fills
            ``grads`` without computing :math:`dx` (and returns None); a model asks
            its first layer to, since nothing needs the gradient of the data.
        rng: the generator of a layer that draws in ``forward`` (``Dropout``), else
            None; ``seed_noise`` gives it one, and model files save its state.
    """

    activation = None
    skips_input_grad = False
    rng: np.random.Generator | None = None

    def __init__(self, *, input_shape=None, name=None, dtype=None, trainable=True):
        if name is None:
            name = _unique_name(type(self))
        if not isinstance(name, str) or not name or "/" in name:
            raise _checks.invalid("name", "a non-empty string without '/'", name)
        self.name = name
        self.dtype = config.resolve_dtype(dtype)
        self.input_shape = None if input_shape is None else shape_tuple("input_shape", input_shape)
        self.trainable = _checks.boolean("trainable", trainable)
        self.built = False
        self.weights: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self._cache = None  # what the latest forward pass left for backward

    # -- building -------------------------------------------------------------

    def build(self, input_shape, rng=None) -> None:
        """Create the weights for inputs of shape ``(N, *input_shape)``; ``rng`` draws them."""
        self._set_input_shape(input_shape)
        self._rng(rng)  # checked even where nothing is drawn
        self.built = True

    def seed_noise(self, seed_seq: np.random.SeedSequence) -> None:
        """A layer that draws in ``forward`` and was given no seed takes its generator from ``seed_seq``.

        A model passes each layer its own stream, spawned from the model seed
        apart from the stream that initialises the weights. Nothing to do here.
        """

    def _set_input_shape(self, input_shape) -> tuple[int, ...]:
        """Check ``input_shape`` (against the declared or built one, and by the layer's rules); record it."""
        shape = shape_tuple("input_shape", input_shape)
        if self.input_shape is not None and shape != self.input_shape:
            raise _checks.invalid(
                "input_shape",
                f"{self.input_shape} (declared or built before for layer {self.name!r})",
                shape,
            )
        self.compute_output_shape(shape)  # raises the layer's own errors for a bad shape
        self.input_shape = shape
        return shape

    @staticmethod
    def _rng(rng) -> np.random.Generator:
        if rng is None:
            return np.random.default_rng()
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f"Invalid type for argument rng. Expected an np.random.Generator or None. Received rng={rng!r}."
            )
        return rng

    def compute_output_shape(self, input_shape) -> tuple[int, ...]:
        """Output shape (without batch) for inputs of ``input_shape``; identity unless overridden."""
        return shape_tuple("input_shape", input_shape)

    def weight_shapes(self, input_shape) -> list[tuple[int, ...]]:
        """The shapes ``build(input_shape)`` would give ``weights``, in order, computed without building.

        Model files are checked against them before anything is allocated. A layer
        with weights must override this (none here).
        """
        self.compute_output_shape(input_shape)  # the layer's own errors for a bad shape
        return []

    # -- the passes -----------------------------------------------------------

    def __call__(self, x, training=False) -> np.ndarray:
        """Build from ``x.shape[1:]`` (default rng) on first use, then ``forward``.

        On symbolic inputs (``layers.Input``, the functional API) nothing is
        computed: the call is recorded and a new ``SymbolicTensor`` returned.
        """
        if graph.is_symbolic(x):
            return graph.call_symbolic(self, x)
        if not self.built:
            self.build(self._sample_shape(x))
        return self.forward(x, training=training)

    def _sample_shape(self, x):
        """The shape ``build`` needs from a batch ``x``: ``x.shape[1:]`` (a merge layer: one per input)."""
        return np.shape(x)[1:]

    def forward(self, x, training=False) -> np.ndarray:
        r"""The output :math:`y = f(x; \theta)` for a batch ``x`` (N, ...); caches what ``backward`` needs.

        ``training`` switches layers that behave differently while training (``Dropout``).
        """
        raise NotImplementedError

    def backward(self, dy) -> np.ndarray:
        r"""The VJP of the latest ``forward``: returns :math:`dx = J_x^\top dy` and fills ``grads``.

        ``dy`` = :math:`\partial L/\partial y` has the output's shape; ``dx`` the
        input's; ``grads[k]`` = :math:`\partial L/\partial` ``weights[k]`` (their shapes).
        """
        raise NotImplementedError

    def _inputs(
        self, x, check_last_axis: bool = False, check_shape: bool = False, private: bool = False
    ) -> np.ndarray:
        """``x`` as an array of ``self.dtype`` (a copy only if it must convert), checked against the build.

        The rank must be that of the built ``input_shape`` plus the batch axis;
        with ``check_last_axis`` the features/channels must match too, and with
        ``check_shape`` the whole shape after the batch axis (``Flatten``, whose
        output size depends on every axis). ``private``: the layer keeps the array
        for backward or hands it back as its output, so it must not share memory
        with the caller's ``x`` (copied only if it does, and not when the caller is
        a model passing one layer's output to the next: ``GRAPH_OWNED_INPUTS``).
        """
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built. Call build(input_shape) or call the layer "
                "on a batch (layer(x)) first."
            )
        given = x
        x = _checks.float_array("inputs", x, self.dtype)
        rank = len(self.input_shape) + 1
        if x.ndim != rank:
            raise _checks.invalid_received(
                "inputs",
                f"a {rank}-D array (batch first) for layer {self.name!r}",
                f"an array of shape {x.shape}",
            )
        if check_shape and x.shape[1:] != self.input_shape:
            raise _checks.invalid_received(
                "inputs",
                f"shape (N, {', '.join(map(str, self.input_shape))}) (layer {self.name!r} was built for "
                f"input_shape={self.input_shape})",
                f"an array of shape {x.shape}",
            )
        if check_last_axis and x.shape[-1] != self.input_shape[-1]:
            raise _checks.invalid_received(
                "inputs",
                f"last axis of size {self.input_shape[-1]} (layer {self.name!r} was built for "
                f"input_shape={self.input_shape})",
                f"an array of shape {x.shape}",
            )
        if (
            private
            and not GRAPH_OWNED_INPUTS.get()
            and isinstance(given, np.ndarray)
            and np.may_share_memory(x, given)
        ):
            x = x.copy()  # the caller's array stays the caller's
        return x

    def _cached(self):
        """What the latest ``forward`` cached for ``backward``."""
        if self._cache is None:
            raise RuntimeError(
                f"Layer {self.name!r}: backward() needs the cache of a forward() call; call forward first."
            )
        return self._cache

    def _upstream(self, dy, expected_shape) -> np.ndarray:
        """``dy`` as an array of ``self.dtype``, shaped like the latest output."""
        dy = _checks.float_array("dy", dy, self.dtype)
        if dy.shape != tuple(expected_shape):
            raise _checks.invalid_received(
                "dy",
                f"the shape of the latest output {tuple(expected_shape)}",
                f"an array of shape {dy.shape}",
            )
        return dy

    # -- weights --------------------------------------------------------------

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The live arrays an optimizer may update: all of ``weights`` when ``trainable``, else none."""
        return list(self.weights) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The live arrays no optimizer touches (a frozen layer's, BatchNormalization's moving statistics)."""
        return [] if self.trainable else list(self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of ``weights`` (Keras order)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Copy ``weights`` into the live arrays in place (``np.copyto``): array identity is kept.

        Everything is checked before anything is written: the count, then each shape.
        """
        weights = list(weights)
        if len(weights) != len(self.weights):
            state = "" if self.built else " (it is not built yet)"
            raise _checks.invalid_received(
                "weights",
                f"a list of {len(self.weights)} arrays for layer {self.name!r}{state}",
                f"a list of {len(weights)} arrays",
            )
        arrays = []
        for i, (new, live) in enumerate(zip(weights, self.weights, strict=True)):
            new = _checks.float_array(f"weights[{i}]", new, live.dtype)
            if new.shape != live.shape:
                raise _checks.invalid_received(
                    f"weights[{i}]",
                    f"shape {live.shape} for layer {self.name!r}",
                    f"an array of shape {new.shape}",
                )
            arrays.append(new)
        for new, live in zip(arrays, self.weights, strict=True):
            np.copyto(live, new)

    def count_params(self) -> int:
        """Number of scalars in ``weights`` (the layer must be built, as in Keras)."""
        if not self.built:
            raise ValueError(
                f"Layer {self.name!r} is not built, so it has no weights to count yet. "
                "Call build(input_shape) first."
            )
        return int(sum(w.size for w in self.weights))

    # -- config ---------------------------------------------------------------

    def get_config(self) -> dict:
        """JSON-able constructor arguments; subclasses add their own to this dict."""
        return {
            "name": self.name,
            "dtype": self.dtype.name,
            "trainable": self.trainable,
            "input_shape": self.input_shape,
        }

    @classmethod
    def from_config(cls, config: dict):
        """A new, unbuilt layer with the constructor arguments of ``get_config``."""
        return cls(**_checks.config_arguments(cls, config))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def activation_from_config(identifier) -> activations.ActivationFunction:
    """An activation from a name, an ``ActivationFunction``, ``None``, or ``activation_config``'s dict."""
    return activations.get(identifier)


def activation_config(act: activations.ActivationFunction):
    """An activation for ``get_config``: its name, or ``act.get_config()`` when a parameter is not the default."""
    return act.name if act.params == activations.get(act.name).params else act.get_config()
