"""Workload A on the CPU: seconds per epoch for nbnet, plain NumPy and (if installed) PyTorch.

Workload A: 784-128-128-128-10, tanh, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8),
cross-entropy, one epoch over 54,000 Fashion-MNIST training images, float32.

Each implementation trains on the same shuffled order. After one warm-up epoch
(nbnet's compilation happens in its first call and is timed on its own), the
median of ``--repeats`` epochs is reported, with the ratio NumPy / nbnet and
PyTorch / nbnet (above 1 means nbnet is faster). The implementations take turns,
one epoch each per round, so that the machine's bursts of load hit them alike.

The "BLAS floor" column times an epoch's matrix products alone (same shapes, same
BLAS, compiled, nothing else), which no implementation that calls that BLAS can
beat; NumPy / floor is therefore the largest ratio any such implementation could
show against the NumPy baseline.

Run from the repository root::

    python perf/bench_cpu.py                   # batch 16, 64, 256; writes perf/RESULTS.md
    python perf/bench_cpu.py --batch 16 --no-write
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

# Before NumPy loads: the baseline's OpenBLAS gets the same kernels as nbnet's (kernels/blas.py).
import kernels

# isort: split
import numba
import numpy as np

import optimizers
from experiments.data import read_idx
from network import MLP

from numpy_mlp import NumpyMLP  # a sibling: perf/ scripts run as `python perf/<script>.py`

ROOT = Path(__file__).resolve().parent.parent

SIZES = [784, 128, 128, 128, 10]
N_TRAIN = 54_000
ADAM = dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
#: Fashion-MNIST's IDX files: $NBNET_DATA_DIR (as train.py reads it; a device machine gets a copy
#: of the files there, perf/device_check.sh), else the shared datasets beside the checkout.
DATA = Path(
    os.environ.get("NBNET_DATA_DIR") or ROOT.parent / "shared" / "datasets" / "fashion-mnist"
)


def load():
    x = read_idx(DATA / "train-images-idx3-ubyte.gz", 3).reshape(-1, 784)[:N_TRAIN]
    y = read_idx(DATA / "train-labels-idx1-ubyte.gz", 1)[:N_TRAIN]
    return np.ascontiguousarray(x, dtype=np.float32) / 255, y.astype(np.int64)


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: Seconds to wait before each timed epoch. NumPy's OpenBLAS, SciPy's (nbnet's) and PyTorch's
#: OpenMP each keep worker threads that spin for a while after a call; on 2 cores a pool still
#: spinning from the previous implementation halves the next one's threaded products.
PAUSE_S = 0.5


def interleaved_medians(epochs, repeats):
    """Median seconds of each function in ``epochs`` (name -> function), timed in turns.

    Round r runs every function once before round r + 1 starts, so a burst of load on
    this shared machine hits all of them alike instead of one whole column.
    """
    times = {name: [] for name in epochs}
    for _ in range(repeats):
        for name, fn in epochs.items():
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def prepare_nbnet(x, y, order, batch):
    """nbnet's epoch function, warmed up, and the first call's (compile) seconds."""
    net = MLP(SIZES, activation="tanh", loss="cross_entropy", weight_init="Xavier")
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, net.dtype, ADAM)
    steps = -(-len(order) // batch)
    start = time.perf_counter()
    net.train_steps(x, y, order, 0, 1, batch, opt, state)  # compiles (or loads the cache)
    compile_s = time.perf_counter() - start
    losses = np.empty(steps)
    corrects = np.empty(steps, dtype=np.int64)

    def epoch():
        net.train_steps(x, y, order, 0, steps, batch, opt, state, losses=losses, corrects=corrects)

    epoch()  # warm-up
    return epoch, compile_s


@numba.njit(nogil=True)
def _matrix_products(acts, weights, deltas, grads, steps):
    """The matrix products of ``steps`` training steps and nothing else.

    ``acts[l]`` is (B, n_l), ``weights[l]`` (n_l, n_{l+1}), ``deltas[l]`` and
    ``grads``' products as in a step: forward ``acts[l] @ W_l``, weight gradient
    ``acts[l].T @ deltas[l]``, input gradient ``deltas[l] @ W_l.T`` (not for the
    first layer), through the same BLAS that nbnet's kernels call.
    """
    n = len(weights)
    for _ in range(steps):
        for l in range(n):
            np.dot(acts[l], weights[l], acts[l + 1])
        for l in range(n - 1, -1, -1):
            np.dot(acts[l].T, deltas[l], grads[l])
            if l > 0:
                np.dot(deltas[l], weights[l].T, deltas[l - 1])


def prepare_blas_floor(batch, steps):
    """An epoch's matrix products alone (no step can be faster), compiled and warmed up."""
    rng = np.random.default_rng(0)

    def uniform(*shape):
        return rng.uniform(-1, 1, shape).astype(np.float32)

    acts = tuple(uniform(batch, n) for n in SIZES)
    weights = tuple(uniform(a, b) / np.float32(np.sqrt(a)) for a, b in zip(SIZES[:-1], SIZES[1:]))
    deltas = tuple(uniform(batch, n) for n in SIZES[1:])
    grads = tuple(np.empty_like(w) for w in weights)
    _matrix_products(acts, weights, deltas, grads, 1)
    return lambda: _matrix_products(acts, weights, deltas, grads, steps)


