r"""Item 6: ``scratchnet.keras_io``, both directions.

``to_keras``: a scratchnet model (drawn weights, non-zero biases) goes to
Keras; every weight must arrive bit for bit (tolerance ``exact``), the Keras
model must predict what scratchnet predicts (the usual tolerance), and
``from_keras(to_keras(model))`` must give back the same ``get_config()``
(compared as "1 = equal") and, again, the exact weights.

``from_keras``: a Keras model (Keras' own initialisation, non-zero biases)
comes to scratchnet, with the same three checks the other way round; the
Keras configs of ``to_keras(from_keras(keras_model))`` must equal the
original's (with plain activations, which Keras can serialise).

Architectures: the two of item 5, and ``every_layer``, which uses every
converter and every carried argument (strides, padding, no bias, a
parametrised activation, an initializer, dropout's noise_shape and seed, a frozen layer).
"""

from __future__ import annotations

import numpy as np

from parity._harness import Case, Comparison
from parity._tf import tf_keras
from parity.cases.models import ARCHITECTURES

EVERY_LAYER_INPUT = (12, 11, 3)
EVERY_LAYER: list[tuple[str, dict]] = [
    (
        "Conv2D",
        dict(
            filters=4,
            kernel_size=(3, 2),
            strides=(2, 1),
            padding="same",
            activation={"name": "leaky_relu", "negative_slope": 0.125},
            use_bias=False,
            kernel_initializer="he_normal",
        ),
    ),
    ("AveragePooling2D", dict(pool_size=2, strides=1, padding="same")),
    ("MaxPooling2D", dict(pool_size=(2, 3), strides=None, padding="valid")),
    ("Activation", dict(activation={"name": "elu", "alpha": 0.5})),
    ("LeakyReLU", dict(negative_slope=0.25)),
    ("Dropout", dict(rate=0.5, noise_shape=(None, 1, 1, 4), seed=7)),
    ("Flatten", {}),
    ("Dense", dict(units=6, activation="tanh", bias_initializer="ones", trainable=False)),
    ("Dense", dict(units=3, activation={"name": "softmax", "axis": -1})),
]
# The same architecture in Keras' terms (plain activation names only: Keras must be able to
# serialise it for the config comparison). No GELU here: TF's float32-rounded GELU constants
# would make the predictions row measure item 1's known difference instead of the conversion.
EVERY_LAYER_KERAS: list[tuple[str, dict]] = [
    (
        "Conv2D",
        dict(
            filters=4,
            kernel_size=(3, 2),
            strides=(2, 1),
            padding="same",
            activation="relu",
            use_bias=False,
            kernel_initializer="he_normal",
        ),
    ),
    ("AveragePooling2D", dict(pool_size=2, strides=1, padding="same")),
    ("MaxPooling2D", dict(pool_size=(2, 3), strides=None, padding="valid")),
    ("Activation", dict(activation="elu")),
    ("LeakyReLU", dict(negative_slope=0.25)),
    ("Dropout", dict(rate=0.5, noise_shape=(None, 1, 1, 4), seed=7)),
    ("Flatten", {}),
    ("Dense", dict(units=6, activation="tanh", bias_initializer="ones", trainable=False)),
    ("Dense", dict(units=3, activation="softmax")),
]

# The layers of issue 10 (Keras scripts beyond the classic CNN), one of each, with arguments.
SCRIPT_LAYERS_INPUT = (8, 8, 3)
SCRIPT_LAYERS: list[tuple[str, dict]] = [
    ("Rescaling", dict(scale=1 / 128, offset=0.5)),
    ("Conv2D", dict(filters=4, kernel_size=3, padding="same")),
    ("BatchNormalization", dict(momentum=0.9, epsilon=1e-4, center=False)),
    ("PReLU", dict(alpha_initializer="ones", shared_axes=[1, 2])),
    ("ELU", dict(alpha=0.5)),
    ("ReLU", dict(max_value=6.0, negative_slope=0.125, threshold=0.25)),
    ("GlobalAveragePooling2D", dict(keepdims=True)),
    ("Reshape", dict(target_shape=(2, 2))),
    ("Softmax", dict(axis=1)),
    ("Flatten", {}),
    ("BatchNormalization", {}),
    ("Dense", dict(units=3, activation="softmax")),
]

