"""The optimizer update alone: microseconds per step for every rule, against streaming floors.

Each registered optimizer's compiled CPU update (``Optimizer.update``, subnormal flush
included) runs over workload A's 134,794 float32 parameters, ``--steps`` times in one
compiled loop; the median of ``--repeats`` such loops, all rules taking turns, is reported
with its ratio to SGD's. On x86-64 the update leaves the flush to the hardware (FTZ and DAZ,
optimizers/base.py); each rule's row "own flush" is the same step flushing every stored
value itself (``Optimizer.apply_flushed``, as where there is no MXCSR), in the same turns.
Two floors run in the same turns: a loop that streams the arrays SGD touches (read 2,
write 1) and one that streams Adam's (read 4, write 3), with trivial arithmetic; no update
that keeps two moments can beat the second. A third floor does only what RMSprop, Adam,
Nadam and Eve do per parameter besides streaming, a square
root and a division (on one array): the divider's throughput, which no exact rule can beat.

Run from the repository root::

    python perf/update.py                       # 134,794 parameters, 1000 steps, 9 repeats
    python perf/update.py --params 1000 --steps 2 --repeats 1   # seconds: what the tests run

To compare with an older commit, run the same script with that commit's packages first on
the path (``git worktree add /tmp/old <rev>; PYTHONPATH=/tmp/old python perf/update.py``).
"""

import argparse
import math
import os
import platform
import statistics
import time

# First: kernels/__init__ picks the OpenBLAS kernels before NumPy loads its own.
import kernels  # noqa: F401

# isort: split
import numba
import numpy as np

import optimizers
from kernels.config import JIT_UNCACHED

#: Workload A's parameter count (784-128-128-128-10).
WORKLOAD_A_PARAMS = 134_794
HYPER = dict(learning_rate=1e-3, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)


@numba.njit(nogil=True)
def _updates(steps, update, params, grads, slots, hyper, scalars):
    for _ in range(steps):
        update(params, grads, slots, hyper, scalars, 1.0)


@numba.njit(nogil=True)
def _updates_own_flush(steps, coefficients, apply, params, grads, slots, hyper, scalars):
    """:func:`_updates` with ``Optimizer.update``'s two parts, the second ``apply_flushed``."""
    for _ in range(steps):
        apply(params, grads, slots, coefficients(hyper, scalars, 1.0), 0, params.shape[0], 0.0)


@JIT_UNCACHED  # the kernels' own flags (kernels/config.py), so the floors compile alike
def _stream_two(steps, w, g):
    """SGD's traffic: read w and g, write w."""
    for _ in range(steps):
        for k in range(w.shape[0]):
            w[k] -= np.float32(1e-3) * g[k]


@JIT_UNCACHED  # the kernels' own flags (kernels/config.py), so the floors compile alike
def _stream_four(steps, w, g, m, v):
    """Adam's traffic: read w, g, m and v, write w, m and v."""
    for _ in range(steps):
        for k in range(w.shape[0]):
            a = np.float32(0.9) * m[k] + g[k]
            b = np.float32(0.9) * v[k] + g[k]
            m[k] = a
            v[k] = b
            w[k] -= np.float32(1e-3) * (a + b)


@JIT_UNCACHED  # the kernels' own flags (kernels/config.py), so the floors compile alike
def _sqrt_divide(steps, w):
    """The arithmetic every sqrt rule does per parameter, a square root and a division,
    over one array (1 read, 1 write): what the processor's divider allows."""
    for _ in range(steps):
        for k in range(w.shape[0]):
            w[k] = np.float32(1e-3) / (math.sqrt(w[k]) + np.float32(1e-8))


def prepare(n_params, steps):
    """name -> a function running ``steps`` updates; each compiled and called once."""
    rng = np.random.default_rng(0)
    grads = (rng.standard_normal(n_params) * 1e-3).astype(np.float32)
    runs = {}
    for name, opt in optimizers.REGISTRY.items():
        params = rng.standard_normal(n_params).astype(np.float32)
        state = opt.init(n_params, np.float32, HYPER)
        args = (opt.update, params, grads, state.slots, state.hyper, state.scalars)
        runs[name] = lambda args=args: _updates(steps, *args)
        own = (opt.coefficients_cpu, opt.apply_flushed, *args[1:])
        runs[f"{name}, own flush"] = lambda own=own: _updates_own_flush(steps, *own)
    w, m, v = (rng.standard_normal(n_params).astype(np.float32) * 1e-3 for _ in range(3))
    runs["floor: stream 2 arrays"] = lambda: _stream_two(steps, w, grads)
    runs["floor: stream 4 arrays"] = lambda: _stream_four(steps, w, grads, m, v)
    positive = np.abs(w) + np.float32(1.0)
    runs["floor: sqrt + divide"] = lambda: _sqrt_divide(steps, positive)
    for run in runs.values():
        run()  # compile
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=WORKLOAD_A_PARAMS)
    parser.add_argument("--steps", type=int, default=1000, help="updates per timed loop")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args(argv)
    runs = prepare(args.params, args.steps)
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / args.steps * 1e6)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"| update, {args.params:,} float32 parameters | us per step | / sgd |")
    print("|---|---|---|")
    for name, us in medians.items():
        print(f"| {name} | {us:.1f} | {us / medians['sgd']:.2f}x |")
    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numba {numba.__version__}, NumPy {np.__version__}; median of {args.repeats} loops "
        f"of {args.steps} updates, the rules taking turns"
    )
    return medians


if __name__ == "__main__":
    main()
