"""Item 4: optimizer trajectories against keras.optimizers (cases in parity.cases.optimizers)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("optimizers"))
def test_optimizer(case, dtype):
    check(case, dtype)
