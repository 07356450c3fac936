"""The update's two ways of keeping subnormals out of its buffers.

On x86-64 the CPU update sets FTZ and DAZ in its thread for its loop and leaves the flush to
the hardware (``Optimizer.apply``, optimizers/base.py); ``Optimizer.apply_flushed``, the
update where there is no MXCSR register, flushes each stored value itself. In a thread that
already flushes, as the step loop's does, the two store the same bits; in any thread
``apply`` leaves no subnormal parameter or state entry and gives the thread its register
back; on ordinary values the thread's own arithmetic does not matter. The boundary inputs
sit just above the smallest normal float32, where one step of every rule underflows under
IEEE arithmetic. (Near the bottom, FTZ arithmetic and IEEE arithmetic with a flush of the
stored values may differ: FTZ also flushes intermediate values such as ``(1 - beta1) * g``.)
"""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from kernels.fpenv import (
    FLOAT32_TINY,
    FTZ_DAZ,
    HAS_MXCSR,
    flush_denormals,
    read_mxcsr,
    start_flushing,
    stop_flushing,
)
from kernels.rules import MIN_PER_THREAD, rule_apply, rule_apply_threaded

needs_mxcsr = pytest.mark.skipif(not HAS_MXCSR, reason="no MXCSR register on this processor")

NAMES = sorted(optimizers.REGISTRY)
HYPER = dict(learning_rate=0.5, momentum=0.9, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)
#: With the learning rate above, sgd's step halves a decayed weight: w - 0.5 * (1.0 * w).
WEIGHT_DECAY = 1.0


def n_subnormal(a):
    """How many entries of ``a`` are subnormal (nonzero and below the smallest normal float32)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return int(np.count_nonzero((a > 0) & (a < FLOAT32_TINY)))


def near_the_bottom(rng, size, low=1.0, high=2.0):
    """Float32 values of magnitude ``low..high`` times the smallest normal float32."""
    return (rng.uniform(low, high, size) * FLOAT32_TINY).astype(np.float32)


def boundary_problem(name, size, seed):
    """Parameters, zero gradients and state near the bottom of the normal range: each
    rule's decay (of the weights for sgd, of its moments for the others) underflows."""
    rng = np.random.default_rng(seed)
    opt = optimizers.get(name)
    params = near_the_bottom(rng, size) * rng.choice(np.float32([-1, 1]), size)
    state = opt.init(size, np.float32, HYPER)
    state.slots[:] = near_the_bottom(rng, state.slots.shape, 1.0, 1.1)
    c = opt.coefficients_cpu(state.hyper, state.scalars.copy(), 1.0)
    return opt, params, np.zeros(size, np.float32), state, c


def stored(params, state):
    return np.concatenate([params, state.slots.ravel()])


@numba.njit
def _product(a, b):
    return a * b


if HAS_MXCSR:

    @numba.njit
    def flushes_subnormals():
        """Whether the calling thread (of Python or of Numba's pool) has FTZ and DAZ set."""
        return (read_mxcsr() & np.uint32(FTZ_DAZ)) == np.uint32(FTZ_DAZ)

else:

    @numba.njit
    def flushes_subnormals():
        """No thread flushes in hardware without an MXCSR."""
        return False


def test_start_and_stop_flushing_set_and_restore_the_calling_thread():
    assert not flushes_subnormals()
    before = start_flushing()
    assert flushes_subnormals() == HAS_MXCSR
    stop_flushing(before)
    assert not flushes_subnormals()


