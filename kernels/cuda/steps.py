"""The persistent GPU step kernel: the twin of :mod:`kernels.steps`, one launch per chunk of steps.

A training step of these networks is microseconds of arithmetic, while launching
a kernel from Python costs tens of microseconds; the earlier GPU path launched
about 26 kernels per step and ran slower than the CPU. Here one launch runs a
whole chunk of steps, each step the CPU loop's sequence of phases:

    gather | layer 1 | ... | layer L | softmax rows | backward L | ... | backward 1 | update
    [| max-norm]

(the gather distorts the images when augmentation is on; the moving average of
the parameters goes with the update, or after max-norm when that is on). The
phases of a step depend on each other through global memory, so a grid-wide
barrier (``cuda.cg.this_grid().sync()``, which makes numba-cuda launch the
kernel cooperatively) separates them: ``2 L + 3`` barriers per step, one more
with max-norm. The
loss of the step is summed by block 0 while the other blocks start on the
backward pass; its thread 0 also runs the optimizer's ``coefficients`` (or, on a
NaN or infinite loss, raises ``halt``, after which every thread leaves before
the update, so the parameters stay those before the bad step, as on the CPU).

The buffers are the CPU's (layout in :mod:`kernels.steps`): one flat parameter
and gradient buffer, the flat activations with ``unit_offsets``, two ``delta``
ping-pong buffers, passed in the CPU loop's own records (:class:`kernels.steps.Structure`,
:class:`network.workspace.Workspace`, :class:`kernels.steps.Epoch`) holding
device arrays; :class:`network.cuda_trainer.CudaTrainer` uploads the very arrays
of the CPU's Workspace. Blocks are ``TILE x TILE``
threads (:data:`kernels.cuda.dense.THREADS`); products are tiled through shared
memory, element-wise phases are grid-stride loops.

Over 400 lines because the persistent kernel is one piece: every phase of a step (gather,
forward, loss, backward, update, max-norm, average) is a device function here, next to
the grid's barriers that order them.
"""

import math
import warnings
from functools import lru_cache

import numpy as np
from numba import cuda, float64, from_dtype, int64

from ..augment import bilinear_py, distortion_of, inverse_map_py, transform_py
from ..config import IDENTITY
from ..regularize import column_scale_py, ema_value_py
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
from .dropout import counter_uniform, dropout_backward, mask_value
from .losses import block_sum, row_loss_grad
from .optimizers import device_rule

# The CPU's own scalar functions (kernels.augment, kernels.regularize), compiled for the GPU.
transform = cuda.jit(device=True)(transform_py)
inverse_map = cuda.jit(device=True)(inverse_map_py)
bilinear = cuda.jit(device=True)(bilinear_py)
distortion = cuda.jit(device=True)(distortion_of(counter_uniform, transform))
column_scale = cuda.jit(device=True)(column_scale_py)
ema_value = cuda.jit(device=True)(ema_value_py)


@cuda.jit(device=True)
def grid_sync():
    """Wait until every thread of the grid gets here; their writes are visible after."""
    cuda.cg.this_grid().sync()


@cuda.jit(device=True)
def gather_batch(data, start, n, acts, y, dropout):
    """Layer 0 of ``acts`` <- the rows ``X[order[start : start + n]]``; ``y[:n]`` <- their labels.

    ``data`` is the :class:`kernels.steps.Epoch` record; row ``i`` of the batch
    lands at ``acts[i * features:]``. With ``data.augment.on`` each pixel is read
    through its sample's distortion (:mod:`kernels.augment`; every thread draws
    the distortion of the sample its pixel belongs to, from the same counters as
    the CPU). ``dropout`` is the input's ``(keep, scale, masks, seed, counter)``
    as in :func:`dense_forward` (input dropout when ``keep < 1``).
    """
    keep, scale, masks, seed, counter = dropout
    t, count = grid_thread()
    X, order, aug = data.X, data.order, data.augment
    features = X.shape[1]
    for e in range(t, n * features, count):
        i = e // features
        row = order[start + i]
        j = e - i * features
        value = augmented_pixel(X, row, aug, start + i, j) if aug.on else X[row, j]
        if keep < 1.0:
            m = mask_value(seed, counter + e, keep, scale)
            masks[e] = m
            value *= m
        acts[e] = value
        if j == 0:
            y[i] = data.labels[row]


