"""Small Keras-style scripts that run under Keras 3 and, with only their imports changed, under scratchnet.

Each ``s*.py`` here is written for Keras (``import keras`` / ``from keras import
layers``) and leaves its test accuracy in ``test_acc``. ``source(name,
"scratchnet")`` is the same text with the import lines swapped by
``KERAS_TO_SCRATCHNET`` (and nothing else); ``run`` executes either version.
``tests/test_keras_scripts.py`` runs the scratchnet versions; the parity suite
(``parity/cases/scripts.py``) runs both and compares the accuracies.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = sorted(p.stem for p in HERE.glob("s[0-9]*.py"))

# The whole difference between the two versions of every script.
KERAS_TO_SCRATCHNET = {
    "import keras": "import scratchnet as keras",
    "from keras import layers": "from scratchnet import layers",
}


def source(name: str, backend: str) -> str:
    """The script's text for ``backend`` ("keras" or "scratchnet")."""
    text = (HERE / f"{name}.py").read_text()
    if backend == "keras":
        return text
    lines = text.splitlines()
    swapped = [KERAS_TO_SCRATCHNET.get(line, line) for line in lines]
    if sum(a != b for a, b in zip(lines, swapped, strict=True)) == 0:
        raise ValueError(f"{name}: no Keras import line to swap")
    return "\n".join(swapped) + "\n"


def run(name: str, backend: str) -> tuple[dict, str]:
    """Execute the script under ``backend``; returns (its global namespace, what it printed)."""
    namespace = {"__name__": "__main__", "__file__": str(HERE / f"{name}.py")}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source(name, backend), f"{name}[{backend}].py", "exec"), namespace)
    finally:
        if backend == "scratchnet":  # a script's utils.set_random_seed must not outlive it
            from scratchnet import config

            config.set_random_seed(None)
    return namespace, printed.getvalue()
