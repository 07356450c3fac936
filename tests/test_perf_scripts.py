"""Every script in perf/ runs, on a tiny size, so none of them rots unnoticed.

Each runs as a user runs it (``python perf/<script>.py ...`` from the repository root, in a
child process) with arguments that make it take seconds; the test only asks that it ends
well and prints its table. What needs a real GPU, a PostgreSQL server, or the benchmark
peers (JAX, PyTorch) is skipped or left out by the script itself when absent.
"""

import os
import re
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
    "cpu_check.py": ["--smoke"],  # + --out, in its own test
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


def run_script(name, args, prints_a_table=True):
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
    assert "|" in result.stdout or not prints_a_table, (
        f"{name} printed no table: {result.stdout[-2000:]}"
    )
    return result.stdout


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, args in SMOKE_ARGS.items()
        if args is not None and n not in ("storage_overhead.py", "cpu_check.py")
    ],
)
def test_perf_script_runs_on_a_tiny_size(name):
    if name == "gpu_bench.py" and not _has_a_real_gpu():
        pytest.skip("gpu_bench.py needs a CUDA GPU (perf/device_check.sh runs it on one)")
    run_script(name, SMOKE_ARGS[name])


@pytest.mark.skipif(postgres.unavailable() is not None, reason=postgres.unavailable() or "")
def test_storage_overhead_runs_against_a_throwaway_server():
    with postgres.server() as url:
        run_script("storage_overhead.py", [*SMOKE_ARGS["storage_overhead.py"], "--postgres", url])


def test_cpu_check_runs_every_step_and_reports_each(tmp_path):
    run_script("cpu_check.py", [*SMOKE_ARGS["cpu_check.py"], "--out", str(tmp_path)], False)
    report = (tmp_path / "report.md").read_text()
    steps = ["machine", "update", "one_core", "all_cores", "default_configuration", "breakdown"]
    for name in [*steps, "threads"]:
        text = (tmp_path / f"{name}.txt").read_text()
        assert "(exit 0," in text.splitlines()[1], text[-2000:]
        assert text in report
    assert "| adam |" in (tmp_path / "update.txt").read_text()
    for bench in ("one_core", "all_cores", "default_configuration"):
        assert "\n| 64 |" in (tmp_path / f"{bench}.txt").read_text()  # a row of its table
    compile_runs = (tmp_path / "compile.txt").read_text()
    assert re.search(r"first run compile \d+\.\d s, second run \d+\.\d s", compile_runs)


def test_cpu_check_adds_nbnets_own_kernels_where_the_environment_pins_openblas(monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("cpu_check", PERF / "cpu_check.py")
    cpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cpu_check)
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    assert "one core, nbnet's kernels" not in [step[0] for step in cpu_check.steps(True)]
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    (unpinned,) = [step for step in cpu_check.steps(True) if step[0] == "one core, nbnet's kernels"]
    assert unpinned[2] == {"OPENBLAS_CORETYPE": None}
    assert "OPENBLAS_CORETYPE" not in cpu_check._environment(unpinned[2])