SPECS = {
    "classic": ((28, 28, 1), ARCHITECTURES["classic"], ARCHITECTURES["classic"]),
    "deeper": ((28, 28, 1), ARCHITECTURES["deeper"], ARCHITECTURES["deeper"]),
    "every_layer": (EVERY_LAYER_INPUT, EVERY_LAYER, EVERY_LAYER_KERAS),
    "script_layers": (SCRIPT_LAYERS_INPUT, SCRIPT_LAYERS, SCRIPT_LAYERS),
}


def _positive_variances(layers, rng) -> None:
    """Moving variances drawn in [0.5, 1.5]: the generic N(0, 0.1) draw could make one negative."""
    for layer in layers:
        if type(layer).__name__ == "BatchNormalization":
            weights = layer.get_weights()
            weights[-1] = rng.uniform(0.5, 1.5, weights[-1].shape).astype(weights[-1].dtype)
            layer.set_weights(weights)


def scratch_model(arch: str, dtype: str, rng: np.random.Generator):
    """A built scratchnet model of ``arch`` with drawn weights and non-zero biases."""
    if arch == "functional":
        return scratch_functional(dtype, rng)
    from scratchnet import layers
    from scratchnet.models import Sequential

    input_shape, spec, _ = SPECS[arch]
    model = Sequential(
        [getattr(layers, cls)(**kwargs, dtype=dtype) for cls, kwargs in spec],
        name=f"{arch}_model",
        seed=int(rng.integers(2**31)),
    )
    model.build(input_shape)
    model.set_weights(
        [
            w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(dtype)
            for w in model.get_weights()
        ]
    )
    _positive_variances(model.layers, rng)
    return model


def keras_model(arch: str, dtype: str, rng: np.random.Generator):
    """A built keras.Sequential of ``arch`` (Keras' initialisation, non-zero biases)."""
    if arch == "functional":
        return keras_functional(dtype, rng)
    _, keras = tf_keras()
    input_shape, _, spec = SPECS[arch]
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape, dtype=dtype),
            *[getattr(keras.layers, cls)(**kwargs, dtype=dtype) for cls, kwargs in spec],
        ],
        name=f"{arch}_keras",
    )
    model.set_weights(
        [
            w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(dtype)
            for w in model.get_weights()
        ]
    )
    _positive_variances(model.layers, rng)
    return model


def _exact_weights(label, got, expected) -> list[Comparison]:
    return [
        Comparison(f"{label} weight {i} {tuple(e.shape)}", g, e, "exact")
        for i, (g, e) in enumerate(zip(got, expected, strict=True))
    ]


def keras_layer_configs(model) -> list[dict]:
    """Each layer's Keras config, without what a rebuild may rename (nothing else is dropped):
    the build config, and the automatic name of a nested Sequential's InputLayer."""
    out = []
    for layer in model.layers:
        cfg = dict(layer.get_config())
        cfg.pop("build_config", None)
        if "layers" in cfg:  # a nested Keras model
            cfg["layers"] = [
                {**entry, "config": {k: v for k, v in entry["config"].items() if k != "name"}}
                if entry["class_name"] == "InputLayer"
                else entry
                for entry in cfg["layers"]
            ]
        out.append(cfg)
    return out


def _without_seed(config: dict) -> dict:
    """A model config without ``seed``: it only drives initialisation and Keras has no such thing."""
    return {k: v for k, v in config.items() if k != "seed"}


def _to_keras_case(arch):
    def run(dtype, rng):
        from scratchnet.keras_io import from_keras, to_keras

        model = scratch_model(arch, dtype, rng)
        converted = to_keras(model)
        x = rng.uniform(0, 1, size=(8, *model.input_shape)).astype(dtype)
        back = from_keras(converted)
        return [
            *_exact_weights("to_keras", converted.get_weights(), model.get_weights()),
            *_exact_weights("round trip", back.get_weights(), model.get_weights()),
            Comparison(
                "predictions", model.predict(x, verbose=0), converted(x, training=False), "value"
            ),
            Comparison(
                "round-trip get_config() equal, seed aside (1 = yes)",
                float(_without_seed(back.get_config()) == _without_seed(model.get_config())),
                1.0,
                "exact",
            ),
        ]

    return Case(
        "keras_io",
        f"to_keras({arch}) and back",
        run,
        needs=("models", "keras_io"),
        kinds=("value", "exact"),
    )


