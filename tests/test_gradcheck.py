"""The gradient checker itself: it must pass correct gradients and catch wrong ones."""

import numpy as np
import pytest

from scratchnet import activations
from scratchnet.gradcheck import check_gradient, check_layer, numeric_gradient, relative_error


def _tanh_derivative(x, dy):
    return dy * (1 - np.tanh(x) ** 2)


def test_passes_correct_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5))
    assert check_gradient(np.tanh, _tanh_derivative, x, rng) < 1e-8
    assert check_gradient(lambda v: v**2, lambda v, dy: 2 * v * dy, x, rng) < 1e-8

    def softmax_vjp(v, dy):
        return activations.softmax_backward(v, activations.softmax(v), dy)

    assert check_gradient(activations.softmax, softmax_vjp, x, rng) < 1e-8


@pytest.mark.parametrize(
    "wrong_vjp",
    [
        pytest.param(lambda x, dy: dy * (1 - np.tanh(x)), id="square-forgotten"),
        pytest.param(lambda x, dy: -_tanh_derivative(x, dy), id="sign-flipped"),
        pytest.param(lambda x, dy: 1 - np.tanh(x) ** 2, id="upstream-ignored"),
        pytest.param(
            lambda x, dy: activations.gelu_backward(x, activations.gelu(x), dy),
            id="gelu-derivative",
        ),
    ],
)
def test_catches_a_wrong_derivative_of_tanh(wrong_vjp):
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(3, 4))
    assert check_gradient(np.tanh, wrong_vjp, x, rng) > 1e-2


def test_catches_gelu_tanh_form_with_erf_derivative():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, size=(5, 4))

    def forward(v):
        return activations.gelu(v, approximate=True)

    def erf_vjp(v, dy):
        return activations.gelu_backward(v, forward(v), dy, approximate=False)

    # Off by about 1e-4: a thousand times the error of correct code, and caught.
    assert check_gradient(forward, erf_vjp, x, rng) > 1e-5


def test_catches_a_transposed_matrix_gradient():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 4))
    x = rng.normal(size=(3, 4))
    # y = v @ W; dL/dv = dy @ W^T. The transposed W is the classic slip.
    assert check_gradient(lambda v: v @ w, lambda v, dy: dy @ w.T, x, rng) < 1e-8
    assert check_gradient(lambda v: v @ w, lambda v, dy: dy @ w, x, rng) > 1e-2


class _TinyDense:
    """y = x @ W + b, with a switch to get the kernel gradient transposed."""

    def __init__(self, rng, n, transpose_bug=False):
        self.weights = [rng.normal(size=(n, n)), rng.normal(size=(n,))]  # kernel (in, out), bias
        self.grads = [np.zeros((n, n)), np.zeros(n)]
        self.transpose_bug = transpose_bug
        self._x = None

    def forward(self, x, training=False):
        self._x = x
        return x @ self.weights[0] + self.weights[1]  # (N, out)

    def backward(self, dy):
        dw = self._x.T @ dy  # (in, out)
        self.grads[0][...] = dw.T if self.transpose_bug else dw
        self.grads[1][...] = dy.sum(axis=0)
        return dy @ self.weights[0].T  # (N, in)


def test_check_layer_passes_a_correct_layer_and_restores_weights():
    rng = np.random.default_rng(4)
    layer = _TinyDense(rng, 3)
    before = [w.copy() for w in layer.weights]
    errors = check_layer(layer, rng.normal(size=(5, 3)), rng)
    assert set(errors) == {"x", "weight_0", "weight_1"}
    assert max(errors.values()) < 1e-8
    assert all(np.array_equal(w, b) for w, b in zip(layer.weights, before, strict=True))


def test_check_layer_catches_a_transposed_kernel_gradient():
    rng = np.random.default_rng(5)
    errors = check_layer(_TinyDense(rng, 3, transpose_bug=True), rng.normal(size=(5, 3)), rng)
    assert errors["weight_0"] > 1e-2
    assert errors["x"] < 1e-8 and errors["weight_1"] < 1e-8


def test_numeric_gradient_is_right_and_leaves_its_input_alone():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 4))
    g = rng.normal(size=(3, 4))
    x_before = x.copy()
    grad = numeric_gradient(lambda v: v**2, x, g)
    np.testing.assert_allclose(grad, 2 * x * g, rtol=1e-7, atol=1e-9)
    assert np.array_equal(x, x_before)
    read_only = x.copy()
    read_only.flags.writeable = False
    np.testing.assert_array_equal(numeric_gradient(lambda v: v**2, read_only, g), grad)
    x32 = x.astype(np.float32)
    x32_before = x32.copy()
    numeric_gradient(np.sin, x32, g)
    assert x32.dtype == np.float32 and np.array_equal(x32, x32_before)


def test_relative_error():
    a = np.array([1.0, 2.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.zeros(2)) == 1.0
    assert relative_error(np.array([3.0]), np.array([1.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"argument analytic\. Expected shape \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize(
    "rng", [np.random.RandomState(0), 0, None], ids=["RandomState", "int", "None"]
)
def test_check_gradient_needs_a_generator(rng):
    with pytest.raises(TypeError, match=r"argument rng\. Expected an np\.random\.Generator"):
        check_gradient(np.tanh, _tanh_derivative, np.zeros(3), rng)


def test_check_gradient_same_seed_same_result():
    x = np.linspace(-2, 2, 7)

    def wrong(v, dy):
        return dy * (1 - np.tanh(v))

    first = check_gradient(np.tanh, wrong, x, np.random.default_rng(9))
    second = check_gradient(np.tanh, wrong, x, np.random.default_rng(9))
    assert first == second


def test_step_size_h_sets_the_central_difference_error():
    # For f(v) = v³ the central difference is exactly 3v² + h²: the O(h²) error term, visible at h = 0.1.
    x = np.array([0.5, -1.5, 2.0])
    g = np.array([1.0, -2.0, 0.5])
    coarse = numeric_gradient(lambda v: v**3, x, g, h=0.1)
    fine = numeric_gradient(lambda v: v**3, x, g)  # h = 1e-6
    np.testing.assert_allclose(coarse, g * (3 * x**2 + 0.01), rtol=1e-12)
    np.testing.assert_allclose(fine, g * 3 * x**2, rtol=1e-8)
    rng = np.random.default_rng(11)
    exact = lambda v, dy: 3 * v**2 * dy  # noqa: E731
    assert check_gradient(lambda v: v**3, exact, x, rng, h=0.1) > 1e-4
    assert check_gradient(lambda v: v**3, exact, x, np.random.default_rng(11)) < 1e-8


class _TrainingSwitch(_TinyDense):
    """y = x @ W + b while training, 2(x @ W + b) otherwise; records the flag it was given."""

    def __init__(self, rng, n):
        super().__init__(rng, n)
        self.seen = set()

    def forward(self, x, training=False):
        self.seen.add(training)
        y = super().forward(x)
        return y if training else 2 * y

    def backward(self, dy):
        return super().backward(dy)  # the training-mode gradient only


def test_check_layer_passes_training_to_every_forward():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 3))
    layer = _TrainingSwitch(rng, 3)
    errors = check_layer(layer, x, rng, training=True)
    assert layer.seen == {True} and max(errors.values()) < 1e-8
    # In inference mode the forward doubles, the backward does not: the check must see it.
    layer = _TrainingSwitch(rng, 3)
    errors = check_layer(layer, x, rng)
    assert layer.seen == {False} and min(errors.values()) > 0.3
