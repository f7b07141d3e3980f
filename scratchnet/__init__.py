"""scratchnet: a from-scratch NumPy deep-learning library written to be read.

Every formula is in the source, every gradient is derived by hand and checked
numerically, and every number is checked against Keras (see ``parity/``).
``import scratchnet`` needs NumPy and SciPy only; TensorFlow is imported lazily
by ``scratchnet.keras_io`` alone.
"""

__version__ = "0.1.0"

from scratchnet import (  # noqa: E402  (the version first: models.save records it)
    activations,
    backend,
    callbacks,
    config,
    datasets,
    gradcheck,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    saving,
    utils,
)
from scratchnet.layers import Input  # noqa: E402
from scratchnet.models import Model, Sequential, load_model  # noqa: E402

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "callbacks",
    "config",
    "datasets",
    "gradcheck",
    "initializers",
    "layers",
    "load_model",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "saving",
    "utils",
]
