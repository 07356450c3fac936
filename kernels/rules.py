"""The optimizer's rule inside the compiled step loop, chosen by the class of its hyperparameters.

The step loop (:func:`kernels.steps.train_steps`) calls :func:`rule_coefficients` and
:func:`rule_apply` with the optimizer's ``Hyper`` record; Numba resolves both while it types
the loop, from that record's class, to the optimizer's own compiled functions
(:func:`optimizers.base.make_cpu_rule`). Each optimizer has a ``Hyper`` class of its own
(:class:`optimizers.base.Optimizer` refuses a shared one), so the class names the rule.

Why not pass the two functions as arguments, as the loop did: a compiled function as an
argument makes the loop impossible to reload from Numba's on-disk cache (numba#6972), so every
process compiled it again (3.9 s on this project's Intel Xeon). Resolved by type, the rule is
part of the loop's machine code and the loop is cached like every other kernel.
"""

from numba import get_num_threads, njit, prange
from numba.extending import overload

from .config import JIT_OPTIONS

#: ``Hyper`` class -> ``(name, coefficients, apply)``, filled as optimizers are defined.
RULES = {}


def register(name, hyper_class, coefficients, apply):
    """Make ``hyper_class`` select the compiled ``coefficients`` and ``apply`` of optimizer
    ``name``; a class already registered by another optimizer is refused."""
    known = RULES.get(hyper_class)
    if known is not None and known[0] != name:
        raise ValueError(
            f"optimizer {name!r} uses the Hyper class of {known[0]!r}; give it a class of "
            f"its own (a subclass: class Hyper({hyper_class.__qualname__}): __slots__ = ())"
        )
    RULES[hyper_class] = (name, coefficients, apply)


def _rule(hyper):
    """The registered rule of a ``Hyper`` record's Numba type (None: not an optimizer's)."""
    return RULES.get(getattr(hyper, "instance_class", None))


def rule_coefficients(hyper, scalars, loss):
    """``coefficients(hyper, scalars, loss)`` of the optimizer whose ``Hyper`` this is."""
    return RULES[type(hyper)][1](hyper, scalars, loss)


def rule_apply(hyper, params, grads, slots, c, start, stop, weight_decay):
    """``apply(params, grads, slots, c, start, stop, weight_decay)`` of the optimizer whose
    ``Hyper`` this is (:func:`optimizers.base.make_cpu_rule`)."""
    RULES[type(hyper)][2](params, grads, slots, c, start, stop, weight_decay)


@overload(rule_coefficients, jit_options=JIT_OPTIONS)
def _rule_coefficients(hyper, scalars, loss):
    rule = _rule(hyper)
    if rule is None:
        return None
    coefficients = rule[1]

    def impl(hyper, scalars, loss):
        return coefficients(hyper, scalars, loss)

    return impl


@overload(rule_apply, jit_options=JIT_OPTIONS)
def _rule_apply(hyper, params, grads, slots, c, start, stop, weight_decay):
    rule = _rule(hyper)
    if rule is None:
        return None
    apply = rule[2]

    def impl(hyper, params, grads, slots, c, start, stop, weight_decay):
        apply(params, grads, slots, c, start, stop, weight_decay)

    return impl


#: Parameters per thread below which a range is updated on one thread. Measured with
#: `perf/bench_cpu.py` (perf/RESULTS.md, "The update on both cores"): workload A's first layer
#: (100,352 weights) on two threads of 2^15 minimum made batch 16 and 64 7-10% slower, the
#: default configuration's layers (0.8 and 1 million) gain 1.25x; 2^17 keeps the former whole.
MIN_PER_THREAD = 1 << 17
#: Block lengths are multiples of this (16 float32: a 64-byte cache line), so no two
#: threads write to the same line.
BLOCK_ALIGN = 16


def start_thread_pool():
    """Load Numba's threading layer, once per process, before a compiled loop that holds
    :func:`rule_apply_threaded` runs. Compiling a parallel function loads it; loading one from
    Numba's cache does not, and its code then calls into a layer that is not there (a
    segmentation fault, met in every process after the first). No thread runs until a
    range is split."""
    get_num_threads()  # loads the layer first (Numba's public way to do it)


@njit(parallel=True, **JIT_OPTIONS)
def rule_apply_threaded(hyper, params, grads, slots, c, start, stop, weight_decay, threads):
    """:func:`rule_apply` over ``start:stop`` on up to ``threads`` of Numba's threads.

    The range is cut into one contiguous block per thread, at least
    :data:`MIN_PER_THREAD` parameters each (a shorter range runs on the calling thread
    alone, without waking the pool). The update is element-wise, so the result is the
    same bit for bit whatever the split (tests/optimizers/test_threaded.py): each block's
    rule sets its own thread's flush of subnormals for its loop, as the calling thread's
    (:func:`optimizers.base.make_cpu_rule`).
    """
    blocks = min(threads, (stop - start) // MIN_PER_THREAD)
    if blocks <= 1:
        rule_apply(hyper, params, grads, slots, c, start, stop, weight_decay)
        return
    size = (-(-(stop - start) // blocks) + BLOCK_ALIGN - 1) // BLOCK_ALIGN * BLOCK_ALIGN
    for b in prange(blocks):
        lo = start + b * size
        hi = min(stop, lo + size)
        if lo < hi:
            rule_apply(hyper, params, grads, slots, c, lo, hi, weight_decay)
