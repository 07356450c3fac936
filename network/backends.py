"""Where the steps run: the CPU step loop or the GPU, behind one small interface.

A trainer owns a network's training state for one run and offers
``train_steps(order, first_step, n_steps, weight_decay, losses, corrects, dropout) -> done``,
``evaluate(x, labels) -> (loss, accuracy)``, ``set_learning_rate(value)`` (for
schedules), ``seed_dropout(seed)`` (the masks of the steps that follow),
``snapshot()``/``restore(params)`` (host copies, for restore-best) and ``download()``
(bring the parameters and optimizer state back into the host network and state; a
no-op on the CPU).
"""

from kernels.dropout import seed_rng

DEVICES = ("cpu", "cuda", "auto")


class CpuTrainer:
    """The compiled CPU step loop of :meth:`network.MLP.train_steps`."""

    def __init__(self, net, optimizer, state, x, labels, batch_size):
        self.net, self.optimizer, self.state = net, optimizer, state
        self.x, self.labels, self.batch_size = x, labels, int(batch_size)

    def train_steps(self, order, first_step, n_steps, weight_decay, losses, corrects, dropout=0.0):
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
        )
        return done

    def evaluate(self, x, labels):
        return self.net.evaluate(x, labels)

    def set_learning_rate(self, value):
        self.state.hyper = self.state.hyper._replace(learning_rate=float(value))

    def seed_dropout(self, seed):
        """Seed Numba's generator, which draws the CPU's dropout masks."""
        seed_rng(seed)

    def snapshot(self):
        """A host copy of the current parameters."""
        return self.net.params.copy()

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


def make_trainer(device, net, optimizer, state, x, labels, batch_size):
    """The trainer for ``device``."""
    if device == "cuda":
        from .cuda_trainer import CudaTrainer

        return CudaTrainer(net, optimizer, state, x, labels, batch_size)
    return CpuTrainer(net, optimizer, state, x, labels, batch_size)
