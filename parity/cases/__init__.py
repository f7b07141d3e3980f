"""The one table of parity cases, in report order: ``CASES``.

Each submodule holds one item of issue #4 and exports ``CASES``; pytest
(``parity/test_*.py``) and the report (``python -m parity``) both read this
list, so they cannot drift.
"""

from __future__ import annotations

from parity.cases import (
    activations,
    fit,
    keras_io,
    layers,
    losses,
    models,
    optimizers,
    references,
    scripts,
    tracking,
)

GROUPS = {
    "activations": activations.CASES,
    "layers": layers.CASES,
    "losses": losses.CASES,
    "optimizers": optimizers.CASES,
    "models": models.CASES,
    "keras_io": keras_io.CASES,
    "scripts": scripts.CASES,
    "tracking": tracking.CASES,
    "fit": fit.CASES,
    "references": references.CASES,
}

# group -> section title in the report
TITLES = {
    "activations": "1. Activations: forward and gradient, every flag value",
    "layers": "2. Layers: outputs, input gradients and parameter gradients",
    "losses": "3. Losses: values and gradients on both paths",
    "optimizers": f"4. Optimizers: {optimizers.STEPS}-step trajectories, weights and slots",
    "models": "5. Whole models: predictions, loss, gradients, and training side by side",
    "keras_io": "6. scratchnet.keras_io: to_keras / from_keras round trips",
    "scripts": "7. Keras-style scripts, imports changed only: test accuracy under Keras and scratchnet",
    "tracking": (
        f"8. float32 that tracks TF: {tracking.STEPS} train_on_batch steps of the classic CNN, "
        "every optimizer at Keras' defaults, norm-wise over all weights"
    ),
    "fit": (
        f"9. fit: {fit.EPOCHS} epochs with a short last batch, validation_split / validation_data, "
        "every History value and the final weights"
    ),
    "references": "10. Independent references: the max-pool tie rule, decided by TF",
}

CASES = [case for cases in GROUPS.values() for case in cases]

_ids = [case.id for case in CASES]
if len(set(_ids)) != len(_ids):
    raise RuntimeError("parity case ids must be unique")


def cases_in(group: str):
    """The cases of one group (a test module's share of the table)."""
    return GROUPS[group]
