"""Initializers: Keras' formulas on large draws, fan rules, determinism, dtype, lookup, errors."""

import json
import math

import numpy as np
import pytest

from scratchnet import config, initializers
from scratchnet.initializers import compute_fans

# name -> (scale, mode, distribution) as Keras defines each (keras/src/initializers/random_initializers.py)
VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
}
ALL_NAMES = [*VARIANCE_SCALING, "zeros", "ones", "random_normal", "random_uniform"]


@pytest.mark.parametrize(
    "shape, fans",
    [
        ((), (1, 1)),
        ((7,), (7, 7)),
        ((3, 5), (3, 5)),  # Dense kernel (in, out)
        ((3, 3, 2, 8), (18, 72)),  # Conv2D kernel (kh, kw, in, out): receptive field 9
        ((5, 3, 4, 6), (60, 90)),  # non-square kernel: receptive field 15
        ((2, 3, 4, 5, 6), (120, 144)),  # Conv3D kernel: receptive field 24
    ],
)
def test_compute_fans_follows_keras_rule(shape, fans):
    assert compute_fans(shape) == fans


def _n(shape, mode):
    fan_in, fan_out = compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


@pytest.mark.parametrize("name", list(VARIANCE_SCALING))
@pytest.mark.parametrize("shape", [(300, 500), (5, 5, 40, 60)], ids=["dense", "conv"])
def test_variance_scaling_family_matches_its_formula(name, shape):
    scale, mode, distribution = VARIANCE_SCALING[name]
    n = _n(shape, mode)
    w = initializers.get(name)(shape, np.random.default_rng(0), dtype="float64")
    assert w.shape == shape
    target_std = math.sqrt(scale / n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * scale / n)  # e.g. glorot: sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit
        assert abs(w.mean()) < 0.01 * limit
    else:
        cut = 2.0 * target_std / 0.87962566103423978  # +-2 of the pre-truncation deviation
        assert np.abs(w).max() <= cut
        assert np.abs(w).max() > 0.99 * cut
        assert abs(w.mean()) < 0.01 * target_std
    assert w.std() == pytest.approx(target_std, rel=0.01)


def test_named_limits_spelled_out():
    rng = np.random.default_rng(1)
    # Glorot uniform on a conv kernel: fan_in = 3*3*16, fan_out = 3*3*32.
    w = initializers.GlorotUniform()((3, 3, 16, 32), rng)
    limit = math.sqrt(6.0 / (144 + 288))
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    # He uniform: sqrt(6 / fan_in); LeCun uniform: sqrt(3 / fan_in).
    w = initializers.HeUniform()((200, 10), rng)
    assert np.abs(w).max() <= math.sqrt(6.0 / 200) and np.abs(w).max() > 0.99 * math.sqrt(6 / 200)
    w = initializers.LecunUniform()((200, 10), rng)
    assert np.abs(w).max() <= math.sqrt(3.0 / 200) and np.abs(w).max() > 0.99 * math.sqrt(3 / 200)
    # He normal: std sqrt(2 / fan_in) after truncation.
    w = initializers.HeNormal()((400, 300), rng, dtype="float64")
    assert w.std() == pytest.approx(math.sqrt(2.0 / 400), rel=0.01)


def test_fan_out_mode_and_untruncated_normal():
    rng = np.random.default_rng(2)
    w = initializers.VarianceScaling(3.0, "fan_out", "untruncated_normal")((100, 400), rng)
    assert w.std() == pytest.approx(math.sqrt(3.0 / 400), rel=0.01)
    assert np.abs(w).max() > 3.5 * math.sqrt(3.0 / 400)  # not truncated at 2 sigma
    w = initializers.VarianceScaling(1.0, "fan_out", "normal")((400, 250), rng)
    assert w.std() == pytest.approx(math.sqrt(1.0 / 250), rel=0.01)


def test_zero_fans_are_clamped_to_one():
    w = initializers.VarianceScaling(1.0, "fan_in", "uniform")((0, 5), np.random.default_rng(0))
    assert w.shape == (0, 5)
    w = initializers.LecunUniform()((), np.random.default_rng(0), dtype="float64")
    assert w.shape == () and abs(float(w)) <= math.sqrt(3.0)


def test_random_normal_and_uniform():
    rng = np.random.default_rng(3)
    w = initializers.RandomNormal()((300, 300), rng, dtype="float64")
    assert w.mean() == pytest.approx(0.0, abs=0.001) and w.std() == pytest.approx(0.05, rel=0.01)
    w = initializers.RandomNormal(mean=2.0, stddev=0.5)((300, 300), rng, dtype="float64")
    assert w.mean() == pytest.approx(2.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.01)
    w = initializers.RandomUniform()((300, 300), rng)
    assert -0.05 <= w.min() < -0.0499 and 0.0499 < w.max() <= 0.05
    w = initializers.RandomUniform(minval=1.0, maxval=3.0)((300, 300), rng, dtype="float64")
    assert 1.0 <= w.min() and w.max() <= 3.0 and w.var() == pytest.approx(4.0 / 12, rel=0.02)


