"""RMSprop (Hinton, Coursera lecture 6e).

    v <- beta * v + (1 - beta) * g^2
    w <- w - lr * g / (sqrt(v) + epsilon)
"""

import numpy as np

from kernels.config import JIT

from .base import Optimizer


@JIT
def rmsprop_update(params, grads, state, hyper, scalars, loss):
    """RMSprop step; ``state[0]`` is the mean square ``v``, shape (P,)."""
    cast = params.dtype.type
    lr, beta, eps = cast(hyper[0]), cast(hyper[1]), cast(hyper[2])
    rest = cast(1.0 - hyper[1])
    v = state[0]
    for k in range(params.shape[0]):
        g = grads[k]
        v[k] = beta * v[k] + rest * g * g
        params[k] -= lr * g / (np.sqrt(v[k]) + eps)


OPTIMIZER = Optimizer(
    name="rmsprop",
    update=rmsprop_update,
    hyperparameters=("learning_rate", "beta", "epsilon"),
    n_slots=1,
    n_scalars=0,
    formula="v <- beta*v + (1-beta)*g^2;  w <- w - lr*g/(sqrt(v)+eps)",
)
