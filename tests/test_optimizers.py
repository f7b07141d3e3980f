"""Tests for scratchnet.optimizers: each rule against an independent re-implementation, Keras' golden values, state."""

import math

import numpy as np
import pytest

from scratchnet import optimizers as opt

STEPS = 12
SCALES = [1.0, 1e-3, 1e-6]


# --------------------------------------------------------------------------- reference implementations
# Written straight from the equations (keras-semantics.md), float64, one state dict per variable,
# deliberately in a different algebraic form where the math allows (Adam as Algorithm 1 with
# ε_alg1 = ε̂ / √(1 − β2ᵗ), EMAs as βm + (1 − β)g, Π recomputed from scratch).


def ref_sgd(th, g, s, t, lr=0.01, momentum=0.0, nesterov=False):
    if momentum == 0:
        return th - lr * g
    s["m"] = momentum * s.get("m", 0.0) - lr * g
    return th + momentum * s["m"] - lr * g if nesterov else th + s["m"]


def ref_adam(th, g, s, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g**2
    v = s["v"]
    if amsgrad:
        s["vh"] = np.maximum(s.get("vh", 0.0), s["v"])
        v = s["vh"]
    m_hat = s["m"] / (1 - beta_1**t)
    v_hat = v / (1 - beta_2**t)
    return th - lr * m_hat / (np.sqrt(v_hat) + epsilon / math.sqrt(1 - beta_2**t))


def ref_rmsprop(th, g, s, t, lr=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g**2
    denominator = s["v"] + epsilon
    if centered:
        s["gb"] = rho * s.get("gb", 0.0) + (1 - rho) * g
        denominator = s["v"] - s["gb"] ** 2 + epsilon
    step = lr * g / np.sqrt(denominator)
    if momentum > 0:
        s["mom"] = momentum * s.get("mom", 0.0) + step
        step = s["mom"]
    return th - step


def ref_adagrad(th, g, s, t, lr=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
    s["a"] = s.get("a", initial_accumulator_value) + g**2
    return th - lr * g / np.sqrt(s["a"] + epsilon)


def ref_adadelta(th, g, s, t, lr=0.001, rho=0.95, epsilon=1e-7):
    s["eg"] = rho * s.get("eg", 0.0) + (1 - rho) * g**2
    old_ed = s.get("ed", 0.0)
    delta = -np.sqrt(old_ed + epsilon) / np.sqrt(s["eg"] + epsilon) * g
    s["ed"] = rho * old_ed + (1 - rho) * delta**2
    return th + lr * delta


def ref_nadam(th, g, s, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    def u(i):
        return beta_1 * (1 - 0.5 * 0.96**i)

    pi_t = math.prod(u(i) for i in range(1, t + 1))
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["v"] = beta_2 * s.get("v", 0.0) + (1 - beta_2) * g**2
    m_hat = u(t + 1) * s["m"] / (1 - pi_t * u(t + 1)) + (1 - u(t)) * g / (1 - pi_t)
    v_hat = s["v"] / (1 - beta_2**t)
    return th - lr * m_hat / (np.sqrt(v_hat) + epsilon)


def ref_adamax(th, g, s, t, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * g
    s["u"] = np.maximum(beta_2 * s.get("u", 0.0), np.abs(g))
    return th - lr / (1 - beta_1**t) * s["m"] / (s["u"] + epsilon)


def ref_run(rule, hyper, thetas, grad_seq, weight_decay=None, clip=None):
    """Run ``rule`` over the gradient sequence; ``clip`` = (kind, c); decay before the rule."""
    thetas = [th.astype(np.float64) for th in thetas]
    states = [{} for _ in thetas]
    lr = hyper["lr"]
    for t, grads in enumerate(grad_seq, start=1):
        grads = [g.astype(np.float64) for g in grads]
        if clip is not None:
            kind, c = clip
            if kind == "clipnorm":
                grads = [g * min(1.0, c / np.linalg.norm(g)) for g in grads]
            elif kind == "global_clipnorm":
                total = math.sqrt(sum(np.sum(g**2) for g in grads))
                grads = [g * min(1.0, c / total) for g in grads]
            else:
                grads = [np.minimum(np.maximum(g, -c), c) for g in grads]
        if weight_decay is not None:
            thetas = [th * (1 - weight_decay * lr) for th in thetas]
        thetas = [
            rule(th, g, s, t, **hyper) for th, g, s in zip(thetas, grads, states, strict=True)
        ]
    return thetas


# (class, constructor kwargs, reference rule, reference hyperparameters incl. the defaults used)
CASES = [
    ("sgd", opt.SGD, {}, ref_sgd, {"lr": 0.01}),
    ("sgd-momentum", opt.SGD, {"momentum": 0.9}, ref_sgd, {"lr": 0.01, "momentum": 0.9}),
    (
        "sgd-nesterov",
        opt.SGD,
        {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
        ref_sgd,
        {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    ),
    ("gd", opt.GradientDescent, {"learning_rate": 0.3}, ref_sgd, {"lr": 0.3}),
    ("adam", opt.Adam, {}, ref_adam, {"lr": 0.001}),
    (
        "adam-amsgrad",
        opt.Adam,
        {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-5, "amsgrad": True},
        ref_adam,
        {"lr": 0.02, "beta_1": 0.8, "beta_2": 0.95, "epsilon": 1e-5, "amsgrad": True},
    ),
    ("rmsprop", opt.RMSprop, {}, ref_rmsprop, {"lr": 0.001}),
    (
        "rmsprop-centered-momentum",
        opt.RMSprop,
        {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.7, "centered": True},
        ref_rmsprop,
        {"lr": 0.01, "rho": 0.8, "momentum": 0.7, "centered": True},
    ),
    ("adagrad", opt.Adagrad, {}, ref_adagrad, {"lr": 0.001}),
    (
        "adagrad-flags",
        opt.Adagrad,
        {"learning_rate": 0.2, "initial_accumulator_value": 0.0, "epsilon": 1e-3},
        ref_adagrad,
        {"lr": 0.2, "initial_accumulator_value": 0.0, "epsilon": 1e-3},
    ),
    ("adadelta", opt.Adadelta, {}, ref_adadelta, {"lr": 0.001}),
    (
        "adadelta-lr1",
        opt.Adadelta,
        {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-6},
        ref_adadelta,
        {"lr": 1.0, "rho": 0.8, "epsilon": 1e-6},
    ),
    ("nadam", opt.Nadam, {}, ref_nadam, {"lr": 0.001}),
    (
        "nadam-flags",
        opt.Nadam,
        {"learning_rate": 0.05, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-4},
        ref_nadam,
        {"lr": 0.05, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-4},
    ),
    ("adamax", opt.Adamax, {}, ref_adamax, {"lr": 0.001}),
    (
        "adamax-flags",
        opt.Adamax,
        {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3},
        ref_adamax,
        {"lr": 0.02, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3},
    ),
]


def _problem(seed, scale, dtype=np.float64):
    rng = np.random.default_rng(seed)
    thetas = [rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=(5,)).astype(dtype)]
    # gradients that change sign and shrink, so max-based slots (amsgrad, Adamax) matter
    grads = [
        [(rng.normal(size=th.shape) * scale * 0.8**t).astype(dtype) for th in thetas]
        for t in range(STEPS)
    ]
    return thetas, grads


def _run(optimizer, thetas, grad_seq):
    variables = [th.copy() for th in thetas]
    for grads in grad_seq:
        optimizer.apply_gradients(zip(grads, variables, strict=True))
    return variables


def _assert_displacement_close(actual, expected, start, rtol):
    # Compare the distance travelled, not θ itself: at gradient scale 1e-6 the step of SGD is
    # 1e-8 and an error in it would hide under θ's own rounding.
    for a, e, s in zip(actual, expected, start, strict=True):
        np.testing.assert_allclose(a - s, e - s, rtol=rtol, atol=0)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_equations(case, scale):
    _, cls, kwargs, rule, hyper = case
    thetas, grad_seq = _problem(0, scale)
    actual = _run(cls(**kwargs), thetas, grad_seq)
    expected = ref_run(rule, hyper, thetas, grad_seq)
    _assert_displacement_close(actual, expected, thetas, rtol=1e-6)


@pytest.mark.parametrize(
    "clip", [("clipnorm", 0.7), ("global_clipnorm", 1.1), ("clipvalue", 0.3)], ids=lambda c: c[0]
)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_equations_with_clipping(case, clip):
    _, cls, kwargs, rule, hyper = case
    thetas, grad_seq = _problem(1, 2.0)  # large enough that every clip is active at first
    actual = _run(cls(**kwargs, **{clip[0]: clip[1]}), thetas, grad_seq)
    expected = ref_run(rule, hyper, thetas, grad_seq, clip=clip)
    _assert_displacement_close(actual, expected, thetas, rtol=1e-6)
    unclipped = _run(cls(**kwargs), thetas, grad_seq)
    # the clip did something
    assert not np.allclose(actual[0] - thetas[0], unclipped[0] - thetas[0], rtol=1e-3, atol=0)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(
    "cls,kwargs,rule,hyper",
    [
        (opt.AdamW, {}, ref_adam, {}),
        (
            opt.AdamW,
            {"learning_rate": 0.05, "weight_decay": 0.3, "amsgrad": True},
            ref_adam,
            {"amsgrad": True},
        ),
        (opt.SGD, {"momentum": 0.5, "weight_decay": 0.1}, ref_sgd, {"momentum": 0.5}),
        (opt.RMSprop, {"weight_decay": 0.2}, ref_rmsprop, {}),
    ],
    ids=["adamw", "adamw-flags", "sgd-decay", "rmsprop-decay"],
)
def test_decoupled_weight_decay(cls, kwargs, rule, hyper, scale):
    o = cls(**kwargs)
    thetas, grad_seq = _problem(2, scale)
    actual = _run(o, thetas, grad_seq)
    lr, wd = o.learning_rate, o.weight_decay
    expected = ref_run(rule, {"lr": lr, **hyper}, thetas, grad_seq, weight_decay=wd)
    _assert_displacement_close(actual, expected, thetas, rtol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float32_stays_float32(case):
    _, cls, kwargs, rule, hyper = case
    thetas, grad_seq = _problem(3, 1.0, np.float32)
    o = cls(**kwargs)
    actual = _run(o, thetas, grad_seq)
    expected = ref_run(rule, hyper, thetas, grad_seq)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    for slots in o.get_state()["slots"]:
        assert all(s.dtype == np.float32 for s in slots.values())


def test_float64_gradients_do_not_upcast_float32_variables():
    var = np.ones(3, np.float32)
    opt.Adam().apply_gradients([(np.array([0.1, 0.2, 0.3]), var)])
    assert var.dtype == np.float32


# --------------------------------------------------------------------------- Keras' golden values
# Ported from keras-team/keras, keras/src/optimizers/<name>_test.py, test_correctness_with_golden:
# x = ones(10); one step with grads 0.01, then compare and step with arange(0.1, 1.1, 0.1), 5 times.
# External reference numbers, compared with Keras' own tolerance (rtol = atol = 5e-4).

GOLDEN = [
    (  # sgd_test.py
        opt.SGD(nesterov=True),
        np.float64,
        [
            [0.9999] * 10,
            [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
            [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
            [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
            [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599],
        ],
    ),
    (  # adam_test.py
        opt.Adam(amsgrad=True),
        np.float32,
        [[v] * 10 for v in (0.999, 0.9982, 0.9974, 0.9965, 0.9955)],
    ),
    (  # rmsprop_test.py
        opt.RMSprop(centered=True),
        np.float64,
        [[v] * 10 for v in (0.9967, 0.9933, 0.9908, 0.9885, 0.9864)],
    ),
    (  # adagrad_test.py
        opt.Adagrad(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6),
        np.float64,
        [
            [0.9963] * 10,
            [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
            [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
            [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
            [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825],
        ],
    ),
    (  # adadelta_test.py
        opt.Adadelta(learning_rate=1.0, rho=0.8, epsilon=1e-6),
        np.float64,
        [[v] * 10 for v in (0.9978, 0.9947, 0.9915, 0.9882, 0.9849)],
    ),
    (  # nadam_test.py
        opt.Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5),
        np.float32,
        [
            [0.4281] * 10,
            [
                -0.1738,
                -0.1731,
                -0.1726,
                -0.1723,
                -0.1721,
                -0.172,
                -0.1719,
                -0.1718,
                -0.1718,
                -0.1717,
            ],
            [
                -0.7115,
                -0.7103,
                -0.7096,
                -0.7092,
                -0.709,
                -0.7088,
                -0.7086,
                -0.7085,
                -0.7085,
                -0.7084,
            ],
            [
                -1.2335,
                -1.2322,
                -1.2313,
                -1.2309,
                -1.2306,
                -1.2304,
                -1.2302,
                -1.2301,
                -1.23,
                -1.2299,
            ],
            [
                -1.7492,
                -1.7478,
                -1.7469,
                -1.7464,
                -1.7461,
                -1.7459,
                -1.7457,
                -1.7456,
                -1.7455,
                -1.7454,
            ],
        ],
    ),
    (  # adamax_test.py
        opt.Adamax(learning_rate=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6),
        np.float32,
        [
            [0.8] * 10,
            [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
            [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
            [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
            [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126],
        ],
    ),
    (  # adamw_test.py
        opt.AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2),
        np.float32,
        [
            [0.4998] * 10,
            [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
            [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
            [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
            [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159],
        ],
    ),
]


@pytest.mark.parametrize("optimizer,dtype,golden", GOLDEN, ids=lambda c: type(c).__name__)
def test_keras_golden_values(optimizer, dtype, golden):
    x = np.ones(10, dtype)
    grads = np.arange(0.1, 1.1, 0.1).astype(dtype)
    first_grads = np.full(10, 0.01, dtype)
    optimizer.apply_gradients([(first_grads, x)])
    for row in golden:
        np.testing.assert_allclose(x, row, rtol=5e-4, atol=5e-4)
        optimizer.apply_gradients([(grads, x)])


def test_keras_clipping_values():
    # keras/src/optimizers/optimizer_test.py: test_clip_norm, test_clip_value, test_global_clip_norm
    (g,) = opt.clip_gradients([np.array([100.0, 100.0])], clipnorm=1.0)
    np.testing.assert_allclose(g, [2**0.5 / 2, 2**0.5 / 2])
    (g,) = opt.clip_gradients([np.array([100.0, 100.0])], clipvalue=1.0)
    np.testing.assert_allclose(g, [1.0, 1.0])
    grad = np.array([50.0, 100.0], np.float32)
    (g,) = opt.clip_gradients([grad], global_clipnorm=1.0)
    np.testing.assert_allclose(g, grad / np.linalg.norm(grad), rtol=1e-6)
    assert g.dtype == np.float32
    short = [np.array([0.3, -0.4]), np.zeros(3)]  # norm 0.5 < 1: unchanged, zero stays zero
    for key in ("clipnorm", "global_clipnorm", "clipvalue"):
        out = opt.clip_gradients(short, **{key: 1.0})
        for a, b in zip(out, short, strict=True):
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- flags change the output

FLAG_PAIRS = [
    (opt.SGD(momentum=0.9), opt.SGD(momentum=0.9, nesterov=True)),
    (opt.SGD(), opt.SGD(momentum=0.5)),
    (opt.Adam(learning_rate=0.1), opt.Adam(learning_rate=0.1, amsgrad=True)),
    (opt.RMSprop(), opt.RMSprop(centered=True)),
    (opt.RMSprop(), opt.RMSprop(momentum=0.5)),
    (opt.Adagrad(), opt.Adagrad(initial_accumulator_value=0.5)),
    (opt.Adam(), opt.Adam(weight_decay=0.5)),
    (opt.AdamW(), opt.AdamW(weight_decay=0.0)),
    (opt.Adam(), opt.Adam(epsilon=1e-2)),
    (opt.Adadelta(), opt.Adadelta(rho=0.5)),
    (opt.Nadam(), opt.Nadam(beta_2=0.5)),
    (opt.Adamax(), opt.Adamax(beta_1=0.5)),
]


@pytest.mark.parametrize("a,b", FLAG_PAIRS, ids=lambda o: repr(o)[:40])
def test_each_flag_changes_the_trajectory(a, b):
    thetas, grad_seq = _problem(4, 1.0)
    assert not np.array_equal(_run(a, thetas, grad_seq)[0], _run(b, thetas, grad_seq)[0])


def test_learning_rate_is_a_settable_float():
    o = opt.SGD(learning_rate=0.5)
    var = np.zeros(2)
    o.apply_gradients([(np.ones(2), var)])
    o.learning_rate = 0.25
    o.apply_gradients([(np.ones(2), var)])
    np.testing.assert_array_equal(var, [-0.75, -0.75])
    assert isinstance(o.learning_rate, float) and o.iterations == 2
    with pytest.raises(ValueError, match="learning_rate"):
        o.learning_rate = 0.0


def test_gradient_descent_is_plain_sgd():
    thetas, grad_seq = _problem(5, 1.0)
    a = _run(opt.GradientDescent(learning_rate=0.1), thetas, grad_seq)
    b = _run(opt.SGD(learning_rate=0.1), thetas, grad_seq)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- stability

ALL = [
    opt.SGD,
    lambda: opt.SGD(momentum=0.9, nesterov=True),
    opt.GradientDescent,
    opt.Adam,
    lambda: opt.Adam(amsgrad=True),
    opt.AdamW,
    opt.RMSprop,
    lambda: opt.RMSprop(centered=True, momentum=0.9),
    opt.Adagrad,
    opt.Adadelta,
    opt.Nadam,
    opt.Adamax,
    lambda: opt.Adam(clipnorm=1.0),
    lambda: opt.Adam(global_clipnorm=1.0),
    lambda: opt.Adam(clipvalue=1.0),
]
ALL_IDS = [
    "sgd",
    "nesterov",
    "gd",
    "adam",
    "amsgrad",
    "adamw",
    "rmsprop",
    "rmsprop-centered",
    "adagrad",
    "adadelta",
    "nadam",
    "adamax",
    "clipnorm",
    "global_clipnorm",
    "clipvalue",
]


@pytest.mark.parametrize("magnitude", [0.0, 1e-12, 1e30])
@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_extreme_gradients_float64_stay_finite(make, magnitude):
    o = make()
    var = np.array([1.0, -2.0, 3.0])
    with np.errstate(all="raise"):
        for sign in (1, -1, 1, 1, -1, 1, 1, 1, -1, 1):
            o.apply_gradients([(np.full(3, sign * magnitude), var)])
    assert np.all(np.isfinite(var))
    assert all(np.all(np.isfinite(s)) for slots in o.get_state()["slots"] for s in slots.values())


@pytest.mark.parametrize("magnitude", [0.0, 1e-12])
@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_tiny_gradients_float32_stay_finite(make, magnitude):
    o = make()
    var = np.array([1.0, -2.0, 3.0], np.float32)
    with np.errstate(all="raise"):
        for sign in (1, -1, 1, 1, -1, 1, 1, 1, -1, 1):
            o.apply_gradients([(np.full(3, sign * magnitude, np.float32), var)])
    assert np.all(np.isfinite(var)) and var.dtype == np.float32


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_underflow_is_not_an_error(make):
    # g² of 1e-20 is subnormal in float32; 300 zero-gradient steps decay momenta towards 0.
    o = make()
    var = np.array([1.0, -2.0, 3.0], np.float32)
    with np.errstate(all="raise"):
        o.apply_gradients([(np.full(3, 1e-20, np.float32), var)])
        for _ in range(300):
            o.apply_gradients([(np.zeros(3, np.float32), var)])
    assert np.all(np.isfinite(var))


def test_huge_gradients_float32_overflow_like_tensorflow():
    # g = 1e30 squares past float32's 3.4e38. Documented in the module docstring; the values
    # after each step are those measured with TF 2.21 / Keras 3.15 (same three gradients).
    g = np.full(3, 1e30, np.float32)
    for make in (opt.SGD, opt.Adamax):  # never square the gradient: finite, even under "raise"
        var = np.ones(3, np.float32)
        with np.errstate(all="raise"):
            make().apply_gradients([(g, var)])
        assert np.all(np.isfinite(var))
    with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="overflow"):
        opt.Adam().apply_gradients([(g, np.ones(3, np.float32))])
    expected = {
        opt.Adam: [1.0, np.nan, np.nan],
        opt.Nadam: [1.0, np.nan, np.nan],
        opt.RMSprop: [1.0, 1.0, 1.0],
        opt.Adagrad: [1.0, 1.0, 1.0],
        opt.Adadelta: [1.0, 1.0, 1.0],
    }
    for make, values in expected.items():
        o, var, seen = make(), np.ones(3, np.float32), []
        with np.errstate(over="ignore", invalid="ignore"):
            for grad in (g, g, np.ones(3, np.float32)):
                o.apply_gradients([(grad, var)])
                seen.append(var[0])
        np.testing.assert_array_equal(seen, np.array(values, np.float32), err_msg=repr(o))


# --------------------------------------------------------------------------- state


@pytest.mark.parametrize(
    "make",
    ALL + [lambda: opt.Adagrad(weight_decay=0.1), lambda: opt.Nadam(learning_rate=0.05)],
    ids=ALL_IDS + ["adagrad-decay", "nadam-lr"],
)
def test_resume_is_bit_identical(make):
    thetas, grad_seq = _problem(6, 1.0, np.float32)
    straight = make()
    variables = [th.copy() for th in thetas]
    for grads in grad_seq[:5]:
        straight.apply_gradients(zip(grads, variables, strict=True))
    state, saved_vars = straight.get_state(), [v.copy() for v in variables]
    for grads in grad_seq[5:]:
        straight.apply_gradients(zip(grads, variables, strict=True))

    resumed = type(straight).from_config(straight.get_config())
    resumed.set_state(state)  # before any step: slots wait for their variables
    assert resumed.iterations == 5
    for grads in grad_seq[5:]:
        resumed.apply_gradients(zip(grads, saved_vars, strict=True))
    for a, b in zip(variables, saved_vars, strict=True):
        np.testing.assert_array_equal(a, b)
    final_a, final_b = straight.get_state(), resumed.get_state()
    assert final_a["iterations"] == final_b["iterations"] == STEPS
    for sa, sb in zip(final_a["slots"], final_b["slots"], strict=True):
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])
            assert sa[k].dtype == np.float32


def test_get_state_returns_copies_and_set_state_copies():
    o = opt.Adam()
    var = np.ones(2)
    o.apply_gradients([(np.ones(2), var)])
    state = o.get_state()
    assert state["iterations"] == 1 and sorted(state["slots"][0]) == ["m", "v"]
    state["slots"][0]["m"][:] = 99.0
    assert not np.any(o.get_state()["slots"][0]["m"] == 99.0)
    fresh = opt.Adam()
    fresh.set_state(state)
    state["slots"][0]["v"][:] = -1.0
    assert np.all(fresh.get_state()["slots"][0]["v"] >= 0)


def test_set_state_validates_before_assigning():
    o = opt.Adam()
    var = np.ones((2, 3))
    o.apply_gradients([(np.ones((2, 3)), var)])
    good = o.get_state()
    bad_states = [
        ({"iterations": 1}, "keys 'iterations' and 'slots'"),
        ({"iterations": -1, "slots": good["slots"]}, "integer >= 0"),
        ({"iterations": 1, "slots": []}, "Expected 1 entries"),
        ({"iterations": 1, "slots": [{"m": np.zeros((2, 3))}]}, r"slots \['m', 'v'\]"),
        (
            {"iterations": 1, "slots": [{"m": np.zeros((3, 2)), "v": np.zeros((3, 2))}]},
            r"shape \(2, 3\)",
        ),
        (
            {"iterations": 1, "slots": [{"m": np.zeros((2, 3), int), "v": np.zeros((2, 3), int)}]},
            "float array",
        ),
    ]
    for state, match in bad_states:
        with pytest.raises(ValueError, match=match):
            o.set_state(state)
    with pytest.raises(TypeError, match="integer"):
        o.set_state({"iterations": 1.5, "slots": good["slots"]})
    after = o.get_state()
    assert after["iterations"] == 1
    np.testing.assert_array_equal(after["slots"][0]["m"], good["slots"][0]["m"])


def test_restored_slots_must_fit_the_variables():
    o = opt.Adam()
    o.set_state({"iterations": 3, "slots": [{"m": np.zeros(4), "v": np.zeros(4)}]})
    with pytest.raises(ValueError, match=r"Expected shape \(4,\)"):
        o.apply_gradients([(np.ones(5), np.ones(5))])
    with pytest.raises(ValueError, match="dtype float64"):
        o.apply_gradients([(np.ones(4), np.ones(4, np.float32))])
    assert o.iterations == 3


# --------------------------------------------------------------------------- apply_gradients errors


def test_apply_gradients_errors():
    o = opt.SGD(momentum=0.9)
    var = np.ones(3)
    with pytest.raises(ValueError, match=r"Expected the shape of its variable \(3,\)"):
        o.apply_gradients([(np.ones(4), var)])
    o.apply_gradients([(np.ones(3), var)])
    waiting = opt.SGD(momentum=0.9)
    waiting.set_state(o.get_state())  # restored without variables: waits for exactly one
    with pytest.raises(ValueError, match="Expected 1 .*pairs, the variables whose state"):
        waiting.apply_gradients([(np.ones(3), var), (np.ones(2), np.ones(2))])
    with pytest.raises(TypeError, match="float NumPy array"):
        opt.SGD().apply_gradients([(np.ones(3), np.ones(3, int))])
    with pytest.raises(TypeError, match="float NumPy array"):
        opt.SGD().apply_gradients([(np.ones(3), [1.0, 2.0, 3.0])])
    read_only = np.ones(3)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        opt.SGD().apply_gradients([(np.ones(3), read_only)])
    with pytest.raises(TypeError, match="numeric"):
        opt.SGD().apply_gradients([(np.array(["a", "b", "c"]), np.ones(3))])


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_gradients_are_not_mutated(make):
    grads = [np.array([3.0, -4.0]), np.array([[0.5]])]
    copies = [g.copy() for g in grads]
    variables = [np.ones(2), np.ones((1, 1))]
    o = make()
    for _ in range(3):
        o.apply_gradients(zip(grads, variables, strict=True))
    for g, c in zip(grads, copies, strict=True):
        np.testing.assert_array_equal(g, c)


def test_read_only_and_non_contiguous_gradients():
    base = np.random.default_rng(0).normal(size=(4, 6))
    expected = np.zeros((4, 3))
    opt.Adam().apply_gradients([(np.ascontiguousarray(base[:, ::2]), expected)])
    strided = base[:, ::2]
    read_only = strided.copy()
    read_only.flags.writeable = False
    for g in (strided, read_only, np.asfortranarray(strided)):
        var = np.zeros((4, 3))
        opt.Adam().apply_gradients([(g, var)])
        np.testing.assert_array_equal(var, expected)


# --------------------------------------------------------------------------- names, config, checks


@pytest.mark.parametrize(
    "name,cls,attrs",
    [
        ("sgd", opt.SGD, {"momentum": 0.0, "nesterov": False, "learning_rate": 0.01}),
        ("momentum", opt.SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", opt.SGD, {"momentum": 0.9, "nesterov": True}),
        ("Adam", opt.Adam, {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
        ("rmsprop", opt.RMSprop, {"rho": 0.9, "momentum": 0.0, "centered": False}),
        ("adagrad", opt.Adagrad, {"initial_accumulator_value": 0.1, "epsilon": 1e-7}),
        ("adadelta", opt.Adadelta, {"rho": 0.95, "learning_rate": 0.001}),
        ("nadam", opt.Nadam, {"beta_1": 0.9, "beta_2": 0.999}),
        ("adamax", opt.Adamax, {"beta_1": 0.9, "beta_2": 0.999}),
        ("adamw", opt.AdamW, {"weight_decay": 0.004, "learning_rate": 0.001}),
        ("gd", opt.GradientDescent, {"learning_rate": 0.01}),
    ],
)
def test_names(name, cls, attrs):
    o = opt.get(name)
    assert type(o) is cls
    for k, v in attrs.items():
        assert getattr(o, k) == v
    assert opt.get(o) is o
    assert opt.get(name) is not o  # a fresh instance each time


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_serialize_round_trip(make):
    o = make()
    again = opt.get(opt.serialize(o))
    assert type(again) is type(o) and again.get_config() == o.get_config()
    assert again.iterations == 0


def test_get_errors():
    with pytest.raises(ValueError, match="Expected one of"):
        opt.get("lbfgs")
    with pytest.raises(ValueError, match="class_name"):
        opt.get({"class_name": "Lion", "config": {}})
    with pytest.raises(TypeError, match="Optimizer instance"):
        opt.get(3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        opt.Adam.from_config({"learning_rate": 0.1, "momentum": 0.9})


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: opt.SGD(learning_rate=0), "learning_rate.*strictly positive"),
        (lambda: opt.Adam(learning_rate=-1), "learning_rate.*strictly positive"),
        (lambda: opt.Adam(learning_rate=float("nan")), "learning_rate.*finite"),
        (lambda: opt.Adam(beta_1=1.0), r"beta_1.*\[0, 1\)"),
        (lambda: opt.Adam(beta_2=1.5), r"beta_2.*\[0, 1\)"),
        (lambda: opt.Nadam(beta_1=-0.1), r"beta_1.*\[0, 1\)"),
        (lambda: opt.RMSprop(rho=1.0), r"rho.*\[0, 1\)"),
        (lambda: opt.RMSprop(momentum=1.0), r"momentum.*\[0, 1\)"),
        (lambda: opt.SGD(momentum=1.5), r"momentum.*\[0, 1\)"),
        (lambda: opt.Adadelta(rho=-0.5), r"rho.*\[0, 1\)"),
        (lambda: opt.Adam(epsilon=0), "epsilon.*strictly positive"),
        (lambda: opt.Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: opt.AdamW(weight_decay=-1), "weight_decay.*>= 0"),
        (lambda: opt.AdamW(weight_decay=None), "weight_decay.*AdamW"),
        (lambda: opt.SGD(clipnorm=0), "clipnorm.*strictly positive"),
        (lambda: opt.SGD(clipvalue=-1), "clipvalue.*strictly positive"),
        (lambda: opt.SGD(global_clipnorm=0.0), "global_clipnorm.*strictly positive"),
        (lambda: opt.Adam(clipnorm=1.0, clipvalue=1.0), "Only one of"),
        (lambda: opt.Adam(clipnorm=1.0, global_clipnorm=1.0), "Only one of"),
    ],
)
def test_bad_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: opt.SGD(nesterov="yes"), "nesterov.*bool"),
        (lambda: opt.Adam(amsgrad=1), "amsgrad.*bool"),
        (lambda: opt.RMSprop(centered=None), "centered.*bool"),
        (lambda: opt.Adam(learning_rate="0.1"), "learning_rate.*real number"),
        (lambda: opt.Adam(name=""), "name"),
    ],
)
def test_bad_hyperparameter_types(make, match):
    with pytest.raises(TypeError, match=match):
        make()


# --------------------------------------------------------------------------- slots belong to their variable


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_slots_follow_the_variable_not_the_position(make):
    """Passing the same variables in another order, or leaving one out, changes nothing for the others."""
    rng = np.random.default_rng(3)
    # the same shape: a position mix-up would fit
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    steps = [(rng.normal(size=(2, 3)), rng.normal(size=(2, 3))) for _ in range(4)]
    ordered, swapped = make(), make()
    a1, b1, a2, b2 = a.copy(), b.copy(), a.copy(), b.copy()
    for ga, gb in steps:
        ordered.apply_gradients([(ga, a1), (gb, b1)])
        swapped.apply_gradients([(gb, b2), (ga, a2)])
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)

    # b sits out a step (a frozen layer): its slots do not move and are not lent to a
    before = swapped.get_state([b2])["slots"][0]
    swapped.apply_gradients([(steps[0][0], a2)])
    after = swapped.get_state([b2])["slots"][0]
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_a_new_variable_gets_fresh_slots_and_get_state_says_none():
    o = opt.Adam(learning_rate=0.1)
    old, new = np.ones(3), np.ones(3)
    for _ in range(3):
        o.apply_gradients([(np.full(3, 0.5), old)])
    assert o.get_state([old, new])["slots"][1] is None  # never updated: no slots yet
    g = np.array([0.1, -0.2, 0.3])
    o.apply_gradients([(g, new)])
    slots = o.get_state([new])["slots"][0]
    np.testing.assert_allclose(slots["m"], (1 - o.beta_1) * g, rtol=1e-12)  # from zero, not old's m
    np.testing.assert_allclose(slots["v"], (1 - o.beta_2) * g**2, rtol=1e-12)


def test_set_state_with_variables_maps_slots_to_those_variables():
    src = opt.Adam()
    x, y = np.ones(2), np.ones((2, 2))
    src.apply_gradients([(np.ones(2), x), (np.ones((2, 2)), y)])
    state = src.get_state([y, x])  # chosen order, not the optimizer's own
    dst = opt.Adam()
    x2, y2 = x.copy(), y.copy()
    dst.set_state(state, [y2, x2])
    dst.apply_gradients([(np.ones(2), x2)])  # x2 alone: its own slots, y2's stay put
    src.apply_gradients([(np.ones(2), x)])
    np.testing.assert_array_equal(x, x2)
    for k in ("m", "v"):
        np.testing.assert_array_equal(dst.get_state([y2])["slots"][0][k], state["slots"][0][k])
    dst.set_state({"iterations": 1, "slots": [None, None]}, [y2, x2])
    assert dst.get_state([y2, x2])["slots"] == [None, None]
    with pytest.raises(ValueError, match=r"Expected 1 entries, one per variable. Received 2"):
        dst.set_state(state, [y2])
    with pytest.raises(
        ValueError, match=r"state\['slots'\]\[0\]\['m'\]. Expected a float array of shape \(2,\)"
    ):
        dst.set_state(state, [x2, y2])
