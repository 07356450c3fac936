"""Compile every GPU kernel for a real GPU (PTX for compute capability 9.0), with no GPU at hand.

The simulator runs kernels as Python, so it never type-checks them for the CUDA target;
this does, with numba-cuda's own compiler (NVVM, NVRTC), driver-free. Run in a process of
its own with ``NUMBA_ENABLE_CUDASIM=0`` (tests/kernels/test_cuda.py does):
``python -m tests.kernels.ptx_compile``.
Prints one line per kernel; exits 77 with the reason when the compiler libraries are missing.
``python -m tests.kernels.ptx_compile DIR`` also writes each kernel's PTX into DIR, for
``ptxas -arch=sm_90 -v -c FILE`` (registers, spills; perf/RESULTS.md). Every optimizer's
step kernel is compiled in float32, Adam's in float64 and on uint8 pixels too
(``--every-dtype``: every one in float64).
"""

import sys
from types import SimpleNamespace

import numba.cuda.dispatcher as cuda_dispatcher  # noqa: E402  (numba-cuda's, not the simulator's)
import numpy as np
from numba import cuda, typeof

import optimizers  # noqa: E402
from kernels.augment import Augment
from kernels.cuda import steps  # noqa: E402
from kernels.pixels import PIXEL_SCALE
from kernels.regularize import Regularizer
from kernels.steps import Epoch
from network import MLP  # noqa: E402
from network.workspace import Workspace  # noqa: E402

#: The H200's compute capability (Hopper).
CC = (9, 0)

# Device functions are compiled for "the current device"; without a driver there is none, so
# name the target here. (Test-only: the product always has a device when it compiles.)
cuda_dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=CC)


def step_kernel_args(net, opt, batch, x, y, pixel_scale=None):
    """Host arrays typed like CudaTrainer's device arrays (same records, dtypes, layouts);
    ``pixel_scale``: that of uint8 pixels ``x`` (:mod:`kernels.pixels`), or None."""
    layout = net.layout
    work = Workspace.allocate(layout, batch, net.dtype)
    state = opt.init(
        layout.n_params,
        net.dtype,
        dict(learning_rate=0.1, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8),
    )
    gpu = steps.DeviceState(
        0,
        0,
        np.zeros_like(work.acts),
        np.zeros(batch),
        np.zeros(batch, np.int64),
        np.zeros(1, np.int32),
        np.zeros(1, np.int64),
    )
    distort = Augment(True, 3, 1.0, 0.2, 0.1, True, 0)  # the types of every Augment
    return (
        Epoch(x, y, np.arange(len(x), dtype=np.int64), batch, distort, pixel_scale),
        0,
        3,
        net.params,
        net.grads,
        net.structure,
        work,
        Regularizer(0.01, 1.0, 0.8, 3.0, 0.999, net.params.copy()),
        (state.slots, state.hyper, state.scalars),
        (np.zeros(3), np.zeros(3, np.int64)),
        gpu,
    )


def compile_for_gpu(kernel, args, name):
    """PTX of ``kernel`` for ``args``' types; written to ``DIR/name.ptx`` when a DIR is given."""
    ptx, _ = cuda.compile_ptx(kernel.py_func, tuple(typeof(a) for a in args), cc=CC)
    folders = [a for a in sys.argv[1:] if not a.startswith("--")]
    if folders:
        with open(f"{folders[0]}/{name}.ptx", "w", encoding="ascii") as out:
            out.write(ptx)
    print(f"{name}: {len(ptx)} characters of PTX")


def _probe(out):
    out[0] = 1


def main():
    try:
        cuda.compile_ptx(_probe, "void(int64[:])", cc=CC)
    except Exception as exc:  # NVVM or NVRTC missing: not a failure of nbnet's kernels
        print(f"no CUDA compiler libraries: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        sys.exit(77)
    every = "--every-dtype" in sys.argv
    for dtype in (np.float32, np.float64):
        net = MLP([9, 7, 3], dtype=dtype)
        x, y = np.zeros((10, 9), dtype=dtype), np.zeros(10, np.int64)
        # Every rule in float32; in float64 Adam's (the rules differ in their device functions,
        # not in the dtype's handling), or every one with --every-dtype.
        names = optimizers.REGISTRY if dtype == np.float32 or every else ["adam"]
        for name in names:
            opt = optimizers.get(name)
            compile_for_gpu(
                steps.train_steps_kernel(opt, dtype),
                step_kernel_args(net, opt, 4, x, y),
                f"train_steps_kernel_{name}_{np.dtype(dtype).name}",
            )
        if dtype == np.float32:  # the training set as uint8 pixels, as train.py keeps it
            adam = optimizers.get("adam")
            compile_for_gpu(
                steps.train_steps_kernel(adam, dtype),
                step_kernel_args(net, adam, 4, x.astype(np.uint8), y, PIXEL_SCALE),
                "train_steps_kernel_adam_uint8_pixels",
            )
        work = Workspace.allocate(net.layout, 8, dtype)
        args = step_kernel_args(net, optimizers.get("sgd"), 8, x, y)
        gpu = args[-1]._replace(row_loss=np.zeros(10), row_correct=np.zeros(10, np.int64))
        compile_for_gpu(
            steps.evaluate_kernel(dtype),
            (x, y, net.params, net.structure, work, 8, gpu),
            f"evaluate_kernel_{np.dtype(dtype).name}",
        )


if __name__ == "__main__":
    main()
