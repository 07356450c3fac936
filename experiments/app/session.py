"""One complete run as ``train.py`` does it: data, split, training, test, saving, summary."""

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.markup import escape
from rich.table import Table

import kernels
from network.backends import resolve_device

from ..checkpoint import FILE as CHECKPOINT
from ..checkpoint import CheckpointError, CheckpointFile
from ..config import CONFIG_FILE, RUN_FORMAT, regularization, run_name
from ..data import DataError, as_inputs, run_data
from ..memory import TooLarge, check_fits
from ..report.metrics import confusion_matrix, most_confused
from ..training import (
    Callback,
    Callbacks,
    Diverged,
    History,
    build_network,
    train,
)
from .progress import RichProgress, make_console, print_problem
from .runs import RunLock, RunLocked, new_run_dir, read_status, write_confusion_csv, write_json
from .tracking import Tracker, remember_tracked_run, tracked_run_id

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130

DIVERGED_ADVICE = (
    "Try a smaller --learning_rate (for example a tenth), a smaller --weight_decay, "
    "--weight_init Xavier, or tanh/sigmoid instead of ReLU."
)


class _TrackerCallback(Callback):
    def __init__(self, tracker):
        self.tracker = tracker

    def on_epoch_end(self, metrics):
        self.tracker.log_epoch(metrics)


@dataclass
class Outcome:
    """What a run produced; ``status`` is ``finished``, ``interrupted`` or ``diverged``."""

    status: str
    exit_code: int
    run_dir: Path | None = None
    history: object = None
    test_accuracy: float | None = None


def run(config, console=None, wandb_module=None, resume=None):
    """Train one model as ``config`` (a RunConfig) says and report it; returns an
    :class:`Outcome`. ``resume``: a run folder to continue from its checkpoint."""
    console = console or make_console()
    start = time.perf_counter()
    try:
        config = config.replace(device=resolve_device(config.device))
    except RuntimeError as exc:  # CUDA asked for and unusable
        print_problem(console, "error", exc)
        return Outcome("failed", EXIT_ERROR)
    try:
        dataset, x_tr, y_tr, x_val, y_val = run_data(config, config.evaluate_test)
    except DataError as exc:
        print_problem(console, "data error", exc)
        return Outcome("failed", EXIT_ERROR)
    shape = dataset.x_train.shape[1:]
    if config.augment != "none" and (len(shape) != 2 or shape[0] != shape[1]):
        print_problem(
            console,
            "error",
            f"--augment {config.augment} distorts square images; these are "
            f"{'x'.join(map(str, shape))}: train without --augment",
        )
        return Outcome("failed", EXIT_ERROR)
    if config.val_fraction and not len(y_val):
        watching = [f"--{n}" for n in ("early_stopping", "restore_best") if getattr(config, n)]
        held_out = f"--val_fraction {config.val_fraction:g} of {len(y_tr)} training image(s)"
        if watching:
            print_problem(
                console,
                "error",
                f"{' and '.join(watching)}: need validation data, and {held_out} is none; "
                "use more data or drop them",
            )
            return Outcome("failed", EXIT_ERROR)
        print_problem(console, "note", f"{held_out} is none: no validation data", "yellow")
    try:
        check_fits(config, dataset.n_features, len(dataset.class_names))
    except TooLarge as exc:
        print_problem(console, "error", exc)
        return Outcome("failed", EXIT_ERROR)
    name = run_name(config)
    try:
        run_dir = open_run_dir(config, name, resume, dataset)
        lock = RunLock(run_dir)  # two processes never train one folder
    except (RunFolderError, RunLocked) as exc:
        print_problem(console, "error", exc)
        return Outcome("failed", EXIT_ERROR)
    if dataset.warning:  # shown even with --quiet: the run may be training the wrong data
        print_problem(console, "warning", dataset.warning, "yellow")
    if lock.note:
        print_problem(console, "note", lock.note, "yellow")
    with lock:
        return _train_in(
            run_dir, config, console, wandb_module, resume, start, name, dataset, x_tr, y_tr,
            x_val, y_val,
        )  # fmt: skip


