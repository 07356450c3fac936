"""Momentum (heavy ball), in the form of the course notes.

    u <- momentum * u + lr * g
    w <- w - u
"""

from kernels.config import JIT

from .base import Optimizer


@JIT
def momentum_update(params, grads, state, hyper, scalars, loss):
    """Heavy-ball step; ``state[0]`` is the velocity ``u``, shape (P,)."""
    cast = params.dtype.type
    lr, mu = cast(hyper[0]), cast(hyper[1])
    u = state[0]
    for k in range(params.shape[0]):
        u[k] = mu * u[k] + lr * grads[k]
        params[k] -= u[k]


OPTIMIZER = Optimizer(
    name="momentum",
    update=momentum_update,
    hyperparameters=("learning_rate", "momentum"),
    n_slots=1,
    n_scalars=0,
    formula="u <- momentum*u + lr*g;  w <- w - u",
)
