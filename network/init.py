"""Weight initialisers. Biases always start at zero.

``random``
    ``W ~ N(0, 0.01^2)``: the small fixed-scale Gaussian of classic course code.
    It ignores the layer widths, so deep sigmoid/tanh stacks start with vanishing
    signals; it is kept because the assignment compares it with Xavier.
``Xavier``
    Glorot & Bengio (2010), uniform: ``W ~ U(-r, r)`` with
    ``r = sqrt(6 / (n_in + n_out))``, which keeps the activation and gradient
    variance roughly constant across tanh layers (Keras's default).
``He``
    He et al. (2015): ``W ~ N(0, 2 / n_in)``, the variance-preserving choice for ReLU.
"""

import numpy as np

RANDOM_STD = 0.01


def _random(rng, n_in, n_out):
    return rng.normal(0.0, RANDOM_STD, size=(n_in, n_out))


def _xavier(rng, n_in, n_out):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out))


def _he(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))


INITIALIZERS = {"random": _random, "Xavier": _xavier, "He": _he}


def initialize(layout, weight_init, rng, out):
    """Fill the flat buffer ``out`` (shape ``(layout.n_params,)``) in place.

    Parameters
    ----------
    layout : network.layout.Layout
    weight_init : {"random", "Xavier", "He"}
    rng : numpy.random.Generator
    out : ndarray
    """
    try:
        draw = INITIALIZERS[weight_init]
    except KeyError:
        raise ValueError(
            f"unknown weight_init {weight_init!r}; choose from {', '.join(INITIALIZERS)}"
        ) from None
    out[:] = 0
    for layer in range(layout.n_layers):
        n_in, n_out = layout.sizes[layer], layout.sizes[layer + 1]
        out[layout.weight_slice(layer)] = draw(rng, n_in, n_out).ravel()
