"""The optimizer registry: the one list that the CLI choices, the sweeps and the
generic tests read. Adding an optimizer is one module in this package and one
line below (see the README, "Adding an optimizer")."""

from . import adam, eve, momentum, nadam, nag, rmsprop, sgd
from .base import Optimizer, OptimizerState

REGISTRY = {
    opt.name: opt
    for opt in (
        sgd.OPTIMIZER,
        momentum.OPTIMIZER,
        nag.OPTIMIZER,
        rmsprop.OPTIMIZER,
        adam.OPTIMIZER,
        nadam.OPTIMIZER,
        eve.OPTIMIZER,
    )
}


def get(name):
    """The registered optimizer called ``name``; a ValueError lists the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(REGISTRY)}") from None


__all__ = ["REGISTRY", "Optimizer", "OptimizerState", "get"]
