"""A software prefetch for compiled code: ask the CPU to start loading a row early.

The step loop copies each batch's rows out of the training set in shuffled
order. Every row (784 float32 = 49 cache lines) starts at an address the
hardware prefetcher cannot guess, so a plain copy waits on memory at the start
of every row: gathering one epoch of Fashion-MNIST took 36 ms, four times a
sequential copy of the same bytes. Announcing the row a few rows ahead with
LLVM's ``llvm.prefetch`` overlaps those waits: 18 ms (perf/RESULTS.md).

Numba has no prefetch function, so :func:`prefetch` is an ``@intrinsic`` that
emits the LLVM intrinsic directly. A prefetch is only a hint: it never faults
and never changes a result.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Bytes per cache line on every x86-64 and most AArch64 processors.
CACHE_LINE = 64


@intrinsic
def prefetch(typingctx, row):
    """Prefetch every cache line of a contiguous 1-D array into all cache levels.

    Parameters
    ----------
    row : ndarray, shape (n,), C-contiguous
        Typically ``X[i]``, one training row, about to be read.
    """
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"):
        return None

    def codegen(context, builder, signature, args):
        (array_type,) = signature.args
        array = context.make_array(array_type)(context, builder, args[0])
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        llvm_prefetch = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte_ptr], ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32])
        )
        start = builder.bitcast(array.data, byte_ptr)
        n_bytes = builder.mul(array.nitems, array.itemsize)
        zero = context.get_constant(types.intp, 0)
        line = context.get_constant(types.intp, CACHE_LINE)
        with cgutils.for_range_slice(builder, zero, n_bytes, line) as (offset, _):
            # arguments: address, 0 = read, 3 = keep in all cache levels, 1 = data cache
            builder.call(llvm_prefetch, [builder.gep(start, [offset]), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(row), codegen
