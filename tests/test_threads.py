"""threads.py: the choice between BLAS's own thread count and one thread, by measured step time.

The state machine runs on a scripted clock (no wall-clock assertion); the
model tests use a fake BLAS that records what it was asked, and one real run
checks that switching threads changes no bit of a trained model.
"""

import numpy as np
import pytest

from scratchnet import config, layers, threads
from scratchnet.callbacks import Callback
from scratchnet.models import Sequential


class FakeBLAS:
    """BLAS's thread count as a number, with every set recorded."""

    def __init__(self, threads=2):
        self.threads, self.history = threads, []

    def get(self):
        return self.threads

    def set(self, n):
        self.threads = n
        self.history.append(n)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_steps(chooser, blas, clock, step_time, n_steps, batch=8, name="fit"):
    """Run ``n_steps`` steps whose duration is ``step_time(threads, step)``; return the threads of each."""
    used = []
    with chooser.loop(name, batch) as loop:
        for step in range(n_steps):
            used.append(blas.threads)
            clock.now += step_time(blas.threads, step)
            loop.tick(batch)
    return used


@pytest.fixture
def adaptive():
    before = config.adaptive_threads()
    config.set_adaptive_threads(True)
    yield
    config.set_adaptive_threads(before)


def test_idle_machine_keeps_blas_threads(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=3, hold_seconds=1.0)
    used = run_steps(chooser, blas, clock, lambda t, s: 0.010 if t == 2 else 0.013, 400)
    # the uncounted first step, three pairs (two threads, then one), then two threads hold
    assert used[:7] == [2, 2, 1, 2, 1, 2, 1]
    assert used[7:100] == [2] * 93  # 1 s hold, then the first 3 steps are its baseline ...
    assert used.count(1) <= 3 * 4  # one thread only in the probes: 1, 2, 4 s holds in 4 s
    assert blas.threads == 2  # put back after the loop


def test_busy_core_picks_one_thread(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=3, hold_seconds=1.0)
    used = run_steps(chooser, blas, clock, lambda t, s: 0.120 if t == 2 else 0.070, 200)
    assert used[7:20] == [1] * 13
    assert used[7:].count(2) <= 3 * 4  # the probes' two-thread steps only
    assert blas.threads == 2


def test_a_drifting_machine_does_not_fool_the_pairs(adaptive):
    """The machine gets faster step by step (step times halve every 5 steps) while two threads are
    30 % faster: a block of 5 one-thread steps after a block of 5 two-thread steps would look 2x
    faster; each pair's ratio is 1.3 / 2^0.2 = 1.13 > 1."""
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=5, hold_seconds=100.0)

    def step_time(t, step):
        return (0.010 if t == 2 else 0.013) * 2.0 ** (-step / 5)

    used = run_steps(chooser, blas, clock, step_time, 40)
    assert used[11:] == [2] * 29  # after 5 pairs: two threads


def test_hold_doubles_while_the_winner_stays_and_resets_on_a_change(adaptive):
    choice = threads.Choice(2, probe_pairs=2, hold_seconds=1.0, max_hold_seconds=4.0)
    now, holds = 0.0, []
    for _ in range(200):
        now += 0.1
        choice.observe(0.1 if choice.current == 2 else 0.2, now)
        if not choice.probing and (not holds or holds[-1] != (choice.hold, choice.hold_until)):
            holds.append((choice.hold, choice.hold_until))
    assert [h for h, _ in holds[:4]] == [1.0, 2.0, 4.0, 4.0]  # doubled, capped at max_hold_seconds
    # one thread becomes the faster: the next comparison changes the winner, hold back to 1 s
    changed = None
    for _ in range(100):
        now += 0.1
        choice.observe(0.3 if choice.current == 2 else 0.2, now)
        if changed is None and choice.held == 1:
            changed = choice.hold
    assert changed == 1.0 and choice.held == 1


