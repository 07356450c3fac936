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

import functools
from typing import NamedTuple

import numpy as np

from .activations import activation_backward
from .augment import Augment, augmented_row
from .config import IDENTITY, JIT
from .dense import add_weight_decay, dense_backward_input, dense_backward_params, dense_forward
from .dropout import dropout_activation_backward, dropout_forward
from .losses import softmax_loss_grad, softmax_rows
from .pixels import input_value
from .prefetch import prefetch
from .regularize import ema_update, max_norm
from .rules import rule_apply, rule_apply_threaded, rule_coefficients, start_thread_pool


class Structure(NamedTuple):
    """A network's structure as the compiled loops see it: layer sizes, where each layer's
    parameters and units start in the flat buffers (layout in the module docstring), and
    the activation and loss codes."""

    sizes: np.ndarray  # int64 (L + 1,)
    param_offsets: np.ndarray  # int64 (L,)
    unit_offsets: np.ndarray  # int64 (L + 1,)
    act_code: int  # hidden layers' activation (kernels.config)
    loss_code: int


class Epoch(NamedTuple):
    """The data of an epoch for :func:`train_steps`."""

    X: np.ndarray  # (N, n_features), the parameters' dtype, or uint8 pixels (see pixel_scale)
    labels: np.ndarray  # (N,) int64
    order: np.ndarray  # (M,) int64, rows in this epoch's order
    batch_size: int
    augment: Augment  # distortions of the gathered images (kernels.augment.OFF or None: none)
    pixel_scale: float = None  # a uint8 X's kernels.pixels.PIXEL_SCALE, else None


class Options(NamedTuple):
    """The step loop's optional parts, as it is compiled: all None when every one is off.

    Numba drops a branch on ``x is None`` before typing it only when ``x`` is the compiled
    function's own argument, never a field of a record; so each option is handed to the
    kernel that tests it, and a run that uses none of them (the default) compiles none of
    their code (distortions, dropout, max-norm and the average; with the threaded update, the
    default command's first run compiled 1.4-1.5x faster on this project's Intel Xeon,
    perf/RESULTS.md). A run that uses any of them gets them all as values, switched at run
    time as before (keep 1.0, radius 0.0, decay 0.0: off): two variants of the loop, not one
    per combination, which a test suite or a sweep would compile one by one.
    :func:`train_steps` builds it from the
    :class:`kernels.regularize.Regularizer` (:func:`loop_options`).
    """

    weight_decay: float
    keep: float  # or None: the hidden units' keep probability, 1 - dropout
    input_keep: float  # or None: the input pixels' keep probability
    max_norm: float  # or None: the radius C
    average: tuple  # or None: (decay, ema), ema of shape (P,) like the parameters


def extensions_on(reg, augment):
    """Whether a run uses any of the step loop's optional parts (the distortions included)."""
    return bool(
        reg.keep < 1.0
        or reg.input_keep < 1.0
        or reg.max_norm > 0
        or reg.ema_decay > 0
        or augment.on
    )


def loop_options(reg, augment):
    """The :class:`Options` of a :class:`kernels.regularize.Regularizer` and the epoch's
    :class:`kernels.augment.Augment`, and the distortions as the loop gets them (None: off)."""
    if not extensions_on(reg, augment):
        return Options(reg.weight_decay, None, None, None, None), None
    average = (reg.ema_decay, reg.ema)
    return Options(reg.weight_decay, reg.keep, reg.input_keep, reg.max_norm, average), augment


def loop_variant(reg, augment, threads):
    """Which compiled step loop a run uses, besides the optimizer and the dtype: with the
    optional parts or without, the update shared by threads or not (a key for the loops a
    process has compiled)."""
    return (extensions_on(reg, augment), threads > 1)


#: How many rows ahead the step loop prefetches while it gathers a batch (kernels/prefetch.py);
#: 1 to 8 measured the same, 4 marginally best.
PREFETCH_AHEAD = 4

