r"""Item 7: the Keras-style scripts of ``tests/keras_scripts``, run under Keras 3 and under scratchnet.

Each script is written for Keras; the scratchnet run changes its import lines
only (``tests.keras_scripts.KERAS_TO_SCRATCHNET``). Both versions must run to
the end, and their test accuracies (160 held-out images of the scripts' toy
data set) are compared. The scripts are unseeded, as users write them, so the
two runs start from different random weights and shuffles: the accuracies
may differ by 0.1 absolute (the run-to-run spread of either library on these
scripts is about 0.05).
"""

from __future__ import annotations

from parity._harness import Case, Comparison, Tolerance
from parity._tf import tf_keras

ACCURACY_GAP = 0.1
SCRIPT_TOL = {"float32": {"accuracy": Tolerance(0.0, ACCURACY_GAP)}}
SCRIPT_REASON = (
    "Unseeded scripts (as users write them): different initial weights, dropout masks and "
    f"shuffles on each side, so the test accuracies may differ by {ACCURACY_GAP} absolute."
)


def _script_case(name):
    def run(dtype, rng):
        from tests import keras_scripts

        tf_keras()  # TensorFlow set up (CPU, deterministic ops) before the Keras run
        keras_ns, _ = keras_scripts.run(name, "keras")
        ours, _ = keras_scripts.run(name, "scratchnet")
        return [
            Comparison(
                "test accuracy",
                float(ours["test_acc"]),
                float(keras_ns["test_acc"]),
                "accuracy",
                check_dtype=False,
            )
        ]

    return Case(
        "scripts",
        f"{name} (imports changed only)",
        run,
        needs=("models",),
        dtypes=("float32",),
        kinds=("accuracy",),
        tolerances=SCRIPT_TOL,
        reason=SCRIPT_REASON,
    )


def _cases():
    from tests import keras_scripts

    return [_script_case(name) for name in keras_scripts.SCRIPTS]


CASES = _cases()
