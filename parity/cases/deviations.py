"""Where scratchnet differs from TensorFlow/Keras on purpose, and why (written into the report)."""

from __future__ import annotations

DEVIATIONS: list[tuple[str, str]] = [
    (
        "Float64 hyperparameters are not rounded through float32",
        "Keras' TF backend turns Python-float hyperparameters into tensors through "
        "float32 even in float64 runs (`tf.cast(0.9, tf.float64)` is "
        "0.8999999761581421): the learning rate and weight decay are float32 "
        "variables, Adam/AdamW/Adamax use float32(β1), float32(β2) in their "
        "bias-correction powers, SGD float32(momentum), Nadam float32(β1, β2, 0.96). "
        "scratchnet keeps the float64 value the user wrote. The float64 rows of the "
        "optimizer cases with such values (the defaults 0.001, 0.9, 0.999, ...) "
        "therefore carry a looser tolerance; the cases with float32-representable "
        "values (0.5, 0.875, 0.9375, 0.0078125, ...) are held to 1e-9 / 1e-12.",
    ),
    (
        "Bad input is rejected instead of accepted silently",
        "Keras accepts NaN inputs, empty arrays, batch_size=0, learning_rate=-1 and "
        "beta_1=1.5 without a word; scratchnet raises a ValueError/TypeError that "
        "names the argument, what was expected and what was received.",
    ),
]
