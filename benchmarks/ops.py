r"""Per-operation cases: forward + backward of each layer, activation and loss, one step of each optimizer.

Every case builds its inputs, weights and upstream gradient once, in NumPy,
and hands the same arrays to each backend:

* ``scratchnet``: the library as a model runs it (the fast path);
* ``scratchnet-loop``: the plain-loop references of conv and pooling (small batches only);
* ``tf-eager`` / ``tf-function``: TensorFlow ops under a ``GradientTape``, run
  eagerly or traced once into a ``tf.function``;
* ``tf-eager-gpu`` / ``tf-function-gpu``: the same on the GPU, when TF sees one.

A backend's ``result()`` returns the forward output and every gradient; the
row's ``max_diff`` is their largest absolute difference from ``tf-eager``'s.
"""

from __future__ import annotations

import numpy as np

from benchmarks.timing import Backend, Case
from scratchnet import activations, losses, optimizers
from scratchnet.layers import Conv2D, Dense, MaxPooling2D
from scratchnet.layers.conv import conv2d_backward_loop, conv2d_loop
from scratchnet.layers.pooling import max_pool2d_backward_loop, max_pool2d_loop

# family -> what --only accepts for it
FAMILIES = ("conv", "pool", "dense", "activations", "softmax_ce", "optimizers")
OP_BACKENDS = ("scratchnet", "scratchnet-loop", "tf-eager", "tf-function")
GPU_OP_BACKENDS = ("tf-eager-gpu", "tf-function-gpu")
LOOP_MAX_BATCH = 1  # the loop references take seconds per call beyond this

# Keras' counterpart of each scratchnet optimizer name (same defaults).
KERAS_OPTIMIZERS = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "gd": ("SGD", {}),  # one step of batch gradient descent is one SGD step
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "rmsprop": ("RMSprop", {}),
    "adagrad": ("Adagrad", {}),
    "adadelta": ("Adadelta", {}),
    "nadam": ("Nadam", {}),
    "adamax": ("Adamax", {}),
}


def _numpy(values):
    return [np.asarray(v) for v in values]


def _tf_backends(name_fn, fn, args, tf, devices, wanted):
    """``fn(*args)`` (TF tensors) eager and in a ``tf.function``, on each device; results as NumPy."""
    out = []
    traced = tf.function(fn)
    for device in devices:
        suffix = "" if device == "CPU" else "-gpu"
        with tf.device(f"/{device}:0"):
            dev_args = [tf.identity(a) for a in args]
        for kind, f in (("tf-eager", fn), ("tf-function", traced)):
            name = kind + suffix
            if name not in wanted:
                continue

            def run(f=f, dev_args=dev_args, device=device):
                with tf.device(f"/{device}:0"):
                    return f(*dev_args)

            def result(run=run):
                return _numpy(t.numpy() for t in run())

            out.append(Backend(name, run, result, label=name_fn(name)))
    return out


def _label(name):
    return {"tf-function": "TF in tf.function", "tf-eager": "TF eager"}.get(name, name)


def _case(family, name, batch, dtype, samples, backends, tf_available, **kw):
    return Case(
        family, name, kw.pop("kind", "fwd+bwd"), batch, dtype, samples, backends,
        reference="tf-eager" if tf_available else None, **kw,
    )  # fmt: skip


def conv_cases(batch, dtype, tf, devices, wanted, quick):
    rng = np.random.default_rng(0)
    cases = []
    for side, c_in, f in ((28, 1, 32), (13, 32, 64)):
        if quick:
            side = min(side, 8)
        x = rng.random((batch, side, side, c_in), dtype=np.float64).astype(dtype)
        layer = Conv2D(f, (3, 3), dtype=dtype)
        layer.build((side, side, c_in), rng)
        dy = rng.standard_normal((batch, side - 2, side - 2, f)).astype(dtype)
        kernel, bias = layer.kernel, layer.bias
        backends = []
        if "scratchnet" in wanted:

            def run(layer=layer, x=x, dy=dy):
                y = layer.forward(x, training=True)
                dx = layer.backward(dy)
                return [y, dx, *layer.grads]

            backends.append(Backend("scratchnet", run, run, "scratchnet"))
        if "scratchnet-loop" in wanted and (batch <= LOOP_MAX_BATCH or quick):

            def loop(x=x, kernel=kernel, bias=bias, dy=dy):
                y = conv2d_loop(x, kernel, bias, (1, 1), "valid")
                dx, dk, db = conv2d_backward_loop(x, kernel, dy, (1, 1), "valid")
                return [y, dx, dk, db]

            backends.append(Backend("scratchnet-loop", loop, loop, "scratchnet loop reference"))
        if tf is not None:

            def tf_conv(x, k, b, dy):
                with tf.GradientTape() as tape:
                    tape.watch([x, k, b])
                    y = tf.nn.bias_add(tf.nn.conv2d(x, k, 1, "VALID"), b)
                return [y, *tape.gradient(y, [x, k, b], output_gradients=dy)]

            args = [tf.constant(a) for a in (x, kernel, bias, dy)]
            backends += _tf_backends(_label, tf_conv, args, tf, devices, wanted)
        name = f"Conv2D 3x3x{c_in}x{f} on {side}x{side}"
        cases.append(_case("conv", name, batch, dtype, batch, backends, tf is not None))
    return cases


