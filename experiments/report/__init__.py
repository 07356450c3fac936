"""Regenerate every figure and table of the README from saved runs, offline.

    python -m experiments.report                 # everything below
    python -m experiments.report samples best    # some parts

Parts:

``samples``  one image per class of both datasets (``figures/samples_<dataset>.png``);
``best``     for each dataset's best model: the seed-0 run of the record attempt with
             augmentation (``runs/records/<dataset>_augment``), else the newest run under
             ``runs/best_<dataset>``: the test accuracy, a confusion matrix with the most confused
             pairs and per-class precision/recall, and a gallery of the most confident mistakes;
``losses``   cross-entropy against squared error from the ``loss_comparison`` sweep
             (``sweep_runs/loss_comparison``): curves over epochs, spread across seeds;
``mnist``    the MNIST transfer runs under ``runs/mnist_transfer``: one table row each;
``augment``  training images of both datasets beside their distortions in later epochs, with
             the settings of the newest run under ``runs/records/<dataset>_augment*`` (else the
             defaults of ``--augment affine``);
``records``  the record attempts under ``runs/records/<group>/``: one row per group (one
             configuration, several seeds) with the mean and spread of its test accuracy, and
             their validation curves (``figures/records.png``).

Images are also logged to W&B (offline unless logged in; ``--wandb_mode disabled`` skips it),
the confusion matrices as ``wandb.plot.confusion_matrix`` too. Tables are written as Markdown
next to the figures, ready to paste into the README.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from kernels import augment as distort
from network import MLP

from ..app.tracking import MODES, Tracker
from ..config import ConfigError, from_saved, is_run_config, regularization
from ..data import CLASS_NAMES, DataError, as_inputs, load_dataset
from ..folders import unwritable
from ..seeds import derived_seed
from ..training import augmentation
from .figures import (
    augment_grid,
    confusion_figure,
    loss_comparison,
    misclassified_gallery,
    record_curves,
    sample_grid,
)
from .metrics import confusion_matrix, most_confused

PARTS = ("samples", "best", "losses", "mnist", "augment", "records")


def newest_run(folder):
    runs = sorted(
        (p for p in Path(folder).glob("*") if (p / "model.npz").exists()), key=lambda p: p.name
    )
    return runs[-1] if runs else None


def best_run(runs, name):
    """The run folder of ``name``'s best model (see the module docstring), or None. The seed
    fixes the choice in advance: it never depends on the test accuracy."""
    for run_dir in sorted(Path(runs, "records", f"{name}_augment").glob("*")):
        try:
            seed = json.loads((run_dir / "config.json").read_text())["seed"]
        except (OSError, ValueError, KeyError):
            continue
        if seed == 0 and (run_dir / "model.npz").exists():
            return run_dir
    return newest_run(Path(runs) / f"best_{name}")


def samples(args, out, tracker):
    lines = []
    for name in CLASS_NAMES:
        ds = load_dataset(name, args.data_dir.get(name), include_test=False)
        path = sample_grid(
            out / f"samples_{name}.png",
            ds.x_train,
            ds.y_train,
            ds.class_names,
            f"{name}: one training image per class",
        )
        tracker.log_image(f"samples/{name}", path, caption=f"one {name} image per class")
        lines.append(f"- {path}")
    return lines


def best(args, out, tracker):
    rows = [
        "| dataset | run | best val acc | test acc | most confused (true -> predicted) |",
        "|---|---|---|---|---|",
    ]
    for name in CLASS_NAMES:
        run_dir = best_run(args.runs, name)
        if run_dir is None:
            rows.append(f"| {name} | no best run under {args.runs} | - | - | - |")
            continue
        net, metadata = MLP.load(run_dir / "model.npz")
        ds = load_dataset(name, args.data_dir.get(name))
        proba = net.predict_proba(as_inputs(ds.x_test))
        predicted = proba.argmax(axis=1)
        accuracy = float(np.mean(predicted == ds.y_test))
        matrix = confusion_matrix(ds.y_test, predicted, len(ds.class_names))
        title = f"{name} test set: {accuracy:.2%} accurate"
        confusion_figure(out / f"confusion_{name}.png", matrix, ds.class_names, title)
        misclassified_gallery(
            out / f"mistakes_{name}.png", ds.x_test, ds.y_test, proba, ds.class_names, f"{name}"
        )
        tracker.log_image(f"best/{name}/confusion", out / f"confusion_{name}.png", caption=title)
        tracker.log_image(f"best/{name}/mistakes", out / f"mistakes_{name}.png")
        tracker.log_confusion_matrix(
            ds.y_test, predicted, ds.class_names, key=f"best/{name}/confusion_matrix"
        )
        saved = _saved_run(run_dir)
        val = saved[1].get("best_val_accuracy") if saved else None
        pairs = ", ".join(
            f"{ds.class_names[i]} -> {ds.class_names[j]} ({c})" for i, j, c in most_confused(matrix)
        )
        rows.append(f"| {name} | `{run_dir.name}` | {_percent(val)} | {accuracy:.2%} | {pairs} |")
    (out / "best.md").write_text("\n".join(rows) + "\n")
    return rows


def losses(args, out, tracker):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = Path(args.sweeps) / "loss_comparison" / "study.db"
    if not db.exists():
        return [
            f"no loss comparison sweep at {db}; run python sweep.py sweeps/loss_comparison.yaml"
        ]
    study = optuna.load_study(study_name="loss_comparison", storage=f"sqlite:///{db.resolve()}")
    curves = {}
    for t in study.get_trials(deepcopy=False):
        if t.state.name == "COMPLETE" and "epochs" in t.user_attrs:
            curves.setdefault((t.params["loss"], t.params["optimizer"]), []).append(
                t.user_attrs["epochs"]
            )
    path = loss_comparison(
        out / "loss_comparison.png",
        curves,
        "Cross-entropy vs squared error (3 x 128 tanh, batch 32, lr 1e-3; "
        "line = mean, band = min..max over seeds)",
    )
    tracker.log_image("losses/comparison", path)
    rows = [
        "| loss | optimizer | seeds | final val acc (mean, min..max) "
        "| epochs to 85% val acc (mean) |",
        "|---|---|---|---|---|",
    ]
    for (loss, opt), runs in sorted(curves.items()):
        final = np.array([run[-1]["val_accuracy"] for run in runs]) * 100
        reach = [
            next((m["epoch"] for m in run if m["val_accuracy"] >= 0.85), np.nan) for run in runs
        ]
        rows.append(
            f"| {loss} | {opt} | {len(runs)} | {final.mean():.2f}% "
            f"({final.min():.2f}..{final.max():.2f}) "
            f"| {np.nanmean(reach) if not np.all(np.isnan(reach)) else float('nan'):.1f} |"
        )
    (out / "loss_comparison.md").write_text("\n".join(rows) + "\n")
    return rows


def mnist(args, out, tracker):
    rows = ["| run | configuration | best val acc | test acc |", "|---|---|---|---|"]
    for run_dir in sorted(Path(args.runs, "mnist_transfer").glob("*")):
        run = _saved_run(run_dir)
        if run is None:
            continue
        config, metrics = run
        arch = "-".join(map(str, from_saved(config).layer_widths))
        desc = (
            f"{arch} {config['activation']}, {config['optimizer']} lr {config['learning_rate']:g}"
            f", batch {config['batch_size']}, {len(metrics['epochs'])} epochs"
            + (f", dropout {config['dropout']:g}" if config.get("dropout") else "")
            + (
                f", {config['lr_schedule']}"
                if config.get("lr_schedule", "constant") != "constant"
                else ""
            )
        )
        test = metrics.get("test_accuracy")
        rows.append(
            f"| `{run_dir.name}` | {desc} | {_percent(metrics.get('best_val_accuracy'))} | "
            + (f"{test:.2%} |" if test is not None else "- |")
        )
    (out / "mnist_transfer.md").write_text("\n".join(rows) + "\n")
    return rows


def _saved_run(run_dir):
    """``(config, metrics)`` of a run folder as train.py writes them, or None for anything
    else (a folder of another tool, a run killed before its end, hand-edited files)."""
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config = json.loads((run_dir / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not (is_run_config(config) and isinstance(metrics, dict)):
        return None
    if not isinstance(metrics.get("epochs"), list) or not metrics["epochs"]:
        return None
    try:
        from_saved(config)
    except ConfigError:
        return None
    return config, metrics


def _finished_runs(folder):
    """``(config, metrics)`` of every finished run directly under ``folder``."""
    found = []
    for run_dir in sorted(Path(folder).glob("*")):
        run = _saved_run(run_dir)
        if run is not None and run[1].get("status") == "finished":
            found.append(run)
    return found


def augment(args, out, tracker):
    lines = []
    for name in CLASS_NAMES:
        runs = []
        for group in sorted(Path(args.runs, "records").glob(f"{name}_augment*")):
            runs += _finished_runs(group)
        saved = runs[-1][0] if runs else {"augment": "affine", "dataset": name}
        config = from_saved(saved)
        ds = load_dataset(name, args.data_dir.get(name), include_test=False)
        x = as_inputs(ds.x_train)
        rows = [int(np.flatnonzero(ds.y_train == cls)[0]) for cls in range(0, 10, 2)]
        side = ds.x_train.shape[1]
        distorted = np.empty((len(rows), 7, side, side), dtype=np.float32)
        aug = augmentation(config, x.shape[1])
        for r, row in enumerate(rows):
            for epoch in range(1, 8):
                out_row = distorted[r, epoch - 1].reshape(-1)
                seeded = aug._replace(seed=derived_seed(config.seed, epoch))
                distort.augmented_row(x, None, row, seeded, r, out_row)
        distortions_only = config.replace(
            dropout=0.0, input_dropout=0.0, max_norm=0.0, ema=0.0, lr_schedule="constant"
        )
        title = f"{name}: {regularization(distortions_only)}"
        originals = x[rows].reshape(-1, side, side)
        path = augment_grid(out / f"augment_{name}.png", originals, distorted, title)
        tracker.log_image(f"augment/{name}", path, caption=title)
        lines.append(f"- {path}")
    return lines


def records(args, out, tracker):
    rows = [
        "| group | dataset | what is added to plain training | epochs | seeds "
        "| test acc, mean (min..max) | best val acc, mean | s/epoch (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    curves = {}
    for group in sorted(p for p in Path(args.runs, "records").glob("*") if p.is_dir()):
        runs = _finished_runs(group)
        tested = [(c, m) for c, m in runs if m.get("test_accuracy") is not None]
        if not tested:
            continue
        config = from_saved(tested[0][0])
        curves[(config.dataset, group.name)] = [m["epochs"] for _, m in tested]
        test = np.array([m["test_accuracy"] for _, m in tested]) * 100
        val = np.mean([m.get("best_val_accuracy", np.nan) for _, m in tested]) * 100
        speed = np.median([m.get("seconds_per_epoch", np.nan) for _, m in tested])
        seeds = ", ".join(str(c["seed"]) for c, _ in tested)
        rows.append(
            f"| `{group.name}` | {config.dataset} | {regularization(config) or 'nothing'} "
            f"| {config.epochs} | {seeds} | {test.mean():.2f}% "
            f"({test.min():.2f}..{test.max():.2f}) | {val:.2f}% | {speed:.1f} |"
        )
    (out / "records.md").write_text("\n".join(rows) + "\n")
    if curves:
        path = record_curves(
            out / "records.png", curves, "Record attempts: validation accuracy per epoch"
        )
        tracker.log_image("records/curves", path)
    return rows


def _percent(value):
    """A fraction as a percentage for a table, ``-`` when a run did not record it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "-"
    return f"{value:.2%}"


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m experiments.report", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "parts",
        nargs="*",
        metavar="PART",
        help=f"what to regenerate: {', '.join(PARTS)} (default: all)",
    )
    p.add_argument("--out", default="figures", help="folder for the figures and tables")
    p.add_argument("--runs", default="runs", help="folder holding the saved runs")
    p.add_argument("--sweeps", default="sweep_runs", help="folder holding the sweep studies")
    p.add_argument("--data_dir", default=None, help="folder with both datasets' subfolders")
    p.add_argument("--wandb_mode", choices=MODES, default="auto")
    p.add_argument("-wp", "--wandb_project", default="nbnet")
    p.add_argument("-we", "--wandb_entity", default=None)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f"invalid part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    parts = args.parts or list(PARTS)
    base = Path(args.data_dir) if args.data_dir else None
    args.data_dir = {
        name: (str(base / name.replace("_", "-")) if base else None) for name in CLASS_NAMES
    }
    out = Path(args.out)
    problem = unwritable(out)
    if problem:
        print(
            f"report: error: cannot write the figures into {out} ({problem}); "
            "choose another folder with --out",
            file=sys.stderr,
        )
        return 1
    tracker = Tracker(
        {
            "wandb_mode": args.wandb_mode,
            "wandb_project": args.wandb_project,
            "wandb_entity": args.wandb_entity,
            "parts": parts,
        },
        "report",
    )
    failed = []
    for part in parts:
        print(f"== {part}")
        try:
            for line in globals()[part](args, out, tracker):
                print(line)
        except (DataError, OSError, ValueError) as exc:  # ValueError: a damaged model file
            failed.append(part)
            advice = (
                "; give --data_dir the folder of both datasets"
                if isinstance(exc, DataError)
                else ""
            )
            print(f"report: {part}: {exc}{advice}", file=sys.stderr)
    tracker.finish()
    print(tracker.message)
    if failed:
        print(f"report: {', '.join(failed)} not written (above: why)", file=sys.stderr)
        return 1
    return 0
