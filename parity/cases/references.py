r"""Item 9: independent references: the max-pool tie rule against TF on many random tied inputs.

scratchnet's max-pool backward sends each window's gradient to the FIRST
maximum in row-major order (``scratchnet.layers.pooling``), and its plain-loop
reference encodes the same reading, so the unit tests cannot tell whether that
reading is TF's. Here TF decides: ``CONFIGS`` random configurations (pool 1-3
per axis, strides 1-3 per axis, ``valid``/``same``, 1-9 rows and columns, 1-3
channels, batch 1-2) on inputs drawn from {-1, 0, 1}, so nearly every window
holds a tie (a quarter of the draws are all zeros but one row: whole windows
tied). The upstream gradient is small integers, so every sum of routed
gradients (overlapping windows add) is exact in either order: output and
input gradient must agree **bit for bit** with ``keras.layers.MaxPooling2D``.
"""

from __future__ import annotations

import numpy as np

from parity._harness import EXACT, Case, Comparison
from parity._tf import tf_keras, vjp

CONFIGS = 200


def _draw_config(rng):
    pool = tuple(int(v) for v in rng.integers(1, 4, 2))
    strides = tuple(int(v) for v in rng.integers(1, 4, 2))
    padding = str(rng.choice(["valid", "same"]))
    lo = pool if padding == "valid" else (1, 1)
    hw = tuple(int(rng.integers(low, 10)) for low in lo)
    return pool, strides, padding, (int(rng.integers(1, 3)), *hw, int(rng.integers(1, 4)))


def _tied_input(rng, shape, dtype):
    x = rng.integers(-1, 2, size=shape).astype(dtype)
    if rng.random() < 0.25:  # whole windows of zeros
        row = x[:, :1].copy()
        x[...] = 0
        x[:, :1] = row
    return x


def _run(dtype, rng):
    from scratchnet.layers import MaxPooling2D

    _, keras = tf_keras()
    ys, ys_tf, dxs, dxs_tf, inputs = [], [], [], [], []
    for _ in range(CONFIGS):
        pool, strides, padding, shape = _draw_config(rng)
        x = _tied_input(rng, shape, dtype)
        args = dict(pool_size=pool, strides=strides, padding=padding, dtype=dtype)
        layer = MaxPooling2D(**args)
        layer.build(shape[1:], rng)
        y = layer.forward(x, training=False)
        dy = rng.integers(1, 8, size=y.shape).astype(dtype)  # exact sums in any order
        dx = layer.backward(dy)
        keras_layer = keras.layers.MaxPooling2D(**args, data_format="channels_last")
        y_tf, (dx_tf,), _ = vjp(lambda t, k=keras_layer: k(t), [x], dy)
        ys += [y.ravel()]
        ys_tf += [y_tf.ravel()]
        dxs += [dx.ravel()]
        dxs_tf += [dx_tf.ravel()]
        inputs += [x.ravel()]
    return [
        Comparison(
            f"outputs of {CONFIGS} configurations",
            np.concatenate(ys),
            np.concatenate(ys_tf),
            "exact",
        ),
        Comparison(
            f"input gradients of {CONFIGS} configurations (ties routed)",
            np.concatenate(dxs),
            np.concatenate(dxs_tf),
            "value",
            context=np.concatenate(inputs),
        ),
    ]


CASES = [
    Case(
        "references",
        f"MaxPooling2D tie rule: {CONFIGS} random configurations on inputs in {{-1, 0, 1}}, bit for bit",
        _run,
        needs=("layers",),
        kinds=("value",),
        tolerances={"float64": {"value": EXACT}, "float32": {"value": EXACT}},
        reason=(
            "Tie rule: held bit for bit (tighter than the default): inputs in {-1, 0, 1} and "
            "integer upstream gradients make every output and every routed sum exact."
        ),
    )
]
