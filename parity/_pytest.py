"""The two lines every ``parity/test_*.py`` module shares: parametrize over a group, run a case."""

from __future__ import annotations

import pytest

from parity._harness import missing_requirement, run_case
from parity.cases import cases_in


def require_tensorflow() -> None:
    """Skip the calling test module (at import) when TensorFlow is not installed."""
    pytest.importorskip(
        "tensorflow",
        reason="the parity suite compares scratchnet with TensorFlow/Keras; "
        "install it with `pip install -e '.[tf]'` (tensorflow-cpu 2.21.0)",
    )


def params(group: str) -> list:
    """``pytest.param(case, dtype)`` for every case of ``group`` and each of its dtypes."""
    out = []
    for case in cases_in(group):
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        for dtype in case.dtypes:
            out.append(pytest.param(case, dtype, id=f"{case.name}-{dtype}", marks=marks))
    return out


def check(case, dtype: str) -> None:
    """Run ``case`` at ``dtype``; skip with the reason when a requirement is missing."""
    reason = missing_requirement(case)
    if reason:
        pytest.skip(reason)
    outcome = run_case(case, dtype, catch=False)
    assert outcome.status == "pass", f"{case.id} [{dtype}] disagrees with TF:\n{outcome.message}"
