r"""Item 4: every optimizer against ``keras.optimizers``, whole trajectories.

Two variables (a (3, 4) matrix and a (4,) vector) start from the same random
values on both sides; both optimizers then take ``STEPS`` steps on the same
gradient sequence (standard normal × scale; one entry of the vector always
gets a zero gradient, so ε-placement and 0/0 guards are exercised). After
EVERY step the variables, every slot variable (Keras' ``_momentums``,
``_velocities``, ... mapped to scratchnet's ``get_state()["slots"]`` names
by ``SLOTS``) and the iteration count are recorded; each trajectory is
compared as one (steps, ...) array, so the worst entry names its step.

Hyperparameters are passed explicitly on both sides. The non-default sets use
values float32 represents exactly (0.0078125 = 2⁻⁷, 0.875, 0.9375, ...): Keras
rounds Python floats through float32 even in float64 runs (see
``parity.cases.deviations``), and with representable values that rounding is
a no-op, so those float64 rows are held to 1e-9 / 1e-12. The "defaults" rows
use Keras' defaults (0.001, 0.9, 0.999, ...), which float32 does not
represent; their float64 tolerance is looser with the measured reason.

Slot values at gradient scale 1e-6 are ~1e-12 (second moments) or smaller,
so every comparison here uses an absolute tolerance relative to the largest
entry of its array (``relative_atol``).
"""

from __future__ import annotations

import numpy as np

from parity._harness import Case, Comparison, Tolerance
from parity._tf import tf_keras

STEPS = 50
SHAPES = ((3, 4), (4,))

# Keras slot attribute -> scratchnet slot name, per optimizer.
SLOTS: dict[str, dict[str, str]] = {
    "SGD": {"momentums": "m"},
    "GradientDescent": {},
    "Adam": {"_momentums": "m", "_velocities": "v", "_velocity_hats": "v_hat"},
    "AdamW": {"_momentums": "m", "_velocities": "v", "_velocity_hats": "v_hat"},
    "RMSprop": {"_velocities": "v", "_momentums": "s", "_average_gradients": "g_bar"},
    "Adagrad": {"_accumulators": "a"},
    "Adadelta": {"_accumulated_grads": "e_g2", "_accumulated_delta_vars": "e_delta2"},
    "Nadam": {"_momentums": "m", "_velocities": "v"},
    "Adamax": {"_m": "m", "_u": "u"},
}

# Keras' documented defaults, passed explicitly on the Keras side of the "defaults" rows
# (the scratchnet side uses its own defaults, so these rows check them).
DEFAULTS: dict[str, dict] = {
    "SGD": dict(learning_rate=0.01, momentum=0.0, nesterov=False),
    "Adam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False),
    "AdamW": dict(
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
    ),
    "RMSprop": dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False),
    "Adagrad": dict(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7),
    "Adadelta": dict(learning_rate=0.001, rho=0.95, epsilon=1e-7),
    "Nadam": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    "Adamax": dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
}

# Float32-representable non-default hyperparameters (a few configurations per optimizer).
SETTINGS: list[tuple[str, dict]] = [
    ("SGD", dict(learning_rate=0.0625, momentum=0.0, nesterov=False)),
    ("SGD", dict(learning_rate=0.0625, momentum=0.875, nesterov=False)),
    ("SGD", dict(learning_rate=0.0625, momentum=0.875, nesterov=True)),
    ("Adam", dict(learning_rate=0.0078125, beta_1=0.875, beta_2=0.9375, amsgrad=False)),
    ("Adam", dict(learning_rate=0.0078125, beta_1=0.875, beta_2=0.9375, amsgrad=True)),
    ("AdamW", dict(learning_rate=0.0078125, weight_decay=0.03125, beta_1=0.875, beta_2=0.9375)),
    ("RMSprop", dict(learning_rate=0.0078125, rho=0.875, momentum=0.0, centered=False)),
    ("RMSprop", dict(learning_rate=0.0078125, rho=0.875, momentum=0.0, centered=True)),
    ("RMSprop", dict(learning_rate=0.0078125, rho=0.875, momentum=0.5, centered=False)),
    ("RMSprop", dict(learning_rate=0.0078125, rho=0.875, momentum=0.5, centered=True)),
    ("Adagrad", dict(learning_rate=0.0625, initial_accumulator_value=0.25)),
    ("Adadelta", dict(learning_rate=1.0, rho=0.875)),
    ("Nadam", dict(learning_rate=0.0078125, beta_1=0.875, beta_2=0.9375)),
    ("Adamax", dict(learning_rate=0.0078125, beta_1=0.875, beta_2=0.9375)),
]

