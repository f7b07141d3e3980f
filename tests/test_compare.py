"""``scratchnet compare``: statistics against hand-computed cases, option checks, and small real runs.

The runs use the first few hundred images of the real MNIST (skipped where it
is not cached: ``python -m scratchnet data fetch mnist``). The TensorFlow
side-by-side tests skip when TensorFlow is absent; the browser test skips only
where no Chromium can be found (``make setup`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchnet.__main__ import main
from scratchnet.compare import cli, experiment, runner, stats, tensorflow_side

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--no-progress", "--backend", "scratchnet", "--jobs", "1"]


@pytest.fixture(scope="module")
def mnist_cached():
    from scratchnet.datasets import store

    if store.find("mnist") is None:
        pytest.skip("real MNIST is not cached here (python -m scratchnet data fetch mnist)")


def _numbers(value):
    """Every int/float in a JSON value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    else:
        for v in value:
            yield from _numbers(v)


# ---------------------------------------------------------------------------- statistics


def _pairs(b, c, both=0, neither=0):
    """Correctness vectors with b (A right, B wrong), c (A wrong, B right) and the concordant rest."""
    a = [1] * b + [0] * c + [1] * both + [0] * neither
    bb = [0] * b + [1] * c + [1] * both + [0] * neither
    return np.array(a, bool), np.array(bb, bool)


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (1, 9, 2 * (1 + 10) / 2**10),  # 2 · P(X ≤ 1), X ~ Bin(10, 1/2) = 2 · 11/1024
        (0, 5, 2 / 2**5),  # 2 · P(X = 0), X ~ Bin(5, 1/2)
        (5, 5, 1.0),  # balanced discordance: no evidence
        (0, 0, 1.0),  # no discordant sample at all
        (3, 0, 2 / 2**3),
    ],
)
def test_mcnemar_exact_p_values_by_hand(b, c, p):
    res = stats.mcnemar(*_pairs(b, c, both=20, neither=7))
    assert (res["b"], res["c"]) == (b, c)
    assert res["p_value"] == pytest.approx(p, rel=1e-12)


def test_mcnemar_is_symmetric_and_checks_shapes():
    a, b = _pairs(2, 8, both=5)
    assert stats.mcnemar(a, b)["p_value"] == stats.mcnemar(b, a)["p_value"]
    with pytest.raises(ValueError, match="same samples"):
        stats.mcnemar(a, b[:-1])


def test_bootstrap_ci_matches_the_normal_approximation_on_a_large_sample():
    correct = np.zeros(10_000, bool)
    correct[:9_000] = True  # p = 0.9
    low, high = stats.bootstrap_ci(correct, seed=0)
    half = 1.959964 * math.sqrt(0.9 * 0.1 / 10_000)  # 0.00588
    assert low == pytest.approx(0.9 - half, abs=8e-4)
    assert high == pytest.approx(0.9 + half, abs=8e-4)
    assert stats.bootstrap_ci(correct, seed=0) == (low, high)  # same seed, same interval


def test_bootstrap_ci_degenerate_and_paired_cases():
    assert stats.bootstrap_ci(np.ones(50, bool)) == (1.0, 1.0)
    assert stats.bootstrap_ci(np.zeros(50, bool)) == (0.0, 0.0)
    rng = np.random.default_rng(1)
    row = rng.random(400) < 0.7
    # two identical seeds: the paired resampling gives the one-row interval exactly
    assert stats.bootstrap_ci(np.stack([row, row]), seed=3) == pytest.approx(
        stats.bootstrap_ci(row, seed=3)
    )
    with pytest.raises(ValueError, match="at least 2 samples"):
        stats.bootstrap_ci(np.ones((2, 1)))


def test_most_confused_names_the_symmetric_pairs():
    m = np.diag([50] * 4)
    m[0, 1], m[1, 0], m[2, 3], m[3, 2], m[1, 2] = 3, 1, 5, 2, 4
    top = stats.most_confused(m, top=2)
    assert [t["classes"] for t in top] == [[2, 3], [0, 1]]
    assert top[0] == {"classes": [2, 3], "count": 7, "i_as_j": 5, "j_as_i": 2}
    assert stats.mean_std([1.0]) == (1.0, 0.0)
    assert stats.mean_std([1.0, 3.0]) == pytest.approx((2.0, math.sqrt(2)))


