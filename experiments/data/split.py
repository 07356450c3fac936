"""The training set split into training and validation rows, and images as rows of pixels
or of network inputs."""

from dataclasses import dataclass

import numpy as np

from kernels.pixels import pixel_levels


def as_pixels(images):
    """uint8 images (n, h, w) -> their uint8 rows (n, h*w), C-contiguous: what the trainers
    gather the training batches from (:mod:`kernels.pixels`)."""
    features = int(np.prod(images.shape[1:]))  # not -1: no rows (an empty split) is fine
    return np.ascontiguousarray(images.reshape(images.shape[0], features), dtype=np.uint8)


def as_inputs(images):
    """uint8 images (n, h, w) -> float32 rows (n, h*w) scaled to [0, 1]:
    ``float32(k) / float32(255)`` for a pixel of level k (:func:`kernels.pixels.pixel_levels`)."""
    return pixel_levels(np.float32)[as_pixels(images)]


@dataclass
class Split:
    """Row indices of the training set for training and validation."""

    train: np.ndarray
    val: np.ndarray


def stratified_split(labels, val_fraction, seed):
    """Hold out ``val_fraction`` of every class, chosen by a seeded shuffle.

    Each class ``c`` with ``n_c`` samples gives ``round(val_fraction * n_c)`` to
    validation, so the class balance of both parts matches the whole. The same
    labels, fraction and seed always give the same split.

    Returns
    -------
    Split
        ``train`` and ``val`` index arrays (int64, disjoint, together all rows).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels):
        rows = np.flatnonzero(labels == cls)
        rng.shuffle(rows)
        n_val = int(round(val_fraction * rows.size))
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    train = np.concatenate(train).astype(np.int64)
    val = np.concatenate(val).astype(np.int64)
    return Split(train=np.sort(train), val=np.sort(val))
