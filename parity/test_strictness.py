"""The deviation "bad input is rejected" (parity.strictness): Keras accepts, scratchnet raises."""

import re
import warnings

import pytest

from parity._harness import REQUIREMENTS
from parity._pytest import require_tensorflow
from parity._tf import seed_keras
from parity.strictness import CHECKS

require_tensorflow()


@pytest.mark.parametrize("check", CHECKS, ids=[c.name for c in CHECKS])
def test_keras_accepts_and_scratchnet_raises(check):
    if not REQUIREMENTS["models"][0]():
        pytest.skip(REQUIREMENTS["models"][1])
    seed_keras(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras may warn; it must not raise
        check.keras_call()
    with pytest.raises(ValueError) as info:
        check.scratch_call()
    assert re.search(check.match, str(info.value)), str(info.value)