CLIP_SETTINGS: list[tuple[str, dict]] = [
    (name, {**params, **clip})
    for name, params in (
        ("SGD", dict(learning_rate=0.0625, momentum=0.875, nesterov=False)),
        ("Adam", dict(learning_rate=0.0078125, beta_1=0.875, beta_2=0.9375, amsgrad=False)),
    )
    for clip in (dict(clipnorm=0.5), dict(clipvalue=0.25), dict(global_clipnorm=0.75))
]

SCALES = (1.0, 1e-3, 1e-6)


def _keras_full(name: str, params: dict) -> dict:
    """``params`` completed with Keras' defaults and no clipping, weight decay or EMA: all explicit."""
    full = {**DEFAULTS[name], **params}
    if name != "AdamW":
        full.setdefault("weight_decay", None)
    for key in ("clipnorm", "clipvalue", "global_clipnorm"):
        full.setdefault(key, None)
    full.update(use_ema=False, loss_scale_factor=None, gradient_accumulation_steps=None)
    return full


def trajectories(scratch_opt, keras_name, keras_params, scale, dtype, rng, steps=STEPS):
    """Run both optimizers on the same gradients; return the list of Comparisons."""
    tf, keras = tf_keras()
    slot_map = SLOTS[type(scratch_opt).__name__]
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[(scale * rng.standard_normal(s)).astype(dtype) for s in SHAPES] for _ in range(steps)]
    for g in grads:
        g[1][0] = 0.0  # an entry whose gradient is always exactly zero

    scratch_vars = [w.copy() for w in init]
    keras_opt = getattr(keras.optimizers, keras_name)(**keras_params)
    keras_vars = [keras.Variable(w, dtype=dtype) for w in init]

    record = {"scratch": {}, "keras": {}}

    def log(side, key, value):
        record[side].setdefault(key, []).append(np.array(value, copy=True))

    for g in grads:
        scratch_opt.apply_gradients(zip([a.copy() for a in g], scratch_vars, strict=True))
        keras_opt.apply_gradients(zip([tf.constant(a) for a in g], keras_vars, strict=True))
        state = scratch_opt.get_state()
        log("scratch", "iterations", state["iterations"])
        log("keras", "iterations", int(keras_opt.iterations.numpy()))
        for i in range(len(SHAPES)):
            log("scratch", f"θ{i}", scratch_vars[i])
            log("keras", f"θ{i}", keras_vars[i].numpy())
            for attr, slot in slot_map.items():
                keras_slots = getattr(keras_opt, attr, None) or []
                if keras_slots or slot in state["slots"][i]:
                    log("scratch", f"{slot}{i}", state["slots"][i].get(slot, np.nan))
                    log("keras", f"{slot}{i}", keras_slots[i].numpy() if keras_slots else np.nan)
    state = scratch_opt.get_state()
    expected_names = sorted(
        slot for attr, slot in slot_map.items() if getattr(keras_opt, attr, None)
    )
    names_equal = all(sorted(s) == expected_names for s in state["slots"])
    out = [
        Comparison(
            f"slot names {sorted(state['slots'][0])} = Keras' {expected_names} (1 = yes)",
            float(names_equal),
            1.0,
            "exact",
        )
    ]
    for key in record["keras"]:
        got, expected = np.stack(record["scratch"][key]), np.stack(record["keras"][key])
        if key == "iterations":
            out.append(Comparison("iterations", got, expected, "exact", check_dtype=False))
        else:
            label = f"{key} trajectory" if key.startswith("θ") else f"slot {key} trajectory"
            out.append(Comparison(label, got, expected, "value", relative_atol=True))
    return out


def _label(name: str, params: dict, scale: float) -> str:
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{name}({args}), grad scale {scale:g}"


def _case(name, params, scale, defaults=False, tolerances=None, reason=""):
    def run(dtype, rng):
        from scratchnet import optimizers

        keras_params = _keras_full(name, params)
        scratch_params = {} if defaults else {**DEFAULTS[name], **params}
        scratch_opt = getattr(optimizers, name)(**scratch_params)
        return trajectories(scratch_opt, name, keras_params, scale, dtype, rng)

    label = _label(name, {} if defaults else params, scale).replace("()", "(defaults)")
    return Case(
        "optimizers",
        label,
        run,
        needs=("optimizers",),
        kinds=("value", "exact"),
        tolerances=tolerances or {},
        reason=reason,
    )


