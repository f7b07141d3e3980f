r"""scratchnet against TensorFlow/Keras: the parity suite (issue #4).

One table of cases (``parity.cases.CASES``) drives both ``pytest parity/`` and
``python -m parity`` (which writes ``parity/REPORT.md``), so the tests and the
report cannot drift. Each case computes the same quantity with scratchnet and
with TensorFlow/Keras on the same random inputs and returns the pairs to
compare; ``parity._harness`` measures them against the case's tolerance.

Importing this package sets the environment TensorFlow must see before it is
imported (oneDNN off, GPUs hidden, the TensorFlow backend for Keras); it does
not import TensorFlow itself.
"""

from __future__ import annotations

import os
import sys

# The versions the suite was checked against (``pyproject.toml``'s ``tf`` extra).
CHECKED_AGAINST = {"tensorflow": "2.21.0", "keras": "3.15.1"}


def configure_environment() -> None:
    """Set what TensorFlow reads at import time; a no-op for an already imported TensorFlow.

    * ``TF_ENABLE_ONEDNN_OPTS=0``: oneDNN reorders float32 sums (~1e-7 changes).
    * ``CUDA_VISIBLE_DEVICES=-1``: CPU only, so TF32 matmuls and GPU kernels
      with other summation orders never enter a comparison.
    * ``KERAS_BACKEND=tensorflow``: the backend the semantics were read from.
    """
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
    os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# True when TensorFlow was imported before this package could set its environment.
TF_IMPORTED_EARLY = "tensorflow" in sys.modules
configure_environment()
