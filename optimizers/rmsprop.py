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


def element(k, params, grads, slots, c):
    """RMSprop step; ``slots[0]`` is the mean square ``v``."""
    cast = params.dtype.type
    lr, beta, rest, eps = cast(c[0]), cast(c[1]), cast(c[2]), cast(c[3])
    g = grads[k]
    v = beta * slots[0, k] + rest * g * g
    slots[0, k] = v
    params[k] -= lr * g / (math.sqrt(v) + eps)


OPTIMIZER = Optimizer(
    name="rmsprop",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=1,
    n_scalars=0,
    formula="v <- beta*v + (1-beta)*g^2;  w <- w - lr*g/(sqrt(v)+eps)",
)
