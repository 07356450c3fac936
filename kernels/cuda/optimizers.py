"""Every registered optimizer on the GPU, compiled from its one definition.

An optimizer's ``coefficients`` becomes a one-thread kernel that reads the
step's loss from device memory (Eve needs it) and writes the coefficients to a
small device array; its ``element`` becomes a kernel with one thread per
parameter, followed by the CPU's own flush of subnormal values
(:func:`kernels.fpenv.flush_subnormal_py`), so both devices store the same
zeros. Both skip their work once ``halt[0]`` is set, so a NaN loss leaves the
parameters as they were before that step, as on the CPU.
"""

from functools import lru_cache

from numba import cuda

from ..fpenv import flush_subnormal_py
from .dense import grid_1d

flush_subnormal = cuda.jit(device=True)(flush_subnormal_py)


@lru_cache(maxsize=None)
def compile_rule(optimizer):
    """``(coefficients_kernel, element_kernel)`` for a registered Optimizer."""
    coefficients = cuda.jit(device=True)(optimizer.coefficients)
    element = cuda.jit(device=True)(optimizer.element)
    n_coefficients, n_slots = optimizer.n_coefficients, optimizer.n_slots

    @cuda.jit
    def coefficients_kernel(hyper, scalars, losses, step, halt, coef):
        if halt[0] != 0:
            return
        c = coefficients(hyper, scalars, losses[step])
        for i in range(n_coefficients):
            coef[i] = c[i]

    @cuda.jit
    def element_kernel(params, grads, slots, coef, halt):
        k = cuda.grid(1)
        if k < params.shape[0] and halt[0] == 0:
            element(k, params, grads, slots, coef)
            params[k] = flush_subnormal(params[k])
            for j in range(n_slots):
                slots[j, k] = flush_subnormal(slots[j, k])

    return coefficients_kernel, element_kernel


def update(optimizer, params, grads, slots, hyper, scalars, losses, step, halt, coef):
    """Launch one optimizer step on device arrays."""
    coefficients_kernel, element_kernel = compile_rule(optimizer)
    coefficients_kernel[1, 1](hyper, scalars, losses, step, halt, coef)
    blocks, threads = grid_1d(params.shape[0])
    element_kernel[blocks, threads](params, grads, slots, coef, halt)
