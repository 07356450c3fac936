"""experiments.threads: the BLAS thread policy, and that a run really uses it."""

import os
import subprocess
import sys

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


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="OpenBLAS's default is 1 thread here")
def test_the_limit_holds_in_a_fresh_process_whose_first_kernel_loads_the_blas():
    """Numba loads SciPy's OpenBLAS when the first kernel that multiplies is compiled, which
    in train.py happens inside the limit; threadpoolctl limits only loaded libraries, so the
    products used to run on one thread per core whatever the run asked for."""
    code = (
        "import numpy as np, optimizers\n"
        "from threadpoolctl import threadpool_info\n"
        "from experiments.threads import blas_threads\n"
        "from network import MLP\n"
        "net = MLP([8, 6, 3]); opt = optimizers.get('sgd')\n"
        "state = opt.init(net.layout.n_params, net.dtype, dict(learning_rate=0.1))\n"
        "x = np.ones((4, 8), np.float32); y = np.zeros(4, np.int64)\n"
        "with blas_threads(1):\n"
        "    net.train_steps(x, y, np.arange(4), 0, 1, 4, opt, state)\n"
        "    blas = [i for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "    print(sorted({i['num_threads'] for i in blas}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[1]"
