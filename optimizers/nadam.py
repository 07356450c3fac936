"""Nadam (Dozat, 2016): Adam with a Nesterov look-ahead on the first moment.

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    m_hat = beta1 * m / (1 - beta1^(t+1)) + (1 - beta1) * g / (1 - beta1^t)
    v_hat = v / (1 - beta2^t)
    w <- w - lr * m_hat / (sqrt(v_hat) + epsilon)

This is the form of Dozat's paper with a constant beta1 (no momentum schedule).
The element update is Adam's (:func:`optimizers.adam.element`); only the
coefficients differ.
"""

from . import adam
from .base import Optimizer


class Hyper(adam.Hyper):
    """Adam's settings; a class of its own, by which the compiled step loop tells Nadam's
    rule from Adam's (:mod:`kernels.rules`)."""

    __slots__ = ()


def coefficients(hyper, scalars, loss):
    scalars[0] += 1.0
    t = scalars[0]
    b1 = hyper.beta1
    return adam.family(
        hyper,
        b1 / (1.0 - b1 ** (t + 1.0)),
        (1.0 - b1) / (1.0 - b1**t),
        1.0 / (1.0 - hyper.beta2**t),
        1.0,
    )


OPTIMIZER = Optimizer(
    name="nadam",
    coefficients=coefficients,
    element=adam.element,
    hyper=Hyper,
    n_slots=2,
    n_scalars=1,
    formula="Adam with m_hat = b1*m/(1-b1^(t+1)) + (1-b1)*g/(1-b1^t)",
)
