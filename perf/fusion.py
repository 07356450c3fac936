"""Does updating each layer inside the backward pass pay? The step loop against its unfused form.

The step loop (:func:`kernels.steps.train_steps`) updates layer l's parameters as soon as
the backward pass has formed dW_l (and the delta below, which needs the old W_l), with the
weight decay added inside the update. The unfused form below is the loop as it was before:
the whole backward pass with a separate weight-decay pass over each layer
(:func:`kernels.steps.forward_backward`), then one update over the whole flat buffer. Both
run the same kernels on the same data in one process, taking turns epoch by epoch, one
BLAS thread; the table gives seconds per epoch and unfused / fused.

    python perf/fusion.py                    # workload A at batch 16/64/256, the default config
    python perf/fusion.py --rows 640 --repeats 1 --batch 64    # seconds: what the tests run
"""

import argparse
import os
import platform
import statistics
import time

# First: kernels/__init__ picks the OpenBLAS kernels before NumPy loads its own.
from kernels import steps

# isort: split
import numpy as np

import optimizers
from experiments.threads import blas_threads
from kernels.augment import OFF
from kernels.config import JIT_UNCACHED
from kernels.fpenv import flush_denormals
from kernels.regularize import regularizer
from network import MLP

from bench_cpu import WORKLOAD_A, default_workload, load  # siblings


@JIT_UNCACHED
def unfused_steps(data, first_step, n_steps, params, grads, net, work, reg, update, state, out):
    """The step loop with the update after the whole backward pass (see the module doc)."""
    slots, hyper, scalars = state
    losses, corrects = out
    total, n_features = data.order.shape[0], data.X.shape[1]
    for s in range(n_steps):
        start = (first_step + s) * data.batch_size
        n = min(data.batch_size, total - start)
        x = work.acts[: n * n_features].reshape((n, n_features))
        steps.gather_batch(
            data.X, data.pixel_scale, data.labels, data.order, None, start, n, x, work.y_batch
        )
        loss, correct = steps.forward_backward(
            params, grads, net, work, n, reg.weight_decay, reg.keep
        )
        losses[s], corrects[s] = loss, correct
        if not np.isfinite(loss):
            return s + 1
        update(params, grads, slots, hyper, scalars, loss)
        steps.constrain_and_average(params, net, work, reg.max_norm, reg.average)
    return n_steps


def epoch_functions(x, y, order, batch, work):
    """``{"fused": f, "unfused": g}``: an epoch of each loop, each on its own network."""
    opt = optimizers.get(work.optimizer)
    functions = {}
    for name in ("fused", "unfused"):
        net = MLP(work.sizes, activation=work.activation, weight_init="Xavier")
        state = opt.init(net.layout.n_params, net.dtype, work.hyper)
        n_steps = -(-len(order) // batch)
        losses, corrects = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
        reg = regularizer(work.weight_decay, 0.0, 0.0, 0.0, 0.0, net.grads[:1])
        options, _ = steps.loop_options(reg, OFF)
        data = steps.Epoch(x, y, order, batch, OFF)
        ws = net.workspace(batch)
        rule_state = (state.slots, state.hyper, state.scalars)
        out = (losses, corrects)
        if name == "fused":

            def run(net=net, ws=ws, reg=reg, data=data, rule_state=rule_state, out=out):
                steps.train_steps(
                    data, 0, n_steps, net.params, net.grads, net.structure, ws, reg, rule_state,
                    1, out,  # the update on the calling thread, as unfused's
                )  # fmt: skip
        else:

            def run(net=net, ws=ws, reg=options, data=data, rule_state=rule_state, out=out):
                unfused_steps(
                    data, 0, n_steps, net.params, net.grads, net.structure, ws, reg, opt.update,
                    rule_state, out,
                )  # fmt: skip

        functions[name] = run
    return functions


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=54_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, nargs="+", help="workload A's batch sizes")
    args = parser.parse_args(argv)
    _, x, y = load(args.rows)  # float32 rows: the fusion, not the gather, is measured
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    cases = [(WORKLOAD_A, b) for b in args.batch or WORKLOAD_A.batches]
    cases.append((default_workload(), default_workload().batches[0]))
    print("| workload | batch | fused s/epoch | unfused s/epoch | unfused / fused |")
    print("|---|---|---|---|---|")
    with blas_threads(1), flush_denormals():
        for work, batch in cases:
            functions = epoch_functions(x, y, order, batch, work)
            times = {name: [] for name in functions}
            for fn in functions.values():
                fn()  # compile and warm up
            for _ in range(args.repeats):
                for name, fn in functions.items():
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            fused, unfused = (statistics.median(times[k]) for k in ("fused", "unfused"))
            print(
                f"| {work.name} | {batch} | {fused:.3f} | {unfused:.3f} | {unfused / fused:.2f}x |",
                flush=True,
            )
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
