r"""Properties every optimizer must have, checked with hypothesis in float64 at tight tolerances.

Each test draws an optimizer configuration (every class, every flag: momentum,
nesterov, amsgrad, centered, weight decay, the three clipping modes) and a
gradient sequence, then checks a symmetry of the update rule:

* **sign equivariance**: from :math:`\theta_0 = 0`, :math:`g \to -g` gives
  :math:`\theta \to -\theta` (every rule is odd in :math:`g`: moments are odd,
  second moments and norms even); bit for bit;
* **permutation equivariance**: permuting the coordinates of :math:`\theta` and
  every :math:`g` permutes the result (element-wise rules; the norms of the clipping
  modes sum in another order, so those allow 1e-12);
* **variable-split invariance**: one variable of :math:`n` entries and two of
  :math:`k` and :math:`n-k` take the same steps; catches state shared across
  variables. Not ``clipnorm`` (its norm is per variable by definition);
  ``global_clipnorm`` holds up to its summation order (1e-12);
* **gradient-scale invariance** where the math has it (Adam, Adamax, RMSprop,
  Adagrad with :math:`\epsilon \to 0` and Adagrad's accumulator starting at 0):
  :math:`g \to c g` leaves the steps unchanged;
* **monotone decrease** of a random convex quadratic under GD/SGD with
  :math:`\eta < 2/\lambda_{\max}`;
* **flag equivalences**: ``SGD(momentum=0, nesterov=True)`` is ``SGD()``,
  ``AdamW(weight_decay=0)`` is ``Adam()``, a huge clip is no clip, plain SGD is
  linear in :math:`\eta`;
* **resume**: ``get_state``/``set_state`` at a random step gives the same bits;
* **float32 tracks float64** under random hyperparameters (rounded to float32
  first, as TF rounds them).

Displacements :math:`\theta - \theta_0` are compared, not :math:`\theta`: a small
step would hide under :math:`\theta`'s own rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from scratchnet import optimizers as opt

CLASSES = [
    opt.SGD,
    opt.GradientDescent,
    opt.Adam,
    opt.AdamW,
    opt.RMSprop,
    opt.Adagrad,
    opt.Adadelta,
    opt.Nadam,
    opt.Adamax,
]
CLASS_IDS = [c.__name__ for c in CLASSES]


def _unit(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def hyper(draw, cls, clip=True, decay=True):
    """Constructor arguments for ``cls``: its own hyperparameters and flags, plus decay and clipping."""
    kw = {"learning_rate": draw(_unit(1e-4, 0.5))}
    if cls is opt.SGD:
        kw["momentum"] = draw(st.sampled_from([0.0]) | _unit(0.05, 0.95))
        kw["nesterov"] = draw(st.booleans())
    elif cls in (opt.Adam, opt.AdamW, opt.Nadam, opt.Adamax):
        kw["beta_1"] = draw(_unit(0.0, 0.95))
        kw["beta_2"] = draw(_unit(0.5, 0.999))
        kw["epsilon"] = draw(_unit(1e-8, 1e-3))
        if cls in (opt.Adam, opt.AdamW):
            kw["amsgrad"] = draw(st.booleans())
    elif cls is opt.RMSprop:
        kw["rho"] = draw(_unit(0.5, 0.99))
        kw["momentum"] = draw(st.sampled_from([0.0]) | _unit(0.05, 0.95))
        kw["epsilon"] = draw(_unit(1e-8, 1e-3))
        kw["centered"] = draw(st.booleans())
    elif cls is opt.Adagrad:
        kw["initial_accumulator_value"] = draw(_unit(0.0, 1.0))
        kw["epsilon"] = draw(_unit(1e-8, 1e-3))
    elif cls is opt.Adadelta:
        kw["learning_rate"] = draw(_unit(1e-3, 1.0))
        kw["rho"] = draw(_unit(0.5, 0.99))
        kw["epsilon"] = draw(_unit(1e-8, 1e-3))
    if cls is opt.AdamW:
        kw["weight_decay"] = draw(_unit(0.0, 0.5))
    elif decay and draw(st.booleans()):
        kw["weight_decay"] = draw(_unit(0.0, 0.5))
    if clip:
        mode = draw(st.sampled_from([None, "clipnorm", "clipvalue", "global_clipnorm"]))
        if mode is not None:
            kw[mode] = draw(_unit(0.1, 3.0))
    return kw


@st.composite
def problem(draw, n_vars=(1, 3), size=(1, 8), steps=(1, 6)):
    """(shapes, gradient sequence): a few variables, a few steps, standard-normal gradients."""
    shapes = draw(st.lists(st.integers(*size), min_size=n_vars[0], max_size=n_vars[1]))
    n_steps = draw(st.integers(*steps))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-3, 10.0]))
    grads = [[scale * rng.standard_normal(n) for n in shapes] for _ in range(n_steps)]
    return shapes, grads


def run(optimizer, thetas, grad_seq):
    """Displacements after applying every step of ``grad_seq``; ``thetas`` are not modified."""
    variables = [np.array(th, copy=True) for th in thetas]
    for grads in grad_seq:
        optimizer.apply_gradients(zip([g.copy() for g in grads], variables, strict=True))
    return [v - th for v, th in zip(variables, thetas, strict=True)]


def close(a, b, rtol):
    """Displacements equal up to ``rtol`` of each array's largest entry (exact when rtol = 0)."""
    for x, y in zip(a, b, strict=True):
        if rtol == 0:
            np.testing.assert_array_equal(x, y)
        else:
            scale = max(float(np.max(np.abs(y), initial=0.0)), 1e-300)
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * scale)


