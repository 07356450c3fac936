"""Inverted dropout on the GPU: the math of :mod:`kernels.dropout`, with a stateless generator.

The CPU draws its masks from Numba's sequential generator; thousands of GPU
threads cannot share one. Each mask entry here is instead a hash of
``(seed, counter)``: thread ``(i, j)`` of a launch uses counter
``base + i * units + j`` and the host advances ``base`` by the launch's size,
so every draw of a run is distinct, a seeded run is reproducible, and no
per-thread generator state has to live on the device. The hash is SplitMix64's
output function (Steele, Lea & Flood, 2014), whose 64-bit results pass BigCrush
when fed consecutive counters; the top 53 bits become a float64 in [0, 1).

Masks therefore differ from the CPU's for the same seed (both are Bernoulli(keep)
scaled by 1/keep); the backward pass is the CPU's formula.
"""

from numba import cuda, uint64

from .dense import derivative_from_output

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_MIX1 = uint64(0xBF58476D1CE4E5B9)
_MIX2 = uint64(0x94D049BB133111EB)


@cuda.jit(device=True)
def counter_uniform(seed, counter):
    """A float64 in [0, 1) determined by ``(seed, counter)`` (SplitMix64's mixer)."""
    z = uint64(seed) + (uint64(counter) + uint64(1)) * _GOLDEN
    z = (z ^ (z >> uint64(30))) * _MIX1
    z = (z ^ (z >> uint64(27))) * _MIX2
    z = z ^ (z >> uint64(31))
    return (z >> uint64(11)) * (1.0 / 9007199254740992.0)  # 2**-53


@cuda.jit
def dropout_forward_kernel(A, mask, keep, seed, base):
    """Draw a mask and apply it, in place: ``mask[i, j]`` is ``1/keep`` with probability
    ``keep`` and 0 otherwise, ``A[i, j] *= mask[i, j]``.

    ``A`` and ``mask`` are (batch, units); draw ``(i, j)`` uses counter
    ``base + i * units + j`` (the caller then advances ``base`` by ``batch * units``).
    One thread per element (2-D grid).
    """
    i, j = cuda.grid(2)
    rows, cols = A.shape
    if i < rows and j < cols:
        m = A.dtype.type(1.0 / keep) if counter_uniform(seed, base + i * cols + j) < keep else A.dtype.type(0)
        mask[i, j] = m
        A[i, j] *= m


@cuda.jit
def dropout_activation_backward_kernel(G, A_dropped, mask, keep, code):
    """``G <- G * m * f'(z)``, f' through the undropped output ``A_dropped * keep`` of a
    kept unit; dropped units get 0 (as :func:`kernels.dropout.dropout_activation_backward`)."""
    i, j = cuda.grid(2)
    if i < G.shape[0] and j < G.shape[1]:
        m = mask[i, j]
        if m == 0:
            G[i, j] = 0
        else:
            G[i, j] *= m * derivative_from_output(A_dropped[i, j] * A_dropped.dtype.type(keep), code)
