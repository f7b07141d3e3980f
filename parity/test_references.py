"""Item 9: independent references checked by TF (cases in parity.cases.references)."""

import pytest

from parity._pytest import check, params, require_tensorflow

require_tensorflow()


@pytest.mark.parametrize(("case", "dtype"), params("references"))
def test_reference(case, dtype):
    check(case, dtype)