def test_zeros_and_ones():
    assert np.array_equal(initializers.Zeros()((2, 3), None), np.zeros((2, 3)))
    assert np.array_equal(initializers.get("ones")((4,), np.random.default_rng(0)), np.ones(4))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_same_seed_same_bits_and_dtype(name):
    init = initializers.get(name)
    a = init((4, 3, 2, 5), np.random.default_rng(7))
    b = init((4, 3, 2, 5), np.random.default_rng(7))
    assert a.dtype == np.float32 and a.tobytes() == b.tobytes()
    c = init((4, 3, 2, 5), np.random.default_rng(7), dtype="float64")
    assert c.dtype == np.float64
    if name not in ("zeros", "ones"):
        d = init((4, 3, 2, 5), np.random.default_rng(8))
        assert not np.array_equal(a, d)
        assert np.array_equal(c.astype(np.float32), a)  # float32 is the float64 draw rounded


def test_dtype_follows_floatx():
    config.set_floatx("float64")
    try:
        w = initializers.GlorotNormal()((3, 4), np.random.default_rng(0))
    finally:
        config.set_floatx("float32")
    assert w.dtype == np.float64


@pytest.mark.parametrize("name", [*ALL_NAMES, "variance_scaling"])
def test_get_by_name_instance_and_serialized_dict(name):
    init = initializers.get(name)
    assert initializers.get(name.upper()).get_config() == init.get_config()
    assert initializers.get(init) is init
    blob = json.loads(json.dumps(initializers.serialize(init)))
    again = initializers.get(blob)
    assert type(again) is type(init) and again.get_config() == init.get_config()
    shape, rng = (6, 5), np.random.default_rng(4)
    assert np.array_equal(again(shape, np.random.default_rng(4)), init(shape, rng))


def test_configs_carry_the_arguments():
    init = initializers.get(
        {"class_name": "RandomUniform", "config": {"minval": -1.0, "maxval": 2.0}}
    )
    assert init.get_config() == {"minval": -1.0, "maxval": 2.0}
    assert initializers.serialize(initializers.RandomNormal(1.0, 0.25)) == {
        "class_name": "RandomNormal",
        "config": {"mean": 1.0, "stddev": 0.25},
    }
    vs = initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="normal")
    assert vs.get_config() == {"scale": 2.0, "mode": "fan_avg", "distribution": "truncated_normal"}
    assert initializers.serialize(initializers.HeNormal()) == {
        "class_name": "HeNormal",
        "config": {},
    }


def test_lookup_errors():
    with pytest.raises(
        ValueError, match=r"argument initializer\. Expected one of .*glorot_uniform"
    ):
        initializers.get("xavier")
    with pytest.raises(ValueError, match=r"Expected a class_name in"):
        initializers.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match=r'Expected a dict \{"class_name"'):
        initializers.get({"class_name": "Zeros"})
    with pytest.raises(TypeError, match=r"Invalid type for argument initializer"):
        initializers.get(0.5)
    with pytest.raises(TypeError, match=r"Invalid type for argument initializer"):
        initializers.serialize("zeros")
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'seed'"):
        initializers.get({"class_name": "GlorotUniform", "config": {"seed": 1}})


def test_call_errors():
    init = initializers.GlorotUniform()
    with pytest.raises(TypeError, match=r"argument rng\. Expected an np\.random\.Generator"):
        init((3, 3), None)
    with pytest.raises(TypeError, match=r"argument rng"):
        init((3, 3), 42)
    with pytest.raises(ValueError, match=r"argument shape\. Expected a tuple of non-negative"):
        init((3, -1), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"argument shape"):
        init((3, 2.5), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"argument dtype\. Expected one of"):
        init((3, 3), np.random.default_rng(0), dtype="int32")


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: initializers.VarianceScaling(scale=0.0),
            r"argument scale\. Expected a strictly positive",
        ),
        (lambda: initializers.VarianceScaling(mode="fan_sum"), r"argument mode\. Expected one of"),
        (lambda: initializers.VarianceScaling(distribution="cauchy"), r"argument distribution"),
        (
            lambda: initializers.RandomNormal(stddev=-1.0),
            r"argument stddev\. Expected a float >= 0",
        ),
        (
            lambda: initializers.RandomNormal(mean=float("nan")),
            r"argument mean\. Expected a finite",
        ),
        (
            lambda: initializers.RandomUniform(1.0, 0.0),
            r"argument maxval\. Expected a number >= minval",
        ),
    ],
)
def test_constructor_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()