def pool_cases(batch, dtype, tf, devices, wanted, quick):
    rng = np.random.default_rng(1)
    side = 8 if quick else 26
    x = rng.standard_normal((batch, side, side, 32)).astype(dtype)
    layer = MaxPooling2D((2, 2), dtype=dtype)
    layer.build(x.shape[1:])
    dy = rng.standard_normal((batch, side // 2, side // 2, 32)).astype(dtype)
    backends = []
    if "scratchnet" in wanted:

        def run():
            y = layer.forward(x, training=True)
            return [y, layer.backward(dy)]

        backends.append(Backend("scratchnet", run, run, "scratchnet"))
    if "scratchnet-loop" in wanted and (batch <= LOOP_MAX_BATCH or quick):

        def loop():
            args = ((2, 2), (2, 2), "valid")
            return [max_pool2d_loop(x, *args), max_pool2d_backward_loop(x, dy, *args)]

        backends.append(Backend("scratchnet-loop", loop, loop, "scratchnet loop reference"))
    if tf is not None:

        def tf_pool(x, dy):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.max_pool2d(x, 2, 2, "VALID")
            return [y, tape.gradient(y, x, output_gradients=dy)]

        args = [tf.constant(x), tf.constant(dy)]
        backends += _tf_backends(_label, tf_pool, args, tf, devices, wanted)
    name = f"MaxPooling2D 2x2 on {side}x{side}x32"
    return [_case("pool", name, batch, dtype, batch, backends, tf is not None)]


def dense_cases(batch, dtype, tf, devices, wanted, quick):
    rng = np.random.default_rng(2)
    n_in = 64 if quick else 5408
    x = rng.standard_normal((batch, n_in)).astype(dtype)
    layer = Dense(10, dtype=dtype)
    layer.build((n_in,), rng)
    dy = rng.standard_normal((batch, 10)).astype(dtype)
    backends = []
    if "scratchnet" in wanted:

        def run():
            y = layer.forward(x, training=True)
            return [y, layer.backward(dy), *layer.grads]

        backends.append(Backend("scratchnet", run, run, "scratchnet"))
    if tf is not None:

        def tf_dense(x, k, b, dy):
            with tf.GradientTape() as tape:
                tape.watch([x, k, b])
                y = tf.matmul(x, k) + b
            return [y, *tape.gradient(y, [x, k, b], output_gradients=dy)]

        args = [tf.constant(a) for a in (x, layer.kernel, layer.bias, dy)]
        backends += _tf_backends(_label, tf_dense, args, tf, devices, wanted)
    return [_case("dense", f"Dense {n_in}->10", batch, dtype, batch, backends, tf is not None)]


def activation_cases(batch, dtype, tf, devices, wanted, quick):
    rng = np.random.default_rng(3)
    width = 64 if quick else 1024
    x = rng.standard_normal((batch, width)).astype(dtype) * 3
    dy = rng.standard_normal((batch, width)).astype(dtype)
    keras = None
    if tf is not None:
        import keras
    cases = []
    for name in sorted(activations._ACTIVATIONS):
        act = activations.get(name)
        backends = []
        if "scratchnet" in wanted:

            def run(act=act):
                y = act(x)
                return [y, act.backward(x, y, dy)]

            backends.append(Backend("scratchnet", run, run, "scratchnet"))
        if keras is not None:
            fn = keras.activations.get(name)

            def tf_act(x, dy, fn=fn):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = fn(x)
                return [y, tape.gradient(y, x, output_gradients=dy)]

            args = [tf.constant(x), tf.constant(dy)]
            backends += _tf_backends(_label, tf_act, args, tf, devices, wanted)
        cases.append(
            _case("activations", f"activation {name} ({width} wide)", batch, dtype, batch,
                  backends, tf is not None)
        )  # fmt: skip
    return cases


def softmax_ce_cases(batch, dtype, tf, devices, wanted, quick):
    rng = np.random.default_rng(4)
    z = (rng.standard_normal((batch, 10)) * 3).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, batch)]
    loss = losses.CategoricalCrossentropy(from_logits=True)
    backends = []
    if "scratchnet" in wanted:

        def run():
            return [np.asarray(loss(y, z)), loss.gradient(y, z)]

        backends.append(Backend("scratchnet", run, run, "scratchnet"))
    if tf is not None:

        def tf_ce(z, y):
            with tf.GradientTape() as tape:
                tape.watch(z)
                value = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, z))
            return [value, tape.gradient(value, z)]

        args = [tf.constant(z), tf.constant(y)]
        backends += _tf_backends(_label, tf_ce, args, tf, devices, wanted)
    return [_case("softmax_ce", "softmax + cross-entropy (10 classes)", batch, dtype, batch,
                  backends, tf is not None)]  # fmt: skip


