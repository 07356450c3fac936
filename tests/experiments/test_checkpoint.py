"""experiments.checkpoint: per-epoch checkpoints, and training that goes on from one
exactly as if it had never stopped."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.checkpoint import Checkpoint, CheckpointError, CheckpointFile
from experiments.config import RunConfig
from experiments.seeds import derived_seed
from experiments.training import Callback, History, train
from network import MLP
from tests.conftest import HYPER


def _checkpoint(rng, best_params=True):
    return Checkpoint(
        epoch=3,
        params=rng.normal(size=7).astype(np.float32),
        slots=rng.normal(size=(2, 7)).astype(np.float32),
        scalars=np.array([3.0, 0.5]),
        shuffle_state=np.random.default_rng(5).bit_generator.state,
        history=[
            {"epoch": 1, "val_loss": float("nan"), "train_loss": 0.1 + 0.2},
            {"epoch": 2},
            {"epoch": 3},
        ],
        best_epoch=2,
        best_accuracy=0.875,
        best_params=rng.normal(size=7).astype(np.float32) if best_params else None,
    )


@pytest.mark.parametrize("best_params", [True, False])
def test_a_checkpoint_reads_back_exactly(tmp_path, rng, best_params):
    saved = _checkpoint(rng, best_params)
    store = CheckpointFile(tmp_path)
    assert store.load() is None and store.last_epoch() == 0
    store.save(saved)
    loaded = store.load()
    assert store.last_epoch() == 3
    for name in ("params", "slots", "scalars"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(saved, name))
        assert getattr(loaded, name).dtype == getattr(saved, name).dtype
    assert loaded.shuffle_state == saved.shuffle_state
    assert loaded.history[0]["train_loss"] == 0.1 + 0.2  # every bit of a float
    assert np.isnan(loaded.history[0]["val_loss"])
    assert (loaded.best_epoch, loaded.best_accuracy) == (2, 0.875)
    if best_params:
        np.testing.assert_array_equal(loaded.best_params, saved.best_params)
    else:
        assert loaded.best_params is None


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, rng, monkeypatch):
    store = CheckpointFile(tmp_path)
    first = _checkpoint(rng)
    store.save(first)

    def full_disk(handle, **arrays):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError):
        store.save(_checkpoint(rng))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]
    np.testing.assert_array_equal(store.load().params, first.params)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 truncated", b"not a zip"])
def test_a_damaged_checkpoint_is_one_line_that_says_what_to_do(tmp_path, damage):
    (tmp_path / "checkpoint.npz").write_bytes(damage)
    store = CheckpointFile(tmp_path)
    for read in (store.load, store.last_epoch):
        with pytest.raises(CheckpointError, match="is damaged .*delete it to restart") as err:
            read()
        assert "\n" not in str(err.value)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), epoch=st.integers(1, 10_000))
def test_derived_seeds_are_31_bit_and_differ_between_epochs_and_seeds(seed, epoch):
    value = derived_seed(seed, epoch)
    assert 0 <= value < 2**31
    assert value != derived_seed(seed, epoch + 1)
    assert value != derived_seed(seed + 1, epoch)


# ------------------------------------------------------------------ resuming a run
class _StopMidEpoch(Callback):
    """Interrupts the run halfway through ``epoch`` (as Ctrl-C or SIGTERM would)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_steps(self, epoch, done, steps, running_loss):
        if epoch == self.epoch and done >= steps // 2:
            raise KeyboardInterrupt


