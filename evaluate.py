#!/usr/bin/env python
"""Evaluate a saved nbnet model on its dataset's test set.

    python evaluate.py runs/<run>/            # or the model.npz inside it

Prints the test accuracy and per-class precision and recall, and writes
``confusion_matrix.png`` and ``confusion_matrix.csv`` next to the model (or into
``--out``).
"""

import argparse
import sys
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from experiments.app.progress import make_console, print_problem
from experiments.app.runs import write_confusion_csv
from experiments.data import DataError, as_inputs, canonical_name, load_dataset
from experiments.report.figures import confusion_figure
from experiments.report.metrics import confusion_matrix, most_confused, per_class
from network import MLP


def build_parser():
    p = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.splitlines()[1])
    p.add_argument("model", help="a run folder (holding model.npz) or a model .npz file")
    p.add_argument(
        "-d",
        "--dataset",
        default=None,
        help="dataset to test on (default: the one the model was trained on)",
    )
    p.add_argument("--data_dir", default=None, help="folder with the IDX files")
    p.add_argument("--out", default=None, help="folder for the figures (default: the run folder)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    console = make_console()
    path = Path(args.model)
    model_file = path / "model.npz" if path.is_dir() else path
    if not model_file.is_file():
        print_problem(
            console,
            "error",
            f"{model_file}: no such model file "
            "(train one with python train.py, which saves runs/<run>/model.npz)",
        )
        return 1
    try:
        net, metadata = MLP.load(model_file)
    except ValueError as exc:
        print_problem(console, "error", exc)
        return 1
    config = metadata.get("config", {})
    trained_on = metadata.get("dataset", {}).get("name") or config.get("dataset", "fashion_mnist")
    try:
        name = canonical_name(args.dataset or trained_on)
        if name != canonical_name(trained_on):
            raise DataError(
                f"the model was trained on {trained_on}; its accuracy on {name} would mean "
                f"nothing (drop -d, or evaluate a model trained on {name})"
            )
        # Always strict: another dataset's test files give a meaningless accuracy.
        dataset = load_dataset(name, args.data_dir or config.get("data_dir"), strict=True)
    except (DataError, ValueError) as exc:
        print_problem(console, "data error", exc)
        return 1
    if dataset.note:
        console.print(escape(f"note: {dataset.note}"), style="dim")
    if dataset.n_features != net.sizes[0] or len(dataset.class_names) != net.sizes[-1]:
        print_problem(
            console,
            "error",
            f"the model expects {net.sizes[0]} inputs and "
            f"{net.sizes[-1]} classes; {name} has {dataset.n_features} and "
            f"{len(dataset.class_names)}",
        )
        return 1
    y_pred = net.predict(as_inputs(dataset.x_test))
    matrix = confusion_matrix(dataset.y_test, y_pred, len(dataset.class_names))
    accuracy = float((y_pred == dataset.y_test).mean())
    precision, recall = per_class(matrix)

    table = Table(
        title=escape(f"{model_file}: test accuracy {accuracy:.2%} on {len(y_pred)} {name} images"),
        title_justify="left",
    )
    for column in ("class", "precision", "recall", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, cls in enumerate(dataset.class_names):
        table.add_row(cls, f"{precision[i]:.2%}", f"{recall[i]:.2%}", str(int(matrix[i].sum())))
    console.print(table)
    for i, j, count in most_confused(matrix):
        console.print(
            f"most confused: {dataset.class_names[i]} taken for "
            f"{dataset.class_names[j]} {count} times"
        )
    out = Path(args.out) if args.out else model_file.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
        csv_path = write_confusion_csv(out / "confusion_matrix.csv", matrix, dataset.class_names)
        png_path = confusion_figure(
            out / "confusion_matrix.png",
            matrix,
            dataset.class_names,
            f"{name} test set, accuracy {accuracy:.2%}",
        )
    except OSError as exc:
        print_problem(
            console,
            "error",
            f"cannot write into {out} ({exc.strerror or exc}); choose another folder with --out",
        )
        return 1
    console.print(escape(f"wrote {png_path} and {csv_path}"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("evaluate.py: interrupted")
