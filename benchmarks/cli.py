r"""``python -m benchmarks``: parse the arguments, check them, run the plan, write JSON, table and plots.

The plan (``--quick`` shrinks every part to a smoke run of about a minute):

* ops: every family of ``ops.FAMILIES`` at batch sizes 1, 8, 32, 128, 256;
* models: a training step (several steps per call) at batch 32 and 128, a
  full 60,000-image epoch, predict at batch 128; the deeper model's fit at
  batch 128 again while a spinning process holds one core;
* float32 and float64; threads as the machine has them, then (in a fresh
  child process, because TensorFlow fixes its thread pools at start-up) pinned
  to one: ``OMP_NUM_THREADS=1``, TF intra/inter-op threads 1, one BLAS thread;
* peak resident memory of a full MNIST epoch, scratchnet and Keras, each in
  fresh processes, interleaved.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import model_cases, ops, report, timing

FAMILIES = (*ops.FAMILIES, *model_cases.MODELS, "memory")
BACKENDS = (
    *ops.OP_BACKENDS,
    *ops.GPU_OP_BACKENDS,
    *model_cases.MODEL_BACKENDS,
    *model_cases.GPU_MODEL_BACKENDS,
)
BACKENDS = tuple(dict.fromkeys(BACKENDS))
DTYPES = ("float32", "float64")
THREADS = ("all", "1")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
TF_INSTALL = (
    "TensorFlow is not installed, so only the scratchnet rows run (no TF columns, no differences). "
    'To compare: pip install -e ".[tf]"  (tensorflow-cpu==2.21.0, the version the parity suite uses).'
)


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time scratchnet against TensorFlow/Keras on the same work; see benchmarks/README.md.",
    )
    p.add_argument("--quick", action="store_true", help="a one-minute smoke run on tiny sizes")
    p.add_argument("--only", default="", help=f"comma-separated families: {', '.join(FAMILIES)}")
    p.add_argument(
        "--backends", default="", help=f"comma-separated backends: {', '.join(BACKENDS)}"
    )
    p.add_argument("--dtypes", default="", help="float32,float64 (default both; --quick: float32)")
    p.add_argument("--threads", default="", help="all,1 (default both; --quick: all)")
    p.add_argument(
        "--out", default=str(DEFAULT_OUT), help="output folder (default benchmarks/results)"
    )
    p.add_argument(
        "--rounds", type=int, default=0, help="interleaved rounds per case (default 5; quick 3)"
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--child-threads", default="", help=argparse.SUPPRESS)
    p.add_argument("--child-out", default="", help=argparse.SUPPRESS)
    return p


def _names(parser, arg, given, valid, default):
    if not given:
        return list(default)
    names = [n.strip() for n in given.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if unknown:
        parser.error(
            f"argument {arg}: unknown name(s) {', '.join(unknown)}. Valid names: {', '.join(valid)}."
        )
    return names


def _check_writable(parser, folder: Path):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as e:
        parser.error(
            f"argument --out: the folder {str(folder)!r} is not writable ({e.strerror or e})."
        )


def _import_tf(threads):
    """TensorFlow (and its thread setting), or None with a message saying how to install it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import tensorflow as tf
    except ImportError:
        print(TF_INSTALL, file=sys.stderr)
        return None
    tf.get_logger().setLevel("ERROR")  # no retracing chatter from predict's many calls
    if threads == "1":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def plan(args, tf, threads, dtypes, families, wanted, gpu):
    """The work as (description, function returning Cases) pairs, so the progress bar knows its length.

    To keep a full run near 20 minutes on two cores: float64 and the one-thread
    run time the models with scratchnet and Keras ``fit``/``predict`` only, and
    the one-thread run leaves out the activations and optimizers.
    """
    quick = args.quick
    rounds = args.rounds or (3 if quick else 5)  # ops
    model_rounds = args.rounds or 3  # a model call lasts seconds
    devices = ["CPU", "GPU"] if gpu else ["CPU"]
    op_batches = [2] if quick else [1, 8, 32, 128, 256]
    model_batches = [8] if quick else [32, 128]
    main_run = dtypes and threads == "all"
    all_items = []
    for dtype in dtypes:
        items, op_items = [], []  # this dtype's model items go first (they carry the targets)
        first = main_run and dtype == "float32"  # everything; otherwise the short list
        model_wanted = [w for w in wanted if first or w in ("scratchnet", "keras", "keras-gpu")]
        for family in ops.FAMILIES:
            if family not in families or (
                threads != "all" and family in ("activations", "optimizers")
            ):
                continue
            for batch in [None] if family == "optimizers" else op_batches:

                def make(family=family, batch=batch, dtype=dtype):
                    cases = ops.build_cases({family}, [batch], dtype, tf, devices, wanted, quick)
                    for c in cases:
                        c.rounds = rounds
                    return cases

                op_items.append((f"{family} b{batch} {dtype}", make))
        for model in model_cases.MODELS:
            if model not in families:
                continue
            per_call = 64 if quick else (12800 if model == "classic" else 6400)
            for batch in model_batches:
                steps = max(2, per_call // batch)
                step_wanted = [w for w in model_wanted if w != "tf-eager"]
                items.append(
                    (f"{model} fit b{batch} {dtype}",
                     lambda m=model, b=batch, d=dtype, s=steps, w=step_wanted: [model_cases.training_cases(
                         m, b, d, s, tf, w, gpu, model_rounds)])
                )  # fmt: skip
                if first and "tf-eager" in wanted and tf is not None:
                    eager = [w for w in wanted if w in ("scratchnet", "tf-eager")]
                    items.append(
                        (f"{model} eager steps b{batch}",
                         lambda m=model, b=batch, w=eager: [model_cases.training_cases(
                             m, b, "float32", 2 if quick else 10, tf, w, gpu, model_rounds)])
                    )  # fmt: skip
            pb, n = (8, 32) if quick else (128, 10000)
            items.append(
                (f"{model} predict b{pb} {dtype}",
                 lambda m=model, d=dtype, b=pb, n=n, w=model_wanted: [
                     model_cases.predict_case(m, b, d, n, tf, w, gpu, model_rounds)])
            )  # fmt: skip
            if first and not quick:
                for batch in model_batches:
                    items.append(
                        (f"{model} epoch b{batch}",
                         lambda m=model, b=batch: [model_cases.training_cases(
                             m, b, "float32", 60000 // b, tf,
                             [w for w in wanted if w in ("scratchnet", "keras")], False, 1, kind="epoch")])
                    )  # fmt: skip
            if model == "deeper" and first:
                b = 8 if quick else 128
                s = 2 if quick else 50

                def busy(b=b, s=s):
                    case = model_cases.training_cases(
                        "deeper", b, "float32", s, tf, [w for w in wanted if w in ("scratchnet", "keras")],
                        False, model_rounds,
                    )  # fmt: skip
                    case.note += "; one core busy (a spinning process)"
                    case.busy = True
                    return [case]

                items.append((f"deeper fit b{b}, one core busy", busy))
        all_items += items + op_items
    return all_items


def run_plan(items, threads, rows, after_group=None):
    """Run every case of ``items``, appending to ``rows``; ``after_group()`` after each group (saves)."""
    from tqdm.auto import tqdm

    with tqdm(items, desc=f"benchmarks (threads {threads})", unit="group", file=sys.stderr) as bar:
        for desc, make in bar:
            bar.set_postfix_str(desc)
            for case in make():
                if getattr(case, "busy", False):
                    with model_cases.BusyCore():
                        rows += timing.run_case(case, threads)
                else:
                    rows += timing.run_case(case, threads)
            model_cases.close_jax_children()
            if after_group is not None:
                after_group()
    return rows


def _versions(tf):
    out = {"tensorflow": None, "keras": None, "gpus": []}
    if tf is not None:
        import keras

        out.update(
            tensorflow=tf.__version__,
            keras=keras.__version__,
            gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
        )
    return out


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    families = _names(parser, "--only", args.only, FAMILIES, FAMILIES)
    wanted = _names(parser, "--backends", args.backends, BACKENDS, BACKENDS)
    # keras-jax by default only as the GPU stand-in; --backends names it for the CPU
    if not args.backends and "keras-jax" in wanted and not model_cases.jax_sees_gpu():
        wanted.remove("keras-jax")
    dtypes = _names(parser, "--dtypes", args.dtypes, DTYPES, ["float32"] if args.quick else DTYPES)
    threads_list = _names(
        parser, "--threads", args.threads, THREADS, ["all"] if args.quick else THREADS
    )
    if args.rounds < 0:
        parser.error(f"argument --rounds: expected a positive integer, received {args.rounds}.")
    out = Path(args.out)
    _check_writable(parser, out)

    if args.child_threads:  # a child run at pinned threads: rows only, into --child-out
        tf = _import_tf(args.child_threads) if _wants_tf(wanted) else None
        gpu = bool(tf and tf.config.list_physical_devices("GPU"))
        items = plan(args, tf, args.child_threads, dtypes, families, wanted, gpu)
        rows = run_plan(items, int(args.child_threads), [])
        Path(args.child_out).write_text(json.dumps(rows))
        return 0

    started = time.time()
    tf = _import_tf("all") if _wants_tf(wanted) else None
    gpu = bool(tf and tf.config.list_physical_devices("GPU"))
    meta = timing.machine_info()
    date = datetime.date.today().isoformat()
    meta.update(
        _versions(tf),
        date=date,
        argv=sys.argv[1:] if argv is None else list(argv),
        quick=args.quick,
    )
    stem = out / f"{platform.node() or 'machine'}-{date}{'-quick' if args.quick else ''}"
    result = {"meta": meta, "rows": [], "memory": None, "complete": False}

    def save(complete=False):
        """Write the JSON and the table as they stand (a run stopped early keeps what it measured)."""
        meta["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        meta["duration_s"] = time.time() - started
        result["complete"] = complete
        result["targets"] = report.targets(result["rows"], result["memory"])
        Path(f"{stem}.json").write_text(json.dumps(result, indent=1, default=str))
        Path(f"{stem}.md").write_text(report.markdown(result))

    def memory():
        samples = 512 if args.quick else 60000
        backends = ["scratchnet"] + (["keras"] if tf is not None and "keras" in wanted else [])
        result["memory"] = model_cases.measure_memory(backends, 32, samples, 1 if args.quick else 2)
        result["memory"]["_samples"] = samples
        save()

    if "all" in threads_list:
        for i, dtype in enumerate(dtypes):
            items = plan(args, tf, "all", [dtype], families, wanted, gpu)
            run_plan(items, "all", result["rows"], save)
            if i == 0 and "memory" in families:
                memory()
    elif "memory" in families:
        memory()
    if "1" in threads_list:
        result["rows"] += _child_rows(args, families, wanted, dtypes, out)
    save(complete=True)
    written = [f"{stem}.json", f"{stem}.md"]
    if not args.no_plots:
        try:
            written += report.plots(result, str(stem))
        except ImportError:
            print(
                'matplotlib is not installed: no plots (pip install -e ".[plot]").', file=sys.stderr
            )
    print("wrote " + ", ".join(written))
    return 0


def _wants_tf(wanted):
    return any(w.startswith(("tf-", "keras")) for w in wanted)


def _child_rows(args, families, wanted, dtypes, out):
    """The whole plan again in a fresh process with every thread pool pinned to one thread."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        child_out = Path(tmp) / "rows.json"
        cmd = [sys.executable, "-m", "benchmarks", "--child-threads", "1", "--child-out", str(child_out),
               "--only", ",".join(f for f in families if f != "memory") or "conv",
               "--backends", ",".join(wanted), "--dtypes", ",".join(dtypes), "--out", str(out)]  # fmt: skip
        if args.quick:
            cmd.append("--quick")
        if args.rounds:
            cmd += ["--rounds", str(args.rounds)]
        subprocess.run(cmd, env=env, check=True)
        return json.loads(child_out.read_text())
