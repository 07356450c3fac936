"""Workload A on the CPU: seconds per epoch for nbnet against JAX, PyTorch and plain NumPy.

Workload A: 784-128-128-128-10, tanh, Adam (lr 1e-3, betas 0.9/0.999, eps 1e-8),
cross-entropy, one epoch over 54,000 Fashion-MNIST training images, float32.
``--workload default`` runs the shipped default configuration instead (train.py's
defaults: its layers, activation, optimizer, weight decay and batch size).

Each implementation trains on the same shuffled order. After one warm-up epoch
(nbnet's and XLA's compilation happen in the first call and are timed on their own), the
median of ``--repeats`` epochs is reported, with the ratio peer / nbnet (above 1 means
nbnet is faster). The implementations take turns, one epoch each per round, so that the
machine's bursts of load hit them alike. The peers:

* JAX: one ``jax.jit`` of an epoch-long ``lax.scan`` with optax (perf/jax_mlp.py), the
  strongest thing a Python user gets without writing kernels;
* PyTorch eager, and with ``--torch-compile`` the whole step under ``torch.compile``;
* plain NumPy (perf/numpy_mlp.py; workload A only).

``--threads 1`` pins the whole process to one core and gives every implementation one
thread (OpenBLAS through threadpoolctl, XLA through ``XLA_FLAGS``, PyTorch through
``set_num_threads``); ``--threads all`` (the default) leaves the peers their defaults and
gives nbnet the BLAS threads of its own policy (experiments/threads.py), as train.py does.

nbnet's optimizer update runs on the threads of the same policy (all usable cores beside
MKL, else one; ``--update-threads N`` overrides it); when that is more than one, the last
column is the same nbnet epoch with the update on the calling thread alone, in the same turns.

nbnet trains on the images' uint8 pixels, as train.py does (kernels/pixels.py: the same
inputs, turned into them while gathering); the peers get the same inputs as float32
rows. The column "nbnet on float32 rows" is nbnet's same epoch gathering from float32 rows,
in the same turns.

The "BLAS floor" column times an epoch's matrix products alone (same shapes, same
BLAS, compiled, nothing else), which no implementation that calls that BLAS can
beat; nbnet / floor is how close nbnet's whole step comes to it. The "step floor" column
times nbnet's step without its element-wise work (the gather, the products and the exact
update, perf/floors.py); JAX / step floor is the most any nbnet step with that gather and
that update can reach against JAX.

Run from the repository root::

    python perf/bench_cpu.py                   # batch 16, 64, 256; writes perf/RESULTS.md
    python perf/bench_cpu.py --threads 1 --section "one core"
    python perf/bench_cpu.py --workload default --section "default configuration"
    python perf/bench_cpu.py --batch 16 --no-write
    NBNET_BLAS=openblas python perf/bench_cpu.py --workload default --update-threads 2 --no-write

Over 400 lines because it holds every side of the comparison that has no module of its own
(PyTorch's step, the BLAS floor, thread pinning, the table and its RESULTS.md section);
JAX's and NumPy's networks live in perf/jax_mlp.py and perf/numpy_mlp.py.
"""

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

# Before NumPy loads: the baseline's OpenBLAS gets the same kernels as nbnet's (kernels/blas.py).
import kernels

# isort: split
import numba
import numpy as np

import optimizers
from experiments.data import as_inputs, as_pixels, read_idx
from network import MLP
from network.cpu_trainer import CpuTrainer
from network.trainer import StepSettings

import jax_mlp  # siblings: perf/ scripts run as `python perf/<script>.py`
from floors import prepare_blas_floor, prepare_step_floor
from numpy_mlp import NumpyMLP

ROOT = Path(__file__).resolve().parent.parent