@cuda.jit(device=True)
def augmented_pixel(X, row, aug, position, j):
    """Pixel ``j`` of ``X[row]`` distorted as the sample at ``position`` of the epoch
    (:func:`kernels.augment.augmented_row`, one pixel)."""
    angle, s, tx, ty, mirror = distortion(aug, position)
    a, b, e, c, d, f = inverse_map(aug.side, angle, s, tx, ty, mirror)
    y = j // aug.side
    x = j - y * aug.side
    return bilinear(X, row, aug.side, a * x + b * y + e, c * x + d * y + f)


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


@cuda.jit(device=True)
def dense_forward(params, net, acts, layer, n, single, dropout, tiles):
    """``out = f(x @ W + b)`` for ``layer`` (:func:`kernels.dense.dense_forward`), dropout fused.

    ``x`` and ``out`` are layers ``layer`` and ``layer + 1`` of ``acts`` for ``n``
    rows, ``W`` and ``b`` the layer's block of ``params``; hidden layers use
    ``net.act_code``, the last is linear. ``dropout`` is ``(keep, scale, masks,
    seed, counter)``: with ``keep < 1`` each hidden output is multiplied by a
    fresh mask entry (``scale`` or 0, drawn with ``counter + e`` for element
    ``e``), stored at the same place in ``masks``.
    """
    keep, scale, masks, seed, counter = dropout
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    hidden = layer < net.sizes.shape[0] - 2
    code = net.act_code if hidden else IDENTITY
    x_off, out_off = n * net.unit_offsets[layer], n * net.unit_offsets[layer + 1]
    w_off = net.param_offsets[layer]
    b_off = w_off + n_in * n_out
    cast = acts.dtype.type
    count, per_row = tile_count(n, n_out)
    for tile in range(cuda.blockIdx.x, count, cuda.gridDim.x):
        row, col = tile_element(tile, per_row)
        acc = tile_product(
            (acts, x_off, n_in, False),
            (params, w_off, n_out, False),
            n,
            n_out,
            n_in,
            row,
            col,
            tiles,
        )
        if row < n and col < n_out:
            e = row * n_out + col
            a = cast(activate(acc + params[b_off + col], code, single))
            if hidden and keep < 1.0:
                m = mask_value(seed, counter + e, keep, scale)
                masks[out_off + e] = m
                a *= m
            acts[out_off + e] = a


@cuda.jit(device=True)
def forward(params, net, acts, n, single, dropout, stride, tiles):
    """All layers on the ``n`` rows in layer 0 of ``acts`` (:func:`kernels.steps.forward`).

    ``dropout`` as in :func:`dense_forward`; layer ``l`` draws from counter
    ``counter + l * stride`` (``stride`` at least ``n`` times the widest layer,
    input included).
    A grid barrier follows each layer.
    """
    keep, scale, masks, seed, counter = dropout
    for l in range(net.sizes.shape[0] - 1):
        dense_forward(
            params, net, acts, l, n, single, (keep, scale, masks, seed, counter + l * stride), tiles
        )
        grid_sync()


@cuda.jit(device=True)
def loss_rows(net, acts, n, y, dz_buffer, row_loss, row_correct):
    """Per-row loss, correctness and dL/dz (into ``dz_buffer``) of the logits of ``n`` rows."""
    t, count = grid_thread()
    n_layers = net.sizes.shape[0] - 1
    k = net.sizes[n_layers]
    first = n * net.unit_offsets[n_layers]
    logits = acts[first : first + n * k].reshape((n, k))
    dz = dz_buffer[: n * k].reshape((n, k))
    for i in range(t, n, count):
        row_loss[i], row_correct[i] = row_loss_grad(logits, y, i, net.loss_code, dz, n)


