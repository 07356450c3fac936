"""Which device trains: :func:`resolve_device` picks it, :func:`make_trainer` builds its
:class:`network.trainer.Trainer`."""

from .cpu_trainer import CpuTrainer
from .trainer import StepSettings

DEVICES = ("cpu", "cuda", "auto")


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


def make_trainer(
    device, net, optimizer, state, x, labels, batch_size, settings=StepSettings(), update_threads=1
):
    """The :class:`network.trainer.Trainer` for ``device`` (``cpu`` or ``cuda``);
    ``update_threads`` is the CPU's (:class:`network.cpu_trainer.CpuTrainer`)."""
    if device == "cuda":
        from .cuda_trainer import CudaTrainer  # imports numba.cuda: only when asked for

        return CudaTrainer(net, optimizer, state, x, labels, batch_size, settings)
    return CpuTrainer(net, optimizer, state, x, labels, batch_size, settings, update_threads)
