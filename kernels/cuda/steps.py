"""The persistent GPU step kernel: the twin of :mod:`kernels.steps`, one launch per chunk of steps.

A training step of these networks is microseconds of arithmetic, while launching
a kernel from Python costs tens of microseconds; so one launch runs a whole chunk
of steps. Each step is two phases with a grid-wide barrier after each
(``cuda.cg.this_grid().sync()``, which makes numba-cuda launch the kernel
cooperatively), after tiny-cuda-nn's fully fused MLP (NVlabs,
``fully_fused_mlp.cu``):

1. **Rows** (:func:`row_slice_step`): the batch is cut into slices of
   :data:`~kernels.cuda.dense.TILE` rows and each block carries its slices through
   the whole network: gather (distorted when augmentation is on, input dropout),
   every layer's forward pass, the softmax loss of each row and the chain of
   ``delta`` back to the first hidden layer. A row of the batch needs no other
   row until the weight gradient, so the layers are separated by the block's own
   ``syncthreads``, not by grid barriers.
2. **Weights** (:func:`gradient_and_update`): the tiles of every layer's
   ``[W; b]`` gradient, ``[x, 1].T @ delta`` (the bias row is the product's row of
   ones), spread over the grid; each thread applies the optimizer's update to the
   parameters it just differentiated (and the moving average), while they are in
   its registers. Every block first sums the step's loss from the rows' (all
   blocks get the same sum, so no block waits on another to learn it) and its
   thread 0 computes the optimizer's coefficients into shared memory.

So a step crosses :func:`barriers_per_step` grid barriers: 2, or 3 with max-norm
(the cap needs a column's updated weights, so it runs after a barrier of its own,
and the average after another). A NaN or infinite loss stops every thread before
that step's update, so the parameters stay those before the bad step, as on the
CPU, and raises ``halt``, which makes a chunk launched after it train nothing.

The buffers are the CPU's (layout in :mod:`kernels.steps`): one flat parameter
and gradient buffer and the flat activations with ``unit_offsets``, passed in the
CPU loop's own records (:class:`kernels.steps.Structure`,
:class:`network.workspace.Workspace`, :class:`kernels.steps.Epoch`) holding device
arrays; :class:`network.cuda_trainer.CudaTrainer` uploads the very arrays of the
CPU's Workspace. The weight gradient needs every layer's ``delta`` at once, so
they live in :class:`DeviceState`'s ``deltas``, laid out like ``acts`` (layer
``l``'s dL/dz where its activations are).

Over 400 lines because the persistent kernel is one piece: every phase of a step (gather,
forward, loss, backward, update, max-norm, average) is a device function here, next to
the grid's barriers that order them.
"""

import math
import warnings
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import cuda, float64, from_dtype, int64

from ..augment import bilinear_of, distortion_of, inverse_map_py, transform_py
from ..config import IDENTITY
from ..pixels import input_value_py
from ..regularize import column_scale_py, ema_value_py
from .dense import (
    THREADS,
    TILE,
    TILE_COLS,
    WIDE,
    activate,
    block_thread,
    derivative,
    grid_thread,
    tile_count,
    tile_element,
    tile_product,
)
from .dropout import counter_uniform, dropout_backward, mask_value
from .losses import block_sum, row_loss_grad
from .optimizers import device_rule
from .timer import global_timer

# The CPU's own scalar functions (kernels.augment, kernels.pixels, kernels.regularize),
# compiled for the GPU.
transform = cuda.jit(device=True)(transform_py)
inverse_map = cuda.jit(device=True)(inverse_map_py)
input_value = cuda.jit(device=True)(input_value_py)
bilinear = cuda.jit(device=True)(bilinear_of(input_value))
distortion = cuda.jit(device=True)(distortion_of(counter_uniform, transform))
column_scale = cuda.jit(device=True)(column_scale_py)
ema_value = cuda.jit(device=True)(ema_value_py)


