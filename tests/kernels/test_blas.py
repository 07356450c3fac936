"""Which BLAS and which OpenBLAS kernels nbnet asks for (kernels/blas.py), on fake
/proc/cpuinfo texts; and, where MKL is installed, that the products really run on it."""

import os
import subprocess
import sys
import textwrap

import pytest

from kernels import blas
from kernels.blas import SKYLAKEX_FLAGS, BlasError, blas_for, coretype_for

AVX512 = " ".join(sorted(SKYLAKEX_FLAGS))


def cpuinfo(vendor, flags, processors=2):
    block = f"processor\t: {{}}\nvendor_id\t: {vendor}\ncpu family\t: 26\nflags\t\t: {flags}\n\n"
    return "".join(block.format(i) for i in range(processors))


def test_amd_with_avx512_gets_the_skylakex_kernels():
    assert coretype_for(cpuinfo("AuthenticAMD", f"fpu sse avx2 fma {AVX512}"), {}) == "SkylakeX"


@pytest.mark.parametrize("missing", sorted(SKYLAKEX_FLAGS))
def test_amd_missing_any_avx512_subset_is_left_alone(missing):
    flags = " ".join(sorted(SKYLAKEX_FLAGS - {missing}))
    assert coretype_for(cpuinfo("AuthenticAMD", f"avx2 fma {flags}"), {}) is None


def test_intel_is_left_to_openblas():
    assert coretype_for(cpuinfo("GenuineIntel", f"avx2 fma {AVX512}"), {}) is None


def test_the_users_choice_is_never_changed():
    env = {"OPENBLAS_CORETYPE": "Haswell"}
    assert coretype_for(cpuinfo("AuthenticAMD", f"avx2 fma {AVX512}"), env) is None


def test_no_cpuinfo_means_no_change():
    assert coretype_for("", {}) is None


def test_a_flag_name_that_only_starts_like_a_subset_does_not_count():
    flags = "avx512f avx512cd avx512bw avx512dq avx512vlx"  # no real avx512vl
    assert coretype_for(cpuinfo("AuthenticAMD", flags), {}) is None


# ------------------------------------------------------------------ which BLAS
INTEL = cpuinfo("GenuineIntel", f"avx2 fma {AVX512}")
AMD = cpuinfo("AuthenticAMD", f"avx2 fma {AVX512}")


@pytest.mark.parametrize(
    "processor, installed, expected",
    [
        (INTEL, True, "mkl"),
        (INTEL, False, "openblas"),
        (AMD, True, "openblas"),
        ("", True, "openblas"),
    ],
)
def test_auto_takes_mkl_on_intel_processors_when_it_is_installed(processor, installed, expected):
    assert blas_for({}, processor, installed) == expected
    assert blas_for({"NBNET_BLAS": " Auto "}, processor, installed) == expected


def test_the_users_choice_wins_on_any_processor():
    assert blas_for({"NBNET_BLAS": "openblas"}, INTEL, True) == "openblas"
    assert blas_for({"NBNET_BLAS": "MKL"}, AMD, True) == "mkl"


def test_a_wrong_choice_names_the_choices_and_a_missing_mkl_says_how_to_install_it():
    with pytest.raises(BlasError, match="choose one of auto, mkl, openblas"):
        blas_for({"NBNET_BLAS": "blis"}, INTEL, True)
    with pytest.raises(BlasError, match=r'pip install -e "\.\[mkl\]"'):
        blas_for({"NBNET_BLAS": "mkl"}, INTEL, False)


def test_a_refused_choice_is_one_line_and_the_products_run_on_what_auto_picks(monkeypatch, capsys):
    monkeypatch.setattr(blas, "mkl_runtime", lambda: None)
    assert blas.choose_blas({"NBNET_BLAS": "mkl"}) == "openblas"
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nbnet: NBNET_BLAS=mkl, but MKL is not")
    assert lines[0].endswith("the products run on openblas")


#: Run in a fresh process (the choice is made once, when ``kernels`` is imported): the
#: products of compiled code in float32 and float64, transposed or not, against NumPy's,
#: the BLAS entries Numba calls, and MKL's results at another alignment of the same data.
_PRODUCTS = textwrap.dedent(
    """
    import ctypes, sys
    import numpy as np
    import kernels
    from numba import njit
    from scipy.linalg import cython_blas

    @njit
    def products(a, b, c, d):
        np.dot(a, b, c)
        np.dot(a.T, c, d)

    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float32, 1e-4), (np.float64, 1e-12)):
        a, b = rng.random((17, 33)).astype(dtype), rng.random((33, 20)).astype(dtype)
        c, d = np.empty((17, 20), dtype), np.empty((33, 20), dtype)
        products(a, b, c, d)
        assert np.allclose(c, a @ b, rtol=tol) and np.allclose(d, a.T @ (a @ b), rtol=tol)
        # The same values one element off their allocation's alignment: the same bits.
        shifted = np.empty(a.size + 1, dtype)[1:].reshape(a.shape)
        shifted[:] = a
        c2, d2 = np.empty_like(c), np.empty_like(d)
        products(shifted, b, c2, d2)
        assert np.array_equal(c2, c) and np.array_equal(d2, d)
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    names = ctypes.pythonapi.PyCapsule_GetName
    names.restype, names.argtypes = ctypes.c_char_p, [ctypes.py_object]
    capsule = cython_blas.__pyx_capi__["sgemm"]
    pointer = get(capsule, names(capsule))
    mkl = ctypes.CDLL(kernels.blas.mkl_runtime())
    print(kernels.BLAS, pointer == ctypes.cast(mkl.sgemm_, ctypes.c_void_p).value)
    """
)


@pytest.mark.skipif(blas.mkl_runtime() is None, reason='MKL is not installed (".[mkl]")')
@pytest.mark.parametrize("choice, on_mkl", [("mkl", "True"), ("openblas", "False")])
def test_the_products_run_on_the_chosen_blas(choice, on_mkl):
    env = dict(os.environ, NBNET_BLAS=choice)
    done = subprocess.run(
        [sys.executable, "-c", _PRODUCTS], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [choice, on_mkl]
