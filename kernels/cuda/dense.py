"""Dense layers on the GPU: device functions of the persistent step kernel.

Shapes and math are those of :mod:`kernels.dense` and :mod:`kernels.activations`;
the arrays are the CPU's flat buffers (layout in :mod:`kernels.steps`), addressed
by offset and row length instead of through 2-D views. Every function here is
called by all threads of a ``TILE x TILE`` block (:data:`THREADS` threads) of
:mod:`kernels.cuda.steps`; the products split their output into ``TILE x TILE_COLS``
tiles, each computed by one block through shared memory, every thread keeping
``WIDE`` sums in registers.
"""

import math

import numpy as np
from numba import config, cuda

from ..activations import derivative as cpu_derivative
from ..activations import fast_tanh as cpu_fast_tanh
from ..config import RELU, SIGMOID, TANH

#: Rows of the output tile one block computes at a time, and of a row slice (the rows of a
#: batch one block carries through every layer, :mod:`kernels.cuda.steps`). Blocks are
#: ``TILE x TILE`` threads. 4 on Numba's CUDA simulator, which runs every thread of a block
#: as a Python thread: the same code on 16 threads instead of 256 made the simulated training
#: tests 3.4-4.2x faster (docs/development.md), and the tests' small shapes then cross tile
#: edges more often. The compile for a real GPU (tests/kernels/ptx_compile.py) keeps 16.
TILE = 4 if config.ENABLE_CUDASIM else 16
#: Outputs per thread along a tile's row: a tile is ``TILE x TILE_COLS``, each thread keeping
#: ``WIDE`` sums in registers (:func:`tile_product`; the code spells out its four sums).
WIDE = 4
#: Columns of an output tile.
TILE_COLS = TILE * WIDE
#: Threads per block of the step kernel.
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
    """``(tiles in all, tiles per row of tiles)`` covering a ``(rows, cols)`` output with
    ``TILE x TILE_COLS`` tiles."""
    per_row = (cols + TILE_COLS - 1) // TILE_COLS
    return ((rows + TILE - 1) // TILE) * per_row, per_row


@cuda.jit(device=True)
def tile_element(tile, per_row):
    """``(row, col)`` of this thread's first output in ``tile``; its others are ``col + j *
    TILE`` for ``j < WIDE``."""
    return (
        (tile // per_row) * TILE + cuda.threadIdx.y,
        (tile % per_row) * TILE_COLS + cuda.threadIdx.x,
    )


@cuda.jit(device=True)
def operand(X, off, ld, trans, r, k, rows, depth, ones_row):
    """``op(X)[r, k]`` of an operand ``(X, off, ld, trans)`` of :func:`tile_product` (see
    there), 0 outside its ``(rows, depth)`` and 1 on row ``ones_row``."""
    if r >= rows or k >= depth:
        return X.dtype.type(0)
    if r == ones_row:
        return X.dtype.type(1)
    return X[off + k * ld + r] if trans else X[off + r * ld + k]


@cuda.jit(device=True)
def tile_product(a, b, M, N, K, row, col, tiles, ones_row):
    """Elements ``(row, col + j * TILE)``, ``j < WIDE``, of ``op(A) @ op(B)``, through shared
    memory; all threads of a block.

    ``op(A)`` is (M, K) and ``op(B)`` is (K, N). Each operand is a tuple
    ``(array, offset, row_length, transposed)``: ``op(A)[r, k]`` is
    ``A[offset + r*row_length + k]``, or ``A[offset + k*row_length + r]`` when
    transposed (A stored as (K, M)); likewise ``B``. So the three products of a
    dense layer, ``x @ W``, ``x.T @ delta`` and ``delta @ W.T``, need no copies.
    Row ``ones_row`` of ``op(A)`` (-1: none) is all ones, so that row of the product is
    the column sums of ``op(B)``: the bias gradient ``sum_i delta[i]`` comes out of the
    weight gradient's own tiles, in parallel, where the parameter layout puts ``b`` (the
    row after ``W``).

    ``tiles`` is the block's ``(TILE, TILE)`` and ``(TILE, TILE_COLS)`` shared arrays;
    edges are padded with zeros there. Each thread keeps its ``WIDE`` sums in registers, so
    every ``op(A)`` element it reads from shared memory feeds ``WIDE`` products, and reads
    the next slice of ``K`` from global memory into registers before it multiplies the
    current one, so the loads' latency overlaps the arithmetic. Returns zeros for outputs
    outside the matrix (every thread must take part, for the syncs).
    """
    A, a_off, lda, trans_a = a
    B, b_off, ldb, trans_b = b
    tile_a, tile_b = tiles
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    zero = A.dtype.type(0)
    acc0 = acc1 = acc2 = acc3 = zero
    # This thread's share of the first slice: op(A)[row, tx] and op(B)[ty, col + j*TILE].
    next_a = operand(A, a_off, lda, trans_a, row, tx, M, K, ones_row)
    next_b0 = operand(B, b_off, ldb, not trans_b, col, ty, N, K, -1)
    next_b1 = operand(B, b_off, ldb, not trans_b, col + TILE, ty, N, K, -1)
    next_b2 = operand(B, b_off, ldb, not trans_b, col + 2 * TILE, ty, N, K, -1)
    next_b3 = operand(B, b_off, ldb, not trans_b, col + 3 * TILE, ty, N, K, -1)
    for start in range(0, K, TILE):
        tile_a[ty, tx] = next_a
        tile_b[ty, tx] = next_b0
        tile_b[ty, tx + TILE] = next_b1
        tile_b[ty, tx + 2 * TILE] = next_b2
        tile_b[ty, tx + 3 * TILE] = next_b3
        cuda.syncthreads()
        ka, kb = start + TILE + tx, start + TILE + ty  # the next slice (zeros past K)
        next_a = operand(A, a_off, lda, trans_a, row, ka, M, K, ones_row)
        next_b0 = operand(B, b_off, ldb, not trans_b, col, kb, N, K, -1)
        next_b1 = operand(B, b_off, ldb, not trans_b, col + TILE, kb, N, K, -1)
        next_b2 = operand(B, b_off, ldb, not trans_b, col + 2 * TILE, kb, N, K, -1)
        next_b3 = operand(B, b_off, ldb, not trans_b, col + 3 * TILE, kb, N, K, -1)
        for k in range(TILE):
            v = tile_a[ty, k]
            acc0 += v * tile_b[k, tx]
            acc1 += v * tile_b[k, tx + TILE]
            acc2 += v * tile_b[k, tx + 2 * TILE]
            acc3 += v * tile_b[k, tx + 3 * TILE]
        cuda.syncthreads()
    return acc0, acc1, acc2, acc3
