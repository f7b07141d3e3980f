r"""``scratchnet compare``: options, their checks, and the run from plan to report.

    scratchnet compare [--pairs relu:adam,tanh:momentum | --activations A,B --optimizers X,Y]
                       [--epochs 10] [--batch-size 32] [--learning-rate LR]
                       [--dataset mnist|fashion-mnist] [--subset N] [--seeds 0,1,2] [--cv K]
                       [--backend scratchnet|tensorflow|both] [--jobs N] [--out DIR]
                       [--scheduler ADDRESS] [--no-progress]

Without arguments: the four classic pairs relu+adam, sigmoid+sgd,
tanh+momentum (SGD, momentum 0.9) and leaky_relu+adam, 10 epochs each on all
of MNIST, on scratchnet and (when installed) TensorFlow side by side, report in
``compare-out/``. Everything a user can get wrong is checked before any
training starts: names, the output folder, TensorFlow, the data set, the scheduler.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from scratchnet.compare import experiment
from scratchnet.compare.runner import CompareError

DEFAULT_PAIRS = (("relu", "adam"), ("sigmoid", "sgd"), ("tanh", "momentum"), ("leaky_relu", "adam"))
# A grid's activations when only --optimizers is given, and its optimizers when only --activations is.
GRID_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
GRID_OPTIMIZERS = ("adam", "sgd", "momentum")
DEFAULT_OUT = "compare-out"


def activation_names() -> list[str]:
    from scratchnet import activations

    return sorted(activations._ACTIVATIONS)


def optimizer_names() -> list[str]:
    from scratchnet import optimizers

    return sorted(optimizers._OPTIMIZERS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``scratchnet compare`` (the help lists the valid names)."""
    what = parser.add_argument_group("what to compare")
    what.add_argument(
        "--pairs",
        metavar="ACT:OPT,...",
        help="activation:optimizer pairs (default: relu:adam,sigmoid:sgd,tanh:momentum,leaky_relu:adam)",
    )
    what.add_argument(
        "--activations",
        metavar="A,B,...",
        help=f"the grid activations x optimizers (default {','.join(GRID_ACTIVATIONS)}); names: {', '.join(activation_names())}",
    )
    what.add_argument(
        "--optimizers",
        metavar="X,Y,...",
        help=f"(default {','.join(GRID_OPTIMIZERS)}); names: {', '.join(optimizer_names())} "
        "(momentum: SGD 0.9; gd: batch gradient descent)",
    )
    what.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"))
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=10, help="(default: 10)")
    train.add_argument("--batch-size", type=int, default=32, help="(default: 32)")
    train.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="for every optimizer (default: each one's Keras default)",
    )
    train.add_argument(
        "--subset", type=int, default=None, metavar="N", help="the first N train and N test images"
    )
    train.add_argument(
        "--seeds", default="0", metavar="S,...", help="repeat each pair per seed (mean ± std)"
    )
    train.add_argument(
        "--cv",
        type=int,
        default=None,
        metavar="K",
        help="K-fold cross-validation on the training set",
    )
    run = parser.add_argument_group("running")
    run.add_argument(
        "--backend",
        choices=("scratchnet", "tensorflow", "both"),
        default=None,
        help="default: both when TensorFlow is installed, else scratchnet",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel processes (default: one per core)",
    )
    run.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"report folder (default: {DEFAULT_OUT})"
    )
    run.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="run on a Dask distributed cluster"
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


# ---------------------------------------------------------------------------- checks


def _names(kind: str, text: str, valid: list[str]) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise CompareError(
            f"--{kind}: expected a comma-separated list of names. Received {text!r}."
        )
    for n in names:
        if n not in valid:
            raise CompareError(f"--{kind}: unknown name {n!r}. Valid names: {', '.join(valid)}.")
    return list(dict.fromkeys(names))


