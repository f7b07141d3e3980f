r"""Item 2: every layer configuration, outputs and input/parameter gradients.

Both sides get the same weights (standard normal draws, so a bias that is
wrongly ignored shows), the same input and the same random upstream gradient
``dy``; TF's gradients come from ``tf.GradientTape(output_gradients=dy)`` with
respect to the input and ``layer.trainable_weights`` (Keras order
``[kernel, bias]``, as ``scratchnet`` keeps them). Every layer runs in
inference mode (``training=False``).

Pooling inputs are small integers (-2..2) in most cases, so almost every
window holds a tie: TF's max-pool gradient goes to the FIRST maximum of the
window in row-major order, and overlapping windows (strides < pool) add up.
"""

from __future__ import annotations

import numpy as np

from parity._harness import Case, Comparison
from parity._tf import tf_keras, vjp
from parity.cases.activations import GELU_F64, GELU_REASON, LEAKY_F64, LEAKY_REASON

BATCH = 2


def _random_weights(rng, shapes, dtype):
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _keras_run(keras_layer, x, dy, weights, training=False):
    """Build ``keras_layer`` for ``x``, set ``weights``; (y, dL/dx, [dL/dw, ...]) by GradientTape."""
    if not keras_layer.built:
        keras_layer.build((None, *x.shape[1:]))
    if weights is not None:
        keras_layer.set_weights(weights)
    y, (dx,), dw = vjp(
        lambda t: keras_layer(t, training=training), [x], dy, keras_layer.trainable_weights
    )
    return y, dx, dw


def _compare_layer(
    scratch_layer, make_keras, x, rng, dtype, weighted=True, training=False, draw=None
) -> list[Comparison]:
    """Give both sides the same weights and input; compare y, dL/dx and dL/dw.

    ``make_keras(dtype)`` builds a fresh Keras layer. In float32 runs a float64
    twin with the same (float32-valued) weights gives TF's own float32 error.
    ``draw(rng, shapes, dtype)`` draws the weights (standard normal by default);
    with ``training=True`` both layers run in training mode and every weight
    afterwards (BatchNormalization's moving statistics) is compared too. Only
    the trainable weights' gradients are compared (those Keras' tape sees).
    """
    keras_layer = make_keras(dtype)
    scratch_layer.build(x.shape[1:], rng)
    keras_layer.build((None, *x.shape[1:]))
    weights = None
    if weighted:
        shapes = [w.shape for w in keras_layer.get_weights()]
        weights = (draw or _random_weights)(rng, shapes, dtype)
        scratch_layer.set_weights(weights)
    y = scratch_layer.forward(x, training=training)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = scratch_layer.backward(dy)
    y_tf, dx_tf, dw_tf = _keras_run(keras_layer, x, dy, weights, training)
    y64 = dx64 = None
    dw64 = [None] * len(dw_tf)
    if dtype == "float32":
        up = None if weights is None else [w.astype("float64") for w in weights]
        y64, dx64, dw64 = _keras_run(
            make_keras("float64"), x.astype("float64"), dy.astype("float64"), up, training
        )
    out = [
        Comparison("output", y, y_tf, "value", expected64=y64),
        Comparison("dL/dx", dx, dx_tf, "gradient", expected64=dx64),
    ]
    if weighted:
        out.append(
            Comparison(
                "weight shapes, Keras order",
                _shape_code([w.shape for w in scratch_layer.weights]),
                _shape_code(shapes),
                check_dtype=False,
            )
        )
        names = [v.name for v in keras_layer.trainable_weights]
        trainable = {id(w) for w in scratch_layer.trainable_weights}
        grads = [
            g
            for g, w in zip(scratch_layer.grads, scratch_layer.weights, strict=True)
            if id(w) in trainable
        ]
        for name, g, g_tf, g64 in zip(names, grads, dw_tf, dw64, strict=True):
            out.append(Comparison(f"dL/d{name}", g, g_tf, "gradient", expected64=g64))
        if training:
            after = [np.asarray(v) for v in keras_layer.get_weights()]
            for v, w, w_tf in zip(keras_layer.weights, scratch_layer.weights, after, strict=True):
                out.append(Comparison(f"{v.name} after the step", w, w_tf, "value"))
    return out


def _shape_code(shapes) -> np.ndarray:
    """A list of shapes as one integer array ``[ndim, *shape, ndim, *shape, ...]``."""
    return np.array([n for s in shapes for n in (len(s), *s)], dtype=np.int64)


# --- Conv2D ---------------------------------------------------------------------------------


