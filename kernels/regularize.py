"""What the step loop does to the parameters besides the optimizer's update.

Two optional steps follow every update, in this order:

**Max-norm** (Srivastava et al., 2014, section 5.1): every hidden unit's
incoming weight vector, column ``j`` of ``W_l`` (``l`` below the output layer),
is scaled back onto the ball of radius ``C`` when it leaves it:

    w_j <- w_j * min(1, C / ||w_j||).

Columns inside the ball are not touched at all (not even multiplied by 1).

**Exponential moving average** of the parameters (Polyak averaging as in
Polyak & Juditsky, 1992, with exponential weights), started at the initial
parameters and updated after every step ``t``:

    ema_t = decay * ema_{t-1} + (1 - decay) * params_t.

Evaluation, restore-best and the saved model then use ``ema`` instead of the
raw parameters; training itself never reads it.

The scalar functions ending in ``_py`` are the one definition of the math; they
are compiled here for the CPU and in :mod:`kernels.cuda.steps` for the GPU.
"""

import math
from typing import NamedTuple

import numpy as np

from .config import JIT


class Regularizer(NamedTuple):
    """The regularisation settings of the step loop.

    ``weight_decay`` is the L2 factor; ``keep = 1 - dropout`` (1.0: off) for the
    hidden units, ``input_keep`` the same for the input pixels;
    ``max_norm`` the radius ``C`` (0.0: off); ``ema_decay`` the average's decay
    (0.0: off) and ``ema`` its buffer, shape (P,) like the parameters (any
    1-element array when off).
    """

    weight_decay: float
    keep: float
    input_keep: float
    max_norm: float
    ema_decay: float
    ema: np.ndarray


def regularizer(weight_decay, dropout, input_dropout, max_norm, ema_decay, ema):
    """The :class:`Regularizer` of a run's settings: drop probabilities become keep
    probabilities, every number a float (so the compiled loops see one type)."""
    return Regularizer(
        float(weight_decay),
        1.0 - float(dropout),
        1.0 - float(input_dropout),
        float(max_norm),
        float(ema_decay),
        ema,
    )


def column_scale_py(norm_squared, limit):
    """The factor ``min(1, C / ||w||)`` of a column whose squared norm is given."""
    if norm_squared > limit * limit:
        return limit / math.sqrt(norm_squared)
    return 1.0


def ema_value_py(average, value, decay):
    """One element of ``decay * average + (1 - decay) * value``."""
    return decay * average + (1.0 - decay) * value


column_scale = JIT(column_scale_py)
ema_value = JIT(ema_value_py)


@JIT
def max_norm(W, limit, scales):
    """Scale every column of ``W`` (n_in, n_out) whose norm exceeds ``limit`` onto it.

    ``scales`` is a work buffer of at least ``n_out`` elements. The squares are
    summed row by row (the order ``W`` is stored in), in float64; the second pass
    over ``W`` is skipped when no column is too long.
    """
    n_in, n_out = W.shape
    for j in range(n_out):
        scales[j] = 0.0
    for i in range(n_in):
        for j in range(n_out):
            scales[j] += np.float64(W[i, j]) * W[i, j]
    too_long = False
    for j in range(n_out):
        scales[j] = column_scale(scales[j], limit)
        too_long |= scales[j] != 1.0
    if not too_long:
        return
    for i in range(n_in):
        for j in range(n_out):
            if scales[j] != 1.0:
                W[i, j] = W[i, j] * scales[j]


@JIT
def ema_update(ema, params, decay):
    """``ema <- decay * ema + (1 - decay) * params``, element by element, shape (P,)."""
    d = ema.dtype.type(decay)
    for k in range(params.shape[0]):
        ema[k] = ema_value(ema[k], params[k], d)