def _data(rng, n=240):
    """Hard enough (noisy labels) that validation accuracy goes up and down."""
    centers = rng.normal(0, 1, size=(4, 9))  # 3x3 images, for the distortions
    y = rng.integers(0, 4, n)
    x = (centers[y] + rng.normal(size=(n, 9))).astype(np.float32)
    y[: n // 4] = rng.integers(0, 4, n // 4)
    return x[:180], y[:180].astype(np.int64), x[180:], y[180:].astype(np.int64)


RESUMABLE = [
    dict(optimizer="nadam", dropout=0.3, lr_schedule="cosine"),
    dict(optimizer="momentum", restore_best=True, early_stopping=3),
    dict(optimizer="rmsprop", restore_best=True, dropout=0.1),
    dict(optimizer="adam", ema=0.9, max_norm=1.0, augment="affine", aug_flip=True),
    dict(optimizer="nag", ema=0.8, restore_best=True, augment="affine", dropout=0.2),
]


@pytest.mark.parametrize("changes", RESUMABLE, ids=lambda c: c["optimizer"])
@pytest.mark.parametrize("stop_epoch", [1, 4])
def test_a_run_resumed_from_its_checkpoint_ends_bit_identical(tmp_path, rng, changes, stop_epoch):
    x, y, x_val, y_val = _data(rng)
    config = RunConfig(
        **{**HYPER, "learning_rate": 0.01},
        epochs=7,
        batch_size=8,
        weight_decay=1e-4,
        seed=3,
        **{k: v for k, v in changes.items()},
    )

    def network():
        return MLP([9, 16, 12, 4], activation="tanh", weight_init="Xavier", seed=3)

    whole = network()
    expected = train(whole, config, x, y, x_val, y_val)

    stopped, store = network(), CheckpointFile(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(stopped, config, x, y, x_val, y_val, _StopMidEpoch(stop_epoch), checkpoints=store)
    assert store.last_epoch() == stop_epoch - 1
    resumed = network()  # a fresh process would build it from the seed again
    history = History()
    train(resumed, config, x, y, x_val, y_val, history=history, checkpoints=store)

    np.testing.assert_array_equal(resumed.params, whole.params)

    def strip(epochs):
        return json.dumps([{k: v for k, v in m.items() if k != "train_seconds"} for m in epochs])

    assert strip(history.epochs) == strip(expected.epochs)
    assert (history.restored_epoch, history.stopped_early) == (
        expected.restored_epoch,
        expected.stopped_early,
    )


def _saved_meta(tmp_path, rng, **changes):
    """A valid checkpoint (the one in ``tmp_path``, else a new one) whose metadata is then
    rewritten with ``changes`` (``meta``: the whole of it)."""
    store = CheckpointFile(tmp_path)
    if not store.path.exists():
        store.save(_checkpoint(rng))
    with np.load(store.path) as data:
        arrays = dict(data)
    meta = json.loads(str(arrays.pop("meta")))
    meta = changes.pop("meta", {**meta, **changes})
    np.savez(store.path, meta=np.array(json.dumps(meta)), **arrays)
    return store


@pytest.mark.parametrize(
    "changes, what",
    [
        ({"meta": [1, 2]}, "not a mapping"),
        ({"meta": None}, "not a mapping"),
        ({"epoch": -1}, "is not a whole number >= 1"),
        ({"epoch": "abc"}, "is not a whole number >= 1"),
        ({"epoch": None}, "is not a whole number >= 1"),
        ({"epoch": 7}, "does not hold the 7 epochs"),
        ({"history": {"epoch": 1}}, "does not hold the 3 epochs"),
        ({"best_epoch": 9}, "best_epoch 9 is not in 0..3"),
        ({"best_accuracy": "high"}, "is not a number"),
        ({"shuffle_state": "x"}, "shuffler state is not a mapping"),
    ],
)
def test_hand_edited_checkpoint_metadata_is_one_line_that_says_what_to_do(
    tmp_path, rng, changes, what
):
    """Wrong types, a negative epoch, a history that does not fit: each was a traceback or
    a resume at a nonsensical epoch."""
    store = _saved_meta(tmp_path, rng, **changes)
    for read in (store.load, store.last_epoch):
        with pytest.raises(CheckpointError, match="is damaged .*delete it to restart") as err:
            read()
        assert what in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_past_the_runs_epochs_or_with_a_broken_shuffler_is_refused(tmp_path, rng):
    """A checkpoint after epoch 3 in a run of 2 epochs reported the run "finished" early; a
    shuffler state of the wrong shape was a traceback."""
    x, y, x_val, y_val = _data(rng)
    config = RunConfig(**HYPER, optimizer="adam", epochs=3, batch_size=8, seed=0)
    store = CheckpointFile(tmp_path)
    train(MLP([9, 5, 4], seed=0), config, x, y, x_val, y_val, checkpoints=store)
    with pytest.raises(CheckpointError, match="after epoch 3, and this run has 2 epochs"):
        train(
            MLP([9, 5, 4], seed=0), config.replace(epochs=2), x, y, x_val, y_val, checkpoints=store
        )
    _saved_meta(tmp_path, rng, shuffle_state={"state": 5})
    with pytest.raises(CheckpointError, match="shuffler state cannot be restored"):
        train(
            MLP([9, 5, 4], seed=0), config.replace(epochs=5), x, y, x_val, y_val, checkpoints=store
        )


def test_a_checkpoint_of_another_network_is_refused(tmp_path, rng):
    x, y, x_val, y_val = _data(rng)
    config = RunConfig(**HYPER, optimizer="adam", epochs=1, batch_size=8, seed=0)
    store = CheckpointFile(tmp_path)
    train(MLP([9, 5, 4], seed=0), config, x, y, x_val, y_val, checkpoints=store)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        train(MLP([9, 9, 4], seed=0), config, x, y, x_val, y_val, checkpoints=store)
    with pytest.raises(CheckpointError, match="belongs to another run"):
        train(
            MLP([9, 5, 4], seed=0), config.replace(ema=0.9), x, y, x_val, y_val, checkpoints=store
        )
