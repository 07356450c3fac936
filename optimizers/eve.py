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
``optimizers/__init__.py`` and its reference in ``tests/naive.py``. Its element
update is Adam's; only the coefficients differ, and they read the loss.
"""

from . import adam
from .base import Optimizer

BETA3, SMALL_K, BIG_K = 0.999, 0.1, 10.0


class Hyper(adam.Hyper):
    """Adam's settings; a class of its own, by which the compiled step loop tells Eve's
    rule from Adam's (:mod:`kernels.rules`)."""

    __slots__ = ()


def coefficients(hyper, scalars, loss):
    """Advance ``scalars`` = (t, d, f_prev) and return Adam's coefficients with ``d``."""
    scalars[0] += 1.0
    t = scalars[0]
    if t == 1.0:
        scalars[1] = 1.0
        scalars[2] = loss
    else:
        f_prev = scalars[2]
        if loss >= f_prev:
            lo, hi = SMALL_K + 1.0, BIG_K + 1.0
        else:
            lo, hi = 1.0 / (BIG_K + 1.0), 1.0 / (SMALL_K + 1.0)
        ratio = min(max(lo, loss / f_prev), hi)
        f_new = ratio * f_prev
        r = abs(f_new - f_prev) / min(f_new, f_prev)
        scalars[1] = BETA3 * scalars[1] + (1.0 - BETA3) * r
        scalars[2] = f_new
    return adam.family(
        hyper, 1.0 / (1.0 - hyper.beta1**t), 0.0, 1.0 / (1.0 - hyper.beta2**t), scalars[1]
    )


OPTIMIZER = Optimizer(
    name="eve",
    coefficients=coefficients,
    element=adam.element,
    hyper=Hyper,
    n_slots=2,
    n_scalars=3,
    formula="Adam step divided by d, a smoothed relative change of the loss",
)
