"""Dense layer kernels on the GPU: tiled matrix products, bias + activation, derivatives.

Shapes and math are those of :mod:`kernels.dense` and :mod:`kernels.activations`.
"""

import math
from functools import lru_cache

from numba import cuda, from_dtype

from ..activations import derivative
from ..config import RELU, SIGMOID, TANH

TILE = 16


@cuda.jit(device=True)
def activate(x, code):
    """The activation of one scalar; sigmoid in its overflow-free form."""
    if code == SIGMOID:
        if x >= 0:
            return 1 / (1 + math.exp(-x))
        e = math.exp(x)
        return e / (1 + e)
    if code == TANH:
        return math.tanh(x)
    if code == RELU:
        return max(x, 0)
    return x


# f'(z) through a = f(z): the CPU's own scalar function, compiled for the GPU.
derivative_from_output = cuda.jit(device=True)(derivative.py_func)


@lru_cache(maxsize=None)
def matmul_kernel(dtype):
    """The tiled product kernel for one dtype (shared memory needs a fixed type).

    ``C = op(A) @ op(B)`` with ``op(A)`` of shape (M, K), ``op(B)`` of shape (K, N),
    ``C`` (M, N). ``trans_a`` means A is stored as (K, M) and read transposed, so
    the three products of a dense layer (``x @ W``, ``x.T @ delta``,
    ``delta @ W.T``) need no copies. Launch with ``TILE x TILE`` threads per
    block and ``(ceil(N / TILE), ceil(M / TILE))`` blocks; edges that are not a
    multiple of ``TILE`` are padded with zeros in shared memory.
    """
    nb_type = from_dtype(dtype)

    @cuda.jit
    def kernel(A, B, C, trans_a, trans_b):
        tile_a = cuda.shared.array((TILE, TILE), dtype=nb_type)
        tile_b = cuda.shared.array((TILE, TILE), dtype=nb_type)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        M, N = C.shape
        K = A.shape[0] if trans_a else A.shape[1]
        acc = nb_type(0)
        for start in range(0, K, TILE):
            ka = start + tx
            if row < M and ka < K:
                tile_a[ty, tx] = A[ka, row] if trans_a else A[row, ka]
            else:
                tile_a[ty, tx] = 0
            kb = start + ty
            if kb < K and col < N:
                tile_b[ty, tx] = B[col, kb] if trans_b else B[kb, col]
            else:
                tile_b[ty, tx] = 0
            cuda.syncthreads()
            for k in range(TILE):
                acc += tile_a[ty, k] * tile_b[k, tx]
            cuda.syncthreads()
        if row < M and col < N:
            C[row, col] = acc

    return kernel


def matmul(A, B, C, trans_a=False, trans_b=False, stream=0):
    """Launch :func:`matmul_kernel` for ``C = op(A) @ op(B)``."""
    M, N = C.shape
    grid = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
    matmul_kernel(C.dtype)[grid, (TILE, TILE), stream](A, B, C, trans_a, trans_b)


@cuda.jit
def bias_activation_kernel(Z, b, code):
    """``Z[i, j] <- f(Z[i, j] + b[j])``; one thread per element (2-D grid)."""
    i, j = cuda.grid(2)
    if i < Z.shape[0] and j < Z.shape[1]:
        Z[i, j] = activate(Z[i, j] + b[j], code)


@cuda.jit
def activation_backward_kernel(G, A, code):
    """``G[i, j] <- G[i, j] * f'(z)`` with f' through ``A = f(z)``."""
    i, j = cuda.grid(2)
    if i < G.shape[0] and j < G.shape[1]:
        G[i, j] = G[i, j] * derivative_from_output(A[i, j], code)


@cuda.jit
def column_sum_kernel(D, out):
    """``out[j] = sum_i D[i, j]``: the bias gradient; one thread per column."""
    j = cuda.grid(1)
    if j < D.shape[1]:
        acc = D[0, j] * 0
        for i in range(D.shape[0]):
            acc += D[i, j]
        out[j] = acc


@cuda.jit
def add_weight_decay_kernel(dW, W, weight_decay):
    """``dW <- dW + weight_decay * W`` over flat arrays of equal length."""
    k = cuda.grid(1)
    if k < dW.shape[0]:
        dW[k] += W.dtype.type(weight_decay) * W[k]


def grid_1d(n, threads=256):
    return ((n + threads - 1) // threads,), (threads,)


def grid_2d(rows, cols, threads=(8, 32)):
    return ((rows + threads[0] - 1) // threads[0], (cols + threads[1] - 1) // threads[1]), threads