def _gradient_descent_case(scale):
    """scratchnet's GradientDescent is Keras' SGD without momentum (fed full-batch gradients)."""

    def run(dtype, rng):
        from scratchnet.optimizers import GradientDescent

        keras_params = _keras_full("SGD", dict(learning_rate=0.0625, momentum=0.0, nesterov=False))
        scratch_opt = GradientDescent(learning_rate=0.0625)
        return trajectories(scratch_opt, "SGD", keras_params, scale, dtype, rng)

    name = f"GradientDescent(learning_rate=0.0625) vs Keras SGD(momentum=0), grad scale {scale:g}"
    return Case("optimizers", name, run, needs=("optimizers",), kinds=("value", "exact"))


def _name_table_case(identifier: str, keras_params: dict, scale: float):
    """``optimizers.get(identifier)`` (scratchnet's name table) against Keras' class it stands for."""

    def run(dtype, rng):
        from scratchnet import optimizers

        scratch_opt = optimizers.get(identifier)
        full = _keras_full("SGD", keras_params)
        return trajectories(scratch_opt, "SGD", full, scale, dtype, rng)

    args = ", ".join(f"{k}={v}" for k, v in keras_params.items())
    return Case(
        "optimizers",
        f"optimizers.get({identifier!r}) vs Keras SGD({args}), grad scale {scale:g}",
        run,
        needs=("optimizers",),
        kinds=("value", "exact"),
        tolerances=DEFAULTS_TOL,
        reason=DEFAULTS_REASON,
    )


# The defaults rows: Keras rounds 0.001 / 0.01 / 0.9 / 0.999 / 0.004 / 0.96 through float32
# in float64 runs. Each update is off by up to ~1.3e-5 relative (Adam's step 1); momentum
# μ = 0.9 accumulates its rounding (2.6e-8) into ~δμ·μ/(1-μ)² ≈ 2e-6 relative on the velocity,
# so entries crossing zero need an absolute allowance: 1e-5 of the array's largest entry.
# A wrong default (0.9 vs 0.95, 1e-3 vs 1e-2) is off by order 1, far outside.
DEFAULTS_REASON = (
    "Keras rounds the default hyperparameters (learning rate 0.001 or 0.01, β1 0.9, β2 0.999, "
    "momentum 0.9, weight decay 0.004) through float32 even in float64 runs: the learning rate is a float32 "
    "variable, Adam/AdamW/Adamax take float32(β1), float32(β2) in the bias corrections, so "
    "every update differs by up to ~1.3e-5 relative (step 1 of Adam), and momentum accumulates "
    "its rounding to ~2e-6 relative on the velocity. scratchnet keeps them in float64 (a "
    "deliberate deviation). Allowed: 1e-5 relative, plus 1e-5 of each array's largest entry "
    "for entries crossing zero; a wrong default is off by order 1. The float32-representable "
    "rows of the same optimizer hold 1e-9 / 1e-12."
)
DEFAULTS_TOL = {"float64": {"value": Tolerance(1e-5, 1e-5)}}
NADAM_REASON = (
    "Keras' Nadam casts β1, β2 and the 0.96 of its momentum schedule u_t = β1(1 - ½·0.96^t) "
    "to the variable dtype through float32, also in float64 runs, and computes 1 - β2 from "
    "the rounded β2. scratchnet does the same in float32 (so its float32 rows hold the "
    "default tolerance) but keeps the exact constants in float64; 0.96 cannot be chosen "
    "representable, so every float64 Nadam row carries the float32-rounding tolerance."
)
NADAM_TOL = {"float64": {"value": Tolerance(1e-5, 1e-6)}}
NADAM_DEFAULTS_TOL = {"float64": {"value": Tolerance(1e-4, 1e-5)}}


def _defaults_case(name, scale):
    if name == "Nadam":
        return _case(name, {}, scale, True, NADAM_DEFAULTS_TOL, NADAM_REASON)
    return _case(name, {}, scale, True, DEFAULTS_TOL, DEFAULTS_REASON)


def _settings_case(name, params, scale):
    if name == "Nadam":
        return _case(name, params, scale, tolerances=NADAM_TOL, reason=NADAM_REASON)
    return _case(name, params, scale)


CASES = (
    [_defaults_case(name, scale) for name in DEFAULTS for scale in SCALES]
    + [_settings_case(name, params, scale) for name, params in SETTINGS for scale in SCALES]
    + [_case(name, params, 1.0) for name, params in CLIP_SETTINGS]
    + [_gradient_descent_case(scale) for scale in SCALES]
    + [
        _name_table_case("momentum", dict(momentum=0.9, nesterov=False), 1.0),
        _name_table_case("nesterov", dict(momentum=0.9, nesterov=True), 1.0),
    ]
)
