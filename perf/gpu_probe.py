"""What a lent GPU machine is, and what the step kernel's design costs on it, as JSON lines.

    python perf/gpu_probe.py --jsonl $OUT/probe.jsonl

One JSON object per line, written (and flushed) as each is measured, so a run cut short by
its time limit still reports everything before the cut:

``environment``  the GPU, its driver, the CUDA runtime, NVVM, numba and numba-cuda versions;
``kernel``       per compiled kernel (the step kernel of workload A for Adam, float32, and the
                 evaluation kernel): registers per thread, shared and local memory, and the
                 largest cooperative grid it may launch with (what the design's grid-wide
                 barriers allow);
``barrier``      the cost of one grid-wide barrier at 8, 33, 66 and 132 blocks (a kernel that
                 does nothing else; the step kernel has 2 of them per step, 3 with max-norm);
``phases``       workload A (float32, Adam) at batch 16, 64, 256 and 4096 on the default grid:
                 the median microseconds of each of a step's two phases (the rows: gather to
                 the first layer's delta; the weights: gradients and update, each up to and
                 including its barrier), from the GPU's global timer stamped after every
                 barrier (``CudaTrainer.time_phases``);
``check``        GPU against CPU in float64: a few steps of a small network with every
                 optimizer, and of workload A on its full grid (several blocks, never run by
                 the simulator's tests); reported, never aborting the run.

On Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) it runs on tiny sizes (``--tiny``),
so that the script itself is tested; the figures then mean nothing.
"""

import argparse
import json
import platform
import sys
import time
from importlib import metadata

import numpy as np

import optimizers
from network import MLP
from network.backends import simulated
from network.trainer import StepSettings

from bench_cpu import ADAM, SIZES  # a sibling script


class Report:
    """JSON lines to a file (and a short line each to stdout), flushed one by one."""

    def __init__(self, path):
        self.handle = open(path, "a") if path else None
        self.seen = []

    def records(self, kind):
        return [r for r in self.seen if r["kind"] == kind]

    def __call__(self, kind, **fields):
        record = {"kind": kind, "time": round(time.time(), 3), **fields}
        self.seen.append(record)
        line = json.dumps(record, default=str)
        if self.handle:
            self.handle.write(line + "\n")
            self.handle.flush()
        print(line, flush=True)
        return record


def _version(read):
    try:
        return read()
    except Exception as exc:  # a probe reports what it cannot read, and goes on
        return f"unknown ({type(exc).__name__}: {exc})"


def environment():
    from numba import cuda

    def gpu():
        device = cuda.get_current_device()
        return {"name": str(device.name), "compute_capability": device.compute_capability}

    return {
        "gpu": _version(gpu),
        "driver": _version(lambda: cuda.cudadrv.driver.driver.get_version()),
        "runtime": _version(lambda: cuda.runtime.get_version()),
        "nvvm": _version(lambda: cuda.cudadrv.nvvm.NVVM().get_version()),
        "numba": _version(lambda: metadata.version("numba")),
        "numba_cuda": _version(lambda: metadata.version("numba-cuda")),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "simulator": simulated(),
    }


def kernel_facts(kernel, args, threads):
    """Registers, memory and the cooperative grid limit of ``kernel`` compiled for ``args``."""
    if not hasattr(kernel, "typeof_pyval"):
        return {"note": "the simulator compiles nothing"}
    compiled = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
    facts = {}
    for name in ("regs_per_thread", "shared_mem_per_block", "local_mem_per_thread"):
        facts[name] = _version(lambda name=name: getattr(compiled, name))
    facts["max_cooperative_grid_blocks"] = _version(
        lambda: compiled.max_cooperative_grid_blocks(threads)
    )
    return facts


def _barrier_kernel():
    """A kernel of ``n`` grid-wide barriers, the step kernel's own (``grid_sync``)."""
    from numba import cuda

    from kernels.cuda.steps import grid_sync

    @cuda.jit
    def barriers(n, out):
        for _ in range(n):
            grid_sync()
        out[0] = n  # every thread writes the same value

    return barriers


def barrier_cost(blocks, syncs, threads, repeats=3):
    """Seconds per grid-wide barrier at ``blocks`` blocks of ``threads`` threads: the time
    of ``syncs`` barriers less that of one, over ``syncs - 1`` (median of ``repeats``)."""
    from numba import cuda

    kernel = _barrier_kernel()
    out = cuda.device_array(1, dtype=np.int64)

    def run(n):
        start = time.perf_counter()
        kernel[blocks, threads](n, out)
        cuda.synchronize()
        return time.perf_counter() - start

    run(1)  # compile
    times = []
    for _ in range(repeats):
        times.append((run(syncs) - run(1)) / max(1, syncs - 1))
    return float(np.median(times))


