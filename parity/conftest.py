"""The parity suite needs TensorFlow; without it the whole directory is skipped with the reason.

``import parity`` (this package's ``__init__``) has already set
``TF_ENABLE_ONEDNN_OPTS=0`` and hidden the GPUs before TensorFlow is imported here.
"""

import pytest

pytest.importorskip(
    "tensorflow",
    reason="the parity suite compares scratchnet with TensorFlow/Keras; "
    "install it with `pip install -e '.[tf]'` (tensorflow-cpu 2.21.0)",
)
