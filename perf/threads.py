"""Is the BLAS thread policy ever slower than one thread? Seconds per step, side by side.

For networks and batch sizes from the smallest to the default, this times the
CPU step loop (nadam, real Fashion-MNIST rows) with one BLAS thread, with the
threads :func:`experiments.threads.policy` gives, and with OpenBLAS's own
default (every core), in turns, and prints the medians and ratios:

    python perf/threads.py            # prints the table
    python perf/threads.py --write    # and records it in perf/RESULTS.md

The check: ``policy / 1 thread`` stays at or below 1.05 (noise) in every row.
"""

import argparse
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import optimizers
from experiments.threads import policy, usable_cores
from network import MLP

from bench_cpu import interleaved_medians, load, write_results_section  # a sibling script

CASES = [
    ([784, 128, 128, 128, 10], 16),
    ([784, 128, 128, 128, 10], 64),
    ([784, 128, 128, 128, 10], 256),
    ([784, 512, 512, 10], 64),
    ([784, 1024, 1024, 10], 16),
    ([784, 1024, 1024, 10], 64),
    ([784, 1024, 1024, 10], 256),
]
NADAM = dict(learning_rate=1e-4, beta1=0.9, beta2=0.999, epsilon=1e-8)
#: Multiply-adds timed per measurement: long enough to be above timer noise, short enough
#: that the whole table takes a minute or two.
WORK = 3e9


def step_function(x, y, sizes, batch, threads, work=WORK):
    """A function running a fixed number of steps under ``threads`` BLAS threads, that
    number, and the network it trains. Every column sets its count the same way, so they
    pay the same."""
    net = MLP(sizes, seed=0)
    opt = optimizers.get("nadam")
    state = opt.init(net.layout.n_params, net.dtype, NADAM)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    macs = batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * 3
    steps = int(min(len(x) // batch, max(20, work // macs)))
    net.train_steps(x, y, order, 0, 2, batch, opt, state)  # compile and warm up

    def run():
        with threadpool_limits(threads, user_api="blas"):
            net.train_steps(x, y, order, 0, steps, batch, opt, state)

    return run, steps, net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    parser.add_argument("--smoke", action="store_true", help="one small case, seconds (the tests)")
    args = parser.parse_args(argv)
    x, y = load(2_000 if args.smoke else 54_000)[1:]  # float32 rows: BLAS threads measured
    cases, work = ([([784, 16, 10], 16)], 1e6) if args.smoke else (CASES, WORK)
    cores = usable_cores()
    default = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    rows = []
    header = (
        f"| network | batch | policy threads | 1 thread ms/step | policy ms/step | "
        f"default ({default}) ms/step | policy / 1 thread | default / 1 thread | "
        f"default's parameters = 1 thread's |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    print(header, end="", flush=True)
    for sizes, batch in cases:
        chosen = policy(sizes, batch, cores)
        runs, nets = {}, {}
        for name, threads in (("one", 1), ("policy", chosen), ("default", default)):
            runs[name], steps, nets[name] = step_function(x, y, sizes, batch, threads, work)
        seconds = interleaved_medians(runs, args.repeats)
        # Every column ran the same steps from the same start: equal parameters mean the
        # thread count did not change the arithmetic.
        same = np.array_equal(nets["one"].params, nets["default"].params)
        ms = {name: 1e3 * s / steps for name, s in seconds.items()}
        row = (
            f"| {'-'.join(map(str, sizes))} | {batch} | {chosen} | {ms['one']:.3f} | "
            f"{ms['policy']:.3f} | {ms['default']:.3f} | {ms['policy'] / ms['one']:.2f} | "
            f"{ms['default'] / ms['one']:.2f} | {'yes' if same else 'no'} |\n"
        )
        print(row, end="", flush=True)
        rows.append(row)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({cores} usable), {time.strftime('%Y-%m-%d')}"
    )
    section = (
        f"Command: `python perf/threads.py --write` ({machine}). Median of {args.repeats} "
        "runs in turns of each column; nadam, float32, Fashion-MNIST rows.\n\n"
        + header
        + "".join(rows)
    )
    if args.write:
        name = f"threads-{cores}-cores"
        print(
            "wrote", write_results_section(name, f"### BLAS threads, {cores} cores\n\n" + section)
        )


if __name__ == "__main__":
    main()
