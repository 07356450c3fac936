"""experiments.threads: the BLAS thread policy, and that a run really uses it."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from experiments import threads
from experiments.config import RunConfig
from experiments.training import Callback, train
from network import MLP
from tests.conftest import HYPER


@pytest.mark.parametrize(
    "sizes, batch, cores, expected",
    [
        ([784, 128, 128, 128, 10], 64, 16, 1),  # 6.4 M multiply-adds: one thread
        ([784, 1024, 1024, 10], 16, 16, 2),  # 16.8 M
        ([784, 128, 128, 128, 10], 256, 16, 3),  # 25.7 M
        ([784, 1024, 1024, 10], 64, 16, 8),  # 67.1 M
        ([784, 1024, 1024, 10], 64, 2, 2),  # never more than the cores
        ([784, 10], 1, 8, 1),  # never fewer than one
    ],
)
def test_one_thread_per_8_million_multiply_adds_of_the_largest_product(
    sizes, batch, cores, expected
):
    assert threads.policy(sizes, batch, cores) == expected


def test_a_sweep_workers_budget_caps_the_policy(monkeypatch):
    monkeypatch.setattr(threads, "_core_budget", None)
    threads.set_core_budget(1)
    assert threads.usable_cores() == 1
    assert threads.policy([784, 1024, 1024, 10], 1024) == 1


def _blas_threads():
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


@pytest.mark.parametrize("setting", [0, 1, 2])
def test_a_run_trains_with_its_threads_and_gives_them_back(rng, setting, monkeypatch):
    monkeypatch.setattr(threads, "_core_budget", 2)
    before = _blas_threads()
    seen = []

    class Watch(Callback):
        def on_epoch_end(self, metrics):
            seen.append(_blas_threads())

    x = rng.normal(size=(300, 784)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    config = RunConfig(**HYPER, epochs=1, batch_size=64, threads=setting)
    net = MLP([784, 1024, 10], seed=0)  # 51 M multiply-adds: the policy's 2 (the budget)
    history = train(net, config, x[:200], y[:200], x[200:], y[200:], Watch())
    expected = setting or 2
    assert history.blas_threads == expected and seen == [{expected}]
    assert _blas_threads() == before
