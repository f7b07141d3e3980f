"""The shared argument checks: one message form for the same mistake everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet import (
    _checks,
    activations,
    initializers,
    layers,
    losses,
    metrics,
    optimizers,
    utils,
)
from scratchnet.layers import Dense


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_boolean_accepts_bools(value):
    assert _checks.boolean("flag", value) is bool(value)


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
def test_boolean_refuses_non_bools(value):
    with pytest.raises(TypeError, match=r"argument flag\. Expected a bool\. Received flag="):
        _checks.boolean("flag", value)


@pytest.mark.parametrize(
    "make",
    [
        lambda: activations.gelu(np.zeros(2), approximate=1),
        lambda: losses.CategoricalCrossentropy(from_logits=1),
        lambda: optimizers.Adam(amsgrad="no"),
        lambda: utils.KFold(3, stratified=0),
        lambda: Dense(2, use_bias=1),
    ],
)
def test_every_module_uses_the_same_bool_message(make):
    with pytest.raises(TypeError, match=r"Expected a bool\. Received \w+=.* of type"):
        make()


def test_axis():
    assert _checks.axis(-1, 3) == -1
    assert _checks.axis(np.int64(2), 3) == 2
    with pytest.raises(
        ValueError, match=r"argument axis\. Expected an integer in \[-2, 2\).*axis=2"
    ):
        _checks.axis(2, 2)
    with pytest.raises(
        TypeError, match=r"argument axis\. Expected an integer\. Received axis=True"
    ):
        _checks.axis(True, 2)


@pytest.mark.parametrize("value", ["", None, 3])
def test_non_empty_string(value):
    with pytest.raises(TypeError, match=r"argument name\. Expected a non-empty string"):
        _checks.non_empty_string("name", value)
    assert _checks.non_empty_string("name", "a") == "a"


def test_numeric_array_and_float_array():
    a = np.arange(3)
    assert _checks.numeric_array("x", a) is a  # no copy
    assert _checks.float_array("x", a, np.float32).dtype == np.float32
    with pytest.raises(TypeError, match=r"dtype for argument x\. Expected a numeric array.*<U1"):
        _checks.numeric_array("x", np.array(["a"]))
    with pytest.raises(TypeError, match=r"type for argument x\. Expected a numeric array"):
        _checks.numeric_array("x", [[1, 2], [3]])


def test_invalid_received():
    err = _checks.invalid_received("dy", "shape (2,)", "an array of shape (3,)")
    assert isinstance(err, ValueError)
    assert str(err) == (
        "Invalid value for argument dy. Expected shape (2,). Received an array of shape (3,)."
    )


@pytest.mark.parametrize(
    ("get", "class_name"),
    [
        (optimizers.get, "Adam"),
        (losses.get, "MeanSquaredError"),
        (initializers.get, "GlorotUniform"),
    ],
)
def test_from_config_names_unknown_keys_and_refuses_non_dicts(get, class_name):
    with pytest.raises(
        TypeError,
        match=rf"argument config\. Expected keys among \[.*\] for {class_name}\. "
        r"Received unexpected keyword argument 'lr'\.",
    ):
        get({"class_name": class_name, "config": {"lr": 1}})
    with pytest.raises(ValueError, match=r"argument config\. Expected a dict|Expected a dict"):
        get({"class_name": class_name, "config": 3})


def test_layer_and_metric_from_config_name_unknown_keys():
    with pytest.raises(
        TypeError, match=r"for Dense\. Received unexpected keyword arguments 'a', 'b'"
    ):
        layers.deserialize({"class_name": "Dense", "config": {"units": 2, "a": 1, "b": 2}})
    with pytest.raises(TypeError, match=r"for Precision\. Received unexpected keyword argument"):
        metrics.Precision.from_config({"name": "p", "thresh": 0.5})
    assert layers.Dense.from_config({"units": 2}).units == 2
