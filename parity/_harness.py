r"""The comparison machinery shared by ``pytest parity/`` and ``python -m parity``.

A ``Case`` is one item of the parity table: a function that, given a dtype and
a seeded ``np.random.Generator``, computes a quantity with scratchnet and with
TensorFlow/Keras on the same inputs and returns the ``Comparison`` pairs. The
harness measures each pair against the case's tolerance:

.. math::

    |got - expected| \le atol_{eff} + rtol \cdot |expected|  \quad\text{for every entry}

(``numpy.isclose``'s rule, with TensorFlow's result as the reference), where
``atol_eff = atol`` or, for comparisons marked ``relative_atol`` (optimizer
slots at gradient scale 1e-6 are ~1e-12 in size, so an absolute 1e-12 would
test nothing), ``atol · max|expected|``. Float32 comparisons that carry
TF's float64 result (``expected64``) also allow ``2·|TF32 - TF64|``: TF's own
float32 error, twice, so a scratchnet result at least as accurate as TF's
always passes (TF's float32 tanh-form GELU gradient is 0.0 at x = -4.95 where
the exact value is -2.06e-6; scratchnet's float32 gives -2.06e-6). Non-finite entries must agree exactly
(same infinity, or NaN on both sides); shapes must agree; dtypes must agree
unless the comparison says otherwise (scratchnet must not silently upcast
float32 to float64).

Reported errors: ``max |Δ|`` over all entries, and ``max |Δ|/|expected|`` over
the entries whose reference is non-zero (entries with a zero reference are
covered by ``atol`` alone).
"""

from __future__ import annotations

import importlib.util
import os
import time
import traceback
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

# Base seed of every case's generator; override with PARITY_SEED to draw other inputs.
BASE_SEED = int(os.environ.get("PARITY_SEED", "20260401"))


