"""Item 1: every activation and flag value against ``keras.activations`` (cases in ``parity.cases.activations``)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("activations"))
def test_activation(case, dtype):
    check(case, dtype)
