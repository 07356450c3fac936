"""Training images kept as their 8-bit pixels and read as network inputs.

An image's inputs are its pixel levels ``k`` (uint8) scaled to [0, 1]:
``float32(k) / float32(255)`` (:func:`pixel_levels`; ``experiments.data.as_inputs``
makes whole float rows of them). The step loops can instead keep the training set as
its uint8 pixels, a quarter of the bytes, and turn each pixel into its input while
gathering a batch (:func:`input_value`): the same inputs bit for bit, so the same model,
while an epoch's gather, which waits on memory at every shuffled row, reads 784 bytes a
row instead of 3,136 (perf/RESULTS.md, issue 23).

How a pixel becomes its input: ``float32(float64(k) * (1 / 255))``. The float64 product
is within 2^-52 of k / 255, and k / 255 (binary ``0.kkkkkkkk...``, the 8 bits of k
repeating) is never that close to a point halfway between two float32 values, so
rounding the product gives the correctly rounded quotient: every one of the 256 levels
equals its ``pixel_levels`` entry (tests/kernels/test_pixels.py checks all of them).
Neither simpler form works: a float32 product with ``1 / 255`` differs from the quotient
in the last bit for some levels, and a float32 division is what the kernels'
``fastmath`` (its ``arcp``) turns into that product. A 256-entry table lookup is exact
too, but it gathered slower than the multiply on an Intel Xeon (a throw-away prototype of
the gather, not kept; figures not quoted).

:func:`input_value_py` is compiled here for the CPU and in :mod:`kernels.cuda.steps`
for the GPU.
"""

import numpy as np

from .config import JIT

#: What a uint8 pixel is multiplied by, in float64, to become its input.
PIXEL_SCALE = 1.0 / 255.0


def pixel_levels(dtype=np.float32):
    """The input of every pixel level: ``float32(k) / float32(255)`` for k = 0..255, then
    as ``dtype``, shape (256,). The definition that :func:`input_value` computes."""
    levels = np.arange(256, dtype=np.float32) / np.float32(255)
    return levels.astype(dtype)


def input_value_py(X, pixel_scale, row, j):
    """Input ``j`` of row ``row``: ``X[row, j]`` when ``pixel_scale`` is None (``X`` holds
    the inputs), else ``float32(X[row, j] * pixel_scale)`` (``X`` holds uint8 pixels,
    ``pixel_scale`` is :data:`PIXEL_SCALE`; module docstring). ``pixel_scale`` is an
    argument, so Numba compiles only the branch that its type takes."""
    if pixel_scale is None:
        return X[row, j]
    return np.float32(X[row, j] * pixel_scale)


input_value = JIT(input_value_py)


def scale_of(x):
    """The ``pixel_scale`` that the rows of ``x`` are read with (:func:`input_value`):
    :data:`PIXEL_SCALE` when ``x`` holds uint8 pixels, else None (``x`` holds the inputs)."""
    return PIXEL_SCALE if x.dtype == np.uint8 else None


def as_rows(x, dtype):
    """``x`` as C-contiguous inputs in ``dtype``: uint8 pixels as their inputs
    (:func:`pixel_levels`), anything else converted as it is."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        x = pixel_levels(dtype)[x]
    return np.ascontiguousarray(x, dtype=dtype)
