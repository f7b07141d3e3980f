"""Item 5: whole models against keras.Sequential (cases in parity.cases.models)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("models"))
def test_model(case, dtype):
    check(case, dtype)
