"""Preallocated work buffers for the compiled kernels."""

from typing import NamedTuple

import numpy as np


class Workspace(NamedTuple):
    """Activation, back-propagation and label buffers for batches of up to ``batch_size`` rows.

    Allocated once per (network, batch size) by :meth:`allocate` and reused by
    every step, so the step loop never allocates. A NamedTuple, so the compiled
    step loop takes it as one argument.

    Attributes
    ----------
    acts : ndarray, shape (batch_size * sum(sizes),)
        Activations of every layer, input included (layout in :mod:`kernels.steps`).
    masks : ndarray, like ``acts``
        Dropout masks of the hidden layers.
    delta_a, delta_b : ndarray, shape (batch_size * max(sizes[1:]),)
        Ping-pong buffers for dL/dz.
    y_batch : int64 ndarray, shape (batch_size,)
    column_norms : float64 ndarray, shape (max(sizes[1:]),)
        Max-norm's per-column sums of squares (:mod:`kernels.regularize`).
    batch_size : int
    """

    acts: np.ndarray
    masks: np.ndarray
    delta_a: np.ndarray
    delta_b: np.ndarray
    y_batch: np.ndarray
    column_norms: np.ndarray
    batch_size: int

    @classmethod
    def allocate(cls, layout, batch_size, dtype):
        """Zeroed buffers for ``layout`` (a :class:`network.layout.Layout`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        batch_size = int(batch_size)
        acts = np.zeros(batch_size * sum(layout.sizes), dtype=dtype)
        widest = max(layout.sizes[1:])
        return cls(
            acts=acts,
            masks=np.zeros_like(acts),  # dropout masks, laid out like acts
            delta_a=np.zeros(batch_size * widest, dtype=dtype),
            delta_b=np.zeros(batch_size * widest, dtype=dtype),
            y_batch=np.zeros(batch_size, dtype=np.int64),
            column_norms=np.zeros(widest, dtype=np.float64),
            batch_size=batch_size,
        )
