"""Per-epoch checkpoints: what a run needs to go on exactly where it stopped.

After every epoch the training loop replaces ``checkpoint.npz`` in the run
folder atomically (a temporary file, flushed to disk, then renamed over the old
one), so a run killed at any moment, SIGKILL included, loses at most the epoch
in progress, and a failed write keeps the previous checkpoint. A checkpoint
holds the parameters, the optimizer's state, the state of the generator that
shuffles each epoch, the finished epochs' metrics, the best epoch so far and the
moving average of the parameters. Dropout masks and image distortions need no
state of their own: each epoch's come from a generator
seeded by ``(seed, epoch)`` (:func:`experiments.seeds.derived_seed`). Continuing from a checkpoint
therefore ends with the same parameters and metrics, bit for bit, as the run
that was never stopped (same device, same BLAS threads).
"""

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config.schema import is_whole

FILE = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the run; the message says what to do."""


@dataclass
class Checkpoint:
    """A run's state at the end of ``epoch``.

    Attributes
    ----------
    epoch : int
        The last finished epoch (1-based).
    params : ndarray, shape (P,)
    slots : ndarray, shape (n_slots, P)
    scalars : ndarray, shape (n_scalars,)
        The optimizer's state (:class:`optimizers.base.OptimizerState`).
    shuffle_state : dict
        ``numpy.random.Generator.bit_generator.state`` after the epoch's permutation.
    history : list of dict
        Every finished epoch's metrics.
    best_epoch : int
        The epoch with the best validation accuracy so far (0: none yet).
    best_accuracy : float
    best_params : ndarray or None
        That epoch's parameters, kept when the run restores the best epoch.
    ema : ndarray or None
        The moving average of the parameters, shape (P,), when the run keeps one.
    """

    epoch: int
    params: np.ndarray
    slots: np.ndarray
    scalars: np.ndarray
    shuffle_state: dict
    history: list
    best_epoch: int
    best_accuracy: float
    best_params: np.ndarray | None = None
    ema: np.ndarray | None = None


def _metadata(data):
    """The checkpoint's metadata, checked (ValueError names what is wrong): a file edited by
    hand or damaged must not resume at a negative epoch or with a history that does not fit."""
    meta = json.loads(str(data["meta"]))
    if not isinstance(meta, dict):
        raise ValueError(f"its metadata is a {type(meta).__name__}, not a mapping")
    missing = {"epoch", "shuffle_state", "history", "best_epoch", "best_accuracy"} - set(meta)
    if missing:
        raise ValueError(f"its metadata lacks {', '.join(sorted(missing))}")
    epoch = meta["epoch"]
    if not is_whole(epoch, 1):
        raise ValueError(f"epoch {epoch!r} is not a whole number >= 1")
    history = meta["history"]
    if not (isinstance(history, list) and len(history) == epoch):
        raise ValueError(f"its history does not hold the {epoch} epochs it says")
    if not all(isinstance(m, dict) for m in history):
        raise ValueError("its history holds something other than epochs' metrics")
    if not (is_whole(meta["best_epoch"], 0) and meta["best_epoch"] <= epoch):
        raise ValueError(f"best_epoch {meta['best_epoch']!r} is not in 0..{epoch}")
    best = meta["best_accuracy"]
    if isinstance(best, bool) or not isinstance(best, (int, float)):
        raise ValueError(f"best_accuracy {best!r} is not a number")
    if not isinstance(meta["shuffle_state"], dict):
        raise ValueError("its shuffler state is not a mapping")
    return meta


class CheckpointFile:
    """``checkpoint.npz`` in a run folder."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / FILE

    def save(self, checkpoint):
        """Write ``checkpoint`` atomically; on any failure the previous one stays."""
        meta = {
            "epoch": checkpoint.epoch,
            "shuffle_state": checkpoint.shuffle_state,
            "history": checkpoint.history,
            "best_epoch": checkpoint.best_epoch,
            "best_accuracy": checkpoint.best_accuracy,
        }
        arrays = {"params": checkpoint.params, "slots": checkpoint.slots}
        arrays["scalars"] = checkpoint.scalars
        for name in ("best_params", "ema"):
            if getattr(checkpoint, name) is not None:
                arrays[name] = getattr(checkpoint, name)
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb") as handle:
                # Python's json keeps NaN (no validation set) and every float exactly.
                np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load(self):
        """The checkpoint, or None when the run has none yet.

        Raises
        ------
        CheckpointError
            The file is truncated or not a checkpoint.
        """
        if not self.path.exists():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                meta = _metadata(data)
                return Checkpoint(
                    epoch=meta["epoch"],
                    params=data["params"],
                    slots=data["slots"],
                    scalars=data["scalars"],
                    shuffle_state=meta["shuffle_state"],
                    history=meta["history"],
                    best_epoch=meta["best_epoch"],
                    best_accuracy=float(meta["best_accuracy"]),
                    best_params=data["best_params"] if "best_params" in data else None,
                    ema=data["ema"] if "ema" in data else None,
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise self._damaged(exc) from None

    def last_epoch(self):
        """The epoch the checkpoint was taken after (0: no checkpoint); reads only its
        metadata. Raises CheckpointError like :meth:`load`."""
        if not self.path.exists():
            return 0
        try:
            with np.load(self.path, allow_pickle=False) as data:
                return _metadata(data)["epoch"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise self._damaged(exc) from None

    def _damaged(self, exc):
        return CheckpointError(
            f"{self.path} is damaged ({type(exc).__name__}: {exc}); delete it to "
            "restart the run from its first epoch"
        )

    def remove(self):
        self.path.unlink(missing_ok=True)