#: Offset 0 for :func:`_layer_view`, typed int64 like the computed offsets: a literal 0
#: makes Numba compile a second copy of the function for ``Literal[int](0)``.
FIRST = np.int64(0)


@JIT
def _layer_view(flat, offset, rows, cols):
    """``flat[offset : offset + rows*cols]`` as a ``(rows, cols)`` C array."""
    return flat[offset : offset + rows * cols].reshape((rows, cols))


@JIT
def _activations(acts, net, n, layer):
    """Activations of ``layer`` for a batch of ``n`` rows, shape (n, sizes[layer])."""
    return _layer_view(acts, n * net.unit_offsets[layer], n, net.sizes[layer])


@JIT
def forward(params, net, acts, n, keep, masks):
    """Run the layers on the ``n`` input rows already stored in ``acts``.

    ``net`` is the network's :class:`Structure` record. Hidden layers use activation
    ``net.act_code``; the last layer is linear and leaves the logits, shape
    ``(n, sizes[-1])``, which are returned as a view. With ``keep < 1``
    (training with dropout) every hidden layer's output goes through
    :func:`kernels.dropout.dropout_forward`, its mask stored in ``masks`` at the
    same place as the activations in ``acts``; evaluation passes ``keep = None``
    (no dropout compiled; ``masks`` is then not touched).
    """
    sizes = net.sizes
    n_layers = sizes.shape[0] - 1
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        off = net.param_offsets[l]
        W = _layer_view(params, off, n_in, n_out)
        b = params[off + n_in * n_out : off + n_in * n_out + n_out]
        code = net.act_code if l < n_layers - 1 else IDENTITY
        out = _activations(acts, net, n, l + 1)
        dense_forward(_activations(acts, net, n, l), W, b, code, out)
        if keep is not None and keep < 1.0 and l < n_layers - 1:
            dropout_forward(out, _activations(masks, net, n, l + 1), keep)
    return _activations(acts, net, n, n_layers)


@JIT
def loss_and_delta(params, net, work, n, keep, input_keep):
    """Forward pass, loss and dL/dlogits of the batch already in ``work``.

    Returns ``(loss_sum, correct, delta)``: the summed batch loss (float64), the correct
    count and ``delta`` (n, sizes[-1]), a view into ``work.delta_a``. ``keep`` as in
    :func:`forward_backward`; ``input_keep`` the same for the input pixels (None: off),
    whose mask goes to layer 0 of ``work.masks``, so that dW_0 uses the dropped input.
    """
    sizes = net.sizes
    if input_keep is not None and input_keep < 1.0:
        dropout_forward(
            _activations(work.acts, net, n, 0), _activations(work.masks, net, n, 0), input_keep
        )
    logits = forward(params, net, work.acts, n, keep, work.masks)
    delta = _layer_view(work.delta_a, FIRST, n, sizes[sizes.shape[0] - 1])
    loss_sum, correct = softmax_loss_grad(logits, work.y_batch[:n], net.loss_code, delta)
    return loss_sum, correct, delta


@JIT
def layer_backward(params, grads, net, work, n, l, delta, spare, keep):
    """Layer ``l``'s gradients from its ``delta = dL/dz_l`` (n, sizes[l+1]).

    Writes ``dW_l = x_l.T @ delta`` and ``db_l`` (the column sums) into ``grads``; for
    ``l > 0`` also returns the delta of the layer below, ``(delta @ W_l.T) * f'(x_l)``
    (through the dropout mask when ``keep < 1``; None: no dropout compiled), written into
    ``spare``; for ``l = 0``
    returns ``delta`` unchanged. Reads ``W_l`` before anyone updates it.
    """
    n_in, n_out = net.sizes[l], net.sizes[l + 1]
    off = net.param_offsets[l]
    W = _layer_view(params, off, n_in, n_out)
    dW = _layer_view(grads, off, n_in, n_out)
    db = grads[off + n_in * n_out : off + n_in * n_out + n_out]
    x = _activations(work.acts, net, n, l)
    dense_backward_params(x, delta, dW, db)
    if l == 0:
        return delta
    upstream = _layer_view(spare, FIRST, n, n_in)
    dense_backward_input(delta, W, upstream)
    if keep is not None and keep < 1.0:
        mask = _activations(work.masks, net, n, l)
        dropout_activation_backward(upstream, x, mask, keep, net.act_code)
    else:
        activation_backward(upstream, x, net.act_code)
    return upstream


