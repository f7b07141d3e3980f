"""layers/fused.py: the Conv2D(relu)-MaxPooling2D pair as one step, against the two layers run one by one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchnet import layers
from scratchnet.layers import fused
from scratchnet.models import Model, Sequential


@st.composite
def pair_configs(draw):
    """A conv whose output holds at least one whole pooling window (non-overlapping, "valid")."""
    padding = draw(st.sampled_from(["valid", "same"]))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    # an input large enough that the conv output is at least (ph, pw)
    h = (ph - 1) * sh + (kh if padding == "valid" else 1) + draw(st.integers(0, 4))
    w = (pw - 1) * sw + (kw if padding == "valid" else 1) + draw(st.integers(0, 4))
    return {
        "n": draw(st.integers(1, 3)),
        "hwc": (h, w, draw(st.sampled_from([1, 2, 3]))),
        "filters": draw(st.integers(1, 4)),
        "kernel_size": (kh, kw),
        "strides": (sh, sw),
        "padding": padding,
        "pool_size": (ph, pw),
        "use_bias": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**32 - 1)),
    }


def make_pair(cfg, dtype="float64"):
    rng = np.random.default_rng(cfg["seed"])
    conv = layers.Conv2D(
        cfg["filters"],
        cfg["kernel_size"],
        cfg["strides"],
        cfg["padding"],
        activation="relu",
        use_bias=cfg["use_bias"],
        dtype=dtype,
    )
    conv.build(cfg["hwc"], rng)
    if conv.use_bias:
        conv.bias[...] = rng.normal(size=cfg["filters"])
    pool = layers.MaxPooling2D(cfg["pool_size"], dtype=dtype)
    pool.build(conv.compute_output_shape(cfg["hwc"]))
    return conv, pool, rng


def unfused(conv, pool, x, dy, input_grad=True):
    y = pool.forward(conv.forward(x, training=True), training=True)
    dx = conv.backward(pool.backward(dy), input_grad=input_grad)
    return y, dx, [g.copy() for g in conv.grads]


def run_fused(conv, pool, x, dy, input_grad=True):
    op = fused.ConvReluMaxPool(conv, pool)
    y = op.forward(x, training=True)
    dx = op.backward(dy, input_grad=input_grad)
    return y, dx, [g.copy() for g in conv.grads], op


def assert_same_pass(a, b, rtol=1e-12):
    (y1, dx1, g1), (y2, dx2, g2) = a, b
    # max and relu are exact; the products may round differently in their last bit (BLAS
    # blocks rows by position, and the fused im2col orders the rows otherwise)
    np.testing.assert_allclose(y2, y1, rtol=rtol, atol=rtol)
    if dx1 is None:
        assert dx2 is None
    else:
        np.testing.assert_allclose(dx2, dx1, rtol=rtol, atol=rtol)
    assert len(g1) == len(g2)
    for a1, a2 in zip(g1, g2, strict=True):
        np.testing.assert_allclose(a2, a1, rtol=rtol, atol=rtol)  # sums in another order


@given(cfg=pair_configs(), input_grad=st.booleans())
def test_fused_pair_computes_what_the_two_layers_compute(cfg, input_grad):
    conv, pool, rng = make_pair(cfg)
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    dy = rng.normal(
        size=(cfg["n"], *pool.compute_output_shape(conv.compute_output_shape(cfg["hwc"])))
    )
    expected = unfused(conv, pool, x, dy, input_grad)
    y, dx, grads, op = run_fused(conv, pool, x, dy, input_grad)
    assert op._cache[0] == "fused"
    assert_same_pass(expected, (y, dx, grads))


@given(cfg=pair_configs(), per_chunk=st.integers(1, 3), input_grad=st.booleans())
def test_a_batch_in_chunks_computes_what_the_layers_compute(cfg, per_chunk, input_grad):
    # 4·per_chunk + 1 images: a batch past the whole-batch limit, cut into runs of per_chunk
    cfg = {**cfg, "n": 4 * per_chunk + 1}
    conv, pool, rng = make_pair(cfg)
    x = rng.normal(size=(cfg["n"], *cfg["hwc"]))
    dy = rng.normal(
        size=(cfg["n"], *pool.compute_output_shape(conv.compute_output_shape(cfg["hwc"])))
    )
    image_bytes = int(np.prod(pool.pool_size)) * int(np.prod(dy.shape[1:])) * x.itemsize  # Z
    expected = unfused(conv, pool, x, dy, input_grad)
    op = fused.ConvReluMaxPool(conv, pool, chunk_bytes=per_chunk * image_bytes)
    y = op.forward(x, training=True)
    assert [chunk[0] for chunk in op._cache[2]] == [per_chunk] * 4 + [1]
    dx = op.backward(dy, input_grad=input_grad)
    assert_same_pass(expected, (y, dx, [g.copy() for g in conv.grads]))
    whole = fused.ConvReluMaxPool(conv, pool, chunk_bytes=cfg["n"] * image_bytes)
    y_whole = whole.forward(x, training=False)
    assert whole._cache[2] is None  # inference keeps no masks, chunked or not
    np.testing.assert_allclose(op.forward(x, training=False), y_whole, rtol=1e-12, atol=1e-12)


def test_image_chunks_cover_the_batch_and_keep_small_batches_whole():
    # the MNIST CNNs' first convolution at batch 128: 11 MB of Z, runs of 24 images
    assert fused._image_chunks(128, 86528, 2 * 2**20) == [
        (0, 24), (24, 48), (48, 72), (72, 96), (96, 120), (120, 128),
    ]  # fmt: skip
    assert fused._image_chunks(32, 86528, 2 * 2**20) == [(0, 32)]  # 2.8 MB: whole
    assert fused._image_chunks(128, 25600, 2 * 2**20) == [(0, 128)]  # the second: 3.3 MB
    assert fused._image_chunks(5, 1000, 10) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert fused._image_chunks(0, 1000, 10) == [(0, 0)]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="argument chunk_bytes. Expected None"):
            fused.ConvReluMaxPool(
                layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2), chunk_bytes=bad
            )


@given(cfg=pair_configs(), values=st.lists(st.sampled_from([-2.0, -1.0, 0.0, 1.0]), min_size=4))
def test_ties_and_zeros_send_the_gradient_where_tf_does(cfg, values):
    # Small integers make equal conv outputs (ties), zero maxima and all-negative windows
    # common; the two layers follow TF's first-maximum rule and relu'(0) = 0.
    conv, pool, rng = make_pair(cfg)
    conv.kernel[...] = rng.choice([-1.0, 0.0, 1.0], size=conv.kernel.shape)
    if conv.use_bias:
        conv.bias[...] = rng.choice([-1.0, 0.0, 1.0], size=conv.bias.shape)
    size = cfg["n"] * int(np.prod(cfg["hwc"]))
    x = np.resize(np.array(values), size).reshape(cfg["n"], *cfg["hwc"])
    dy = rng.normal(
        size=(cfg["n"], *pool.compute_output_shape(conv.compute_output_shape(cfg["hwc"])))
    )
    assert_same_pass(unfused(conv, pool, x, dy), run_fused(conv, pool, x, dy)[:3])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mnist_sizes_and_float32(dtype):
    cfg = {
        "n": 8, "hwc": (28, 28, 1), "filters": 32, "kernel_size": (3, 3), "strides": (1, 1),
        "padding": "valid", "pool_size": (2, 2), "use_bias": True, "seed": 3,
    }  # fmt: skip
    for channels, side in ((1, 28), (32, 13)):  # the two convolutions of the deeper CNN
        cfg["hwc"] = (side, side, channels)
        conv, pool, rng = make_pair(cfg, dtype)
        x = rng.normal(size=(8, side, side, channels)).astype(dtype)
        dy = rng.normal(size=(8, (side - 2) // 2, (side - 2) // 2, 32)).astype(dtype)
        tol = 1e-4 if dtype == "float32" else 1e-12
        assert_same_pass(unfused(conv, pool, x, dy), run_fused(conv, pool, x, dy)[:3], rtol=tol)


@pytest.mark.parametrize(
    "poison",
    ["nan_input", "inf_input", "huge_kernel", "nan_bias"],
)
def test_non_finite_values_run_the_two_layers(poison):
    cfg = {
        "n": 2, "hwc": (6, 6, 2), "filters": 3, "kernel_size": (3, 3), "strides": (1, 1),
        "padding": "valid", "pool_size": (2, 2), "use_bias": True, "seed": 0,
    }  # fmt: skip
    conv, pool, rng = make_pair(cfg)
    x = rng.normal(size=(2, 6, 6, 2))
    if poison == "nan_input":
        x[0, 1, 1, 0] = np.nan
    elif poison == "inf_input":
        x[1, 2, 3, 1] = np.inf
    elif poison == "huge_kernel":
        conv.kernel[0, 0, 0, 0] = 1e308  # sums could overflow: not provably finite
    else:
        conv.bias[1] = np.nan
    dy = rng.normal(size=(2, 2, 2, 3))
    with np.errstate(all="ignore"):
        expected = unfused(conv, pool, x, dy)
        y, dx, grads, op = run_fused(conv, pool, x, dy)
    assert op._cache[0] == "unfused"
    np.testing.assert_array_equal(y, expected[0])  # NaN where the layers give NaN
    np.testing.assert_array_equal(dx, expected[1])
    for a, b in zip(grads, expected[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_finite_bound_accepts_ordinary_weights_and_refuses_overflow():
    wb = np.ones((10, 4))
    assert fused._sums_stay_finite(np.ones((1, 3, 3, 1)), wb)
    assert not fused._sums_stay_finite(np.full((1, 3, 3, 1), 1e308), wb)
    assert not fused._sums_stay_finite(np.full((1, 3, 3, 1), np.nan), wb)
    assert not fused._sums_stay_finite(np.ones((1, 3, 3, 1)), np.full((10, 4), np.inf))


def test_inference_forward_keeps_no_masks():
    cfg = {
        "n": 2, "hwc": (6, 6, 1), "filters": 2, "kernel_size": (3, 3), "strides": (1, 1),
        "padding": "valid", "pool_size": (2, 2), "use_bias": True, "seed": 1,
    }  # fmt: skip
    conv, pool, rng = make_pair(cfg)
    op = fused.ConvReluMaxPool(conv, pool)
    x = rng.normal(size=(2, 6, 6, 1))
    y = op.forward(x, training=False)
    np.testing.assert_allclose(y, pool.forward(conv.forward(x)), rtol=1e-12)
    with pytest.raises(RuntimeError, match="needs a forward\\(training=True\\) call"):
        op.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="needs the cache of a forward"):
        fused.ConvReluMaxPool(conv, pool).backward(np.ones_like(y))


@pytest.mark.parametrize(
    ("conv_kwargs", "pool_kwargs"),
    [
        ({"activation": "tanh"}, {}),
        ({"activation": "leaky_relu"}, {}),
        ({"activation": None}, {}),
        ({"activation": "relu"}, {"strides": (1, 1)}),  # overlapping windows
        ({"activation": "relu"}, {"padding": "same"}),
        ({"activation": "relu", "dtype": "float32"}, {"dtype": "float64"}),
    ],
)
def test_pairs_it_cannot_run_exactly_are_not_fused(conv_kwargs, pool_kwargs):
    conv = layers.Conv2D(2, 3, **conv_kwargs)
    pool = layers.MaxPooling2D(2, **pool_kwargs)
    assert not fused.fusable(conv, pool)
    with pytest.raises(ValueError, match="Expected a Conv2D with activation='relu'"):
        fused.ConvReluMaxPool(conv, pool)
    assert fused.fusable(layers.Conv2D(2, 3, activation="relu"), layers.MaxPooling2D(2))


def deeper_model(seed=0):
    model = Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 1)),
            layers.MaxPooling2D(2),
            layers.Conv2D(6, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(5, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.build((12, 12, 1))
    return model


def test_a_model_fuses_each_pair_and_computes_the_same_gradients():
    model = deeper_model()
    steps = [s for s in model._steps(True) if s.inputs]
    assert [type(s.layer).__name__ for s in steps] == [
        "ConvReluMaxPool", "ConvReluMaxPool", "Flatten", "Dense",
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 12, 12, 1))
    y = np.eye(5)[rng.integers(0, 5, 7)]
    loss, plain = model.compute_gradients(x, y)  # the layers one by one
    out = model._forward([x], training=True)[0]  # fit's path: fused
    model._backward(y, out, model._logits_loss())
    for a, b in zip(model._grads(), plain, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model._forward([x], False, fuse=False)[0], rtol=1e-5, atol=1e-7
    )


def test_fit_with_the_fused_pairs_trains_like_the_layers():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 12, 12, 1))
    y = np.eye(5)[rng.integers(0, 5, 40)]
    fused_model, plain_model = deeper_model(3), deeper_model(3)
    plain_model._steps = lambda fuse: plain_model._nodes  # every layer on its own
    h1 = fused_model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    h2 = plain_model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(fused_model.get_weights(), plain_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_fit_in_chunks_trains_like_fit_on_whole_batches(monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 12, 12, 1))
    y = np.eye(5)[rng.integers(0, 5, 24)]
    whole = deeper_model(4)
    h1 = whole.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    monkeypatch.setattr(fused, "CHUNK_BYTES", 1)  # every image its own chunk
    chunked = deeper_model(4)
    h2 = chunked.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    ops = [s.layer for s in chunked._steps(True) if isinstance(s.layer, fused.ConvReluMaxPool)]
    assert [len(op._cache[2]) for op in ops] == [8, 8]  # the last step ran in 8 chunks
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-5)
    for a, b in zip(chunked.get_weights(), whole.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_conv_output_read_twice_is_not_fused():
    inputs = layers.Input((8, 8, 1))
    z = layers.Conv2D(3, 3, activation="relu")(inputs)
    pooled = layers.Flatten()(layers.MaxPooling2D(2)(z))
    skip = layers.Flatten()(z)  # the conv output has a second reader
    out = layers.Dense(2)(layers.Concatenate()([pooled, skip]))
    model = Model(inputs, out)
    assert not any(isinstance(s.layer, fused.ConvReluMaxPool) for s in model._steps(True))
    single = Model(inputs, layers.Dense(2)(pooled))
    assert any(isinstance(s.layer, fused.ConvReluMaxPool) for s in single._steps(True))


def test_the_finite_check_raises_nothing_under_errstate_raise():
    with np.errstate(all="raise"):
        assert not fused._sums_stay_finite(np.full((1, 2, 2, 1), 1e308), np.full((5, 2), 1e308))
