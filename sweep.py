#!/usr/bin/env python
"""Run a hyperparameter sweep from a W&B sweep YAML file, online or offline, and analyse it.

    python sweep.py sweeps/fashion_mnist.yaml --count 60          # runs trials, writes the report
    python sweep.py sweeps/fashion_mnist.yaml --report_only       # redraws the report

Online (W&B logged in, or --mode online) the sweep is created on W&B and run by
wandb.agent; offline an embedded Optuna study runs the same YAML, stored in
<out>/study.db so that re-running the command resumes a stopped sweep.
"""

import argparse
import sys
from pathlib import Path

import optuna

from experiments import interrupts
from experiments.app.tracking import MODES, resolve_mode, server_address, server_reachable
from experiments.config import RunConfig
from experiments.data import DataError
from experiments.folders import unwritable
from experiments.sweeps.online import run_online
from experiments.sweeps.report import write_report
from experiments.sweeps.spec import SweepSpecError, load_spec
from experiments.sweeps.storage import (
    StorageError,
    default_storage,
    open_study,
    shown,
    stored_study,
)
from experiments.sweeps.workers import resolve_workers, run_offline


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range: must be >= 1")
    return value


def workers_arg(text):
    return "auto" if text == "auto" else positive_int(text)


def build_parser():
    p = argparse.ArgumentParser(prog="sweep.py", description=__doc__.splitlines()[1])
    p.add_argument("spec", help="W&B sweep YAML file (see sweeps/)")
    p.add_argument(
        "--count",
        type=positive_int,
        default=None,
        help="total trials the sweep should hold (default: the grid size for grid, "
        "else run_cap, else 20); re-running continues up to this number",
    )
    p.add_argument(
        "--workers",
        type=workers_arg,
        default="auto",
        help="trial processes on this machine (offline); auto = one per usable core, each "
        "pinned to its core and one BLAS thread",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL shared by workers and machines, e.g. "
        "postgresql://user:pw@host/db (default: sqlite file in the report folder)",
    )
    p.add_argument(
        "--name", default=None, help="sweep (study) name; default: the YAML's name or file name"
    )
    p.add_argument("--out", default=None, help="report folder (default: sweep_runs/<name>)")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="auto",
        help="auto = W&B sweep when logged in, embedded Optuna otherwise; the trials' "
        "own W&B runs follow the same mode",
    )
    p.add_argument("--data_dir", default=None, help="folder with the IDX files")
    p.add_argument("--seed", type=int, default=0, help="seeds the sampler and every trial's split")
    p.add_argument("-wp", "--wandb_project", default="nbnet")
    p.add_argument("-we", "--wandb_entity", default=None)
    p.add_argument(
        "--report_only", action="store_true", help="only redraw the report of a stored sweep"
    )
    return p


def _online_or_offline(mode, asked):
    """``mode``, or offline when W&B's server does not answer and the mode was not asked for
    (None: it was asked for, and the sweep cannot run there)."""
    if mode != "online" or server_reachable():
        return mode
    host, port = server_address()
    if asked == "online":
        print(
            f"sweep.py: error: W&B server {host}:{port} unreachable; run the sweep here with "
            "--mode offline (the embedded engine runs the same YAML)",
            file=sys.stderr,
        )
        return None
    print(f"W&B server {host}:{port} unreachable; running the sweep offline here")
    return "offline"


def main(argv=None):
    args = build_parser().parse_args(argv)
    # The workers get SIGTERM too when this process dies, and the sweep resumes later.
    interrupts.stop_on_sigterm()
    try:
        spec = load_spec(args.spec)
    except SweepSpecError as exc:
        print(f"sweep.py: error: {exc}", file=sys.stderr)
        return 2
    name = args.name or spec.name or Path(args.spec).stem
    out = Path(args.out or Path("sweep_runs") / name)
    problem = unwritable(out)
    if problem:
        print(
            f"sweep.py: error: cannot write the sweep's folder {out} ({problem}); "
            "choose another folder with --out",
            file=sys.stderr,
        )
        return 1
    storage = args.storage or default_storage(out)
    count = args.count or (spec.grid_size() if spec.method == "grid" else spec.run_cap or 20)
    if spec.run_cap:
        count = min(count, spec.run_cap)
    mode = _online_or_offline(resolve_mode(args.mode), args.mode)
    if mode is None:
        return 1
    base = RunConfig(
        wandb_mode=mode,
        wandb_project=args.wandb_project,
        wandb_entity=args.wandb_entity,
        seed=args.seed,
        data_dir=args.data_dir,
        quiet=True,
        save_model=False,
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        if args.report_only:
            if not stored_study(storage, name):
                print(
                    f"sweep.py: error: --report_only: no sweep {name!r} is stored in "
                    f"{shown(storage)}; run it first (without --report_only)",
                    file=sys.stderr,
                )
                return 1
            study = open_study(spec, storage, name, args.seed)
        elif mode == "online":
            sweep_id = run_online(spec, base, count)
            print(
                f"W&B sweep {sweep_id}: add agents on other machines with "
                f"wandb agent {args.wandb_entity or '<entity>'}/{args.wandb_project}/{sweep_id}"
            )
            return 0
        else:
            workers = resolve_workers(args.workers)
            print(
                f"sweep {name}: {spec.method} search, up to {count} trials, up to {workers} "
                f"worker(s), study in {shown(storage)}"
            )
            study = run_offline(args.spec, base, storage, name, count, workers, args.seed)
    except DataError as exc:
        print(f"sweep.py: data error: {exc}", file=sys.stderr)
        return 1
    except StorageError as exc:
        print(f"sweep.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume (study in {shown(storage)})")
        return 130
    try:
        best = write_report(study, spec, out, base)
    except OSError as exc:  # a full disk, above all: the trials are safe in the study
        again = f"python sweep.py {args.spec} --report_only" + (f" --out {out}" if args.out else "")
        print(
            f"sweep.py: error: could not write the report into {out} ({exc.strerror or exc}); "
            f"the trials are kept in {shown(storage)}: free space, then draw it with {again}",
            file=sys.stderr,
        )
        return 1
    if best:
        print(
            f"best validation accuracy {best['val_accuracy']:.2%} (trial {best['number']}): "
            f"{best['train_command']}"
        )
    print(f"report: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
