"""Inverted dropout on the GPU: the math of :mod:`kernels.dropout`, with a stateless generator.

The CPU draws its masks from Numba's sequential generator; thousands of GPU
threads cannot share one. Each mask entry here is instead a hash of
``(seed, counter)``: the step kernel gives every draw of a run its own counter
(step ``s``, layer ``l``, entry ``i`` of a chunk draws counter
``draws + (s * L + l) * stride + i``; :func:`kernels.cuda.steps.train_steps_kernel`
says more), so every draw is distinct, a seeded
run is reproducible, however it is split into chunks, and no per-thread
generator state has to live on the device. The hash is :mod:`kernels.counter`'s
(SplitMix64's output function).

Masks therefore differ from the CPU's for the same seed (both are Bernoulli(keep)
scaled by 1/keep); the backward pass is the CPU's formula.
"""

from numba import cuda

from ..counter import counter_uniform_py
from .dense import derivative

#: The CPU's stateless generator (:mod:`kernels.counter`), compiled for the GPU.
counter_uniform = cuda.jit(device=True)(counter_uniform_py)


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
