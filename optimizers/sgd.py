"""Plain stochastic gradient descent: ``w <- w - lr * g``."""

from .base import Optimizer


def coefficients(hyper, scalars, loss):
    return (hyper[0],)


def element(k, params, grads, slots, c):
    """``params[k] -= lr * grads[k]``; no state."""
    lr = params.dtype.type(c[0])
    params[k] -= lr * grads[k]


OPTIMIZER = Optimizer(
    name="sgd",
    coefficients=coefficients,
    element=element,
    hyperparameters=("learning_rate",),
    n_slots=0,
    n_scalars=0,
    n_coefficients=1,
    formula="w <- w - lr * g",
)