def _train_in(
    run_dir, config, console, wandb_module, resume, start, name, dataset, x_tr, y_tr, x_val, y_val
):
    """The rest of :func:`run`, while this process holds the folder's lock."""
    checkpoints = CheckpointFile(run_dir)
    try:
        resumed_after = checkpoints.last_epoch() if resume else None
    except CheckpointError as exc:
        print_problem(console, "error", exc)
        return Outcome("failed", EXIT_ERROR)
    net = build_network(config, dataset.n_features, len(dataset.class_names))
    if not config.quiet:
        test = f", {len(dataset.y_test)} test" if dataset.y_test is not None else ""
        console.print(
            f"nbnet: {dataset.name} from {dataset.source}: {len(y_tr)} train, "
            f"{len(y_val)} validation{test} images; "
            f"network {' -> '.join(map(str, net.sizes))}, {net.layout.n_params:,} parameters"
        )
        if dataset.note:
            console.print(escape(f"note: {dataset.note}"), style="dim")
        if resume:
            console.print(
                escape(
                    f"resuming {run_dir} after epoch {resumed_after} of {config.epochs}"
                    if resumed_after
                    else f"resuming {run_dir}: no epoch had finished, starting from epoch 1"
                )
            )
    tracker = Tracker(
        config,
        name,
        directory=config.wandb_dir,
        wandb_module=wandb_module,
        notify=console.print,
        resume_id=tracked_run_id(run_dir),
    )
    remember_tracked_run(run_dir, tracker)
    if not config.quiet:
        console.print(escape(tracker.message))

    status, exit_code, history = "finished", EXIT_OK, History()
    progress = RichProgress(console, config.epochs, quiet=config.quiet)
    try:
        with progress:
            train(
                net,
                config,
                x_tr,
                y_tr,
                x_val,
                y_val,
                history=history,
                callback=Callbacks(progress, _TrackerCallback(tracker)),
                checkpoints=checkpoints,
            )
    except Diverged as exc:
        print_problem(console, "diverged", f"{exc}. {DIVERGED_ADVICE}")
        tracker.log_summary({"status": "diverged"})
        tracker.finish(exit_code=1)
        write_json(
            run_dir / "metrics.json",
            {"status": "diverged", "message": str(exc), "epochs": history.epochs},
        )
        return Outcome("diverged", EXIT_ERROR, run_dir)
    except CheckpointError as exc:
        print_problem(console, "error", exc)
        tracker.finish(exit_code=1)
        return Outcome("failed", EXIT_ERROR, run_dir)
    except OSError as exc:  # the checkpoint could not be written; the previous one stays
        print_problem(
            console,
            "error",
            f"could not write a checkpoint into {run_dir} ({exc.strerror or exc}); "
            f"free space, then go on from the last one: python train.py --resume {run_dir}",
        )
        tracker.finish(exit_code=1)
        return Outcome("failed", EXIT_ERROR, run_dir, history)
    except KeyboardInterrupt:
        status, exit_code = "interrupted", EXIT_INTERRUPTED
        print_problem(console, "interrupted", "saving what was trained so far", "yellow")

    metrics = _run_metrics(status, history)
    try:
        if status == "finished" and config.evaluate_test:
            metrics.update(_test(net, dataset, tracker, run_dir))  # writes confusion_matrix.csv
        metrics["wall_seconds"] = time.perf_counter() - start
        model_path = _save(config, net, metrics, run_dir, dataset)
    except OSError as exc:
        advice = (
            f"free space, then finish it from its last checkpoint: "
            f"python train.py --resume {run_dir}"
            if (run_dir / CHECKPOINT).exists()
            else "the trained model is lost, free space and rerun"
        )
        print_problem(
            console,
            "error",
            f"could not write the run's files into {run_dir} ({exc.strerror or exc}); {advice}",
        )
        tracker.finish(exit_code=1)
        return Outcome("failed", EXIT_ERROR, run_dir, history)
    if status == "finished":
        checkpoints.remove()  # the model is saved; nothing is left to resume
    tracker.log_summary({k: metrics[k] for k in SUMMARY if k in metrics})
    tracker.finish(exit_code=0 if status == "finished" else 1)
    _summary(console, config, net, metrics, run_dir, model_path, tracker, dataset.name)
    return Outcome(status, exit_code, run_dir, history, metrics.get("test_accuracy"))