class DeviceState(NamedTuple):
    """The step kernel's own device state, besides the CPU loop's records.

    ``seed, draws``
        Dropout's seed and the counter of the chunk's first draw (step ``s``,
        hidden layer ``l`` draws from ``draws + (s * L + l) * stride``, the input
        from ``l = L - 1``, the output layer's unused slot; ``stride =
        len(work.masks)``; the caller advances ``draws`` by ``n_steps * L * stride``).
    ``deltas`` : (rows * sum(sizes),), the parameters' dtype
        dL/dz of every layer, laid out like ``work.acts``.
    ``row_loss``, ``row_correct`` : float64, int64 (rows,)
        Each row's loss and correctness.
    ``halt`` : int32 (1,)
        Raised at a non-finite loss; a launch finding it raised trains nothing (the
        caller lowers it).
    ``stamps`` : int64 (1 + n_steps * barriers_per_step,) or (1,)
        Opt-in phase timing: when longer than one element, thread 0 of block 0 writes
        the GPU's global timer (ns) at the start and after every grid barrier.
    """

    seed: int
    draws: int
    deltas: object
    row_loss: object
    row_correct: object
    halt: object
    stamps: object


def barriers_per_step(max_norm):
    """Grid barriers in one training step: 2, one more with max-norm (``max_norm > 0``)."""
    return 3 if max_norm > 0 else 2


@cuda.jit(device=True)
def grid_sync():
    """Wait until every thread of the grid gets here; their writes are visible after."""
    cuda.cg.this_grid().sync()


@cuda.jit(device=True)
def barrier(stamps, mark):
    """:func:`grid_sync`, then (with ``stamps`` on) the global timer into ``stamps[mark]``;
    returns ``mark + 1``. Every grid barrier of the kernels goes through here, so the
    stamps count them."""
    grid_sync()
    if stamps.shape[0] > 1 and mark < stamps.shape[0] and cuda.blockIdx.x == 0:
        if block_thread() == 0:
            stamps[mark] = global_timer()
    return mark + 1


@cuda.jit(device=True)
def gather_rows(X, pixel_scale, order, labels, aug, start, n, r0, acts, y, dropout):
    """Rows ``r0 .. r0 + TILE`` (below ``n``) of layer 0 of ``acts`` <- ``X[order[start + i]]``,
    ``y[i]`` <- their labels; all threads of a block. ``pixel_scale``: None, or that of
    ``X``'s uint8 pixels (:mod:`kernels.pixels`).

    Row ``i`` of the batch lands at ``acts[i * features:]``. With ``aug.on`` each pixel
    is read through its sample's distortion (:mod:`kernels.augment`; every thread draws
    the distortion of the sample its pixel belongs to, from the same counters as the
    CPU). ``dropout`` is the input's ``(keep, scale, masks, seed, counter)`` as in
    :func:`dense_rows` (input dropout when ``keep < 1``).
    """
    keep, scale, masks, seed, counter = dropout
    features = X.shape[1]
    stop = min(r0 + TILE, n) * features
    for e in range(r0 * features + block_thread(), stop, THREADS):
        i = e // features
        row = order[start + i]
        j = e - i * features
        if aug.on:  # the distortion's sum, stored in the inputs' dtype as on the CPU
            value = acts.dtype.type(augmented_pixel(X, pixel_scale, row, aug, start + i, j))
        else:
            value = input_value(X, pixel_scale, row, j)
        if keep < 1.0:
            m = mask_value(seed, counter + e, keep, scale)
            masks[e] = m
            value *= m
        acts[e] = value
        if j == 0:
            y[i] = labels[row]


@cuda.jit(device=True)
def augmented_pixel(X, pixel_scale, row, aug, position, j):
    """Pixel ``j`` of ``X[row]`` distorted as the sample at ``position`` of the epoch
    (:func:`kernels.augment.augmented_row`, one pixel)."""
    angle, s, tx, ty, mirror = distortion(aug, position)
    a, b, e, c, d, f = inverse_map(aug.side, angle, s, tx, ty, mirror)
    y = j // aug.side
    x = j - y * aug.side
    return bilinear(X, pixel_scale, row, aug.side, a * x + b * y + e, c * x + d * y + f)


