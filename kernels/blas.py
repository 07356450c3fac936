"""Point OpenBLAS at its AVX-512 kernels on AMD processors it does not recognise.

Every matrix product in the CPU kernels is ``np.dot`` inside Numba, which calls
the OpenBLAS bundled with SciPy. OpenBLAS picks its kernels from the processor's
family number at load time, and the releases on PyPI (0.3.30/0.3.31) do not know
AMD's Zen 5 (family 26): they fall back to the AVX2 "Haswell" kernels although
the processor runs AVX-512 at full width. Forcing the "SkylakeX" (AVX-512)
kernels makes workload A's matrix products 1.3-1.9x faster on such a machine
(perf/RESULTS.md).

The choice must be made through the ``OPENBLAS_CORETYPE`` environment variable
before the library is loaded, so this module imports nothing heavy and
``kernels/__init__.py`` calls :func:`prefer_avx512_kernels` before any kernel
is compiled. A value the user set is never changed; Intel processors are left
alone (OpenBLAS recognises the AVX-512 ones); so is any processor that lacks
one of the AVX-512 subsets the SkylakeX kernels use, where forcing them would
crash with an illegal instruction.
"""

import os

#: The instruction-set extensions OpenBLAS's SkylakeX kernels need.
SKYLAKEX_FLAGS = frozenset({"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"})


def coretype_for(cpuinfo, environ):
    """The ``OPENBLAS_CORETYPE`` to set, or None to leave OpenBLAS's own choice.

    Parameters
    ----------
    cpuinfo : str
        Text of ``/proc/cpuinfo`` (empty where there is none).
    environ : mapping
        The process environment.

    Returns
    -------
    str or None
        ``"SkylakeX"`` for an AMD processor with every flag in :data:`SKYLAKEX_FLAGS`
        when the user has not chosen a core type; None otherwise.
    """
    if "OPENBLAS_CORETYPE" in environ:
        return None
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())  # the first processor is enough
    if fields.get("vendor_id") != "AuthenticAMD":
        return None
    if not SKYLAKEX_FLAGS <= set(fields.get("flags", "").split()):
        return None
    return "SkylakeX"


def prefer_avx512_kernels():
    """Set ``OPENBLAS_CORETYPE`` for this process when :func:`coretype_for` says so.

    Only OpenBLAS libraries loaded afterwards are affected. Returns the value set,
    or None.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpuinfo = f.read()
    except OSError:  # not Linux
        return None
    coretype = coretype_for(cpuinfo, os.environ)
    if coretype is not None:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    return coretype
