"""nbnet on a CUDA GPU against its CPU loop and PyTorch (eager, CUDA graph), seconds per epoch.

Run on a machine with an NVIDIA GPU and numba-cuda (``pip install -e ".[cuda]"``);
wandb and optuna are not needed:

    python perf/gpu_bench.py                 # prints the table
    python perf/gpu_bench.py --write         # also records it in perf/RESULTS.md

It first trains a few steps of a small float64 network with every optimizer on
the GPU and on the CPU and checks that losses and parameters agree (the same
check as tests/kernels/test_cuda.py, on real hardware). Then, for workload A
(784-128-128-128-10 tanh, Adam lr 1e-3, 54,000 Fashion-MNIST images) at each
``--batch`` and for the shipped default configuration (784-1024-1024-10 ReLU,
nadam, weight decay 1e-4, batch 64), also with every model-quality option on
(nbnet's CPU and GPU only), one epoch of:

* nbnet on cuda, in ``--chunks`` launches per epoch (40, as ``train.py`` does),
  with the kernel launches per step counted while it runs;
* nbnet on this machine's CPU;
* PyTorch on cuda, eager (what most PyTorch code does);
* PyTorch on cuda with the whole step (gather, forward, loss, backward, Adam with
  ``capturable=True``) captured once in a CUDA graph and replayed per batch, the
  fastest a PyTorch user gets without writing kernels (the last partial batch of
  the epoch, another shape, runs eagerly).

Each is timed after a warm-up epoch (compilation and capture excluded; the
warm-up time of nbnet's first epoch is printed apart), median of ``--repeats``.
"""

import argparse
import math
import sys
import time
from contextlib import contextmanager

import numpy as np
from gpu_probe import Report, check

import optimizers
from kernels.augment import Augment
from network import MLP
from network.backends import make_trainer, resolve_device
from network.trainer import StepSettings

from bench_cpu import ADAM, SIZES, load, timed, write_results_section  # sibling scripts

#: The shipped default configuration (python train.py), as a benchmark row.
DEFAULT = dict(
    sizes=[784, 1024, 1024, 10],
    activation="ReLU",
    optimizer="nadam",
    batch=64,
    weight_decay=1e-4,
    hyper=dict(learning_rate=0.00022975, beta1=0.9, beta2=0.999, epsilon=1e-8),
)
#: Every optimizer, for the correctness check.
NAMES = list(optimizers.REGISTRY)
WORKLOAD_A = dict(sizes=SIZES, activation="tanh", optimizer="adam", weight_decay=0.0, hyper=ADAM)
#: The default configuration with every model-quality option on (nbnet only: PyTorch has no
#: twin of the in-loop distortions, so its cells stay empty).
EXTRAS = dict(
    max_norm=3.0,
    input_dropout=0.2,
    ema_decay=0.999,
    augment=Augment(True, 28, 2.0, math.radians(10), 0.1, True, 1),
)
DEFAULT_EXTRAS = dict(DEFAULT, extras=EXTRAS, dropout=0.5)


@contextmanager
def counting_launches():
    """Count every launch of nbnet's kernels in the block (each goes through
    :class:`kernels.cuda.steps.Launch`): yields a list, an entry per launch."""
    from kernels.cuda.steps import Launch

    launches = []
    original = Launch.__call__

    def counted(self, args):
        launches.append(self.kernel.py_func.__name__)
        return original(self, args)

    Launch.__call__ = counted
    try:
        yield launches
    finally:
        Launch.__call__ = original


