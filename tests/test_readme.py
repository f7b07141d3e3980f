"""The README's code runs and prints what it says (the MNIST example script's training is covered by test_mnist_e2e)."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", [i for i, b in enumerate(BLOCKS) if "mnist" not in b])
def test_readme_block_runs(index):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(BLOCKS[index], f"README block {index}", "exec"), {})
    first = out.getvalue().split()[0]
    if "history" in BLOCKS[index]:
        assert float(first) >= 0.95  # the README says 0.98...
    else:
        assert float(first) < 1e-6  # gradient check error


def test_the_readme_shows_the_example_script_verbatim_in_its_imports():
    script = (README.parent / "examples" / "mnist_cnn.py").read_text()
    for line in script.splitlines():
        if "# was:" in line:
            assert line.split("#")[0].strip() in README.read_text()