@cuda.jit(device=True)
def dense_backward(params, grads, net, work, layer, n, delta, upstream, weight_decay, keep, tiles):
    """One layer's backward pass (:func:`kernels.steps.forward_backward`), in one phase.

    ``dW = x.T @ delta + weight_decay * W`` (tiled), ``db = sum_i delta[i]`` (one
    thread per column) and, below the first layer, ``upstream = (delta @ W.T) *
    f'(z)`` (tiled; dropout's backward with ``keep < 1``, the masks in ``work.masks``).
    """
    t, count = grid_thread()
    cast = params.dtype.type
    wd = cast(weight_decay)
    n_in, n_out = net.sizes[layer], net.sizes[layer + 1]
    w_off = net.param_offsets[layer]
    b_off = w_off + n_in * n_out
    x_off = n * net.unit_offsets[layer]
    acts = work.acts
    tiles_total, per_row = tile_count(n_in, n_out)
    for tile in range(cuda.blockIdx.x, tiles_total, cuda.gridDim.x):
        row, col = tile_element(tile, per_row)
        acc = tile_product(
            (acts, x_off, n_in, True), (delta, 0, n_out, False), n_in, n_out, n, row, col, tiles
        )
        if row < n_in and col < n_out:
            e = w_off + row * n_out + col
            grads[e] = acc + wd * params[e] if weight_decay != 0 else acc
    for j in range(t, n_out, count):
        acc = cast(0)
        for i in range(n):
            acc += delta[i * n_out + j]
        grads[b_off + j] = acc
    if layer > 0:
        tiles_total, per_row = tile_count(n, n_in)
        for tile in range(cuda.blockIdx.x, tiles_total, cuda.gridDim.x):
            row, col = tile_element(tile, per_row)
            acc = tile_product(
                (delta, 0, n_out, False),
                (params, w_off, n_out, True),
                n,
                n_in,
                n_out,
                row,
                col,
                tiles,
            )
            if row < n and col < n_in:
                e = row * n_in + col
                a = acts[x_off + e]
                if keep < 1.0:
                    m = work.masks[x_off + e]
                    upstream[e] = dropout_backward(acc, a, m, cast(keep), net.act_code)
                else:
                    upstream[e] = acc * derivative(a, net.act_code)


@cuda.jit(device=True)
def backward(params, grads, net, work, n, weight_decay, keep, tiles):
    """dL/dparams into ``grads``, from dL/dz of the last layer in ``work.delta_a``; a grid
    barrier follows each layer (:func:`dense_backward`)."""
    delta, spare = work.delta_a, work.delta_b
    for l in range(net.sizes.shape[0] - 2, -1, -1):
        dense_backward(params, grads, net, work, l, n, delta, spare, weight_decay, keep, tiles)
        grid_sync()
        delta, spare = spare, delta


