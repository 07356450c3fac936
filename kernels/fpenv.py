"""Flush subnormal floats to zero while nbnet computes, and only then.

Why: weights of units that stop receiving gradient (dead ReLUs, weight decay) and
their optimizer moments shrink geometrically until they fall below the smallest
normal float32, 1.18e-38. On x86 processors every operation that reads or
produces such a *subnormal* number takes a microcode assist that costs on the
order of a hundred cycles; on an AVX-512 Xeon the default run's 12th epoch
took 6.5 times as long as its 2nd (perf/RESULTS.md, "Denormals"). The values themselves
carry no information a classifier could use.

Two mechanisms, because they protect different things:

* :func:`flush_denormals` sets the FTZ (flush-to-zero: a subnormal result is
  written as 0) and DAZ (denormals-are-zero: a subnormal input is read as 0)
  bits of the x86 MXCSR register in the calling thread for the duration of a
  ``with`` block, and puts the register back as it was afterwards. MXCSR is
  per thread, so a user's own NumPy code in this or any other thread keeps
  IEEE gradual underflow. nbnet enters the block around every compiled loop
  (the step loop, evaluation, prediction), which covers the loop's own
  arithmetic and every BLAS call that OpenBLAS runs in the calling thread.
* :func:`flush_subnormal_py` is applied by the optimizer update to every stored
  parameter and state entry (:mod:`optimizers.base`, :mod:`kernels.cuda.optimizers`).
  It keeps the buffers that persist from step to step free of subnormals on
  every processor and on both devices (the GPU keeps subnormals unless
  compiled with ``fastmath``, which would also approximate division and square
  roots), so the CPU and the GPU store the same zeros. On x86-64 the CPU update
  leaves it to the hardware: it sets FTZ and DAZ in its thread for its loop
  (:func:`start_flushing`, :func:`stop_flushing`; the step loop's thread has them
  already), every value it stores is the result of an operation, which FTZ writes
  as 0 where it would be subnormal, and DAZ reads a subnormal operand as 0: the
  same zeros from a shorter loop (perf/RESULTS.md, "The update's flush left to the
  hardware").

OpenBLAS's worker threads keep the MXCSR they were created with: the PyPI builds
lack ``CONSISTENT_FPCSR``, and a product of tiny operands computed with two
threads under :func:`flush_denormals` came back with subnormals in exactly the
half the worker computed. Setting the bits there would mean creating OpenBLAS's
pool under FTZ (before SciPy's BLAS loads, which nbnet does not control), and
would change a user's own multi-threaded ``scipy.linalg`` calls for good, so
nbnet leaves them. The workers are not slowed down: what they read is the
parameters (flushed), the input images, and activations and gradients that the
calling thread has just rewritten under FTZ/DAZ (bias + activation, the softmax
gradient, the activation derivative); a worker writes a subnormal only where a
whole sum of products underflows, once, and the next pass of the calling thread
reads it as 0. Measured: the 12-epoch default run keeps a flat epoch time with
two OpenBLAS threads (perf/RESULTS.md, "Denormals").

Flushing changes a result only where a value below 1.18e-38 becomes 0 (in
float64 the register flushes below 2.2e-308, the update below 1.18e-38 too).
No tolerance of the test suite changed: the float64 finite-difference gradient
checks keep 1e-6, the float32 reference comparisons theirs.

On processors other than x86-64 the register part is a no-op (the stored
buffers are still flushed): AArch64 cores handle subnormals in hardware at
little cost.
"""

import platform
from contextlib import contextmanager

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .config import JIT

#: True where the MXCSR register exists (x86-64; the only 64-bit x86 Numba supports).
HAS_MXCSR = platform.machine().lower() in ("x86_64", "amd64")

#: MXCSR bit 15, flush-to-zero, and bit 6, denormals-are-zero.
FTZ, DAZ = 1 << 15, 1 << 6


