"""Inverted dropout on hidden activations (Srivastava et al., 2014).

In training, each hidden unit's output is kept with probability ``keep = 1 - p``
and scaled by ``1 / keep``, or set to 0:

    a_dropped = a * m,   m = 1/keep with probability keep, else 0,

so the expected activation is unchanged and evaluation needs no rescaling (it
simply skips dropout). The backward pass multiplies by the same ``m``:
``dL/da = m * dL/da_dropped``, and the activation's derivative is taken at the
undropped output ``a = a_dropped * keep`` of the kept units.

Random numbers come from Numba's generator, seeded at the start of every epoch with
:func:`seed_rng`, so a seeded run is reproducible.
"""

import numpy as np

from .activations import derivative
from .config import JIT


@JIT
def seed_rng(seed):
    """Seed the random generator that compiled code uses (dropout masks)."""
    np.random.seed(seed)


@JIT
def dropout_forward(a, mask, keep):
    """Draw a mask and apply it, in place.

    Parameters
    ----------
    a : ndarray, shape (batch, units)
        Activations; multiplied by the mask.
    mask : ndarray, shape (batch, units)
        Receives ``1/keep`` (kept) or 0 (dropped) per unit.
    keep : float
        Probability of keeping a unit, in (0, 1].
    """
    scale = a.dtype.type(1.0 / keep)
    zero = a.dtype.type(0.0)
    rows, cols = a.shape
    for i in range(rows):
        for j in range(cols):
            m = scale if np.random.random() < keep else zero
            mask[i, j] = m
            a[i, j] *= m


@JIT
def dropout_activation_backward(grad, a_dropped, mask, keep, code):
    """Turn dL/d(a_dropped) into dL/dz, in place: ``grad *= m * f'(z)``.

    ``f'(z)`` is evaluated through the undropped output ``a_dropped * keep`` of a
    kept unit (see the module docstring); dropped units get a zero gradient.
    All arrays have shape (batch, units).
    """
    keep_ = a_dropped.dtype.type(keep)
    rows, cols = grad.shape
    for i in range(rows):
        for j in range(cols):
            m = mask[i, j]
            if m == 0:
                grad[i, j] = 0
            else:
                grad[i, j] *= m * derivative(a_dropped[i, j] * keep_, code)
