"""The GPU's global nanosecond timer, read inside a kernel (``%globaltimer``).

numba-cuda exposes no such read, so :func:`global_timer` is an intrinsic around the one PTX
instruction ``mov.u64 %rd, %globaltimer``: a clock common to every SM, so stamps written by
one thread after each grid barrier time the phases between them (the step kernel's opt-in
``stamps``, :mod:`kernels.cuda.steps`). The simulator has no GPU clock and takes the host's
``time.perf_counter_ns``.
"""

import time

from numba import config, cuda

if config.ENABLE_CUDASIM:

    @cuda.jit(device=True)
    def global_timer():
        """Nanoseconds on the host's clock (the simulator's stand-in)."""
        return time.perf_counter_ns()

else:
    from llvmlite import ir
    from numba import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def global_timer(typingctx):
        """Nanoseconds on the GPU's global timer (int64)."""

        def codegen(context, builder, signature, args):
            read = ir.InlineAsm(
                ir.FunctionType(ir.IntType(64), []),
                "mov.u64 $0, %globaltimer;",
                "=l",
                side_effect=True,  # never hoisted or merged: each read is a new moment
            )
            return builder.call(read, [])

        return types.int64(), codegen
