"""The training loop of one run: epochs of compiled steps, metrics and callbacks.

Nothing here touches files, W&B or the terminal; those listen through a
:class:`Callback`. The loop calls the compiled step kernel a few dozen times per
epoch (``chunks_per_epoch``) so a progress display can update in between.

Over 400 lines because one run's state lives here together: the steps of an epoch, the
best epoch, the divergence limit, the compile warm-up, and what a checkpoint saves and
restores of it.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

import optimizers
from kernels.augment import OFF, Augment
from kernels.steps import loop_variant
from network import MLP
from network.backends import make_trainer
from network.trainer import StepSettings

from . import interrupts
from .checkpoint import Checkpoint, CheckpointError
from .schedule import learning_rate
from .seeds import derived_seed
from .threads import blas_threads, threads_for, update_threads


class Diverged(RuntimeError):
    """The loss became NaN or infinite; the parameters are those before the bad step."""


class Callback:
    """Hooks of the training loop; override the ones you need."""

    def on_compile_start(self):
        """The kernels are about to compile (or load from Numba's cache): seconds on a
        machine's first run, less later."""

    def on_compile_end(self, seconds):
        pass

    def on_epoch_start(self, epoch, steps):
        pass

    def on_steps(self, epoch, done, steps, running_loss):
        pass

    def on_epoch_end(self, metrics):
        pass


class Callbacks(Callback):
    """Several callbacks as one: each hook calls them in order."""

    def __init__(self, *callbacks):
        self.callbacks = callbacks

    def on_compile_start(self):
        for c in self.callbacks:
            c.on_compile_start()

    def on_compile_end(self, seconds):
        for c in self.callbacks:
            c.on_compile_end(seconds)

    def on_epoch_start(self, epoch, steps):
        for c in self.callbacks:
            c.on_epoch_start(epoch, steps)

    def on_steps(self, epoch, done, steps, running_loss):
        for c in self.callbacks:
            c.on_steps(epoch, done, steps, running_loss)

    def on_epoch_end(self, metrics):
        for c in self.callbacks:
            c.on_epoch_end(metrics)


@dataclass
class History:
    """Per-epoch metrics and timings of a run.

    ``blas_threads`` is the BLAS thread count the run used and ``update_threads`` the
    threads that shared each layer's optimizer update on the CPU (:mod:`experiments.threads`);
    ``restored_epoch`` is the epoch whose parameters the network holds at the end
    when ``restore_best`` is on (else None: the last epoch's); ``stopped_early``
    is True when early stopping ended the run before ``epochs``.
    """

    epochs: list = field(default_factory=list)
    compile_seconds: float = 0.0
    blas_threads: int = 1
    update_threads: int = 1
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


class EpochSteps:
    """The steps of an epoch: its batches, their losses and correct counts, run in chunks.

    Parameters
    ----------
    n : int
        Training samples.
    batch : int
        Mini-batch size; the last batch of an epoch may be shorter.
    chunks_per_epoch : int
        Compiled calls per epoch, so a progress display can update in between.
    """

    def __init__(self, n, batch, chunks_per_epoch, loss_limit=math.inf):
        self.n, self.steps, self.loss_limit = n, -(-n // batch), loss_limit
        self.batch_sizes = np.full(self.steps, batch, dtype=np.int64)
        self.batch_sizes[-1] = n - batch * (self.steps - 1)
        self.losses = np.empty(self.steps, dtype=np.float64)
        self.corrects = np.empty(self.steps, dtype=np.int64)
        self.chunk = max(1, -(-self.steps // chunks_per_epoch))

    def run(self, trainer, order, epoch, callback, watch=None):
        """Train one epoch over ``order``; returns its seconds. Raises Diverged, and
        KeyboardInterrupt for a stop the compiled call swallowed (``watch``, an
        :class:`experiments.interrupts.Watch`)."""
        start = time.perf_counter()
        for first in range(0, self.steps, self.chunk):
            count = min(self.chunk, self.steps - first)
            done = trainer.train_steps(
                order, first, count, self.losses[first:], self.corrects[first:]
            )
            if watch is not None:
                watch.check()
            end = first + done
            # The kernel stops right after a non-finite loss; that step may also be the
            # last one asked for, so look at the loss rather than at the count.
            if not np.isfinite(self.losses[end - 1]):
                raise Diverged(
                    f"loss became {self.losses[end - 1]} at epoch {epoch}, "
                    f"step {end} of {self.steps}"
                )
            seen = self.batch_sizes[:end]
            running = float(np.dot(self.losses[:end], seen) / seen.sum())
            if running > self.loss_limit:
                raise Diverged(
                    f"loss reached {running:.4g} at epoch {epoch}, step {end} of {self.steps}, "
                    f"over {self.loss_limit:.4g} (1000 times a uniform guess's)"
                )
            callback.on_steps(epoch, end, self.steps, running)
        return time.perf_counter() - start

    def metrics(self, epoch, seconds):
        """The epoch's training loss and accuracy over every sample it saw."""
        return {
            "epoch": epoch,
            "train_loss": float(np.dot(self.losses, self.batch_sizes) / self.n),
            "train_accuracy": float(self.corrects.sum() / self.n),
            "train_seconds": seconds,
        }


def augmentation(config, n_features):
    """The :class:`kernels.augment.Augment` of ``config`` for square images of ``n_features``
    pixels (its seed is set per epoch)."""
    if config.augment == "none":
        return OFF
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise ValueError(f"--augment needs square images; {n_features} features are not")
    rotate = math.radians(config.aug_rotate)
    return Augment(True, side, config.aug_shift, rotate, config.aug_scale, config.aug_flip, 0)


def step_settings(config, net, ema=None):
    """The :class:`network.trainer.StepSettings` of ``config``, the one route from the run's
    settings to either trainer; ``ema`` is the moving average's buffer (a copy of the
    parameters is made when it is needed and not given)."""
    if config.ema > 0 and ema is None:
        ema = net.params.copy()
    return StepSettings(
        weight_decay=config.weight_decay,
        dropout=config.dropout,
        input_dropout=config.input_dropout,
        max_norm=config.max_norm,
        ema_decay=config.ema,
        ema=ema if config.ema > 0 else None,
        augment=augmentation(config, net.sizes[0]),
    )


#: What this process has compiled on the CPU: (optimizer, dtype, the training inputs' dtype,
#: evaluated, the loop's variant). The CPU kernels' types depend on nothing else (sizes,
#: codes and the options that are on are values; :func:`kernels.steps.loop_variant`), so a
#: later run with the same key, such as the next fit of the scikit-learn estimator, needs no
#: warm-up step.
_COMPILED_ON_CPU = set()


def compile_kernels(net, config, optimizer, x_train, y_train, x_val, y_val, threads=1):
    """Compile (or load from cache) the step loop and the evaluation, outside the timed
    epochs: one step and one evaluation on a scratch copy of ``net``, with the run's
    settings and its update ``threads`` (the loop compiled depends on both). Returns the seconds
    (0 when this process has already compiled them for the CPU)."""
    start = time.perf_counter()
    scratch = MLP(net.sizes, net.activation, net.loss_name, net.weight_init, dtype=net.dtype)
    settings = step_settings(config, scratch)
    variant = loop_variant(settings.regularizer(scratch.params), settings.augment, threads)
    key = (optimizer.name, np.dtype(net.dtype).str, x_train.dtype.str, bool(len(x_val)), variant)
    if config.device == "cpu" and key in _COMPILED_ON_CPU:
        return 0.0
    batch = config.batch_size
    state = optimizer.init(net.layout.n_params, net.dtype, config)
    trainer = make_trainer(
        config.device,
        scratch,
        optimizer,
        state,
        x_train[:batch],
        y_train[:batch],
        batch,
        settings,
        threads,
    )
    rows = min(len(x_train), batch)
    trainer.train_steps(np.arange(rows, dtype=np.int64), 0, 1, np.empty(1), np.empty(1, np.int64))
    if len(x_val):
        trainer.evaluate(x_val[:1], y_val[:1])
    if config.device == "cpu":
        _COMPILED_ON_CPU.add(key)
    return time.perf_counter() - start


def train(
    net,
    config,
    x_train,
    y_train,
    x_val,
    y_val,
    callback=None,
    history=None,
    chunks_per_epoch=40,
    checkpoints=None,
    shuffle=True,
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
        Inputs as rows in the network's dtype (the training rows may be uint8 pixels,
        :mod:`kernels.pixels`), labels as int64.
    callback : Callback, optional
    history : History, optional
        Filled epoch by epoch; pass one in to keep the finished epochs when the
        run ends with ``Diverged`` or ``KeyboardInterrupt``.
    checkpoints : experiments.checkpoint.CheckpointFile, optional
        Written after every epoch; when it already holds a checkpoint, training goes
        on from there (the history then starts with the checkpoint's epochs).
    shuffle : bool
        Each epoch visits the samples in a fresh random order (seeded by ``config.seed``);
        False keeps their order (the scikit-learn estimator's ``shuffle=False``).

    Returns
    -------
    History

    Raises
    ------
    Diverged
        At the first non-finite batch loss. ``KeyboardInterrupt`` passes
        through; either way ``net`` holds the parameters trained so far.
    CheckpointError
        The checkpoint is damaged or belongs to another network or optimizer.
    """
    history = history if history is not None else History()
    history.blas_threads = threads_for(config, net.sizes)
    history.update_threads = 1 if config.device == "cuda" else update_threads()
    with blas_threads(history.blas_threads), interrupts.watched() as watch:
        run = _Run(net, config, x_train, y_train, x_val, y_val, history, shuffle, watch)
        first = run.start(callback or Callback(), chunks_per_epoch, checkpoints)
        try:
            for epoch in range(first, config.epochs + 1):
                if not run.epoch(epoch):
                    history.stopped_early = True
                    break
        finally:
            run.finish()
    return history


class _Run:
    """The state of one :func:`train` call: network, optimizer state, shuffler, best epoch."""

    def __init__(self, net, config, x_train, y_train, x_val, y_val, history, shuffle, watch):
        self.net, self.config, self.history, self.shuffle = net, config, history, shuffle
        self.watch = watch  # raises the stops that a compiled call swallowed
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.optimizer = optimizers.get(config.optimizer)
        self.state = self.optimizer.init(net.layout.n_params, net.dtype, config)
        self.rng = np.random.default_rng(config.seed)  # shuffles each epoch
        self.best = Best(config.restore_best)
        #: The moving average of the parameters (None when off), checkpointed with them.
        self.ema = net.params.copy() if config.ema > 0 else None
        self.trainer = None

    def start(self, callback, chunks_per_epoch, checkpoints):
        """Go on from the checkpoint if there is one, compile, and build the trainer;
        returns the first epoch to train (past the last when early stopping had ended
        the run)."""
        config, net = self.config, self.net
        self.callback, self.checkpoints = callback, checkpoints
        resumed = checkpoints.load() if checkpoints is not None else None
        if resumed is not None:
            if resumed.epoch > config.epochs:
                raise CheckpointError(
                    f"the checkpoint was taken after epoch {resumed.epoch}, and this run has "
                    f"{config.epochs} epochs: it belongs to another run"
                )
            _restore(resumed, self)
        callback.on_compile_start()
        with interrupts.deferred():
            self.history.compile_seconds = compile_kernels(
                net, config, self.optimizer, self.x_train, self.y_train, self.x_val, self.y_val,
                self.history.update_threads,
            )  # fmt: skip
        callback.on_compile_end(self.history.compile_seconds)
        n, batch = len(self.x_train), config.batch_size
        self.epoch_steps = EpochSteps(n, batch, chunks_per_epoch, loss_limit(net))
        self.trainer = make_trainer(
            config.device,
            net,
            self.optimizer,
            self.state,
            self.x_train,
            self.y_train,
            batch,
            step_settings(config, net, self.ema),
            self.history.update_threads,
        )
        if resumed is None:
            return 1
        if resumed.epoch < config.epochs and self._stops_early(resumed.epoch):
            self.history.stopped_early = True
            return config.epochs + 1
        return resumed.epoch + 1

    def epoch(self, epoch):
        """Train, evaluate and checkpoint ``epoch``; False when early stopping ends the run."""
        config, trainer = self.config, self.trainer
        trainer.set_learning_rate(
            learning_rate(config.lr_schedule, config.learning_rate, epoch, config.epochs)
        )
        trainer.seed_epoch(derived_seed(config.seed, epoch))
        n = len(self.x_train)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        order = order.astype(np.int64)
        self.callback.on_epoch_start(epoch, self.epoch_steps.steps)
        seconds = self.epoch_steps.run(trainer, order, epoch, self.callback, self.watch)
        metrics = self.epoch_steps.metrics(epoch, seconds)
        no_validation = (float("nan"), float("nan"))
        metrics["val_loss"], metrics["val_accuracy"] = (
            trainer.evaluate(self.x_val, self.y_val) if len(self.x_val) else no_validation
        )
        self.watch.check()
        metrics["learning_rate"] = self.state.hyper.learning_rate
        self.history.epochs.append(metrics)
        self.best.update(epoch, metrics["val_accuracy"], trainer)
        self.callback.on_epoch_end(metrics)
        if self.checkpoints is not None:
            trainer.download()
            self.checkpoints.save(_checkpoint(epoch, self))
        return epoch == config.epochs or not self._stops_early(epoch)

    def _stops_early(self, epoch):
        """``early_stopping`` epochs without a better validation accuracy."""
        patience = self.config.early_stopping
        return bool(patience and len(self.x_val) and epoch - self.best.epoch >= patience)

    def finish(self):
        """Whatever ended the run (last epoch, early stop, Ctrl-C, divergence), the network
        gets the parameters trained so far (their moving average when there is one), or the
        best epoch's with restore_best."""
        if self.trainer is None:  # stopped before training began
            return
        if self.best.params is not None:
            self.trainer.restore(self.best.params)
            self.history.restored_epoch = self.best.epoch
        elif self.ema is not None:
            self.trainer.restore(self.trainer.snapshot())
        self.trainer.download()


def _checkpoint(epoch, run):
    return Checkpoint(
        epoch=epoch,
        params=run.net.params,
        slots=run.state.slots,
        scalars=run.state.scalars,
        shuffle_state=run.rng.bit_generator.state,
        history=run.history.epochs,
        best_epoch=run.best.epoch,
        best_accuracy=run.best.accuracy,
        best_params=run.best.params,
        ema=run.ema,
    )


def _restore(checkpoint, run):
    """Put a checkpoint's state into a fresh run's network, optimizer state, shuffler,
    history, best epoch and moving average (before the trainer copies them to its device)."""
    net, state = run.net, run.state
    if checkpoint.params.shape != net.params.shape or checkpoint.slots.shape != state.slots.shape:
        raise CheckpointError(
            f"the checkpoint holds {checkpoint.params.size:,} parameters and optimizer state "
            f"{checkpoint.slots.shape}; this run's network has {net.params.size:,} and "
            f"{state.slots.shape}: it belongs to another run"
        )
    if (checkpoint.ema is None) != (run.ema is None):
        written, this = ("without", "uses") if checkpoint.ema is None else ("with", "does not use")
        raise CheckpointError(
            f"the checkpoint was written by a run {written} --ema and this run {this} it: "
            "it belongs to another run"
        )
    net.params[:] = checkpoint.params
    state.slots[:] = checkpoint.slots
    state.scalars[:] = checkpoint.scalars
    try:
        run.rng.bit_generator.state = checkpoint.shuffle_state
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(
            f"the checkpoint's shuffler state cannot be restored ({type(exc).__name__}: "
            f"{exc}); delete it to restart the run from its first epoch"
        ) from None
    run.history.epochs[:] = checkpoint.history
    best = run.best
    best.epoch, best.accuracy = checkpoint.best_epoch, checkpoint.best_accuracy
    if best.keep_params and checkpoint.best_params is not None:
        best.params = checkpoint.best_params.copy()
    if run.ema is not None:
        run.ema[:] = checkpoint.ema


def loss_limit(net):
    """The running loss above which a run has diverged though it is still finite.

    1000 times the cross-entropy of a uniform guess, ``ln(classes)`` (2,303 for ten
    classes): a healthy run starts near that loss and falls; an adaptive optimizer with
    a learning rate far too large explodes past it (seen: 484,974) without reaching NaN.
    The squared error of probabilities is at most 2, so it never needs the limit.
    """
    if net.loss_name != "cross_entropy":
        return math.inf
    return 1000.0 * math.log(net.sizes[-1])


class Best:
    """The epoch with the best validation accuracy so far, and its parameters if kept."""

    def __init__(self, keep_params):
        self.keep_params = keep_params
        self.accuracy, self.epoch, self.params = -1.0, 0, None

    def update(self, epoch, accuracy, trainer):
        if accuracy > self.accuracy:
            self.accuracy, self.epoch = accuracy, epoch
            if self.keep_params:
                self.params = trainer.snapshot()
