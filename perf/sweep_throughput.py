"""Trials per hour by number of sweep workers, and a check that none was lost or repeated.

A fixed small trial (3 x 128 tanh, batch 64, 3 epochs of Fashion-MNIST, nadam
with a random learning rate) is run by 1, 2, 4, ... workers up to the usable
cores, each measurement a fresh random-search study with eight trials per
worker (repeated in turns, median). Two rates: end to end, from the sweep's
start to its end (worker start-up, data loading and compilation included: what
a short sweep costs), and steady, the sum of each worker's rate from its first
trial's start to its last one's end (what an hour-long sweep gets). After each measurement the
study must hold exactly the trials asked for, all complete, each trained once:

    python perf/sweep_throughput.py            # prints the table
    python perf/sweep_throughput.py --write    # and records it in perf/RESULTS.md

Targets (issue 13): 2 workers on 2 cores >= 1.8x one worker; 16 on 16 >= 12x.
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import optuna
import yaml

from experiments.config import RunConfig
from experiments.sweeps.trials import counted
from experiments.sweeps.workers import run_offline
from experiments.threads import usable_cores

from bench_cpu import DATA, write_results_section  # a sibling script

SPEC = {
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "num_layers": {"value": 3},
        "hidden_size": {"value": 128},
        "activation": {"value": "tanh"},
        "batch_size": {"value": 64},
        "epochs": {"value": 3},
        "optimizer": {"value": "nadam"},
    },
}
TRIALS_PER_WORKER = 8


def measure(
    workers, folder, storage=None, name="throughput", per_worker=TRIALS_PER_WORKER, spec=SPEC
):
    """Seconds for a sweep of ``TRIALS_PER_WORKER * workers`` trials, and its study
    (stored in ``storage``, by default a new sqlite file in ``folder``)."""
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    storage = storage or f"sqlite:///{folder / 'study.db'}"
    base = RunConfig(data_dir=str(DATA), wandb_mode="disabled", quiet=True, save_model=False)
    count = per_worker * workers
    start = time.perf_counter()
    study = run_offline(spec_path, base, storage, name, count, workers, notify=lambda m: 0)
    return time.perf_counter() - start, study, count


def _rate(trials):
    """Trials per hour of one worker, from its first trial's start to its last one's end."""
    span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return len(trials) / span.total_seconds() * 3600


def check(study, count):
    """Exactly ``count`` trials, all complete and counted, each configuration once."""
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == count, f"{len(trials)} trials for {count}"
    assert all(t.state == optuna.trial.TrialState.COMPLETE and counted(t) for t in trials)
    rates = [t.params["learning_rate"] for t in trials]
    assert len(set(rates)) == count, "a configuration was trained twice"


#: The --smoke sweep: one small trial of one epoch per worker (the tests run it).
SMOKE_SPEC = {
    **SPEC,
    "parameters": {**SPEC["parameters"], "epochs": {"value": 1}, "hidden_size": {"value": 16}},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the table in perf/RESULTS.md")
    parser.add_argument("--max_workers", type=int, default=usable_cores())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one tiny trial per worker (tests)")
    args = parser.parse_args(argv)
    per_worker, spec = (1, SMOKE_SPEC) if args.smoke else (TRIALS_PER_WORKER, SPEC)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    counts = [w for w in (1, 2, 4, 8, 16, 32, 64) if w <= args.max_workers]
    header = (
        "| workers | trials | seconds | trials per hour, end to end | vs 1 worker | trials per "
        "hour, steady | vs 1 worker | BLAS threads per worker | median training s per trial |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    runs = {workers: [] for workers in counts}
    for _ in range(args.repeats):  # in turns, so that a burst of load hits every count alike
        for workers in counts:
            with tempfile.TemporaryDirectory() as tmp:
                seconds, study, count = measure(
                    workers, Path(tmp), None, "throughput", per_worker, spec
                )
                check(study, count)
                runs[workers].append((seconds, study.get_trials(deepcopy=False), count))
    rows, one, one_steady = [], None, None
    for workers in counts:
        seconds, trials, count = sorted(runs[workers], key=lambda run: run[0])[args.repeats // 2]
        per_hour = count / seconds * 3600
        by_pid = {t.user_attrs["pid"]: t.user_attrs["blas_threads"] for t in trials}
        steady = sum(_rate([t for t in trials if t.user_attrs["pid"] == pid]) for pid in by_pid)
        one, one_steady = one or per_hour, one_steady or steady
        train = sorted(t.user_attrs["train_seconds"] for t in trials)[len(trials) // 2]
        row = (
            f"| {workers} | {count} | {seconds:.1f} | {per_hour:,.0f} | {per_hour / one:.2f}x | "
            f"{steady:,.0f} | {steady / one_steady:.2f}x | "
            f"{', '.join(map(str, sorted(by_pid.values())))} | {train:.2f} |\n"
        )
        rows.append(row)
    print(header + "".join(rows), end="")
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
        f"({usable_cores()} usable), {time.strftime('%Y-%m-%d')}"
    )
    section = (
        f"Command: `python perf/sweep_throughput.py --write` ({machine}). Trial: 3 x 128 tanh, "
        f"batch 64, 3 epochs of Fashion-MNIST; {TRIALS_PER_WORKER} trials per worker, timed "
        f"from the sweep's start to its end, median of {args.repeats} in turns; every study "
        "checked: each trial complete, counted and trained once.\n\n" + header + "".join(rows)
    )
    if args.write:
        name = f"sweep-throughput-{usable_cores()}-cores"
        print(
            "wrote",
            write_results_section(name, f"### Sweep workers, {usable_cores()} cores\n\n" + section),
        )


if __name__ == "__main__":
    main()
