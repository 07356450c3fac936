"""The optimizer update shared by Numba's threads equals the update on one thread, bit for bit.

:func:`kernels.rules.rule_apply_threaded` cuts a layer's weights into one block per thread;
the rule is element-wise, so no split may change a single bit of the parameters or of the
optimizer's state, whatever the rule, the range, the weight decay or the thread count.
"""

import functools

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from experiments.threads import update_threads
from kernels.rules import MIN_PER_THREAD, rule_apply, rule_apply_threaded
from network import MLP
from network.cpu_trainer import CpuTrainer
from network.trainer import StepSettings

HYPER = dict(learning_rate=1e-2, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)
#: Threads Numba may run here (CI's machine has 2 cores; more blocks than threads run in turns).
POOL = min(4, numba.config.NUMBA_NUM_THREADS)


@functools.cache
def _threaded(name):
    """``rule_apply_threaded`` as the step loop calls it, typed inside compiled code: a
    dispatcher called from Python does not tell apart two ``Hyper`` classes of the same
    field types (momentum's and nag's; kernels.steps.step_loop says more), so each
    optimizer gets its own caller."""

    @numba.njit
    def threaded(hyper, params, grads, slots, c, start, stop, weight_decay, threads):
        rule_apply_threaded(hyper, params, grads, slots, c, start, stop, weight_decay, threads)

    return threaded


def _state(opt, n, dtype, rng):
    state = opt.init(n, dtype, HYPER)
    state.slots[:] = rng.random(state.slots.shape).astype(dtype) * 1e-2
    return state


@settings(deadline=None, max_examples=12)
@given(
    name=st.sampled_from(sorted(optimizers.REGISTRY)),
    dtype=st.sampled_from([np.float32, np.float64]),
    start=st.integers(0, 37),
    length=st.integers(2 * MIN_PER_THREAD - 40, 3 * MIN_PER_THREAD + 40),
    threads=st.integers(2, 5),
    weight_decay=st.sampled_from([0.0, 1e-3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_update_on_many_threads_is_the_update_on_one(
    name, dtype, start, length, threads, weight_decay, seed
):
    rng = np.random.default_rng(seed)
    opt = optimizers.get(name)
    n = start + length + 11  # parameters outside start:stop on both sides stay as they were
    params = rng.standard_normal(n).astype(dtype)
    grads = rng.standard_normal(n).astype(dtype)
    one, many = _state(opt, n, dtype, rng), opt.init(n, dtype, HYPER)
    many.slots[:] = one.slots
    c = opt.coefficients_cpu(one.hyper, one.scalars, 0.5)
    expected, got = params.copy(), params.copy()
    stop = start + length
    rule_apply(one.hyper, expected, grads, one.slots, c, start, stop, weight_decay)
    numba.set_num_threads(POOL)
    _threaded(name)(many.hyper, got, grads, many.slots, c, start, stop, weight_decay, threads)
    assert got.tobytes() == expected.tobytes()
    assert many.slots.tobytes() == one.slots.tobytes()
    assert not np.array_equal(got[start:stop], params[start:stop])  # the update did run


def _threaded_trainer(threads=2):
    """``(net, trainer, (losses, corrects))``: Adam with weight decay on a network whose first
    layer's weights make two blocks, 48 rows in batches of 16."""
    rng = np.random.default_rng(3)
    sizes = [300, 2 * MIN_PER_THREAD // 300 + 3, 10]
    x = rng.random((48, sizes[0]), dtype=np.float32)
    y = rng.integers(0, 10, 48)
    opt = optimizers.get("adam")
    net = MLP(sizes, activation="tanh", loss="cross_entropy", weight_init="Xavier", seed=0)
    state = opt.init(net.layout.n_params, net.dtype, HYPER)
    trainer = CpuTrainer(net, opt, state, x, y, 16, StepSettings(weight_decay=1e-3), threads)
    return net, trainer, (np.empty(3), np.empty(3, np.int64))


def test_a_run_with_its_update_on_two_threads_trains_the_same_model():
    """Whole steps (weight decay, Adam) through the trainer: the same losses and parameters."""
    order = np.random.default_rng(4).permutation(48)
    runs = []
    for threads in (1, 2):
        net, trainer, (losses, corrects) = _threaded_trainer(threads)
        assert trainer.train_steps(order, 0, 3, losses, corrects) == 3
        runs.append((losses, net.params.copy(), trainer.state.slots.copy()))
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    ("cores", "blas", "expected"),
    [(2, "mkl", 2), (16, "mkl", 16), (1, "mkl", 1), (4, "openblas", 1), (0, "mkl", 1)],
)
def test_the_update_shares_the_cores_only_beside_mkl(cores, blas, expected):
    # OpenBLAS's idle workers spin on the cores a second pool would need (experiments/threads.py).
    assert update_threads(cores, blas) == expected
