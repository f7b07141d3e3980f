r"""``keras.backend`` basics that Keras scripts call: data format, float type, epsilon, clear_session.

The float type and epsilon are ``scratchnet.config``'s (one place holds them);
the data format is always channels-last (NHWC), the only one scratchnet
computes in. ``clear_session()`` restarts Keras' automatic layer names
(``dense``, ``dense_1``, ...) as Keras does; scratchnet holds no other global
graph state, so there is nothing else to free.
"""

from __future__ import annotations

from scratchnet import _checks
from scratchnet.config import epsilon, floatx, set_epsilon, set_floatx


def image_data_format() -> str:
    """``"channels_last"``: images are (N, H, W, C), as Keras' default."""
    return "channels_last"


def set_image_data_format(data_format: str) -> None:
    """Accepts ``"channels_last"`` only (scratchnet has no channels-first kernels)."""
    if data_format != "channels_last":
        raise _checks.invalid(
            "data_format", '"channels_last" (the only layout scratchnet computes in)', data_format
        )


def clear_session() -> None:
    """Reset the automatic layer names, so the next Dense is ``dense`` again (Keras' behaviour)."""
    from scratchnet.layers import base

    base._NAME_COUNTS.clear()


__all__ = [
    "clear_session",
    "epsilon",
    "floatx",
    "image_data_format",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]
