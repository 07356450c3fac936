"""What an optimizer is: a compiled update rule plus the description of its state.

In the spirit of optax's ``init``/``update`` pair, but over nbnet's flat buffers:

* ``update(params, grads, state, hyper, scalars, loss)`` is an ``@JIT``
  function that changes ``params`` (shape ``(P,)``) in place, one step.
  ``grads`` has the same shape (weight decay is already in it, see
  :func:`kernels.dense.add_weight_decay`); ``state`` is a ``(n_slots, P)`` array of
  per-parameter slots (velocities, moments) in the parameters' dtype; ``hyper``
  is a float64 array of the hyperparameters, in the order of
  ``Optimizer.hyperparameters``; ``scalars`` is a float64 array of
  ``n_scalars`` running scalars (the step count, ...); ``loss`` is the current
  batch's mean loss (only loss-aware rules such as Eve read it).
* The compiled step loop receives ``update`` as an argument and calls it after
  every backward pass, so the same loop serves every optimizer, and each
  optimizer is compiled into it once.

Write the element loop in the parameters' dtype: cast every coefficient once
with ``cast = params.dtype.type`` before the loop. A bare ``1 - beta`` mixes an
integer with a float and makes every element operation float64, which costs
several times in float32 training.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OptimizerState:
    """Mutable state of one optimizer for one parameter buffer."""

    slots: np.ndarray  # (n_slots, P), parameters' dtype
    scalars: np.ndarray  # (n_scalars,), float64
    hyper: np.ndarray  # (len(hyperparameters),), float64


@dataclass(frozen=True)
class Optimizer:
    """A registered update rule.

    Attributes
    ----------
    name : str
        The ``--optimizer`` choice.
    update : numba dispatcher
        The compiled rule (signature in the module docstring).
    hyperparameters : tuple of str
        Config keys (CLI flag long names) read, in this order, into ``hyper``.
    n_slots : int
        Per-parameter state arrays.
    n_scalars : int
        Scalar state entries.
    formula : str
        The update rule in one or two lines, shown by ``--help`` and the README.
    initial_scalars : tuple of float
        Starting values of the scalars (zeros when empty).
    """

    name: str
    update: object
    hyperparameters: tuple
    n_slots: int
    n_scalars: int
    formula: str
    initial_scalars: tuple = ()

    def init(self, n_params, dtype, config):
        """Fresh state for ``n_params`` parameters with hyperparameters from ``config``.

        Parameters
        ----------
        n_params : int
        dtype : numpy dtype of the parameters
        config : mapping
            Must hold every name in ``self.hyperparameters``.
        """
        missing = [name for name in self.hyperparameters if name not in config]
        if missing:
            raise ValueError(f"optimizer {self.name!r} needs {', '.join(missing)}")
        scalars = np.zeros(self.n_scalars, dtype=np.float64)
        scalars[: len(self.initial_scalars)] = self.initial_scalars
        return OptimizerState(
            slots=np.zeros((self.n_slots, n_params), dtype=dtype),
            scalars=scalars,
            hyper=np.array([float(config[name]) for name in self.hyperparameters], dtype=np.float64),
        )
