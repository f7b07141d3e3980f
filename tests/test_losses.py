"""Tests for scratchnet.losses: hand-derived gradients, Keras' numbers, stability, bad targets."""

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from scratchnet import config, losses
from scratchnet.gradcheck import check_gradient, numeric_gradient, relative_error

TOL = 1e-6  # float64 central differences land near 1e-9; a wrong derivative is off by >1e-3

shapes = st.tuples(st.integers(1, 4), st.integers(2, 5))  # (N, C)
seeds = st.integers(0, 2**32 - 1)
smoothing = st.one_of(st.just(0.0), st.floats(0.01, 1.0))


def _targets(rng, shape, kind):
    """one-hot rows, soft rows that sum to 1, or arbitrary soft values (rows not summing to 1)."""
    n, c = shape
    if kind == "onehot":
        return np.eye(c)[rng.integers(0, c, n)]
    soft = rng.uniform(0.0, 1.0, size=shape)
    return soft / soft.sum(axis=1, keepdims=True) if kind == "distribution" else soft


def _probabilities(rng, shape, low=0.01, high=0.99):
    # Entries in [0.01, 0.99] keep every probability > 1e-3 away from the clip bounds
    # (1e-7, 1 - 1e-7), also after the categorical renormalisation q = p / sum(p), which
    # scaling a row does not change: for C <= 5, q lies in [0.01 / 3.97, 0.99 / 1.0].
    return rng.uniform(low, high, size=shape)


# --------------------------------------------------------------------------- finite differences


@given(
    shape=shapes, seed=seeds, ls=smoothing, kind=st.sampled_from(["onehot", "distribution", "soft"])
)
@example(shape=(1, 2), seed=0, ls=0.0, kind="onehot")
def test_categorical_crossentropy_gradient_probabilities(shape, seed, ls, kind):
    rng = np.random.default_rng(seed)
    y = _targets(rng, shape, kind)
    p = _probabilities(rng, shape) * rng.uniform(
        0.5, 2.0, size=(shape[0], 1)
    )  # rows not summing to 1
    err = check_gradient(
        lambda x: losses.categorical_crossentropy(y, x, label_smoothing=ls),
        lambda x, d: losses.categorical_crossentropy_backward(y, x, d, label_smoothing=ls),
        p,
        rng,
    )
    assert err < TOL


@given(
    shape=shapes, seed=seeds, ls=smoothing, kind=st.sampled_from(["onehot", "distribution", "soft"])
)
def test_categorical_crossentropy_gradient_logits(shape, seed, ls, kind):
    rng = np.random.default_rng(seed)
    y = _targets(rng, shape, kind)
    z = rng.normal(scale=3.0, size=shape)
    err = check_gradient(
        lambda x: losses.categorical_crossentropy(y, x, from_logits=True, label_smoothing=ls),
        lambda x, d: losses.categorical_crossentropy_backward(
            y, x, d, from_logits=True, label_smoothing=ls
        ),
        z,
        rng,
    )
    assert err < TOL


@given(shape=shapes, seed=seeds, from_logits=st.booleans())
def test_sparse_categorical_crossentropy_gradient(shape, seed, from_logits):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, shape[1], shape[0])
    x = rng.normal(scale=3.0, size=shape) if from_logits else _probabilities(rng, shape)
    err = check_gradient(
        lambda v: losses.sparse_categorical_crossentropy(labels, v, from_logits=from_logits),
        lambda v, d: losses.sparse_categorical_crossentropy_backward(
            labels, v, d, from_logits=from_logits
        ),
        x,
        rng,
    )
    assert err < TOL


