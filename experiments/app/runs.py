"""The run folder: one per run under ``runs/``, with the model, config and metrics."""

import csv
import json
import math
import time
from pathlib import Path

from ..report.metrics import per_class


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


def read_status(run_dir):
    """The ``status`` a run folder's ``metrics.json`` records (None: the run never got
    that far, or the file is unreadable)."""
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def strict(value):
    """``value`` with every NaN or infinite float replaced by None: strict JSON has no NaN
    (Python's json writes one that most other parsers reject)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if hasattr(value, "item"):  # NumPy scalars
        return strict(value.item())
    return value


def write_json(path, data):
    """Write strict JSON atomically (temporary file, then rename); NaN becomes null."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(strict(data), indent=2, allow_nan=False) + "\n")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
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
