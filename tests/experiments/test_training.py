"""experiments.training: the device-neutral training loop, its schedule and its callbacks."""

import os
import signal
import time

import numpy as np
import pytest

from experiments import interrupts
from experiments.config import RunConfig
from network import MLP
from tests.conftest import HYPER


def test_training_loop_catches_a_nan_in_the_last_step_of_a_chunk(rng):
    """Regression: with one step per chunk, a NaN step is also the last step asked for."""
    from experiments.training import Diverged, train

    net = MLP([3, 4, 2], activation="identity", seed=0)
    x, y = rng.normal(size=(10, 3)).astype(np.float32), rng.integers(0, 2, 10)
    x[9] = np.nan
    config = RunConfig(**HYPER, optimizer="sgd", epochs=1, batch_size=1, weight_decay=0.0, seed=0)
    with pytest.raises(Diverged, match="loss became nan"):
        train(net, config, x, y, x[:2], y[:2], chunks_per_epoch=100)


def _blobs(rng, n=200):
    centers = rng.normal(0, 2, size=(3, 4))
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(size=(n, 4))).astype(np.float32), y.astype(np.int64)


def test_cosine_schedule_values():
    from experiments.schedule import learning_rate

    assert learning_rate("constant", 0.1, 5, 10) == 0.1
    assert learning_rate("cosine", 0.1, 1, 10) == pytest.approx(0.1)
    assert learning_rate("cosine", 0.1, 6, 10) == pytest.approx(0.05)
    assert learning_rate("cosine", 0.1, 10, 10) == pytest.approx(
        0.1 * (1 + np.cos(0.9 * np.pi)) / 2
    )
    with pytest.raises(ValueError, match="choose from constant, cosine"):
        learning_rate("step", 0.1, 1, 10)


def test_schedule_reaches_the_optimizer_each_epoch(rng):
    from experiments.training import train

    x, y = _blobs(rng)
    net = MLP([4, 8, 3], seed=0)
    config = RunConfig(
        **{**HYPER, "learning_rate": 0.2},
        optimizer="sgd",
        epochs=4,
        batch_size=16,
        weight_decay=0.0,
        seed=0,
        lr_schedule="cosine",
    )
    history = train(net, config, x[:150], y[:150], x[150:], y[150:])
    lrs = [m["learning_rate"] for m in history.epochs]
    np.testing.assert_allclose(lrs, [0.2 * (1 + np.cos(np.pi * e / 4)) / 2 for e in range(4)])


def test_restore_best_and_early_stopping(rng, monkeypatch):
    """The run ends with the best epoch's parameters, and stops after `patience` epochs
    without improvement; checked against a scripted sequence of validation accuracies."""
    from experiments import training
    from network.cpu_trainer import CpuTrainer

    scripted = iter([0.0, 0.5, 0.8, 0.7, 0.6, 0.9, 0.95])  # 0.0: the compile warm-up's call
    snapshots = {}

    def evaluate(self, x, labels):
        accuracy = next(scripted)
        snapshots[accuracy] = self.net.params.copy()
        return 1.0, accuracy

    monkeypatch.setattr(CpuTrainer, "evaluate", evaluate)
    monkeypatch.setattr(training, "_COMPILED_ON_CPU", set())  # so the warm-up call happens
    x, y = _blobs(rng)
    net = MLP([4, 8, 3], seed=0)
    config = RunConfig(
        **HYPER,
        optimizer="adam",
        epochs=6,
        batch_size=16,
        weight_decay=0.0,
        seed=0,
        early_stopping=2,
        restore_best=True,
    )
    history = training.train(net, config, x[:150], y[:150], x[150:], y[150:])
    assert len(history.epochs) == 4 and history.stopped_early
    assert history.restored_epoch == 2 and history.final_val_accuracy == 0.8
    np.testing.assert_array_equal(net.params, snapshots[0.8])


def test_a_loss_that_explodes_without_becoming_nan_stops_the_run(rng):
    """nadam at lr 1e6 used to "finish" at chance with a loss near 5e5 and no advice."""
    from experiments.training import Diverged, train

    x, y = _blobs(rng)
    net = MLP([4, 32, 3], activation="ReLU", seed=0)
    config = RunConfig(
        **{**HYPER, "learning_rate": 1e6}, optimizer="nadam", epochs=5, batch_size=16, seed=0
    )
    with pytest.raises(Diverged, match="1000 times a uniform guess"):
        train(net, config, x[:150], y[:150], x[150:], y[150:])


def test_a_healthy_run_stays_far_below_the_divergence_limit(rng):
    from experiments.training import Callback, loss_limit, train

    class Running(Callback):
        losses = []

        def on_steps(self, epoch, done, steps, running_loss):
            self.losses.append(running_loss)

    x, y = _blobs(rng)
    net = MLP([4, 32, 3], activation="ReLU", weight_init="random", seed=0)
    config = RunConfig(**{**HYPER, "learning_rate": 0.5}, optimizer="sgd", epochs=5, batch_size=4)
    train(net, config, x[:150], y[:150], x[150:], y[150:], callback=Running())
    assert max(Running.losses) < loss_limit(net) / 100


def test_a_stop_during_compilation_is_held_until_it_ends_then_raised():
    """Numba drops exceptions raised in its ctypes callbacks: a signal during compilation
    is remembered and raised once the block is over."""
    before = signal.getsignal(signal.SIGTERM)
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here and must not raise
            finished.append(True)
    assert finished == [True]
    assert signal.getsignal(signal.SIGTERM) == before


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _swallowed_stop():
    """A SIGTERM whose KeyboardInterrupt is cleared, as Numba's dispatcher clears one that
    lands while it types a compiled-function argument."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass


def test_a_swallowed_stop_is_raised_again_at_the_next_check():
    before = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with interrupts.watched() as watch:
            watch.check()  # nothing yet
            _swallowed_stop()
            with pytest.raises(KeyboardInterrupt):
                watch.check()
        assert signal.getsignal(signal.SIGTERM) is _raise_interrupt
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_stop_swallowed_inside_an_epoch_still_ends_training(rng):
    """Regression: 3 SIGTERMs in 25 sent to train.py were lost and the run trained on."""
    from experiments.training import Callback, train

    class SwallowOnce(Callback):
        calls = 0

        def on_steps(self, epoch, done, steps, running_loss):
            SwallowOnce.calls += 1
            if SwallowOnce.calls == 1:
                _swallowed_stop()

    x, y = _blobs(rng)
    config = RunConfig(**HYPER, optimizer="sgd", epochs=50, batch_size=10, weight_decay=0.0)
    net = MLP([4, 8, 3], seed=0)
    before = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            train(net, config, x[:150], y[:150], x[150:], y[150:], callback=SwallowOnce())
    finally:
        signal.signal(signal.SIGTERM, before)
    assert SwallowOnce.calls <= 2  # the next chunk's check stopped it
