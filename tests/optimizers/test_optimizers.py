"""Every registered optimizer: its compiled rule equals a NumPy transcription of
the published formula, and it trains a small network on a fixed toy problem."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import optimizers
from network import MLP
from tests import naive
from tests.conftest import HYPER

NAMES = list(optimizers.REGISTRY)


def test_registry_has_the_spec_optimizers_and_a_reference_for_each():
    assert {"sgd", "momentum", "nag", "rmsprop", "adam", "nadam"} <= set(NAMES)
    assert set(NAMES) == set(naive.OPTIMIZERS), "every optimizer needs a reference in naive.py"
    for opt in optimizers.REGISTRY.values():
        assert set(opt.hyperparameters) <= set(HYPER), opt.name


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match="choose from sgd, momentum"):
        optimizers.get("adagrad")


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("name", NAMES)
@given(
    size=st.integers(1, 40),
    steps=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    lr=st.sampled_from([1e-3, 0.1]),
    beta=st.sampled_from([0.5, 0.9]),
)
def test_update_equals_reference(name, dtype, rtol, size, steps, seed, lr, beta):
    rng = np.random.default_rng(seed)
    hyper = dict(HYPER, learning_rate=lr, momentum=beta, beta=beta, beta1=beta)
    opt = optimizers.get(name)
    w = rng.normal(size=size)
    params = w.astype(dtype)
    state = opt.init(size, dtype, hyper)
    ref_state = {}
    for _ in range(steps):
        g = rng.normal(size=size)
        loss = float(rng.uniform(0.1, 3.0))
        w = naive.OPTIMIZERS[name](w, g, ref_state, hyper, loss)
        opt.step(params, g.astype(dtype), state, loss)
    np.testing.assert_allclose(params, w, rtol=rtol, atol=rtol * lr)


@pytest.fixture(scope="module")
def toy_problem():
    """Three Gaussian blobs in 4-D: a fixed problem every optimizer must make progress on."""
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 2, size=(3, 4))
    y = rng.integers(0, 3, 300)
    x = (centers[y] + rng.normal(size=(300, 4))).astype(np.float32)
    return x, y.astype(np.int64)


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_lowers_the_loss(name, toy_problem):
    x, y = toy_problem
    net = MLP([4, 8, 3], activation="tanh", seed=0)
    opt = optimizers.get(name)
    lr = 0.05 if name in ("sgd", "momentum", "nag") else 0.01
    state = opt.init(net.layout.n_params, net.dtype, dict(HYPER, learning_rate=lr))
    before = net.loss(x, y)
    order = np.arange(len(x), dtype=np.int64)
    for _ in range(10):
        done, _, _ = net.train_steps(x, y, order, 0, 30, 10, opt, state)
        assert done == 30
    after = net.loss(x, y)
    assert after < 0.7 * before, (before, after)
