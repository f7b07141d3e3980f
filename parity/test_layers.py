"""Item 2: every layer configuration against keras.layers (cases in parity.cases.layers)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("layers"))
def test_layer(case, dtype):
    check(case, dtype)
