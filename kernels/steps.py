"""The compiled training-step loop and whole-dataset evaluation.

Memory layout shared by these kernels (built once by
:class:`network.workspace.Workspace` and :class:`network.layout.Layout`):

``sizes`` : int64 (L + 1,)
    Units per layer, input first, classes last: ``[784, 128, 128, 10]``.
``param_offsets`` : int64 (L,)
    Start of layer ``l``'s block in the flat parameter buffer. The block holds
    ``W_l`` (``sizes[l] x sizes[l+1]``, row-major) followed by ``b_l``
    (``sizes[l+1]``). The gradient buffer has the same layout.
``unit_offsets`` : int64 (L + 1,)
    ``sum(sizes[:l])``. For a batch of ``n`` rows the activations of layer ``l``
    occupy ``acts[n * unit_offsets[l] : n * unit_offsets[l+1]]`` as a
    C-contiguous ``(n, sizes[l])`` block, so a short last batch still gets
    contiguous views; layer 0 is the gathered input batch.
``delta_a``, ``delta_b`` : (batch * max(sizes[1:]),)
    Two ping-pong buffers for dL/dz while back-propagating.

Nothing here allocates: every array is a view into those buffers.
"""

import numpy as np

from .activations import activation_backward
from .config import IDENTITY, JIT, JIT_UNCACHED
from .dense import add_weight_decay, dense_backward_input, dense_backward_params, dense_forward
from .dropout import dropout_activation_backward, dropout_forward
from .losses import softmax_loss_grad, softmax_rows
from .prefetch import prefetch

#: How many rows ahead the step loop prefetches while it gathers a batch (kernels/prefetch.py);
#: 1 to 8 measured the same, 4 marginally best.
PREFETCH_AHEAD = 4


@JIT
def _layer_view(flat, offset, rows, cols):
    """``flat[offset : offset + rows*cols]`` as a ``(rows, cols)`` C array."""
    return flat[offset : offset + rows * cols].reshape((rows, cols))


@JIT
def _activations(acts, unit_offsets, sizes, n, layer):
    """Activations of ``layer`` for a batch of ``n`` rows, shape (n, sizes[layer])."""
    return _layer_view(acts, n * unit_offsets[layer], n, sizes[layer])


@JIT
def forward(params, sizes, param_offsets, unit_offsets, act_code, acts, n, keep, masks):
    """Run the layers on the ``n`` input rows already stored in ``acts``.

    Hidden layers use activation ``act_code``; the last layer is linear and
    leaves the logits, shape ``(n, sizes[-1])``, which are returned as a view.
    With ``keep < 1`` (training with dropout) every hidden layer's output goes
    through :func:`kernels.dropout.dropout_forward`, its mask stored in
    ``masks`` at the same place as the activations in ``acts``; evaluation
    passes ``keep = 1.0`` (``masks`` is then not touched).
    """
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        off = param_offsets[l]
        W = _layer_view(params, off, n_in, n_out)
        b = params[off + n_in * n_out : off + n_in * n_out + n_out]
        code = act_code if l < n_layers - 1 else IDENTITY
        dense_forward(
            _activations(acts, unit_offsets, sizes, n, l),
            W,
            b,
            code,
            _activations(acts, unit_offsets, sizes, n, l + 1),
        )
        if keep < 1.0 and l < n_layers - 1:
            dropout_forward(
                _activations(acts, unit_offsets, sizes, n, l + 1),
                _activations(masks, unit_offsets, sizes, n, l + 1),
                keep,
            )
    return _activations(acts, unit_offsets, sizes, n, n_layers)


