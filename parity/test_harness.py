"""The harness itself: it must fail on real disagreements, not only pass on agreement."""

import numpy as np
import pytest
from scipy.special import ndtr

from parity import _harness
from parity.__main__ import render
from parity._harness import Case, Comparison, Tolerance, measure, run_case
from parity._pytest import require_tensorflow
from parity._tf import tf_keras, vjp
from parity.cases import CASES, GROUPS

require_tensorflow()

F64 = Tolerance(1e-9, 1e-12)


def test_identical_arrays_pass_with_zero_error():
    x = np.random.default_rng(0).standard_normal((3, 4))
    m = measure(Comparison("x", x, x.copy()), F64)
    assert m.passed and m.max_abs == 0 and m.max_rel == 0


def test_one_ulp_passes_and_a_relative_1e_6_fails():
    x = np.random.default_rng(1).uniform(1, 2, size=5)
    assert measure(Comparison("x", np.nextafter(x, 3), x), F64).passed
    bad = x.copy()
    bad[3] *= 1 + 1e-6
    m = measure(Comparison("x", bad, x), F64)
    assert not m.passed
    assert "at (3,)" in m.detail and "1 of 5 entries" in m.detail
    assert m.max_rel == pytest.approx(1e-6, rel=1e-3)


def test_dtype_shape_and_non_finite_mismatches_fail():
    x = np.ones(3)
    assert not measure(Comparison("x", x.astype(np.float32), x), F64).passed
    assert measure(Comparison("x", x.astype(np.float32), x, check_dtype=False), F64).passed
    assert not measure(Comparison("x", np.ones(4), x), F64).passed
    inf = np.array([1.0, np.inf, np.nan])
    assert measure(Comparison("x", inf.copy(), inf), F64).passed
    assert not measure(Comparison("x", np.array([1.0, np.inf, 1.0]), inf), F64).passed
    assert not measure(Comparison("x", np.array([1.0, -np.inf, np.nan]), inf), F64).passed


def test_relative_atol_scales_with_the_array():
    expected = np.array([1e-12, 0.0, 2e-12])
    got = expected + np.array([0.0, 5e-13, 0.0])
    assert measure(Comparison("v", got, expected), Tolerance(1e-9, 1e-12)).passed
    assert not measure(Comparison("v", got, expected, relative_atol=True), F64).passed


def test_a_looser_tolerance_needs_a_reason():
    with pytest.raises(ValueError, match="reason"):
        Case("g", "n", lambda d, r: [], tolerances={"float64": {"value": Tolerance(1e-3, 0)}})


def test_case_generators_are_seeded_per_case_and_dtype():
    case = CASES[0]
    a = _harness.case_rng(case, "float64").standard_normal(4)
    assert np.array_equal(a, _harness.case_rng(case, "float64").standard_normal(4))
    assert not np.array_equal(a, _harness.case_rng(case, "float32").standard_normal(4))
    assert not np.array_equal(a, _harness.case_rng(CASES[1], "float64").standard_normal(4))


def _gelu_tanh_case(derivative):
    """GELU tanh form forward against Keras; the backward is ``derivative``."""

    def run(dtype, rng):
        _, keras = tf_keras()
        x = (3 * rng.standard_normal((4, 5))).astype(dtype)
        dy = rng.standard_normal(x.shape).astype(dtype)
        c = np.sqrt(2 / np.pi)
        # TF casts 0.044715 to the input dtype through float32 (tf.nn.gelu), even in float64
        u = c * (x + float(np.float32(0.044715)) * x**3)
        y = 0.5 * x * (1 + np.tanh(u))
        y_tf, (dx_tf,), _ = vjp(lambda t: keras.activations.gelu(t, approximate=True), [x], dy)
        dx = dy * derivative(x, u, c)
        return [Comparison("forward", y, y_tf), Comparison("gradient", dx, dx_tf, "gradient")]

    return Case("selftest", "gelu", run)


def test_a_wrong_derivative_fails_against_tf_and_the_right_one_passes():
    def right(x, u, c):
        t = np.tanh(u)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (
            1 + 3 * float(np.float32(0.044715)) * x**2
        )

    def erf_derivative(x, u, c):  # the exact GELU's derivative paired with the tanh forward
        return ndtr(x) + x * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)

    assert run_case(_gelu_tanh_case(right), "float64", catch=False).status == "pass"
    outcome = run_case(_gelu_tanh_case(erf_derivative), "float64", catch=False)
    assert outcome.status == "fail"
    assert "gradient" in outcome.message and "forward" not in outcome.message


def test_errors_are_reported_not_raised_in_report_mode():
    def boom(dtype, rng):
        raise ZeroDivisionError("boom")

    outcome = run_case(Case("selftest", "boom", boom), "float64")
    assert outcome.status == "error" and "ZeroDivisionError: boom" in outcome.message
    with pytest.raises(ZeroDivisionError):
        run_case(Case("selftest", "boom", boom), "float64", catch=False)


def test_every_group_has_cases_with_unique_ids():
    assert all(GROUPS.values())
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_report_renders_rows_reasons_and_deviations():
    case = _gelu_tanh_case(lambda x, u, c: np.zeros_like(x))
    outcomes = {d: run_case(case, d) for d in case.dtypes}
    text = render(
        [(case, outcomes)],
        versions={"tensorflow": "2.21.0", "keras": "3.15.1"},
        notes=["TF_ENABLE_ONEDNN_OPTS=0"],
        seconds=1.0,
        seed=0,
        selection="",
    )
    assert "Checked against TensorFlow 2.21.0 / Keras 3.15.1" in text
    assert "| `gelu` |" in text and "**FAIL**" in text
    assert "## Disagreements and errors" in text
    assert "## Deliberate deviations from TensorFlow/Keras" in text
