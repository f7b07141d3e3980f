r"""Global numeric settings, named as in ``keras.config``.

scratchnet computes in float32 by default, like Keras. Every gradient check and
the float64 half of the parity suite switch to float64 with
``set_floatx("float64")`` (or a ``dtype=`` argument on a layer).

``epsilon()`` is Keras' fuzz factor (1e-7): the clipping bound of the
probability path of cross-entropy.
"""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_ALLOWED_FLOATX = ("float16", "float32", "float64")


def floatx() -> str:
    """The default float dtype name: ``"float32"`` unless changed."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float dtype (``"float16"``, ``"float32"`` or ``"float64"``)."""
    global _FLOATX
    if value not in _ALLOWED_FLOATX:
        raise ValueError(
            f"Invalid value for argument value. Expected one of {_ALLOWED_FLOATX}. "
            f"Received value={value!r}."
        )
    _FLOATX = value


def epsilon() -> float:
    """The fuzz factor Keras clips probabilities with (``1e-7``)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the fuzz factor; it must be a positive float."""
    global _EPSILON
    if not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(
            f"Invalid value for argument value. Expected a positive float. Received value={value!r}."
        )
    _EPSILON = float(value)


def resolve_dtype(dtype=None) -> np.dtype:
    """``dtype`` as a NumPy float dtype; ``None`` means ``floatx()``."""
    if dtype is None:
        return np.dtype(_FLOATX)
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in _ALLOWED_FLOATX:
        raise ValueError(
            f"Invalid value for argument dtype. Expected one of {_ALLOWED_FLOATX} or None. "
            f"Received dtype={dtype!r}."
        )
    return resolved
