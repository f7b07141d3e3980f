r"""Whole-model cases: a training step, a full epoch, inference, and the peak memory of an epoch.

The two models of the issue, both with Adam and categorical cross-entropy:

* classic: Conv2D(32, 3x3, relu) - MaxPooling2D(2) - Flatten - Dense(10, softmax);
* deeper: Conv2D(32) - MaxPooling2D - Conv2D(64) - MaxPooling2D - Flatten -
  Dense(128, relu) - Dense(10, softmax).

scratchnet builds the model (seed 0); ``scratchnet.keras_io.to_keras`` copies
it, weights bit for bit, into each Keras model, so every backend starts from
the same weights. Backends:

* ``scratchnet``: ``model.fit`` / ``model.predict``;
* ``keras``: ``model.fit`` / ``model.predict`` (the path a Keras user takes);
* ``keras-xla``: the same with ``compile(jit_compile=True)`` (float32 only);
* ``tf-function`` / ``tf-eager``: a hand-written ``GradientTape`` training
  step on the Keras model's variables, traced into a ``tf.function`` or run eagerly;
* ``keras-gpu``: Keras ``fit``/``predict`` on the GPU when TF sees one;
* ``keras-jax``: Keras 3 on its JAX backend, in a child process
  (``benchmarks.jax_child``), on the device JAX sees: the stand-in for TF on a
  GPU where TF-GPU cannot be installed, labelled with its device. It runs by
  default when JAX sees a GPU, and on the CPU when ``--backends`` names it.

``max_diff`` of a training row: after ONE training step (the first batch)
from the shared initial weights, the largest difference of the model's
predictions on a fixed probe batch from Keras ``fit``'s. Of a predict row: of the predictions themselves.

Peak memory: ``python -m benchmarks.model_cases memory BACKEND BATCH SAMPLES``
trains one epoch of the classic model in a fresh process and prints its peak
resident set size (``ru_maxrss``) as JSON.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.timing import Backend, Case
from scratchnet import layers
from scratchnet.models import Sequential

MODELS = ("classic", "deeper")
MODEL_BACKENDS = ("scratchnet", "keras", "keras-xla", "tf-function", "tf-eager")
GPU_MODEL_BACKENDS = ("keras-gpu", "keras-jax")


def build_model(name, dtype, seed=0):
    """The scratchnet model ``name``, built and compiled (Adam, categorical cross-entropy)."""
    if name == "classic":
        stack = [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1), dtype=dtype),
            layers.MaxPooling2D((2, 2), dtype=dtype),
            layers.Flatten(dtype=dtype),
            layers.Dense(10, activation="softmax", dtype=dtype),
        ]
    else:
        stack = [
            layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1), dtype=dtype),
            layers.MaxPooling2D((2, 2), dtype=dtype),
            layers.Conv2D(64, (3, 3), activation="relu", dtype=dtype),
            layers.MaxPooling2D((2, 2), dtype=dtype),
            layers.Flatten(dtype=dtype),
            layers.Dense(128, activation="relu", dtype=dtype),
            layers.Dense(10, activation="softmax", dtype=dtype),
        ]
    model = Sequential(stack, name=name, seed=seed)
    model.build((28, 28, 1))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def mnist_like(n, dtype, rng=None):
    """``n`` MNIST training images (x/255, one-hot labels); synthetic ones if MNIST is not cached."""
    try:
        from scratchnet.datasets import mnist

        (x, y), _ = mnist.load_data()
        x = (x[:n].reshape(-1, 28, 28, 1) / 255).astype(dtype)
        y = y[:n]
        source = "MNIST"
    except Exception:  # noqa: BLE001 - any reason to lack the data set: fall back, say so
        rng = rng or np.random.default_rng(0)
        x = rng.random((n, 28, 28, 1)).astype(dtype)
        y = rng.integers(0, 10, n)
        source = "synthetic"
    if x.shape[0] < n:  # repeat to the size asked for
        reps = -(-n // x.shape[0])
        x, y = np.concatenate([x] * reps)[:n], np.concatenate([y] * reps)[:n]
    return x, np.eye(10, dtype=dtype)[y], source


def _keras_copy(model, keras, jit_compile=False):
    from scratchnet.keras_io import to_keras

    km = to_keras(model)
    km.compile(
        optimizer=keras.optimizers.Adam(),
        loss="categorical_crossentropy",
        jit_compile=jit_compile,
    )
    return km


def _tf_step_backend(km, keras, tf, xs, ys, traced):
    """A GradientTape training step on ``km``'s variables (Adam), over the pre-cut batches."""
    opt = keras.optimizers.Adam()
    loss_fn = keras.losses.CategoricalCrossentropy()

    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, km(xb, training=True))
        grads = tape.gradient(loss, km.trainable_variables)
        opt.apply_gradients(zip(grads, km.trainable_variables, strict=True))
        return loss

    step_fn = tf.function(step) if traced else step

    def run():
        for xb, yb in zip(xs, ys, strict=True):
            step_fn(xb, yb)

    return run


