"""Item 7: Keras-style scripts under Keras 3 and scratchnet (cases in parity.cases.scripts)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("scripts"))
def test_script(case, dtype):
    check(case, dtype)
