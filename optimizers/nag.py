"""Nesterov accelerated gradient.

The textbook rule evaluates the gradient at the look-ahead point
``w - momentum * u``. Substituting the look-ahead point as the stored variable
(Bengio et al. 2012, "Advances in optimizing recurrent networks"; PyTorch's
``nesterov=True``) gives the same iterates with the gradient at the stored
weights, so no second forward pass is needed:

    u <- momentum * u + lr * g
    w <- w - (momentum * u + lr * g)
"""

from kernels.config import JIT

from .base import Optimizer


@JIT
def nag_update(params, grads, state, hyper, scalars, loss):
    """Nesterov step; ``state[0]`` is the velocity ``u``, shape (P,)."""
    cast = params.dtype.type
    lr, mu = cast(hyper[0]), cast(hyper[1])
    u = state[0]
    for k in range(params.shape[0]):
        step = lr * grads[k]
        u[k] = mu * u[k] + step
        params[k] -= mu * u[k] + step


OPTIMIZER = Optimizer(
    name="nag",
    update=nag_update,
    hyperparameters=("learning_rate", "momentum"),
    n_slots=1,
    n_scalars=0,
    formula="u <- momentum*u + lr*g;  w <- w - (momentum*u + lr*g)",
)
