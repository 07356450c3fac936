"""Softmax output layer on the GPU: per-row loss and dL/dz, and the block sum of a step's rows.

The math is :mod:`kernels.losses`'s own per-row function, compiled as a device
function (see its docstring for the softmax Jacobian of the squared error). Rows
are independent and short (10 classes), so one thread handles one row.
"""

from numba import cuda

from ..losses import row_loss_grad_py
from .dense import THREADS, block_thread

row_loss_grad = cuda.jit(device=True)(row_loss_grad_py)


@cuda.jit(device=True)
def block_sum(row_loss, row_correct, n, partial_loss, partial_hits):
    """``(sum(row_loss[:n]), sum(row_correct[:n]))`` by all :data:`THREADS` threads of one block.

    ``partial_loss`` (float64) and ``partial_hits`` (int64) are the block's shared
    arrays of length :data:`THREADS`. A tree reduction; the result is returned to
    every thread of the block.
    """
    t = block_thread()
    acc = 0.0
    hits = 0
    for i in range(t, n, THREADS):
        acc += row_loss[i]
        hits += row_correct[i]
    partial_loss[t] = acc
    partial_hits[t] = hits
    cuda.syncthreads()
    width = THREADS // 2
    while width > 0:
        if t < width:
            partial_loss[t] += partial_loss[t + width]
            partial_hits[t] += partial_hits[t + width]
        cuda.syncthreads()
        width //= 2
    return partial_loss[0], partial_hits[0]
