"""numba.cuda twins of the CPU kernels (STUMPY's ``gpu_*`` files are the model).

Importing this package imports ``numba.cuda`` (from the optional ``numba-cuda``
package, ``pip install -e ".[cuda]"``); a CPU-only run never imports it.
Kernels end in ``_kernel``; each is checked against its CPU twin in
``tests/test_cuda.py`` under ``NUMBA_ENABLE_CUDASIM=1``.
"""


def cuda_status():
    """``(True, device name)`` when a usable GPU is present, else ``(False, reason)``."""
    try:
        from numba import cuda
    except ImportError as exc:
        return False, f"numba-cuda is not installed ({exc}); pip install -e \".[cuda]\""
    try:
        if not cuda.is_available():
            return False, "no CUDA GPU or driver found"
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        return True, name
    except Exception as exc:  # driver errors come in many types
        return False, f"CUDA unusable: {exc}"