@cuda.jit(device=True)
def dense_rows(params, net, acts, layer, n, r0, single, dropout, tiles):
    """``out = f(x @ W + b)`` of ``layer`` (:func:`kernels.dense.dense_forward`) for the
    block's row slice ``r0 .. r0 + TILE``, dropout fused; all threads of a block.

    ``x`` and ``out`` are layers ``layer`` and ``layer + 1`` of ``acts`` laid out for
    ``n`` rows, ``W`` and ``b`` the layer's block of ``params``; hidden layers use
    ``net.act_code``, the last is linear. ``dropout`` is ``(keep, scale, masks, seed,
    counter)``: with ``keep < 1`` each hidden output is multiplied by a fresh mask entry
    (``scale`` or 0, drawn with ``counter + e`` for element ``e``), stored at the same
    place in ``masks``. Ends with a block barrier: the next layer reads every thread's
    outputs.
    """
    keep, scale, masks, seed, counter = dropout
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    hidden = layer < net.sizes.shape[0] - 2
    code = net.act_code if hidden else IDENTITY
    x_off, out_off = n * net.unit_offsets[layer], n * net.unit_offsets[layer + 1]
    w_off = net.param_offsets[layer]
    b_off = w_off + n_in * n_out
    cast = acts.dtype.type
    row = r0 + cuda.threadIdx.y
    for col0 in range(cuda.threadIdx.x, n_out + cuda.threadIdx.x, TILE_COLS):
        sums = tile_product(
            (acts, x_off, n_in, False),
            (params, w_off, n_out, False),
            n,
            n_out,
            n_in,
            row,
            col0,
            tiles,
            -1,
        )
        for j in range(WIDE):
            col = col0 + j * TILE
            if row < n and col < n_out:
                e = row * n_out + col
                a = cast(activate(sums[j] + params[b_off + col], code, single))
                if hidden and keep < 1.0:
                    m = mask_value(seed, counter + e, keep, scale)
                    masks[out_off + e] = m
                    a *= m
                acts[out_off + e] = a
    cuda.syncthreads()


@cuda.jit(device=True)
def forward_rows(params, net, acts, n, r0, single, dropout, stride, tiles):
    """Every layer on the block's row slice ``r0 .. r0 + TILE`` of the ``n`` rows in layer 0
    of ``acts`` (:func:`kernels.steps.forward`); layer ``l`` draws its dropout from counter
    ``counter + l * stride`` (``stride`` at least ``n`` times the widest layer, input
    included)."""
    keep, scale, masks, seed, counter = dropout
    for l in range(net.sizes.shape[0] - 1):
        layer_dropout = (keep, scale, masks, seed, counter + l * stride)
        dense_rows(params, net, acts, l, n, r0, single, layer_dropout, tiles)


@cuda.jit(device=True)
def loss_rows(net, acts, n, r0, y, deltas, row_loss, row_correct):
    """Loss, correctness and dL/dz (into the last layer of ``deltas``) of the logits of the
    block's rows ``r0 .. r0 + TILE``; one thread per row, then a block barrier."""
    n_layers = net.sizes.shape[0] - 1
    k = net.sizes[n_layers]
    first = n * net.unit_offsets[n_layers]
    logits = acts[first : first + n * k].reshape((n, k))
    dz = deltas[first : first + n * k].reshape((n, k))
    i = r0 + block_thread()
    if block_thread() < TILE and i < n:
        row_loss[i], row_correct[i] = row_loss_grad(logits, y, i, net.loss_code, dz, n)
    cuda.syncthreads()


@cuda.jit(device=True)
def delta_rows(params, net, work, deltas, layer, n, r0, keep, tiles):
    """dL/dz of the input of ``layer`` (a hidden layer's output), ``(delta @ W.T) * f'(z)``,
    for the block's rows ``r0 .. r0 + TILE`` (:func:`kernels.steps.forward_backward`), from
    ``delta``, dL/dz of the layer's output; both in ``deltas``. Dropout's backward with
    ``keep < 1`` (the masks in ``work.masks``). Ends with a block barrier."""
    cast = params.dtype.type
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    w_off = net.param_offsets[layer]
    x_off, out_off = n * net.unit_offsets[layer], n * net.unit_offsets[layer + 1]
    acts = work.acts
    row = r0 + cuda.threadIdx.y
    for col0 in range(cuda.threadIdx.x, n_in + cuda.threadIdx.x, TILE_COLS):
        sums = tile_product(
            (deltas, out_off, n_out, False),
            (params, w_off, n_out, True),
            n,
            n_in,
            n_out,
            row,
            col0,
            tiles,
            -1,
        )
        for j in range(WIDE):
            col = col0 + j * TILE
            if row < n and col < n_in:
                e = x_off + row * n_in + col
                a = acts[e]
                if keep < 1.0:
                    deltas[e] = dropout_backward(
                        sums[j], a, work.masks[e], cast(keep), net.act_code
                    )
                else:
                    deltas[e] = sums[j] * derivative(a, net.act_code)
    cuda.syncthreads()


