"""Softmax output layer on the GPU: per-row loss and dL/dz, then one reduction.

The math is :mod:`kernels.losses`'s own per-row function, compiled as a device
function (see its docstring for the softmax Jacobian of the squared error). Rows
are independent and short (10 classes), so one thread handles one row.
"""

import math

from numba import cuda, float64, int64

from ..losses import row_loss_grad_py

REDUCE_THREADS = 256


row_loss_grad = cuda.jit(device=True)(row_loss_grad_py)


@cuda.jit
def softmax_loss_grad_kernel(Z, y, loss_code, dZ, row_loss, row_correct):
    """Per row ``i``: ``row_loss[i]`` (float64), ``row_correct[i]`` (0/1) and ``dZ[i]``
    (gradient of the *mean* loss over the ``Z.shape[0]`` rows), by the CPU's own
    :func:`kernels.losses.row_loss_grad_py`. ``dZ`` may be ``Z``."""
    i = cuda.grid(1)
    if i < Z.shape[0]:
        row_loss[i], row_correct[i] = row_loss_grad(Z, y, i, loss_code, dZ, Z.shape[0])


@cuda.jit
def reduce_loss_kernel(row_loss, row_correct, n, losses, corrects, step, halt):
    """One block of ``REDUCE_THREADS``: ``losses[step]`` = mean of ``row_loss[:n]``,
    ``corrects[step]`` = their correct count; sets ``halt[0]`` on a NaN or infinite loss,
    which freezes the parameters for the rest of the chunk (see kernels.cuda.optimizers)."""
    partial_loss = cuda.shared.array(REDUCE_THREADS, dtype=float64)  # row_loss is float64
    partial_hits = cuda.shared.array(REDUCE_THREADS, dtype=int64)  # row_correct is int64
    t = cuda.threadIdx.x
    acc = 0.0
    hits = 0
    for i in range(t, n, REDUCE_THREADS):
        acc += row_loss[i]
        hits += row_correct[i]
    partial_loss[t] = acc
    partial_hits[t] = hits
    cuda.syncthreads()
    width = REDUCE_THREADS // 2
    while width > 0:
        if t < width:
            partial_loss[t] += partial_loss[t + width]
            partial_hits[t] += partial_hits[t + width]
        cuda.syncthreads()
        width //= 2
    if t == 0:
        loss = partial_loss[0] / n
        losses[step] = loss
        corrects[step] = partial_hits[0]
        if not math.isfinite(loss):
            halt[0] = 1
