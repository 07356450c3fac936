"""Where an epoch of workload A goes: the step loop's parts timed one at a time.

For each batch size, in one process, median of ``--repeats`` epochs, every part on the BLAS
threads a run of that batch size gets (``experiments.threads.policy``; pin the process with
``taskset -c 0`` for one core):

* ``epoch``: the real thing, :meth:`network.MLP.train_steps` over 54,000 images kept as
  uint8 pixels, as train.py keeps them (kernels/pixels.py);
* ``gather``: copying every batch's shuffled rows (:func:`kernels.steps.gather_batch`),
  turned into inputs on the way; ``gather float32``: the same from float32 rows;
* ``forward+backward``: :func:`kernels.steps.forward_backward` once per step, same batch;
* ``update``: Adam over all parameters once per step, on the calling thread;
* ``BLAS floor``: the same matrix products alone (perf/floors.py);
* ``step floor``: the step without its element-wise work, the gather, the products and
  Adam's update in one loop (perf/floors.py).

The parts do not add up to the epoch exactly: in the real loop each part finds
the caches as the previous one left them (Adam streams 2 MB of parameters and
moments through them every step).

Run from the repository root::

    python perf/breakdown.py                 # batch 16, 64, 256
    python perf/breakdown.py --batch 16 --repeats 7
"""

import argparse
import sys

# First: kernels/__init__ picks the OpenBLAS kernels before NumPy loads its own.
from kernels import steps
from kernels.augment import OFF
from kernels.pixels import PIXEL_SCALE

# isort: split
import numba
import numpy as np

import optimizers
from experiments.threads import blas_threads, policy
from network import MLP

from bench_cpu import (  # a sibling: perf/ scripts run as `python perf/<script>.py`
    ADAM,
    DATA,
    SIZES,
    WORKLOAD_A,
    coretype_origin,
    load,
    openblas_kernels,
    timed,
)
from floors import prepare_blas_floor, prepare_step_floor


@numba.njit(nogil=True)
def _gather_epoch(data, x, y):
    n_features = data.X.shape[1]
    for start in range(0, data.order.shape[0], data.batch_size):
        n = min(data.batch_size, data.order.shape[0] - start)
        x_batch = x[: n * n_features].reshape((n, n_features))
        steps.gather_batch(
            data.X, data.pixel_scale, data.labels, data.order, None, start, n, x_batch, y
        )


@numba.njit(nogil=True)
def _forward_backward_steps(n_steps, params, grads, net, work, n):
    for _ in range(n_steps):
        steps.forward_backward(params, grads, net, work, n, 0.0, None)


@numba.njit(nogil=True)
def _update_steps(n_steps, update, params, grads, slots, hyper, scalars):
    for _ in range(n_steps):
        update(params, grads, slots, hyper, scalars, 1.0)


def median_seconds(fn, repeats):
    fn()  # compile / warm up
    return timed(fn, repeats)


def breakdown(pixels, x, y, order, batch, repeats):
    """Each part's median seconds, every part on the BLAS threads a run of this batch size
    gets (:func:`experiments.threads.policy`), the floor included."""
    blas = policy(SIZES, batch)
    with blas_threads(blas):
        return {"BLAS threads": blas, **_parts(pixels, x, y, order, batch, repeats, blas)}


def _parts(pixels, x, y, order, batch, repeats, blas):
    n_steps = -(-len(order) // batch)
    net = MLP(SIZES, activation="tanh", loss="cross_entropy", weight_init="Xavier")
    adam = optimizers.get("adam")
    state = adam.init(net.layout.n_params, net.dtype, ADAM)
    ws = net.workspace(batch)
    ws.acts[: batch * SIZES[0]] = x[:batch].ravel()
    ws.y_batch[:] = y[:batch]
    pixel_epoch = steps.Epoch(pixels, y, order, batch, OFF, PIXEL_SCALE)
    return {
        "epoch": median_seconds(
            lambda: net.train_steps(pixels, y, order, 0, n_steps, batch, adam, state), repeats
        ),
        "gather": median_seconds(lambda: _gather_epoch(pixel_epoch, ws.acts, ws.y_batch), repeats),
        "gather float32": median_seconds(
            lambda: _gather_epoch(steps.Epoch(x, y, order, batch, OFF), ws.acts, ws.y_batch),
            repeats,
        ),
        "forward+backward": median_seconds(
            lambda: _forward_backward_steps(
                n_steps, net.params, net.grads, net.structure, ws, batch
            ),
            repeats,
        ),
        "update": median_seconds(
            lambda: _update_steps(
                n_steps, adam.update, net.params, net.grads, state.slots, state.hyper, state.scalars
            ),
            repeats,
        ),
        "BLAS floor": median_seconds(prepare_blas_floor(batch, n_steps, SIZES, blas), repeats),
        "step floor": median_seconds(
            prepare_step_floor(pixels, y, order, batch, WORKLOAD_A, blas),
            repeats,
        ),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=54_000, help="training images per epoch")
    args = parser.parse_args(argv)
    if not DATA.exists():
        sys.exit(f"needs Fashion-MNIST at {DATA}")
    pixels, x, y = load(args.rows)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    parts = [
        "epoch", "gather", "gather float32", "forward+backward", "update", "BLAS floor",
        "step floor",
    ]  # fmt: skip
    print("| batch | BLAS threads | " + " | ".join(f"{p} s/epoch" for p in parts) + " |")
    print("|---" * (len(parts) + 2) + "|")
    for batch in args.batch:
        times = breakdown(pixels, x, y, order, batch, args.repeats)
        cells = " | ".join(f"{times[p]:.3f}" for p in parts)
        print(f"| {batch} | {times['BLAS threads']} | {cells} |", flush=True)
    print(f"OpenBLAS kernels: {openblas_kernels()} ({coretype_origin()})")


if __name__ == "__main__":
    main()
