r"""How many BLAS threads ``fit``, ``evaluate`` and ``predict`` use: all of BLAS's threads, or one, by measurement.

**Why.** OpenBLAS cuts each matrix product into equal parts, one per thread,
and returns when the last part is done. When another process keeps one of the
two cores busy, the thread that shares that core gets half of it, and every
product waits for that thread. Measured on the 2-core machine (float32, the
deeper CNN of ``benchmarks/``, ``fit`` at batch 128, ms per step):

================  ==========  ==========
                  2 threads   1 thread
================  ==========  ==========
idle machine      49–51       55–61
one core busy     122–144     67–69
================  ==========  ==========

So one thread is about twice as fast while another process spins, and the
second thread is worth 8–40 % when none does (8 % for the classic CNN at
batch 32, 37 % for the deeper one at batch 128, in steps alternating between
the two settings). Which setting wins depends on what else the machine runs,
and that changes while a model trains, so it is measured, not guessed from
the load average.

**The rule** (``Choice``, a small state machine over measured step times).
Each loop (the batches of ``fit``, ``evaluate`` or ``predict``) keeps one
record per (loop, batch size, BLAS's own thread count T):

1. *probe*: ``probe_pairs`` pairs of steps, each a step with T threads
   followed by a step with one thread, and the ratio of the two times. The
   steps of a pair are neighbours, so a machine whose speed drifts from
   second to second (a shared VM's does, by tens of percent) slows both alike:
   the ratios are clean where the times of two blocks of steps, taken a
   second apart, were not (blocks of 5 steps chose one thread on the idle
   machine, 23 % slower, in one of the runs that tested this rule);
2. *hold* one thread if the median ratio is below 1, else T, for
   ``hold_seconds`` after the first comparison; each later comparison that
   keeps the same winner doubles the hold, up to ``max_hold_seconds``, and
   one that changes it starts again from ``hold_seconds`` (a steady machine
   is probed rarely, a changing one often);
3. when the hold ends, or earlier when the held setting's median over its
   latest ``probe_pairs`` steps exceeds ``jump`` times its median over the
   first ``probe_pairs`` steps of the hold (another process has started,
   say), probe again: back to 1.

The loop's first step is not counted (it pays for the loop's set-up), nor is
a batch of another size (an epoch's last, smaller batch). On an idle machine
the cost is ``probe_pairs`` steps at one thread every ``max_hold_seconds``
once the choice has settled, and at most that many every ``hold_seconds``
before. The record outlives the loop, so the next ``fit`` call on the same
model starts with the setting that won.

**Numbers do not change.** OpenBLAS splits a product by rows and columns of
the result, never along the summed index, so each number is the same sum in
the same order on one thread or two: ``fit`` gives the same bits whichever
setting runs (``tests/test_threads.py`` holds a small CNN trained while
switching every step or two to one trained with the choice off; the deeper
CNN of ``benchmarks/`` trained on one thread and on two gave the same bits at
batch 32 and 128).

**Control.** ``config.set_adaptive_threads(False)`` switches the choice off
(BLAS's setting then stands, as it always does when BLAS has one thread:
``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``, threadpoolctl limits).
BLAS's thread count is put back when the loop ends, also on an exception.
The count is set through threadpoolctl, which finds the BLAS NumPy loaded.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections import deque

from scratchnet import config


class Choice:
    r"""The state machine of the module docstring for one (loop, batch size, T).

    ``options`` is (T, 1): BLAS's own count first. ``observe(seconds, now)``
    takes one counted step's time and returns the thread count the next step
    should run with.
    """

    def __init__(
        self,
        threads: int,
        probe_pairs: int = 5,
        hold_seconds: float = 4.0,
        max_hold_seconds: float = 32.0,
        jump: float = 1.3,
    ):
        self.options = (threads, 1)
        self.probe_pairs, self.jump = probe_pairs, jump
        self.hold_seconds, self.max_hold_seconds = hold_seconds, max_hold_seconds
        self.current = threads  # the setting the steps now run with
        self.held = None  # the winner of the latest comparison; None before the first
        self.hold = hold_seconds  # how long the latest winner is held
        self.hold_until = 0.0
        self.probing = True
        self.ratios = []  # one-thread time / T-thread time, one per pair of this probe
        self.first = None  # the T-thread time of the pair under way
        self.baseline = None  # the held setting's median over the first steps of its hold
        self.recent = deque(maxlen=probe_pairs)  # the held setting's latest step times
        self.skip = 1  # steps not to count: a loop's first

    def observe(self, seconds: float, now: float) -> int:
        if self.skip:
            self.skip -= 1
            return self.current
        if self.probing:
            return self._probe(seconds, now)
        self.recent.append(seconds)  # 3. holding: watch for a slowdown
        if len(self.recent) < self.probe_pairs:
            return self.current
        if self.baseline is None:
            self.baseline = statistics.median(self.recent)
            return self.current
        slowed = statistics.median(self.recent) > self.jump * self.baseline
        if slowed:
            self.hold = self.hold_seconds
        if slowed or now >= self.hold_until:
            self.probing, self.ratios, self.first = True, [], None
            self.current = self.options[0]  # back to 1: a pair starts with T threads
        return self.current

    def _probe(self, seconds, now):
        if self.current == self.options[0]:  # 1. the pair's first step, on T threads
            self.first = seconds
            self.current = 1
            return self.current
        if self.first is not None:  # the pair's second step, on one thread
            self.ratios.append(seconds / self.first)
        self.first = None
        if len(self.ratios) < self.probe_pairs:
            self.current = self.options[0]
            return self.current
        winner = 1 if statistics.median(self.ratios) < 1 else self.options[0]  # 2. hold
        same = winner == self.held
        self.hold = min(2 * self.hold, self.max_hold_seconds) if same else self.hold_seconds
        self.held, self.hold_until = winner, now + self.hold
        self.probing, self.baseline = False, None
        self.recent.clear()
        self.current = winner
        return self.current

    def resume(self) -> int:
        """The setting a new loop starts with; its first step is not counted.

        A probe cut short by the end of the previous loop starts its pair again.
        """
        self.skip = 1
        if self.probing:
            self.first = None
            self.current = self.options[0]
        return self.current


class OpenBLASThreads:
    """BLAS's thread count, read and set through threadpoolctl (the BLAS libraries NumPy loaded)."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self._blas = ThreadpoolController().select(user_api="blas")

    def get(self) -> int:
        counts = [lib.num_threads for lib in self._blas.lib_controllers]
        return max(counts) if counts else 1

    def set(self, threads: int) -> None:
        self._blas.limit(limits=threads)


