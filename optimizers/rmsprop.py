"""RMSprop (Hinton, Coursera lecture 6e).

v <- beta * v + (1 - beta) * g^2
w <- w - lr * g / (sqrt(v) + epsilon)
"""

import math
from typing import NamedTuple

from .base import Optimizer


class Hyper(NamedTuple):
    learning_rate: float
    beta: float
    epsilon: float


def coefficients(hyper, scalars, loss):
    return (hyper.learning_rate, hyper.beta, 1.0 - hyper.beta, hyper.epsilon)


def element(w, g, s, c):
    """RMSprop step; ``s = (v,)``, the mean square."""
    cast = type(w)
    lr, beta, rest, eps = cast(c[0]), cast(c[1]), cast(c[2]), cast(c[3])
    v = beta * s[0] + rest * g * g
    return w - lr * g / (math.sqrt(v) + eps), (v,)


OPTIMIZER = Optimizer(
    name="rmsprop",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=1,
    n_scalars=0,
    formula="v <- beta*v + (1-beta)*g^2;  w <- w - lr*g/(sqrt(v)+eps)",
)
