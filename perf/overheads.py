"""What nbnet's safety nets cost a run: the per-epoch checkpoint and the dataset digests.

* checkpoint: writing ``checkpoint.npz`` (atomic, fsync'd) for the default network
  (784-1024-1024-10, nadam: parameters and two moment slots, 22 MB), once per epoch;
* digests: the SHA-256 of every loaded Fashion-MNIST file, once per run (or per sweep
  worker), next to loading the files without them.

    python perf/overheads.py            # prints the table
    python perf/overheads.py --write    # and records it in perf/RESULTS.md
"""

import argparse
import os
import platform
import tempfile
import time

import numpy as np

import optimizers
from experiments.checkpoint import Checkpoint, CheckpointFile
from experiments.data import load_dataset
from experiments.data.identity import digest
from network import MLP

from bench_cpu import DATA, write_results_section  # a sibling script
from bench_cpu import timed as median_seconds

NADAM = dict(learning_rate=1e-4, beta1=0.9, beta2=0.999, epsilon=1e-8)


def checkpoint_seconds(repeats):
    net = MLP([784, 1024, 1024, 10])
    state = optimizers.get("nadam").init(net.layout.n_params, net.dtype, NADAM)
    history = [{"epoch": e, "train_loss": 0.5, "val_accuracy": 0.9} for e in range(30)]
    state_of_shuffler = np.random.default_rng(0).bit_generator.state
    with tempfile.TemporaryDirectory() as folder:
        store = CheckpointFile(folder)
        checkpoint = Checkpoint(
            30, net.params, state.slots, state.scalars, state_of_shuffler, history, 12, 0.9
        )
        seconds = median_seconds(lambda: store.save(checkpoint), repeats)
        size = store.path.stat().st_size
    return seconds, size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    args = parser.parse_args(argv)
    save, size = checkpoint_seconds(args.repeats)
    dataset = load_dataset("fashion_mnist", DATA)
    arrays = [dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test]
    digests = median_seconds(lambda: [digest(a) for a in arrays], args.repeats)
    loading = median_seconds(lambda: load_dataset("fashion_mnist", DATA), args.repeats)
    table = (
        "| what | when | seconds (median) |\n|---|---|---|\n"
        f"| checkpoint of the default network ({size / 1e6:.1f} MB) | every epoch | {save:.3f} |\n"
        f"| SHA-256 of Fashion-MNIST's four files | every run | {digests:.3f} |\n"
        f"| loading Fashion-MNIST, digests included | every run | {loading:.3f} |\n"
    )
    print(table, end="")
    if args.write:
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        section = (
            "### Safety nets: checkpoints and dataset digests\n\nCommand: `python "
            f"perf/overheads.py --write` ({machine}, {time.strftime('%Y-%m-%d')}), median of "
            f"{args.repeats}. A default epoch takes about 5 s here (perf/denormals.py).\n\n" + table
        )
        print("wrote", write_results_section("overheads", section))


if __name__ == "__main__":
    main()