SIZES = [784, 128, 128, 128, 10]
N_TRAIN = 54_000
ADAM = dict(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
#: Fashion-MNIST's IDX files: $NBNET_DATA_DIR (as train.py reads it; a device machine gets a copy
#: of the files there, perf/device_check.sh), else the shared datasets beside the checkout.
DATA = Path(
    os.environ.get("NBNET_DATA_DIR") or ROOT.parent / "shared" / "datasets" / "fashion-mnist"
)


def load(rows=N_TRAIN):
    """The first ``rows`` training images as uint8 pixel rows (what train.py trains nbnet
    on, kernels/pixels.py), the same as float32 inputs (what the peers get), and labels."""
    images = read_idx(DATA / "train-images-idx3-ubyte.gz", 3)[:rows]
    y = read_idx(DATA / "train-labels-idx1-ubyte.gz", 1)[:rows]
    return as_pixels(images), as_inputs(images), y.astype(np.int64)


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


class Workload(NamedTuple):
    """What every implementation trains: layer widths, activation, optimizer, batch sizes."""

    name: str
    sizes: list
    activation: str
    optimizer: str
    hyper: dict  # the optimizer's settings, as train.py names them
    weight_decay: float
    batches: list  # default batch sizes of the benchmark


WORKLOAD_A = Workload("A", SIZES, "tanh", "adam", ADAM, 0.0, [16, 64, 256])


def default_workload():
    """The shipped default configuration (train.py's defaults, experiments/config/schema.py)."""
    from experiments.config import RunConfig

    config = RunConfig()
    sizes = [784, *[config.hidden_size] * config.num_layers, 10]
    hyper = {name: getattr(config, name) for name in optimizers.get(config.optimizer).hyper._fields}
    return Workload(
        "default",
        sizes,
        config.activation,
        config.optimizer,
        hyper,
        config.weight_decay,
        [config.batch_size],
    )


def prepare_nbnet(x, y, order, batch, work=WORKLOAD_A, blas=None, update=None):
    """nbnet's epoch function, warmed up, the first call's (compile) seconds, its BLAS
    threads and its update threads.

    ``blas``: BLAS threads (None: the policy of experiments/threads.py, as train.py uses);
    ``update``: the update's threads (None: that module's policy, one per usable core with
    MKL, else 1).
    """
    from experiments import threads

    net = MLP(work.sizes, activation=work.activation, loss="cross_entropy", weight_init="Xavier")
    opt = optimizers.get(work.optimizer)
    state = opt.init(net.layout.n_params, net.dtype, work.hyper)
    steps = -(-len(order) // batch)
    n_threads = blas or threads.policy(work.sizes, batch)
    wd = work.weight_decay
    n_update = update or threads.update_threads()
    trainer = CpuTrainer(net, opt, state, x, y, batch, StepSettings(weight_decay=wd), n_update)
    losses = np.empty(steps)
    corrects = np.empty(steps, dtype=np.int64)
    start = time.perf_counter()
    with threads.blas_threads(n_threads):  # compiles (or loads the cache)
        trainer.train_steps(order, 0, 1, losses, corrects)
    compile_s = time.perf_counter() - start

    def epoch():
        with threads.blas_threads(n_threads):
            trainer.train_steps(order, 0, steps, losses, corrects)

    epoch()  # warm-up
    return epoch, compile_s, n_threads, n_update


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


def products_blas():
    """The BLAS nbnet's products run on (kernels/blas.py), with MKL's version when it is MKL."""
    choice = f"NBNET_BLAS={os.environ.get('NBNET_BLAS', 'auto')}"
    if kernels.BLAS != "mkl":
        return f"OpenBLAS ({choice})"
    from importlib import metadata

    return f"MKL {metadata.version('mkl')} ({choice})"


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


def prepare_torch(x, y, order, batch, work=WORKLOAD_A, compiled=False):
    """PyTorch's epoch function (warmed up), its first call's seconds and a description,
    or None without torch. ``compiled``: the whole step under ``torch.compile``."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    activation = {"tanh": torch.nn.Tanh, "ReLU": torch.nn.ReLU}[work.activation]
    layers = []
    for n_in, n_out in zip(work.sizes[:-1], work.sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out), activation()]
    model = torch.nn.Sequential(*layers[:-1])
    rule = {"adam": torch.optim.Adam, "nadam": torch.optim.NAdam}[work.optimizer]
    hyper = work.hyper
    opt = rule(
        model.parameters(),
        lr=hyper["learning_rate"],
        betas=(hyper["beta1"], hyper["beta2"]),
        eps=hyper["epsilon"],
        weight_decay=work.weight_decay,
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt, ot = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(order)

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = torch.compile(step)

    def epoch():
        for start in range(0, len(ot), batch):
            idx = ot[start : start + batch]
            step(xt[idx], yt[idx])

    start = time.perf_counter()
    epoch()  # warm-up (and torch.compile's compilation)
    first_s = time.perf_counter() - start
    return epoch, first_s, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def set_thread_mode(threads):
    """``threads`` "1": this process on one core, every library on one thread; "all": defaults.

    Runs before JAX or PyTorch is imported (XLA reads ``XLA_FLAGS`` when it starts).
    Returns the BLAS threads nbnet gets (None: its policy) and the baselines' OpenBLAS limit.
    """
    if threads == "all":
        return None
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # XLA keeps worker threads even when told to use one
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {jax_mlp.ONE_THREAD_FLAGS}"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    import threadpoolctl

    from experiments.threads import load_blas

    load_blas()
    threadpoolctl.threadpool_limits(1)  # NumPy's and SciPy's OpenBLAS, for the whole run
    return 1


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


def ratio(peer, nb):
    return f"{peer:.3f} | {peer / nb:.2f}x"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", help="default: the workload's")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workload", choices=["A", "default"], default="A")
    parser.add_argument("--threads", choices=["1", "all"], default="all")
    parser.add_argument("--rows", type=int, default=N_TRAIN, help="training images per epoch")
    parser.add_argument("--torch-compile", action="store_true", help="add torch.compile's column")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md")
    parser.add_argument(
        "--update-threads",
        type=int,
        help="threads of nbnet's optimizer update (default: experiments/threads.py's policy)",
    )
    parser.add_argument(
        "--section",
        default="",
        help="name of the RESULTS.md table to (re)write, for a second setting "
        "such as one core or other OpenBLAS kernels (default: the main table)",
    )
    args = parser.parse_args(argv)
    if not DATA.exists():
        sys.exit(f"needs Fashion-MNIST at {DATA}")
    blas = set_thread_mode(args.threads)
    work = WORKLOAD_A if args.workload == "A" else default_workload()
    pixels, x, y = load(args.rows)
    order = np.random.default_rng(0).permutation(len(x)).astype(np.int64)
    columns = [
        "batch",
        "nbnet s/epoch",
        "nbnet threads: BLAS, update",
        "nbnet compile s",
        "JAX s/epoch",
        "JAX / nbnet",
        "JAX first epoch s",
        "PyTorch s/epoch",
        "PyTorch / nbnet",
        "NumPy s/epoch",
        "NumPy / nbnet",
        "BLAS floor s/epoch",
        "nbnet / floor",
        "step floor s/epoch",
        "nbnet / step floor",
        "JAX / step floor",
        "nbnet, update on 1 thread s/epoch",
        "nbnet on float32 rows s/epoch",
    ]
    if args.torch_compile:
        columns += ["torch.compile s/epoch", "torch.compile / nbnet", "torch.compile first s"]
    header = "| " + " | ".join(columns) + " |"
    rows = [header, "|" + "---|" * len(columns)]
    print(header, flush=True)
    peers = ["PyTorch not installed", "JAX not installed"]
    for batch in args.batch or work.batches:
        nbnet_epoch, compile_s, nb_threads, nb_update = prepare_nbnet(
            pixels, y, order, batch, work, blas, args.update_threads
        )
        steps = -(-len(order) // batch)
        epochs = {
            "nbnet": nbnet_epoch,
            "floor": prepare_blas_floor(batch, steps, work.sizes, nb_threads),
            "step floor": prepare_step_floor(pixels, y, order, batch, work, nb_threads, nb_update),
        }
        if nb_update > 1:  # the same run with the update on the calling thread alone
            epochs["nbnet, update on 1"] = prepare_nbnet(pixels, y, order, batch, work, blas, 1)[0]
        # The same run gathering from float32 rows, as before the pixels (kernels/pixels.py).
        epochs["nbnet, float32 rows"] = prepare_nbnet(
            x, y, order, batch, work, blas, args.update_threads
        )[0]
        if work is WORKLOAD_A:
            epochs["numpy"] = prepare_numpy(x, y, order, batch)
        jax_first = None
        if jax_mlp.available():
            epochs["jax"], jax_first, peers[1] = jax_mlp.prepare(
                x, y, order, batch, work.sizes, work.activation, work.optimizer,
                work.hyper["learning_rate"], work.weight_decay,
            )  # fmt: skip
        torch_result = prepare_torch(x, y, order, batch, work)
        if torch_result:
            epochs["torch"], _, peers[0] = torch_result
        compiled_first = None
        if args.torch_compile and torch_result:
            epochs["torch.compile"], compiled_first, _ = prepare_torch(
                x, y, order, batch, work, compiled=True
            )
        medians = interleaved_medians(epochs, args.repeats)
        nb = medians["nbnet"]

        def peer(name):
            return ratio(medians[name], nb) if name in medians else "- | -"

        cells = [
            str(batch),
            f"{nb:.3f}",
            f"{nb_threads}, {nb_update}",
            f"{compile_s:.2f}",
            peer("jax"),
            f"{jax_first:.2f}" if jax_first is not None else "-",
            peer("torch"),
            peer("numpy"),
            f"{medians['floor']:.3f} | {nb / medians['floor']:.2f}x",
            f"{medians['step floor']:.3f} | {nb / medians['step floor']:.2f}x",
            f"{medians['jax'] / medians['step floor']:.2f}x" if "jax" in medians else "-",
            f"{medians['nbnet, update on 1']:.3f}" if nb_update > 1 else "-",
            f"{medians['nbnet, float32 rows']:.3f}",
        ]
        if args.torch_compile:
            first = f"{compiled_first:.1f}" if compiled_first is not None else "-"
            cells += [peer("torch.compile"), first]
        row = "| " + " | ".join(cells) + " |"
        rows.append(row)
        print(row, flush=True)
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({len(os.sched_getaffinity(0))} used, --threads {args.threads}), "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"numba {numba.__version__}, {peers[1]}, {peers[0]}; nbnet's products: "
        f"{products_blas()}; OpenBLAS kernels: "
        f"{openblas_kernels()} ({coretype_origin()}); workload {work.name}: "
        f"{'-'.join(map(str, work.sizes))} {work.activation} {work.optimizer}"
    )
    print(machine)
    if not args.no_write:
        command = shlex.join(["python", "perf/bench_cpu.py", *(argv or sys.argv[1:])])
        title = "## Workload A, CPU" if work is WORKLOAD_A else "## Default configuration, CPU"
        title += f", {args.section}" if args.section and "default" not in args.section else ""
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
    return rows


if __name__ == "__main__":
    main()
