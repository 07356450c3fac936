"""The run folder: one per run under ``runs/``, with the model, config and metrics."""

import csv
import json
import math
import os
import socket
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


#: The advisory lock file of a run folder being trained.
LOCK_FILE = "train.lock"


class RunLocked(Exception):
    """The run folder is being trained by another live process; the message says which."""


class RunLock:
    """An advisory lock on a run folder while one process trains it.

    ``train.lock`` holds the owner's PID and host, written with ``O_EXCL`` so two
    processes cannot both take it; the owner removes it on exit. A lock left by a
    process of this host that is gone (a SIGKILL, a power cut) is taken over, and
    :attr:`note` says so; one of another host cannot be checked and is refused.
    """

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_FILE
        self.note = None
        me = {"pid": os.getpid(), "host": socket.gethostname()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if not self._gone(owner):
                    raise RunLocked(
                        f"{run_dir} is being trained by another process (pid "
                        f"{owner.get('pid')} on {owner.get('host')}); wait for it to end, or "
                        f"delete {self.path} if that process is gone"
                    ) from None
                self.path.unlink(missing_ok=True)
                self.note = f"took over {self.path} from pid {owner.get('pid')}, which is gone"
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            return
        raise RunLocked(f"{run_dir}: could not take {self.path}; try again")

    def _owner(self):
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) else {}
        except (OSError, ValueError):
            return {}  # half-written or damaged: its writer died right away

    @staticmethod
    def _gone(owner):
        """True when ``owner`` is a process of this host that no longer runs."""
        pid = owner.get("pid")
        if owner.get("host", socket.gethostname()) != socket.gethostname():
            return False
        if not isinstance(pid, int) or pid <= 0:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def release(self):
        self.path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
