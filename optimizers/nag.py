"""Nesterov accelerated gradient.

The textbook rule evaluates the gradient at the look-ahead point
``w - momentum * u``. Substituting the look-ahead point as the stored variable
(Bengio et al. 2012, "Advances in optimizing recurrent networks"; PyTorch's
``nesterov=True``) gives the same iterates with the gradient at the stored
weights, so no second forward pass is needed:

    u <- momentum * u + lr * g
    w <- w - (momentum * u + lr * g)
"""

from typing import NamedTuple

from .base import Optimizer


class Hyper(NamedTuple):
    learning_rate: float
    momentum: float


def coefficients(hyper, scalars, loss):
    return (hyper.learning_rate, hyper.momentum)


def element(w, g, s, c):
    """Nesterov step; ``s = (u,)``, the velocity."""
    cast = type(w)
    lr, mu = cast(c[0]), cast(c[1])
    step = lr * g
    u = mu * s[0] + step
    return w - (mu * u + step), (u,)


OPTIMIZER = Optimizer(
    name="nag",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=1,
    n_scalars=0,
    formula="u <- momentum*u + lr*g;  w <- w - (momentum*u + lr*g)",
)