def _mxcsr_call(builder, name, slot):
    """Emit ``call void @llvm.x86.sse.<name>(ptr slot)``."""
    byte_ptr = ir.IntType(8).as_pointer()
    function = builder.module.declare_intrinsic(
        f"llvm.x86.sse.{name}", [], ir.FunctionType(ir.VoidType(), [byte_ptr])
    )
    builder.call(function, [builder.bitcast(slot, byte_ptr)])


@intrinsic
def _read_mxcsr(typingctx):
    """The calling thread's MXCSR register (``stmxcsr``), as uint32."""

    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        _mxcsr_call(builder, "stmxcsr", slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _write_mxcsr(typingctx, value):
    """Load the uint32 ``value`` into the calling thread's MXCSR register (``ldmxcsr``)."""
    if value != types.uint32:
        return None

    def codegen(context, builder, signature, args):
        slot = builder.alloca(ir.IntType(32))
        builder.store(args[0], slot)
        _mxcsr_call(builder, "ldmxcsr", slot)
        return context.get_dummy_value()

    return types.void(value), codegen


@JIT
def read_mxcsr():
    """The calling thread's MXCSR (x86-64 only)."""
    return _read_mxcsr()


#: Both bits, as :func:`start_flushing` sets them.
FTZ_DAZ = FTZ | DAZ

if HAS_MXCSR:

    @JIT
    def start_flushing():
        """Set FTZ and DAZ in the calling thread; returns the register as it was, for
        :func:`stop_flushing`. Compiled code calls the two around a loop (the optimizer
        update, a thread of Numba's pool for one job): what runs between them must read
        its operands from memory after the call (LLVM moves no load or store across the
        register's intrinsics, which it treats as touching memory)."""
        before = _read_mxcsr()
        _write_mxcsr(np.uint32(before | FTZ_DAZ))
        return before

    @JIT
    def stop_flushing(before):
        """Put back the register :func:`start_flushing` returned."""
        _write_mxcsr(np.uint32(before))  # an int from Python, uint32 from compiled code

else:

    @JIT
    def start_flushing():
        """Nothing to set without an MXCSR (:data:`HAS_MXCSR`)."""
        return np.uint32(0)

    @JIT
    def stop_flushing(before):
        """Nothing to restore without an MXCSR."""


@contextmanager
def flush_denormals():
    """Within the block, the calling thread flushes subnormal floats to zero.

    Sets MXCSR's FTZ and DAZ bits on entry (:func:`start_flushing`) and restores the
    register's previous value on exit, exceptions included. Nests. A no-op where there
    is no MXCSR. Calls in a separate compiled function, so no arithmetic of the block can
    be moved across the register change.
    """
    before = start_flushing()
    try:
        yield
    finally:
        stop_flushing(before)


#: The smallest normal float32; every float32 below it in magnitude is subnormal.
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def flush_subnormal_py(x):
    """``x``, or 0 where ``|x|`` is below 1.18e-38, the smallest normal float32.

    NaN and inf pass unchanged. The threshold is float32's for float64 values too:
    numbers that small mean nothing to a classifier in either type, and one
    threshold keeps the two dtypes alike. Plain Python in the subset Numba
    compiles for both targets: :data:`flush_subnormal` on the CPU,
    :mod:`kernels.cuda.optimizers` on the GPU. The optimizer update applies it to
    every parameter and state entry it writes (:mod:`optimizers.base`).
    """
    # Arithmetic, not a branch: ``x if ... else 0`` stores nothing where x is kept, and LLVM
    # turns such a conditional store into a masked store (AVX2's vmaskmovps), several
    # times slower than a plain one on AMD processors; it tripled Adam's update there. The
    # threshold in x's own type keeps a float32 loop float32 (packed vcmpps). A NaN fails the
    # comparison and stays NaN (NaN * 0); an infinity passes it.
    cast = type(x)
    return x * cast(abs(x) >= cast(FLOAT32_TINY))


flush_subnormal = JIT(flush_subnormal_py)