@dataclass(frozen=True)
class Tolerance:
    """An entry passes when ``|got - expected| <= atol_eff + rtol * |expected|``."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        if self.rtol == 0 and self.atol == 0:
            return "exact"
        return f"{self.rtol:.0e} / {self.atol:.0e}"


EXACT = Tolerance(0.0, 0.0)

# The documented defaults (reliability.md): float64 rtol 1e-9 / atol 1e-12;
# float32 forward rtol 1e-5 / atol 1e-6, gradients rtol 1e-4 / atol 1e-6.
# "exact" (bit for bit) is for copies: keras_io weights, counters.
DEFAULT_TOLERANCES: dict[str, dict[str, Tolerance]] = {
    "float64": {
        "value": Tolerance(1e-9, 1e-12),
        "gradient": Tolerance(1e-9, 1e-12),
        "exact": EXACT,
    },
    "float32": {"value": Tolerance(1e-5, 1e-6), "gradient": Tolerance(1e-4, 1e-6), "exact": EXACT},
}


@dataclass
class Comparison:
    """One scratchnet result against the TensorFlow result for the same inputs.

    ``kind`` ("value" or "gradient") picks the tolerance; ``context`` is an
    input aligned entry by entry with ``got`` (shown for the worst entry);
    ``expected64`` (float32 runs) is TF's result in float64 on the same
    inputs, whose distance from ``expected`` is TF's own float32 error.
    """

    label: str
    got: object  # scratchnet
    expected: object  # TensorFlow / Keras
    kind: str = "value"
    relative_atol: bool = False
    check_dtype: bool = True
    context: object = None
    expected64: object = None  # float32 runs: TF in float64 on the same inputs (see measure)


@dataclass(frozen=True)
class Case:
    """One item of the parity table.

    ``run(dtype, rng) -> [Comparison, ...]``; ``needs`` names what it requires
    (see ``missing_requirement``); ``kinds`` lists the comparison kinds it
    returns (for the report's tolerance column); ``tolerances`` overrides the
    defaults per dtype and kind, and then ``reason`` must say why; ``xfail``
    (a reason) marks a known disagreement the lead must decide on.
    """

    group: str
    name: str
    run: Callable[[str, np.random.Generator], list[Comparison]]
    needs: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float64", "float32")
    kinds: tuple[str, ...] = ("value", "gradient")
    tolerances: Mapping[str, Mapping[str, Tolerance]] = field(default_factory=dict)
    reason: str = ""
    xfail: str | None = None
    tf32_allowance: bool = False  # its float32 comparisons carry expected64 (see measure)

    def __post_init__(self):
        if self.tolerances and not self.reason:
            raise ValueError(f"case {self.id}: a looser tolerance needs a written reason")

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    def tolerance(self, dtype: str, kind: str) -> Tolerance:
        """The tolerance for comparisons of ``kind`` at ``dtype`` (the case's, else the default)."""
        tol = self.tolerances.get(dtype, {}).get(kind) or DEFAULT_TOLERANCES[dtype].get(kind)
        if tol is None:
            raise ValueError(
                f"case {self.id}: no {dtype} tolerance for comparisons of kind {kind!r}"
            )
        return tol

    def _kinds(self, dtype: str) -> list[str]:
        extra = [k for k in self.tolerances.get(dtype, {}) if k not in self.kinds]
        return [*self.kinds, *extra]

    def tolerance_text(self, dtype: str) -> str:
        """``rtol / atol`` for values, then ``∇ ...`` and any other kind where they differ."""
        kinds = self._kinds(dtype)
        first = self.tolerance(dtype, kinds[0])
        parts = [str(first) if kinds[0] == "value" else f"{kinds[0]} {first}"]
        for kind in kinds[1:]:
            tol = self.tolerance(dtype, kind)
            if kind == "exact":
                parts.append("copies exact")
            elif tol != first:
                parts.append(f"{'∇' if kind == 'gradient' else kind} {tol}")
        text = "; ".join(parts)
        if dtype == "float32" and self.tf32_allowance:
            text += "; + 2·|TF32−TF64|"
        return text

    def is_loosened(self, dtype: str) -> bool:
        """Whether any tolerance of this case is looser than the documented default."""
        for kind in self._kinds(dtype):
            tol = self.tolerance(dtype, kind)
            default = DEFAULT_TOLERANCES[dtype].get(kind, EXACT)
            if tol != EXACT and (tol.rtol > default.rtol or tol.atol > default.atol):
                return True
        return False


@dataclass
class Measured:
    """The errors of one ``Comparison``."""

    label: str
    max_abs: float
    max_rel: float
    passed: bool
    detail: str = ""
    ratio: float = 0.0  # max |Δ| / allowed over the entries (> 1 fails)


@dataclass
class Outcome:
    """One case at one dtype: ``status`` is "pass", "fail", "error" or "skip"."""

    case: Case
    dtype: str
    status: str
    measured: list[Measured] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0

    @property
    def max_abs(self) -> float:
        return max((m.max_abs for m in self.measured), default=float("nan"))

    @property
    def max_rel(self) -> float:
        return max((m.max_rel for m in self.measured), default=float("nan"))

    @property
    def ratio(self) -> float:
        """The largest ``|Δ| / allowed`` of any entry: how much of the tolerance was used."""
        return max((m.ratio for m in self.measured), default=float("nan"))


def case_rng(case: Case, dtype: str, seed: int = BASE_SEED) -> np.random.Generator:
    """A generator seeded by (base seed, case id, dtype): fresh and reproducible per test."""
    return np.random.default_rng([seed, zlib.crc32(case.id.encode()), zlib.crc32(dtype.encode())])


def _as_array(value) -> np.ndarray:
    if hasattr(value, "numpy"):  # a tf.Tensor or tf.Variable
        value = value.numpy()
    return np.asarray(value)


def measure(comparison: Comparison, tol: Tolerance) -> Measured:
    """Errors of ``comparison`` and whether every entry is within ``tol``."""
    label = comparison.label
    got, expected = _as_array(comparison.got), _as_array(comparison.expected)
    if got.shape != expected.shape:
        return Measured(
            label, np.inf, np.inf, False, f"{label}: shape {got.shape} != {expected.shape}", np.inf
        )
    problems = []
    if comparison.check_dtype and got.dtype != expected.dtype:
        problems.append(f"{label}: dtype {got.dtype} (scratchnet) != {expected.dtype} (TF)")
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    finite = np.isfinite(g) & np.isfinite(e)
    same_nonfinite = (~np.isfinite(g) & ~np.isfinite(e)) & ((np.isnan(g) & np.isnan(e)) | (g == e))
    bad_nonfinite = ~finite & ~same_nonfinite
    diff = np.array(np.abs(np.subtract(g, e, out=np.zeros_like(g), where=finite)))
    diff[bad_nonfinite] = np.inf
    abs_e = np.where(finite, np.abs(e), 0.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    nonzero = abs_e > 0
    max_rel = float((diff[nonzero] / abs_e[nonzero]).max()) if np.any(nonzero) else 0.0
    if np.any(bad_nonfinite):
        max_rel = np.inf
    atol = tol.atol * (float(abs_e.max()) if comparison.relative_atol and abs_e.size else 1.0)
    allowed = atol + tol.rtol * abs_e
    if comparison.expected64 is not None:
        # TF's own float32 error |TF32 - TF64|, twice: a scratchnet result at least as accurate
        # as TF's is at most that far from TF's on either side (triangle inequality).
        e64 = _as_array(comparison.expected64).astype(np.float64)
        own = np.abs(np.subtract(e, e64, out=np.zeros_like(e), where=finite & np.isfinite(e64)))
        allowed = allowed + 2.0 * own
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, np.where(allowed > 0, diff / allowed, np.inf))
    passed = not problems and bool(np.all(ratio <= 1.0))
    if ratio.size and np.max(ratio) > 1.0:
        idx = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        where = f" at {tuple(int(i) for i in idx)}" if ratio.ndim else ""
        context = ""
        if comparison.context is not None:
            ctx = _as_array(comparison.context)
            if ctx.shape == ratio.shape:
                context = f" (input {ctx[idx]!r})"
        problems.append(
            f"{label}: {int(np.sum(ratio > 1.0))} of {ratio.size} entries outside "
            f"rtol {tol.rtol:g} / atol {atol:.3g}; worst{where}{context}: "
            f"scratchnet {g[idx]!r}, TF {e[idx]!r}, |Δ| {diff[idx]:.3g}"
        )
    worst = float(ratio.max()) if ratio.size else 0.0
    return Measured(label, max_abs, max_rel, passed, "; ".join(problems), worst)


# --- requirements ---------------------------------------------------------------------------


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _has_sequential() -> bool:
    if not _has_module("scratchnet.models"):
        return False
    import scratchnet.models

    return hasattr(scratchnet.models, "Sequential")


def _has_mnist() -> bool:
    from parity import _data

    return _data.real_mnist_available()


# name -> (check, reason shown when it fails)
REQUIREMENTS: dict[str, tuple[Callable[[], bool], str]] = {
    "activations": (
        lambda: _has_module("scratchnet.activations"),
        "scratchnet.activations is not there",
    ),
    "layers": (lambda: _has_module("scratchnet.layers"), "scratchnet.layers is not merged yet"),
    "losses": (lambda: _has_module("scratchnet.losses"), "scratchnet.losses is not merged yet"),
    "optimizers": (
        lambda: _has_module("scratchnet.optimizers"),
        "scratchnet.optimizers is not merged yet",
    ),
    "models": (_has_sequential, "scratchnet.models.Sequential is not merged yet"),
    "keras_io": (lambda: _has_module("scratchnet.keras_io"), "scratchnet.keras_io is missing"),
    "mnist": (
        _has_mnist,
        "real MNIST is not available (scratchnet.datasets.mnist missing or its files not cached; "
        "run `python -m scratchnet data fetch mnist`)",
    ),
}


def missing_requirement(case: Case) -> str | None:
    """The reason ``case`` cannot run here, or None."""
    for need in case.needs:
        check, reason = REQUIREMENTS[need]
        if not check():
            return reason
    return None


# --- running --------------------------------------------------------------------------------


def run_case(case: Case, dtype: str, *, seed: int = BASE_SEED, catch: bool = True) -> Outcome:
    """Run ``case`` at ``dtype`` and measure every comparison it returns.

    With ``catch=False`` (pytest) an exception propagates with its traceback;
    with ``catch=True`` (the report) it becomes an "error" outcome.
    """
    from parity._tf import seed_keras

    reason = missing_requirement(case)
    if reason:
        return Outcome(case, dtype, "skip", message=reason)
    start = time.perf_counter()
    seed_keras(zlib.crc32(f"{seed}/{case.id}/{dtype}".encode()) % (2**31))
    try:
        comparisons = case.run(dtype, case_rng(case, dtype, seed))
    except Exception as exc:
        if not catch:
            raise
        return Outcome(
            case,
            dtype,
            "error",
            message=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-3)}",
            seconds=time.perf_counter() - start,
        )
    if not comparisons:
        raise RuntimeError(f"case {case.id} compared nothing")
    measured = [measure(c, case.tolerance(dtype, c.kind)) for c in comparisons]
    failed = [m for m in measured if not m.passed]
    return Outcome(
        case,
        dtype,
        "fail" if failed else "pass",
        measured,
        "\n".join(m.detail for m in failed),
        seconds=time.perf_counter() - start,
    )