def _conv_case(filters, kernel, strides, padding, hw, channels, use_bias=True, activation=None):
    def run(dtype, rng):
        from scratchnet.layers import Conv2D

        _, keras = tf_keras()
        args = dict(
            filters=filters,
            kernel_size=kernel,
            strides=strides,
            padding=padding,
            activation=activation,
            use_bias=use_bias,
            dtype=dtype,
        )

        def make_keras(dt):
            return keras.layers.Conv2D(
                **{**args, "dtype": dt}, data_format="channels_last", dilation_rate=1, groups=1
            )

        x = rng.standard_normal((BATCH, *hw, channels)).astype(dtype)
        return _compare_layer(Conv2D(**args), make_keras, x, rng, dtype)

    name = (
        f"Conv2D(filters={filters}, kernel={kernel}, strides={strides}, padding={padding}, "
        f"use_bias={use_bias}, activation={activation}) on {hw[0]}x{hw[1]}x{channels}"
    )
    return Case("layers", name, run, needs=("layers",), tf32_allowance=True)


CONV_CASES = [
    _conv_case(4, 3, s, p, (h, h), 3) for s in (1, 2, 3) for p in ("valid", "same") for h in (7, 8)
] + [
    _conv_case(2, 3, 1, "same", (8, 8), 1),
    _conv_case(2, 3, 2, "valid", (7, 7), 1),
    _conv_case(4, 3, 2, "same", (7, 8), 3, use_bias=False),
    _conv_case(4, 3, 1, "valid", (8, 7), 2, use_bias=False),
    _conv_case(3, (2, 4), (1, 2), "same", (7, 9), 2),
    _conv_case(3, (3, 2), (3, 1), "valid", (10, 6), 2),
    _conv_case(5, 1, 1, "valid", (5, 6), 4),
    _conv_case(3, 5, 1, "valid", (5, 5), 2),
    _conv_case(3, 4, 2, "same", (9, 10), 2),
    _conv_case(4, 3, 1, "same", (6, 6), 3, activation="relu"),
]

# --- pooling --------------------------------------------------------------------------------


def _pool_case(kind, pool, strides, padding, hw=(7, 8), ties=True):
    def run(dtype, rng):
        from scratchnet import layers

        _, keras = tf_keras()
        args = dict(pool_size=pool, strides=strides, padding=padding, dtype=dtype)

        def make_keras(dt):
            return getattr(keras.layers, kind)(**{**args, "dtype": dt}, data_format="channels_last")

        shape = (BATCH, *hw, 3)
        if ties:
            x = rng.integers(-2, 3, size=shape).astype(dtype)
        else:
            x = rng.standard_normal(shape).astype(dtype)
        return _compare_layer(getattr(layers, kind)(**args), make_keras, x, rng, dtype, False)

    name = f"{kind}(pool={pool}, strides={strides}, padding={padding}) on {hw[0]}x{hw[1]}" + (
        ", with ties" if ties else ""
    )
    return Case("layers", name, run, needs=("layers",), tf32_allowance=True)


POOL_CASES = [
    _pool_case(kind, pool, strides, padding)
    for kind in ("MaxPooling2D", "AveragePooling2D")
    for pool in (2, 3, (2, 3))
    for strides in (None, 1, 2)
    for padding in ("valid", "same")
] + [
    _pool_case("MaxPooling2D", 2, None, "valid", hw=(8, 8), ties=False),
    _pool_case("MaxPooling2D", 3, 2, "same", hw=(9, 6), ties=False),
    _pool_case("AveragePooling2D", 3, 2, "same", hw=(9, 6), ties=False),
    _pool_case("MaxPooling2D", (3, 2), (1, 3), "same", hw=(5, 7)),
]

# --- Dense, Flatten, Dropout, Activation, LeakyReLU -----------------------------------------


def _dense_case(units, features, use_bias=True, activation=None):
    def run(dtype, rng):
        from scratchnet.layers import Dense

        _, keras = tf_keras()
        args = dict(units=units, activation=activation, use_bias=use_bias, dtype=dtype)
        x = rng.standard_normal((4, features)).astype(dtype)

        def make_keras(dt):
            return keras.layers.Dense(**{**args, "dtype": dt})

        return _compare_layer(Dense(**args), make_keras, x, rng, dtype)

    name = f"Dense(units={units}, use_bias={use_bias}, activation={activation}) on {features}"
    return Case("layers", name, run, needs=("layers",), tf32_allowance=True)


def _shape_layer_case(name, make_scratch, make_keras, shape, tolerances=None, reason=""):
    def run(dtype, rng):
        _, keras = tf_keras()
        x = (3.0 * rng.standard_normal((BATCH, *shape))).astype(dtype)
        return _compare_layer(
            make_scratch(dtype), lambda dt: make_keras(keras, dt), x, rng, dtype, False
        )

    return _layers_case(name, run, tolerances, reason)


def _layers_case(name, run, tolerances=None, reason=""):
    return Case(
        "layers",
        name,
        run,
        needs=("layers",),
        tolerances=tolerances or {},
        reason=reason,
        tf32_allowance=True,
    )


