"""The training loop of one run: epochs of compiled steps, metrics and callbacks.

Nothing here touches files, W&B or the terminal; those listen through a
:class:`Callback`. The loop calls the compiled step kernel a few dozen times per
epoch (``chunks_per_epoch``) so a progress display can update in between.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

import optimizers
from kernels.dropout import seed_rng
from network import MLP
from network.backends import make_trainer


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the parameters are those before the bad step."""


class Callback:
    """Hooks of the training loop; override the ones you need."""

    def on_epoch_start(self, epoch, steps):
        pass

    def on_steps(self, epoch, done, steps, running_loss):
        pass

    def on_epoch_end(self, metrics):
        pass


@dataclass
class History:
    """Per-epoch metrics and timings of a run.

    ``restored_epoch`` is the epoch whose parameters the network holds at the end
    when ``restore_best`` is on (else None: the last epoch's); ``stopped_early``
    is True when early stopping ended the run before ``epochs``.
    """

    epochs: list = field(default_factory=list)
    compile_seconds: float = 0.0
    restored_epoch: int | None = None
    stopped_early: bool = False

    @property
    def final_val_accuracy(self):
        """Validation accuracy of the parameters the run ends with."""
        if self.restored_epoch is not None:
            return self.epochs[self.restored_epoch - 1]["val_accuracy"]
        return self.last["val_accuracy"]

    @property
    def best(self):
        return max(self.epochs, key=lambda m: m["val_accuracy"]) if self.epochs else None

    @property
    def last(self):
        return self.epochs[-1] if self.epochs else None

    @property
    def seconds_per_epoch(self):
        times = [m["train_seconds"] for m in self.epochs]
        return float(np.median(times)) if times else float("nan")


def build_network(config, n_features, n_classes):
    return MLP(
        [n_features, *config.layer_widths, n_classes],
        activation=config.activation,
        loss=config.loss,
        weight_init=config.weight_init,
        seed=config.seed,
    )


def train(
    net, config, x_train, y_train, x_val, y_val, callback=None, history=None, chunks_per_epoch=40
):
    """Train ``net`` in place for ``config.epochs`` epochs.

    Parameters
    ----------
    net : network.MLP
    config : experiments.config.RunConfig
        ``epochs``, ``batch_size``, ``optimizer`` and its hyperparameters,
        ``weight_decay``, ``dropout``, ``lr_schedule``, ``early_stopping``,
        ``restore_best``, ``device``, ``seed``.
    x_train, y_train, x_val, y_val : ndarray
        Inputs as float32 rows in the network's dtype, labels as int64.
    callback : Callback, optional
    history : History, optional
        Filled epoch by epoch; pass one in to keep the finished epochs when the
        run ends with ``Diverged`` or ``KeyboardInterrupt``.

    Returns
    -------
    History

    Raises
    ------
    Diverged
        At the first non-finite batch loss. ``KeyboardInterrupt`` passes
        through; either way ``net`` holds the parameters trained so far.
    """
    callback = callback or Callback()
    optimizer = optimizers.get(config.optimizer)
    state = optimizer.init(net.layout.n_params, net.dtype, config)
    device = config.device
    batch = config.batch_size
    n = x_train.shape[0]
    steps = -(-n // batch)
    batch_sizes = np.full(steps, batch, dtype=np.int64)
    batch_sizes[-1] = n - batch * (steps - 1)
    losses = np.empty(steps, dtype=np.float64)
    corrects = np.empty(steps, dtype=np.int64)
    chunk = max(1, -(-steps // chunks_per_epoch))
    rng = np.random.default_rng(config.seed)
    history = history if history is not None else History()

    # Compile (or load from cache) outside the timed epochs: one step on a scratch copy.
    start = time.perf_counter()
    scratch = MLP(net.sizes, net.activation, net.loss_name, net.weight_init, dtype=net.dtype)
    scratch_trainer = make_trainer(
        device,
        scratch,
        optimizer,
        optimizer.init(net.layout.n_params, net.dtype, config),
        x_train[:batch],
        y_train[:batch],
        batch,
    )
    scratch_trainer.train_steps(
        np.arange(min(n, batch), dtype=np.int64), 0, 1, 0.0, losses[:1], corrects[:1]
    )
    if len(x_val):
        scratch_trainer.evaluate(x_val[:1], y_val[:1])
    del scratch_trainer
    history.compile_seconds = time.perf_counter() - start

    trainer = make_trainer(device, net, optimizer, state, x_train, y_train, batch, seed=config.seed)
    epochs = config.epochs
    base_lr = config.learning_rate
    patience = config.early_stopping
    restore_best = config.restore_best
    best, best_epoch, best_params = -1.0, 0, None
    dropout = config.dropout
    seed_rng(config.seed % 2**31)  # dropout masks: reproducible per seed
    try:
        for epoch in range(1, epochs + 1):
            trainer.set_learning_rate(learning_rate(config.lr_schedule, base_lr, epoch, epochs))
            order = rng.permutation(n).astype(np.int64)
            callback.on_epoch_start(epoch, steps)
            start = time.perf_counter()
            for first in range(0, steps, chunk):
                count = min(chunk, steps - first)
                done = trainer.train_steps(
                    order,
                    first,
                    count,
                    config.weight_decay,
                    losses[first:],
                    corrects[first:],
                    dropout,
                )
                end = first + done
                # The kernel stops right after a non-finite loss; that step may also be the
                # last one asked for, so look at the loss rather than at the count.
                if not np.isfinite(losses[end - 1]):
                    raise Diverged(
                        f"loss became {losses[end - 1]} at epoch {epoch}, step {end} of {steps}"
                    )
                seen = batch_sizes[:end]
                callback.on_steps(epoch, end, steps, float(np.dot(losses[:end], seen) / seen.sum()))
            train_seconds = time.perf_counter() - start
            metrics = {
                "epoch": epoch,
                "train_loss": float(np.dot(losses, batch_sizes) / n),
                "train_accuracy": float(corrects.sum() / n),
                "train_seconds": train_seconds,
            }
            if len(x_val):
                metrics["val_loss"], metrics["val_accuracy"] = trainer.evaluate(x_val, y_val)
            else:
                metrics["val_loss"], metrics["val_accuracy"] = float("nan"), float("nan")
            metrics["learning_rate"] = state.hyper.learning_rate
            history.epochs.append(metrics)
            if metrics["val_accuracy"] > best:
                best, best_epoch = metrics["val_accuracy"], epoch
                if restore_best:
                    best_params = trainer.snapshot()
            callback.on_epoch_end(metrics)
            if patience and len(x_val) and epoch - best_epoch >= patience and epoch < epochs:
                history.stopped_early = True
                break
    finally:
        # Whatever ended the run (last epoch, early stop, Ctrl-C, divergence), the network
        # gets the parameters trained so far, or the best epoch's with restore_best.
        if best_params is not None:
            trainer.restore(best_params)
            history.restored_epoch = best_epoch
        trainer.download()
    return history


SCHEDULES = ("constant", "cosine")


def learning_rate(schedule, base, epoch, epochs):
    """The learning rate of ``epoch`` (1-based) under ``schedule``.

    ``constant``: ``base`` throughout.
    ``cosine``: ``base * (1 + cos(pi * (epoch-1) / epochs)) / 2``,
    from ``base`` in the first epoch down towards 0 in the last (Loshchilov & Hutter's SGDR
    without restarts, stepped once per epoch).
    """
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))
    raise ValueError(f"unknown lr_schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
