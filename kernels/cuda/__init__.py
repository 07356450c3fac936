"""numba.cuda twins of the CPU kernels (STUMPY's ``gpu_*`` files are the model).

Importing this package imports ``numba.cuda`` (from the optional ``numba-cuda``
package, ``pip install -e ".[cuda]"``); a CPU-only run never imports it.
Kernels end in ``_kernel``; each is checked against its CPU twin in
``tests/kernels/test_cuda.py`` under ``NUMBA_ENABLE_CUDASIM=1``.
"""

import numpy as np

# numba-cuda (0.30.4 and earlier) registers an overload for ``np.row_stack`` when it
# loads its array functions, at the first kernel compile; NumPy 2.5 removed that alias
# of ``np.vstack`` (deprecated since 2.0), so on Python 3.12+, where pip picks NumPy 2.5,
# every compile died with ``AttributeError: module 'numpy' has no attribute 'row_stack'``.
# The alias is given back before numba.cuda loads anything (it is the same function under
# its old name; nbnet never calls it). A ``numpy<2.5`` pin in the ``cuda`` extra was the
# other choice; it would refuse the GPU images that already ship NumPy 2.5 with numba-cuda.
if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack


def cuda_status():
    """``(True, device name)`` when a GPU is usable, else ``(False, reason)``.

    Usable means that a tiny kernel compiles, runs and returns its result: a broken
    CUDA stack (driver, toolkit, NVVM, a numba-cuda that cannot compile) is then one
    line before training starts, never a traceback in the middle of a run.
    """
    try:
        from numba import cuda
    except ImportError as exc:
        return False, f'numba-cuda is not installed ({exc}); pip install -e ".[cuda]"'
    try:
        if not cuda.is_available():
            return False, "no CUDA GPU or driver found"
        device = cuda.get_current_device()
        name = getattr(device, "name", "the CUDA simulator")  # the simulator's device has none
        name = name.decode() if isinstance(name, bytes) else str(name)
        from .steps import grid_sync, launch

        @cuda.jit
        def probe_kernel(out):  # compiles like the step kernel: device functions, a grid sync
            grid_sync()
            out[0] = 42  # every thread writes the same value

        out = cuda.to_device(np.zeros(1, dtype=np.int64))
        launch(probe_kernel, 1, (out,))
        if out.copy_to_host()[0] != 42:
            return False, f"CUDA unusable: a test kernel on {name} returned a wrong result"
        return True, name
    except Exception as exc:  # driver, compiler and launch errors come in many types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return False, f"CUDA unusable: {type(exc).__name__}: {first_line}"
