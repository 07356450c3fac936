"""What a shared PostgreSQL study costs per trial, against the default sqlite file.

Runs the fixed small trial of perf/sweep_throughput.py (3 x 128 tanh, 3 epochs of
Fashion-MNIST), eight per sweep with one worker, on a sqlite file and on the
PostgreSQL server given, in turns, and prints the median per-trial overhead
(a trial's wall time less its training and compilation: sampling, storage reads
and writes, the per-epoch reports, validation) and trials per hour:

    python perf/storage_overhead.py --postgres postgresql://user@host:port/db [--write]

A throwaway local server for it: ``initdb -D DIR -A trust -U nbnet`` and
``pg_ctl -D DIR -o "-p 5433 -k DIR" -w start`` (as a user other than root), then
``--postgres postgresql://nbnet@127.0.0.1:5433/postgres``.
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import optuna
from sweep_throughput import SMOKE_SPEC, SPEC, TRIALS_PER_WORKER, check, measure

from bench_cpu import write_results_section  # siblings


def overheads(study):
    return [
        t.user_attrs["seconds"] - t.user_attrs["train_seconds"] - t.user_attrs["compile_seconds"]
        for t in study.get_trials(deepcopy=False)
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="postgresql://... URL of a server")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    parser.add_argument("--smoke", action="store_true", help="one tiny trial per sweep (tests)")
    args = parser.parse_args(argv)
    per_worker, spec = (1, SMOKE_SPEC) if args.smoke else (TRIALS_PER_WORKER, SPEC)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    results = {"sqlite": [], "PostgreSQL": []}
    for _ in range(args.repeats):
        for kind in results:
            with tempfile.TemporaryDirectory() as tmp:
                storage = args.postgres if kind == "PostgreSQL" else None
                name = f"overhead-{uuid.uuid4().hex[:8]}"  # a fresh study on the server
                seconds, study, count = measure(1, Path(tmp), storage, name, per_worker, spec)
                check(study, count)
                results[kind].append((seconds, overheads(study)))
    header = "| storage | trials per hour | median overhead per trial (s) |\n|---|---|---|\n"
    rows = ""
    for kind, runs in results.items():
        per_hour = statistics.median(per_worker / s * 3600 for s, _ in runs)
        overhead = statistics.median(o for _, trial in runs for o in trial)
        rows += f"| {kind} | {per_hour:,.0f} | {overhead:.3f} |\n"
    print(header + rows, end="")
    if args.write:
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
        section = (
            f"### Sweep storage: sqlite against PostgreSQL\n\nCommand: `python "
            f"perf/storage_overhead.py --postgres URL --write` ({machine}, a local server, "
            f"{time.strftime('%Y-%m-%d')}). {TRIALS_PER_WORKER} trials per sweep, one worker, "
            f"{args.repeats} sweeps per storage in turns.\n\n" + header + rows
        )
        print("wrote", write_results_section("storage-overhead", section))


if __name__ == "__main__":
    main()
