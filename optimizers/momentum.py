"""Momentum (heavy ball), in the form of the course notes.

u <- momentum * u + lr * g
w <- w - u
"""

from typing import NamedTuple

from .base import Optimizer


class Hyper(NamedTuple):
    learning_rate: float
    momentum: float


def coefficients(hyper, scalars, loss):
    return (hyper.learning_rate, hyper.momentum)


def element(w, g, s, c):
    """Heavy-ball step; ``s = (u,)``, the velocity."""
    cast = type(w)
    lr, mu = cast(c[0]), cast(c[1])
    u = mu * s[0] + lr * g
    return w - u, (u,)


OPTIMIZER = Optimizer(
    name="momentum",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=1,
    n_scalars=0,
    formula="u <- momentum*u + lr*g;  w <- w - u",
)