_SHARED = {}  # the process's OpenBLASThreads, made on first use (finding BLAS takes ~1.5 ms)


def _process_blas():
    if "blas" not in _SHARED:
        _SHARED["blas"] = OpenBLASThreads()
    return _SHARED["blas"]


class _Idle:
    """The loop handle when nothing is chosen: ``tick`` does nothing."""

    def tick(self, n_samples: int) -> None:
        pass


class _Loop:
    """One loop's handle: ``tick(n)`` after each step of n samples."""

    def __init__(self, choice: Choice, blas, batch_size: int, clock):
        self.choice, self.blas, self.batch_size, self.clock = choice, blas, batch_size, clock
        self.threads = choice.resume()
        self.blas.set(self.threads)
        self.last = clock()

    def tick(self, n_samples: int) -> None:
        now = self.clock()
        seconds, self.last = now - self.last, now
        if n_samples != self.batch_size:  # only whole batches are compared
            return
        threads = self.choice.observe(seconds, now)
        if threads != self.threads:
            self.blas.set(threads)
            self.threads = threads
            self.last = self.clock()  # the switch itself is not part of the next step


class ThreadChooser:
    """A model's records of which BLAS thread count runs its loops faster (module docstring).

    ``with chooser.loop("fit", batch_size) as loop:`` then ``loop.tick(n)``
    after each step. ``blas`` reads and sets the count (when None, one
    ``OpenBLASThreads`` shared by the process, made on first use), ``clock`` gives seconds, and ``rule``
    passes ``Choice``'s keyword arguments (``probe_pairs``, ``hold_seconds``, ...).
    """

    def __init__(self, blas=None, clock=time.perf_counter, **rule):
        self.rule = rule  # Choice's keyword arguments: probe_pairs, hold_seconds, ...
        self._blas, self.clock = blas, clock
        self.records: dict[tuple, Choice] = {}

    @contextlib.contextmanager
    def loop(self, name: str, batch_size: int):
        if not config.adaptive_threads():
            yield _Idle()
            return
        blas = self._blas if self._blas is not None else _process_blas()
        threads = blas.get()
        if threads <= 1:  # nothing to choose: BLAS's (or the user's) one thread stands
            yield _Idle()
            return
        key = (name, batch_size, threads)
        if key not in self.records:
            self.records[key] = Choice(threads, **self.rule)
        try:
            yield _Loop(self.records[key], blas, batch_size, self.clock)
        finally:
            blas.set(threads)
