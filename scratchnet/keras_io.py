r"""Convert between scratchnet and Keras models (Sequential, functional, nested): architecture and weights.

::

    from scratchnet.keras_io import from_keras, to_keras
    keras_model = to_keras(model)        # same layers, same weights, same dtype
    model2 = from_keras(keras_model)     # and back: bit-identical weights, equal configs (seed aside)

Both directions copy the weights bit for bit; nothing is re-initialised. The
two libraries share their layouts (NHWC inputs, Conv2D kernels
``(kh, kw, in, out)``, Dense kernels ``(in, out)``, ``[kernel, bias]`` order,
channels-last Flatten), so no array is transposed on the way.

TensorFlow and Keras are imported inside the two functions only:
``import scratchnet`` (and ``import scratchnet.keras_io``) never imports them.

The layer table ``_CONVERTERS`` below is the whole mapping. What it refuses,
with a ``ValueError`` that names the layer: Keras layers scratchnet does not
have (``Conv1D``, ``LSTM``, ...); settings scratchnet does not
implement (``dilation_rate`` ≠ 1, ``groups`` ≠ 1, ``data_format="channels_first"``,
regularizers, constraints, mixed-precision dtype policies); activations and
initializers missing from scratchnet's name tables. Nothing is dropped silently.

Activations with non-default parameters (``leaky_relu`` with a slope other
than 0.2, ``gelu`` with ``approximate=True``, ``softmax`` on another axis)
become ``functools.partial(keras.activations.<name>, **params)`` on the Keras
side and are read back from the partial. Keras computes with them, but Keras'
own ``model.save`` cannot serialise a partial: save such a model with scratchnet.

Not carried: the scratchnet model's ``seed`` (it only drives weight
initialisation, and the weights travel; Keras models have no such seed), and
optimizer/compile state (compile the converted model yourself).
"""

from __future__ import annotations

import functools

import numpy as np

# scratchnet class name <-> Keras class name (the same names), and which
# constructor arguments each carries besides name, dtype and trainable.
_CONVERTERS: dict[str, tuple[str, ...]] = {
    "Dense": ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer"),
    "Conv2D": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
    ),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "Flatten": (),
    "Dropout": ("rate", "noise_shape", "seed"),
    "Activation": ("activation",),
    "LeakyReLU": ("negative_slope",),
    "Softmax": ("axis",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "ELU": ("alpha",),
    "PReLU": ("alpha_initializer", "shared_axes"),
    "BatchNormalization": (
        "axis",
        "momentum",
        "epsilon",
        "center",
        "scale",
        "beta_initializer",
        "gamma_initializer",
        "moving_mean_initializer",
        "moving_variance_initializer",
    ),
    "GlobalAveragePooling2D": ("keepdims",),
    "GlobalMaxPooling2D": ("keepdims",),
    "Rescaling": ("scale", "offset"),
    "Reshape": ("target_shape",),
    "Add": (),
    "Concatenate": ("axis",),
}

# Keras settings scratchnet does not implement: (argument, the value that is fine).
_KERAS_MUST_BE = {
    "data_format": "channels_last",
    "dilation_rate": (1, 1),
    "groups": 1,
    "kernel_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "kernel_constraint": None,
    "bias_constraint": None,
    "lora_rank": None,
    "beta_regularizer": None,
    "gamma_regularizer": None,
    "beta_constraint": None,
    "gamma_constraint": None,
    "alpha_regularizer": None,
    "alpha_constraint": None,
    "synchronized": False,
    "renorm": False,
}


def _unsupported(what: str) -> ValueError:
    return ValueError(
        f"Invalid value for argument keras_model. {what} scratchnet converts "
        f"{', '.join(sorted(_CONVERTERS))} (channels-last, no dilation, groups, regularizers "
        "or constraints)."
    )


# --- activations ----------------------------------------------------------------------------


def _activation_to_keras(act, keras):
    """scratchnet ``ActivationFunction`` -> a Keras activation: its name, or a partial when a
    parameter differs from the default (Keras' defaults are scratchnet's)."""
    from scratchnet import activations

    if act.params == activations.get(act.name).params:
        return act.name
    return functools.partial(keras.activations.get(act.name), **act.params)


def _activation_from_keras(fn, layer_name: str):
    """A Keras activation function (or partial) -> scratchnet's activation config (name or dict)."""
    from scratchnet import activations

    params = {}
    if isinstance(fn, functools.partial):
        params = dict(fn.keywords)
        fn = fn.func
    name = getattr(fn, "__name__", None)
    try:
        base = activations.get(name)
    except (ValueError, TypeError) as exc:
        raise _unsupported(
            f"Layer {layer_name!r} uses the activation {name or fn!r}, which scratchnet does not have."
        ) from exc
    return {"name": base.name, **params} if params else base.name


# --- initializers ---------------------------------------------------------------------------


def _initializer_to_keras(config: dict, keras):
    """scratchnet ``initializers.serialize`` dict -> a Keras initializer (same class names)."""
    return keras.initializers.get({"class_name": config["class_name"], "config": config["config"]})


