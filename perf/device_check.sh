#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (an NVIDIA H200 on a 16-core host; see the
# device tool's README): the CUDA tests on the hardware, the GPU benchmark, and the BLAS thread
# table of the 16-core CPU, whose tables land in perf/RESULTS.md (copied to $OUT with the logs).
# The sweep-throughput table needs optuna, which that machine lacks (carry its wheels to add it).
#
# Prepare once, here, in the repository root (the datasets beside the checkout do not travel):
#     echo /.data/ >> .git/info/exclude
#     mkdir -p .data && cp ../shared/datasets/fashion-mnist/*.gz .data/
# then run it through the device tool with carry [".data"], timeout_s 560:
#     bash perf/device_check.sh
# The machine's python3 has numba, numba-cuda, numpy 2.5, torch, pytest and hypothesis but no
# wandb or optuna; no step needs those (threadpoolctl, which perf/threads.py needs, is there).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0 NBNET_DATA_DIR="${NBNET_DATA_DIR:-$PWD/.data}"
# nbnet is not pip-installed there: its packages come from the checkout.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-/tmp/nbnet-device}"
mkdir -p "$out"
{ nvidia-smi -L; python3 -c 'import numba, numpy; print("numba", numba.__version__, "numpy", numpy.__version__)'; } \
    2>&1 | tee "$out/device.txt"
timeout 200 python3 -m pytest -q -p no:cacheprovider tests/kernels/test_cuda.py 2>&1 | tee "$out/test_cuda.txt"
timeout 220 python3 perf/gpu_bench.py --write --repeats 3 2>&1 | tee "$out/gpu_bench.txt"
timeout 110 python3 perf/threads.py --write --repeats 3 2>&1 | tee "$out/threads.txt"
cp perf/RESULTS.md "$out/RESULTS.md"