@needs_mxcsr
@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=10)
@given(size=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_in_a_flushing_thread_the_hardware_flush_stores_the_updates_own_bits(name, size, seed):
    results = []
    for own_flush in (True, False):
        opt, params, grads, state, c = boundary_problem(name, size, seed)
        apply = opt.apply_flushed if own_flush else opt.apply
        with flush_denormals():
            apply(params, grads, state.slots, c, 0, size, WEIGHT_DECAY)
        assert n_subnormal(params) == 0 and n_subnormal(state.slots) == 0
        results.append(stored(params, state))
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=10)
@given(size=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_in_a_thread_with_ieee_arithmetic_no_subnormal_is_left_and_the_thread_stays_ieee(
    name, size, seed
):
    for apply in ("apply", "apply_flushed"):
        opt, params, grads, state, c = boundary_problem(name, size, seed)
        getattr(opt, apply)(params, grads, state.slots, c, 0, size, WEIGHT_DECAY)
        assert n_subnormal(params) == 0 and n_subnormal(state.slots) == 0, apply
        assert not flushes_subnormals(), f"{apply} left the thread flushing"
        assert n_subnormal([_product(np.float32(1e-30), np.float32(1e-10))]) == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_boundary_problem_underflows_under_ieee_arithmetic(name):
    """The tests above are real ones: the rule itself, computed in plain float32 without
    any flush, stores subnormals for these inputs."""
    opt, params, grads, state, c = boundary_problem(name, 16, 0)
    values = []
    for k in range(16):
        w = params[k]
        g = np.float32(grads[k] + np.float32(WEIGHT_DECAY) * w)
        new_w, new_s = opt.element(w, g, tuple(state.slots[:, k]), c)
        values += [new_w, *new_s]
    assert n_subnormal(values) > 0


@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=10)
@given(size=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_on_ordinary_values_both_updates_in_both_threads_store_the_same_bits(name, size, seed):
    rng = np.random.default_rng(seed)
    opt = optimizers.get(name)
    start = rng.standard_normal(size).astype(np.float32)
    grads = rng.standard_normal(size).astype(np.float32)
    moments = np.abs(rng.standard_normal((opt.n_slots, size))).astype(np.float32)
    results = []
    for apply in ("apply", "apply_flushed"):
        for flushing in (False, True):
            params, state = start.copy(), opt.init(size, np.float32, HYPER)
            state.slots[:] = moments
            c = opt.coefficients_cpu(state.hyper, state.scalars, 1.0)
            if flushing:
                with flush_denormals():
                    getattr(opt, apply)(params, grads, state.slots, c, 0, size, 1e-3)
            else:
                getattr(opt, apply)(params, grads, state.slots, c, 0, size, 1e-3)
            results.append(stored(params, state))
    for result in results[1:]:
        assert np.array_equal(results[0], result)


@numba.njit(parallel=True)
def _flushing_in_every_block(blocks, tiny, small, out, flushing):
    """Each block as a rule's loop on a pool thread: starts flushing its thread,
    multiplies to a subnormal, stops; ``flushing[b]``: what its thread reported inside."""
    for b in numba.prange(blocks):
        before = start_flushing()
        flushing[b] = flushes_subnormals()
        out[b] = tiny[b] * small[b]
        stop_flushing(before)


@numba.njit(parallel=True)
def _flushing_afterwards(blocks, flushing):
    for b in numba.prange(blocks):
        flushing[b] = flushes_subnormals()


@needs_mxcsr
def test_a_pool_thread_flushes_for_its_block_and_is_restored_after():
    blocks = 4 * numba.config.NUMBA_NUM_THREADS
    tiny = np.full(blocks, 1e-30, np.float32)
    small = np.full(blocks, 1e-10, np.float32)  # the product, 1e-40, is subnormal
    out = np.ones(blocks, np.float32)
    inside, after = np.zeros(blocks, np.bool_), np.ones(blocks, np.bool_)
    _flushing_in_every_block(blocks, tiny, small, out, inside)
    _flushing_afterwards(blocks, after)
    assert inside.all() and not out.any()
    assert not after.any(), "a pool thread was left flushing"


def _runner(name):
    """``rule_apply_threaded`` or ``rule_apply``, typed in compiled code as the step loop
    calls them (tests/optimizers/test_threaded.py says why each optimizer gets its own)."""

    @numba.njit
    def run(hyper, params, grads, slots, c, start, stop, weight_decay, threads):
        if threads > 1:
            rule_apply_threaded(hyper, params, grads, slots, c, start, stop, weight_decay, threads)
        else:
            rule_apply(hyper, params, grads, slots, c, start, stop, weight_decay)

    return run


@pytest.mark.parametrize("caller", ["flushing", "IEEE"])
@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_the_threaded_update_near_the_bottom_is_the_one_thread_update(name, caller):
    """Every block flushes as the calling thread's: the same bits, whatever the caller."""
    size = 2 * MIN_PER_THREAD + 40
    run = _runner(name)
    results = []
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    for threads in (1, 2):
        opt, params, grads, state, c = boundary_problem(name, size, 7)
        grads[::3] = near_the_bottom(np.random.default_rng(1), grads[::3].size)
        if caller == "flushing":
            with flush_denormals():
                run(state.hyper, params, grads, state.slots, c, 0, size, WEIGHT_DECAY, threads)
        else:
            run(state.hyper, params, grads, state.slots, c, 0, size, WEIGHT_DECAY, threads)
        assert n_subnormal(params) == 0 and n_subnormal(state.slots) == 0
        results.append(stored(params, state))
    assert np.array_equal(results[0], results[1])
