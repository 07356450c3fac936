"""Where the steps run: the CPU step loop or the GPU, behind one small interface.

A trainer owns a network's training state for one run and offers
``train_steps(order, first_step, n_steps, weight_decay, losses, corrects, dropout) -> done``,
``evaluate(x, labels) -> (loss, accuracy)``, ``set_learning_rate(value)`` (for
schedules), ``seed_epoch(seed)`` (the dropout masks and image distortions of the
steps that follow), ``snapshot()``/``restore(params)`` (host copies of the
parameters the run would end with now, for restore-best: the moving average when
there is one) and ``download()`` (bring the parameters, their average and the
optimizer state back into the host arrays; a no-op on the CPU).

Both take the same :class:`Extras`: max-norm, input dropout, the moving average
of the parameters and the image distortions, fixed for the run.
"""

from typing import NamedTuple

import numpy as np

from kernels.augment import OFF, Augment
from kernels.dropout import seed_rng


class Extras(NamedTuple):
    """A run's optional step-loop settings (:mod:`kernels.regularize`, :mod:`kernels.augment`).

    ``max_norm``: the cap on each hidden unit's incoming weights (0.0: off).
    ``input_dropout``: the probability of dropping each input pixel (0.0: off).
    ``ema_decay`` and ``ema``: the decay of the parameters' moving average (0.0:
    off) and its host buffer, shape (P,), which the trainer keeps up to date (on
    the GPU, at :meth:`download`). ``augment``: the image distortions; its seed is
    set per epoch by ``seed_epoch``.
    """

    max_norm: float = 0.0
    input_dropout: float = 0.0
    ema_decay: float = 0.0
    ema: np.ndarray | None = None
    augment: Augment = OFF


DEVICES = ("cpu", "cuda", "auto")


class CpuTrainer:
    """The compiled CPU step loop of :meth:`network.MLP.train_steps`."""

    def __init__(self, net, optimizer, state, x, labels, batch_size, extras=Extras()):
        self.net, self.optimizer, self.state = net, optimizer, state
        self.x, self.labels, self.batch_size = x, labels, int(batch_size)
        self.extras = extras

    def train_steps(self, order, first_step, n_steps, weight_decay, losses, corrects, dropout=0.0):
        extras = self.extras
        done, _, _ = self.net.train_steps(
            self.x,
            self.labels,
            order,
            first_step,
            n_steps,
            self.batch_size,
            self.optimizer,
            self.state,
            weight_decay=weight_decay,
            losses=losses,
            corrects=corrects,
            dropout=dropout,
            max_norm=extras.max_norm,
            input_dropout=extras.input_dropout,
            ema=extras.ema,
            ema_decay=extras.ema_decay,
            augment=extras.augment,
        )
        return done

    def evaluate(self, x, labels):
        return self.net.evaluate(x, labels, params=self._final())

    def _final(self):
        """The parameters the run would end with now: their average when there is one."""
        return self.extras.ema if self.extras.ema_decay > 0 else self.net.params

    def set_learning_rate(self, value):
        self.state.hyper = self.state.hyper._replace(learning_rate=float(value))

    def seed_epoch(self, seed):
        """Seed Numba's generator, which draws the CPU's dropout masks, and the distortions."""
        seed_rng(seed)
        self.extras = self.extras._replace(augment=self.extras.augment._replace(seed=int(seed)))

    def snapshot(self):
        """A host copy of the parameters the run would end with now."""
        return self._final().copy()

    def restore(self, params):
        self.net.params[:] = params

    def download(self):
        pass


def resolve_device(device):
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``; ``cuda`` without one raises.

    Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, thousands of times slower than
    the CPU loop) counts as usable for an explicit ``cuda`` only, never for ``auto``.

    Raises
    ------
    RuntimeError
        One line saying why CUDA cannot be used.
    """
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    try:
        from kernels.cuda import cuda_status

        usable, detail = cuda_status()
    except ImportError as exc:  # numba-cuda missing
        usable, detail = False, str(exc)
    if usable and (device == "cuda" or not simulated()):
        return "cuda"
    if device == "cuda":
        raise RuntimeError(f"--device cuda: {detail}")
    return "cpu"


def simulated():
    """True when numba.cuda is Numba's CUDA simulator."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def make_trainer(device, net, optimizer, state, x, labels, batch_size, extras=Extras()):
    """The trainer for ``device``."""
    if device == "cuda":
        from .cuda_trainer import CudaTrainer

        return CudaTrainer(net, optimizer, state, x, labels, batch_size, extras=extras)
    return CpuTrainer(net, optimizer, state, x, labels, batch_size, extras)
