"""Every script in perf/ runs, on a tiny size, so none of them rots unnoticed.

Each runs as a user runs it (``python perf/<script>.py ...`` from the repository root, in a
child process) with arguments that make it take seconds; the test only asks that it ends
well and prints its table. What needs a real GPU, a PostgreSQL server, or the benchmark
peers (JAX, PyTorch) is skipped or left out by the script itself when absent.
"""

import os
import subprocess
import sys

import pytest

from tests import postgres
from tests.conftest import ROOT, shared_dataset

PERF = ROOT / "perf"

#: Script -> the arguments of its smoke run. Modules that only serve the scripts are None.
SMOKE_ARGS = {
    "bench_cpu.py": ["--rows", "640", "--batch", "64", "--repeats", "1", "--no-write"],
    "breakdown.py": ["--rows", "640", "--batch", "64", "--repeats", "1"],
    "update.py": ["--params", "1000", "--steps", "2", "--repeats", "1"],
    "extras.py": ["--steps", "2", "--repeats", "1"],
    "overheads.py": ["--repeats", "1"],
    "threads.py": ["--smoke", "--repeats", "1"],
    "sweep_throughput.py": ["--smoke", "--repeats", "1", "--max_workers", "1"],
    "storage_overhead.py": ["--smoke", "--repeats", "1"],  # + --postgres URL
    "denormals.py": ["--epochs", "3", "--train-args=--num_layers 1 --hidden_size 16"],
    "gpu_bench.py": ["--batch", "64", "--repeats", "1", "--no-default"],
    "gpu_probe.py": ["--tiny"],  # on Numba's CUDA simulator here: the script, not its figures
    "fusion.py": ["--rows", "640", "--repeats", "1", "--batch", "64"],
    "compile_profile.py": [
        "--train-args=--num_layers 1 --hidden_size 16",
        "--top",
        "3",
        "--passes",
    ],
    "estimator.py": [
        "--rows",
        "500",
        "--epochs",
        "1",
        "--seeds",
        "1",
        "--batch",
        "32",
        "--no-synthetic",
    ],
    "floors.py": None,
    "jax_mlp.py": None,
    "numpy_mlp.py": None,
}


def test_every_perf_script_has_a_smoke_run():
    scripts = {path.name for path in PERF.glob("*.py")}
    assert scripts == set(SMOKE_ARGS), "add the new perf script to SMOKE_ARGS"


def _has_a_real_gpu():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        from numba import cuda

        return cuda.is_available()
    except Exception:
        return False


#: Scripts that run on Numba's CUDA simulator when there is no GPU (the others need the real one).
ON_THE_SIMULATOR = ("gpu_probe.py",)


def run_script(name, args):
    shared_dataset("fashion-mnist")
    env = dict(os.environ, NBNET_DATA_DIR=str(ROOT.parent / "shared/datasets/fashion-mnist"))
    if name not in ON_THE_SIMULATOR or _has_a_real_gpu():
        env.pop("NUMBA_ENABLE_CUDASIM", None)  # as a user runs it: gpu_bench needs a real GPU
    result = subprocess.run(
        [sys.executable, str(PERF / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"
    assert "|" in result.stdout, f"{name} printed no table: {result.stdout[-2000:]}"
    return result.stdout


@pytest.mark.parametrize(
    "name",
    [n for n, args in SMOKE_ARGS.items() if args is not None and n not in ("storage_overhead.py",)],
)
def test_perf_script_runs_on_a_tiny_size(name):
    if name == "gpu_bench.py" and not _has_a_real_gpu():
        pytest.skip("gpu_bench.py needs a CUDA GPU (perf/device_check.sh runs it on one)")
    run_script(name, SMOKE_ARGS[name])


@pytest.mark.skipif(postgres.unavailable() is not None, reason=postgres.unavailable() or "")
def test_storage_overhead_runs_against_a_throwaway_server():
    with postgres.server() as url:
        run_script("storage_overhead.py", [*SMOKE_ARGS["storage_overhead.py"], "--postgres", url])