def _flatten(dtype):
    from scratchnet.layers import Flatten

    return Flatten(dtype=dtype)


def _dropout(dtype):
    from scratchnet.layers import Dropout

    return Dropout(0.5, seed=3, dtype=dtype)


def _activation_layer(name):
    def make(dtype):
        from scratchnet.layers import Activation

        return Activation(name, dtype=dtype)

    return make


def _leaky(slope):
    def make(dtype):
        from scratchnet.layers import LeakyReLU

        if slope is None:
            return LeakyReLU(dtype=dtype)
        return LeakyReLU(negative_slope=slope, dtype=dtype)

    return make


def _keras_leaky(slope):
    def make(keras, dtype):
        if slope is None:
            return keras.layers.LeakyReLU(dtype=dtype)
        return keras.layers.LeakyReLU(negative_slope=slope, dtype=dtype)

    return make


OTHER_CASES = [
    _dense_case(5, 6),
    _dense_case(5, 6, use_bias=False),
    _dense_case(3, 7, activation="relu"),
    _dense_case(4, 5, activation="tanh"),
    _dense_case(10, 12, activation="softmax"),
    _dense_case(1, 9, activation="sigmoid"),
    _shape_layer_case(
        "Flatten on (3, 4, 5) (channels-last order)",
        _flatten,
        lambda keras, dtype: keras.layers.Flatten(data_format="channels_last", dtype=dtype),
        (3, 4, 5),
    ),
    _shape_layer_case(
        "Dropout(rate=0.5) in inference mode",
        _dropout,
        lambda keras, dtype: keras.layers.Dropout(0.5, seed=3, dtype=dtype),
        (4, 5),
    ),
    _shape_layer_case(
        "Activation('gelu')",
        _activation_layer("gelu"),
        lambda keras, dtype: keras.layers.Activation("gelu", dtype=dtype),
        (3, 4),
        GELU_F64,
        GELU_REASON,
    ),
    _shape_layer_case(
        "Activation('softmax') on (3, 4)",
        _activation_layer("softmax"),
        lambda keras, dtype: keras.layers.Activation("softmax", dtype=dtype),
        (3, 4),
    ),
    _shape_layer_case(
        "LeakyReLU() (layer default slope)",
        _leaky(None),
        _keras_leaky(None),
        (5,),
        LEAKY_F64,
        LEAKY_REASON,
    ),
    _shape_layer_case(
        "LeakyReLU(negative_slope=0.01)",
        _leaky(0.01),
        _keras_leaky(0.01),
        (2, 3, 2),
        LEAKY_F64,
        LEAKY_REASON,
    ),
    _shape_layer_case(
        "LeakyReLU(negative_slope=0.25)", _leaky(0.25), _keras_leaky(0.25), (2, 3, 2)
    ),
]

# --- the layers Keras scripts need beyond the classic CNN (issue 10) -------------------------


def _bn_weights(rng, shapes, dtype):
    """gamma, beta, moving_mean ~ N(0, 1); moving_variance ~ U(0.5, 2) (a variance is positive)."""
    ws = _random_weights(rng, shapes, dtype)
    ws[-1] = rng.uniform(0.5, 2.0, shapes[-1]).astype(dtype)
    return ws


def _new_layer_case(
    name,
    make_scratch,
    make_keras,
    shape,
    training=False,
    draw=None,
    weighted=True,
    tolerances=None,
    reason="",
):
    def run(dtype, rng):
        from scratchnet import layers

        _, keras = tf_keras()
        x = (1.0 + 2.0 * rng.standard_normal((4, *shape))).astype(dtype)
        return _compare_layer(
            make_scratch(layers, dtype),
            lambda dt: make_keras(keras, dt),
            x,
            rng,
            dtype,
            weighted=weighted,
            training=training,
            draw=draw,
        )

    return _layers_case(name, run, tolerances, reason)


RESCALING_REASON = (
    "Keras' Rescaling.call does backend.cast(self.scale, dtype): TF turns the Python float into "
    "a float32 tensor first, so a float64 run multiplies by float32(1/127.5) (relative error "
    "~1e-8). scratchnet uses the scale as written. The representable scale 1/128 is held to "
    "1e-9 / 1e-12."
)


def _pair(spec, **kwargs):
    """(scratch maker, keras maker) for ``layers.<cls>(**kwargs)`` on both sides."""
    return (
        lambda layers, dt: getattr(layers, spec)(**kwargs, dtype=dt),
        lambda keras, dt: getattr(keras.layers, spec)(**kwargs, dtype=dt),
    )