def test_results_are_written_atomically_without_nan(tmp_path):
    path = tmp_path / "run.json"
    runner.write_json_atomic(path, {"loss": [1.5, float("nan"), float("inf")], "n": 3})
    assert json.loads(path.read_text()) == {"loss": [1.5, None, None], "n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left
    with pytest.raises(TypeError):
        runner.write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text())["n"] == 3  # the old file survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_diagnostics_see_dead_relu_and_saturated_sigmoid_units():
    from scratchnet import activations

    assert experiment.max_derivative(activations.get("sigmoid")) == pytest.approx(0.25)
    assert experiment.max_derivative(activations.get("tanh")) == pytest.approx(1.0)
    assert experiment.max_derivative(activations.get("relu")) == 1.0
    rng = np.random.default_rng(0)
    x = rng.random((16, 28, 28, 1)).astype("float32")  # pixels in [0, 1)
    y = experiment.one_hot(rng.integers(0, 10, 16))
    cases = {  # (activation, conv kernel, conv bias) -> (dead fraction, saturated fraction)
        ("relu", 0.0, -1.0): (1.0, 1.0),  # z = -1 everywhere: every unit dead
        ("relu", 0.0, 1.0): (0.0, 0.0),  # z = 1: all alive
        ("sigmoid", 0.0, 0.0): (0.0, 0.0),  # z = 0: f' at its maximum
        ("sigmoid", 0.0, 10.0): (0.0, 1.0),  # σ'(10) ≈ 4.5e-5 < 5% of 1/4
        ("tanh", 0.0, -3.0): (0.0, 1.0),  # tanh'(-3) ≈ 0.0099 < 0.05
    }
    for (name, kernel, bias), (dead, saturated) in cases.items():
        model = experiment.build_model(name, 0)
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        conv = model.layers[0]
        conv.set_weights(
            [np.full_like(conv.weights[0], kernel), np.full_like(conv.weights[1], bias)]
        )
        layers = experiment.diagnostics(model, x, y, histograms=True)["layers"]
        assert (layers["conv"]["dead_fraction"], layers["conv"]["saturated_fraction"]) == (
            dead,
            saturated,
        ), name
        assert layers["conv"]["grad_norm"] >= 0 and "dead_fraction" not in layers["dense"]
        assert sum(layers["conv"]["activation_hist"]["counts"]) == 16 * 26 * 26 * 32
        assert layers["dense"]["activation_hist"]["what"] == "logits"
    assert layers["conv"]["activation_hist"]["what"] == "tanh output"


# ---------------------------------------------------------------------------- bad input


def _fail(argv, capsys, code=2):
    assert main(["compare", *argv]) == code
    return capsys.readouterr().err


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input was bad")

    monkeypatch.setattr(runner, "run", refuse)


def test_unknown_names_list_the_valid_ones(capsys, no_training):
    err = _fail(["--pairs", "relu:adamm"], capsys)
    assert (
        "unknown name 'adamm'" in err
        and "Valid names: adadelta, adagrad, adam," in err
        and "gd" in err
    )
    err = _fail(["--activations", "relu,swishy", "--optimizers", "adam"], capsys)
    assert (
        "--activations: unknown name 'swishy'" in err and "leaky_relu" in err and "sigmoid" in err
    )
    err = _fail(["--pairs", "relu-adam"], capsys)
    assert "activation:optimizer" in err
    err = _fail(["--pairs", "relu:adam", "--optimizers", "sgd"], capsys)
    assert "either --pairs or --activations/--optimizers" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "0,x"], "--seeds: expected comma-separated integers"),
        (["--epochs", "0"], "--epochs: expected an integer >= 1. Received 0."),
        (["--cv", "1"], "--cv: expected an integer >= 2. Received 1."),
        (["--learning-rate", "-1"], "--learning-rate: expected a number > 0"),
    ],
)
def test_bad_numbers_are_refused_before_training(argv, message, capsys, no_training):
    assert message in _fail(argv, capsys)


