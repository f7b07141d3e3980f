"""``python -m benchmarks``: a smoke run on tiny sizes, its bad inputs, and the report's arithmetic.

No timing is asserted (speed targets are measured by the benchmarks, never
by tests); the smoke run checks the shape of what is written.
"""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.timing import Backend, Case, max_difference, run_case

ROOT = Path(__file__).resolve().parents[1]


def bench(*args, extra_path=None, timeout=600):
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join([*reversed(paths), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def written_json(folder):
    (path,) = Path(folder).glob("*-quick.json")
    return json.loads(path.read_text())


def test_quick_run_writes_json_table_and_plot(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("matplotlib")
    proc = bench(
        "--quick", "--only", "conv,pool,softmax_ce,optimizers,classic", "--rounds", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = written_json(tmp_path)
    rows = result["rows"]
    assert {r["family"] for r in rows} == {"conv", "pool", "softmax_ce", "optimizers", "classic"}
    assert {"scratchnet", "scratchnet-loop", "tf-eager", "tf-function", "keras", "keras-xla"} <= {
        r["backend"] for r in rows
    }
    for r in rows:
        assert math.isfinite(r["time_s"]) and r["time_s"] > 0, r
        assert "max_diff" in r and "diff_against" in r
        if r["diff_against"] is not None:  # TF is here: every difference is a finite number
            assert math.isfinite(r["max_diff"]), r
        assert r["loadavg"] is not None and len(r["per_round_s"]) == r["rounds"]
    # the scratchnet rows agree with TF (float32): a fast-but-wrong kernel would show here
    for r in rows:
        if r["backend"].startswith("scratchnet") and r["kind"] == "fwd+bwd":
            assert r["max_diff"] < 1e-3, r
    meta = result["meta"]
    assert meta["tensorflow"] and meta["threadpools"], meta
    assert isinstance(meta["env"], dict) and meta["scratchnet_adaptive_threads"] is True
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    if head.returncode == 0:  # a git checkout (CI's clone is one): the run names its commit
        assert meta["commit"].removesuffix("+dirty") == head.stdout.strip(), meta["commit"]
    table = next(Path(tmp_path).glob("*-quick.md")).read_text()
    assert "| Conv2D 3x3x1x32 on 8x8 |" in table and "## Targets (issue 7)" in table
    assert next(Path(tmp_path).glob("*-quick-ops.png")).stat().st_size > 1000


def test_keras_on_jax_runs_in_its_child_and_is_compared_with_keras(tmp_path):
    # The GPU stand-in, on the CPU here: --backends names it (by default it runs only when
    # JAX sees a GPU). Its rows carry their device in the label and a difference from Keras.
    pytest.importorskip("tensorflow")
    pytest.importorskip("jax")
    proc = bench(
        "--quick", "--only", "classic", "--backends", "scratchnet,keras,keras-jax", "--rounds", "1",
        "--no-plots", "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [r for r in written_json(tmp_path)["rows"] if r["backend"] == "keras-jax"]
    assert {r["kind"] for r in rows} == {"step", "predict"}
    for r in rows:
        assert r["label"] in ("Keras fit on JAX (cpu)", "Keras predict on JAX (cpu)"), r
        assert math.isfinite(r["time_s"]) and r["time_s"] > 0, r
        assert r["diff_against"] == "keras" and r["max_diff"] < 1e-5, (
            r
        )  # the same model and weights


def test_keras_on_jax_is_left_out_by_default_without_a_gpu(tmp_path):
    from benchmarks import model_cases

    if model_cases.jax_sees_gpu():
        pytest.skip("JAX sees a GPU here: the stand-in runs by default")
    proc = bench(
        "--quick", "--only", "dense", "--rounds", "1", "--no-plots", "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "keras-jax" not in {r["backend"] for r in written_json(tmp_path)["rows"]}


def test_without_tensorflow_says_how_to_install_and_runs_scratchnet(tmp_path):
    blocker = tmp_path / "blocker" / "tensorflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('TensorFlow blocked for this test')\n")
    out = tmp_path / "out"
    proc = bench(
        "--quick", "--only", "conv,pool,dense", "--rounds", "1", "--no-plots", "--out", str(out),
        extra_path=tmp_path / "blocker",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TensorFlow is not installed" in proc.stderr and 'pip install -e ".[tf]"' in proc.stderr
    rows = written_json(out)["rows"]
    assert {r["backend"] for r in rows} == {"scratchnet", "scratchnet-loop"}
    assert all(r["max_diff"] is None and math.isfinite(r["time_s"]) for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--only", "conv,warp"],
            "argument --only: unknown name(s) warp. Valid names: conv, pool, dense",
        ),
        (
            ["--backends", "torch"],
            "argument --backends: unknown name(s) torch. Valid names: scratchnet",
        ),
        (
            ["--dtypes", "float16"],
            "argument --dtypes: unknown name(s) float16. Valid names: float32, float64",
        ),
        (["--threads", "8"], "argument --threads: unknown name(s) 8. Valid names: all, 1"),
    ],
)
def test_unknown_names_list_the_valid_ones(args, message):
    proc = bench("--quick", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_unwritable_output_folder_fails_before_timing(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    start = time.perf_counter()
    proc = bench("--quick", "--out", str(blocker / "results"))
    assert proc.returncode == 2
    assert f"argument --out: the folder {str(blocker / 'results')!r} is not writable" in proc.stderr
    assert "benchmarks (threads" not in proc.stderr  # no progress bar: nothing was timed
    assert time.perf_counter() - start < 60


# -- the pieces, in process -------------------------------------------------------------


def test_run_case_interleaves_and_reports_differences():
    calls = []

    def make(name, value):
        def run():
            calls.append(name)
            return [value]

        return Backend(name, run, run)

    case = Case("x", "case", "fwd+bwd", 4, "float32", 4, [make("a", 1.0), make("b", 1.5)],
                reference="b", rounds=4, number=1, warmup=0)  # fmt: skip
    rows = run_case(case, "all")
    assert [r["backend"] for r in rows] == ["a", "b"]
    assert rows[0]["max_diff"] == 0.5 and rows[1]["max_diff"] == 0.0
    timed = calls[2:]  # after one result() call each
    assert timed == ["a", "b", "b", "a", "a", "b", "b", "a"]  # the first backend rotates
    assert all(len(r["per_round_s"]) == 4 for r in rows)


def test_max_difference_treats_matching_nans_as_equal_and_a_lone_nan_as_infinite():
    nan = float("nan")
    assert max_difference([[1.0, nan]], [[1.5, nan]]) == 0.5
    assert max_difference([[1.0, nan]], [[1.0, 2.0]]) == math.inf
    with pytest.raises(ValueError, match="different shapes"):
        max_difference([[1.0]], [[1.0, 2.0]])


def _row(family, kind, batch, backend, per_round, dtype="float32", note=""):
    return {
        "family": family, "case": f"{family} {kind}", "kind": kind, "batch": batch, "dtype": dtype,
        "threads": "all", "backend": backend, "per_round_s": per_round, "note": note, "loadavg": [1, 1, 1],
    }  # fmt: skip


def test_targets_use_per_round_ratios():
    rows = [
        _row("classic", "step", 32, "scratchnet", [1.0, 2.0, 1.0]),
        _row("classic", "step", 32, "keras", [2.5, 3.0, 2.0]),
        _row(
            "deeper", "step", 128, "scratchnet", [1.0], note="x; one core busy (a spinning process)"
        ),
        _row("deeper", "step", 128, "keras", [0.5], note="x; one core busy (a spinning process)"),
    ]
    got = {t["target"]: t for t in report.targets(rows, {"scratchnet": [300.0], "keras": [600.0]})}
    classic = got["classic fit, batch 32"]
    assert classic["measured"] == {"median": 2.0, "min": 1.5, "max": 2.5, "rounds": 3}
    assert classic["met"] is True
    busy = got["deeper fit, batch 128, one core busy"]
    assert busy["measured"]["median"] == 0.5 and busy["met"] is False
    assert got["deeper fit, batch 128"]["measured"] is None  # the busy run is not the quiet one
    memory = got["peak RSS of a full MNIST epoch (classic, batch 32)"]
    assert memory["measured"]["ratio"] == 0.5 and memory["met"] is True
