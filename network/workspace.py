"""Preallocated work buffers for the compiled kernels."""

import numpy as np


class Workspace:
    """Activation, back-propagation and label buffers for batches of up to ``batch_size`` rows.

    Allocated once per (network, batch size) and reused by every step, so the
    step loop never allocates.

    Attributes
    ----------
    acts : ndarray, shape (batch_size * sum(sizes),)
        Activations of every layer, input included (layout in :mod:`kernels.steps`).
    masks : ndarray, like ``acts``
        Dropout masks of the hidden layers.
    delta_a, delta_b : ndarray, shape (batch_size * max(sizes[1:]),)
        Ping-pong buffers for dL/dz.
    y_batch : int64 ndarray, shape (batch_size,)
    """

    def __init__(self, layout, batch_size, dtype):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.acts = np.zeros(self.batch_size * sum(layout.sizes), dtype=dtype)
        self.masks = np.zeros_like(self.acts)  # dropout masks, laid out like acts
        widest = max(layout.sizes[1:])
        self.delta_a = np.zeros(self.batch_size * widest, dtype=dtype)
        self.delta_b = np.zeros(self.batch_size * widest, dtype=dtype)
        self.y_batch = np.zeros(self.batch_size, dtype=np.int64)