@given(
    pred=hnp.arrays(np.float64, shapes, elements=st.floats(0.01, 0.99)),
    seed=seeds,
    ls=smoothing,
    from_logits=st.booleans(),
)
def test_binary_crossentropy_gradient(pred, seed, ls, from_logits):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 1.0, size=pred.shape)
    x = (pred - 0.5) * 20.0 if from_logits else pred  # logits in [-9.8, 9.8]
    err = check_gradient(
        lambda v: losses.binary_crossentropy(y, v, from_logits=from_logits, label_smoothing=ls),
        lambda v, d: losses.binary_crossentropy_backward(
            y, v, d, from_logits=from_logits, label_smoothing=ls
        ),
        x,
        rng,
    )
    assert err < TOL


@given(shape=shapes, seed=seeds)
def test_mean_squared_error_gradient(shape, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=shape)
    err = check_gradient(
        lambda v: losses.mean_squared_error(y, v),
        lambda v, d: losses.mean_squared_error_backward(y, v, d),
        rng.normal(size=shape),
        rng,
    )
    assert err < TOL


CLASS_CASES = [
    (losses.CategoricalCrossentropy(), "onehot", "prob"),
    (losses.CategoricalCrossentropy(label_smoothing=0.3), "onehot", "prob"),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "onehot", "logits"),
    (losses.SparseCategoricalCrossentropy(), "labels", "prob"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "labels", "logits"),
    (losses.BinaryCrossentropy(label_smoothing=0.2), "binary", "prob"),
    (losses.BinaryCrossentropy(from_logits=True), "binary", "logits"),
    (losses.MeanSquaredError(), "soft", "logits"),
]


def _case_inputs(rng, target, pred, shape):
    n, c = shape
    y = {
        "onehot": lambda: np.eye(c)[rng.integers(0, c, n)],
        "labels": lambda: rng.integers(0, c, n),
        "binary": lambda: rng.integers(0, 2, shape).astype(float),
        "soft": lambda: rng.normal(size=shape),
    }[target]()
    x = _probabilities(rng, shape) if pred == "prob" else rng.normal(scale=2.0, size=shape)
    return y, x


@pytest.mark.parametrize("loss,target,pred", CLASS_CASES, ids=lambda c: repr(c)[:60])
def test_class_gradient_is_derivative_of_batch_mean(loss, target, pred):
    rng = np.random.default_rng(7)
    y, x = _case_inputs(rng, target, pred, (4, 3))
    analytic = loss.gradient(y, x)
    numeric = numeric_gradient(lambda v: np.asarray(loss(y, v)), x, np.ones(()))
    assert analytic.shape == x.shape
    assert relative_error(analytic, numeric) < TOL


@pytest.mark.parametrize("loss,target,pred", CLASS_CASES, ids=lambda c: repr(c)[:60])
def test_mean_is_mean_of_per_sample(loss, target, pred):
    rng = np.random.default_rng(3)
    y, x = _case_inputs(rng, target, pred, (5, 3))
    per = loss.per_sample(y, x)
    assert per.shape == (5,)
    assert loss(y, x) == pytest.approx(float(np.mean(per)), rel=1e-14)
    dloss = np.full(5, 0.2)
    np.testing.assert_allclose(loss.gradient(y, x), loss.backward(y, x, dloss), rtol=1e-14)


def test_rank3_outputs_average_over_every_position():
    rng = np.random.default_rng(0)
    y = np.eye(4)[rng.integers(0, 4, (2, 3))]  # (N, T, C)
    z = rng.normal(size=(2, 3, 4))
    loss = losses.CategoricalCrossentropy(from_logits=True)
    per = loss.per_sample(y, z)
    assert per.shape == (2, 3)
    assert loss(y, z) == pytest.approx(per.sum() / 6)
    numeric = numeric_gradient(lambda v: np.asarray(loss(y, v)), z, np.ones(()))
    assert relative_error(loss.gradient(y, z), numeric) < TOL


# --------------------------------------------------------------------------- known values
# Reference numbers from Keras 3.15.1 / TF 2.21.0, float64 (dtype="float64" on the Keras loss),
# per-sample losses from keras.losses.<fn> and gradients of the mean from tf.GradientTape.

P = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1], [0.2, 0.3, 0.6]])  # last row sums to 1.1
Z = np.array([[1.0, -2.0, 0.5], [0.0, 200.0, -3.0], [-1.5, 0.25, 2.0]])
Y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
LABELS = np.array([1, 2, 0])
BY = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.3], [0.0, 0.0, 1.0]])

KERAS_VALUES = [
    (
        losses.CategoricalCrossentropy(label_smoothing=0.2),
        Y,
        P,
        [1.3187093834366979, 2.1639556568820564, 1.6044762657866738],
        [
            [-0.13333333333333341, 0.007017543859649089, 0.311111111111111],
            [0.1111111111111111, 0.3055555555555555, -2.555555555555555],
            [-1.1414141414141412, 0.22895622895622897, 0.265993265993266],
        ],
    ),
    (
        losses.SparseCategoricalCrossentropy(),
        LABELS,
        P,
        [0.05129339438754555, 2.3025850929940455, 1.7047480922384253],
        [
            [0.3333333000000034, -0.017543892982452795, 0.0],
            [0.33333333333333337, 0.3333333333333333, -3.0],
            [-1.3636363636363635, 0.30303030303030304, 0.303030303030303],
        ],
    ),
    (
        losses.BinaryCrossentropy(label_smoothing=0.2),
        BY,
        P,
        [5.065920160156959, 1.4686959945115585, 0.4515166173268195],
        [
            [-0.11695906432748542, 0.11695906432748514, 0.0],
            [-0.9876543209876543, 0.4861111111111111, -0.2962962962962962],
            [0.06944444444444442, 0.10582010582010581, -0.1388888888888889],
        ],
    ),
    (
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
        Y,
        Z,
        [3.1379302356756167, 189.26666666666668, 3.3356255317133194],
        [
            [0.1790274098273197, -0.27886925969903087, 0.09984184987171119],
            [-0.02222222222222222, 0.3111111111111111, -0.28888888888888886],
            [-0.2805283953709482, 0.025889096148847716, 0.2546392992221005],
        ],
    ),
    (
        losses.SparseCategoricalCrossentropy(from_logits=True),
        LABELS,
        Z,
        [3.5045969023422834, 203.0, 3.685625531713319],
        [
            [0.20124963204954194, -0.3233137041434753, 0.1220640720939334],
            [4.6129884224557915e-88, 0.3333333333333333, -0.3333333333333333],
            [-0.32497283981539266, 0.04811131837106994, 0.2768615214443227],
        ],
    ),
    (
        losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2),
        BY,
        Z,
        [1.221422227580434, 60.58724484404456, 0.4930935696348561],
        [
            [0.07011761984777831, -0.08675523088643138, -0.030837852088682817],
            [-0.04444444444444444, 0.09999999999999999, -0.03250823631360368],
            [0.00915839153403959, 0.05135294454286646, -0.002133658002457503],
        ],
    ),
    (
        losses.MeanSquaredError(),
        BY,
        Z,
        [3.4166666666666665, 13337.296666666667, 1.1041666666666667],
        [
            [0.2222222222222222, -0.6666666666666666, -0.1111111111111111],
            [-0.2222222222222222, 44.44444444444444, -0.7333333333333333],
            [-0.3333333333333333, 0.05555555555555555, 0.2222222222222222],
        ],
    ),
]


@pytest.mark.parametrize("loss,y,x,per,grad", KERAS_VALUES, ids=lambda c: repr(c)[:60])
def test_matches_keras_float64(loss, y, x, per, grad):
    np.testing.assert_allclose(loss.per_sample(y, x), per, rtol=1e-12)
    assert loss(y, x) == pytest.approx(np.mean(per), rel=1e-12)
    np.testing.assert_allclose(loss.gradient(y, x), grad, rtol=1e-9, atol=1e-15)