def openblas_kernels():
    """Which kernels each loaded OpenBLAS uses, e.g. "SkylakeX" (needs threadpoolctl)."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (install threadpoolctl to see)"
    found = [
        f"{i['architecture']} ({Path(i['filepath']).parent.name.split('.')[0]})"
        for i in threadpoolctl.threadpool_info()
        if i.get("internal_api") == "openblas"
    ]
    return ", ".join(found) or "none loaded"


def coretype_origin():
    """Who chose the OpenBLAS kernels: the environment, nbnet (kernels/blas.py) or OpenBLAS."""
    value = os.environ.get("OPENBLAS_CORETYPE")
    if value is None:
        return "chosen by OpenBLAS"
    who = "nbnet" if kernels.OPENBLAS_CORETYPE_CHOSEN else "the environment"
    return f"OPENBLAS_CORETYPE={value} set by {who}"


def prepare_numpy(x, y, order, batch):
    model = NumpyMLP(SIZES)
    model.epoch(x, y, order, batch)  # warm-up
    return lambda: model.epoch(x, y, order, batch)


def prepare_torch(x, y, order, batch):
    """PyTorch's epoch function (warmed up) and a description, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.Tanh()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt, ot = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(order)

    def epoch():
        for start in range(0, len(ot), batch):
            idx = ot[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    epoch()  # warm-up
    return epoch, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def write_results_section(name, section):
    """Put ``section`` into perf/RESULTS.md between ``<!-- name:start/end -->`` markers.

    A rerun replaces its own earlier table; a new name appends one. Returns the path.
    """
    results = ROOT / "perf" / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Performance results\n\n"
    marker_start, marker_end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{marker_start}\n{section}{marker_end}"
    if marker_start in text:
        before, rest = text.split(marker_start, 1)
        text = before + block + rest.split(marker_end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    results.write_text(text)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument(
        "--section",
        default="",
        help="name of the RESULTS.md table to (re)write, for a second setting "
        "such as other OpenBLAS kernels (default: the main table)",
    )
    args = parser.parse_args()
    if not DATA.exists():
        sys.exit(f"needs Fashion-MNIST at {DATA}")
    x, y = load()
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    header = (
        "| batch | nbnet s/epoch | nbnet compile s | NumPy s/epoch | NumPy / nbnet "
        "| BLAS floor s/epoch | NumPy / floor | PyTorch s/epoch | PyTorch / nbnet |"
    )
    rows = [header, "|" + "---|" * 9]
    print(header, flush=True)
    torch_info = "PyTorch not installed"
    for batch in args.batch:
        nbnet_epoch, compile_s = prepare_nbnet(x, y, order, batch)
        epochs = {
            "nbnet": nbnet_epoch,
            "numpy": prepare_numpy(x, y, order, batch),
            "floor": prepare_blas_floor(batch, -(-len(order) // batch)),
        }
        torch_result = prepare_torch(x, y, order, batch)
        if torch_result:
            epochs["torch"], torch_info = torch_result
        medians = interleaved_medians(epochs, args.repeats)
        nb, npy, floor = medians["nbnet"], medians["numpy"], medians["floor"]
        if torch_result:
            tt = medians["torch"]
            torch_cols = f"{tt:.3f} | {tt / nb:.2f}x"
        else:
            torch_cols = "- | -"
        row = (
            f"| {batch} | {nb:.3f} | {compile_s:.2f} | {npy:.3f} | {npy / nb:.2f}x "
            f"| {floor:.3f} | {npy / floor:.2f}x | {torch_cols} |"
        )
        rows.append(row)
        print(row, flush=True)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"numba {numba.__version__}, {torch_info}; OpenBLAS kernels: {openblas_kernels()} "
        f"({coretype_origin()})"
    )
    print(machine)
    if not args.no_write:
        command = shlex.join(["python", "perf/bench_cpu.py", *sys.argv[1:]])
        title = "## Workload A, CPU" + (f", {args.section}" if args.section else "")
        section = "\n".join(
            [
                f"{title} (written by perf/bench_cpu.py)",
                "",
                f"Command: `{command.strip()}`  ",
                f"Machine: {machine}  ",
                f"Measured: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; median of "
                f"{args.repeats} epochs after a warm-up epoch, the implementations taking turns; "
                "compile time measured apart.",
                "",
                *rows,
                "",
            ]
        )
        results = write_results_section(
            "bench_cpu" + (f":{args.section}" if args.section else ""), section
        )
        print(f"wrote {results}")


if __name__ == "__main__":
    main()
