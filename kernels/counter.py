"""A stateless random generator: each draw is a hash of ``(seed, counter)``.

Thousands of GPU threads cannot share one sequential generator, and a draw that
depends only on its ``(seed, counter)`` is the same on the CPU and the GPU,
however the work is split. The hash is SplitMix64's output function (Steele, Lea
& Flood, 2014), whose 64-bit results pass BigCrush when fed consecutive
counters; the top 53 bits become a float64 in [0, 1).

``counter_uniform_py`` is the one definition: :data:`counter_uniform` compiles it
for the CPU, :mod:`kernels.cuda.dropout` for the GPU.
"""

from numba import uint64

from .config import JIT

_GOLDEN = uint64(0x9E3779B97F4A7C15)
_MIX1 = uint64(0xBF58476D1CE4E5B9)
_MIX2 = uint64(0x94D049BB133111EB)


def counter_uniform_py(seed, counter):
    """A float64 in [0, 1) determined by ``(seed, counter)`` (SplitMix64's mixer).

    Integer products wrap modulo 2**64, on both devices.
    """
    z = uint64(seed) + (uint64(counter) + uint64(1)) * _GOLDEN
    z = (z ^ (z >> uint64(30))) * _MIX1
    z = (z ^ (z >> uint64(27))) * _MIX2
    z = z ^ (z >> uint64(31))
    return (z >> uint64(11)) * (1.0 / 9007199254740992.0)  # 2**-53


counter_uniform = JIT(counter_uniform_py)