@JIT
def forward_backward(params, grads, net, work, n, weight_decay, keep):
    """Loss, correct count and full gradient of one batch.

    ``net`` is the network's :class:`Structure` record, ``work`` its
    :class:`network.workspace.Workspace`. The batch's ``n`` input rows must
    already be in ``work.acts`` (layer 0) and its labels in ``work.y_batch[:n]``.
    ``grads`` is overwritten with dL/dparams of the mean batch loss plus the L2
    penalty ``(weight_decay/2) * sum ||W_l||^2``. ``keep = 1 - dropout`` (1.0 or None: no
    dropout); the masks go to ``work.masks``, which has the layout of ``acts``.
    (The training loop, :func:`train_steps`, runs the same pieces with each layer's
    update fused in.)

    Returns
    -------
    loss : float
        Mean data loss of the batch (without the L2 term), float64.
    correct : int
        Correctly classified rows.
    """
    sizes = net.sizes
    loss_sum, correct, delta = loss_and_delta(params, net, work, n, keep, None)
    spare, current = work.delta_b, work.delta_a
    for l in range(sizes.shape[0] - 2, -1, -1):
        upstream = layer_backward(params, grads, net, work, n, l, delta, spare, keep)
        if weight_decay != 0:
            off, n_in, n_out = net.param_offsets[l], sizes[l], sizes[l + 1]
            add_weight_decay(
                _layer_view(grads, off, n_in, n_out), _layer_view(params, off, n_in, n_out),
                weight_decay,
            )  # fmt: skip
        delta = upstream
        spare, current = current, spare
    return loss_sum / n, correct


@JIT
def copy_row(X, pixel_scale, row, out):
    """``out[:] = X[row]``, as a loop, each value read by
    :func:`kernels.pixels.input_value` (``pixel_scale``: None, or that of uint8 pixels).

    Why not the slice assignment: Numba compiles, for every array-to-slice assignment, the
    formatting of its shape-mismatch error message (str, join, f-strings), which cost
    about 2 s each of a first run's compile on a fresh machine (perf/RESULTS.md, issue 23,
    "The rest of the step").
    """
    for j in range(out.shape[0]):
        out[j] = input_value(X, pixel_scale, row, j)


@JIT
def _copy_rows(X, start, n, out):
    """``out[:, :] = X[start : start + n]`` (see :func:`copy_row`)."""
    for i in range(n):
        copy_row(X, None, start + i, out[i])


@JIT
def gather_batch(X, pixel_scale, labels, order, augment, start, n, x, y):
    """Copy the rows ``order[start : start + n]`` of ``X`` and ``labels`` into ``x`` and ``y``.

    ``X``, ``pixel_scale``, ``labels`` and ``order`` are the :class:`Epoch`'s
    (``pixel_scale`` not None: ``X`` holds uint8 pixels, turned into inputs with it,
    :mod:`kernels.pixels`); ``x`` is (n, n_features), ``y`` (at least n,). With
    ``augment.on`` each row is distorted on its way (:func:`kernels.augment.augmented_row`,
    drawn for its place ``start + i`` in the epoch); ``augment = None``: no distortion,
    none of its code compiled. The rows come from shuffled addresses, so each is prefetched
    :data:`PREFETCH_AHEAD` rows before it is copied (:mod:`kernels.prefetch`); the
    prefetches may run past the batch into the next one, never past ``order``.
    """
    total = order.shape[0]
    for i in range(n):
        if start + i + PREFETCH_AHEAD < total:
            prefetch(X[order[start + i + PREFETCH_AHEAD]])
        row = order[start + i]
        if augment is not None and augment.on:
            augmented_row(X, pixel_scale, row, augment, start + i, x[i])
        else:
            copy_row(X, pixel_scale, row, x[i])
        y[i] = labels[row]


