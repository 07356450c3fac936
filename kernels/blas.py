"""Which BLAS the CPU kernels' matrix products run on, and with which kernels.

Every matrix product in the CPU kernels is ``np.dot`` inside Numba, which calls the
``sgemm``/``dgemm`` that ``scipy.linalg.cython_blas`` exports: the OpenBLAS bundled
with SciPy, unless this module points them elsewhere. Two choices, both made before
any kernel runs (``kernels/__init__.py`` calls them):

- **Intel's MKL when it is installed** (``pip install -e ".[mkl]"``) and the processor
  is Intel's: an epoch of workload A's products at batch 16 runs about 1.5x faster than
  on OpenBLAS on one core of a Sapphire Rapids Xeon (perf/RESULTS.md, "Issue 23"). Numba's
  helper library looks ``sgemm`` and ``dgemm`` up in ``cython_blas.__pyx_capi__`` once,
  at the first product of the process; :func:`use_mkl_products` replaces those two
  entries with MKL's own Fortran-interface functions (the same signature), so compiled
  code, and Numba's cache of it, is the same whichever BLAS runs. ``NBNET_BLAS`` chooses
  (``auto``, ``mkl``, ``openblas``); MKL's results are made reproducible run to run
  (``MKL_CBWR=AUTO,STRICT`` unless the user set it) so a resumed run still ends bit for
  bit as the uninterrupted one.
- **OpenBLAS's AVX-512 kernels on AMD processors it does not recognise**: OpenBLAS picks
  its kernels from the processor's family number at load time, and the releases on PyPI
  (0.3.30/0.3.31) do not know AMD's Zen 5 (family 26): they fall back to the AVX2
  "Haswell" kernels although the processor runs AVX-512 at full width. Forcing the
  "SkylakeX" (AVX-512) kernels makes workload A's matrix products 1.3-1.9x faster on such
  a machine (perf/RESULTS.md). The choice must be made through the ``OPENBLAS_CORETYPE``
  environment variable before the library is loaded, so this module imports nothing heavy
  at import. A value the user set is never changed; Intel processors are left alone
  (OpenBLAS recognises the AVX-512 ones); so is any processor that lacks one of the
  AVX-512 subsets the SkylakeX kernels use, where forcing them would crash with an
  illegal instruction.
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
    fields = _processor(cpuinfo)
    if fields.get("vendor_id") != "AuthenticAMD":
        return None
    if not SKYLAKEX_FLAGS <= set(fields.get("flags", "").split()):
        return None
    return "SkylakeX"


def _processor(cpuinfo):
    """The fields of the first processor in ``/proc/cpuinfo``'s text (the first is enough)."""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def _cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:  # not Linux
        return ""


def prefer_avx512_kernels():
    """Set ``OPENBLAS_CORETYPE`` for this process when :func:`coretype_for` says so.

    Only OpenBLAS libraries loaded afterwards are affected. Returns the value set,
    or None.
    """
    coretype = coretype_for(_cpuinfo(), os.environ)
    if coretype is not None:
        os.environ["OPENBLAS_CORETYPE"] = coretype
    return coretype


#: ``NBNET_BLAS``'s values.
BLAS_CHOICES = ("auto", "mkl", "openblas")


class BlasError(RuntimeError):
    """``NBNET_BLAS`` names a BLAS this process cannot use."""


def blas_for(environ, cpuinfo, mkl_installed):
    """The BLAS the products should run on: ``"mkl"`` or ``"openblas"``.

    Parameters
    ----------
    environ : mapping
        The process environment; ``NBNET_BLAS`` is one of :data:`BLAS_CHOICES` (``auto``
        when unset: MKL on an Intel processor when it is installed, else OpenBLAS).
    cpuinfo : str
        Text of ``/proc/cpuinfo`` (empty where there is none).
    mkl_installed : bool

    Raises
    ------
    BlasError
        An unknown value, or ``mkl`` without MKL installed.
    """
    wanted = environ.get("NBNET_BLAS", "auto").strip().lower() or "auto"
    if wanted not in BLAS_CHOICES:
        raise BlasError(
            f"NBNET_BLAS={wanted!r} is not a BLAS nbnet knows; choose one of "
            f"{', '.join(BLAS_CHOICES)}"
        )
    if wanted == "mkl" and not mkl_installed:
        raise BlasError('NBNET_BLAS=mkl, but MKL is not installed: pip install -e ".[mkl]"')
    if wanted == "auto":
        intel = _processor(cpuinfo).get("vendor_id") == "GenuineIntel"
        return "mkl" if mkl_installed and intel else "openblas"
    return wanted


def mkl_runtime():
    """The path of MKL's single dynamic library (``libmkl_rt``) as pip installed it, or None."""
    from importlib import metadata

    try:
        files = metadata.distribution("mkl").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name.startswith("libmkl_rt.so"):
            path = os.path.realpath(file.locate())
            return path if os.path.exists(path) else None
    return None


def use_mkl_products(path):
    """Make Numba's ``np.dot`` call MKL's ``sgemm_``/``dgemm_`` (from ``libmkl_rt`` at
    ``path``) instead of SciPy's OpenBLAS; only products of the process not yet run are
    affected. Must run before the first product (Numba looks the functions up once)."""
    import ctypes

    import scipy.linalg.cython_blas as cython_blas

    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")  # read by MKL when it first runs
    # Intel's OpenMP, as MKL picks by default and as perf/RESULTS.md measured it: once Numba's
    # thread pool had loaded GNU's first (kernels.rules.start_thread_pool), MKL ran on GNU's.
    # (A forked child of a process that multiplied hung in MKL's first product either way:
    # perf/RESULTS.md, "The update on both cores".)
    os.environ.setdefault("MKL_THREADING_LAYER", "INTEL")
    library = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    api = ctypes.pythonapi
    api.PyCapsule_GetName.restype = ctypes.c_char_p
    api.PyCapsule_GetName.argtypes = [ctypes.py_object]
    api.PyCapsule_New.restype = ctypes.py_object
    api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    capi = cython_blas.__pyx_capi__
    for name in ("sgemm", "dgemm"):
        # The capsule keeps a pointer to its name: the bytes live as long as the module.
        capsule_name = api.PyCapsule_GetName(capi[name])
        _CAPSULE_NAMES.append(capsule_name)
        address = ctypes.cast(getattr(library, name + "_"), ctypes.c_void_p).value
        capi[name] = api.PyCapsule_New(address, capsule_name, None)


_CAPSULE_NAMES = []


def choose_blas(environ=os.environ):
    """Point the products at the BLAS :func:`blas_for` picks for this process; returns it.

    A ``NBNET_BLAS`` it refuses costs one line on stderr, saying what runs instead (what
    ``auto`` picks): this runs when ``kernels`` is imported, where an exception would be a
    traceback in every command and end a library user's import."""
    import sys

    path = mkl_runtime()
    cpuinfo = _cpuinfo()
    try:
        choice = blas_for(environ, cpuinfo, path is not None)
    except BlasError as error:
        choice = blas_for({}, cpuinfo, path is not None)
        print(f"nbnet: {error}; the products run on {choice}", file=sys.stderr)
    if choice == "mkl":
        use_mkl_products(path)
    return choice
