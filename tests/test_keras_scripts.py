"""The Keras-style scripts of tests/keras_scripts, run under scratchnet with only their imports changed.

The parity suite runs the same scripts under Keras 3 and compares the accuracies
(parity/cases/scripts.py). The scripts are unseeded, as users write them; the
tasks are easy enough that every run clears the bar below.
"""

import numpy as np
import pytest

from tests import keras_scripts

MIN_ACCURACY = 0.8


def test_the_two_versions_differ_only_in_their_imports():
    for name in keras_scripts.SCRIPTS:
        keras_lines = keras_scripts.source(name, "keras").splitlines()
        ours = keras_scripts.source(name, "scratchnet").splitlines()
        changed = {(a, b) for a, b in zip(keras_lines, ours, strict=True) if a != b}
        assert changed and changed <= set(keras_scripts.KERAS_TO_SCRATCHNET.items())
        assert "scratchnet" not in keras_scripts.source(name, "keras")


@pytest.mark.parametrize("name", keras_scripts.SCRIPTS)
def test_script_runs_under_scratchnet(name):
    namespace, printed = keras_scripts.run(name, "scratchnet")
    assert namespace["test_acc"] >= MIN_ACCURACY, printed
    assert "test accuracy" in printed or "restored test accuracy" in printed


def test_what_the_scripts_print():
    _, printed = keras_scripts.run("s1_input_sequential", "scratchnet")
    assert "data format: channels_last float32" in printed
    assert "Total params:" in printed and "Epoch 6/6" in printed
    assert "val_accuracy:" in printed  # the verbose=2 epoch lines, as Keras
    last = printed.strip().splitlines()[-2]
    assert last.startswith("5/5 - ") and " - loss: " in last and " - accuracy: " in last


def test_the_readme_excerpt_is_the_script():
    readme = (keras_scripts.HERE.parent.parent / "README.md").read_text()
    excerpt = readme.split("```py\n", 1)[1].split("```", 1)[0]
    script = keras_scripts.source("s2_functional_merge", "keras")
    assert excerpt.strip() and all(line in script for line in excerpt.splitlines())


def test_a_script_that_sets_the_random_seed_repeats_exactly():
    first, _ = keras_scripts.run(
        "s5_rescaling_reshape", "scratchnet"
    )  # keras.utils.set_random_seed(812)
    again, _ = keras_scripts.run("s5_rescaling_reshape", "scratchnet")
    assert first["test_acc"] == again["test_acc"]
    for a, b in zip(first["model"].get_weights(), again["model"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    from scratchnet import config

    assert config.next_seed() is None  # the seed did not leak out of the script
