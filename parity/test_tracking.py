"""Item 7: float32 training tracks Keras float32 (cases in parity.cases.tracking)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("tracking"))
def test_tracking(case, dtype):
    check(case, dtype)
