"""What the model-quality options cost a training step on the CPU.

The default network (784-1024-1024-10, ReLU, nadam, batch 64) on Fashion-MNIST's
training images, one BLAS thread (as each of two record runs side by side uses),
``--steps`` steps per measurement, the options taking turns, median of
``--repeats``; the seconds are scaled to an epoch of 54,000 samples.

    python perf/extras.py            # prints the table
    python perf/extras.py --write    # and records it in perf/RESULTS.md
"""

import argparse
import math
import os
import platform
import statistics
import time

import numpy as np

import optimizers
from experiments.data import as_inputs, load_dataset
from experiments.threads import blas_threads
from kernels.augment import Augment
from network import MLP
from network.trainer import StepSettings

from bench_cpu import DATA, write_results_section  # a sibling script

NADAM = dict(learning_rate=1e-4, beta1=0.9, beta2=0.999, epsilon=1e-8)
DISTORT = Augment(True, 28, 2.0, math.radians(10), 0.1, True, 1)
OPTIONS = {
    "plain": {},
    "dropout 0.5": dict(dropout=0.5),
    "input dropout 0.2": dict(input_dropout=0.2),
    "max-norm 3": dict(max_norm=3.0),
    "moving average 0.999": dict(ema_decay=0.999),
    "affine distortions": dict(augment=DISTORT),
    "all five": dict(
        dropout=0.5, input_dropout=0.2, max_norm=3.0, ema_decay=0.999, augment=DISTORT
    ),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    args = parser.parse_args(argv)
    x = as_inputs(load_dataset("fashion_mnist", DATA, include_test=False).x_train)
    y = load_dataset("fashion_mnist", DATA, include_test=False).y_train.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    batch, opt = 64, optimizers.get("nadam")
    net = MLP([784, 1024, 1024, 10], activation="ReLU")
    ema = net.params.copy()
    state = opt.init(net.layout.n_params, net.dtype, NADAM)
    times = {name: [] for name in OPTIONS}

    def run(options, first):
        if "ema_decay" in options:
            options = dict(options, ema=ema)
        settings = StepSettings(**options)
        return net.train_steps(x, y, order, first, args.steps, batch, opt, state, settings)

    with blas_threads(1):
        for options in OPTIONS.values():  # compile and warm up
            run(options, 0)
        for r in range(args.repeats):
            for name, options in OPTIONS.items():
                start = time.perf_counter()
                run(options, (r + 1) * args.steps % 700)
                times[name].append(time.perf_counter() - start)
    per_epoch = {
        name: statistics.median(t) * 54000 / (batch * args.steps) for name, t in times.items()
    }
    plain = per_epoch["plain"]
    table = "| options | s/epoch (median) | over plain |\n|---|---|---|\n" + "".join(
        f"| {name} | {seconds:.2f} | {seconds / plain:.2f}x |\n"
        for name, seconds in per_epoch.items()
    )
    print(table, end="")
    if args.write:
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        section = (
            "### Model-quality options: cost per epoch\n\nCommand: `python perf/extras.py "
            f"--write` ({machine}, {time.strftime('%Y-%m-%d')}), 784-1024-1024-10 ReLU, nadam, "
            f"batch 64, 1 BLAS thread, {args.steps} steps per measurement scaled to 54,000 "
            f"samples, the options taking turns, median of {args.repeats}.\n\n" + table
        )
        print("wrote", write_results_section("extras", section))


if __name__ == "__main__":
    main()