@cuda.jit(device=True)
def row_slice_step(
    data, start, n, r0, params, net, work, gpu, inputs, dropout, stride, single, tiles
):
    """Phase 1 of a step for the block's rows ``r0 .. r0 + TILE``: gather, forward, loss and
    every layer's dL/dz down to the first hidden layer's (into ``gpu.deltas``)."""
    acts = work.acts
    gather_rows(
        data.X, data.pixel_scale, data.order, data.labels, data.augment, start, n, r0, acts,
        work.y_batch, inputs,
    )  # fmt: skip
    cuda.syncthreads()
    forward_rows(params, net, acts, n, r0, single, dropout, stride, tiles)
    loss_rows(net, acts, n, r0, work.y_batch, gpu.deltas, gpu.row_loss, gpu.row_correct)
    for l in range(net.sizes.shape[0] - 2, 0, -1):
        delta_rows(params, net, work, gpu.deltas, l, n, r0, dropout[0], tiles)


@lru_cache(maxsize=None)
def weight_phase(optimizer):
    """Phase 2 of a step with ``optimizer``'s update built in: the device function
    ``gradient_and_update(params, grads, net, work, deltas, n, reg, slots, coef, tiles)``.

    It forms ``[dW; db] = [x, 1].T @ delta + weight_decay * [W; 0]`` of every layer in
    tiles spread over the grid and applies the update (and the average, when on without
    max-norm) to each parameter right after its gradient is in ``grads``, with the step's
    coefficients ``coef``. The tiles of all layers form one sequence that the blocks take
    in turn, so no block starts every layer's first tile.
    """
    _, update_element = device_rule(optimizer)

    @cuda.jit(device=True)
    def gradient_and_update(params, grads, net, work, deltas, n, reg, slots, coef, tiles):
        cast = params.dtype.type
        wd = cast(reg.weight_decay)
        decay = cast(reg.ema_decay)
        average = reg.ema_decay > 0 and reg.max_norm <= 0  # else after max-norm
        first_of_layer = 0
        for l in range(net.sizes.shape[0] - 1):
            n_in, n_out = net.sizes[l], net.sizes[l + 1]
            w_off = net.param_offsets[l]
            x_off, d_off = n * net.unit_offsets[l], n * net.unit_offsets[l + 1]
            count, per_row = tile_count(n_in + 1, n_out)
            mine = (cuda.blockIdx.x - first_of_layer) % cuda.gridDim.x
            for tile in range(mine, count, cuda.gridDim.x):
                row, col0 = tile_element(tile, per_row)
                sums = tile_product(
                    (work.acts, x_off, n_in, True),
                    (deltas, d_off, n_out, False),
                    n_in + 1,
                    n_out,
                    n,
                    row,
                    col0,
                    tiles,
                    n_in,
                )
                for j in range(WIDE):
                    col = col0 + j * TILE
                    if row <= n_in and col < n_out:
                        e = w_off + row * n_out + col  # row n_in: the bias, right after W
                        g = sums[j]
                        if row < n_in and reg.weight_decay != 0:
                            g += wd * params[e]
                        grads[e] = g
                        update_element(e, params, grads, slots, coef)
                        if average:
                            reg.ema[e] = ema_value(reg.ema[e], params[e], decay)
            first_of_layer += count

    return gradient_and_update


@cuda.jit(device=True)
def max_norm(params, net, limit):
    """Cap every hidden unit's incoming weight vector at norm ``limit``
    (:func:`kernels.regularize.max_norm`): one thread per column of each hidden layer's
    ``W``, so the threads of a warp read neighbouring elements of a row together; the
    squares are summed in float64."""
    t, count = grid_thread()
    sizes = net.sizes
    for l in range(sizes.shape[0] - 2):
        n_in, n_out = sizes[l], sizes[l + 1]
        w_off = net.param_offsets[l]
        for j in range(t, n_out, count):
            total = 0.0
            for i in range(n_in):
                w = float64(params[w_off + i * n_out + j])
                total += w * w
            scale = column_scale(total, limit)
            if scale != 1.0:
                for i in range(n_in):
                    e = w_off + i * n_out + j
                    params[e] = params[e] * scale