@JIT
def constrain_and_average(params, net, work, limit, average):
    """After an update: max-norm of radius ``limit`` on every hidden layer's weights, then
    the moving average ``average = (decay, ema)`` (:mod:`kernels.regularize`; each off when
    None, as in :class:`Options`, or at a radius or decay of 0)."""
    if limit is not None and limit > 0:
        sizes = net.sizes
        for l in range(sizes.shape[0] - 2):
            n_in, n_out = sizes[l], sizes[l + 1]
            W = _layer_view(params, net.param_offsets[l], n_in, n_out)
            max_norm(W, limit, work.column_norms)
    if average is not None:
        decay, ema = average
        if decay > 0:
            ema_update(ema, params, decay)


def train_steps(data, first_step, n_steps, params, grads, net, work, reg, state, threads, out):
    """:func:`step_loop` for the optimizer of ``state``, run.

    The arguments are :func:`step_loop_py`'s, except ``reg``, the run's
    :class:`kernels.regularize.Regularizer` (made the loop's :class:`Options` here), and
    ``threads``, any count (1 becomes None here). What is off reaches the loop as None, so
    that it is not compiled (the optional parts all together, :class:`Options`).
    """
    if threads > 1:
        start_thread_pool()
    options, augment = loop_options(reg, data.augment)
    return step_loop(type(state[1]))(
        data._replace(augment=augment), first_step, n_steps, params, grads, net, work, options,
        state, threads if threads > 1 else None, out,
    )  # fmt: skip


@functools.cache
def step_loop(hyper_class):
    """The compiled step loop (:func:`step_loop_py`) for the optimizer whose ``Hyper`` record
    class this is, cached on disk like every kernel.

    A dispatcher of its own for each optimizer: one dispatcher given two ``Hyper`` classes
    of the same field types reran the first optimizer's loop for the second (measured:
    momentum's for nag; its quick argument check does not tell such records apart). In one
    dispatcher's typing they are told apart, so the rule inside is always the right one.
    """
    return JIT(step_loop_py)


