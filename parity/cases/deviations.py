"""Where scratchnet differs from TensorFlow/Keras on purpose, and why (written into the report)."""

from __future__ import annotations

DEVIATIONS: list[tuple[str, str]] = [
    (
        "Float64 hyperparameters are not rounded through float32",
        "Keras' TF backend turns Python-float hyperparameters into tensors through "
        "float32 even in float64 runs (`tf.cast(0.9, tf.float64)` is "
        "0.8999999761581421): the learning rate and weight decay are float32 "
        "variables, Adam/AdamW/Adamax use float32(β1), float32(β2) in their "
        "bias-correction powers, SGD float32(momentum), Nadam float32(β1, β2, 0.96) "
        "everywhere (so Keras' Nadam 1 - β2 is 1.3e-5 relative off 1 - 0.999). In float64 "
        "scratchnet keeps the value the user wrote (in float32 it rounds as TF does, see "
        "below). The float64 optimizer rows with such values "
        "(the defaults 0.001, 0.9, 0.999, 0.004, and every Nadam row) carry a looser "
        "tolerance; the rows with float32-representable values (0.5, 0.875, 0.9375, "
        "0.0078125, ...) are held to 1e-9 / 1e-12.",
    ),
    (
        "Activation constants are not rounded through float32",
        "TF's kernels take some constants through float32 in float64 runs as well: "
        "`tf.nn.leaky_relu` receives the slope as a float32 op attribute (0.2 becomes "
        "0.20000000298), `tf.nn.gelu` casts 1/√2 (exact form) and 0.044715 (tanh form) "
        "to float32 first. scratchnet uses the exact constants, so float64 leaky_relu "
        "(slopes 0.2, 0.3, 0.01) and GELU rows carry a looser tolerance (1e-7 and 5e-6 "
        "relative); leaky_relu with the representable slope 0.25 holds 1e-9.",
    ),
    (
        "Float32 results are not asked to reproduce TF's float32 rounding",
        "Where TF's float32 kernel loses precision, scratchnet may be more accurate: TF's "
        "float32 gradient of the tanh-form GELU cancels in 1 + tanh(u) for x ≲ -4 (0.0 at "
        "x = -4.95 where the exact value is -2.06e-6, 20% off at x = -4.78), and tanh' = 1 - y² "
        "amplifies one-ulp differences of y near ±1. Float32 activation and layer rows therefore "
        "allow twice TF's own float32 error (|TF32 - TF64| on the same inputs) on top of the "
        "documented tolerance.",
    ),
    (
        "Bad input is rejected instead of accepted silently",
        "Keras accepts NaN inputs, empty arrays, batch_size=0, learning_rate=-1, "
        "beta_1=1.5 and non-integer sparse labels (NaN losses, empty histories, truncated "
        "labels); scratchnet raises a ValueError that names the argument, what was expected "
        "and what was received. Checked below and by `parity/test_strictness.py`.",
    ),
    (
        "Float32 optimizers follow TF's float32 rounding; float64 keeps exact constants",
        "In float32, scratchnet's optimizers round the learning rate, β1, β2, ε (and Nadam's "
        "0.96) to float32 and compute the scalar coefficients (Adam's α_t with its "
        "bias-correction powers float32(β)^t, Nadam's u_t and Π_t) in float32 in TF's order, "
        "as Keras does; section 8 shows the classic CNN's float32 training staying within "
        "1e-6 of Keras float32 (norm-wise), as close as Keras float32 is to Keras float64. In "
        "float64 the same code computes with the exact Python constants (a deliberate choice, "
        "see the first deviation): float64 results are the textbook ones.",
    ),
    (
        "Random draws come from NumPy, not TF",
        "Initializers and dropout masks draw from an `np.random.Generator`, so the same seed "
        "does not give Keras' initial weights or masks. Every comparison here therefore sets "
        "the weights explicitly on both sides; dropout is compared in inference mode only.",
    ),
    (
        "keras_io does not carry the model seed, and parametrised activations become partials",
        "`to_keras` copies architecture and weights bit for bit; the scratchnet model's "
        "`seed` (it only drives initialisation) has no Keras counterpart and is not "
        "carried, so round-trip configs are compared without it. An activation with "
        "non-default parameters becomes `functools.partial(keras.activations.<name>, ...)`: "
        "Keras computes with it but cannot `model.save` it.",
    ),
]

# Not deviations of scratchnet, but Keras behaviour the suite had to work around.
KERAS_NOTES: list[str] = [
    "`train_on_batch` reports the loss through Keras' loss tracker, a `Mean` metric created "
    "with `floatx()` at compile time: in a float64 model under the default floatx it is "
    "rounded to float32. The float64 training cases compile under floatx float64.",
    "Keras' Conv2D/Dense compile under `jit_compile='auto'`; the training cases pass "
    "`jit_compile=False` so XLA does not reorder float sums.",
    "Keras' categorical cross-entropy takes the fused logits path only when its input "
    "tensor carries `_keras_logits` (the output of a softmax activation); the loss cases "
    "pass plain tensors, so they exercise the clipped probability path.",
]
