r"""Whole-model finite-difference checks: random small Sequential stacks, every loss, both output paths.

Hypothesis draws a model: an (H, W, C) input, up to two Conv2D layers (kernel
1-3, strides 1-2, padding valid/same, any activation), an optional pooling
layer (max or average, pool 2, strides 1-2, padding valid/same), optional
``Activation``/``LeakyReLU`` layers, ``Flatten``, an optional hidden ``Dense``
and an output block matched to a loss:

* categorical / sparse categorical cross-entropy on softmax, binary
  cross-entropy on sigmoid, each with the activation **in the last Dense**
  *and* as **a separate ``Activation`` layer** (the model takes the fused
  logits path for both, as Keras does);
* the same losses with ``from_logits=True`` on a linear output;
* mean squared error after any activation, softmax and sigmoid included
  (the unfused path: the softmax/sigmoid backward itself is chained).

In float64, ``model.compute_gradients(x, y)`` is compared with central
differences of the loss it returns, over every weight (or a random subset of
``MAX_ENTRIES`` when the model is larger), by the norm-wise relative error
``gradcheck.relative_error``. Correct code lands near 1e-9; the bound is 1e-6.
Inputs and weights are continuous draws, so a kink (ReLU at 0, a max-pool tie)
falls within h = 1e-6 of a sample with negligible probability.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from scratchnet import activations, layers, losses
from scratchnet.gradcheck import relative_error
from scratchnet.models import Sequential

ACTIVATIONS = sorted(activations._ACTIVATIONS)
MAX_ENTRIES = 120
H = 1e-6
BOUND = 1e-6
DT = "float64"


@st.composite
def conv_block(draw, hw):
    """A Conv2D (and maybe an activation layer) that keeps the spatial size >= 1."""
    k = draw(st.integers(1, min(3, *hw)))
    strides = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    layer = layers.Conv2D(
        draw(st.integers(1, 3)),
        k,
        strides=strides,
        padding=padding,
        activation=draw(st.sampled_from(ACTIVATIONS)),
        dtype=DT,
    )
    out = [layer]
    if draw(st.booleans()):
        out.append(draw(extra_activation()))
    return out


def extra_activation():
    return st.one_of(
        st.sampled_from(ACTIVATIONS).map(lambda a: layers.Activation(a, dtype=DT)),
        st.floats(0.0, 0.5).map(lambda s: layers.LeakyReLU(s, dtype=DT)),
    )


@st.composite
def pooling(draw):
    cls = draw(st.sampled_from([layers.MaxPooling2D, layers.AveragePooling2D]))
    return cls(
        2,
        strides=draw(st.integers(1, 2)),
        padding=draw(st.sampled_from(["valid", "same"])),
        dtype=DT,
    )


@st.composite
def output_block(draw, classes):
    """(output layers, loss, kind): kind is "onehot", "sparse", "binary" or "regression"."""
    path = draw(st.sampled_from(["in_dense", "separate", "logits", "mse"]))
    kind = draw(st.sampled_from(["onehot", "sparse", "binary"]))
    smoothing = draw(st.sampled_from([0.0, 0.1]))
    if path == "mse":
        act = draw(st.sampled_from(ACTIVATIONS))
        return (
            [layers.Dense(classes, activation=act, dtype=DT)],
            losses.MeanSquaredError(),
            "regression",
        )
    final = "sigmoid" if kind == "binary" else "softmax"
    from_logits = path == "logits"
    if kind == "onehot":
        loss = losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    elif kind == "sparse":
        loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    else:
        loss = losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    if path == "in_dense":
        out = [layers.Dense(classes, activation=final, dtype=DT)]
    elif path == "separate":
        out = [layers.Dense(classes, dtype=DT), layers.Activation(final, dtype=DT)]
    else:
        out = [layers.Dense(classes, dtype=DT)]
    return out, loss, kind


@st.composite
def models(draw):
    """(model, x, y): a compiled float64 Sequential and a batch with matching targets."""
    hw = (draw(st.integers(3, 6)), draw(st.integers(3, 6)))
    channels = draw(st.integers(1, 2))
    stack = []
    shape = (*hw, channels)
    for _ in range(draw(st.integers(0, 2))):
        block = draw(conv_block(shape[:2]))
        stack += block
        shape = block[0].compute_output_shape(shape)
    if draw(st.booleans()) and min(shape[:2]) >= 2:
        pool = draw(pooling())
        stack.append(pool)
        shape = pool.compute_output_shape(shape)
    stack.append(layers.Flatten(dtype=DT))
    if draw(st.booleans()):
        stack.append(
            layers.Dense(
                draw(st.integers(1, 4)), activation=draw(st.sampled_from(ACTIVATIONS)), dtype=DT
            )
        )
    classes = draw(st.integers(2, 3))
    out, loss, kind = draw(output_block(classes))
    stack += out
    seed = draw(st.integers(0, 2**32 - 1))
    model = Sequential(stack, seed=seed)
    model.build((*hw, channels))
    rng = np.random.default_rng(seed)
    # non-zero biases (a dropped bias shows) and kernels from the initializers, scaled up a little
    model.set_weights(
        [w * 1.5 if w.ndim > 1 else rng.normal(0, 0.3, w.shape) for w in model.get_weights()]
    )
    model.compile(optimizer="sgd", loss=loss)
    n = draw(st.integers(1, 3))
    x = rng.normal(size=(n, *hw, channels))
    if kind == "onehot":
        y = np.eye(classes)[rng.integers(0, classes, n)]
    elif kind == "sparse":
        y = rng.integers(0, classes, n)
    elif kind == "binary":
        y = rng.uniform(0, 1, (n, classes)).round(1)
    else:
        y = rng.normal(size=(n, classes))
    return model, x, y, rng


def numeric_gradients(model, x, y, entries):
    """Central differences of the loss ``compute_gradients`` returns, at ``entries`` = [(k, flat index)]."""
    weights = model.weights  # the live arrays
    out = []
    for k, i in entries:
        flat = weights[k].reshape(-1)
        old = flat[i]
        flat[i] = old + H
        plus, _ = model.compute_gradients(x, y)
        flat[i] = old - H
        minus, _ = model.compute_gradients(x, y)
        flat[i] = old
        out.append((plus - minus) / (2 * H))
    return np.array(out)


@given(drawn=models())
def test_compute_gradients_matches_central_differences(drawn):
    model, x, y, rng = drawn
    loss, grads = model.compute_gradients(x, y)
    assume(np.isfinite(loss))
    entries = [(k, i) for k, g in enumerate(grads) for i in range(g.size)]
    if len(entries) > MAX_ENTRIES:
        pick = rng.choice(len(entries), MAX_ENTRIES, replace=False)
        entries = [entries[j] for j in sorted(pick)]
    analytic = np.array([grads[k].reshape(-1)[i] for k, i in entries])
    assume(np.linalg.norm(analytic) > 1e-7)  # a saturated model: nothing to compare
    numeric = numeric_gradients(model, x, y, entries)
    assert relative_error(analytic, numeric) < BOUND, [
        type(layer).__name__ for layer in model.layers
    ]