@JIT
def forward_backward(
    params,
    grads,
    sizes,
    param_offsets,
    unit_offsets,
    act_code,
    loss_code,
    weight_decay,
    acts,
    delta_a,
    delta_b,
    y,
    n,
    keep,
    masks,
):
    """Loss, correct count and full gradient of one batch.

    ``keep = 1 - dropout`` (1.0: no dropout); ``masks`` has the layout of ``acts``.

    The batch's ``n`` input rows must already be in ``acts`` (layer 0) and its
    labels in ``y[:n]``. ``grads`` is overwritten with dL/dparams of the mean
    batch loss plus the L2 penalty ``(weight_decay/2) * sum ||W_l||^2``.

    Returns
    -------
    loss : float
        Mean data loss of the batch (without the L2 term), float64.
    correct : int
        Correctly classified rows.
    """
    n_layers = sizes.shape[0] - 1
    logits = forward(params, sizes, param_offsets, unit_offsets, act_code, acts, n, keep, masks)
    delta = _layer_view(delta_a, 0, n, sizes[n_layers])
    loss_sum, correct = softmax_loss_grad(logits, y[:n], loss_code, delta)
    spare = delta_b
    current = delta_a
    for l in range(n_layers - 1, -1, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        off = param_offsets[l]
        W = _layer_view(params, off, n_in, n_out)
        dW = _layer_view(grads, off, n_in, n_out)
        db = grads[off + n_in * n_out : off + n_in * n_out + n_out]
        x = _activations(acts, unit_offsets, sizes, n, l)
        dense_backward_params(x, delta, dW, db)
        if weight_decay != 0:
            add_weight_decay(dW, W, weight_decay)
        if l > 0:
            upstream = _layer_view(spare, 0, n, n_in)
            dense_backward_input(delta, W, upstream)
            if keep < 1.0:
                dropout_activation_backward(
                    upstream, x, _activations(masks, unit_offsets, sizes, n, l), keep, act_code
                )
            else:
                activation_backward(upstream, x, act_code)
            delta = upstream
            spare, current = current, spare
    return loss_sum / n, correct


@JIT
def gather_batch(X, labels, order, start, n, x, y):
    """Copy the rows ``order[start : start + n]`` of ``X`` and ``labels`` into ``x`` and ``y``.

    ``X`` is (N, n_features), ``x`` (n, n_features), ``y`` (at least n,). The
    rows come from shuffled addresses, so each is prefetched
    :data:`PREFETCH_AHEAD` rows before it is copied (:mod:`kernels.prefetch`);
    the prefetches may run past the batch into the next one, never past ``order``.
    """
    total = order.shape[0]
    for i in range(n):
        if start + i + PREFETCH_AHEAD < total:
            prefetch(X[order[start + i + PREFETCH_AHEAD]])
        row = order[start + i]
        x[i, :] = X[row]
        y[i] = labels[row]


@JIT_UNCACHED
def train_steps(
    X,
    labels,
    order,
    first_step,
    n_steps,
    batch_size,
    params,
    grads,
    sizes,
    param_offsets,
    unit_offsets,
    act_code,
    loss_code,
    weight_decay,
    acts,
    delta_a,
    delta_b,
    y_batch,
    keep,
    masks,
    update,
    state,
    hyper,
    scalars,
    losses,
    corrects,
):
    """Run ``n_steps`` mini-batch steps (gather, forward, backward, update).

    Step ``s`` uses the samples ``order[(first_step + s) * batch_size :]``, at
    most ``batch_size`` of them, so the last batch of an epoch may be shorter.
    Over all steps of an epoch, ``ceil(len(order) / batch_size)``, every index
    in ``order`` is visited exactly once.

    Parameters
    ----------
    X : ndarray, shape (N, n_features)
        All training inputs, C-contiguous, same dtype as ``params``.
    labels : int ndarray, shape (N,)
    order : int64 ndarray, shape (M,)
        Row indices of ``X`` in the order of this epoch (a shuffled permutation).
    first_step, n_steps, batch_size : int
    params, grads : ndarray, shape (P,)
        Flat parameter and gradient buffers (layout in the module docstring).
    sizes, param_offsets, unit_offsets, act_code, loss_code, weight_decay
        The network, see :func:`forward_backward`.
    acts, delta_a, delta_b : ndarray
        Work buffers sized for ``batch_size``.
    y_batch : int ndarray, shape (batch_size,)
        Work buffer for the gathered labels.
    keep, masks
        Dropout's keep probability (1.0 = off) and its mask buffer (layout of ``acts``).
    update : compiled function
        ``update(params, grads, state, hyper, scalars, loss)``, one optimizer
        step in place (see :mod:`optimizers.base`).
    state, hyper, scalars
        The optimizer's slots ``(n_slots, P)``, hyperparameters and scalar state.
    losses : float64 ndarray, shape (n_steps,)
        Receives each step's mean batch loss.
    corrects : int64 ndarray, shape (n_steps,)
        Receives each step's number of correct predictions.

    Returns
    -------
    int
        Steps run. Fewer than ``n_steps`` only when a loss was NaN or infinite:
        the loop stops right there, before that step's update touches the
        parameters, and the bad loss is the last one written.
    """
    total = order.shape[0]
    n_features = X.shape[1]
    for s in range(n_steps):
        start = (first_step + s) * batch_size
        n = min(batch_size, total - start)
        gather_batch(X, labels, order, start, n, _layer_view(acts, 0, n, n_features), y_batch)
        loss, correct = forward_backward(
            params,
            grads,
            sizes,
            param_offsets,
            unit_offsets,
            act_code,
            loss_code,
            weight_decay,
            acts,
            delta_a,
            delta_b,
            y_batch,
            n,
            keep,
            masks,
        )
        losses[s] = loss
        corrects[s] = correct
        if not np.isfinite(loss):
            return s + 1
        update(params, grads, state, hyper, scalars, loss)
    return n_steps


@JIT
def evaluate(
    X, labels, params, sizes, param_offsets, unit_offsets, act_code, loss_code, acts, delta_a, chunk
):
    """Summed loss and correct count over a whole dataset, ``chunk`` rows at a time.

    Memory stays bounded by the work buffers, whatever ``len(X)``.

    Returns
    -------
    loss_sum : float
        Sum of the per-sample losses (divide by ``len(X)`` for the mean).
    correct : int
    """
    total, n_features = X.shape
    loss_sum = 0.0
    correct = 0
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        _layer_view(acts, 0, n, n_features)[:, :] = X[start : start + n]
        logits = forward(params, sizes, param_offsets, unit_offsets, act_code, acts, n, 1.0, acts)
        scratch = _layer_view(delta_a, 0, n, sizes[-1])
        batch_loss, batch_correct = softmax_loss_grad(
            logits, labels[start : start + n], loss_code, scratch
        )
        loss_sum += batch_loss
        correct += batch_correct
    return loss_sum, correct


@JIT
def predict_proba(X, params, sizes, param_offsets, unit_offsets, act_code, acts, chunk, out):
    """Class probabilities of every row of ``X`` into ``out`` (shape (N, k))."""
    total, n_features = X.shape
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        _layer_view(acts, 0, n, n_features)[:, :] = X[start : start + n]
        logits = forward(params, sizes, param_offsets, unit_offsets, act_code, acts, n, 1.0, acts)
        softmax_rows(logits, out[start : start + n])
