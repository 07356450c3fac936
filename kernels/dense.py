"""Dense (fully connected) layer kernels.

A layer maps ``x`` of shape ``(batch, n_in)`` to ``f(x @ W + b)`` with
``W`` of shape ``(n_in, n_out)`` and ``b`` of shape ``(n_out,)``. The products go
to BLAS through ``np.dot(..., out)``, which writes into preallocated memory; all
operands are C-contiguous views (or their transposes, which BLAS reads with a
transpose flag instead of a copy).
"""

import numpy as np

from .activations import bias_activation
from .config import JIT


@JIT
def dense_forward(x, W, b, code, out):
    """Forward pass of one layer: ``out = f(x @ W + b)``.

    Parameters
    ----------
    x : ndarray, shape (batch, n_in)
    W : ndarray, shape (n_in, n_out)
    b : ndarray, shape (n_out,)
    code : int
        Activation code from :mod:`kernels.config`.
    out : ndarray, shape (batch, n_out)
        Receives the activations. Must not alias ``x``.
    """
    np.dot(x, W, out)
    bias_activation(out, b, code)


@JIT
def dense_backward_params(x, delta, dW, db):
    """Gradients of the loss with respect to a layer's weights and bias.

    With ``delta = dL/dz`` for ``z = x @ W + b``::

        dW = x.T @ delta        (n_in, n_out)
        db = sum_i delta[i, :]  (n_out,)

    Parameters
    ----------
    x : ndarray, shape (batch, n_in)
        The layer's input from the forward pass.
    delta : ndarray, shape (batch, n_out)
        dL/dz, already divided by the batch size when the loss is a mean.
    dW : ndarray, shape (n_in, n_out)
        Overwritten with the weight gradient.
    db : ndarray, shape (n_out,)
        Overwritten with the bias gradient.
    """
    np.dot(x.T, delta, dW)
    rows, cols = delta.shape
    db[:] = 0
    for i in range(rows):
        for j in range(cols):
            db[j] += delta[i, j]


@JIT
def dense_backward_input(delta, W, dx):
    """Gradient of the loss with respect to a layer's input.

    ``dx = delta @ W.T`` with ``delta = dL/dz`` of shape ``(batch, n_out)``,
    ``W`` of shape ``(n_in, n_out)`` and ``dx`` of shape ``(batch, n_in)``
    (overwritten). The first layer skips it: nobody needs dL/d(image).
    """
    np.dot(delta, W.T, dx)


@JIT
def add_weight_decay(dW, W, weight_decay):
    """Add the gradient of the L2 penalty ``(weight_decay / 2) * ||W||^2``.

    ``dW <- dW + weight_decay * W``, element-wise over arrays of any equal shape.
    Applied to weights only; biases are never decayed.
    """
    flat_dW = dW.reshape(dW.size)
    flat_W = W.reshape(W.size)
    wd = W.dtype.type(weight_decay)  # keep float32 arithmetic float32
    for k in range(flat_W.shape[0]):
        flat_dW[k] += wd * flat_W[k]