def parse_pairs(args) -> list[tuple[str, str]]:
    """The (activation, optimizer) pairs from ``--pairs`` or the ``--activations`` × ``--optimizers`` grid."""
    acts, opts = activation_names(), optimizer_names()
    if args.pairs and (args.activations or args.optimizers):
        raise CompareError("Give either --pairs or --activations/--optimizers, not both.")
    if args.activations or args.optimizers:
        a = (
            _names("activations", args.activations, acts)
            if args.activations
            else list(GRID_ACTIVATIONS)
        )
        o = (
            _names("optimizers", args.optimizers, opts)
            if args.optimizers
            else list(GRID_OPTIMIZERS)
        )
        return [(x, y) for x in a for y in o]
    if not args.pairs:
        return list(DEFAULT_PAIRS)
    pairs = []
    for item in args.pairs.split(","):
        if item.count(":") != 1:
            raise CompareError(
                f"--pairs: expected activation:optimizer items such as relu:adam. Received {item!r}."
            )
        a, o = (s.strip().lower() for s in item.split(":"))
        _names("pairs (activation)", a, acts)
        _names("pairs (optimizer)", o, opts)
        if (a, o) not in pairs:
            pairs.append((a, o))
    return pairs


def _positive(name: str, value, minimum=1):
    if value is not None and value < minimum:
        raise CompareError(f"--{name}: expected an integer >= {minimum}. Received {value}.")
    return value


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise CompareError(
            f"--seeds: expected comma-separated integers >= 0 such as 0,1,2. Received {text!r}."
        )
    return list(dict.fromkeys(seeds))


def backends(choice: str | None) -> tuple[list[str], str | None]:
    """The backends to run and, when TensorFlow is left out for want of it, the sentence saying so."""
    from scratchnet.compare import tensorflow_side

    have_tf = tensorflow_side.available()
    if choice is None:
        if have_tf:
            return ["scratchnet", "tensorflow"], None
        return ["scratchnet"], (
            f"TensorFlow is not installed: running scratchnet alone (no side-by-side). For both: {tensorflow_side.INSTALL_HINT}."
        )
    wanted = ["scratchnet", "tensorflow"] if choice == "both" else [choice]
    if "tensorflow" in wanted and not have_tf:
        raise CompareError(
            f"--backend {choice} needs TensorFlow, which is not installed. Install it with {tensorflow_side.INSTALL_HINT}."
        )
    return wanted, None


def check_out(out: str) -> Path:
    """Create ``out`` (and ``out/runs``) and prove a file can be written there, before any training."""
    path = Path(out).expanduser()
    try:
        (path / "runs").mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise CompareError(
            f"--out {out}: cannot write there ({type(exc).__name__}: {exc.strerror or exc}). Choose a writable folder."
        ) from exc
    return path