@lru_cache(maxsize=None)
def train_steps_kernel(optimizer, dtype):
    """The step kernel for one registered optimizer and one dtype (compiled on first launch).

    Launch with ``[blocks, (TILE, TILE)]`` (:func:`cooperative_blocks`) as
    ``kernel(data, first_step, n_steps, params, grads, net, work, reg, rule, out,
    gpu)``: the arguments of :func:`kernels.steps.train_steps`
    (records of device arrays; ``rule`` is ``(slots, hyper, scalars)`` with the
    ``Hyper`` record by value; ``out`` is ``(losses, corrects)``), without the
    compiled ``update`` (the kernel has the optimizer built in), plus ``gpu``,
    the device's own state: ``(seed, draws, coef, row_loss, row_correct, halt)``:

    ``seed, draws``
        Dropout's seed and the counter of the chunk's first draw (step ``s``,
        hidden layer ``l`` draws from ``draws + (s * L + l) * stride``, the input
        from ``l = L - 1``, the output layer's unused slot; ``stride =
        len(work.masks)``; the caller advances ``draws`` by ``n_steps * L * stride``).
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
        data, first_step, n_steps, params, grads, net, work, reg, rule, out, gpu
    ):
        tiles = (
            cuda.shared.array((TILE, TILE), dtype=nb_type),
            cuda.shared.array((TILE, TILE), dtype=nb_type),
        )
        partial_loss = cuda.shared.array(THREADS, dtype=float64)
        partial_hits = cuda.shared.array(THREADS, dtype=int64)
        slots, hyper, scalars = rule
        losses, corrects = out
        seed, draws, coef, row_loss, row_correct, halt = gpu
        t, count = grid_thread()
        total = data.order.shape[0]
        n_layers = net.sizes.shape[0] - 1
        stride = work.masks.shape[0]
        keep, weight_decay = reg.keep, reg.weight_decay
        scale = params.dtype.type(1.0 / keep)
        input_scale = params.dtype.type(1.0 / reg.input_keep)
        # Without max-norm the average of element k follows its update in the same thread.
        average_with_update = reg.ema_decay > 0 and reg.max_norm <= 0
        decay = params.dtype.type(reg.ema_decay)
        for s in range(n_steps):
            start = (first_step + s) * data.batch_size
            n = min(data.batch_size, total - start)
            first_draw = draws + s * n_layers * stride
            input_draws = first_draw + (n_layers - 1) * stride
            inputs = (reg.input_keep, input_scale, work.masks, seed, input_draws)
            gather_batch(data, start, n, work.acts, work.y_batch, inputs)
            grid_sync()
            dropout = (keep, scale, work.masks, seed, first_draw)
            forward(params, net, work.acts, n, single, dropout, stride, tiles)
            loss_rows(net, work.acts, n, work.y_batch, work.delta_a, row_loss, row_correct)
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
            backward(params, grads, net, work, n, weight_decay, keep, tiles)
            if halt[0] != 0:  # written before the backward pass's barriers: all threads agree
                return
            for k in range(t, params.shape[0], count):
                update_element(k, params, grads, slots, coef)
                if average_with_update:
                    reg.ema[k] = ema_value(reg.ema[k], params[k], decay)
            grid_sync()
            if reg.max_norm > 0:
                max_norm(params, net, reg.max_norm)
                grid_sync()
                if reg.ema_decay > 0:  # only this thread touches ema[k]: no barrier after
                    for k in range(t, params.shape[0], count):
                        reg.ema[k] = ema_value(reg.ema[k], params[k], decay)

    return train_steps_kernel


@lru_cache(maxsize=None)
def evaluate_kernel(dtype):
    """The evaluation kernel for one dtype: a whole dataset in one launch.

    ``evaluate_kernel(X, labels, params, net, work, chunk, row_loss, row_correct)``
    runs the forward pass over ``chunk`` rows at a time (the work buffers' size, as
    :func:`kernels.steps.evaluate`) and writes every sample's loss and correctness
    into ``row_loss`` and ``row_correct`` (length ``len(X)``); the caller sums them.
    """
    nb_type = from_dtype(dtype)
    single = np.dtype(dtype) == np.float32

    @cuda.jit
    def evaluate_kernel(X, labels, params, net, work, chunk, row_loss, row_correct):
        tiles = (
            cuda.shared.array((TILE, TILE), dtype=nb_type),
            cuda.shared.array((TILE, TILE), dtype=nb_type),
        )
        t, count = grid_thread()
        total, features = X.shape
        acts = work.acts
        no_dropout = (1.0, params.dtype.type(1), acts, 0, 0)
        for start in range(0, total, chunk):
            n = min(chunk, total - start)
            for e in range(t, n * features, count):
                i = e // features
                acts[e] = X[start + i, e - i * features]
            grid_sync()
            forward(params, net, acts, n, single, no_dropout, 0, tiles)
            loss_rows(
                net,
                acts,
                n,
                labels[start : start + n],
                work.delta_a,
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