def test_grid_and_defaults():
    args = lambda *a: cli_args(a)  # noqa: E731
    assert cli.parse_pairs(args()) == list(cli.DEFAULT_PAIRS)
    assert cli.parse_pairs(args("--activations", "relu,elu", "--optimizers", "gd,adam")) == [
        ("relu", "gd"), ("relu", "adam"), ("elu", "gd"), ("elu", "adam"),
    ]  # fmt: skip
    assert "gd" in cli.optimizer_names() and "momentum" in cli.optimizer_names()
    tasks = cli.plan([("relu", "adam")], [0, 1], 2, ["scratchnet", "tensorflow"])
    assert len(tasks) == 8 and len({t.key for t in tasks}) == 8


def cli_args(argv):
    import argparse

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_unwritable_out_fails_before_training(tmp_path, capsys, no_training):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = _fail(["--out", str(blocker / "report"), *QUIET], capsys)
    assert f"--out {blocker / 'report'}: cannot write there" in err


def test_missing_data_set_says_how_to_fetch_it(tmp_path, capsys, monkeypatch, no_training):
    from scratchnet.datasets import download, store

    def offline(name, **kwargs):
        raise download.FetchError("no network here")

    monkeypatch.setattr(store, "find", lambda name, cache_dir=None: None)
    monkeypatch.setattr(download, "fetch", offline)
    err = _fail(["--dataset", "fashion-mnist", "--out", str(tmp_path), *QUIET], capsys)
    assert "Could not fetch the fashion-mnist data set (no network here)" in err
    assert "python -m scratchnet data fetch fashion-mnist" in err


def test_tensorflow_backend_without_tensorflow_says_how_to_install(
    tmp_path, capsys, monkeypatch, no_training
):
    monkeypatch.setattr(tensorflow_side, "available", lambda: False)
    err = _fail(["--backend", "tensorflow", "--out", str(tmp_path)], capsys)
    assert "--backend tensorflow needs TensorFlow, which is not installed" in err
    assert 'pip install "scratchnet[tf]"' in err
    assert cli.backends(None)[0] == ["scratchnet"]
    assert "running scratchnet alone" in cli.backends(None)[1]


def test_missing_report_packages_fail_before_training(tmp_path, capsys, monkeypatch, no_training):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else real(name, *a)
    )
    err = _fail(["--out", str(tmp_path), *QUIET], capsys)
    assert (
        'The report needs jinja2, which is not installed. Install them with pip install "scratchnet[compare]".'
        in err
    )


def test_unreachable_scheduler_fails_at_once_with_the_address(tmp_path, capsys, no_training):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    err = _fail(["--scheduler", "tcp://127.0.0.1:9", "--out", str(tmp_path), *QUIET], capsys)
    assert "Cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err