def test_keras_docstring_examples():
    # keras/src/losses/losses.py and keras/src/backend/tensorflow/nn.py docstrings.
    y = np.array([[0, 1, 0], [0, 0, 1]])
    p = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], dtype=np.float32)
    np.testing.assert_allclose(losses.categorical_crossentropy(y, p), [0.0513, 2.303], atol=5e-4)
    np.testing.assert_allclose(
        losses.sparse_categorical_crossentropy([1, 2], p), [0.0513, 2.303], atol=5e-4
    )
    a = np.eye(3, dtype=np.float32)
    b = np.array([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]], np.float32)
    np.testing.assert_allclose(
        losses.categorical_crossentropy(a, b), [0.10536, 0.11653, 0.06188], atol=1e-5
    )
    yb = np.array([[0, 1], [0, 0]])
    pb = np.array([[0.6, 0.4], [0.4, 0.6]], np.float32)
    np.testing.assert_allclose(losses.binary_crossentropy(yb, pb), [0.916, 0.714], atol=1e-3)
    # The same examples to float32 precision, from the formulas (Keras prints 3-4 digits).
    eps = 1e-7
    np.testing.assert_allclose(
        losses.binary_crossentropy(yb, pb),
        [-math.log(0.4), -(math.log(0.6) + math.log(0.4)) / 2],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, p), [-math.log(0.95), -math.log(0.1)], rtol=1e-6
    )
    np.testing.assert_allclose(  # clip to [eps, 1 - eps], then log-softmax of the logs
        losses.sparse_categorical_crossentropy([1, 2], p),
        [-math.log(0.95) + math.log(1 + eps), -math.log(0.1)],
        rtol=1e-6,
    )
    assert losses.MeanSquaredError()([1.0, 0.0, 1.0], np.array([[0.9], [0.1], [0.8]])) == (
        pytest.approx(0.02)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_200_versus_clipped_probabilities(dtype):
    # Measured with Keras: 200.0 through a softmax layer (logits path), 16.118 on predict() output.
    z = np.array([[0.0, 200.0]], dtype)
    y = np.array([[1.0, 0.0]])
    assert losses.CategoricalCrossentropy(from_logits=True)(y, z) == pytest.approx(200.0)
    with np.errstate(under="ignore"):
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # [~0, 1]
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(-np.log(1e-7), rel=1e-6)
    assert losses.CategoricalCrossentropy()(y, p) == pytest.approx(16.118095, rel=1e-6)


def test_sparse_probability_path_renormalises_after_clipping():
    # The docstring's example: 16.300 (sparse) versus 16.118 (categorical, renormalised first).
    p = np.array([[0.0, 0.3, 0.9]])
    sparse = losses.sparse_categorical_crossentropy([0], p)[0]
    assert sparse == pytest.approx(-np.log(1e-7) + np.log(1.2 + 1e-7), rel=1e-12)
    assert losses.categorical_crossentropy([[1.0, 0.0, 0.0]], p)[0] == pytest.approx(
        -np.log(1e-7), rel=1e-12
    )


def test_label_smoothing_formulas():
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    z = np.array([[0.3, -1.0, 2.0, 0.1]])
    log_p = z - np.log(np.sum(np.exp(z)))
    smoothed = y * 0.6 + 0.4 / 4
    assert losses.categorical_crossentropy(y, z, True, 0.4)[0] == pytest.approx(
        -np.sum(smoothed * log_p), rel=1e-14
    )
    p = np.array([[0.2, 0.9, 0.5, 0.7]])
    yb = y * 0.6 + 0.2
    bce = -np.mean(yb * np.log(p) + (1 - yb) * np.log(1 - p))
    assert losses.binary_crossentropy(y, p, label_smoothing=0.4)[0] == pytest.approx(bce, rel=1e-14)


def test_fused_gradient_is_softmax_minus_targets_over_n():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(6, 5))
    y = np.eye(5)[rng.integers(0, 5, 6)]
    softmax = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        losses.CategoricalCrossentropy(from_logits=True).gradient(y, z),
        (softmax - y) / 6,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        losses.SparseCategoricalCrossentropy(from_logits=True).gradient(y.argmax(1), z),
        (softmax - y) / 6,
        rtol=1e-12,
    )


