"""Which OpenBLAS kernels nbnet asks for (kernels/blas.py), on fake /proc/cpuinfo texts."""

import pytest

from kernels.blas import SKYLAKEX_FLAGS, coretype_for

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
