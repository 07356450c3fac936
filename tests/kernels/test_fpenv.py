"""Subnormal floats: flushed while nbnet computes, never left in its buffers, kept elsewhere."""

import numpy as np
import pytest
from numba import njit

import optimizers
from kernels.fpenv import (
    DAZ,
    FLOAT32_TINY,
    FTZ,
    HAS_MXCSR,
    flush_denormals,
    flush_subnormal,
    read_mxcsr,
)
from network import MLP
from network.trainer import StepSettings

SUBNORMAL = np.float32(1e-40)  # between the smallest subnormal (1.4e-45) and 1.18e-38

needs_mxcsr = pytest.mark.skipif(not HAS_MXCSR, reason="no MXCSR register on this processor")


def n_subnormal(a):
    """How many entries of ``a`` are subnormal (nonzero and below the smallest normal float32)."""
    a = np.abs(np.asarray(a, dtype=np.float64))
    return int(np.count_nonzero((a > 0) & (a < FLOAT32_TINY)))


@njit
def _product(a, b):
    return a * b


@needs_mxcsr
def test_flush_denormals_flushes_inside_and_restores_the_thread_after():
    tiny, small = np.float32(1e-30), np.float32(1e-10)  # the product, 1e-40, is subnormal
    before = int(read_mxcsr())
    assert n_subnormal([_product(tiny, small)]) == 1
    with flush_denormals():
        # bits 0-5 are sticky exception flags that any arithmetic may raise; compare the controls
        assert int(read_mxcsr()) & ~0x3F == (before | FTZ | DAZ) & ~0x3F
        assert _product(tiny, small) == 0  # FTZ: a subnormal result is written as 0
        assert _product(SUBNORMAL, np.float32(1.0)) == 0  # DAZ: a subnormal input reads as 0
    assert int(read_mxcsr()) & ~0x3F == before & ~0x3F
    # A library user's own NumPy code keeps IEEE gradual underflow afterwards.
    assert n_subnormal([tiny * small]) == 1
    assert n_subnormal([_product(tiny, small)]) == 1


@needs_mxcsr
def test_flush_denormals_restores_the_register_on_an_exception():
    before = int(read_mxcsr())
    with pytest.raises(KeyError), flush_denormals():
        raise KeyError("boom")
    assert int(read_mxcsr()) & ~0x3F == before & ~0x3F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_subnormal_zeroes_only_subnormal_values(dtype):
    values = np.array(
        [
            SUBNORMAL,
            -SUBNORMAL,
            1e-39,
            2 * FLOAT32_TINY,
            -FLOAT32_TINY,
            0.0,
            1.0,
            np.nan,
            np.inf,
            -np.inf,
        ],
        dtype=dtype,
    )
    expected = np.where(np.abs(values) < FLOAT32_TINY, 0, values).astype(dtype)
    flushed = np.array([flush_subnormal(v) for v in values], dtype=dtype)
    np.testing.assert_array_equal(flushed, expected)  # NaN equals NaN here


def _decay_run(optimizer_name, steps=900):
    """A compiled run in which every weight decays geometrically towards zero.

    All inputs are zero and the hidden ReLU units have negative biases, so every
    unit is dead: the weights' data gradient is exactly 0 and weight decay alone
    moves them, ``w <- w * (1 - lr * weight_decay)`` for sgd (0.9 per step here:
    from ~1 to below 1.18e-38 in about 830 steps).
    """
    net = MLP([6, 5, 4, 3], activation="ReLU", weight_init="Xavier", seed=3)
    for layer in range(2):
        net.biases(layer)[:] = -1.0
    optimizer = optimizers.get(optimizer_name)
    config = dict(learning_rate=0.1, momentum=0.5, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8)
    state = optimizer.init(net.params.size, net.dtype, config)
    x = np.zeros((8, 6), dtype=net.dtype)
    labels = np.arange(8, dtype=np.int64) % 3
    order = np.arange(8, dtype=np.int64)
    for step in range(steps):
        net.train_steps(x, labels, order, 0, 1, 8, optimizer, state, StepSettings(weight_decay=1.0))
    return net, state


def test_the_decay_run_would_leave_subnormal_weights_under_ieee_arithmetic():
    """The run below is a real test: plain float32 arithmetic gets stuck in the subnormal range."""
    w = np.float32(0.01) * np.ones(1, dtype=np.float32)
    for _ in range(900):
        w = w - np.float32(0.1) * (np.float32(1.0) * w)
    assert n_subnormal(w) == 1


@pytest.mark.parametrize("optimizer_name", ["sgd", "momentum", "nag"])
def test_training_leaves_no_subnormal_parameters_or_optimizer_state(optimizer_name):
    net, state = _decay_run(optimizer_name)
    weights = np.concatenate([net.weights(layer).ravel() for layer in range(3)])
    assert np.all(np.abs(weights) < 1e-30)  # the weights really did decay to the bottom
    assert n_subnormal(net.params) == 0
    assert n_subnormal(state.slots) == 0