def _initializer_from_keras(init, layer_name: str) -> dict:
    """A Keras initializer -> scratchnet's ``{"class_name", "config"}`` (seed must be None)."""
    from scratchnet import initializers

    config = dict(init.get_config())
    seed = config.pop("seed", None)
    if seed is not None:
        raise _unsupported(
            f"Layer {layer_name!r} has a seeded Keras initializer {type(init).__name__}"
            f"(seed={seed}); scratchnet initializers draw from an np.random.Generator instead."
        )
    for key in ("input_axes", "output_axes"):  # Keras 3.15's fan axes; None = the usual fans
        if config.get(key, None) is not None:
            raise _unsupported(
                f"Layer {layer_name!r} has an initializer with {key}={config[key]!r}."
            )
        config.pop(key, None)
    spec = {"class_name": type(init).__name__, "config": config}
    try:
        return initializers.serialize(initializers.get(spec))
    except (ValueError, TypeError) as exc:
        raise _unsupported(
            f"Layer {layer_name!r} uses the initializer {type(init).__name__} {config}, "
            "which scratchnet does not have."
        ) from exc


# --- the two directions ---------------------------------------------------------------------


def _layer_to_keras(layer, keras):
    """One scratchnet layer -> a new Keras layer with the same arguments (weights come later); a
    nested model -> its Keras model (``to_keras``, weights included)."""
    from scratchnet import layers as sn_layers
    from scratchnet.models import Model

    if isinstance(layer, Model):
        return to_keras(layer)
    class_name = type(layer).__name__
    if class_name not in _CONVERTERS or getattr(sn_layers, class_name) is not type(layer):
        raise TypeError(
            f"Invalid value for argument model. Layer {layer.name!r} is a {class_name}, "
            f"which has no Keras conversion (supported: {', '.join(sorted(_CONVERTERS))})."
        )
    config = layer.get_config()
    kwargs = {"name": layer.name, "dtype": layer.dtype.name, "trainable": layer.trainable}
    for key in _CONVERTERS[class_name]:
        value = config[key]
        if key == "activation":
            value = _activation_to_keras(layer.activation, keras)
        elif key.endswith("_initializer"):
            value = _initializer_to_keras(value, keras)
        kwargs[key] = value
    return getattr(keras.layers, class_name)(**kwargs)


def _copy_weights_to_keras(pairs) -> None:
    from scratchnet.models import Model

    for layer, keras_layer in pairs:
        if layer.weights and not isinstance(layer, Model):  # a nested model arrived with its own
            keras_layer.set_weights(layer.get_weights())


def to_keras(model):
    r"""A Keras model with ``model``'s layers (same names, arguments, dtypes) and weights.

    A ``Sequential`` becomes a ``keras.Sequential`` that starts with
    ``keras.Input(shape=model's input shape)``; a functional ``Model`` becomes a
    ``keras.Model`` with the same graph (each layer called on the Keras tensors of
    the layers feeding it); a model used as a layer becomes a nested Keras model.
    ``model`` must be built (its input shape known). Each layer receives the
    scratchnet layer's weights with ``set_weights`` (bit for bit, no
    transposes). Raises ``TypeError`` for anything but a scratchnet model.
    """
    import keras

    from scratchnet.layers import InputLayer
    from scratchnet.models import Model, Sequential

    if not isinstance(model, Model):
        raise TypeError(
            "Invalid type for argument model. Expected a scratchnet.models.Sequential or Model. "
            f"Received model={model!r}."
        )
    if not model.built:
        raise ValueError(
            "Invalid value for argument model. Expected a built model (call model.build(input_shape) "
            "or run it once). Received an unbuilt model."
        )
    if isinstance(model, Sequential):
        keras_layers = [_layer_to_keras(layer, keras) for layer in model.layers]
        keras_model = keras.Sequential(
            [keras.Input(shape=model.input_shape, dtype=model.dtype.name), *keras_layers],
            name=model.name,
        )
        _copy_weights_to_keras(zip(model.layers, keras_layers, strict=True))
        return keras_model
    tensors, pairs = {}, []
    for node in model._nodes:
        if isinstance(node.layer, InputLayer):
            tensors[id(node.output)] = keras.Input(
                shape=node.layer.shape, dtype=node.layer.dtype.name, name=node.layer.name
            )
            continue
        keras_layer = _layer_to_keras(node.layer, keras)
        args = [tensors[id(t)] for t in node.inputs]
        tensors[id(node.output)] = keras_layer(args if node.list_call else args[0])
        pairs.append((node.layer, keras_layer))
    ins = [tensors[id(t)] for t in model._inputs]
    outs = [tensors[id(t)] for t in model._outputs]
    keras_model = keras.Model(
        ins if model._multi_input else ins[0],
        outs if model._multi_output else outs[0],
        name=model.name,
    )
    _copy_weights_to_keras(pairs)
    return keras_model


