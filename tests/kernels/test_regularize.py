"""Max-norm and the parameters' moving average (kernels/regularize.py) against NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from kernels import regularize
from network import MLP
from network.trainer import StepSettings
from tests import naive
from tests.conftest import HYPER

COMPILED = settings(deadline=None, max_examples=30)


@COMPILED
@given(
    n_in=st.integers(1, 12),
    n_out=st.integers(1, 12),
    limit=st.floats(0.1, 5.0),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_max_norm_caps_long_columns_and_leaves_the_others_untouched(
    n_in, n_out, limit, dtype, seed
):
    rng = np.random.default_rng(seed)
    W = (
        rng.normal(size=(n_in, n_out)) * rng.uniform(0.1, 3.0, n_out) * limit / np.sqrt(n_in)
    ).astype(dtype)
    before = W.copy()
    norms = np.linalg.norm(before.astype(np.float64), axis=0)
    regularize.max_norm(W, limit, np.empty(n_out))
    after = np.linalg.norm(W.astype(np.float64), axis=0)
    assert np.all(after <= limit * (1 + 4 * np.finfo(dtype).eps))
    inside = norms <= limit
    np.testing.assert_array_equal(W[:, inside], before[:, inside])  # bit for bit
    tol = 10 * np.finfo(dtype).eps
    np.testing.assert_allclose(W, naive.max_norm(before, limit), rtol=tol, atol=tol * limit)


@COMPILED
@given(
    n=st.integers(1, 50),
    steps=st.integers(1, 6),
    decay=st.floats(0.0, 0.9999),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_moving_average_is_the_numpy_recurrence(n, steps, decay, dtype, seed):
    rng = np.random.default_rng(seed)
    start = rng.normal(size=n).astype(dtype)
    values = rng.normal(size=(steps, n)).astype(dtype)
    ema = start.copy()
    for v in values:
        regularize.ema_update(ema, v, decay)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(ema, naive.moving_average(start, values, decay), rtol=tol, atol=tol)


def _problem(seed=0, n=24, features=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y, rng.permutation(n).astype(np.int64)


def test_the_step_loop_caps_every_hidden_layer_after_each_update():
    """Hidden layers' columns end at most at C; the output layer is not constrained. One step at
    a time with NumPy's max-norm applied in between gives the same parameters."""
    x, y, order = _problem()
    hyper = dict(HYPER, learning_rate=0.5)
    opt = optimizers.get("sgd")
    nets = [MLP([6, 8, 7, 3], dtype=np.float64, seed=1) for _ in range(2)]
    states = [opt.init(net.layout.n_params, np.float64, hyper) for net in nets]
    limit = 0.6
    nets[0].train_steps(x, y, order, 0, 6, 4, opt, states[0], StepSettings(max_norm=limit))
    for step in range(6):
        nets[1].train_steps(x, y, order, step, 1, 4, opt, states[1])
        for layer in (0, 1):
            nets[1].weights(layer)[:] = naive.max_norm(nets[1].weights(layer), limit)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-12, atol=1e-14)
    free = MLP([6, 8, 7, 3], dtype=np.float64, seed=1)
    free.train_steps(x, y, order, 0, 6, 4, opt, opt.init(free.layout.n_params, np.float64, hyper))
    for layer in (0, 1):
        assert np.linalg.norm(nets[0].weights(layer), axis=0).max() <= limit * (1 + 1e-12)
        assert np.linalg.norm(free.weights(layer), axis=0).max() > limit  # the cap was needed
    assert np.linalg.norm(nets[0].weights(2), axis=0).max() > limit


def test_the_step_loop_averages_the_parameters_after_each_step():
    """The average kept by the loop equals the recurrence over the parameters after each step
    (recorded one step at a time), started from the initial parameters."""
    x, y, order = _problem(3)
    opt = optimizers.get("adam")
    nets = [MLP([6, 8, 3], dtype=np.float64, seed=2) for _ in range(2)]
    states = [opt.init(net.layout.n_params, np.float64, HYPER) for net in nets]
    start = nets[0].params.copy()
    ema = start.copy()
    nets[0].train_steps(x, y, order, 0, 6, 4, opt, states[0], StepSettings(ema=ema, ema_decay=0.7))
    seen = []
    for step in range(6):
        nets[1].train_steps(x, y, order, step, 1, 4, opt, states[1])
        seen.append(nets[1].params.copy())
    np.testing.assert_allclose(ema, naive.moving_average(start, seen, 0.7), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)  # training never reads it


def test_an_average_without_its_buffer_is_refused():
    x, y, order = _problem()
    net = MLP([6, 3], dtype=np.float64)
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, np.float64, HYPER)
    with pytest.raises(ValueError, match="ema buffer"):
        net.train_steps(x, y, order, 0, 1, 4, opt, state, StepSettings(ema_decay=0.9))