@lru_cache(maxsize=None)
def train_steps_kernel(optimizer, dtype):
    """The step kernel for one registered optimizer and one dtype (compiled on first launch).

    Launch through :class:`Launch` (``[blocks, (TILE, TILE)]``) as
    ``kernel(data, first_step, n_steps, params, grads, net, work, reg, rule, out,
    gpu)``: the arguments of :func:`kernels.steps.train_steps` (records of device
    arrays; ``rule`` is ``(slots, hyper, scalars)`` with the ``Hyper`` record by
    value; ``out`` is ``(losses, corrects)``), without the compiled ``update`` (the
    kernel has the optimizer built in), plus ``gpu``, a :class:`DeviceState`.

    ``losses[s]`` and ``corrects[s]`` receive each step's mean loss and correct
    count, up to and including a non-finite loss.
    """
    nb_type = from_dtype(dtype)
    single = np.dtype(dtype) == np.float32
    coefficients, _ = device_rule(optimizer)
    gradient_and_update = weight_phase(optimizer)
    n_coefficients, n_scalars = optimizer.n_coefficients, optimizer.n_scalars
    # Array lengths must be constants of the kernel; an optimizer may have none of either.
    coef_length, scalars_length = max(n_coefficients, 1), max(n_scalars, 1)

    @cuda.jit
    def train_steps_kernel(
        data, first_step, n_steps, params, grads, net, work, reg, rule, out, gpu
    ):
        tiles = (
            cuda.shared.array((TILE, TILE), dtype=nb_type),
            cuda.shared.array((TILE, TILE_COLS), dtype=nb_type),
        )
        partial_loss = cuda.shared.array(THREADS, dtype=float64)
        partial_hits = cuda.shared.array(THREADS, dtype=int64)
        coef = cuda.shared.array(coef_length, dtype=float64)
        # Thread 0 of each block advances its own copy of the optimizer's scalars; the
        # grid's thread 0 stores its copy once every block has read the old ones.
        advanced = cuda.local.array(scalars_length, dtype=float64)
        if gpu.halt[0] != 0:
            return
        slots, hyper, scalars = rule
        losses, corrects = out
        t, count = grid_thread()
        leader = block_thread() == 0
        total = data.order.shape[0]
        n_layers = net.sizes.shape[0] - 1
        stride = work.masks.shape[0]
        keep = reg.keep
        scale = params.dtype.type(1.0 / keep)
        input_scale = params.dtype.type(1.0 / reg.input_keep)
        decay = params.dtype.type(reg.ema_decay)
        if gpu.stamps.shape[0] > 1 and t == 0:
            gpu.stamps[0] = global_timer()
        mark = 1  # the next stamp's index
        for s in range(n_steps):
            start = (first_step + s) * data.batch_size
            n = min(data.batch_size, total - start)
            first_draw = gpu.draws + s * n_layers * stride
            input_draws = first_draw + (n_layers - 1) * stride
            inputs = (reg.input_keep, input_scale, work.masks, gpu.seed, input_draws)
            dropout = (keep, scale, work.masks, gpu.seed, first_draw)
            for r0 in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
                row_slice_step(
                    data,
                    start,
                    n,
                    r0,
                    params,
                    net,
                    work,
                    gpu,
                    inputs,
                    dropout,
                    stride,
                    single,
                    tiles,
                )
            mark = barrier(gpu.stamps, mark)
            loss_sum, hits = block_sum(gpu.row_loss, gpu.row_correct, n, partial_loss, partial_hits)
            loss = loss_sum / n
            if t == 0:
                losses[s] = loss
                corrects[s] = hits
            if not math.isfinite(loss):  # every block sees the same sum: all leave here
                if t == 0:
                    gpu.halt[0] = 1
                return
            if leader:
                for i in range(n_scalars):
                    advanced[i] = scalars[i]
                c = coefficients(hyper, advanced, loss)
                for i in range(n_coefficients):
                    coef[i] = c[i]
            cuda.syncthreads()
            gradient_and_update(params, grads, net, work, gpu.deltas, n, reg, slots, coef, tiles)
            mark = barrier(gpu.stamps, mark)
            if t == 0:
                for i in range(n_scalars):
                    scalars[i] = advanced[i]
            if reg.max_norm > 0:
                max_norm(params, net, reg.max_norm)
                mark = barrier(gpu.stamps, mark)
                if reg.ema_decay > 0:  # only this thread touches ema[k]: no barrier after
                    for k in range(t, params.shape[0], count):
                        reg.ema[k] = ema_value(reg.ema[k], params[k], decay)

    return train_steps_kernel


