r"""Running the tasks of a comparison: in this process, in parallel processes, or on a Dask cluster.

Every finished task is written at once to ``<out>/runs/<task key>.json``
atomically (a temporary file in the same folder, ``fsync``, ``os.replace``), with
the settings that produced it. A rerun with the same ``--out`` reuses each
result whose settings match and trains only what is missing, so an interrupted
run loses at most the tasks that were in flight.

Parallel processes (``--jobs N``, N > 1) are spawned (not forked: TensorFlow
does not survive a fork) with ``OMP_NUM_THREADS`` & co. set to the task's
thread count, and report each finished epoch through a queue so one progress
bar can follow them all.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import math
import multiprocessing
import os
import queue
import sys
import tempfile
from pathlib import Path

from tqdm.auto import tqdm

from scratchnet.compare import experiment

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class CompareError(RuntimeError):
    """A problem the user can fix (bad option, no data, no TensorFlow, no scheduler); the message says how."""


# ---------------------------------------------------------------------------- storage


def _finite(value):
    """NaN/Inf → None, recursively (a diverged run's losses; JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json_atomic(path: Path, payload) -> None:
    """Write ``payload`` as JSON to ``path`` (NaN/Inf as null): temp file in the same folder, fsync, ``os.replace``."""
    path = Path(path)
    payload = _finite(payload)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def run_path(out: Path, task: experiment.Task) -> Path:
    return Path(out) / "runs" / f"{task.key}.json"


def load_finished(out: Path, tasks, settings: experiment.Settings) -> dict:
    """``{task key: result}`` of the tasks already finished in ``out`` with the same settings."""
    done = {}
    for task in tasks:
        path = run_path(out, task)
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # absent or unreadable: run it again
        if (
            stored.get("settings") == settings.fingerprint()
            and stored.get("result", {}).get("key") == task.key
        ):
            done[task.key] = stored["result"]
    return done


def _save(out: Path, settings, result: dict) -> None:
    if result.get("error") is None:
        write_json_atomic(
            run_path(out, experiment.Task(**result["task"])),
            {"settings": settings.fingerprint(), "result": result},
        )


# ---------------------------------------------------------------------------- workers

_QUEUE = None


def _init_worker(progress_queue) -> None:
    global _QUEUE
    _QUEUE = progress_queue


def _report_epoch(key: str, epoch: int) -> None:
    if _QUEUE is not None:
        _QUEUE.put((key, epoch))


def _work(task: experiment.Task, settings: experiment.Settings) -> dict:
    """Run one task in a worker; an exception becomes a result with ``error`` set."""
    try:
        return experiment.run_task(task, settings, _report_epoch)
    except Exception as exc:  # noqa: BLE001 - one failed task must not stop the others
        return _failed(task, exc)


def _failed(task, exc) -> dict:
    import dataclasses

    return {
        "key": task.key,
        "task": dataclasses.asdict(task),
        "error": f"{type(exc).__name__}: {exc}",
    }


@contextlib.contextmanager
def _thread_env(threads: int):
    """Set the BLAS thread variables for processes started inside the block; restore them after."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: str(threads) for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------- running


def run(tasks, settings, out: Path, jobs: int = 1, client=None, progress: bool = True):
    """Run ``tasks`` (skipping the finished ones in ``out``); return ``(results in task order, reused)``.

    ``reused``: how many results came from an earlier invocation.

    ``client``: a ``distributed.Client`` (each task one Dask task, gathered as
    they finish); else ``jobs`` processes (1: this process).
    """
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    done = load_finished(out, tasks, settings)
    todo = [t for t in tasks if t.key not in done]
    if done:
        print(
            f"Resuming: {len(done)} of {len(tasks)} runs already finished in {out}, {len(todo)} to go."
        )
    bar = tqdm(
        total=len(todo) * settings.epochs, unit="epoch", desc="compare", disable=not progress or not todo,
        file=sys.stdout, dynamic_ncols=True, mininterval=1.0,
    )  # fmt: skip
    results = dict(done)
    epochs_seen: dict[str, int] = {}

    def advance(key, epoch):
        step = epoch - epochs_seen.get(key, 0)
        epochs_seen[key] = epoch
        bar.update(step)

    def finish(result):
        _save(out, settings, result)
        results[result["key"]] = result
        advance(result["key"], settings.epochs)
        if result.get("error"):
            bar.write(f"FAILED {result['key']}: {result['error']}")
        else:
            acc = result["history"]["test_accuracy"]
            bar.set_postfix_str(f"{result['key']}: {100 * acc[-1]:.2f}%" if acc else result["key"])

    with bar:
        if client is not None:
            _run_dask(todo, settings, client, finish)
        elif jobs <= 1:
            for task in todo:
                try:
                    finish(experiment.run_task(task, settings, advance))
                except Exception as exc:  # noqa: BLE001
                    finish(_failed(task, exc))
        else:
            _run_pool(todo, settings, jobs, finish, advance)
    return [results[t.key] for t in tasks if t.key in results], len(done)


def _run_pool(todo, settings, jobs, finish, advance) -> None:
    ctx = multiprocessing.get_context("spawn")
    progress_queue = ctx.Queue()
    with _thread_env(settings.threads):
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue,)
        )
        with pool:
            pending = {pool.submit(_work, task, settings) for task in todo}
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=0.5)
                _drain(progress_queue, advance)
                for future in finished:
                    finish(future.result())
    _drain(progress_queue, advance)


def _drain(progress_queue, advance) -> None:
    while True:
        try:
            key, epoch = progress_queue.get_nowait()
        except queue.Empty:
            return
        advance(key, epoch)


def connect(address: str, timeout: float = 10.0):
    """A ``distributed.Client`` for the scheduler at ``address``, or a ``CompareError`` at once.

    A plain TCP connection is tried first (3 s), so a refused or unroutable
    address fails in seconds rather than after Dask's connection retries.
    """
    import socket

    try:
        import distributed
        from distributed.comm import parse_address
        from distributed.comm.addressing import parse_host_port
    except ImportError as exc:
        raise CompareError(
            f"--scheduler {address} needs Dask distributed. Install it with "
            'pip install "scratchnet[dask]".'
        ) from exc
    try:
        protocol, location = parse_address(address)
        if protocol in ("tcp", "tls"):
            socket.create_connection(parse_host_port(location), timeout=3).close()
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CompareError(
            f"Cannot reach the Dask scheduler at {address} ({type(exc).__name__}: {exc}). "
            "Check the address (e.g. tcp://host:8786) and that `dask scheduler` runs there."
        ) from exc


def _run_dask(todo, settings, client, finish) -> None:
    import distributed

    futures = [
        client.submit(_work, task, settings, key=f"scratchnet-compare-{task.key}", pure=False)
        for task in todo
    ]
    for future in distributed.as_completed(futures):
        finish(future.result())
