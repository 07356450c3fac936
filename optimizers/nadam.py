"""Nadam (Dozat, 2016): Adam with a Nesterov look-ahead on the first moment.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    m_hat = beta1 * m / (1 - beta1^(t+1)) + (1 - beta1) * g / (1 - beta1^t)
    v_hat = v / (1 - beta2^t)
    w <- w - lr * m_hat / (sqrt(v_hat) + epsilon)

This is the form of Dozat's paper with a constant beta1 (no momentum schedule).
"""

import numpy as np

from kernels.config import JIT

from .base import Optimizer


@JIT
def nadam_update(params, grads, state, hyper, scalars, loss):
    """Nadam step; ``state[0]`` = m, ``state[1]`` = v (shape (P,)); ``scalars[0]`` = t."""
    cast = params.dtype.type
    scalars[0] += 1
    t = scalars[0]
    lr, beta1, beta2, eps = cast(hyper[0]), cast(hyper[1]), cast(hyper[2]), cast(hyper[3])
    rest1, rest2 = cast(1.0 - hyper[1]), cast(1.0 - hyper[2])
    ahead = cast(hyper[1] / (1.0 - hyper[1] ** (t + 1)))
    now = cast((1.0 - hyper[1]) / (1.0 - hyper[1] ** t))
    correct2 = cast(1.0 / (1.0 - hyper[2] ** t))
    m, v = state[0], state[1]
    for k in range(params.shape[0]):
        g = grads[k]
        m[k] = beta1 * m[k] + rest1 * g
        v[k] = beta2 * v[k] + rest2 * g * g
        m_hat = ahead * m[k] + now * g
        params[k] -= lr * m_hat / (np.sqrt(v[k] * correct2) + eps)


OPTIMIZER = Optimizer(
    name="nadam",
    update=nadam_update,
    hyperparameters=("learning_rate", "beta1", "beta2", "epsilon"),
    n_slots=2,
    n_scalars=1,
    formula="Adam with m_hat = b1*m/(1-b1^(t+1)) + (1-b1)*g/(1-b1^t)",
)
