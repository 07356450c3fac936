"""Workload A on a CUDA GPU: correctness against the CPU, then seconds per epoch.

Run on a machine with an NVIDIA GPU and numba-cuda (``pip install -e ".[cuda]"``):

    python perf/gpu_bench.py                 # batch 16, 256, 4096; prints one table
    python perf/gpu_bench.py --write         # also records it in perf/RESULTS.md

It first trains a few steps of a small float64 network on the GPU and on the CPU
and checks that losses and parameters agree (the same check as
tests/test_cuda.py, on real hardware), then times one epoch of workload A
(784-128-128-128-10, tanh, Adam lr 1e-3, 54,000 Fashion-MNIST images) for nbnet
on cuda, nbnet on the CPU and PyTorch on cuda when it is installed, each after a
warm-up epoch (compilation excluded), median of ``--repeats``.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optimizers  # noqa: E402
from network import MLP  # noqa: E402
from network.backends import resolve_device  # noqa: E402
from perf.bench_cpu import ADAM, SIZES, load, timed, write_results_section  # noqa: E402


def check_against_cpu():
    from network.cuda_trainer import CudaTrainer

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 20)), rng.integers(0, 10, 300).astype(np.int64)
    order = rng.permutation(300).astype(np.int64)
    worst = 0.0
    for name in optimizers.REGISTRY:
        opt = optimizers.get(name)
        cpu = MLP([20, 33, 17, 10], activation="tanh", dtype=np.float64, seed=1)
        gpu = MLP([20, 33, 17, 10], activation="tanh", dtype=np.float64, seed=1)
        cpu_state = opt.init(cpu.layout.n_params, np.float64, ADAM | {"momentum": 0.9, "beta": 0.9})
        gpu_state = opt.init(gpu.layout.n_params, np.float64, ADAM | {"momentum": 0.9, "beta": 0.9})
        _, cpu_losses, _ = cpu.train_steps(x, y, order, 0, 10, 29, opt, cpu_state, weight_decay=1e-3)
        trainer = CudaTrainer(gpu, opt, gpu_state, x, y, 29)
        losses, corrects = np.empty(10), np.empty(10, dtype=np.int64)
        trainer.train_steps(order, 0, 10, 1e-3, losses, corrects)
        trainer.download()
        np.testing.assert_allclose(losses, cpu_losses, rtol=1e-9)
        np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-7, atol=1e-10)
        worst = max(worst, float(np.max(np.abs(gpu.params - cpu.params))))
    return worst


def time_nbnet(device, x, y, order, batch, repeats):
    from network.backends import make_trainer

    net = MLP(SIZES, activation="tanh")
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, net.dtype, ADAM)
    trainer = make_trainer(device, net, opt, state, x, y, batch)
    steps = -(-len(order) // batch)
    losses, corrects = np.empty(steps), np.empty(steps, dtype=np.int64)

    def epoch():
        trainer.train_steps(order, 0, steps, 0.0, losses, corrects)

    first = timed(epoch, 1)  # warm-up, includes compilation
    return timed(epoch, repeats), first


def time_torch(x, y, order, batch, repeats):
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt, ot = (torch.from_numpy(a).to(dev) for a in (x, y, order))

    def epoch():
        for start in range(0, len(ot), batch):
            idx = ot[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        torch.cuda.synchronize()

    epoch()
    return timed(epoch, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 256, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    args = parser.parse_args()
    try:
        resolve_device("cuda")
    except RuntimeError as exc:
        sys.exit(f"gpu_bench: {exc}")
    from kernels.cuda import cuda_status

    device_name = cuda_status()[1]
    worst = check_against_cpu()
    print(f"correctness: every optimizer, 10 steps, float64: GPU equals CPU "
          f"(largest parameter difference {worst:.1e})", flush=True)
    x, y = load()
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    header = ("| batch | nbnet cuda s/epoch | nbnet cuda first epoch s | nbnet cpu s/epoch "
              "| cpu / cuda | PyTorch cuda s/epoch | PyTorch / nbnet cuda |")
    rows = [header, "|" + "---|" * 7]
    print(header, flush=True)
    for batch in args.batch:
        gpu, first = time_nbnet("cuda", x, y, order, batch, args.repeats)
        cpu, _ = time_nbnet("cpu", x, y, order, batch, args.repeats)
        torch_time = time_torch(x, y, order, batch, args.repeats)
        torch_cols = f"{torch_time:.3f} | {torch_time / gpu:.2f}x" if torch_time else "- | -"
        row = f"| {batch} | {gpu:.3f} | {first:.2f} | {cpu:.3f} | {cpu / gpu:.2f}x | {torch_cols} |"
        rows.append(row)
        print(row, flush=True)
    if args.write:
        section = "\n".join([f"## Workload A, GPU: {device_name} (written by perf/gpu_bench.py)", "",
                             f"Command: `python perf/gpu_bench.py {' '.join(sys.argv[1:])}`", "",
                             *rows, ""])
        print(f"wrote {write_results_section('gpu_bench', section)}")


if __name__ == "__main__":
    main()
