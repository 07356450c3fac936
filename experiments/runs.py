"""The run folder: one per run under ``runs/``, with the model, config and metrics."""

import csv
import json
import time
from pathlib import Path

import numpy as np

from .metrics import per_class


def new_run_dir(runs_dir, name):
    """Create ``runs_dir/<UTC time>_<name>`` (suffixed if it exists) and return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(runs_dir) / f"{stamp}_{name}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    folder.mkdir(parents=True)
    return folder


def write_json(path, data):
    """Write JSON atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    tmp.replace(path)
    return path


def write_confusion_csv(path, matrix, class_names):
    """Counts with a header row and column of class names, plus precision and recall."""
    precision, recall = per_class(matrix)
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["true \\ predicted", *class_names, "recall"])
        for i, name in enumerate(class_names):
            out.writerow([name, *matrix[i].tolist(), f"{recall[i]:.4f}"])
        out.writerow(["precision", *(f"{p:.4f}" for p in precision), ""])
    return path


def plot_confusion_matrix(path, matrix, class_names, title):
    """Row-normalised percentages with the counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0) * 100
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 * k + 2, 0.9 * k + 1.5))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                color = "white" if share[i, j] > 55 else "black"
                ax.text(j, i, f"{share[i, j]:.0f}%\n{matrix[i, j]}", ha="center", va="center",
                        fontsize=7, color=color)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (each row sums to 100%)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="% of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