# -- Keras on JAX, in a child process -----------------------------------------------------

_JAX_CHILDREN: list = []


def jax_sees_gpu() -> bool:
    """Whether JAX is installed and sees a GPU (asked in a child: the parent keeps its GPU memory free)."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        return False
    probe = "import jax; print(jax.default_backend())"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    return out.stdout.strip() in ("gpu", "cuda", "rocm")


class JaxKerasChild:
    """A persistent ``benchmarks.jax_child`` process; ``run`` and ``result`` are a ``Backend``'s callables."""

    def __init__(self, model_name, kind, batch, dtype, n):
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, KERAS_BACKEND="jax", XLA_PYTHON_CLIENT_PREALLOCATE="false")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.jax_child", model_name, kind, str(batch), dtype, str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=root,
        )  # fmt: skip
        _JAX_CHILDREN.append(self)
        first = self.proc.stdout.readline()
        if not first:
            raise RuntimeError(
                "benchmarks.jax_child exited before it was ready (is JAX installed? "
                'pip install -e ".[jax]")'
            )
        self.info = json.loads(first)
        self.device = self.info["device"]

    def _call(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "done":
            raise RuntimeError(f"benchmarks.jax_child answered {answer!r} to {line!r}")

    def run(self) -> None:
        self._call("run")

    def result(self) -> list:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "result.npy")
            self._call(f"result {path}")
            return [np.load(path)]

    def label(self, what: str) -> str:
        stand_in = ", the stand-in for TF on a GPU" if self.device != "cpu" else ""
        return f"Keras {what} on JAX ({self.device}){stand_in}"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


def close_jax_children() -> None:
    """Stop every ``JaxKerasChild`` (called after each group of cases, and at exit)."""
    while _JAX_CHILDREN:
        _JAX_CHILDREN.pop().close()


atexit.register(close_jax_children)


def training_cases(model_name, batch, dtype, steps, tf, wanted, gpu, rounds, kind="step"):
    """``steps`` training steps per call (``kind="step"``), or a whole epoch (``kind="epoch"``)."""
    n = steps * batch
    x, y, source = mnist_like(n, dtype)
    probe = x[:64]
    model = build_model(model_name, dtype)
    keras = None
    if tf is not None:
        import keras
    backends = []

    def fit_backend(name, label, fit, one_step, predict, device=None):
        """``fit`` is timed; ``result`` trains ONE step from the shared initial weights, then predicts."""

        def on_device(f):
            if device is None:
                return f()
            with tf.device(device):
                return f()

        def result():
            on_device(one_step)
            return [np.asarray(on_device(lambda: predict(probe)))]

        backends.append(Backend(name, lambda: on_device(fit), result, label))

    keras_models = {}
    if keras is not None:  # copies made before scratchnet trains a step
        for name in ("keras", "keras-xla", "tf-function", "tf-eager", "keras-gpu"):
            if name not in wanted or (name == "keras-xla" and dtype != "float32"):
                continue
            if name == "keras-gpu" and not gpu:
                continue
            if name in ("tf-eager",) and kind == "epoch":
                continue
            device = "/GPU:0" if name == "keras-gpu" else "/CPU:0"
            with tf.device(device):
                keras_models[name] = _keras_copy(model, keras, jit_compile=name == "keras-xla")
    if "scratchnet" in wanted:
        fit_backend(
            "scratchnet", "scratchnet fit",
            lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False),
            lambda: model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0),
            lambda p: model.predict(p, batch_size=64, verbose=0),
        )  # fmt: skip
    for name, km in keras_models.items():
        device = "/GPU:0" if name == "keras-gpu" else "/CPU:0"
        if name in ("keras", "keras-xla", "keras-gpu"):
            label = {"keras": "Keras fit", "keras-xla": "Keras fit, jit_compile=True (XLA)",
                     "keras-gpu": "Keras fit on the GPU"}[name]  # fmt: skip
            fit_backend(
                name, label,
                lambda km=km: km.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False),
                lambda km=km: km.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0),
                lambda p, km=km: km.predict(p, batch_size=64, verbose=0),
                device,
            )  # fmt: skip
        else:
            with tf.device(device):
                xs = [tf.constant(x[i : i + batch]) for i in range(0, n, batch)]
                ys = [tf.constant(y[i : i + batch]) for i in range(0, n, batch)]
            run = _tf_step_backend(km, keras, tf, xs, ys, traced=name == "tf-function")
            one = _tf_step_backend(km, keras, tf, xs[:1], ys[:1], traced=name == "tf-function")
            label = (
                "TF GradientTape step in tf.function" if name == "tf-function" else "TF eager step"
            )
            fit_backend(
                name,
                label,
                run,
                one,
                lambda p, km=km: km.predict(p, batch_size=64, verbose=0),
                device,
            )
    if "keras-jax" in wanted and kind == "step":
        child = JaxKerasChild(model_name, "fit", batch, dtype, n)
        backends.append(Backend("keras-jax", child.run, child.result, child.label("fit")))
    what = f"{model_name} fit, batch {batch}" + (" (one epoch)" if kind == "epoch" else "")
    if "keras" not in keras_models and "tf-eager" in keras_models:
        what = f"{model_name} train step vs TF eager, batch {batch}"
    reference = next((b for b in ("keras", "tf-eager") if b in keras_models), None)
    case = Case(
        model_name, what, kind, batch, dtype, n, backends, reference=reference,
        rounds=rounds, number=1, warmup=0, note=f"{steps} steps per call on {source} data",
        steps_per_call=steps,
    )  # fmt: skip
    return case


