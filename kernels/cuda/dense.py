"""Dense layers on the GPU: device functions of the persistent step kernel.

Shapes and math are those of :mod:`kernels.dense` and :mod:`kernels.activations`;
the arrays are the CPU's flat buffers (layout in :mod:`kernels.steps`), addressed
by offset and row length instead of through 2-D views. Every function here is
called by all threads of a ``TILE x TILE`` block (:data:`THREADS` threads) of
:mod:`kernels.cuda.steps`; the products split their output into ``TILE x TILE``
tiles that the grid's blocks take in turn (a grid-stride loop over tiles), each
tile computed through shared memory.
"""

import math

import numpy as np
from numba import cuda

from ..activations import derivative as cpu_derivative
from ..activations import fast_tanh as cpu_fast_tanh
from ..config import RELU, SIGMOID, TANH

#: Side of the square output tile one block computes at a time.
TILE = 16
#: Threads per block of the step kernel: one per element of a tile.
THREADS = TILE * TILE

# The CPU's own scalar functions, compiled for the GPU.
fast_tanh = cuda.jit(device=True)(cpu_fast_tanh.py_func)
derivative = cuda.jit(device=True)(cpu_derivative.py_func)


@cuda.jit(device=True)
def activate(x, code, single):
    """``f(x)`` of one scalar, the formulas of :func:`kernels.activations.bias_activation`.

    ``single`` (float32) takes the CPU's float32 formulas, tanh and sigmoid through
    :func:`kernels.activations.fast_tanh`, so both devices compute the same function.
    """
    if code == SIGMOID:
        if single:
            half = np.float32(0.5)
            return half + half * fast_tanh(half * x)
        if x >= 0:
            return 1 / (1 + math.exp(-x))
        e = math.exp(x)
        return e / (1 + e)
    if code == TANH:
        if single:
            return fast_tanh(x)
        return math.tanh(x)
    if code == RELU:
        return max(x, 0)
    return x


@cuda.jit(device=True)
def block_thread():
    """This thread's index in its block, ``0 .. THREADS - 1``."""
    return cuda.threadIdx.y * TILE + cuda.threadIdx.x


@cuda.jit(device=True)
def grid_thread():
    """``(index, count)`` of this thread among all threads of the grid, for grid-stride loops."""
    return cuda.blockIdx.x * THREADS + block_thread(), cuda.gridDim.x * THREADS


@cuda.jit(device=True)
def tile_count(rows, cols):
    """``(tiles in all, tiles per row of tiles)`` covering a ``(rows, cols)`` output."""
    per_row = (cols + TILE - 1) // TILE
    return ((rows + TILE - 1) // TILE) * per_row, per_row


@cuda.jit(device=True)
def tile_element(tile, per_row):
    """``(row, col)`` of the output element this thread computes in ``tile``."""
    return (tile // per_row) * TILE + cuda.threadIdx.y, (tile % per_row) * TILE + cuda.threadIdx.x


@cuda.jit(device=True)
def tile_product(a, b, M, N, K, row, col, tiles):
    """Element ``(row, col)`` of ``op(A) @ op(B)``, through shared memory; all threads of a block.

    ``op(A)`` is (M, K) and ``op(B)`` is (K, N). Each operand is a tuple
    ``(array, offset, row_length, transposed)``: ``op(A)[r, k]`` is
    ``A[offset + r*row_length + k]``, or ``A[offset + k*row_length + r]`` when
    transposed (A stored as (K, M)); likewise ``B``. So the three products of a
    dense layer, ``x @ W``, ``x.T @ delta`` and ``delta @ W.T``, need no copies.
    ``tiles`` is the block's pair of ``(TILE, TILE)`` shared arrays; edges are
    padded with zeros there. Returns 0 for a thread outside the output (it must
    still take part, for the syncs).
    """
    A, a_off, lda, trans_a = a
    B, b_off, ldb, trans_b = b
    tile_a, tile_b = tiles
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    acc = A.dtype.type(0)
    for start in range(0, K, TILE):
        ka = start + tx
        if row < M and ka < K:
            tile_a[ty, tx] = A[a_off + ka * lda + row] if trans_a else A[a_off + row * lda + ka]
        else:
            tile_a[ty, tx] = 0
        kb = start + ty
        if kb < K and col < N:
            tile_b[ty, tx] = B[b_off + col * ldb + kb] if trans_b else B[b_off + kb * ldb + col]
        else:
            tile_b[ty, tx] = 0
        cuda.syncthreads()
        for k in range(TILE):
            acc += tile_a[ty, k] * tile_b[k, tx]
        cuda.syncthreads()
    return acc
