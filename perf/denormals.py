"""Does an epoch get slower as training goes on? The default run, end to end, epoch by epoch.

Subnormal floats (|x| < 1.18e-38) in the parameters or the optimizer state make
every operation on them take a slow path on x86 processors, and they pile up as
a run goes on (dead ReLU units under weight decay, their Adam moments). This
runs the shipped default configuration (``python train.py``, only the epoch
count and the output folders changed) and reports the time of every epoch, the
ratio of the last epoch to the second (the first includes warm-up effects), and
how many subnormal parameters the saved model holds:

    python perf/denormals.py                    # this checkout, 12 epochs
    python perf/denormals.py --rev 3de211c      # and the same command at another commit, in turns
    python perf/denormals.py --rev 3de211c --write   # record the table in perf/RESULTS.md

``--rev`` checks the commit out into a temporary git worktree and runs its own
``train.py`` there, so "before" and "after" are the same command on the same
machine, alternating when ``--repeats`` is above 1. The check: the ratio stays
within 1.15.
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from bench_cpu import DATA, ROOT, write_results_section  # a sibling script

#: Largest acceptable last-epoch / second-epoch time ratio.
LIMIT = 1.15


def train_command(checkout, epochs, runs_dir, extra=()):
    """The default run for ``epochs`` epochs, W&B off, its run folder under ``runs_dir``."""
    return [
        sys.executable,
        str(checkout / "train.py"),
        "--epochs",
        str(epochs),
        "--wandb_mode",
        "disabled",
        "--data_dir",
        str(DATA),
        "--runs_dir",
        str(runs_dir),
        *extra,
    ]


def run_once(checkout, epochs, extra=()):
    """Train once in ``checkout``; returns epoch seconds, wall seconds and subnormal parameters."""
    with tempfile.TemporaryDirectory() as runs_dir:
        started = time.perf_counter()
        subprocess.run(
            train_command(checkout, epochs, runs_dir, extra),
            cwd=checkout,
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(checkout)},
        )
        wall = time.perf_counter() - started
        (run,) = Path(runs_dir).iterdir()
        metrics = json.loads((run / "metrics.json").read_text())
        with np.load(run / "model.npz") as model:
            params = np.abs(model["params"].astype(np.float64))
    seconds = [epoch["train_seconds"] for epoch in metrics["epochs"]]
    tiny = float(np.finfo(np.float32).tiny)
    return seconds, wall, int(np.count_nonzero((params > 0) & (params < tiny)))


def short_hash(rev):
    return subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


def table(results, epochs):
    head = "| checkout | " + " | ".join(f"ep {e}" for e in range(1, epochs + 1))
    head += " | last / second | wall s | subnormal params |\n"
    head += "|---" * (epochs + 4) + "|\n"
    rows = []
    for label, (seconds, wall, subnormal) in results:
        ratio = seconds[-1] / seconds[1]
        mark = "" if ratio <= LIMIT else " (over the limit)"
        rows.append(
            f"| {label} | "
            + " | ".join(f"{s:.2f}" for s in seconds)
            + f" | **{ratio:.2f}**{mark} | {wall:.0f} | {subnormal:,} |\n"
        )
    return head + "".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--rev", help="also run this git revision, in turns with the checkout")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each checkout")
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    parser.add_argument(
        "--train-args",
        default="",
        help="more train.py flags, e.g. a small network for a quick check",
    )
    args = parser.parse_args(argv)
    extra = shlex.split(args.train_args)
    if args.epochs < 3:
        parser.error("--epochs must be at least 3 (the ratio compares the last with the second)")

    with ExitStack() as stack:
        checkouts = [(f"{short_hash('HEAD')} (this checkout)", ROOT)]
        if args.rev:
            tree = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "rev"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(tree), args.rev],
                cwd=ROOT,
                check=True,
            )
            stack.callback(
                subprocess.run,
                ["git", "worktree", "remove", "--force", str(tree)],
                cwd=ROOT,
                check=False,
            )
            checkouts.insert(0, (f"{short_hash(args.rev)} (--rev)", tree))
        results = []
        for _ in range(args.repeats):
            for label, checkout in checkouts:
                seconds, wall, subnormal = run_once(checkout, args.epochs, extra)
                print(
                    f"{label}: epochs {' '.join(f'{s:.2f}' for s in seconds)}; "
                    f"last/second {seconds[-1] / seconds[1]:.2f}; wall {wall:.0f} s; "
                    f"{subnormal} subnormal parameters",
                    flush=True,
                )
                results.append((label, (seconds, wall, subnormal)))

    text = table(results, args.epochs)
    print("\n" + text)
    if args.write:
        command = "python perf/denormals.py --epochs {}{}{}".format(
            args.epochs,
            f" --rev {args.rev}" if args.rev else "",
            f" --repeats {args.repeats}" if args.repeats > 1 else "",
        )
        cpu = platform.processor() or platform.machine()
        section = (
            "## Denormals: epoch time over a long default run (written by perf/denormals.py)\n\n"
            f"Command: `{command}`  \n"
            f"Machine: {cpu_model() or cpu}, {os.cpu_count()} cores, default thread settings; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  \n"
            "Seconds of training per epoch (validation excluded) of `python train.py` (the "
            f"default configuration), run end to end; the limit for last / second is {LIMIT}.\n\n"
            + text
            + "\n"
        )
        print(f"written to {write_results_section('denormals', section)}")


def cpu_model():
    """The processor's model name from /proc/cpuinfo, or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
