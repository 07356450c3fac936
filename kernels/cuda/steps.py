"""The persistent GPU step kernel: the twin of :mod:`kernels.steps`, one launch per chunk of steps.

A training step of these networks is microseconds of arithmetic, while launching
a kernel from Python costs tens of microseconds; the earlier GPU path launched
about 26 kernels per step and ran slower than the CPU. Here one launch runs a
whole chunk of steps, each step the CPU loop's sequence of phases:

    gather | layer 1 | ... | layer L | softmax rows | backward L | ... | backward 1 | update

The phases of a step depend on each other through global memory, so a
grid-wide barrier (``cuda.cg.this_grid().sync()``, which makes numba-cuda launch
the kernel cooperatively) separates them: ``2 L + 3`` barriers per step. The
loss of the step is summed by block 0 while the other blocks start on the
backward pass; its thread 0 also runs the optimizer's ``coefficients`` (or, on a
NaN or infinite loss, raises ``halt``, after which every thread leaves before
the update, so the parameters stay those before the bad step, as on the CPU).

The buffers are the CPU's (layout in :mod:`kernels.steps`): one flat parameter
and gradient buffer, the flat activations with ``unit_offsets``, two ``delta``
ping-pong buffers; :class:`network.cuda_trainer.CudaTrainer` uploads the very
arrays of :class:`network.workspace.Workspace`. Blocks are ``TILE x TILE``
threads (:data:`kernels.cuda.dense.THREADS`); products are tiled through shared
memory, element-wise phases are grid-stride loops.
"""

import math
import warnings
from functools import lru_cache

import numpy as np
from numba import cuda, float64, from_dtype, int64

from ..config import IDENTITY
from .dense import (
    THREADS,
    TILE,
    activate,
    derivative,
    grid_thread,
    tile_count,
    tile_element,
    tile_product,
)
from .dropout import dropout_backward, mask_value
from .losses import block_sum, row_loss_grad
from .optimizers import device_rule


@cuda.jit(device=True)
def grid_sync():
    """Wait until every thread of the grid gets here; their writes are visible after."""
    cuda.cg.this_grid().sync()


@cuda.jit(device=True)
def gather_batch(X, labels, order, start, n, acts, y):
    """Layer 0 of ``acts`` <- the rows ``X[order[start : start + n]]``; ``y[:n]`` <- their labels.

    ``X`` is (N, features); row ``i`` of the batch lands at ``acts[i * features:]``.
    """
    t, count = grid_thread()
    features = X.shape[1]
    for e in range(t, n * features, count):
        i = e // features
        row = order[start + i]
        j = e - i * features
        acts[e] = X[row, j]
        if j == 0:
            y[i] = labels[row]


@cuda.jit(device=True)
def dense_forward(
    acts,
    params,
    n,
    n_in,
    n_out,
    x_off,
    w_off,
    out_off,
    code,
    single,
    keep,
    scale,
    masks,
    seed,
    counter,
    tile_a,
    tile_b,
):
    """``out = f(x @ W + b)`` for one layer (:func:`kernels.dense.dense_forward`), dropout fused.

    ``x`` is ``acts[x_off:]`` (n, n_in), ``W`` and ``b`` start at ``params[w_off]``,
    ``out`` is ``acts[out_off:]`` (n, n_out). With ``keep < 1`` each output is
    multiplied by a fresh mask entry (``scale`` or 0, drawn with ``counter + e``
    for element ``e``), stored at the same place in ``masks``.
    """
    b_off = w_off + n_in * n_out
    cast = acts.dtype.type
    tiles, per_row = tile_count(n, n_out)
    for tile in range(cuda.blockIdx.x, tiles, cuda.gridDim.x):
        row, col = tile_element(tile, per_row)
        acc = tile_product(
            acts,
            x_off,
            n_in,
            False,
            params,
            w_off,
            n_out,
            False,
            n,
            n_out,
            n_in,
            row,
            col,
            tile_a,
            tile_b,
        )
        if row < n and col < n_out:
            e = row * n_out + col
            a = cast(activate(acc + params[b_off + col], code, single))
            if keep < 1.0:
                m = mask_value(seed, counter + e, keep, scale)
                masks[out_off + e] = m
                a *= m
            acts[out_off + e] = a