class RunFolderError(OSError):
    """A run folder that cannot be created or resumed; the message says what to do."""


def open_run_dir(config, name, resume=None, dataset=None):
    """A new run folder holding ``config.json`` (with the digests of ``dataset``'s files),
    or the folder ``resume`` to go on in.

    Raises
    ------
    RunFolderError
        The folder cannot be created or written, or the run to resume has already
        finished or diverged, or ``dataset`` is not the data it started on.
    """
    if resume is not None:
        run_dir = Path(resume)
        status = read_status(run_dir)
        if status == "finished":
            raise RunFolderError(
                f"--resume {run_dir}: the run has finished; nothing to resume "
                f"(evaluate it with python evaluate.py {run_dir})"
            )
        if status == "diverged":
            raise RunFolderError(
                f"--resume {run_dir}: the run diverged and would diverge again from its "
                f"last checkpoint; start a new run. {DIVERGED_ADVICE}"
            )
        if dataset is not None:
            _check_same_data(run_dir, dataset)
        return run_dir
    try:
        run_dir = new_run_dir(config.runs_dir, name)
        write_json(run_dir / CONFIG_FILE, {**saved_config(config), **data_record(dataset)})
    except OSError as exc:
        raise RunFolderError(
            f"cannot create a run folder in {config.runs_dir} "
            f"({exc.strerror or exc}); choose another with --runs_dir"
        ) from None
    return run_dir