def step_loop_py(data, first_step, n_steps, params, grads, net, work, options, state, threads, out):
    """Run ``n_steps`` mini-batch steps (gather, forward, backward and update, constrain,
    average).

    Step ``s`` uses the samples ``data.order[(first_step + s) * data.batch_size :]``,
    at most ``batch_size`` of them, so the last batch of an epoch may be shorter.
    Over all steps of an epoch, ``ceil(len(order) / batch_size)``, every index in
    ``order`` is visited exactly once. Each layer is updated as soon as the backward
    pass has formed its gradient (and the delta of the layer below, which needs the
    old weights), while that gradient is still in cache; weight decay is added to the
    gradient by the update itself.

    Parameters
    ----------
    data : Epoch
        ``X`` (N, n_features), C-contiguous, the dtype of ``params`` or uint8 pixels
        read with ``pixel_scale`` (:mod:`kernels.pixels`); ``labels`` (N,) int64;
        ``order`` (M,) int64, the rows of this epoch in order (a shuffled permutation);
        ``batch_size``; ``augment``, the distortions of the gathered images
        (:mod:`kernels.augment`).
    first_step, n_steps : int
    params, grads : ndarray, shape (P,)
        Flat parameter and gradient buffers (layout in the module docstring).
    net : Structure
        The network's sizes, offsets, activation and loss codes.
    work : network.workspace.Workspace
        Work buffers sized for ``batch_size`` rows.
    options : Options
        Weight decay, dropout's keep probabilities (hidden units, input pixels),
        max-norm and the moving average of the parameters (updated in its buffer
        after every step when on); all None, ``data.augment`` too, when all are off.
    state : tuple
        The optimizer's ``(slots, hyper, scalars)``: slots ``(n_slots, P)``, its
        ``Hyper`` record and its scalar state. The class of ``hyper`` selects
        the rule (:mod:`kernels.rules`): ``c = coefficients(hyper, scalars, loss)`` once
        per step, then ``apply(params, grads, slots, c, start, stop, weight_decay)`` per
        layer.
    threads : int or None
        How many of Numba's threads may share a layer's weight update
        (:func:`kernels.rules.rule_apply_threaded`); None: the calling thread alone, and
        the parallel function is not compiled.
    out : tuple
        ``(losses, corrects)``, float64 and int64 arrays of at least ``n_steps``:
        each step's mean batch loss and number of correct predictions.

    Returns
    -------
    int
        Steps run. Fewer than ``n_steps`` only when a loss was NaN or infinite:
        the loop stops right there, before that step's update touches the
        parameters, and the bad loss is the last one written.
    """
    X, order, batch_size = data.X, data.order, data.batch_size
    slots, hyper, scalars = state
    losses, corrects = out
    total = order.shape[0]
    n_features = X.shape[1]
    sizes = net.sizes
    for s in range(n_steps):
        start = (first_step + s) * batch_size
        n = min(batch_size, total - start)
        x = _layer_view(work.acts, FIRST, n, n_features)
        gather_batch(
            X, data.pixel_scale, data.labels, order, data.augment, start, n, x, work.y_batch
        )
        loss_sum, correct, delta = loss_and_delta(
            params, net, work, n, options.keep, options.input_keep
        )
        loss = loss_sum / n
        losses[s] = loss
        corrects[s] = correct
        if not np.isfinite(loss):
            return s + 1
        c = rule_coefficients(hyper, scalars, loss)
        spare, current = work.delta_b, work.delta_a
        for l in range(sizes.shape[0] - 2, -1, -1):
            upstream = layer_backward(params, grads, net, work, n, l, delta, spare, options.keep)
            off, decay = net.param_offsets[l], options.weight_decay
            w_end = off + sizes[l] * sizes[l + 1]
            if threads is None:
                rule_apply(hyper, params, grads, slots, c, off, w_end, decay)
            else:
                rule_apply_threaded(hyper, params, grads, slots, c, off, w_end, decay, threads)
            rule_apply(hyper, params, grads, slots, c, w_end, w_end + sizes[l + 1], 0.0)
            delta = upstream
            spare, current = current, spare
        constrain_and_average(params, net, work, options.max_norm, options.average)
    return n_steps


@JIT
def evaluate(X, labels, params, net, acts, scratch, chunk):
    """Summed loss and correct count over a whole dataset, ``chunk`` rows at a time.

    ``acts`` and ``scratch`` (at least ``chunk * sizes[-1]`` long) are work
    buffers, so memory stays bounded whatever ``len(X)``.

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
        _copy_rows(X, start, n, _layer_view(acts, FIRST, n, n_features))
        logits = forward(params, net, acts, n, None, acts)
        dz = _layer_view(scratch, FIRST, n, net.sizes[-1])
        batch_loss, batch_correct = softmax_loss_grad(
            logits, labels[start : start + n], net.loss_code, dz
        )
        loss_sum += batch_loss
        correct += batch_correct
    return loss_sum, correct


@JIT
def predict_proba(X, params, net, acts, chunk, out):
    """Class probabilities of every row of ``X`` into ``out`` (shape (N, k))."""
    total, n_features = X.shape
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        _copy_rows(X, start, n, _layer_view(acts, FIRST, n, n_features))
        logits = forward(params, net, acts, n, None, acts)
        softmax_rows(logits, out[start : start + n])
