"""scratchnet: a from-scratch NumPy deep-learning library written to be read.

Every formula is in the source, every gradient is derived by hand and checked
numerically, and every number is checked against Keras (see ``parity/``).
``import scratchnet`` needs NumPy and SciPy only; TensorFlow is imported lazily
by ``scratchnet.keras_io`` alone.
"""

from scratchnet import activations, config, gradcheck

__version__ = "0.1.0"

__all__ = ["activations", "config", "gradcheck"]
