r"""Interleaved timing: warm-up, then rounds in which every backend runs once, in rotating order.

A machine shared with other jobs drifts by tens of percent within a minute,
so a backend timed alone for ten seconds and another timed for the next ten
are not comparable. Here each round times every backend back to back (the
first backend changes from round to round), and the per-round ratios between
backends are kept, so a slow minute slows both sides of a ratio.

Each sample is ``number`` calls (chosen in the warm-up so a sample lasts at
least ``min_sample_s``), and a row reports the median time per call with the
25th/75th percentiles and the min/max.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Backend:
    """One way of doing a case's work: ``run()`` is timed; ``result()`` gives the arrays compared against TF."""

    name: str
    run: Callable[[], Any]
    result: Callable[[], list] | None = None
    label: str = ""


@dataclass
class Case:
    """The same work done by several backends, at one batch size, dtype and thread setting."""

    family: str  # "conv", "pool", ..., "classic", "deeper"
    name: str  # what the row shows
    kind: str  # "fwd+bwd", "update", "step", "epoch", "predict"
    batch: int | None
    dtype: str
    samples: int  # samples per call (throughput = samples / time)
    backends: list[Backend] = field(default_factory=list)
    reference: str | None = None  # the backend the differences are taken against
    min_sample_s: float = 0.02
    rounds: int = 5
    number: int | None = None  # calls per sample; None: chosen in the warm-up
    note: str = ""
    steps_per_call: int = 1  # training steps one call makes (time_per_step_s = time_s / this)
    warmup: int = 2  # untimed calls per backend before the rounds, besides result()'s


def _median_iqr(values):
    v = np.asarray(values, dtype=float)
    return {
        "median": float(np.median(v)),
        "p25": float(np.percentile(v, 25)),
        "p75": float(np.percentile(v, 75)),
        "min": float(v.min()),
        "max": float(v.max()),
    }


def max_difference(a: list, b: list) -> float:
    """Largest absolute difference over matching arrays (compared in float64)."""
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"outputs of different shapes {x.shape} and {y.shape}")
        if x.size:
            both_nan = np.isnan(x) & np.isnan(y)
            d = np.where(both_nan, 0.0, np.abs(x - y))
            worst = max(worst, float(np.max(d)) if not np.isnan(d).any() else float("inf"))
    return worst


def run_case(case: Case, threads: str) -> list[dict]:
    """Time every backend of ``case`` interleaved; returns one row per backend."""
    results = {}
    for b in case.backends:
        if b.result is not None:
            results[b.name] = [np.asarray(a) for a in b.result()]
    # warm-up: result() (one call each), then ``warmup`` more calls (tf.function traces, caches fill)
    numbers = {}
    for b in case.backends:
        for _ in range(case.warmup - (case.number is None)):
            b.run()
        if case.number is None:  # the last warm-up call: how many calls make a sample
            start = time.perf_counter()
            b.run()
            once = max(time.perf_counter() - start, 1e-7)
            numbers[b.name] = max(1, int(np.ceil(case.min_sample_s / once)))
        else:
            numbers[b.name] = case.number
    samples = {b.name: [] for b in case.backends}
    per_round = []
    order = list(case.backends)
    for r in range(case.rounds):
        this_round = {}
        for b in order[r % len(order) :] + order[: r % len(order)]:
            n = numbers[b.name]
            start = time.perf_counter()
            for _ in range(n):
                b.run()
            this_round[b.name] = (time.perf_counter() - start) / n
            samples[b.name].append(this_round[b.name])
        per_round.append(this_round)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    reference = results.get(case.reference) if case.reference else None
    rows = []
    for b in case.backends:
        stats = _median_iqr(samples[b.name])
        diff = None
        if reference is not None and b.name in results:
            diff = max_difference(results[b.name], reference)
        rows.append(
            {
                "family": case.family,
                "case": case.name,
                "kind": case.kind,
                "batch": case.batch,
                "dtype": case.dtype,
                "threads": threads,
                "backend": b.name,
                "label": b.label,
                "time_s": stats["median"],
                "time_p25_s": stats["p25"],
                "time_p75_s": stats["p75"],
                "time_min_s": stats["min"],
                "time_max_s": stats["max"],
                "rounds": case.rounds,
                "calls_per_sample": numbers[b.name],
                "time_per_step_s": stats["median"] / case.steps_per_call,
                "samples_per_s": case.samples / stats["median"] if case.samples else None,
                "max_diff": diff,
                "diff_against": case.reference if reference is not None else None,
                "per_round_s": samples[b.name],
                "loadavg": list(load) if load else None,
                "note": case.note,
            }
        )
    return rows


def machine_info() -> dict:
    """Machine, CPU, library versions, BLAS and its threads, OPENBLAS_* / thread variables, load."""
    info = {
        "machine": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "numpy": np.__version__,
        "env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(
                ("OPENBLAS_", "OMP_", "MKL_", "TF_", "KERAS_", "SCRATCHNET_", "MALLOC_")
            )
        },
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = threadpool_info()
    except ImportError:  # pragma: no cover - threadpoolctl is a scratchnet dependency
        info["threadpools"] = None
    import scratchnet
    from scratchnet import config
    from scratchnet.layers import _fast

    info["scratchnet"] = getattr(scratchnet, "__version__", "")
    info["scratchnet_mallopt"] = _fast.keep_freed_memory()
    info["scratchnet_adaptive_threads"] = config.adaptive_threads()  # scratchnet/threads.py
    info["commit"] = _commit(Path(scratchnet.__file__).resolve().parents[1])
    return info


def _commit(root: Path) -> str | None:
    """The checkout's ``git`` commit, ``+dirty`` when tracked files differ from it; None outside git."""
    if not (root / ".git").exists():  # an installed copy, not the checkout
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if changed else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
