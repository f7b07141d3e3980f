r"""Global numeric settings, named as in ``keras.config``.

scratchnet computes in float32 by default, like Keras. Every gradient check and
the float64 half of the parity suite switch to float64 with
``set_floatx("float64")`` (or a ``dtype=`` argument on a layer).

``epsilon()`` is Keras' fuzz factor (1e-7): the clipping bound of the
probability path of cross-entropy.

``set_adaptive_threads(False)`` stops ``fit``, ``evaluate`` and ``predict`` from choosing
between BLAS's own thread count and one thread by timing their steps
(``threads.py``; on by default; no Keras counterpart).

``set_random_seed(seed)`` (``utils.set_random_seed``, Keras' name) makes the
unseeded models and ``fit`` calls that follow draw their seeds from one
``np.random.SeedSequence(seed)``, in the order they ask (``next_seed``): a
script that sets it at the top runs the same bits every time. An explicit
``seed=`` always wins; ``set_random_seed(None)`` returns to fresh entropy.
"""

from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7
_ALLOWED_FLOATX = ("float16", "float32", "float64")
_SEEDS: np.random.SeedSequence | None = None  # set by set_random_seed
_ADAPTIVE_THREADS = True


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


def adaptive_threads() -> bool:
    """Whether ``fit``, ``evaluate`` and ``predict`` choose BLAS's thread count by timing their steps."""
    return _ADAPTIVE_THREADS


def set_adaptive_threads(value: bool) -> None:
    """Switch the thread choice of ``threads.py`` on (the default) or off (BLAS's own setting stands)."""
    global _ADAPTIVE_THREADS
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"Invalid value for argument value. Expected True or False. Received value={value!r}."
        )
    _ADAPTIVE_THREADS = bool(value)


def set_random_seed(seed) -> None:
    """Seed every later unseeded model and ``fit`` from ``np.random.SeedSequence(seed)``; None undoes it."""
    global _SEEDS
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
    ):
        raise ValueError(
            f"Invalid value for argument seed. Expected a non-negative integer or None. "
            f"Received seed={seed!r}."
        )
    _SEEDS = None if seed is None else np.random.SeedSequence(int(seed))


def next_seed() -> int | None:
    """The next seed of ``set_random_seed``'s stream (a spawned child's first 63 bits), or None."""
    if _SEEDS is None:
        return None
    (child,) = _SEEDS.spawn(1)
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


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