KERAS_SCRIPT_CASES = [
    _new_layer_case("Softmax() on (3, 5)", *_pair("Softmax"), (3, 5), weighted=False),
    _new_layer_case("Softmax(axis=1) on (3, 5)", *_pair("Softmax", axis=1), (3, 5), weighted=False),
    _new_layer_case("ReLU()", *_pair("ReLU"), (3, 4), weighted=False),
    _new_layer_case(
        "ReLU(max_value=2.5, negative_slope=0.25, threshold=0.5)",
        *_pair("ReLU", max_value=2.5, negative_slope=0.25, threshold=0.5),
        (3, 4),
        weighted=False,
    ),
    _new_layer_case("ELU(alpha=0.5)", *_pair("ELU", alpha=0.5), (3, 4), weighted=False),
    _new_layer_case("PReLU() on (3, 4, 2)", *_pair("PReLU"), (3, 4, 2)),
    _new_layer_case(
        "PReLU(shared_axes=[1, 2]) on (3, 4, 2)", *_pair("PReLU", shared_axes=[1, 2]), (3, 4, 2)
    ),
    _new_layer_case(
        "BatchNormalization() inference on (5,)",
        *_pair("BatchNormalization"),
        (5,),
        draw=_bn_weights,
    ),
    _new_layer_case(
        "BatchNormalization() inference on (3, 4, 2)",
        *_pair("BatchNormalization"),
        (3, 4, 2),
        draw=_bn_weights,
    ),
    _new_layer_case(
        "BatchNormalization() training on (5,): batch statistics, moving averages",
        *_pair("BatchNormalization"),
        (5,),
        training=True,
        draw=_bn_weights,
    ),
    _new_layer_case(
        "BatchNormalization(momentum=0.9, epsilon=1e-5) training on (3, 4, 2)",
        *_pair("BatchNormalization", momentum=0.9, epsilon=1e-5),
        (3, 4, 2),
        training=True,
        draw=_bn_weights,
    ),
    _new_layer_case(
        "BatchNormalization(axis=1, center=False) training on (3, 4)",
        *_pair("BatchNormalization", axis=1, center=False),
        (3, 4),
        training=True,
        draw=_bn_weights,
    ),
    _new_layer_case(
        "GlobalAveragePooling2D on (3, 4, 2)",
        *_pair("GlobalAveragePooling2D"),
        (3, 4, 2),
        weighted=False,
    ),
    _new_layer_case(
        "GlobalMaxPooling2D(keepdims=True) on (3, 4, 2)",
        *_pair("GlobalMaxPooling2D", keepdims=True),
        (3, 4, 2),
        weighted=False,
    ),
    _new_layer_case(
        "Reshape((-1, 2)) on (3, 4)",
        *_pair("Reshape", target_shape=(-1, 2)),
        (3, 4),
        weighted=False,
    ),
    _new_layer_case(
        "Rescaling(1/127.5, offset=-1)",
        *_pair("Rescaling", scale=1 / 127.5, offset=-1.0),
        (3, 4),
        weighted=False,
        tolerances=LEAKY_F64,
        reason=RESCALING_REASON,
    ),
    _new_layer_case(
        "Rescaling(1/128, offset=0.5)",
        *_pair("Rescaling", scale=1 / 128, offset=0.5),
        (3, 4),
        weighted=False,
    ),
]


def _merge_case(kind, shapes, **kwargs):
    def run(dtype, rng):
        from scratchnet import layers

        tf, keras = tf_keras()
        xs = [rng.standard_normal((BATCH, *s)).astype(dtype) for s in shapes]
        layer = getattr(layers, kind)(**kwargs, dtype=dtype)
        y = layer(xs)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dxs = layer.backward(dy)

        def keras_side(dt):
            kl = getattr(keras.layers, kind)(**kwargs, dtype=dt)
            return vjp(lambda *ts: kl(list(ts)), [x.astype(dt) for x in xs], dy.astype(dt))

        y_tf, dxs_tf, _ = keras_side(dtype)
        y64, dxs64 = (None, [None] * len(xs))
        if dtype == "float32":
            y64, dxs64, _ = keras_side("float64")
        return [
            Comparison("output", y, y_tf, "value", expected64=y64),
            *[
                Comparison(f"dL/dx{k}", dx, dx_tf, "gradient", expected64=d64)
                for k, (dx, dx_tf, d64) in enumerate(zip(dxs, dxs_tf, dxs64, strict=True))
            ],
        ]

    name = f"{kind}({', '.join(f'{k}={v}' for k, v in kwargs.items())}) on {shapes}"
    return Case("layers", name, run, needs=("layers",), tf32_allowance=True)


MERGE_CASES = [
    _merge_case("Add", [(3, 4), (3, 4)]),
    _merge_case("Add", [(5,), (5,), (5,)]),
    _merge_case("Concatenate", [(3, 2), (3, 4)]),
    _merge_case("Concatenate", [(2, 3), (4, 3), (1, 3)], axis=1),
]

CASES = CONV_CASES + POOL_CASES + OTHER_CASES + KERAS_SCRIPT_CASES + MERGE_CASES
