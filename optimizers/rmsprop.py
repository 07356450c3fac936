"""RMSprop (Hinton, Coursera lecture 6e).

v <- beta * v + (1 - beta) * g^2
w <- w - lr * g / (sqrt(v) + epsilon)
"""

import math

from .base import Optimizer


def coefficients(hyper, scalars, loss):
    return (hyper[0], hyper[1], 1.0 - hyper[1], hyper[2])


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
    hyperparameters=("learning_rate", "beta", "epsilon"),
    n_slots=1,
    n_scalars=0,
    n_coefficients=4,
    formula="v <- beta*v + (1-beta)*g^2;  w <- w - lr*g/(sqrt(v)+eps)",
)
