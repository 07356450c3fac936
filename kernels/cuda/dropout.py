"""Inverted dropout on the GPU: the math of :mod:`kernels.dropout`, with a stateless generator.

The CPU draws its masks from Numba's sequential generator; thousands of GPU
threads cannot share one. Each mask entry here is instead a hash of
``(seed, counter)``: the step kernel gives every draw of a run its own counter
(:func:`kernels.cuda.steps.dropout_counter`), so every draw is distinct, a seeded
run is reproducible, however it is split into chunks, and no per-thread
generator state has to live on the device. The hash is SplitMix64's output
function (Steele, Lea & Flood, 2014), whose 64-bit results pass BigCrush when
fed consecutive counters; the top 53 bits become a float64 in [0, 1).

Masks therefore differ from the CPU's for the same seed (both are Bernoulli(keep)
scaled by 1/keep); the backward pass is the CPU's formula.
"""

from numba import cuda, uint64

from .dense import derivative

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


@cuda.jit(device=True)
def mask_value(seed, counter, keep, scale):
    """One mask entry: ``scale`` (``1 / keep`` in the buffers' dtype) with probability
    ``keep``, else 0."""
    return scale if counter_uniform(seed, counter) < keep else scale * 0


@cuda.jit(device=True)
def dropout_backward(g, a_dropped, m, keep, code):
    """dL/dz of one element of a dropped-out layer: ``g * m * f'(z)``, f' through the
    undropped output ``a_dropped * keep`` (``keep`` in the buffers' dtype); 0 for a
    dropped unit (as :func:`kernels.dropout.dropout_activation_backward`)."""
    if m == 0:
        return g * 0
    return g * (m * derivative(a_dropped * keep, code))
