"""What no implementation of workload A's step can beat, timed over an epoch's steps.

* :func:`prepare_blas_floor`: the epoch's matrix products alone (same shapes, same BLAS,
  compiled, nothing else). No implementation that calls that BLAS is faster.
* :func:`prepare_step_floor`: the parts of nbnet's step that move its memory and nothing
  else, in one loop over the real buffers: each batch gathered from the shuffled uint8
  pixels, the same products, and the optimizer's exact update of each layer right after
  its gradient, as in :func:`kernels.steps.step_loop_py`. What the step costs before its
  element-wise work (bias and activation, the softmax, the derivatives, the bias
  gradients), with the caches as the real loop leaves them: the update streams the
  parameters and the optimizer's moments through them every step, the gather writes a new
  batch. The update runs on the threads nbnet's run gives it (``update`` threads;
  :func:`kernels.rules.rule_apply_threaded`).

Both are used by perf/bench_cpu.py and perf/breakdown.py (run from the repository root as
``python perf/<script>.py``).
"""

# First: kernels/__init__ picks the OpenBLAS kernels before NumPy loads its own.
from kernels import steps
from kernels.fpenv import flush_denormals
from kernels.pixels import PIXEL_SCALE
from kernels.rules import rule_apply, rule_apply_threaded, rule_coefficients, start_thread_pool

# isort: split
import numba
import numpy as np

import optimizers
from experiments.threads import blas_threads
from network import MLP


@numba.njit(nogil=True)
def _matrix_products(acts, weights, deltas, grads, steps):
    """The matrix products of ``steps`` training steps and nothing else.

    ``acts[l]`` is (B, n_l), ``weights[l]`` (n_l, n_{l+1}), ``deltas[l]`` and
    ``grads``' products as in a step: forward ``acts[l] @ W_l``, weight gradient
    ``acts[l].T @ deltas[l]``, input gradient ``deltas[l] @ W_l.T`` (not for the
    first layer), through the same BLAS that nbnet's kernels call.
    """
    n = len(weights)
    for _ in range(steps):
        for l in range(n):
            np.dot(acts[l], weights[l], acts[l + 1])
        for l in range(n - 1, -1, -1):
            np.dot(acts[l].T, deltas[l], grads[l])
            if l > 0:
                np.dot(deltas[l], weights[l].T, deltas[l - 1])


def prepare_blas_floor(batch, steps, sizes, blas=1):
    """An epoch's matrix products alone (no step can be faster), compiled and warmed up,
    on ``blas`` BLAS threads."""
    rng = np.random.default_rng(0)

    def uniform(*shape):
        return rng.uniform(-1, 1, shape).astype(np.float32)

    acts = tuple(uniform(batch, n) for n in sizes)
    weights = tuple(uniform(a, b) / np.float32(np.sqrt(a)) for a, b in zip(sizes[:-1], sizes[1:]))
    deltas = tuple(uniform(batch, n) for n in sizes[1:])
    grads = tuple(np.empty_like(w) for w in weights)
    _matrix_products(acts, weights, deltas, grads, 1)

    def epoch():
        with blas_threads(blas):
            _matrix_products(acts, weights, deltas, grads, steps)

    return epoch


@numba.njit(nogil=True)
def _products_gather_update(data, n_steps, params, grads, net, work, state, decay, top, threads):
    """:func:`kernels.steps.step_loop_py` without the element-wise work: the gather, the
    products and the update with weight decay ``decay`` (on ``threads``, None: the calling
    thread), over ``n_steps`` steps from step 0. ``top`` (batch, sizes[-1]) stands for
    every step's dL/dlogits (the loss is not computed)."""
    slots, hyper, scalars = state
    sizes = net.sizes
    n_layers = sizes.shape[0] - 1
    total, n_features = data.order.shape[0], data.X.shape[1]
    for s in range(n_steps):
        start = s * data.batch_size
        n = min(data.batch_size, total - start)
        x = steps._layer_view(work.acts, steps.FIRST, n, n_features)
        steps.gather_batch(
            data.X, data.pixel_scale, data.labels, data.order, None, start, n, x, work.y_batch
        )
        for l in range(n_layers):
            W = steps._layer_view(params, net.param_offsets[l], sizes[l], sizes[l + 1])
            a_in = steps._activations(work.acts, net, n, l)
            np.dot(a_in, W, steps._activations(work.acts, net, n, l + 1))
        c = rule_coefficients(hyper, scalars, 1.0)
        delta, spare, current = top[:n], work.delta_b, work.delta_a
        for l in range(n_layers - 1, -1, -1):
            off = net.param_offsets[l]
            w_end = off + sizes[l] * sizes[l + 1]
            W = steps._layer_view(params, off, sizes[l], sizes[l + 1])
            dW = steps._layer_view(grads, off, sizes[l], sizes[l + 1])
            np.dot(steps._activations(work.acts, net, n, l).T, delta, dW)
            if l > 0:
                upstream = steps._layer_view(spare, steps.FIRST, n, sizes[l])
                np.dot(delta, W.T, upstream)
                delta = upstream
            if threads is None:
                rule_apply(hyper, params, grads, slots, c, off, w_end, decay)
            else:
                rule_apply_threaded(hyper, params, grads, slots, c, off, w_end, decay, threads)
            rule_apply(hyper, params, grads, slots, c, w_end, w_end + sizes[l + 1], 0.0)
            spare, current = current, spare


def prepare_step_floor(pixels, y, order, batch, work, blas=1, update=1):
    """An epoch of :func:`_products_gather_update` (the step without its element-wise work)
    for ``work`` (perf/bench_cpu.py's ``Workload``: layer sizes, activation, optimizer and
    its settings, weight decay) on ``pixels`` (N, n_features) uint8, compiled and warmed
    up, on ``blas`` BLAS threads and ``update`` threads for the update."""
    sizes = work.sizes
    net = MLP(sizes, activation=work.activation, loss="cross_entropy", weight_init="Xavier")
    opt = optimizers.get(work.optimizer)
    state = opt.init(net.layout.n_params, net.dtype, work.hyper)
    buffers = net.workspace(batch)
    top = np.random.default_rng(1).uniform(-1e-3, 1e-3, (batch, sizes[-1])).astype(net.dtype)
    data = steps.Epoch(pixels, y, order, batch, None, PIXEL_SCALE)
    n_steps = -(-len(order) // batch)

    threads = None
    if update > 1:  # as network.cpu_trainer.CpuTrainer.train_steps
        start_thread_pool()
        numba.set_num_threads(min(update, numba.config.NUMBA_NUM_THREADS))
        threads = update

    def run(n):
        with blas_threads(blas), flush_denormals():
            _products_gather_update(
                data, n, net.params, net.grads, net.structure, buffers,
                (state.slots, state.hyper, state.scalars), work.weight_decay, top, threads,
            )  # fmt: skip

    run(1)
    return lambda: run(n_steps)
