#!/usr/bin/env bash
# The one prepared script for a lent GPU machine (an NVIDIA H200 on a 16-core host; see the
# device tool's README). At most 7 minutes, the most telling first, every result written to
# $OUT as it comes (JSON lines: a run cut short still reports what it measured):
#   1. perf/gpu_probe.py   versions, registers and cooperative grid limit of the kernels as
#                          compiled there, the cost of a grid barrier at 8/33/66/132 blocks,
#                          GPU = CPU in float64 (every optimizer; workload A on its full grid),
#                          reported, never aborting                       (<= 90 s)
#   2. perf/gpu_bench.py   s/epoch: nbnet cuda at batch 16/64/256/4096 on three grid sizes, the
#                          default configuration, nbnet's CPU loop, PyTorch eager and CUDA graph
#                                                                         (<= 210 s)
#   3. the CUDA tests on the hardware, last (the simulator-only ones skip)  (<= 90 s)
# No CPU thread tables: those belong to a CPU run.
#
# Prepare once, here, in the repository root (the datasets beside the checkout do not travel):
#     echo /.data/ >> .git/info/exclude
#     mkdir -p .data && cp ../shared/datasets/fashion-mnist/*.gz .data/
# then run it through the device tool with carry [".data"], timeout_s 440:
#     bash perf/device_check.sh
# The machine's python3 has numba, numba-cuda, numpy 2.5, torch, pytest and hypothesis but no
# wandb or optuna; no step needs those.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0 NBNET_DATA_DIR="${NBNET_DATA_DIR:-$PWD/.data}"
# nbnet is not pip-installed there: its packages come from the checkout.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-/tmp/nbnet-device}"
mkdir -p "$out"
{ nvidia-smi; python3 -c 'import numba, numpy; print("numba", numba.__version__, "numpy", numpy.__version__)'; } \
    > "$out/device.txt" 2>&1
timeout 90 python3 perf/gpu_probe.py --jsonl "$out/probe.jsonl" > "$out/gpu_probe.txt" 2>&1
timeout 210 python3 perf/gpu_bench.py --write --repeats 3 --blocks auto 33 132 \
    --jsonl "$out/bench.jsonl" > "$out/gpu_bench.txt" 2>&1
cp perf/RESULTS.md "$out/RESULTS.md"
timeout 90 python3 -m pytest -q -x -p no:cacheprovider tests/kernels/test_cuda.py \
    > "$out/test_cuda.txt" 2>&1
tail -n 3 "$out"/*.txt
