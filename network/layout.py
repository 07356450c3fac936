"""Where each layer lives in the flat parameter buffer and in the work buffers."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """Layer sizes of an MLP and the offsets derived from them.

    Parameters
    ----------
    sizes : tuple of int
        Units per layer, input first and classes last, e.g. ``(784, 128, 10)``.
        Two entries (no hidden layer) is softmax regression.

    Attributes
    ----------
    sizes_array : int64 ndarray, shape (L + 1,)
    param_offsets : int64 ndarray, shape (L,)
        Start of layer ``l``'s block ``[W_l (row-major), b_l]`` in the flat buffer.
    unit_offsets : int64 ndarray, shape (L + 1,)
        ``sum(sizes[:l])``: where layer ``l`` starts in the activation buffer,
        in units of batch rows.
    n_params : int
        Length of the flat parameter buffer.
    """

    sizes: tuple

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"layer sizes must be at least two positive integers, got {sizes}")
        object.__setattr__(self, "sizes", sizes)

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    @property
    def sizes_array(self):
        return np.asarray(self.sizes, dtype=np.int64)

    @property
    def param_offsets(self):
        block = [n_in * n_out + n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        return np.concatenate([[0], np.cumsum(block)[:-1]]).astype(np.int64)

    @property
    def unit_offsets(self):
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)

    @property
    def n_params(self):
        return sum(n_in * n_out + n_out for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]))

    def weight_slice(self, layer):
        """Slice of the flat buffer holding ``W_layer`` (reshape to (n_in, n_out))."""
        start = int(self.param_offsets[layer])
        return slice(start, start + self.sizes[layer] * self.sizes[layer + 1])

    def bias_slice(self, layer):
        """Slice of the flat buffer holding ``b_layer``."""
        stop = self.weight_slice(layer).stop
        return slice(stop, stop + self.sizes[layer + 1])

    def weight_mask(self):
        """Boolean mask over the flat buffer: True for weights, False for biases."""
        mask = np.zeros(self.n_params, dtype=bool)
        for layer in range(self.n_layers):
            mask[self.weight_slice(layer)] = True
        return mask
