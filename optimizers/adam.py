"""Adam (Kingma & Ba, 2015), with bias correction.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    w <- w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)
"""

import numpy as np

from kernels.config import JIT

from .base import Optimizer


@JIT
def adam_update(params, grads, state, hyper, scalars, loss):
    """Adam step; ``state[0]`` = m, ``state[1]`` = v (shape (P,)); ``scalars[0]`` = t."""
    cast = params.dtype.type
    scalars[0] += 1
    t = scalars[0]
    lr, beta1, beta2, eps = cast(hyper[0]), cast(hyper[1]), cast(hyper[2]), cast(hyper[3])
    rest1, rest2 = cast(1.0 - hyper[1]), cast(1.0 - hyper[2])
    correct1 = cast(1.0 / (1.0 - hyper[1] ** t))
    correct2 = cast(1.0 / (1.0 - hyper[2] ** t))
    m, v = state[0], state[1]
    for k in range(params.shape[0]):
        g = grads[k]
        m[k] = beta1 * m[k] + rest1 * g
        v[k] = beta2 * v[k] + rest2 * g * g
        params[k] -= lr * (m[k] * correct1) / (np.sqrt(v[k] * correct2) + eps)


OPTIMIZER = Optimizer(
    name="adam",
    update=adam_update,
    hyperparameters=("learning_rate", "beta1", "beta2", "epsilon"),
    n_slots=2,
    n_scalars=1,
    formula="m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  "
    "w <- w - lr*m_hat/(sqrt(v_hat)+eps)",
)
