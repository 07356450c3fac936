"""Compilation settings and the integer codes that select activations and losses.

Every CPU kernel is compiled with :data:`JIT` (the losses with :data:`JIT_EXACT`, the
same without ``fastmath``), so the flags live in one place
(STUMPY's ``config`` is the model):

* ``fastmath`` allows reassociation, contraction into FMA, reciprocal and
  approximate functions, which lets LLVM vectorise the element-wise loops. It
  deliberately leaves out ``nnan`` and ``ninf``: the training loop must still
  see a NaN or infinite loss to stop a diverging run.
* ``error_model="numpy"`` makes division by zero give inf/NaN instead of raising,
  which removes a branch from every division and lets those loops vectorise.
* ``cache=True`` stores the machine code next to the sources, so only the first
  run on a machine pays the compile time.
* ``nogil=True`` lets other Python threads (progress display, W&B) run while a
  kernel computes.
"""

from numba import njit

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT_OPTIONS = dict(nogil=True, cache=True, fastmath=FASTMATH, error_model="numpy")

#: Decorator for every compiled CPU kernel.
JIT = njit(**JIT_OPTIONS)

#: For the losses (kernels/losses.py): :data:`JIT` without ``fastmath``. A function that
#: several kernels call is compiled into each of their modules, and with ``fastmath`` those
#: copies may round differently: one process computed the softmax gradient through the step
#: loop's copy and another through a copy that differed in the last bit (which copy a process
#: ran varied from process to process, so the same run trained two slightly different models,
#: and a resumed run could differ from the uninterrupted one: tests/test_end_to_end.py, seen
#: on an AMD EPYC). Without ``fastmath`` every copy computes the same IEEE operations in the
#: written order. The losses touch ``batch * k`` values per step, so nothing is lost.
JIT_EXACT = njit(**{**JIT_OPTIONS, "fastmath": False})

#: For functions that cannot be reloaded from Numba's cache: those that take a compiled
#: function as an argument (numba#6972; a stale entry even fails with "underlying object has
#: vanished"; perf/fusion.py's unfused loop) and closures over compiled functions, whose
#: cache key would hold each process's dispatcher ids (the optimizers' CPU rules, which the
#: cached step loop compiles into itself). They compile once per process instead.
JIT_UNCACHED = njit(**{k: v for k, v in JIT_OPTIONS.items() if k != "cache"})

# Activation codes, resolved once from their names before any loop runs.
IDENTITY, SIGMOID, TANH, RELU = 0, 1, 2, 3
ACTIVATIONS = {"identity": IDENTITY, "sigmoid": SIGMOID, "tanh": TANH, "ReLU": RELU}

# Loss codes.
CROSS_ENTROPY, MEAN_SQUARED_ERROR = 0, 1
LOSSES = {"cross_entropy": CROSS_ENTROPY, "mean_squared_error": MEAN_SQUARED_ERROR}
