"""Plain stochastic gradient descent: ``w <- w - lr * g``."""

from typing import NamedTuple

from .base import Optimizer


class Hyper(NamedTuple):
    learning_rate: float


def coefficients(hyper, scalars, loss):
    return (hyper.learning_rate,)


def element(w, g, s, c):
    """``w - lr * g``; no state."""
    lr = type(w)(c[0])
    return w - lr * g, s


OPTIMIZER = Optimizer(
    name="sgd",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=0,
    n_scalars=0,
    formula="w <- w - lr * g",
)
