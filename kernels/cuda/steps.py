"""Gathering a mini-batch on the GPU."""

from numba import cuda


@cuda.jit
def gather_kernel(X, labels, order, start, n, out, y_out):
    """``out[i] = X[order[start + i]]`` and ``y_out[i] = labels[order[start + i]]`` for
    ``i < n``; a 2-D grid over (row, feature)."""
    i, j = cuda.grid(2)
    if i < n and j < X.shape[1]:
        row = order[start + i]
        out[i, j] = X[row, j]
        if j == 0:
            y_out[i] = labels[row]
