"""Every registered optimizer on the GPU, compiled from its one definition.

An optimizer's ``coefficients`` and ``element`` (:mod:`optimizers.base`) become
device functions of the step kernel (:mod:`kernels.cuda.steps`): one thread runs
``coefficients`` once per step, then every thread of the grid runs ``element``
over its share of the parameters, followed by the CPU's own flush of subnormal
values (:func:`kernels.fpenv.flush_subnormal_py`), so both devices store the
same zeros.
"""

from functools import lru_cache

from numba import cuda

from ..fpenv import flush_subnormal_py

flush_subnormal = cuda.jit(device=True)(flush_subnormal_py)


@lru_cache(maxsize=None)
def device_rule(optimizer):
    """``(coefficients, update_element)`` device functions of a registered Optimizer.

    ``update_element(k, params, grads, slots, coef)`` applies the rule to parameter
    ``k`` with the step's coefficients ``coef`` (a float64 device array) and flushes
    the parameter and its state, as the CPU update does.
    """
    coefficients = cuda.jit(device=True)(optimizer.coefficients)
    element = cuda.jit(device=True)(optimizer.element)
    read = cuda.jit(device=True)(optimizer.read_slots)
    n_slots = optimizer.n_slots

    @cuda.jit(device=True)
    def update_element(k, params, grads, slots, coef):
        w, s = element(params[k], grads[k], read(slots, k), coef)
        params[k] = flush_subnormal(w)
        if n_slots > 0:  # pruned at compile time: an empty tuple has no s[j]
            for j in range(n_slots):
                slots[j, k] = flush_subnormal(s[j])

    return coefficients, update_element