@lru_cache(maxsize=None)
def evaluate_kernel(dtype):
    """The evaluation kernel for one dtype: a whole dataset in one launch.

    ``evaluate_kernel(X, labels, params, net, work, chunk, gpu)`` runs the forward pass
    over ``chunk`` rows at a time (the work buffers' size, as
    :func:`kernels.steps.evaluate`), each block on its row slices, and writes every
    sample's loss and correctness into ``gpu.row_loss`` and ``gpu.row_correct`` (length
    ``len(X)``; ``gpu`` a :class:`DeviceState`); the caller sums them. One grid barrier
    per chunk, before its buffers are reused.
    """
    nb_type = from_dtype(dtype)
    single = np.dtype(dtype) == np.float32

    @cuda.jit
    def evaluate_kernel(X, labels, params, net, work, chunk, gpu):
        tiles = (
            cuda.shared.array((TILE, TILE), dtype=nb_type),
            cuda.shared.array((TILE, TILE_COLS), dtype=nb_type),
        )
        total, features = X.shape
        acts = work.acts
        no_dropout = (1.0, params.dtype.type(1), acts, 0, 0)
        mark = 0
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            for r0 in range(cuda.blockIdx.x * TILE, n, cuda.gridDim.x * TILE):
                for e in range(
                    r0 * features + block_thread(), min(r0 + TILE, n) * features, THREADS
                ):
                    i = e // features
                    acts[e] = X[start + i, e - i * features]
                cuda.syncthreads()
                forward_rows(params, net, acts, n, r0, single, no_dropout, 0, tiles)
                loss_rows(
                    net,
                    acts,
                    n,
                    r0,
                    labels[start : start + n],
                    gpu.deltas,
                    gpu.row_loss[start : start + n],
                    gpu.row_correct[start : start + n],
                )
            mark = barrier(gpu.stamps, mark)

    return evaluate_kernel


class Launch:
    """A kernel compiled once for one set of argument types and sized once, launched many times.

    ``Launch(kernel, args, wanted, blocks=None)`` compiles ``kernel`` for ``args``' types
    and takes ``blocks`` blocks of :data:`THREADS` threads, or by default ``wanted``,
    capped at what the device keeps resident at once (a cooperative launch needs that).
    Calling it with arguments of those same types launches without numba-cuda's
    per-launch typing and dispatch, asynchronously; the simulator's kernels (which run
    one block: it cannot synchronise blocks) go through their usual call.
    """

    def __init__(self, kernel, args, wanted, blocks=None):
        self.kernel = kernel
        if not hasattr(kernel, "typeof_pyval"):  # the simulator's kernels
            self.compiled, self.blocks = None, 1
            return
        self.compiled = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
        resident = self.compiled.max_cooperative_grid_blocks(THREADS)
        self.blocks = max(1, min(int(wanted if blocks is None else blocks), resident))

    def __call__(self, args):
        if self.compiled is None:
            launch(self.kernel, self.blocks, args)
        else:
            self.compiled.launch(args, (self.blocks, 1, 1), (TILE, TILE, 1))


def launch(kernel, blocks, args):
    """``kernel[blocks, (TILE, TILE)](*args)``.

    Without numba-cuda's warning for grids under 128 blocks: these grids are sized
    on purpose (a cooperative launch cannot be larger than what stays resident, and
    a small network's phases have fewer tiles than that).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Grid size .* under-utilization")
        kernel[blocks, (TILE, TILE)](*args)
