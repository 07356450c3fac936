"""Numba-compiled kernels: dense layers, activations, losses and the step loop.

Stateless functions over preallocated arrays; nothing here knows about files,
W&B or the terminal. ``kernels.cuda`` holds the GPU twins.
"""
