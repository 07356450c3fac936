"""What every trainer offers, and the one record of what a step does besides the update.

A trainer owns a network's training state for one run on one device: it uploads the data,
parameters and optimizer state once, runs chunks of compiled steps, evaluates, and brings
the results back. :class:`network.cpu_trainer.CpuTrainer` and
:class:`network.cuda_trainer.CudaTrainer` are the two, built by
:func:`network.backends.make_trainer` from the same arguments.
"""

from typing import NamedTuple, Protocol

import numpy as np

from kernels.augment import OFF, Augment
from kernels.regularize import regularizer


class StepSettings(NamedTuple):
    """Everything a training step does besides the optimizer's update, fixed for a run.

    ``weight_decay``: the L2 factor added to the gradient (0.0: off).
    ``dropout``, ``input_dropout``: the probability of dropping each hidden unit and each
    input pixel (0.0: off). ``max_norm``: the cap on each hidden unit's incoming weights
    (0.0: off; :mod:`kernels.regularize`). ``ema_decay`` and ``ema``: the decay of the
    parameters' moving average (0.0: off) and its host buffer, shape (P,), which the trainer
    keeps up to date (on the GPU, at ``download``). ``augment``: the image distortions
    (:mod:`kernels.augment`); their seed is set per epoch by ``seed_epoch``.
    """

    weight_decay: float = 0.0
    dropout: float = 0.0
    input_dropout: float = 0.0
    max_norm: float = 0.0
    ema_decay: float = 0.0
    ema: np.ndarray | None = None
    augment: Augment = OFF

    @property
    def averaging(self):
        return self.ema_decay > 0

    def regularizer(self, ema):
        """The compiled loops' :class:`kernels.regularize.Regularizer` of these settings, with
        ``ema`` as the average's buffer (this device's; any one-element array when off)."""
        return regularizer(
            self.weight_decay,
            self.dropout,
            self.input_dropout,
            self.max_norm,
            self.ema_decay,
            ema,
        )

    def checked(self, n_params):
        """These settings, refused when averaging lacks a buffer of ``n_params`` entries."""
        if self.averaging and (self.ema is None or self.ema.shape != (n_params,)):
            raise ValueError(f"ema_decay > 0 needs an ema buffer of shape ({n_params},)")
        return self


class Trainer(Protocol):
    """The interface of both trainers.

    Built as ``Trainer(net, optimizer, state, x, labels, batch_size, settings)``: the network
    (:class:`network.MLP`), its optimizer and state (:mod:`optimizers`), the training inputs
    (N, features) in the network's dtype or as uint8 pixels (:mod:`kernels.pixels`) with
    int64 labels, and :class:`StepSettings`.
    """

    def train_steps(self, order, first_step, n_steps, losses, corrects) -> int:
        """Run steps ``first_step .. first_step + n_steps - 1`` over the epoch's ``order``
        (int64 (N,)); step ``s`` trains on ``order[(first_step + s) * batch_size:][:batch_size]``.
        Fills ``losses[:done]`` (float64) and ``corrects[:done]`` (int64) with each step's mean
        loss and correct count and returns ``done``: every step, or up to and including the
        first non-finite loss."""

    def evaluate(self, x, labels) -> tuple[float, float]:
        """Mean loss and accuracy of the parameters the run would end with now."""

    def set_learning_rate(self, value) -> None:
        """The learning rate of the steps that follow (schedules)."""

    def seed_epoch(self, seed) -> None:
        """Seed the dropout masks and image distortions of the steps that follow."""

    def snapshot(self) -> np.ndarray:
        """A host copy of the parameters the run would end with now (their average when
        there is one), for restore-best."""

    def restore(self, params) -> None:
        """Put host parameters back into training."""

    def download(self) -> None:
        """Bring the parameters, their average and the optimizer state back into the host
        arrays (a no-op on the CPU, which trains in them)."""
