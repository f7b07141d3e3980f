"""pytest setup for the parity suite.

``import parity`` (this package's ``__init__``) has already set
``TF_ENABLE_ONEDNN_OPTS=0`` and hidden the GPUs before anything imports
TensorFlow. Each test module skips itself when TensorFlow is not installed
(``parity._pytest.require_tensorflow``): a skip raised here, in a conftest
pytest loads at start-up, would be an error instead.
"""

import importlib.util

import parity


def pytest_report_header(config):
    if importlib.util.find_spec("tensorflow") is None:
        return "parity: TensorFlow is not installed; the parity suite will be skipped"
    checked = parity.CHECKED_AGAINST
    return (
        f"parity: checked against TensorFlow {checked['tensorflow']} / Keras {checked['keras']}; "
        "TF_ENABLE_ONEDNN_OPTS=0, CPU only"
    )
