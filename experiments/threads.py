"""How many BLAS threads a run uses.

Every matrix product of the CPU step loop is one OpenBLAS call on small
matrices, and a thread pool only pays when each thread gets enough of a product
to amortise waking it and joining it. Measured (perf/RESULTS.md, "BLAS
threads"): on 2 cores a second thread gains nothing for products of 6.4 million
multiply-adds and 1.2-1.7x from 12.8 million up (1.35x at 16.8 million); on a
16-core Xeon (issue 13's table) two threads made a 6.4-million product's run 1.2x
slower and a 25.7-million one's 1.13x faster, and the default 16 threads made
batch 16 1.6x slower than one. So the policy gives a run one thread per
:data:`WORK_PER_THREAD` multiply-adds of its largest product, at least one and
at most the cores this process may use. It is a rule, not a measurement at
start-up, because OpenBLAS's results depend on its thread count (different
blockings sum in different orders): the same run on the same machine must train
the same model bit for bit.

Numba's own threads share one job, where the library allows it: the optimizer's
update of a layer's weights (:func:`update_threads`), a stream over the parameters and
their state that one core cannot saturate memory with (perf/RESULTS.md, "The update on
both cores"). The rest of the step's work between products (gathering the batch,
activations) stays on the calling thread.
"""

import os
from contextlib import contextmanager

#: Multiply-adds of the largest matrix product per BLAS thread.
WORK_PER_THREAD = 8_000_000

_core_budget = None  # set by a sweep worker: its share of the machine


def usable_cores():
    """Cores this process may use: a sweep worker's share, else its CPU affinity."""
    if _core_budget is not None:
        return _core_budget
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def set_core_budget(cores):
    """Limit this process's runs to ``cores`` cores (a sweep worker's share)."""
    global _core_budget
    _core_budget = max(1, int(cores))


def policy(sizes, batch_size, cores=None):
    """BLAS threads for a network of layer ``sizes`` trained with ``batch_size``.

    ``max(1, min(cores, largest // WORK_PER_THREAD))`` where ``largest`` is the
    multiply-adds of the largest product of a step, ``batch_size * fan_in * fan_out``
    over the layers, and ``cores`` defaults to :func:`usable_cores`.
    """
    cores = usable_cores() if cores is None else cores
    largest = max(batch_size * a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return max(1, min(cores, largest // WORK_PER_THREAD))


def threads_for(config, sizes):
    """The run's BLAS threads: ``config.threads`` when set, else :func:`policy`'s."""
    return config.threads or policy(sizes, config.batch_size)


def update_threads(cores=None, blas=None):
    """Numba threads that share each layer's optimizer update: all of :func:`usable_cores`
    when the products run on MKL, else 1.

    The update is element-wise, so the count changes no result. It is not used with
    OpenBLAS: OpenBLAS's idle workers keep spinning on the cores between products, and a
    second pool waking there made the default configuration's epoch slower (perf/RESULTS.md,
    "The update on both cores"); MKL's workers yield them.
    ``blas`` defaults to the library this process uses (:data:`kernels.BLAS`).
    """
    import kernels

    cores = usable_cores() if cores is None else cores
    blas = kernels.BLAS if blas is None else blas
    return max(1, cores) if blas == "mkl" else 1


def load_blas():
    """Load the OpenBLAS the compiled kernels call: SciPy's, which Numba's ``np.dot`` reaches
    through ``scipy.linalg.cython_blas``. Numba loads it only when the first kernel that
    multiplies matrices is compiled, and threadpoolctl limits only the libraries already
    loaded when a limit is set: without this, a fresh process set its limit, then compiled,
    and its products ran on OpenBLAS's default of one thread per core (measured: two runs
    side by side on 2 cores, each asked for one thread, took 31-37 s per epoch instead of
    about 9 s)."""
    import scipy.linalg.cython_blas  # noqa: F401


@contextmanager
def blas_threads(n):
    """Run the block with ``n`` BLAS threads, then restore what was there (a library
    user's own setting included)."""
    from threadpoolctl import threadpool_limits

    load_blas()
    with threadpool_limits(limits=n, user_api="blas"):
        yield