def check_report_packages() -> None:
    """The report needs matplotlib and jinja2: say so before training, not after it."""
    import importlib.util

    missing = [m for m in ("matplotlib", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        raise CompareError(
            f"The report needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            'not installed. Install them with pip install "scratchnet[compare]".'
        )


def check_data(name: str) -> None:
    """Make sure the data set is in the cache (fetching it on first use), else say how to get it."""
    from scratchnet.datasets import download, store

    if store.find(name) is not None:
        return
    print(f"{name} is not cached yet: fetching it (once).")
    try:
        download.fetch(name)
    except (download.FetchError, OSError) as exc:
        raise CompareError(
            f"Could not fetch the {name} data set ({exc}).\n{store.not_found_message(name)}"
        ) from exc


# ---------------------------------------------------------------------------- the run


def plan(pairs, seeds, cv, wanted) -> list[experiment.Task]:
    """Every task, ordered so that parallel workers take the two backends of a pair together."""
    folds = [None] if cv is None else list(range(cv))
    return [
        experiment.Task(a, o, s, f, b)
        for s in seeds
        for f in folds
        for a, o in pairs
        for b in sorted(wanted, reverse=True)  # both backends of a pair side by side in time
    ]


def _record_invocation(out: Path, elapsed: float, trained: int) -> list[dict]:
    """Append this invocation (start, seconds until the last run finished, runs trained) to
    ``<out>/invocations.json``; return them all, so a resumed report can state the total time."""
    from datetime import datetime, timedelta, timezone

    from scratchnet.compare.runner import write_json_atomic

    path = out / "invocations.json"
    try:
        past = json.loads(path.read_text(encoding="utf-8"))
        past = past if isinstance(past, list) else []
    except (OSError, ValueError):
        past = []
    started = datetime.now(timezone.utc) - timedelta(seconds=elapsed)
    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    past.append({
        "started": started.isoformat(timespec="seconds"), "elapsed_s": elapsed,
        "trained": trained, "load_average_at_end": load,
    })  # fmt: skip
    write_json_atomic(path, past)
    return past


def run(args, argv=()) -> int:
    """``scratchnet compare`` with parsed ``args`` (``argv`` for the record); returns the exit status."""
    try:
        return _run(args, "scratchnet " + " ".join(argv))
    except CompareError as exc:
        print(f"scratchnet compare: {exc}", file=sys.stderr)
        return 2


def _run(args, command: str) -> int:
    start = time.perf_counter()
    pairs = parse_pairs(args)
    seeds = parse_seeds(args.seeds)
    _positive("epochs", args.epochs)
    _positive("batch-size", args.batch_size)
    _positive("subset", args.subset, 2)
    _positive("cv", args.cv, 2)
    _positive("jobs", args.jobs)
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise CompareError(
            f"--learning-rate: expected a number > 0. Received {args.learning_rate}."
        )
    wanted, note = backends(args.backend)
    check_report_packages()
    out = check_out(args.out)
    client = None
    if args.scheduler:
        from scratchnet.compare import runner

        client = runner.connect(args.scheduler)
    check_data(args.dataset)

    tasks = plan(pairs, seeds, args.cv, wanted)
    cores = os.cpu_count() or 1
    jobs = args.jobs or min(cores, len(tasks))
    settings = experiment.Settings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        dataset=args.dataset,
        subset=args.subset,
        cv=args.cv,
        threads=max(1, cores // jobs),
    )
    if note:
        print(note)
    where = (
        f"on the Dask cluster at {args.scheduler}"
        if client
        else f"in {jobs} process(es) × {settings.threads} thread(s)"
    )
    print(
        f"Comparing {len(pairs)} pair(s) × {len(seeds)} seed(s)"
        + (f" × {args.cv} folds" if args.cv else "")
        + f" on {' and '.join(wanted)}: {len(tasks)} runs of {args.epochs} epoch(s), {where}."
    )
    from scratchnet.compare import report, runner

    try:
        results, reused = runner.run(
            tasks, settings, out, jobs=jobs, client=client, progress=not args.no_progress
        )
    finally:
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - start
    invocations = _record_invocation(out, elapsed, len(tasks) - reused)
    summary = report.build(results, settings, out, meta={
        "command": command.strip(),
        "pairs": [f"{a}+{o}" for a, o in pairs],
        "seeds": seeds,
        "backends": wanted,
        "backend_note": note,
        "jobs": jobs if client is None else None,
        "scheduler": args.scheduler,
        "elapsed_s": elapsed,
        "invocations": invocations,
        "total_elapsed_s": sum(i["elapsed_s"] for i in invocations),
        "runs": len(tasks),
        "reused": reused,
        "run_wall_time_s": sum(r.get("wall_time") or 0.0 for r in results),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cpu_count": cores,
    })  # fmt: skip
    print(summary)
    took = time.perf_counter() - start
    print(
        f"Report: {out / 'report.html'} (and report.md, results.json); this invocation {took:.0f} s."
    )
    return 1 if any(r.get("error") for r in results) else 0