def _agreement(cpu, gpu, cpu_losses, gpu_losses):
    loss_rel = float(
        np.max(np.abs(gpu_losses - cpu_losses) / np.maximum(np.abs(cpu_losses), 1e-300))
    )
    param_abs = float(np.max(np.abs(gpu.params - cpu.params)))
    scale = float(np.max(np.abs(cpu.params)))
    return loss_rel, param_abs, scale


def check(sizes, activation, rows, batch, steps, names, seed=0):
    """GPU against CPU, float64: ``steps`` steps of ``sizes`` on ``rows`` random rows with each
    optimizer in ``names``; one record each (loss relative and parameter differences, and
    whether they are within 1e-9 relative on losses, the stated tolerance)."""
    from network.cuda_trainer import CudaTrainer

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, sizes[0]))
    y = rng.integers(0, sizes[-1], rows).astype(np.int64)
    order = rng.permutation(rows).astype(np.int64)
    records = []
    for name in names:
        opt = optimizers.get(name)
        hyper = ADAM | {"momentum": 0.9, "beta": 0.9}
        cpu = MLP(sizes, activation=activation, dtype=np.float64, seed=1)
        gpu = MLP(sizes, activation=activation, dtype=np.float64, seed=1)
        settings = StepSettings(weight_decay=1e-3)
        cpu_state = opt.init(cpu.layout.n_params, np.float64, hyper)
        gpu_state = opt.init(gpu.layout.n_params, np.float64, hyper)
        start = time.perf_counter()
        try:
            _, cpu_losses, _ = cpu.train_steps(
                x, y, order, 0, steps, batch, opt, cpu_state, settings
            )
            trainer = CudaTrainer(gpu, opt, gpu_state, x, y, batch, settings)
            losses, corrects = np.empty(steps), np.empty(steps, dtype=np.int64)
            trainer.train_steps(order, 0, steps, losses, corrects)
            trainer.download()
        except Exception as exc:  # reported, and the next optimizer is checked
            records.append({"optimizer": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        loss_rel, param_abs, scale = _agreement(cpu, gpu, cpu_losses, losses)
        records.append(
            {
                "optimizer": name,
                "sizes": sizes,
                "batch": batch,
                "steps": steps,
                "blocks": trainer.step_blocks,
                "loss_rel": loss_rel,
                "param_abs": param_abs,
                "param_scale": scale,
                "ok": bool(loss_rel <= 1e-9),
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
    return records


def phases(batch, n_steps, sizes=SIZES, turns=2):
    """One ``phases`` record: workload A's step at ``batch`` rows, the median and the spread of
    each phase over ``n_steps`` steps (the first chunk compiles and is not timed), then the
    same steps in chunks of a tenth, in turn and run ahead, ``turns`` times each."""
    from network.cuda_trainer import CudaTrainer

    rows = batch * n_steps
    net = MLP(sizes, activation="tanh")
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, net.dtype, ADAM)
    rng = np.random.default_rng(0)
    x = rng.random((rows, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], rows).astype(np.int64)
    trainer = CudaTrainer(net, opt, state, x, y, batch)
    order = rng.permutation(rows).astype(np.int64)
    losses, corrects = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
    trainer.train_steps(order, 0, 1, losses, corrects)  # compiles
    trainer.time_phases(n_steps)
    start = time.perf_counter()
    trainer.train_steps(order, 0, n_steps, losses, corrects)
    wall = time.perf_counter() - start
    us = trainer.phase_times() / 1e3
    trainer.time_phases(0)
    chunk = max(1, n_steps // 10)
    walls = {}
    for run_ahead in (False, True) * turns:  # taking turns, the last of each kept
        trainer.run_ahead = run_ahead
        start = time.perf_counter()
        for first in range(0, n_steps, chunk):
            n = min(chunk, n_steps - first)
            trainer.train_steps(order, first, n, losses[:n], corrects[:n])
        walls[run_ahead] = (time.perf_counter() - start) / n_steps * 1e6
    return {
        "batch": batch,
        "steps": int(us.shape[0]),
        "blocks": trainer.step_blocks,
        "rows_us": float(np.median(us[:, 0])),
        "weights_us": float(np.median(us[:, 1])),
        "step_us_p10_p90": [float(v) for v in np.percentile(us.sum(axis=1), [10, 90])],
        "chunk_wall_us_per_step": wall / n_steps * 1e6,
        # The chunk's wall time less the kernel's own, start to last barrier: what the host
        # adds per launch (a launch ahead of the results could hide it).
        "host_us_per_chunk": wall * 1e6 - float(us.sum()),
        # Chunks of ``chunk_steps`` steps, each launched after the last one's results were
        # read, and each launched ahead of them (CudaTrainer.run_ahead).
        "chunk_steps": chunk,
        "in_turn_us_per_step": walls[False],
        "run_ahead_us_per_step": walls[True],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jsonl", help="append the records to this file as they come")
    parser.add_argument("--syncs", type=int, default=2000, help="barriers per timing")
    parser.add_argument("--blocks", type=int, nargs="+", default=[8, 33, 66, 132])
    parser.add_argument("--tiny", action="store_true", help="simulator sizes (tests the script)")
    args = parser.parse_args(argv)
    from kernels.cuda import cuda_status

    usable, detail = cuda_status()
    report = Report(args.jsonl)
    report("environment", usable=usable, detail=detail, **environment())
    if not usable:
        sys.exit(f"gpu_probe: {detail}")
    from kernels.cuda import steps

    tiny = args.tiny or simulated()
    sizes = [6, 5, 4] if tiny else SIZES
    rows, batch = (12, 4) if tiny else (4096, 256)
    net = MLP(sizes, activation="tanh")
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, net.dtype, ADAM)
    x = np.zeros((rows, sizes[0]), dtype=np.float32)
    y = np.zeros(rows, dtype=np.int64)
    from network.cuda_trainer import CudaTrainer

    trainer = CudaTrainer(net, opt, state, x, y, batch)
    order = np.arange(rows, dtype=np.int64)
    trainer.train_steps(order, 0, 1, np.empty(1), np.empty(1, np.int64))  # compiles
    facts = kernel_facts(trainer.step_kernel, trainer.step_arguments(order, 0, 1), steps.THREADS)
    report("kernel", kernel="step", sizes=sizes, dtype="float32", batch=batch, **facts)
    for blocks in [1] if tiny else args.blocks:
        threads = steps.THREADS
        try:
            seconds = barrier_cost(blocks, 3 if tiny else args.syncs, threads)
            report("barrier", blocks=blocks, threads=threads, seconds_per_sync=seconds)
        except Exception as exc:
            report("barrier", blocks=blocks, threads=threads, error=f"{type(exc).__name__}: {exc}")
    for batch in [4] if tiny else [16, 64, 256, 4096]:
        try:
            steps_wanted = 2 if tiny else min(200, 40960 // batch)
            report("phases", **phases(batch, steps_wanted, sizes, 1 if tiny else 2))
        except Exception as exc:
            report("phases", batch=batch, error=f"{type(exc).__name__}: {exc}")
    small = [6, 7, 3] if tiny else [20, 33, 17, 10]
    barriers = report.records("barrier")
    names = ["adam"] if tiny else list(optimizers.REGISTRY)
    rows_small, batch_small, n_steps = (12, 4, 3) if tiny else (300, 29, 10)
    for record in check(small, "tanh", rows_small, batch_small, n_steps, names):
        report("check", network="small", **record)
    if not tiny:  # the simulator runs one block: the full grid needs the real GPU
        for record in check(sizes, "tanh", rows, batch, 10, ["adam"]):
            report("check", network="workload A, full grid", **record)
    print("\n| grid barrier: blocks | us per barrier |\n|---|---|")
    for b in barriers:
        cost = f"{b['seconds_per_sync'] * 1e6:.2f}" if "seconds_per_sync" in b else b["error"]
        print(f"| {b['blocks']} | {cost} |")
    print(
        "\n| phases: batch | blocks | rows us | weights us | chunk wall us/step | host us "
        "| steps per chunk | in turn us/step | run ahead us/step |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for p in report.records("phases"):
        if "error" in p:
            print(f"| {p['batch']} | {p['error']} | | | | | | | |")
        else:
            print(
                f"| {p['batch']} | {p['blocks']} | {p['rows_us']:.1f} | {p['weights_us']:.1f} "
                f"| {p['chunk_wall_us_per_step']:.1f} | {p['host_us_per_chunk']:.0f} "
                f"| {p['chunk_steps']} | {p['in_turn_us_per_step']:.1f} "
                f"| {p['run_ahead_us_per_step']:.1f} |"
            )
    print("\n| check | optimizer | blocks | loss rel. diff | ok |\n|---|---|---|---|---|")
    for c in report.records("check"):
        diff = f"{c['loss_rel']:.1e}" if "loss_rel" in c else c.get("error")
        print(f"| {c['network']} | {c['optimizer']} | {c.get('blocks')} | {diff} | {c.get('ok')} |")


if __name__ == "__main__":
    main()