def test_import_cli_imports_neither_tensorflow_nor_plotting():
    code = (
        "import sys, scratchnet.__main__ as m; m._parser(); import scratchnet.compare.cli;"
        "print(sorted(k for k in ('tensorflow', 'keras', 'matplotlib', 'jinja2', 'distributed') if k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- small real runs


@pytest.fixture(scope="module")
def small_run(mnist_cached, tmp_path_factory):
    """Two pairs, 2 epochs, 300 images, scratchnet only, in this process."""
    out = tmp_path_factory.mktemp("compare") / "report"
    argv = [
        "compare",
        "--pairs",
        "relu:adam,tanh:momentum",
        "--epochs",
        "2",
        "--subset",
        "300",
        "--out",
        str(out),
        *QUIET,
    ]
    assert main(argv) == 0
    return out, argv


def test_small_run_produces_every_file_with_finite_numbers(small_run):
    out, _ = small_run
    for name in ("report.html", "report.md", "results.json"):
        assert (out / name).stat().st_size > 1000, name
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"curves.png", "dynamics.png", "activations.png"} <= figures
    for pair in ("relu_adam", "tanh_momentum"):
        assert {
            f"pair_{pair}_curves.png",
            f"pair_{pair}_confusion.png",
            f"pair_{pair}_histograms.png",
        } <= figures
    assert len(list((out / "runs").glob("*.json"))) == 2
    results = json.loads((out / "results.json").read_text())
    ranking = results["rankings"][0]
    assert ranking["backend"] == "scratchnet" and sorted(ranking["order"]) == [
        "relu+adam",
        "tanh+momentum",
    ]
    assert (
        len(ranking["comparisons"]) == 1
        and 0 <= ranking["comparisons"][0]["tests"][0]["p_value"] <= 1
    )
    numbers = list(_numbers(results))
    assert len(numbers) > 1000 and all(math.isfinite(x) for x in numbers)
    for g in results["groups"]:
        assert g["ci95"][0] <= g["accuracy"] <= g["ci95"][1]
        assert g["accuracy"] == pytest.approx(g["final"]["test_accuracy"]["mean"])
        assert np.sum(g["confusion"]) == 300
        assert len(g["curves"]["test_accuracy"]) == 2
        assert len(g["diagnostics"]["layers"]["conv"]["grad_norm"]) == 3  # epochs 0, 1, 2
        assert set(g["per_class"]) == {str(k) for k in range(10)}
    md = (out / "report.md").read_text()
    assert "## Ranking" in md and "cannot tell apart" in md or "different" in md
    assert "![Learning curves, all pairs](figures/curves.png)" in md
    html = (out / "report.html").read_text()
    assert "<script" not in html and 'src="http' not in html and 'src="figures' not in html
    assert html.count('src="data:image/png;base64,') == len(figures)


def test_rerun_with_the_same_out_skips_finished_runs(small_run, capsys, monkeypatch):
    out, argv = small_run
    calls = []
    real = experiment.run_task

    def counting(task, settings, progress=None):
        calls.append(task.key)
        return real(task, settings, progress)

    monkeypatch.setattr(experiment, "run_task", counting)
    assert main(argv) == 0
    assert calls == [] and "Resuming: 2 of 2 runs already finished" in capsys.readouterr().out
    (out / "runs" / "tanh+momentum-seed0-test-scratchnet.json").unlink()
    assert main(argv) == 0
    assert calls == ["tanh+momentum-seed0-test-scratchnet"]
    invocations = json.loads((out / "invocations.json").read_text())
    assert [i["trained"] for i in invocations] == [2, 0, 1]
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["total_elapsed_s"] == pytest.approx(sum(i["elapsed_s"] for i in invocations))
    assert "over 3 invocations (resumed:" in (out / "report.md").read_text()
    tasks = cli.plan([("relu", "adam"), ("tanh", "momentum")], [0], None, ["scratchnet"])
    same = experiment.Settings(epochs=2, subset=300, threads=7)  # threads do not change results
    assert sorted(runner.load_finished(out, tasks, same)) == sorted(t.key for t in tasks)
    for other in (
        experiment.Settings(epochs=1, subset=300),
        experiment.Settings(epochs=2, subset=301),
    ):
        assert runner.load_finished(out, tasks, other) == {}  # other settings: nothing reused


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _screenshot(browser, page: Path, shot: Path, profile: Path):
    cmd = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1280,3000", page.as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    from matplotlib.image import imread

    image = imread(shot)[..., :3]  # (3000, 1280, 3) floats in [0, 1]
    assert image.shape[:2] == (3000, 1280)
    return image


def _coloured_pixels(image) -> int:
    """Pixels with clearly unequal channels: plot lines and heat maps, not text or table borders."""
    return int(np.count_nonzero(image.max(axis=2) - image.min(axis=2) > 0.3))


