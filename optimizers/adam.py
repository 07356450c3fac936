"""Adam (Kingma & Ba, 2015), with bias correction.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    w <- w - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + epsilon)

:func:`element` is written for the whole Adam family: it applies

    w <- w - lr * (m_scale * m + g_scale * g) / (d * sqrt(v_scale * v) + epsilon)

and each member only chooses the scales in its ``coefficients``: Adam
(``m_scale = 1/(1-beta1^t)``, ``g_scale = 0``, ``d = 1``), Nadam (a Nesterov
mix of ``m`` and ``g``) and Eve (``d`` from the loss).
"""

import math
from typing import NamedTuple

from kernels.config import JIT

from .base import Optimizer


class Hyper(NamedTuple):
    """The Adam family's hyperparameters (Nadam and Eve take the same)."""

    learning_rate: float
    beta1: float
    beta2: float
    epsilon: float


# Positions in the family's coefficient tuple.
LR, B1, REST1, B2, REST2, M_SCALE, G_SCALE, V_SCALE, D, EPS = range(10)


@JIT
def family(hyper, m_scale, g_scale, v_scale, d):
    """The family's ten coefficients (positions ``LR``...) for a member's four scales.

    Compiled with ``@njit``: Numba compiles it for the CPU, and for the GPU when a
    member's ``coefficients`` calls it from a device function.
    """
    b1, b2 = hyper.beta1, hyper.beta2
    return (
        hyper.learning_rate,
        b1,
        1.0 - b1,
        b2,
        1.0 - b2,
        m_scale,
        g_scale,
        v_scale,
        d,
        hyper.epsilon,
    )


def coefficients(hyper, scalars, loss):
    """Advance ``t = scalars[0]``; return the family's ten coefficients (see ``LR``...)."""
    scalars[0] += 1.0
    t = scalars[0]
    return family(hyper, 1.0 / (1.0 - hyper.beta1**t), 0.0, 1.0 / (1.0 - hyper.beta2**t), 1.0)


def element(w, g, s, c):
    """One Adam-family step of a parameter ``w``; ``s = (m, v)``, the moments."""
    cast = type(w)
    m = cast(c[B1]) * s[0] + cast(c[REST1]) * g
    v = cast(c[B2]) * s[1] + cast(c[REST2]) * g * g
    step = cast(c[M_SCALE]) * m + cast(c[G_SCALE]) * g
    denominator = cast(c[D]) * math.sqrt(cast(c[V_SCALE]) * v) + cast(c[EPS])
    return w - cast(c[LR]) * step / denominator, (m, v)


OPTIMIZER = Optimizer(
    name="adam",
    coefficients=coefficients,
    element=element,
    hyper=Hyper,
    n_slots=2,
    n_scalars=1,
    formula="m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2;  w <- w - lr*m_hat/(sqrt(v_hat)+eps)",
)
