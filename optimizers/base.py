"""What an optimizer is: two small pure functions that serve the CPU and the GPU.

An update rule is split the way it runs, in the spirit of optax's ``init``/``update``:

``coefficients(hyper, scalars, loss) -> tuple of float64``
    Runs once per step. Advances the scalar state (``scalars``, a float64 array:
    the step count, ...) and returns the step's coefficients (learning rate,
    decay factors, bias corrections, ...) as a tuple of floats. ``hyper`` is the
    rule's ``Hyper`` record, a ``NamedTuple`` of floats whose field names are
    ``train.py``'s settings (``hyper.learning_rate``, ``hyper.beta1``, ...);
    ``loss`` is the current batch's mean loss (only loss-aware rules such as Eve
    read it).
``element(w, g, s, c) -> (w, s)``
    The rule for one parameter, a pure function: ``w`` is the parameter and ``g``
    its gradient (scalars of the parameters' dtype), ``s`` the tuple of its
    ``n_slots`` state values (velocity, moments; ``()`` for none) and ``c`` the
    coefficients. Returns the new parameter and the new tuple of state values.
    Weight decay is already in ``g`` (the loop around the rule adds it).

Both are plain Python, written in the subset that Numba compiles for both
targets (``math`` functions, scalar arithmetic, indexing). On the CPU,
:func:`make_cpu_rule` compiles them into one ``@njit`` loop over the
parameters, which the compiled step loop calls for each layer as soon as the
backward pass has formed that layer's gradient; on
the GPU, :mod:`kernels.cuda.optimizers` compiles both into device functions of
the step kernel. So one definition serves both devices.

Inside ``element``, cast the coefficients to the parameter's type first
(``cast = type(w)``; ``lr = cast(c[0])``): mixing a float64 coefficient into
float32 arithmetic makes every element operation float64, which costs 2.7x on
the CPU (perf/RESULTS.md). On the CPU ``c`` is a tuple, so the casts are hoisted
out of the loop.

Why a pure function and not one that writes into the buffers: the loop around it
stores each value once, already flushed of subnormals. When the rule stored its
values and the flush then stored them again, LLVM masked the second stores
(``vmaskmovps`` on AVX2, which tripled Adam's update on an AMD EPYC) or stopped
vectorising (momentum); tests/optimizers/test_machine_code.py checks the loops.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numba import literal_unroll

from kernels import rules
from kernels.config import JIT, JIT_UNCACHED
from kernels.fpenv import HAS_MXCSR, flush_subnormal, start_flushing, stop_flushing


def read_slots(n_slots):
    """``read(slots, k) -> tuple``: the ``n_slots`` state values of parameter ``k``.

    Plain Python for both devices (compiled by :func:`make_cpu_rule` and by
    :mod:`kernels.cuda.optimizers`); one function per count, because a tuple's
    length is part of its type. Rules keep at most :data:`MAX_SLOTS` arrays.
    """
    if not 0 <= n_slots <= MAX_SLOTS:
        raise ValueError(f"an optimizer keeps 0 to {MAX_SLOTS} state arrays, not {n_slots}")
    return _SLOT_READERS[n_slots]


def _no_slots(slots, k):
    return ()


def _one_slot(slots, k):
    return (slots[0, k],)


def _two_slots(slots, k):
    return (slots[0, k], slots[1, k])


def _three_slots(slots, k):
    return (slots[0, k], slots[1, k], slots[2, k])


_SLOT_READERS = (_no_slots, _one_slot, _two_slots, _three_slots)
#: The most state arrays a rule may keep (Adam keeps two).
MAX_SLOTS = len(_SLOT_READERS) - 1


def make_cpu_rule(coefficients, element, n_slots):
    """Compile an optimizer's two functions for the CPU: ``(coefficients, apply,
    apply_flushed, update)``.

    ``coefficients(hyper, scalars, loss)`` is the rule's own, compiled. ``apply(params,
    grads, slots, c, start, stop, weight_decay)`` applies one step with the coefficients
    ``c`` to the parameters ``start:stop``, in place, the gradient taken as
    ``grads[k] + weight_decay * params[k]`` (the L2 penalty's gradient added on the way,
    so that no separate pass over the weights is needed), and stores the parameter and
    its ``n_slots`` state entries with subnormal values set to 0, so no rule has to think
    of it. On x86-64 the hardware does that: ``apply`` sets FTZ and DAZ in the calling
    thread for its loop (:func:`kernels.fpenv.start_flushing`; the step loop's thread has
    them already, :func:`kernels.fpenv.flush_denormals`), so every value it stores, the
    result of an operation, is written as 0 where it would be subnormal, and the loop
    has no flush of its own: about a third fewer vector instructions for Adam, 6-7%
    faster on this project's Intel Xeon, where the divider bounds it (perf/RESULTS.md,
    "The update's flush left to the hardware"). ``apply_flushed`` is the same step
    flushing each stored value itself (:func:`kernels.fpenv.flush_subnormal_py`, as the
    GPU does), in whatever arithmetic the thread has: ``apply`` where there is no MXCSR;
    on x86-64 only the tests run it, to compare. The step loop calls ``apply`` per
    layer, right after the layer's gradient is formed (:func:`kernels.steps.train_steps`).
    ``update(params, grads, slots, hyper, scalars, loss)`` is one whole step over every
    parameter, no decay (tests, notebooks).
    """
    coefficients_cpu = JIT(coefficients)
    element_cpu = JIT(element)
    read = JIT(read_slots(n_slots))
    slot_rows = tuple(range(n_slots))

    def make_loop(flush):
        """The loop over ``first:last`` that stores each value through ``flush``. (A
        closure for each flush, not the store as an argument: a compiled function as an
        argument makes the step loop that holds it uncacheable, numba#6972.)"""

        @JIT_UNCACHED  # closures over the rule's functions: not cacheable
        def store(params, slots, k, new):
            w, s = new
            params[k] = flush(w)
            # Unrolled when compiled, so the loop over k still vectorises: a plain loop
            # over the slots made Adam's update 5x slower (perf/RESULTS.md, "Denormals").
            if n_slots > 0:  # pruned at compile time; literal_unroll cannot take ()
                for j in literal_unroll(slot_rows):
                    slots[j, k] = flush(s[j])

        @JIT_UNCACHED
        def loop(params, grads, slots, c, start, stop, weight_decay):
            # Unsigned indices: a signed k from range(start, stop) made LLVM guard every
            # access against negative indices, which stopped the loop vectorising.
            first, last = np.uint64(start), np.uint64(stop)
            if weight_decay != 0:
                wd = params.dtype.type(weight_decay)  # keep float32 arithmetic float32
                for k in range(first, last):
                    g = grads[k] + wd * params[k]
                    store(params, slots, k, element_cpu(params[k], g, read(slots, k), c))
            else:
                for k in range(first, last):
                    store(params, slots, k, element_cpu(params[k], grads[k], read(slots, k), c))

        return loop

    apply_flushed = make_loop(flush_subnormal)
    if HAS_MXCSR:
        loop = make_loop(_unchanged)

        @JIT_UNCACHED
        def apply(params, grads, slots, c, start, stop, weight_decay):
            # The register is set by a call, which LLVM treats as touching memory: no
            # load or store of the loop moves across it.
            before = start_flushing()
            loop(params, grads, slots, c, start, stop, weight_decay)
            stop_flushing(before)

    else:
        apply = apply_flushed

    @JIT_UNCACHED
    def update(params, grads, slots, hyper, scalars, loss):
        c = coefficients_cpu(hyper, scalars, loss)
        apply(params, grads, slots, c, 0, params.shape[0], 0.0)

    return coefficients_cpu, apply, apply_flushed, update


@JIT
def _unchanged(x):
    """``x``: the store of a loop whose thread flushes in hardware (:func:`make_cpu_rule`)."""
    return x


@dataclass
class OptimizerState:
    """Mutable state of one optimizer for one parameter buffer.

    ``hyper`` is the rule's ``Hyper`` record; a schedule replaces it
    (``state.hyper = state.hyper._replace(learning_rate=...)``).
    """

    slots: np.ndarray  # (n_slots, P), parameters' dtype
    scalars: np.ndarray  # (n_scalars,), float64
    hyper: tuple  # the rule's Hyper NamedTuple of floats


@dataclass(frozen=True)
class Optimizer:
    """A registered update rule.

    Attributes
    ----------
    name : str
        The ``--optimizer`` choice.
    coefficients, element : function
        The rule (see the module docstring).
    hyper : NamedTuple class
        The rule's hyperparameters, fields named after ``train.py``'s settings; a class
        of its own (the compiled step loop finds the rule by it, :mod:`kernels.rules`), a
        subclass where two rules read the same settings.
    n_slots : int
        Per-parameter state arrays.
    n_scalars : int
        Scalar state entries.
    formula : str
        The update rule in one line, shown by ``--help``.
    n_coefficients : int
        Derived: the length of the tuple ``coefficients`` returns.
    read_slots : function
        Derived: ``read(slots, k)``, the tuple of parameter ``k``'s state values
        that ``element`` takes (plain Python, compiled for each device).
    coefficients_cpu, apply, apply_flushed, update : numba dispatchers
        The compiled CPU rule, built from ``coefficients`` and ``element``
        (:func:`make_cpu_rule`): the step loop calls the first two, ``apply_flushed`` is
        ``apply`` with its own subnormal flush in every thread, ``update`` is one whole
        step (:meth:`step`).
    """

    name: str
    coefficients: object
    element: object
    hyper: type
    n_slots: int
    n_scalars: int
    formula: str
    read_slots: object = field(init=False, repr=False, compare=False)
    coefficients_cpu: object = field(init=False, repr=False, compare=False)
    apply: object = field(init=False, repr=False, compare=False)
    apply_flushed: object = field(init=False, repr=False, compare=False)
    update: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "read_slots", read_slots(self.n_slots))
        compiled = make_cpu_rule(self.coefficients, self.element, self.n_slots)
        names = ("coefficients_cpu", "apply", "apply_flushed", "update")
        for name, function in zip(names, compiled):
            object.__setattr__(self, name, function)
        rules.register(self.name, self.hyper, self.coefficients_cpu, self.apply)

    @cached_property
    def n_coefficients(self):
        """How many coefficients a step has: one call of ``coefficients`` on placeholder
        values tells (asked only by the GPU path, so importing costs no compilation)."""
        probe = self.hyper(*[0.5] * len(self.hyper._fields))
        return len(self.coefficients(probe, np.zeros(self.n_scalars), 1.0))

    @property
    def hyperparameters(self):
        """The settings this rule reads, e.g. ``("learning_rate", "momentum")``."""
        return self.hyper._fields

    def init(self, n_params, dtype, config):
        """Fresh state for ``n_params`` parameters with hyperparameters from ``config``.

        Parameters
        ----------
        n_params : int
        dtype : numpy dtype of the parameters
        config : RunConfig or mapping
            Holds every name in :attr:`hyperparameters` (as attributes or keys).
        """
        if isinstance(config, Mapping):
            missing = [name for name in self.hyperparameters if name not in config]
            if missing:
                raise ValueError(f"optimizer {self.name!r} needs {', '.join(missing)}")
            values = [config[name] for name in self.hyperparameters]
        else:
            values = [getattr(config, name) for name in self.hyperparameters]
        return OptimizerState(
            slots=np.zeros((self.n_slots, n_params), dtype=dtype),
            scalars=np.zeros(self.n_scalars, dtype=np.float64),
            hyper=self.hyper(*map(float, values)),
        )

    def step(self, params, grads, state, loss=0.0):
        """Apply one update on the CPU (a convenience for tests and notebooks)."""
        self.update(params, grads, state.slots, state.hyper, state.scalars, float(loss))