def test_report_renders_in_headless_chromium(small_run, tmp_path):
    """A real browser draws the page; its plots add thousands of coloured pixels to what the same
    page shows with its images removed (the control)."""
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium here: `apt-get install chromium` (make setup does it as root on Debian)"
        )
    page = small_run[0] / "report.html"
    image = _screenshot(browser, page, tmp_path / "shot.png", tmp_path / "profile")
    assert image.std() > 0.05  # not a blank page
    control_page = tmp_path / "control.html"
    html = page.read_text()
    control_page.write_text(re.sub(r'src="data:image/png;base64,[^"]*"', 'src=""', html))
    control = _screenshot(browser, control_page, tmp_path / "control.png", tmp_path / "profile")
    assert _coloured_pixels(image) > _coloured_pixels(control) + 5000
    top = image[:1500]  # the first screenful holds tables and the learning curves
    assert top.std() > 0.05


def test_cross_validation_with_seeds_in_two_processes(mnist_cached, tmp_path, capsys):
    argv = ["compare", "--pairs", "relu:adam,sigmoid:sgd", "--epochs", "1", "--subset", "200", "--cv", "2",
            "--seeds", "0,1", "--jobs", "2", "--backend", "scratchnet", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    assert "in 2 process(es) × 1 thread(s)" in capsys.readouterr().out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["evaluation_set"] == {
        "name": "validation",
        "samples": 200,
    }  # out-of-fold: every sample once
    for g in results["groups"]:
        assert g["runs"] == 4 and g["seeds"] == [0, 1]
        assert np.sum(g["confusion"]) == 400  # 200 out-of-fold predictions per seed
    comparison = results["rankings"][0]["comparisons"][0]
    assert [t["seed"] for t in comparison["tests"]] == [0, 1]


def test_dask_runs_a_tiny_grid_on_a_local_cluster(mnist_cached, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        argv = ["compare", "--activations", "relu,tanh", "--optimizers", "sgd", "--epochs", "1", "--subset", "200",
                "--scheduler", cluster.scheduler_address, "--backend", "scratchnet", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["scheduler"] == cluster.scheduler_address
    assert sorted(g["pair"] for g in results["groups"]) == ["relu+sgd", "tanh+sgd"]
    assert len(list((tmp_path / "runs").glob("*.json"))) == 2


# ---------------------------------------------------------------------------- side by side with TensorFlow

needs_tf = pytest.mark.skipif(
    not tensorflow_side.available(),
    reason="TensorFlow is not installed (pip install scratchnet[tf])",
)


@needs_tf
@pytest.mark.parametrize(
    ("activation", "optimizer"), [("relu", "adam"), ("tanh", "momentum"), ("sigmoid", "gd")]
)
def test_same_weights_same_batches_keep_scratchnet_and_tensorflow_together(
    mnist_cached, activation, optimizer
):
    """float32, the same initial weights and batches: the first 20 running-mean losses agree to 1e-4
    relative (measured: ~1e-6; float32 sums in another order), and after the epoch the train and test
    losses to 1e-3 relative (batch GD: 3 full-batch steps)."""
    gd = optimizer == "gd"
    settings = experiment.Settings(epochs=3 if gd else 1, subset=640)
    task = experiment.Task(activation, optimizer, 0, None, "scratchnet")
    sn = experiment.run_task(task, settings)
    tf = experiment.run_task(
        experiment.Task(activation, optimizer, 0, None, "tensorflow"), settings
    )
    if not gd:
        assert len(sn["first_steps"]) == len(tf["first_steps"]) == 20
        np.testing.assert_allclose(sn["first_steps"], tf["first_steps"], rtol=1e-4)
    for key in ("loss", "test_loss"):
        np.testing.assert_allclose(sn["history"][key], tf["history"][key], rtol=1e-3)
    assert abs(sn["history"]["test_accuracy"][-1] - tf["history"]["test_accuracy"][-1]) <= 2 / 640


@needs_tf
def test_both_backends_side_by_side_in_the_report(mnist_cached, tmp_path):
    argv = ["compare", "--pairs", "leaky_relu:adam", "--epochs", "1", "--subset", "320", "--backend", "both",
            "--jobs", "1", "--no-progress", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = results["side_by_side"]
    assert row["pair"] == "leaky_relu+adam" and row["within_half_point"]
    assert row["first_steps_max_rel_diff"] < 1e-4
    assert "Side by side: scratchnet and TensorFlow" in (tmp_path / "report.html").read_text()
