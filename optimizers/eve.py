"""Eve (Koushik & Hayashi, 2016): Adam whose step adapts to the loss.

Eve divides Adam's step by ``d``, a smoothed relative change of the loss ``f``
(the objective's minimum is taken as 0, true for both of nbnet's losses):

    t <- t + 1;  m, v, m_hat, v_hat as in Adam
    if t == 1:   d <- 1;  f_prev <- f
    else:
        lo, hi = (k + 1, K + 1) if f >= f_prev else (1 / (K + 1), 1 / (k + 1))
        c <- min(max(lo, f / f_prev), hi)        # clipped ratio of losses
        f_new <- c * f_prev
        r <- |f_new - f_prev| / min(f_new, f_prev)
        d <- beta3 * d + (1 - beta3) * r;  f_prev <- f_new
    w <- w - lr * m_hat / (d * sqrt(v_hat) + epsilon)

with the paper's constants beta3 = 0.999, k = 0.1, K = 10.

This module is the whole of what adding Eve took, plus one line in
``optimizers/__init__.py``.
"""

import numpy as np

from kernels.config import JIT

from .base import Optimizer

BETA3, SMALL_K, BIG_K = 0.999, 0.1, 10.0


@JIT
def eve_update(params, grads, state, hyper, scalars, loss):
    """Eve step; ``state`` = (m, v); ``scalars`` = (t, d, f_prev)."""
    cast = params.dtype.type
    scalars[0] += 1
    t = scalars[0]
    if t == 1:
        scalars[1] = 1.0
        scalars[2] = loss
    else:
        f_prev = scalars[2]
        if loss >= f_prev:
            lo, hi = SMALL_K + 1, BIG_K + 1
        else:
            lo, hi = 1 / (BIG_K + 1), 1 / (SMALL_K + 1)
        c = min(max(lo, loss / f_prev), hi)
        f_new = c * f_prev
        r = abs(f_new - f_prev) / min(f_new, f_prev)
        scalars[1] = BETA3 * scalars[1] + (1 - BETA3) * r
        scalars[2] = f_new
    d = cast(scalars[1])
    lr, beta1, beta2, eps = cast(hyper[0]), cast(hyper[1]), cast(hyper[2]), cast(hyper[3])
    rest1, rest2 = cast(1.0 - hyper[1]), cast(1.0 - hyper[2])
    correct1 = cast(1.0 / (1.0 - hyper[1] ** t))
    correct2 = cast(1.0 / (1.0 - hyper[2] ** t))
    m, v = state[0], state[1]
    for k in range(params.shape[0]):
        g = grads[k]
        m[k] = beta1 * m[k] + rest1 * g
        v[k] = beta2 * v[k] + rest2 * g * g
        params[k] -= lr * (m[k] * correct1) / (d * np.sqrt(v[k] * correct2) + eps)


OPTIMIZER = Optimizer(
    name="eve",
    update=eve_update,
    hyperparameters=("learning_rate", "beta1", "beta2", "epsilon"),
    n_slots=2,
    n_scalars=3,
    formula="Adam step divided by d, a smoothed relative change of the loss",
)