def _from_keras_case(arch):
    def run(dtype, rng):
        from scratchnet.keras_io import from_keras, to_keras

        original = keras_model(arch, dtype, rng)
        converted = from_keras(original)
        x = rng.uniform(0, 1, size=(8, *converted.input_shape)).astype(dtype)
        back = to_keras(converted)
        return [
            *_exact_weights("from_keras", converted.get_weights(), original.get_weights()),
            *_exact_weights("round trip", back.get_weights(), original.get_weights()),
            Comparison(
                "predictions", converted.predict(x, verbose=0), original(x, training=False), "value"
            ),
            Comparison(
                "round-trip Keras layer configs equal (1 = yes)",
                float(keras_layer_configs(back) == keras_layer_configs(original)),
                1.0,
                "exact",
            ),
        ]

    return Case(
        "keras_io",
        f"from_keras({arch}) and back",
        run,
        needs=("models", "keras_io"),
        kinds=("value", "exact"),
    )


# --- "functional": a residual branch, a merge of two poolings, a nested Sequential --------------


def _functional(lib, dtype, rng=None):
    """The same graph in scratchnet (``lib`` = its layers module) or Keras (``keras.layers``)."""
    seq = lib.Sequential if hasattr(lib, "Sequential") else None
    x = lib.Input(shape=(8, 8, 3), dtype=dtype, name="image")
    h = lib.Conv2D(4, 3, padding="same", dtype=dtype, name="conv")(x)
    h = lib.BatchNormalization(dtype=dtype, name="bn")(h)
    h = lib.ReLU(dtype=dtype, name="relu")(h)
    branch = lib.Conv2D(4, 3, padding="same", activation="tanh", dtype=dtype, name="branch")(h)
    h = lib.Add(dtype=dtype, name="residual")([h, branch])
    pooled = lib.Concatenate(dtype=dtype, name="pools")(
        [
            lib.GlobalAveragePooling2D(dtype=dtype, name="avg")(h),
            lib.GlobalMaxPooling2D(dtype=dtype, name="max")(h),
        ]
    )
    block = seq(
        [
            lib.Input(shape=(8,), dtype=dtype),
            lib.Dense(6, activation="relu", dtype=dtype, name="hidden"),
        ],
        name="block",
    )
    out = lib.Dense(3, activation="softmax", dtype=dtype, name="out")(block(pooled))
    return x, out


def scratch_functional(dtype, rng):
    from scratchnet import layers
    from scratchnet.models import Model, Sequential

    class Lib:  # scratchnet's names, shaped like keras.layers + keras.Sequential
        def __getattr__(self, name):
            return Sequential if name == "Sequential" else getattr(layers, name)

    x, out = _functional(Lib(), dtype)
    model = Model(x, out, name="functional_model", seed=int(rng.integers(2**31)))
    model.set_weights(
        [
            w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(dtype)
            for w in model.get_weights()
        ]
    )
    _positive_variances(model.layers, rng)
    return model


def keras_functional(dtype, rng):
    _, keras = tf_keras()

    class Lib:
        def __getattr__(self, name):
            if name == "Sequential":
                return keras.Sequential
            return keras.Input if name == "Input" else getattr(keras.layers, name)

    x, out = _functional(Lib(), dtype)
    model = keras.Model(x, out, name="functional_keras")
    model.set_weights(
        [
            w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(dtype)
            for w in model.get_weights()
        ]
    )
    _positive_variances(model.layers, rng)
    return model


CASES = (
    [_to_keras_case(arch) for arch in SPECS]
    + [_from_keras_case(arch) for arch in SPECS]
    + [_to_keras_case("functional"), _from_keras_case("functional")]
)