@cuda.jit(device=True)
def forward(
    acts,
    params,
    sizes,
    param_offsets,
    unit_offsets,
    act_code,
    single,
    n,
    keep,
    scale,
    masks,
    seed,
    counter,
    stride,
    tile_a,
    tile_b,
):
    """All layers on the ``n`` rows in layer 0 of ``acts`` (:func:`kernels.steps.forward`).

    Hidden layers use ``act_code`` and dropout (``keep < 1``; layer ``l`` draws
    from counter ``counter + l * stride``, ``stride`` at least ``n`` times the
    widest layer), the last is linear. A grid barrier follows each layer.
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        hidden = l < n_layers - 1
        dense_forward(
            acts,
            params,
            n,
            sizes[l],
            sizes[l + 1],
            n * unit_offsets[l],
            param_offsets[l],
            n * unit_offsets[l + 1],
            act_code if hidden else IDENTITY,
            single,
            keep if hidden else 1.0,
            scale,
            masks,
            seed,
            counter + l * stride,
            tile_a,
            tile_b,
        )
        grid_sync()


@cuda.jit(device=True)
def loss_rows(acts, unit_offsets, sizes, n, y, loss_code, dz_buffer, row_loss, row_correct):
    """Per-row loss, correctness and dL/dz (into ``dz_buffer``) of the logits of ``n`` rows."""
    t, count = grid_thread()
    n_layers = sizes.shape[0] - 1
    k = sizes[n_layers]
    first = n * unit_offsets[n_layers]
    logits = acts[first : first + n * k].reshape((n, k))
    dz = dz_buffer[: n * k].reshape((n, k))
    for i in range(t, n, count):
        row_loss[i], row_correct[i] = row_loss_grad(logits, y, i, loss_code, dz, n)


@cuda.jit(device=True)
def backward(
    acts,
    params,
    grads,
    sizes,
    param_offsets,
    unit_offsets,
    act_code,
    weight_decay,
    n,
    delta_a,
    delta_b,
    keep,
    masks,
    tile_a,
    tile_b,
):
    """dL/dparams into ``grads``, from dL/dz of the last layer in ``delta_a``
    (:func:`kernels.steps.forward_backward`); a grid barrier follows each layer.

    Per layer, in one phase: ``dW = x.T @ delta + weight_decay * W`` (tiled),
    ``db = sum_i delta[i]`` (one thread per column) and, below the first layer,
    ``upstream = (delta @ W.T) * f'(z)`` (tiled; dropout's backward with ``keep < 1``).
    """
    t, count = grid_thread()
    cast = params.dtype.type
    wd = cast(weight_decay)
    keep_ = cast(keep)
    delta, spare = delta_a, delta_b
    for l in range(sizes.shape[0] - 2, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        w_off = param_offsets[l]
        b_off = w_off + n_in * n_out
        x_off = n * unit_offsets[l]
        tiles, per_row = tile_count(n_in, n_out)
        for tile in range(cuda.blockIdx.x, tiles, cuda.gridDim.x):
            row, col = tile_element(tile, per_row)
            acc = tile_product(
                acts,
                x_off,
                n_in,
                True,
                delta,
                0,
                n_out,
                False,
                n_in,
                n_out,
                n,
                row,
                col,
                tile_a,
                tile_b,
            )
            if row < n_in and col < n_out:
                e = w_off + row * n_out + col
                grads[e] = acc + wd * params[e] if weight_decay != 0 else acc
        for j in range(t, n_out, count):
            acc = cast(0)
            for i in range(n):
                acc += delta[i * n_out + j]
            grads[b_off + j] = acc
        if l > 0:
            tiles, per_row = tile_count(n, n_in)
            for tile in range(cuda.blockIdx.x, tiles, cuda.gridDim.x):
                row, col = tile_element(tile, per_row)
                acc = tile_product(
                    delta,
                    0,
                    n_out,
                    False,
                    params,
                    w_off,
                    n_out,
                    True,
                    n,
                    n_in,
                    n_out,
                    row,
                    col,
                    tile_a,
                    tile_b,
                )
                if row < n and col < n_in:
                    e = row * n_in + col
                    a = acts[x_off + e]
                    if keep < 1.0:
                        spare[e] = dropout_backward(acc, a, masks[x_off + e], keep_, act_code)
                    else:
                        spare[e] = acc * derivative(a, act_code)
        grid_sync()
        delta, spare = spare, delta


@lru_cache(maxsize=None)
def train_steps_kernel(optimizer, dtype):
    """The step kernel for one registered optimizer and one dtype (compiled on first launch).

    Launch with ``[blocks, (TILE, TILE)]`` (:func:`cooperative_blocks`) and the
    arguments of :func:`kernels.steps.train_steps`, with the optimizer's slots and
    scalars as device arrays and its ``Hyper`` record by value, plus:

    ``seed, draws``
        Dropout's seed and the counter of the chunk's first draw (step ``s``,
        layer ``l`` draw from ``draws + (s * L + l) * stride``, ``stride =
        len(delta_a)``; the caller advances ``draws`` by ``n_steps * L * stride``).
    ``coef`` : float64 (n_coefficients,)
        The step's coefficients, written by one thread, read by all.
    ``row_loss``, ``row_correct`` : float64, int64 (batch_size,)
        Each row's loss and correctness, summed by block 0.
    ``halt`` : int32 (1,)
        Raised at a non-finite loss; the kernel then stops before that step's
        update (the caller lowers it again before the next launch).

    ``losses[s]`` and ``corrects[s]`` receive each step's mean loss and correct
    count, up to and including a non-finite loss.
    """
    nb_type = from_dtype(dtype)
    single = np.dtype(dtype) == np.float32
    coefficients, update_element = device_rule(optimizer)
    n_coefficients = optimizer.n_coefficients

    @cuda.jit
    def train_steps_kernel(
        X,
        labels,
        order,
        first_step,
        n_steps,
        batch_size,
        params,
        grads,
        sizes,
        param_offsets,
        unit_offsets,
        act_code,
        loss_code,
        weight_decay,
        acts,
        delta_a,
        delta_b,
        y_batch,
        keep,
        masks,
        seed,
        draws,
        slots,
        hyper,
        scalars,
        coef,
        row_loss,
        row_correct,
        halt,
        losses,
        corrects,
    ):
        tile_a = cuda.shared.array((TILE, TILE), dtype=nb_type)
        tile_b = cuda.shared.array((TILE, TILE), dtype=nb_type)
        partial_loss = cuda.shared.array(THREADS, dtype=float64)
        partial_hits = cuda.shared.array(THREADS, dtype=int64)
        t, count = grid_thread()
        total = order.shape[0]
        n_layers = sizes.shape[0] - 1
        scale = params.dtype.type(1.0 / keep)
        for s in range(n_steps):
            start = (first_step + s) * batch_size
            n = min(batch_size, total - start)
            gather_batch(X, labels, order, start, n, acts, y_batch)
            grid_sync()
            forward(
                acts,
                params,
                sizes,
                param_offsets,
                unit_offsets,
                act_code,
                single,
                n,
                keep,
                scale,
                masks,
                seed,
                draws + s * n_layers * delta_a.shape[0],
                delta_a.shape[0],
                tile_a,
                tile_b,
            )
            loss_rows(
                acts, unit_offsets, sizes, n, y_batch, loss_code, delta_a, row_loss, row_correct
            )
            grid_sync()
            if cuda.blockIdx.x == 0:
                loss_sum, hits = block_sum(row_loss, row_correct, n, partial_loss, partial_hits)
                if t == 0:
                    loss = loss_sum / n
                    losses[s] = loss
                    corrects[s] = hits
                    if math.isfinite(loss):
                        c = coefficients(hyper, scalars, loss)
                        for i in range(n_coefficients):
                            coef[i] = c[i]
                    else:
                        halt[0] = 1
            backward(
                acts,
                params,
                grads,
                sizes,
                param_offsets,
                unit_offsets,
                act_code,
                weight_decay,
                n,
                delta_a,
                delta_b,
                keep,
                masks,
                tile_a,
                tile_b,
            )
            if halt[0] != 0:  # written before the backward pass's barriers: all threads agree
                return
            for k in range(t, params.shape[0], count):
                update_element(k, params, grads, slots, coef)
            grid_sync()

    return train_steps_kernel


@lru_cache(maxsize=None)
def evaluate_kernel(dtype):
    """The evaluation kernel for one dtype: a whole dataset in one launch.

    ``evaluate_kernel(X, labels, params, sizes, param_offsets, unit_offsets, act_code,
    loss_code, acts, delta_a, chunk, row_loss, row_correct)`` runs the forward pass
    over ``chunk`` rows at a time (the work buffers' size, as
    :func:`kernels.steps.evaluate`) and writes every sample's loss and correctness
    into ``row_loss`` and ``row_correct`` (length ``len(X)``); the caller sums them.
    """
    nb_type = from_dtype(dtype)
    single = np.dtype(dtype) == np.float32

    @cuda.jit
    def evaluate_kernel(
        X,
        labels,
        params,
        sizes,
        param_offsets,
        unit_offsets,
        act_code,
        loss_code,
        acts,
        delta_a,
        chunk,
        row_loss,
        row_correct,
    ):
        tile_a = cuda.shared.array((TILE, TILE), dtype=nb_type)
        tile_b = cuda.shared.array((TILE, TILE), dtype=nb_type)
        t, count = grid_thread()
        total, features = X.shape
        scale = params.dtype.type(1)
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            for e in range(t, n * features, count):
                i = e // features
                acts[e] = X[start + i, e - i * features]
            grid_sync()
            forward(
                acts,
                params,
                sizes,
                param_offsets,
                unit_offsets,
                act_code,
                single,
                n,
                1.0,
                scale,
                acts,
                0,
                0,
                0,
                tile_a,
                tile_b,
            )
            loss_rows(
                acts,
                unit_offsets,
                sizes,
                n,
                labels[start : start + n],
                loss_code,
                delta_a,
                row_loss[start : start + n],
                row_correct[start : start + n],
            )
            grid_sync()

    return evaluate_kernel


def cooperative_blocks(kernel, args, wanted):
    """Blocks of :data:`THREADS` threads to launch ``kernel(*args)`` with: ``wanted``,
    capped at what the device can keep resident at once (a cooperative launch needs that).

    Compiles the kernel for ``args`` if needed (the launch then reuses it). The
    simulator runs one block (it cannot synchronise blocks).
    """
    if not hasattr(kernel, "typeof_pyval"):  # the simulator's kernels
        return 1
    compiled = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
    return max(1, min(int(wanted), compiled.max_cooperative_grid_blocks(THREADS)))


def launch(kernel, blocks, args):
    """``kernel[blocks, (TILE, TILE)](*args)``.

    Without numba-cuda's warning for grids under 128 blocks: these grids are sized
    on purpose (a cooperative launch cannot be larger than what stays resident, and
    a small network's phases have fewer tiles than that).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Grid size .* under-utilization")
        kernel[blocks, (TILE, TILE)](*args)
