"""Softmax output layer: probabilities, losses and their gradients.

The network's last layer is linear; its outputs ``z`` (logits, shape
``(batch, k)``) become class probabilities through the row-wise softmax

    p_ij = exp(z_ij - m_i) / sum_l exp(z_il - m_i),   m_i = max_l z_il,

where subtracting the row maximum keeps every ``exp`` argument <= 0, so it never
overflows, whatever the logits. With one-hot targets ``t`` (``t_ij = 1`` when
``j == y_i``) and a batch of ``n`` rows the two losses are means over the batch:

cross-entropy
    ``L = (1/n) sum_i [logsumexp(z_i) - z_{i,y_i}]`` (computed from the logits, so
    ``log`` never sees an underflowed 0), and the fused softmax + cross-entropy
    gradient is the famous ``dL/dz = (p - t) / n``.

mean squared error
    ``L = (1/n) sum_i sum_j (p_ij - t_ij)^2``, the squared error of the
    *probabilities*. Its gradient must go through the softmax Jacobian
    ``dp_ij/dz_il = p_ij (delta_jl - p_il)``: with ``g = dL/dp = 2 (p - t) / n``,

        dL/dz_il = p_il (g_il - sum_j g_ij p_ij).

    Reusing ``p - t`` here (a common mistake) would silently train with the
    cross-entropy gradient; the property tests check this one against finite
    differences.
"""

import math

import numpy as np

from .config import CROSS_ENTROPY, JIT_EXACT


@JIT_EXACT
def softmax_rows(z, out):
    """Row-wise softmax that never overflows.

    Parameters
    ----------
    z : ndarray, shape (batch, k)
        Logits.
    out : ndarray, shape (batch, k)
        Receives the probabilities; may be ``z`` itself. Each row sums to 1.
    """
    rows, cols = z.shape
    for i in range(rows):
        m = z[i, 0]
        for j in range(1, cols):
            m = max(m, z[i, j])
        s = 0.0
        for j in range(cols):
            e = np.exp(z[i, j] - m)
            out[i, j] = e
            s += e
        inv = 1 / s
        for j in range(cols):
            out[i, j] *= inv


def row_loss_grad_py(z, y, i, loss_code, dz, n):
    """Loss, correctness and dL/dz of row ``i`` of a batch of ``n`` rows.

    Plain Python in the subset Numba compiles for both targets: :data:`row_loss_grad`
    is its CPU compilation, and :mod:`kernels.cuda.losses` compiles it as a device
    function run by one GPU thread per row, so the math exists once.

    Returns
    -------
    loss : float
        The row's loss (float64).
    correct : int
        1 when the largest logit is at ``y[i]`` (ties to the lowest index), else 0.
    """
    k = z.shape[1]
    cast = z.dtype.type
    inv_n = cast(1.0 / n)
    two = cast(2.0)
    yi = y[i]
    zy = z[i, yi]
    best = 0
    m = z[i, 0]
    for j in range(1, k):
        if z[i, j] > m:
            m = z[i, j]
            best = j
    s = cast(0.0)
    for j in range(k):
        e = math.exp(z[i, j] - m)
        dz[i, j] = e
        s += e
    inv_s = 1 / s
    loss = 0.0
    if loss_code == CROSS_ENTROPY:
        loss = math.log(float(s)) + float(m) - float(zy)
        for j in range(k):
            dz[i, j] *= inv_s * inv_n
        dz[i, yi] -= inv_n
    else:
        # dz[i] holds p_i * s; turn it into p_i, then into the Jacobian product.
        gp = cast(0.0)  # sum_j g_ij p_ij
        for j in range(k):
            p = dz[i, j] * inv_s
            dz[i, j] = p
            diff = p - (1 if j == yi else 0)
            loss += float(diff) * float(diff)
            gp += two * diff * inv_n * p
        for j in range(k):
            p = dz[i, j]
            diff = p - (1 if j == yi else 0)
            dz[i, j] = p * (two * diff * inv_n - gp)
    return loss, 1 if best == yi else 0


row_loss_grad = JIT_EXACT(row_loss_grad_py)


@JIT_EXACT
def softmax_loss_grad(z, y, loss_code, dz):
    """Loss, correct predictions and dL/dz of a batch of logits.

    Parameters
    ----------
    z : ndarray, shape (n, k)
        Logits of the batch.
    y : ndarray of int, shape (n,)
        True class of each row, in ``[0, k)``.
    loss_code : int
        ``CROSS_ENTROPY`` or ``MEAN_SQUARED_ERROR`` (:mod:`kernels.config`).
    dz : ndarray, shape (n, k)
        Receives dL/dz of the *mean* loss (see the module docstring). May be
        ``z`` itself; the logits are then overwritten.

    Returns
    -------
    loss_sum : float
        Sum of the per-row losses (divide by ``n`` for the mean), in float64.
    correct : int
        Rows whose largest logit is at the true class (ties go to the lowest
        index, like ``np.argmax``).
    """
    n = z.shape[0]
    loss_sum = 0.0
    correct = 0
    for i in range(n):
        loss, hit = row_loss_grad(z, y, i, loss_code, dz, n)
        loss_sum += loss
        correct += hit
    return loss_sum, correct