def test_clipped_entries_get_zero_gradient_and_bounds_pass_it():
    # TF's clip_by_value passes the gradient at the bounds (eps <= q <= 1 - eps) and zeroes it outside.
    eps = config.epsilon()
    p = np.array([[0.0, 1.0, eps, 0.5]])
    y = np.array([[1.0, 1.0, 1.0, 0.0]])
    grad = losses.BinaryCrossentropy().gradient(y, p)
    assert grad[0, 0] == 0.0 and grad[0, 1] == 0.0
    assert grad[0, 2] == pytest.approx(-1 / eps / 4)
    g_sparse = losses.SparseCategoricalCrossentropy().gradient([0], np.array([[0.0, 0.4, 0.6]]))
    assert g_sparse[0, 0] == 0.0
    at_bound = np.array([[eps, 0.4, 0.6 - eps]])
    assert losses.SparseCategoricalCrossentropy().gradient([0], at_bound)[0, 0] == pytest.approx(
        1 / np.sum(at_bound) - 1 / eps
    )
    q = np.array([[eps, 1.0 - eps]])  # sums to exactly 1.0: q is its own renormalisation
    assert q.sum() == 1.0
    g_cce = losses.CategoricalCrossentropy().gradient([[1.0, 0.0]], q)
    np.testing.assert_allclose(g_cce, [[-(1 - eps) / eps, 1.0]], rtol=1e-12)
    # a clipped entry still gets a gradient through the row sum (TF's GradientTape: [1, -1, 1])
    g_sum = losses.categorical_crossentropy_backward([[0, 1, 0]], np.array([[0, 0.5, 0.5]]), [1.0])
    np.testing.assert_allclose(g_sum, [[1.0, -1.0, 1.0]], rtol=1e-14)


