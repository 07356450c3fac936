"""Training on a CUDA GPU: the MLP's buffers on the device, the step sequence as kernels.

Data, parameters, gradients and optimizer state are uploaded once and stay on
the GPU. The host launches each step's kernels (gather, forward, loss,
backward, update) and copies the per-step losses and correct counts back once
per chunk of steps, which is also where a NaN is noticed; the kernels
themselves freeze the parameters at the first non-finite loss
(:mod:`kernels.cuda.optimizers`), so the result matches the CPU loop.
"""

import numpy as np

from kernels.config import IDENTITY


class CudaTrainer:
    """Runs :meth:`network.MLP.train_steps`-equivalent chunks on the GPU.

    Parameters
    ----------
    net : network.MLP
        Its parameters are uploaded; call :meth:`download` to bring them back.
    optimizer : optimizers.Optimizer
    state : optimizers.OptimizerState
    x, labels : ndarray
        Training inputs (N, features) in the network's dtype and int64 labels.
    batch_size : int
    seed : int
        Seeds the dropout masks (:mod:`kernels.cuda.dropout`).
    """

    def __init__(self, net, optimizer, state, x, labels, batch_size, eval_chunk=1024, seed=0):
        from numba import cuda

        from kernels.cuda.dense import (activation_backward_kernel, add_weight_decay_kernel,
                                        bias_activation_kernel, column_sum_kernel, grid_1d,
                                        grid_2d, matmul)
        from kernels.cuda.dropout import dropout_activation_backward_kernel, dropout_forward_kernel
        from kernels.cuda.losses import REDUCE_THREADS, reduce_loss_kernel, softmax_loss_grad_kernel
        from kernels.cuda.optimizers import update
        from kernels.cuda.steps import gather_kernel

        self.cuda = cuda
        self.k = dict(matmul=matmul, bias_activation=bias_activation_kernel,
                      activation_backward=activation_backward_kernel, column_sum=column_sum_kernel,
                      weight_decay=add_weight_decay_kernel, softmax=softmax_loss_grad_kernel,
                      reduce=reduce_loss_kernel, update=update, gather=gather_kernel,
                      dropout=dropout_forward_kernel,
                      dropout_backward=dropout_activation_backward_kernel,
                      grid_1d=grid_1d, grid_2d=grid_2d, reduce_threads=REDUCE_THREADS)
        self.net, self.optimizer, self.batch_size = net, optimizer, int(batch_size)
        self.eval_chunk = eval_chunk
        dtype = net.dtype
        layout = net.layout
        self.params = cuda.to_device(net.params)
        self.grads = cuda.device_array_like(net.params)
        self.slots = cuda.to_device(state.slots)
        self.hyper = cuda.to_device(state.hyper)
        self.scalars = cuda.to_device(state.scalars)
        self.state = state
        self.coef = cuda.device_array(max(optimizer.n_coefficients, 1), dtype=np.float64)
        self.halt = cuda.to_device(np.zeros(1, dtype=np.int32))
        self.x = cuda.to_device(np.ascontiguousarray(x, dtype=dtype))
        self.labels = cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64))
        rows = max(self.batch_size, eval_chunk)
        self.acts = [cuda.device_array((rows, n), dtype=dtype) for n in layout.sizes]
        # dropout masks of the hidden layers (same places as their activations), allocated
        # on the first step with dropout
        self.masks = None
        self.seed, self.draws = int(seed), 0
        widest = max(layout.sizes[1:])
        self.deltas = [cuda.device_array(rows * widest, dtype=dtype) for _ in range(2)]
        self.y_batch = cuda.device_array(rows, dtype=np.int64)
        self.row_loss = cuda.device_array(rows, dtype=np.float64)
        self.row_correct = cuda.device_array(rows, dtype=np.int64)
        self.weights = [self.params[layout.weight_slice(l)].reshape(layout.sizes[l], layout.sizes[l + 1])
                        for l in range(layout.n_layers)]
        self.biases = [self.params[layout.bias_slice(l)] for l in range(layout.n_layers)]
        self.weight_grads = [self.grads[layout.weight_slice(l)].reshape(layout.sizes[l], layout.sizes[l + 1])
                             for l in range(layout.n_layers)]
        self.bias_grads = [self.grads[layout.bias_slice(l)] for l in range(layout.n_layers)]
        self._order = None
        self._eval_cache = {}

    # --------------------------------------------------------------- helpers
    def _rows(self, arrays, n):
        return [a[:n] for a in arrays]

    def _forward(self, n, keep=1.0):
        """Layers on the ``n`` gathered rows; hidden outputs through dropout when ``keep < 1``."""
        k, net = self.k, self.net
        acts = self._rows(self.acts, n)
        last = self.net.layout.n_layers - 1
        for l in range(self.net.layout.n_layers):
            k["matmul"](acts[l], self.weights[l], acts[l + 1])
            blocks, threads = k["grid_2d"](n, net.sizes[l + 1])
            k["bias_activation"][blocks, threads](acts[l + 1], self.biases[l],
                                                  net.act_code if l < last else IDENTITY)
            if keep < 1.0 and l < last:
                k["dropout"][blocks, threads](acts[l + 1], self.masks[l + 1][:n], keep,
                                              self.seed, self.draws)
                self.draws += n * net.sizes[l + 1]
        return acts

    def _loss(self, acts, labels, n):
        k = self.k
        sizes = self.net.sizes
        dz = self.deltas[0][: n * sizes[-1]].reshape(n, sizes[-1])
        blocks, threads = k["grid_1d"](n, 128)
        k["softmax"][blocks, threads](acts[-1], labels, self.net.loss_code, dz,
                                      self.row_loss, self.row_correct)
        return dz

    def _backward(self, acts, delta, n, weight_decay, keep=1.0):
        k, net = self.k, self.net
        spare, current = self.deltas[1], self.deltas[0]
        for l in range(net.layout.n_layers - 1, -1, -1):
            k["matmul"](acts[l], delta, self.weight_grads[l], trans_a=True)
            blocks, threads = k["grid_1d"](net.sizes[l + 1], 128)
            k["column_sum"][blocks, threads](delta, self.bias_grads[l])
            if weight_decay != 0:
                flat_dw = self.grads[net.layout.weight_slice(l)]
                flat_w = self.params[net.layout.weight_slice(l)]
                blocks, threads = k["grid_1d"](flat_w.shape[0])
                k["weight_decay"][blocks, threads](flat_dw, flat_w, weight_decay)
            if l > 0:
                upstream = spare[: n * net.sizes[l]].reshape(n, net.sizes[l])
                k["matmul"](delta, self.weights[l], upstream, trans_b=True)
                blocks, threads = k["grid_2d"](n, net.sizes[l])
                if keep < 1.0:
                    k["dropout_backward"][blocks, threads](upstream, acts[l], self.masks[l][:n],
                                                           keep, net.act_code)
                else:
                    k["activation_backward"][blocks, threads](upstream, acts[l], net.act_code)
                delta = upstream
                spare, current = current, spare

    # ------------------------------------------------------------------ API
    def train_steps(self, order, first_step, n_steps, weight_decay, losses, corrects, dropout=0.0):
        """Run steps ``first_step .. first_step + n_steps - 1`` of the epoch ``order``.

        ``dropout`` is the probability of dropping a hidden unit (0: none).

        Fills ``losses[:done]`` and ``corrects[:done]`` (host arrays) and returns
        ``done``: all steps, or up to and including the first non-finite loss.
        """
        cuda, k = self.cuda, self.k
        keep = 1.0 - float(dropout)
        if keep < 1.0 and self.masks is None:
            hidden = range(1, self.net.layout.n_layers)
            self.masks = [cuda.device_array_like(a) if l in hidden else None
                          for l, a in enumerate(self.acts)]
        if self._order is None or self._order[0] is not order:
            self._order = (order, cuda.to_device(np.ascontiguousarray(order, dtype=np.int64)))
        order_d = self._order[1]
        total = order.shape[0]
        losses_d = cuda.device_array(n_steps, dtype=np.float64)
        corrects_d = cuda.device_array(n_steps, dtype=np.int64)
        for s in range(n_steps):
            start = (first_step + s) * self.batch_size
            n = min(self.batch_size, total - start)
            blocks, threads = k["grid_2d"](n, self.net.sizes[0])
            k["gather"][blocks, threads](self.x, self.labels, order_d, start, n,
                                         self.acts[0], self.y_batch)
            acts = self._forward(n, keep)
            delta = self._loss(acts, self.y_batch[:n], n)
            k["reduce"][1, k["reduce_threads"]](self.row_loss, self.row_correct, n, losses_d,
                                                corrects_d, s, self.halt)
            self._backward(acts, delta, n, weight_decay, keep)
            k["update"](self.optimizer, self.params, self.grads, self.slots, self.hyper,
                        self.scalars, losses_d, s, self.halt, self.coef)
        host_losses = losses_d.copy_to_host()
        losses[:n_steps] = host_losses
        corrects[:n_steps] = corrects_d.copy_to_host()
        bad = np.flatnonzero(~np.isfinite(host_losses))
        return int(bad[0]) + 1 if bad.size else n_steps

    def evaluate(self, x, labels):
        """Mean loss and accuracy of a dataset kept on the GPU after its first use."""
        cuda, k = self.cuda, self.k
        key = id(x)
        if key not in self._eval_cache:
            self._eval_cache[key] = (cuda.to_device(np.ascontiguousarray(x, dtype=self.net.dtype)),
                                     cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64)),
                                     cuda.to_device(np.arange(len(x), dtype=np.int64)), x)
        x_d, y_d, rows_d, _ = self._eval_cache[key]
        loss_sum, correct = 0.0, 0
        for start in range(0, len(x), self.eval_chunk):
            n = min(self.eval_chunk, len(x) - start)
            blocks, threads = k["grid_2d"](n, self.net.sizes[0])
            k["gather"][blocks, threads](x_d, y_d, rows_d, start, n, self.acts[0], self.y_batch)
            acts = self._forward(n)
            self._loss(acts, self.y_batch[:n], n)
            loss_sum += float(self.row_loss[:n].copy_to_host().sum())
            correct += int(self.row_correct[:n].copy_to_host().sum())
        return loss_sum / len(x), correct / len(x)

    def set_learning_rate(self, value):
        self.state.hyper[self.optimizer.hyperparameters.index("learning_rate")] = value
        self.hyper.copy_to_device(self.state.hyper)

    def snapshot(self):
        return self.params.copy_to_host()

    def restore(self, params):
        self.params.copy_to_device(params)

    def download(self):
        """Copy parameters and optimizer state back into the host network and state."""
        self.params.copy_to_host(self.net.params)
        self.slots.copy_to_host(self.state.slots)
        self.scalars.copy_to_host(self.state.scalars)