def test_a_slower_held_setting_reopens_the_comparison_at_once(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(
        blas=blas, clock=clock, probe_pairs=3, hold_seconds=100.0, max_hold_seconds=100.0
    )

    def step_time(t, step):  # another process starts at step 30: two threads get slow
        if step < 30:
            return 0.010 if t == 2 else 0.013
        return 0.030 if t == 2 else 0.013

    used = run_steps(chooser, blas, clock, step_time, 60)
    assert used[7:30] == [2] * 23  # held (the hold alone would last 100 s)
    assert used[-10:] == [1] * 10  # the slowdown re-opened the comparison long before that


def test_only_whole_batches_count_and_each_batch_size_has_its_record(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=2)
    with chooser.loop("fit", 8) as loop:
        for _ in range(20):
            clock.now += 1.0
            loop.tick(5)  # a smaller batch: never counted, never a switch
    assert blas.history == [2, 2]  # the loop's start and its end
    run_steps(chooser, blas, clock, lambda t, s: 0.01, 10, batch=8)
    run_steps(chooser, blas, clock, lambda t, s: 0.01, 10, batch=16, name="predict")
    assert set(chooser.records) == {("fit", 8, 2), ("predict", 16, 2)}


def test_the_record_outlives_the_loop(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=3, hold_seconds=10.0)
    run_steps(chooser, blas, clock, lambda t, s: 0.120 if t == 2 else 0.070, 20)
    used = run_steps(chooser, blas, clock, lambda t, s: 0.120 if t == 2 else 0.070, 20)
    assert used == [1] * 20  # the next loop starts with the winner


def test_a_probe_cut_short_by_the_loop_end_starts_its_pair_again(adaptive):
    blas, clock = FakeBLAS(2), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=3)
    run_steps(chooser, blas, clock, lambda t, s: 0.01, 4)  # skip, pair 1, then a lone 2-thread step
    used = run_steps(chooser, blas, clock, lambda t, s: 0.01, 6)
    assert used == [2, 2, 1, 2, 1, 2]  # uncounted first step, then whole pairs
    (choice,) = chooser.records.values()
    # one pair from the first loop (its lone last step dropped), two from this one: decided
    assert len(choice.ratios) == 3 and not choice.probing and choice.held == 2


def test_one_blas_thread_or_switched_off_changes_nothing(adaptive):
    blas, clock = FakeBLAS(1), Clock()
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=2)
    run_steps(chooser, blas, clock, lambda t, s: 0.01, 50)
    assert blas.history == [] and chooser.records == {}
    blas = FakeBLAS(2)
    chooser = threads.ThreadChooser(blas=blas, clock=clock, probe_pairs=2)
    config.set_adaptive_threads(False)
    run_steps(chooser, blas, clock, lambda t, s: 0.120 if t == 2 else 0.070, 50)
    assert blas.history == []


def test_set_adaptive_threads_rejects_a_non_boolean():
    with pytest.raises(
        ValueError, match=r"argument value\. Expected True or False\. Received value='yes'"
    ):
        config.set_adaptive_threads("yes")


def small_model(seed=0):
    model = Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ],
        seed=seed,
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def small_data(n=64):
    rng = np.random.default_rng(1)
    x = rng.random((n, 8, 8, 1), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


def test_fit_evaluate_and_predict_switch_and_put_blas_back(adaptive):
    blas = FakeBLAS(2)
    model = small_model()
    model._threads = threads.ThreadChooser(blas=blas, probe_pairs=1, hold_seconds=0.0)
    x, y = small_data()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert 1 in blas.history and blas.threads == 2
    blas.history.clear()
    model.predict(x, batch_size=4, verbose=0)
    assert 1 in blas.history and blas.threads == 2
    blas.history.clear()
    model.evaluate(x, y, batch_size=4, verbose=0)
    assert 1 in blas.history and blas.threads == 2
    assert set(model._threads.records) == {("fit", 4, 2), ("predict", 4, 2), ("evaluate", 4, 2)}


def test_blas_is_put_back_when_fit_raises(adaptive):
    blas = FakeBLAS(2)
    model = small_model()
    model._threads = threads.ThreadChooser(blas=blas, probe_pairs=1, hold_seconds=0.0)
    x, y = small_data()

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 10:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Interrupt()])
    assert 1 in blas.history and blas.threads == 2


def test_switching_threads_changes_no_bit(adaptive):
    """The real BLAS: one model trained while switching every step or two, one with the choice off."""
    x, y = small_data(256)
    weights = []
    for on in (True, False):
        config.set_adaptive_threads(on)
        model = small_model(seed=3)
        model._threads = threads.ThreadChooser(probe_pairs=1, hold_seconds=0.0)
        model.fit(x, y, batch_size=16, epochs=2, verbose=0, seed=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)
