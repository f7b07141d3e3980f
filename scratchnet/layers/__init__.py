r"""Layers: forward/backward pairs with hand-derived gradients, in Keras' layouts.

``from scratchnet.layers import Dense, Conv2D, ...``. Where things are:

* ``base.py``: ``Layer``, the short base (name, dtype, weights, config, ``__call__``);
* ``core.py``: ``Dense``, ``Activation``, ``LeakyReLU``, ``Dropout``, ``Flatten``;
* ``conv.py``: ``Conv2D``, with the loop reference convolution next to the
  im2col one, and the "valid"/"same" window arithmetic;
* ``pooling.py``: ``MaxPooling2D``, ``AveragePooling2D``, loop references next
  to the fast versions (``MaxPool2D``/``AvgPool2D`` are Keras' aliases);
* ``input_layer.py``: ``Input`` and ``InputLayer``;
* ``activation_layers.py``: ``Softmax``, ``ReLU``, ``ELU``, ``PReLU``;
* ``normalization.py``: ``BatchNormalization``;
* ``reshaping.py``: ``Reshape``, ``Rescaling``, ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``;
* ``merge.py``: ``Add``, ``Concatenate`` (several inputs).

Layer class names for ``serialize``/``deserialize`` live in one table, ``_LAYERS``.
"""

from __future__ import annotations

from scratchnet import _checks
from scratchnet.layers.activation_layers import ELU, PReLU, ReLU, Softmax
from scratchnet.layers.base import Layer
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.core import Activation, Dense, Dropout, Flatten, LeakyReLU
from scratchnet.layers.input_layer import Input, InputLayer
from scratchnet.layers.merge import Add, Concatenate
from scratchnet.layers.normalization import BatchNormalization
from scratchnet.layers.pooling import AveragePooling2D, MaxPooling2D
from scratchnet.layers.reshaping import (
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    Rescaling,
    Reshape,
)

# Keras' aliases: the same classes under a second name.
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D

# The one table of layer class names (Keras' names).
_LAYERS: dict[str, type[Layer]] = {
    "Dense": Dense,
    "Conv2D": Conv2D,
    "MaxPooling2D": MaxPooling2D,
    "AveragePooling2D": AveragePooling2D,
    "Flatten": Flatten,
    "Activation": Activation,
    "LeakyReLU": LeakyReLU,
    "Dropout": Dropout,
    "InputLayer": InputLayer,
    "Softmax": Softmax,
    "ReLU": ReLU,
    "ELU": ELU,
    "PReLU": PReLU,
    "BatchNormalization": BatchNormalization,
    "GlobalAveragePooling2D": GlobalAveragePooling2D,
    "GlobalMaxPooling2D": GlobalMaxPooling2D,
    "Rescaling": Rescaling,
    "Reshape": Reshape,
    "Add": Add,
    "Concatenate": Concatenate,
}


def _models() -> dict[str, type]:
    """The model classes, which are layers too (a model nested in another); ``models`` imports this package."""
    from scratchnet import models

    return {"Sequential": models.Sequential, "Model": models.Model}


def serialize(layer: Layer) -> dict:
    """``{"class_name": "Dense", "config": layer.get_config()}``; ``deserialize`` reads it back."""
    class_name = type(layer).__name__
    if {**_LAYERS, **_models()}.get(class_name) is not type(layer):
        raise TypeError(
            f"Invalid type for argument layer. Expected an instance of one of {sorted(_LAYERS)}. "
            f"Received layer={layer!r}."
        )
    return {"class_name": class_name, "config": layer.get_config()}


def deserialize(config: dict) -> Layer:
    """A new, unbuilt layer from ``serialize``'s dict."""
    if (
        not isinstance(config, dict)
        or set(config) != {"class_name", "config"}
        or not isinstance(config["config"], dict)
    ):
        raise _checks.invalid("config", 'a dict {"class_name": ..., "config": {...}}', config)
    cls = {**_LAYERS, **_models()}.get(config["class_name"])
    if cls is None:
        raise _checks.invalid("class_name", f"one of {sorted(_LAYERS)}", config["class_name"])
    return cls.from_config(config["config"])


__all__ = [
    "ELU",
    "Activation",
    "Add",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Concatenate",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "MaxPooling2D",
    "PReLU",
    "ReLU",
    "Rescaling",
    "Reshape",
    "Softmax",
    "deserialize",
    "serialize",
]
