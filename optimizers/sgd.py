"""Plain stochastic gradient descent: ``w <- w - lr * g``."""

from kernels.config import JIT

from .base import Optimizer


@JIT
def sgd_update(params, grads, state, hyper, scalars, loss):
    """``params[k] -= lr * grads[k]``; shapes (P,). No state."""
    lr = params.dtype.type(hyper[0])
    for k in range(params.shape[0]):
        params[k] -= lr * grads[k]


OPTIMIZER = Optimizer(
    name="sgd",
    update=sgd_update,
    hyperparameters=("learning_rate",),
    n_slots=0,
    n_scalars=0,
    formula="w <- w - lr * g",
)
