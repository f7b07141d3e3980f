"""Argument checks shared by every module, so the same mistake gets the same message.

Every message follows Keras' form: it names the argument, says what was expected
and what was received, e.g.
``Invalid value for argument filters. Expected a strictly positive integer. Received filters=0.``
These are exceptions, never ``assert``: a user can cause them.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np


def invalid(name: str, expected: str, value) -> ValueError:
    """The ValueError for ``name=value`` when ``expected`` was expected."""
    return ValueError(
        f"Invalid value for argument {name}. Expected {expected}. Received {name}={value!r}."
    )


def invalid_received(name: str, expected: str, received: str) -> ValueError:
    """Like ``invalid``, for a value described in words (``"an array of shape (2, 3)"``)."""
    return ValueError(
        f"Invalid value for argument {name}. Expected {expected}. Received {received}."
    )


def invalid_type(name: str, expected: str, value) -> TypeError:
    """The TypeError for ``name=value`` of the wrong type."""
    return TypeError(
        f"Invalid type for argument {name}. Expected {expected}. "
        f"Received {name}={value!r} of type {type(value).__name__}."
    )


def boolean(name: str, value) -> bool:
    """``value`` as a bool; it must already be one (``1`` or ``"yes"`` are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise invalid_type(name, "a bool", value)
    return bool(value)


def non_empty_string(name: str, value) -> str:
    """``value``, which must be a non-empty ``str`` (names of layers, losses, optimizers)."""
    if not isinstance(value, str) or not value:
        raise invalid_type(name, "a non-empty string", value)
    return value


def axis(value, ndim: int, name: str = "axis") -> int:
    """``value`` as an axis of an array of rank ``ndim``: an int in [-ndim, ndim)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid_type(name, "an integer", value)
    if not -ndim <= value < ndim:
        raise ValueError(
            f"Invalid value for argument {name}. Expected an integer in [{-ndim}, {ndim}) "
            f"for an input of rank {ndim}. Received {name}={value!r}."
        )
    return int(value)


def positive_int(name: str, value) -> int:
    """``value`` as an int, which must be >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid_type(name, "an integer", value)
    if value < 1:
        raise invalid(name, "a strictly positive integer", value)
    return int(value)


def int_tuple(name: str, value, n: int = 2) -> tuple[int, ...]:
    """An int or a length-``n`` sequence of ints, each >= 1, as a tuple (``kernel_size``, ``strides``, ``pool_size``)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = (value,) * n
    elif isinstance(value, (tuple, list)) and len(value) == n:
        items = tuple(value)
    else:
        raise invalid(name, f"an integer or a tuple of {n} integers", value)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item < 1:
            raise invalid(name, f"strictly positive integers (an int or a tuple of {n})", value)
    return tuple(int(i) for i in items)


def seed(name: str, value) -> int | None:
    """A seed: None (fresh entropy) or an integer >= 0, as ``np.random.default_rng`` takes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise invalid(name, "None or a non-negative integer", value)
    return int(value)


def number(name: str, value) -> float:
    """``value`` as a finite Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid_type(name, "a real number", value)
    value = float(value)
    if not np.isfinite(value):
        raise invalid(name, "a finite number", value)
    return value


def positive_float(name: str, value) -> float:
    """A finite float > 0 (learning rates, epsilons)."""
    x = number(name, value)
    if x <= 0:
        raise invalid(name, "a strictly positive float", value)
    return x


def non_negative_float(name: str, value) -> float:
    """A finite float >= 0 (weight decay, label smoothing)."""
    x = number(name, value)
    if x < 0:
        raise invalid(name, "a float >= 0", value)
    return x


def unit_interval(name: str, value, *, closed_right: bool = False) -> float:
    """A float in [0, 1) (betas, rho, momentum) or, with ``closed_right``, [0, 1]."""
    x = number(name, value)
    ok = 0.0 <= x <= 1.0 if closed_right else 0.0 <= x < 1.0
    if not ok:
        raise invalid(name, "a float in [0, 1]" if closed_right else "a float in [0, 1)", value)
    return x


def one_of(name: str, value, choices) -> str:
    """``value`` lower-cased, which must be one of ``choices``."""
    if not isinstance(value, str) or value.lower() not in choices:
        raise invalid(name, f"one of {tuple(choices)}", value)
    return value.lower()


def numeric_array(name: str, value) -> np.ndarray:
    """``value`` as a bool, int or float array (``np.asarray``: no copy when it already is one)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(
            f"Invalid type for argument {name}. Expected a numeric array. Received {type(value).__name__}."
        ) from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Invalid dtype for argument {name}. Expected a numeric array (bool, int or float). "
            f"Received an array of dtype {arr.dtype}."
        )
    return arr


def float_array(name: str, value, dtype) -> np.ndarray:
    """``value`` as a float array of ``dtype`` (a new array when a conversion happens; never mutated)."""
    return numeric_array(name, value).astype(dtype, copy=False)


def config_arguments(cls: type, config) -> dict:
    """``config`` checked as keyword arguments of ``cls``'s constructor (``from_config``'s input).

    A corrupt or hand-edited config gets a message naming the class, the keys
    it knows and those it does not (a TypeError, like Python's own).
    """
    if not isinstance(config, dict):
        raise invalid("config", f"a dict of {cls.__name__} constructor arguments", config)
    parameters = inspect.signature(cls).parameters
    known = [
        k for k, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(str(k) for k in config if k not in known)
    if unknown:
        words = "argument" if len(unknown) == 1 else "arguments"
        raise TypeError(  # a TypeError, as Python's own for an unknown keyword
            f"Invalid value for argument config. Expected keys among {known} for {cls.__name__}. "
            f"Received unexpected keyword {words} {', '.join(repr(k) for k in unknown)}."
        )
    return config