def _keras_layer_config(layer) -> dict:
    """scratchnet constructor arguments for one Keras layer, or a ValueError saying why not."""
    class_name = type(layer).__name__
    if class_name not in _CONVERTERS:
        raise _unsupported(f"Layer {layer.name!r} is a Keras {class_name}.")
    policy = layer.dtype_policy
    if policy.compute_dtype != policy.variable_dtype:
        raise _unsupported(
            f"Layer {layer.name!r} uses the mixed dtype policy {policy.name!r}; "
            "scratchnet computes in one dtype."
        )
    # Attributes, not layer.get_config(): Keras cannot serialise a partial activation.
    for key, fine in _KERAS_MUST_BE.items():
        value = getattr(layer, key, fine)
        if isinstance(value, list):
            value = tuple(value)
        if value != fine:
            raise _unsupported(f"Layer {layer.name!r} sets {key}={value!r}.")
    config = {"name": layer.name, "dtype": policy.variable_dtype, "trainable": layer.trainable}
    for key in _CONVERTERS[class_name]:
        value = getattr(layer, key)
        if key == "activation":
            value = _activation_from_keras(value, layer.name)
        elif key.endswith("_initializer"):
            value = _initializer_from_keras(value, layer.name)
        elif isinstance(value, list):
            value = tuple(value)
        config[key] = value
    return config


def _layer_from_keras(keras_layer, keras):
    """One Keras layer -> a new scratchnet layer (no weights yet); a nested Keras model -> ``from_keras``."""
    from scratchnet import layers as sn_layers

    if isinstance(keras_layer, keras.Model):
        return from_keras(keras_layer)
    config = _keras_layer_config(keras_layer)
    return getattr(sn_layers, type(keras_layer).__name__)(**config)


def _copy_weights_from_keras(pairs) -> None:
    from scratchnet.models import Model

    for layer, keras_layer in pairs:
        weights = [np.asarray(w) for w in keras_layer.get_weights()]
        if weights and not isinstance(layer, Model):  # a nested model arrived with its own
            layer.set_weights(weights)


def from_keras(keras_model):
    r"""A built scratchnet model with ``keras_model``'s layers and weights.

    A built ``keras.Sequential`` becomes a ``Sequential``; a functional
    ``keras.Model`` becomes a ``Model`` with the same graph (each layer called
    once; Keras' shared layers are refused); a nested Keras model becomes a nested
    scratchnet model. Each layer is mapped by ``_CONVERTERS``; the weights are
    copied bit for bit (``get_weights`` → ``set_weights``), in the layer's dtype.
    Unsupported layers and settings raise a ``ValueError`` naming the layer.
    """
    import keras

    from scratchnet.layers import Input
    from scratchnet.models import Model, Sequential

    if not isinstance(keras_model, keras.Model):
        raise TypeError(
            "Invalid type for argument keras_model. Expected a keras.Sequential or a functional "
            f"keras.Model. Received keras_model={keras_model!r}."
        )
    if not keras_model.built or not keras_model.layers:
        raise ValueError(
            "Invalid value for argument keras_model. Expected a built keras.Sequential with "
            "at least one layer (start it with keras.Input(shape=...)). Received an unbuilt model."
        )
    if isinstance(keras_model, keras.Sequential):
        input_shape = tuple(keras_model.input_shape[1:])
        if any(d is None for d in input_shape):
            raise _unsupported(f"The input shape {input_shape} has an unknown dimension.")
        layers = [_layer_from_keras(layer, keras) for layer in keras_model.layers]
        model = Sequential(layers, name=keras_model.name)
        model.build(input_shape)
        _copy_weights_from_keras(zip(model.layers, keras_model.layers, strict=True))
        return model
    if type(keras_model).__name__ != "Functional":
        raise _unsupported(
            f"Model {keras_model.name!r} is a subclassed keras.Model ({type(keras_model).__name__})."
        )
    names = {layer.name for layer in keras_model.layers}
    tensors, pairs = {}, []
    for keras_layer in keras_model.layers:
        nodes = [
            n
            for n in keras_layer._inbound_nodes
            if all(t._keras_history.operation.name in names for t in n.input_tensors)
        ]
        if len(nodes) != 1:
            raise _unsupported(f"Layer {keras_layer.name!r} is called {len(nodes)} times (shared).")
        node = nodes[0]
        if type(keras_layer).__name__ == "InputLayer":
            shape = tuple(keras_layer.batch_shape[1:])
            if any(d is None for d in shape):
                raise _unsupported(f"The input shape {shape} has an unknown dimension.")
            tensors[keras_layer.name] = Input(
                shape=shape, dtype=keras_layer.dtype, name=keras_layer.name
            )
            continue
        layer = _layer_from_keras(keras_layer, keras)
        args = [tensors[t._keras_history.operation.name] for t in node.input_tensors]
        list_call = isinstance(node.arguments.args[0], (list, tuple))
        tensors[keras_layer.name] = layer(args if list_call else args[0])
        pairs.append((layer, keras_layer))
    ins = [tensors[t._keras_history.operation.name] for t in keras_model.inputs]
    outs = [tensors[t._keras_history.operation.name] for t in keras_model.outputs]
    model = Model(
        ins if len(ins) > 1 else ins[0], outs if len(outs) > 1 else outs[0], name=keras_model.name
    )
    _copy_weights_from_keras(pairs)
    return model