def optimizer_cases(dtype, tf, devices, wanted, quick):
    """One update of the classic model's parameters (kernel, bias, Dense kernel, bias) per optimizer."""
    rng = np.random.default_rng(5)
    shapes = [(3, 3, 1, 32), (32,), (64, 10) if quick else (5408, 10), (10,)]
    params0 = [rng.standard_normal(s).astype(dtype) * 0.1 for s in shapes]
    grads = [rng.standard_normal(s).astype(dtype) * 0.01 for s in shapes]
    keras = None
    if tf is not None:
        import keras
    cases = []
    for name in sorted(optimizers._OPTIMIZERS):
        backends = []
        if "scratchnet" in wanted:
            params = [p.copy() for p in params0]
            opt = optimizers.get(name)

            def run(opt=opt, params=params):
                opt.apply_gradients(zip(grads, params, strict=True))

            def result(name=name):
                fresh = [p.copy() for p in params0]
                optimizers.get(name).apply_gradients(zip(grads, fresh, strict=True))
                return fresh

            backends.append(Backend("scratchnet", run, result, "scratchnet"))
        if keras is not None:
            cls_name, kwargs = KERAS_OPTIMIZERS[name]
            for device in devices:
                suffix = "" if device == "CPU" else "-gpu"
                for kind in ("tf-eager", "tf-function"):
                    if kind + suffix not in wanted:
                        continue

                    def make(device=device, kind=kind, cls_name=cls_name, kwargs=kwargs):
                        with tf.device(f"/{device}:0"):
                            variables = [tf.Variable(p) for p in params0]
                            tf_grads = [tf.constant(g) for g in grads]
                            opt = getattr(keras.optimizers, cls_name)(**kwargs)
                            opt.build(variables)

                        def update():
                            with tf.device(f"/{device}:0"):
                                opt.apply_gradients(zip(tf_grads, variables, strict=True))

                        return variables, (tf.function(update) if kind == "tf-function" else update)

                    _, step = make()

                    def result(make=make):
                        variables, fresh_step = make()
                        fresh_step()
                        return [v.numpy() for v in variables]

                    backends.append(Backend(kind + suffix, step, result, _label(kind) + suffix))
        cases.append(
            Case("optimizers", f"optimizer {name}", "update", None, dtype, 0, backends,
                 reference="tf-eager" if keras is not None else None)
        )  # fmt: skip
    return cases


def build_cases(families, batches, dtype, tf, devices, wanted, quick):
    """All op cases of ``families`` at each batch size (optimizers once: they have no batch)."""
    makers = {
        "conv": conv_cases,
        "pool": pool_cases,
        "dense": dense_cases,
        "activations": activation_cases,
        "softmax_ce": softmax_ce_cases,
    }
    cases = []
    for family in FAMILIES:
        if family not in families:
            continue
        if family == "optimizers":
            cases += optimizer_cases(dtype, tf, devices, wanted, quick)
            continue
        for batch in batches:
            cases += makers[family](batch, dtype, tf, devices, wanted, quick)
    return [c for c in cases if c.backends]