def _norm_clip(kw):
    return "clipnorm" in kw or "global_clipnorm" in kw


# --------------------------------------------------------------------------- symmetries


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@given(data=st.data())
def test_sign_equivariance(cls, data):
    kw = data.draw(hyper(cls))
    shapes, grads = data.draw(problem())
    zeros = [np.zeros(n) for n in shapes]
    plus = run(cls(**kw), zeros, grads)
    minus = run(cls(**kw), zeros, [[-g for g in step] for step in grads])
    close(minus, [-d for d in plus], 0)


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@given(data=st.data())
def test_permutation_equivariance(cls, data):
    kw = data.draw(hyper(cls))
    (n,), grads = data.draw(problem(n_vars=(1, 1), size=(2, 10)))
    perm = np.asarray(data.draw(st.permutations(range(n))))
    theta = [np.random.default_rng(n).standard_normal(n)]
    direct = run(cls(**kw), theta, grads)
    permuted = run(cls(**kw), [theta[0][perm]], [[g[perm] for g in step] for step in grads])
    close(permuted, [direct[0][perm]], 1e-12 if _norm_clip(kw) else 0)


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@given(data=st.data())
def test_variable_split_invariance(cls, data):
    kw = data.draw(hyper(cls))
    assume("clipnorm" not in kw)  # per-variable norms: not invariant by definition
    (n,), grads = data.draw(problem(n_vars=(1, 1), size=(2, 10)))
    k = data.draw(st.integers(1, n - 1))
    theta = np.random.default_rng(n).standard_normal(n)
    (whole,) = run(cls(**kw), [theta], grads)
    parts = run(cls(**kw), [theta[:k], theta[k:]], [[g[:k], g[k:]] for (g,) in grads])
    close([np.concatenate(parts)], [whole], 1e-12 if "global_clipnorm" in kw else 0)


# eps -> 0 (and Adagrad's accumulator from 0): these rules divide the moment by its own scale.
SCALE_FREE = [
    (opt.Adam, {}),
    (opt.Adam, {"amsgrad": True}),
    (opt.Adamax, {}),
    (opt.RMSprop, {}),
    (opt.RMSprop, {"centered": True, "momentum": 0.5}),
    (opt.Adagrad, {"initial_accumulator_value": 0.0}),
]


@pytest.mark.parametrize(
    "cls,flags", SCALE_FREE, ids=[f"{c.__name__}{sorted(f)}" for c, f in SCALE_FREE]
)
@given(data=st.data())
def test_gradient_scale_invariance(cls, flags, data):
    kw = data.draw(hyper(cls, clip=False, decay=False))
    kw.update(flags, epsilon=1e-300)  # ε → 0: below every rounding of √v
    c = data.draw(st.floats(1e-3, 1e3) | st.sampled_from([2.0**-20, 2.0**20]))
    shapes, grads = data.draw(problem())
    thetas = [np.random.default_rng(n).standard_normal(n) for n in shapes]
    base = run(cls(**kw), thetas, grads)
    scaled = run(cls(**kw), thetas, [[c * g for g in step] for step in grads])
    close(scaled, base, 1e-12)


@pytest.mark.parametrize("cls", [opt.SGD, opt.GradientDescent], ids=["SGD", "GradientDescent"])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 6),
    fraction=st.floats(0.05, 0.99),
    steps=st.integers(1, 30),
)
def test_monotone_decrease_on_a_convex_quadratic(cls, seed, n, fraction, steps):
    # f(θ) = ½ θᵀAθ − bᵀθ, A = Q diag(λ) Qᵀ, λ in [0.1, 10]; a GD step η < 2/λ_max never increases f
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = rng.uniform(0.1, 10.0, n)
    a, b = (q * lam) @ q.T, rng.standard_normal(n)

    def f(th):
        return 0.5 * th @ a @ th - b @ th

    o = cls(learning_rate=fraction * 2.0 / lam.max())
    theta = rng.standard_normal(n) * 10
    values = [f(theta)]
    for _ in range(steps):
        o.apply_gradients([(a @ theta - b, theta)])
        values.append(f(theta))
    slack = 1e-12 * (1 + np.abs(values[:-1]))  # rounding of f itself
    assert np.all(np.diff(values) <= slack), values


