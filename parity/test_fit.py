"""Item 8: Keras fit against scratchnet fit (cases in parity.cases.fit)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("fit"))
def test_fit(case, dtype):
    check(case, dtype)