def _check_same_data(run_dir, dataset):
    """Refuse to resume on training files other than those the run started on (their
    digests are in its ``config.json``; folders from before they were kept pass)."""
    try:
        record = json.loads((run_dir / CONFIG_FILE).read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return  # config_of_run read it already; nothing more to compare
    recorded = record.get("digests") if isinstance(record, dict) else None
    if not isinstance(recorded, dict):
        return
    differ = [
        key
        for key in ("x_train", "y_train")
        if key in recorded and key in dataset.digests and recorded[key] != dataset.digests[key]
    ]
    if differ:
        where = record.get("source")
        raise RunFolderError(
            f"--resume {run_dir}: {dataset.source} holds other training data than the run "
            f"started on ({' and '.join(differ)} differ by SHA-256); nothing was changed. Give "
            + (f"--data_dir {where}, " if where else "")
            + "the folder it was trained on"
        )


def data_record(dataset):
    """What ``config.json`` keeps of the data a run trains on, so that ``--resume`` can
    check it gets the same: the files' digests and where they were."""
    if dataset is None:
        return {}
    return {"data": {**dataset.record(), "source": str(dataset.source)}}


def saved_config(config):
    """What ``config.json`` and the model file record: every setting, plus the hidden
    layers' widths however they were given."""
    return {"format": RUN_FORMAT, **config.to_dict(), "layer_widths": config.layer_widths}


#: What the W&B run's summary and the saved model record of a run's metrics.
SUMMARY = ("test_accuracy", "best_val_accuracy", "last_val_accuracy")


def _run_metrics(status, history):
    """metrics.json's account of the epochs that ran."""
    metrics = {
        "status": status,
        "epochs": history.epochs,
        "compile_seconds": history.compile_seconds,
        "blas_threads": history.blas_threads,
        "update_threads": history.update_threads,
        "blas": kernels.BLAS,  # which library ran the CPU's products (kernels/blas.py)
        "restored_epoch": history.restored_epoch,
        "stopped_early": history.stopped_early,
    }
    if history.epochs:
        metrics["best_val_accuracy"] = history.best["val_accuracy"]
        metrics["best_epoch"] = history.best["epoch"]
        metrics["last_val_accuracy"] = history.last["val_accuracy"]
        metrics["seconds_per_epoch"] = history.seconds_per_epoch
    return metrics


def _test(net, dataset, tracker, run_dir):
    """Evaluate the finished model on the test set once: accuracy, confusions, the CSV."""
    y_pred = net.predict(as_inputs(dataset.x_test))
    matrix = confusion_matrix(dataset.y_test, y_pred, len(dataset.class_names))
    write_confusion_csv(run_dir / "confusion_matrix.csv", matrix, dataset.class_names)
    tracker.log_confusion_matrix(dataset.y_test, y_pred, dataset.class_names)
    names = dataset.class_names
    return {
        "test_accuracy": float(np.mean(y_pred == dataset.y_test)),
        "most_confused": [
            {"true": names[i], "predicted": names[j], "count": c}
            for i, j, c in most_confused(matrix)
        ],
    }


def _save(config, net, metrics, run_dir, dataset):
    """config.json, model.npz (unless told not to) and metrics.json, in that order:
    metrics.json's status marks the run as ended, so it is written last. Returns the
    model's path."""
    saved = saved_config(config)
    write_json(run_dir / CONFIG_FILE, {**saved, **data_record(dataset)})
    model_path = None
    if config.save_model:
        kept = {k: metrics.get(k) for k in ("status", *SUMMARY)}
        model_path = net.save(
            run_dir / "model.npz", config=saved, metrics=kept, dataset=dataset.record()
        )
    write_json(run_dir / "metrics.json", metrics)
    return model_path


def _summary(console, config, net, metrics, run_dir, model_path, tracker, dataset_name):
    table = Table(title=f"nbnet run: {metrics['status']}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    arch = " -> ".join(map(str, net.sizes))
    table.add_row("model", f"{arch}, {config.activation}, {config.weight_init} init, {config.loss}")
    table.add_row(
        "training",
        f"{dataset_name} on {config.device}, "
        f"{len(metrics['epochs'])}/{config.epochs} epochs"
        + (" (early stop)" if metrics["stopped_early"] else "")
        + ", "
        f"batch {config.batch_size}, {config.optimizer} "
        f"lr {config.learning_rate:g}, weight decay {config.weight_decay:g}",
    )
    extras = regularization(config)
    if extras:
        table.add_row("regularization", extras)
    last = metrics["last_val_accuracy"] if metrics["epochs"] else None
    if last is not None and last != last:  # NaN: there was no validation data
        why = (
            "--val_fraction 0"
            if not config.val_fraction
            else f"--val_fraction {config.val_fraction:g} of this dataset is no image"
        )
        table.add_row("validation accuracy", f"none ({why})")
    elif metrics["epochs"]:
        table.add_row(
            "validation accuracy",
            f"best {metrics['best_val_accuracy']:.2%} (epoch {metrics['best_epoch']}), "
            f"last {metrics['last_val_accuracy']:.2%}",
        )
    if metrics.get("test_accuracy") is not None:
        which = (
            f"best epoch {metrics['restored_epoch']}'s model, restored"
            if metrics["restored_epoch"]
            else "last epoch's model"
        ) + (", the parameters' moving average" if config.ema else "")
        table.add_row("test accuracy", f"{metrics['test_accuracy']:.2%} ({which})")
    if metrics["epochs"]:
        table.add_row(
            "time",
            f"{metrics['seconds_per_epoch']:.2f} s/epoch (median), compile "
            f"{metrics['compile_seconds']:.1f} s, {metrics['wall_seconds']:.1f} s in all, "
            f"{metrics['blas_threads']} BLAS thread(s) ({metrics['blas']})"
            + (
                f", the update on {metrics['update_threads']} threads"
                if metrics.get("update_threads", 1) > 1
                else ""
            ),
        )
    table.add_row("run folder", escape(str(run_dir)))
    if model_path:
        table.add_row(
            "model file", escape(f"{model_path}  (evaluate: python evaluate.py {run_dir})")
        )
    table.add_row("W&B", escape(tracker.message))
    console.print(table)
    if metrics["status"] == "interrupted" and (run_dir / CHECKPOINT).exists():
        # On a line of its own, unwrapped, so that it can be copied.
        console.print(escape(f"resume it with: python train.py --resume {run_dir}"), soft_wrap=True)