def time_nbnet(device, work, x, y, order, batch, repeats, chunks, blocks=None):
    """``(median s/epoch, first epoch s, launches per step)`` of nbnet on ``device``."""
    net = MLP(work["sizes"], activation=work["activation"])
    opt = optimizers.get(work["optimizer"])
    state = opt.init(net.layout.n_params, net.dtype, work["hyper"])
    settings = StepSettings(weight_decay=work["weight_decay"], dropout=work.get("dropout", 0.0))
    if "extras" in work:
        settings = settings._replace(**work["extras"], ema=net.params.copy())
    trainer = make_trainer(device, net, opt, state, x, y, batch, settings)
    if blocks is not None:
        trainer.blocks = blocks
    steps = -(-len(order) // batch)
    chunk = -(-steps // chunks)
    losses, corrects = np.empty(chunk), np.empty(chunk, dtype=np.int64)

    def epoch():
        for first in range(0, steps, chunk):
            n = min(chunk, steps - first)
            trainer.train_steps(order, first, n, losses[:n], corrects[:n])

    first = timed(epoch, 1)  # warm-up, includes compilation
    launches = None
    if device == "cuda":
        with counting_launches() as launched:
            epoch()
        launches = len(launched) / steps
    return timed(epoch, repeats), first, launches


def torch_model(work, dev):
    import torch

    torch.manual_seed(0)
    act = {"tanh": torch.nn.Tanh, "ReLU": torch.nn.ReLU}[work["activation"]]
    layers = []
    for n_in, n_out in zip(work["sizes"][:-1], work["sizes"][1:]):
        layers += [torch.nn.Linear(n_in, n_out), act()]
    model = torch.nn.Sequential(*layers[:-1]).to(dev)
    h = work["hyper"]

    def optimizer(capturable):
        kind = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}[work["optimizer"]]
        return kind(
            model.parameters(),
            lr=h["learning_rate"],
            betas=(h["beta1"], h["beta2"]),
            eps=h["epsilon"],
            weight_decay=work["weight_decay"],
            capturable=capturable,
        )

    return model, optimizer


def time_torch(work, x, y, order, batch, repeats, graph):
    """PyTorch on cuda, s/epoch (None without torch or a GPU); ``graph``: step in a CUDA graph."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    dev = torch.device("cuda")
    model, make_optimizer = torch_model(work, dev)
    opt = make_optimizer(capturable=graph)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt, ot = (torch.from_numpy(a).to(dev) for a in (x, y, order))
    full = len(order) // batch * batch

    def eager_step(idx):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xt[idx]), yt[idx]).backward()
        opt.step()

    if graph:
        static_idx = ot[:batch].clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graphs asks
            for _ in range(3):
                eager_step(static_idx)
        torch.cuda.current_stream().wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(captured):
            loss_fn(model(xt[static_idx]), yt[static_idx]).backward()
            opt.step()

        def step(start):
            static_idx.copy_(ot[start : start + batch])
            captured.replay()
    else:

        def step(start):
            eager_step(ot[start : start + batch])

    def epoch():
        for start in range(0, full, batch):
            step(start)
        if full < len(order):
            eager_step(ot[full:])  # the short last batch: another shape than the graph's
        torch.cuda.synchronize()

    epoch()
    return timed(epoch, repeats)


def row(label, work, inputs, y, order, batch, args, blocks, report):
    """One table row (and its JSON record): nbnet cuda at a grid of ``blocks`` (None: its
    own choice), nbnet's CPU loop (unless ``--no-cpu``), PyTorch eager and CUDA graph.
    ``inputs``: the images as uint8 pixel rows (nbnet's, as train.py keeps them,
    kernels/pixels.py) and as float32 rows (PyTorch's)."""
    pixels, x = inputs
    gpu, first, launches = time_nbnet(
        "cuda", work, pixels, y, order, batch, args.repeats, args.chunks, blocks
    )
    first = blocks == args.blocks[0]  # the other columns once per batch size, not per grid
    cpu = eager = graph = None
    if first and not args.no_cpu:
        cpu, _, _ = time_nbnet("cpu", work, pixels, y, order, batch, args.repeats, args.chunks)
    if first and "extras" not in work:
        eager = time_torch(work, x, y, order, batch, args.repeats, graph=False)
        graph = time_torch(work, x, y, order, batch, args.repeats, graph=True)
    report(
        "epoch",
        workload=label,
        batch=batch,
        blocks=blocks,
        nbnet_cuda=gpu,
        launches_per_step=launches,
        first_epoch=first,
        nbnet_cpu=cpu,
        torch_eager=eager,
        torch_graph=graph,
    )

    def vs(other):
        return f"{other:.4f} | {other / gpu:.2f}x" if other else "- | -"

    grid = "auto" if blocks is None else blocks
    return (
        f"| {label} | {batch} | {grid} | **{gpu:.4f}** | {launches:.3f} | {first:.2f} | "
        f"{vs(cpu)} | {vs(eager)} | {vs(graph)} |"
    )


def _grid_size(text):
    return None if text == "auto" else int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=40, help="launches per epoch (train.py: 40)")
    parser.add_argument(
        "--blocks",
        type=_grid_size,
        nargs="+",
        default=[None],
        help="grid sizes of the step kernel to time, a row each (auto: as many blocks as "
        "its largest phase uses, capped at what stays resident)",
    )
    parser.add_argument("--no-cpu", action="store_true", help="skip nbnet's CPU column")
    parser.add_argument("--jsonl", help="append each result to this file as a JSON line")
    parser.add_argument("--no-default", action="store_true", help="skip the default-config row")
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    args = parser.parse_args()
    try:
        resolve_device("cuda")
    except RuntimeError as exc:
        sys.exit(f"gpu_bench: {exc}")
    from kernels.cuda import cuda_status

    device_name = cuda_status()[1]
    report = Report(args.jsonl)
    checks = [report("check", **r) for r in check([20, 33, 17, 10], "tanh", 300, 29, 10, NAMES)]
    bad = [c["optimizer"] for c in checks if not c.get("ok")]
    agreement = (
        f"GPU = CPU to {max(c['loss_rel'] for c in checks):.1e} relative on losses"
        if not bad
        else f"GPU differs from the CPU for {', '.join(bad)} (perf/gpu_probe.py's records)"
    )
    print(f"correctness, every optimizer, 10 steps, float64: {agreement}", flush=True)
    pixels, x, y = load()
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    header = (
        "| workload | batch | blocks | nbnet cuda s/epoch | launches / step | first epoch s "
        "| nbnet cpu s/epoch | cpu / cuda | PyTorch eager s/epoch | eager / nbnet "
        "| PyTorch CUDA graph s/epoch | graph / nbnet |"
    )
    rows = [header, "|" + "---|" * 12]
    print(header, flush=True)
    jobs = [("A: 3x128 tanh adam", WORKLOAD_A, batch) for batch in args.batch]
    if not args.no_default:
        jobs.append(("default: 2x1024 ReLU nadam", DEFAULT, DEFAULT["batch"]))
        label = "default + dropout 0.5, input dropout 0.2, max-norm 3, average, distortions"
        jobs.append((label, DEFAULT_EXTRAS, DEFAULT["batch"]))
    for label, work, batch in jobs:
        for blocks in args.blocks:
            rows.append(row(label, work, (pixels, x), y, order, batch, args, blocks, report))
            print(rows[-1], flush=True)
    if args.write:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        section = "\n".join(
            [
                f"## GPU: {device_name} (written by perf/gpu_bench.py)",
                "",
                f"Command: `python perf/gpu_bench.py {' '.join(sys.argv[1:])}`  ",
                f"Measured: {when}; seconds per epoch of 54,000 images, median of {args.repeats} "
                f"after a warm-up epoch; ratios are the other's time over nbnet cuda's "
                f"(above 1: nbnet is faster). Correctness first: {agreement}.",
                "",
                *rows,
                "",
            ]
        )
        print(f"wrote {write_results_section('gpu_bench', section)}")


if __name__ == "__main__":
    main()
