"""The MLP: layout of the flat parameter buffer, initialisers, work buffers, the network."""

from .layout import Layout
from .mlp import MLP

__all__ = ["Layout", "MLP"]
