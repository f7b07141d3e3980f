"""Item 3: every loss on both paths against keras.losses (cases in parity.cases.losses)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("losses"))
def test_loss(case, dtype):
    check(case, dtype)