# --------------------------------------------------------------------------- flag equivalences


@given(data=st.data())
def test_sgd_nesterov_without_momentum_is_plain_sgd(data):
    kw = data.draw(hyper(opt.SGD))
    kw.update(momentum=0.0)
    shapes, grads = data.draw(problem())
    thetas = [np.random.default_rng(n).standard_normal(n) for n in shapes]
    a = run(opt.SGD(**{**kw, "nesterov": True}), thetas, grads)
    b = run(opt.SGD(**{**kw, "nesterov": False}), thetas, grads)
    close(a, b, 0)


@given(data=st.data())
def test_adamw_without_decay_is_adam(data):
    kw = data.draw(hyper(opt.Adam, decay=False))
    shapes, grads = data.draw(problem())
    thetas = [np.random.default_rng(n).standard_normal(n) for n in shapes]
    close(
        run(opt.AdamW(**kw, weight_decay=0.0), thetas, grads), run(opt.Adam(**kw), thetas, grads), 0
    )


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@pytest.mark.parametrize("mode", ["clipnorm", "clipvalue", "global_clipnorm"])
@given(data=st.data())
def test_huge_clip_is_no_clip(cls, mode, data):
    kw = data.draw(hyper(cls, clip=False))
    shapes, grads = data.draw(problem())
    thetas = [np.random.default_rng(n).standard_normal(n) for n in shapes]
    huge = 2.0**100  # a power of two: g·c/c is exact
    close(run(cls(**kw, **{mode: huge}), thetas, grads), run(cls(**kw), thetas, grads), 0)


@given(data=st.data(), factor=st.floats(0.01, 100.0))
def test_plain_sgd_is_linear_in_the_learning_rate(data, factor):
    lr = data.draw(_unit(1e-4, 0.5))
    shapes, grads = data.draw(problem())
    zeros = [np.zeros(n) for n in shapes]
    a = run(opt.SGD(learning_rate=lr), zeros, grads)
    b = run(opt.SGD(learning_rate=lr * factor), zeros, grads)
    close(b, [factor * d for d in a], 1e-13)


# --------------------------------------------------------------------------- state and dtypes


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@given(data=st.data())
def test_resume_at_a_random_step_is_bit_identical(cls, data):
    kw = data.draw(hyper(cls))
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    shapes, grads = data.draw(problem(steps=(2, 8)))
    grads = [[g.astype(dtype) for g in step] for step in grads]
    split = data.draw(st.integers(1, len(grads) - 1))
    thetas = [np.random.default_rng(n).standard_normal(n).astype(dtype) for n in shapes]

    straight = cls(**kw)
    variables = [th.copy() for th in thetas]
    for step in grads:
        straight.apply_gradients(zip(step, variables, strict=True))

    first = cls(**kw)
    resumed_vars = [th.copy() for th in thetas]
    for step in grads[:split]:
        first.apply_gradients(zip(step, resumed_vars, strict=True))
    resumed = cls.from_config(first.get_config())
    resumed.set_state(first.get_state())
    for step in grads[split:]:
        resumed.apply_gradients(zip(step, resumed_vars, strict=True))

    for a, b in zip(variables, resumed_vars, strict=True):
        np.testing.assert_array_equal(a, b)
    for sa, sb in zip(straight.get_state()["slots"], resumed.get_state()["slots"], strict=True):
        for k in sa:
            np.testing.assert_array_equal(sa[k], sb[k])


@pytest.mark.parametrize("cls", CLASSES, ids=CLASS_IDS)
@given(data=st.data())
def test_float32_tracks_float64(cls, data):
    # Hyperparameters rounded to float32 first (TF rounds them so), then the only difference
    # is float32 arithmetic: ~1e-7 per operation, a few steps of it.
    kw = {
        k: float(np.float32(v)) if isinstance(v, float) else v
        for k, v in data.draw(hyper(cls)).items()
    }
    shapes, grads = data.draw(problem(steps=(1, 5)))
    grads = [[g.astype(np.float32).astype(np.float64) for g in step] for step in grads]
    thetas = [np.random.default_rng(n).standard_normal(n).astype(np.float32) for n in shapes]
    d64 = run(cls(**kw), [th.astype(np.float64) for th in thetas], grads)
    d32 = run(cls(**kw), thetas, [[g.astype(np.float32) for g in step] for step in grads])
    for a, b in zip(d32, d64, strict=True):
        assert a.dtype == np.float32
        # 1e-4 of the largest step, plus θ's own float32 rounding (|θ| ≤ ~4, ulp 2.4e-7 each side)
        atol = 1e-4 * float(np.max(np.abs(b))) + 1e-6
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=atol)
