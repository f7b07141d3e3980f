r"""Keras 3 on its JAX backend, in a child process: the benchmarks' stand-in for TensorFlow on a GPU.

TF-GPU cannot be installed everywhere a GPU is (the lent GPU machines have JAX
and no TensorFlow); Keras 3 runs the same model on JAX there, on whatever
device JAX sees, so its ``fit``/``predict`` times are an honest stand-in, labelled
as such. Keras picks its backend when it is first imported, and the parent
process has Keras on TensorFlow already, so the JAX model lives in this child:

    KERAS_BACKEND=jax python -m benchmarks.jax_child MODEL KIND BATCH DTYPE N

builds the scratchnet model ``MODEL`` (seed 0, the parent's weights) and its
Keras copy (``scratchnet.keras_io.to_keras``, weights bit for bit), the same
``N`` MNIST images as the parent, prints one JSON line (``device``, versions),
then answers commands on stdin, one per line, with ``done`` on stdout:

* ``run``: the timed work: KIND ``fit`` (one epoch over the N images at BATCH,
  Adam, categorical cross-entropy, no shuffling) or ``predict`` (the N images);
* ``result PATH``: writes to PATH (``.npy``) what the parent compares with TF:
  for ``fit``, the predictions on the 64-image probe after ONE training step
  from the initial weights (a fresh copy); for ``predict``, the predictions;
* ``quit``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def main(argv=None) -> int:
    model_name, kind, batch, dtype, n = (argv or sys.argv[1:])[:5]
    batch, n = int(batch), int(n)
    if os.environ.get("KERAS_BACKEND") != "jax":
        raise SystemExit("benchmarks.jax_child needs KERAS_BACKEND=jax in its environment")
    import jax
    import keras

    from benchmarks.model_cases import build_model, mnist_like
    from scratchnet.keras_io import to_keras

    model = build_model(model_name, dtype)
    x, y, source = mnist_like(n, dtype)

    def keras_copy():
        km = to_keras(model)
        km.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
        return km

    km = keras_copy()
    device = jax.devices()[0]
    print(
        json.dumps(
            {
                "device": device.platform,
                "device_kind": getattr(device, "device_kind", ""),
                "jax": jax.__version__,
                "keras": keras.__version__,
                "data": source,
            }  # fmt: skip
        ),
        flush=True,
    )
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "run":
            if kind == "fit":
                km.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
            else:
                km.predict(x, batch_size=batch, verbose=0)
        elif command == "result":
            if kind == "fit":
                fresh = keras_copy()
                fresh.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)
                out = fresh.predict(x[:64], batch_size=64, verbose=0)
            else:
                out = km.predict(x, batch_size=batch, verbose=0)
            np.save(arg, np.asarray(out))
        elif command == "quit":
            break
        else:
            raise SystemExit(f"benchmarks.jax_child: unknown command {command!r}")
        print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
