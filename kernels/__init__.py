"""Numba-compiled kernels: dense layers, activations, losses and the step loop.

Stateless functions over preallocated arrays; nothing here knows about files,
W&B or the terminal. ``kernels.cuda`` holds the GPU twins.
"""

from kernels.blas import choose_blas, prefer_avx512_kernels
from kernels.cache import install

# Before any kernel is defined: Numba picks a function's cache locator when it is decorated.
install()

# Before any kernel module loads, so that the OpenBLAS Numba links against sees it.
#: The OPENBLAS_CORETYPE nbnet chose for this process, or None (left to the user / OpenBLAS).
OPENBLAS_CORETYPE_CHOSEN = prefer_avx512_kernels()

#: The BLAS the CPU kernels' products run on in this process: "mkl" or "openblas"
#: (kernels/blas.py; NBNET_BLAS chooses).
BLAS = choose_blas()