def predict_case(model_name, batch, dtype, n, tf, wanted, gpu, rounds):
    """Inference throughput: ``predict`` of ``n`` images at ``batch``."""
    x, _, source = mnist_like(n, dtype)
    model = build_model(model_name, dtype)
    backends = []
    if "scratchnet" in wanted:

        def sn():
            return [model.predict(x, batch_size=batch, verbose=0)]

        backends.append(Backend("scratchnet", sn, sn, "scratchnet predict"))
    if tf is not None:
        import keras

        for name in ("keras", "keras-gpu"):
            if name not in wanted or (name == "keras-gpu" and not gpu):
                continue
            device = "/GPU:0" if name == "keras-gpu" else "/CPU:0"
            with tf.device(device):
                km = _keras_copy(model, keras)

            def run(km=km, device=device):
                with tf.device(device):
                    return [km.predict(x, batch_size=batch, verbose=0)]

            label = "Keras predict" + (" on the GPU" if name == "keras-gpu" else "")
            backends.append(Backend(name, run, run, label))
    if "keras-jax" in wanted:
        child = JaxKerasChild(model_name, "predict", batch, dtype, n)
        backends.append(Backend("keras-jax", child.run, child.result, child.label("predict")))
    case = Case(
        model_name, f"{model_name} predict, batch {batch}", "predict", batch, dtype, n, backends,
        reference="keras" if tf is not None and "keras" in wanted else None,
        rounds=rounds, number=1, warmup=0, note=f"{n} images of {source} data per call",
    )  # fmt: skip
    return case


# -- a busy core --------------------------------------------------------------------


class BusyCore:
    """A context that keeps one core busy with a spinning child process (the contention test)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


# -- peak memory of one epoch, in fresh processes -----------------------------------------


def memory_child(backend, batch, samples):
    """Train the classic model for one epoch of ``samples`` images; return peak RSS in MiB."""
    model = build_model("classic", "float32")
    x, y, source = mnist_like(samples, "float32")
    if backend == "keras":
        import keras

        km = _keras_copy(model, keras)
        del model
        km.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    else:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    return {"backend": backend, "peak_rss_mib": peak_rss_mib(), "samples": samples, "data": source}


def peak_rss_mib():
    """This process's peak resident set size: VmHWM (ru_maxrss would carry the parent's peak across fork/exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_memory(backends, batch, samples, repeats, env=None):
    """Peak RSS of one epoch per backend, each in a fresh process, runs interleaved."""
    out = {b: [] for b in backends}
    for _ in range(repeats):
        for b in backends:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.model_cases", "memory", b, str(batch), str(samples)],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                raise RuntimeError(f"the memory run of {b} failed:\n{proc.stderr[-2000:]}")
            out[b].append(json.loads(proc.stdout.strip().splitlines()[-1])["peak_rss_mib"])
    return out


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "memory":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        print(json.dumps(memory_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        sys.exit("usage: python -m benchmarks.model_cases memory BACKEND BATCH SAMPLES")