# --------------------------------------------------------------------------- stability


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_probability_on_true_class_is_finite(dtype):
    p = np.array([[0.0, 1.0], [1.0, 0.0]], dtype)
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    with np.errstate(all="raise"):
        cases = [
            (losses.CategoricalCrossentropy(), y, -np.log(1e-7)),
            (losses.CategoricalCrossentropy(label_smoothing=0.1), y, -0.95 * np.log(1e-7)),
            (losses.SparseCategoricalCrossentropy(), y.argmax(1), -np.log(1e-7)),
            # 1 - (1 - 1e-7) is 1.19e-7 in float32, hence the loose tolerance
            (losses.BinaryCrossentropy(), y, -np.log(1e-7)),
        ]
        for loss, target, expected in cases:
            value = loss(target, p)
            grad = loss.gradient(target, p)
            assert np.isfinite(value) and value == pytest.approx(expected, rel=2e-2)
            assert np.all(np.isfinite(grad)) and grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_are_finite(dtype):
    z = np.array([[1000.0, 0.0], [-1000.0, -1000.0], [0.0, 200.0]], dtype)
    y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    with np.errstate(all="raise"):
        for loss, target in [
            (losses.CategoricalCrossentropy(from_logits=True), y),
            (losses.SparseCategoricalCrossentropy(from_logits=True), y.argmax(1)),
            (losses.BinaryCrossentropy(from_logits=True), y),
        ]:
            per = loss.per_sample(target, z)
            assert np.all(np.isfinite(per)) and np.all(np.isfinite(loss.gradient(target, z)))
    np.testing.assert_allclose(
        losses.categorical_crossentropy(y, z, from_logits=True), [1000.0, np.log(2), 200.0]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("far", [90.0, 100.0, 720.0, 740.0])
def test_underflow_to_subnormal_is_not_an_error(dtype, far):
    # exp(-100) is subnormal in float32, exp(-740) in float64; times 1/N it underflows again.
    z = np.array([[0.0, -far, far / 2], [-far, far, 0.0]], dtype)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        for loss, target in [
            (losses.CategoricalCrossentropy(from_logits=True), y),
            (losses.SparseCategoricalCrossentropy(from_logits=True), y.argmax(1)),
            (losses.BinaryCrossentropy(from_logits=True), y),
        ]:
            assert np.isfinite(loss(target, z))
            assert np.all(np.isfinite(loss.gradient(target, z)))


# --------------------------------------------------------------------------- dtypes, inputs


@pytest.mark.parametrize("loss,target,pred", CLASS_CASES, ids=lambda c: repr(c)[:60])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_prediction(loss, target, pred, dtype):
    rng = np.random.default_rng(0)
    y, x = _case_inputs(rng, target, pred, (3, 4))
    x = x.astype(dtype)
    assert loss.per_sample(y, x).dtype == dtype
    assert loss.gradient(y, x).dtype == dtype
    assert isinstance(loss(y, x), float)


def test_integer_predictions_use_floatx():
    assert losses.mean_squared_error([[1, 2]], [[0, 0]]).dtype == np.float32
    assert losses.MeanSquaredError().gradient([[1, 2]], [[0, 0]]).dtype == np.float32


@pytest.mark.parametrize("loss,target,pred", CLASS_CASES, ids=lambda c: repr(c)[:60])
def test_inputs_not_mutated_and_layout_independent(loss, target, pred):
    rng = np.random.default_rng(5)
    y, x = _case_inputs(rng, target, pred, (4, 3))
    y_copy, x_copy = y.copy(), x.copy()
    expected_value, expected_grad = loss(y, x), loss.gradient(y, x)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    x_ro, y_ro = x.copy(), y.copy()
    x_ro.flags.writeable = False
    y_ro.flags.writeable = False
    x_fortran = np.asfortranarray(x)
    x_strided = np.stack([x, x], axis=-1)[..., 0]  # non-contiguous view
    for variant in (x_ro, x_fortran, x_strided):
        assert loss(y_ro, variant) == expected_value
        np.testing.assert_array_equal(loss.gradient(y_ro, variant), expected_grad)


# --------------------------------------------------------------------------- bad targets


@pytest.mark.parametrize(
    "loss,y_true,output_shape,match",
    [
        (losses.CategoricalCrossentropy(), np.array([0, 3, 1]), (4,), "looks like integer class"),
        (losses.CategoricalCrossentropy(), np.zeros((3, 1)), (4,), "sparse_categorical"),
        (losses.CategoricalCrossentropy(), np.eye(3), (4,), "Expected 4 classes"),
        (losses.CategoricalCrossentropy(), np.zeros((3, 2, 4)), (4,), r"shape \(N,\) \+ \(4,\)"),
        (losses.SparseCategoricalCrossentropy(), np.array([0, 4]), (4,), r"in \[0, 4\)"),
        (losses.SparseCategoricalCrossentropy(), np.array([-1, 2]), (4,), r"from -1 to 2"),
        (losses.SparseCategoricalCrossentropy(), np.array([0.5, 1.0]), (4,), "non-integer"),
        (losses.SparseCategoricalCrossentropy(), np.eye(4), (4,), "looks one-hot"),
        (losses.SparseCategoricalCrossentropy(), np.zeros((3, 2)), (4,), "class labels of shape"),
        (losses.BinaryCrossentropy(), np.array([[0.0], [1.5]]), (1,), r"in \[0, 1\]"),
        (losses.BinaryCrossentropy(), np.array([[-1.0], [1.0]]), (1,), r"from -1.0 to 1.0"),
        (losses.BinaryCrossentropy(), np.zeros((3, 2)), (1,), "to match the model output"),
        (losses.MeanSquaredError(), np.zeros((3, 2)), (3,), "to match the model output"),
        (losses.MeanSquaredError(), np.array([[np.nan]]), (1,), "finite targets"),
        (losses.MeanSquaredError(), np.zeros((3, 2)), (0,), "output_shape"),
        (losses.MeanSquaredError(), np.float64(1.0), (1,), "batch axis"),
    ],
)
def test_check_targets_rejects(loss, y_true, output_shape, match):
    with pytest.raises(ValueError, match=match):
        loss.check_targets(y_true, output_shape)


@pytest.mark.parametrize(
    "loss,y_true,output_shape",
    [
        (losses.CategoricalCrossentropy(), np.eye(4, dtype=int), (4,)),
        (losses.SparseCategoricalCrossentropy(), np.array([0, 3, 1]), (4,)),
        (losses.SparseCategoricalCrossentropy(), np.array([[0.0], [3.0]]), (4,)),
        (losses.BinaryCrossentropy(), np.array([0, 1, 1]), (1,)),
        (losses.BinaryCrossentropy(), np.array([[0.2, 1.0]]), (2,)),
        (losses.MeanSquaredError(), np.array([[3.5, -2.0]]), (2,)),
    ],
)
def test_check_targets_accepts(loss, y_true, output_shape):
    assert loss.check_targets(y_true, output_shape) is None


def test_check_targets_rejects_non_numeric():
    with pytest.raises(TypeError, match="numeric array"):
        losses.MeanSquaredError().check_targets(np.array(["a", "b"]), (1,))


def test_loss_call_errors():
    with pytest.raises(ValueError, match="Expected the shape of y_pred"):
        losses.CategoricalCrossentropy()(np.eye(3), np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        losses.SparseCategoricalCrossentropy()([0, 3], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="non-integer"):
        losses.sparse_categorical_crossentropy([0.5], np.full((1, 3), 1 / 3))
    with pytest.raises(ValueError, match="non-empty batch"):
        losses.MeanSquaredError()(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="non-empty batch"):
        losses.MeanSquaredError().gradient(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="dloss"):
        losses.mean_squared_error_backward(np.zeros((2, 2)), np.zeros((2, 2)), np.ones(3))
    with pytest.raises(TypeError, match="dtype of y_pred|numeric"):
        losses.mean_squared_error([["a"]], [["b"]])


def test_bad_flags():
    with pytest.raises(ValueError, match=r"label_smoothing.*\[0, 1\]"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=-0.1)
    with pytest.raises(TypeError, match="from_logits"):
        losses.SparseCategoricalCrossentropy(from_logits="yes")
    with pytest.raises(TypeError, match="name"):
        losses.MeanSquaredError(name=3)


# --------------------------------------------------------------------------- names, config


@pytest.mark.parametrize(
    "name,cls",
    [
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("mean_squared_error", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert losses.get(loss) is loss


def test_get_function_and_serialized():
    assert type(losses.get(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25, name="cce")
    again = losses.get(losses.serialize(loss))
    assert type(again) is losses.CategoricalCrossentropy
    assert (
        again.get_config()
        == loss.get_config()
        == {
            "name": "cce",
            "from_logits": True,
            "label_smoothing": 0.25,
        }
    )
    assert losses.SparseCategoricalCrossentropy.from_config(
        {"name": "s", "from_logits": True}
    ).from_logits


def test_get_errors():
    with pytest.raises(ValueError, match="Expected one of"):
        losses.get("hinge")
    with pytest.raises(ValueError, match="class_name"):
        losses.get({"class_name": "Hinge", "config": {}})
    with pytest.raises(TypeError, match="subclass Loss"):
        losses.get(lambda y, p: 0.0)
    with pytest.raises(TypeError, match="label_smoothing|unexpected"):
        losses.SparseCategoricalCrossentropy.from_config({"label_smoothing": 0.1})
