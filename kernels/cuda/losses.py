"""Softmax output layer on the GPU: per-row loss and dL/dz, then one reduction.

The math is that of :mod:`kernels.losses` (see its docstring for the softmax
Jacobian of the squared error). Rows are independent and short (10 classes),
so one thread handles one row.
"""

import math

from numba import cuda, float64, int64

from ..config import CROSS_ENTROPY

REDUCE_THREADS = 256


@cuda.jit
def softmax_loss_grad_kernel(Z, y, loss_code, dZ, row_loss, row_correct):
    """Per row ``i``: ``row_loss[i]`` (float64), ``row_correct[i]`` (0/1) and ``dZ[i]``
    (gradient of the *mean* loss over the ``Z.shape[0]`` rows). ``dZ`` may be ``Z``."""
    i = cuda.grid(1)
    n, k = Z.shape
    if i >= n:
        return
    yi = y[i]
    zy = Z[i, yi]
    best = 0
    m = Z[i, 0]
    for j in range(1, k):
        if Z[i, j] > m:
            m = Z[i, j]
            best = j
    row_correct[i] = 1 if best == yi else 0
    s = Z[i, 0] * 0
    for j in range(k):
        e = math.exp(Z[i, j] - m)
        dZ[i, j] = e
        s += e
    inv_s = 1 / s
    inv_n = Z.dtype.type(1.0 / n)
    if loss_code == CROSS_ENTROPY:
        row_loss[i] = math.log(float(s)) + float(m) - float(zy)
        for j in range(k):
            dZ[i, j] = dZ[i, j] * inv_s * inv_n
        dZ[i, yi] -= inv_n
    else:
        two = Z.dtype.type(2.0)
        total = 0.0
        gp = s * 0
        for j in range(k):
            p = dZ[i, j] * inv_s
            dZ[i, j] = p
            diff = p - (1 if j == yi else 0)
            total += float(diff) * float(diff)
            gp += two * diff * inv_n * p
        row_loss[i] = total
        for j in range(k):
            p = dZ[i, j]
            diff = p - (1 if j == yi else 0)
            dZ[i, j] = p * (two * diff * inv_n - gp)


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
