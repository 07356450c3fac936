"""Training on a CUDA GPU: the CPU's buffers on the device, one kernel launch per chunk of steps.

Data, parameters, gradients, optimizer state and the work buffers (the very
arrays of :class:`network.workspace.Workspace`, so the offsets are the CPU's)
are uploaded once and stay on the GPU. A chunk of steps is one launch of the
persistent step kernel (:mod:`kernels.cuda.steps`), compiled and sized once per
trainer (:class:`kernels.cuda.steps.Launch`: no per-launch typing), which writes
the per-step losses and correct counts straight into mapped host memory (no
copies back); an evaluation is one launch and two copies. Nothing else crosses
the bus, except the epoch's order (once per epoch), a changed learning rate and
the lowering of ``halt`` after a NaN.
"""

import numpy as np

from kernels.steps import Epoch

from .trainer import StepSettings
from .workspace import Workspace


class CudaTrainer:
    """A :class:`network.trainer.Trainer` on the GPU, the twin of
    :class:`network.cpu_trainer.CpuTrainer`.

    Parameters
    ----------
    net : network.MLP
        Its parameters are uploaded; call :meth:`download` to bring them back.
    optimizer : optimizers.Optimizer
    state : optimizers.OptimizerState
    x, labels : ndarray
        Training inputs (N, features) in the network's dtype and int64 labels.
    batch_size : int
    settings : network.trainer.StepSettings
        The moving average, when on, is uploaded; :meth:`download` brings it back into
        ``settings.ema``.
    eval_chunk : int
        Rows per forward pass when evaluating.
    seed : int
        Seeds the dropout masks (:mod:`kernels.cuda.dropout`).
    blocks : int, optional
        Blocks of the step kernel's grid; by default as many as its largest phase
        can use, capped at what the GPU keeps resident (a cooperative launch).
    """

    def __init__(
        self,
        net,
        optimizer,
        state,
        x,
        labels,
        batch_size,
        settings=StepSettings(),
        eval_chunk=1024,
        seed=0,
        blocks=None,
    ):
        from numba import config, cuda

        from kernels.cuda import steps

        self.cuda, self.steps = cuda, steps
        self._simulated = bool(config.ENABLE_CUDASIM)
        self.net, self.optimizer, self.state = net, optimizer, state
        self.batch_size, self.eval_chunk = int(batch_size), int(eval_chunk)
        self.seed, self.draws, self.blocks = int(seed), 0, blocks
        layout = net.layout
        up = cuda.to_device
        self.x = up(np.ascontiguousarray(x, dtype=net.dtype))
        self.labels = up(np.ascontiguousarray(labels, dtype=np.int64))
        self.params, self.grads = up(net.params), up(net.grads)
        self.slots, self.scalars = up(state.slots), up(state.scalars)
        self.halted = False
        self.settings = settings.checked(layout.n_params)
        # When averaging is off the kernel never reads the buffer: any one-element array.
        averaging = settings.averaging
        self.ema = up(settings.ema) if averaging else cuda.device_array(1, dtype=net.dtype)
        self.reg = settings.regularizer(self.ema)
        self.augment = settings.augment._replace(seed=self.seed)
        # The CPU loop's records, holding device copies of the same arrays.
        self.device_net = net.structure._replace(
            sizes=up(net.structure.sizes),
            param_offsets=up(net.structure.param_offsets),
            unit_offsets=up(net.structure.unit_offsets),
        )
        work = Workspace.allocate(layout, max(self.batch_size, self.eval_chunk), net.dtype)
        # The CPU's two delta buffers hold one layer at a time; the GPU keeps every layer's
        # (DeviceState.deltas), so it gets one-element stand-ins for them.
        unused = {"batch_size", "delta_a", "delta_b"}
        self.work = work._replace(
            **{name: up(getattr(work, name)) for name in work._fields if name not in unused},
            delta_a=cuda.device_array(1, dtype=net.dtype),
            delta_b=cuda.device_array(1, dtype=net.dtype),
        )
        self.gpu = steps.DeviceState(
            seed=self.seed,
            draws=0,
            deltas=cuda.device_array_like(self.work.acts),
            row_loss=cuda.device_array(self.batch_size, dtype=np.float64),
            row_correct=cuda.device_array(self.batch_size, dtype=np.int64),
            halt=up(np.zeros(1, dtype=np.int32)),
            stamps=cuda.device_array(1, dtype=np.int64),  # off; see time_phases
        )
        self.step_kernel = steps.train_steps_kernel(optimizer, net.dtype)
        self.eval_kernel = steps.evaluate_kernel(net.dtype)
        self._order = None  # (host order, its device copy)
        self._outputs = {}  # n_steps -> mapped (losses, corrects)
        self._eval_data = {}  # id(x) -> device (x, labels, DeviceState), host x
        self._launch = {}  # kernel -> steps.Launch

    def _launcher(self, kernel, args, rows):
        """``kernel`` compiled for ``args`` and sized: enough blocks for its largest phase
        (the row slices of ``rows`` rows, the weight phase's tiles, the max-norm and average
        loops), at most what stays resident."""
        if kernel not in self._launch:
            steps, sizes = self.steps, self.net.sizes

            def tiles(a, b):
                return -(-a // steps.TILE) * -(-b // steps.TILE_COLS)

            slices = -(-rows // steps.TILE)
            weights = sum(tiles(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:]))
            elementwise = -(-self.net.layout.n_params // steps.THREADS)
            wanted = max(slices, weights, elementwise if self.settings.averaging else 1)
            self._launch[kernel] = steps.Launch(kernel, args, wanted, self.blocks)
        return self._launch[kernel]

    def _host(self, mapped):
        """The host view of a mapped array once the GPU is done (the simulator's are copies)."""
        self.cuda.synchronize()
        return mapped.copy_to_host() if self._simulated else mapped

    # ------------------------------------------------------------------ API
    def train_steps(self, order, first_step, n_steps, losses, corrects):
        """Run steps ``first_step .. first_step + n_steps - 1`` of the epoch ``order``.

        Fills ``losses[:done]`` and ``corrects[:done]`` (host arrays) and returns
        ``done``: all steps, or up to and including the first non-finite loss.
        """
        if self.halted:
            self.gpu.halt.copy_to_device(np.zeros(1, dtype=np.int32))
            self.halted = False
        args = self.step_arguments(order, first_step, n_steps)
        self._launcher(self.step_kernel, args, self.batch_size)(args)
        self.draws += n_steps * self.net.layout.n_layers * self.work.masks.shape[0]
        losses_m, corrects_m = self._outputs[n_steps]
        host_losses = self._host(losses_m)
        losses[:n_steps] = host_losses
        corrects[:n_steps] = self._host(corrects_m)
        bad = np.flatnonzero(~np.isfinite(host_losses))
        if bad.size:
            self.halted = True
            return int(bad[0]) + 1
        return n_steps

    @property
    def step_blocks(self):
        """The step kernel's grid size (None before its first launch)."""
        launcher = self._launch.get(self.step_kernel)
        return self.blocks if launcher is None else launcher.blocks

    def step_arguments(self, order, first_step, n_steps):
        """The step kernel's arguments for a chunk (the order uploaded once per epoch, the
        per-step outputs once per chunk length); also what perf/gpu_probe.py compiles with."""
        cuda = self.cuda
        if self._order is None or self._order[0] is not order:
            self._order = (order, cuda.to_device(np.ascontiguousarray(order, dtype=np.int64)))
        if n_steps not in self._outputs:
            self._outputs[n_steps] = (
                cuda.mapped_array(n_steps, dtype=np.float64),
                cuda.mapped_array(n_steps, dtype=np.int64),
            )
        return (
            Epoch(self.x, self.labels, self._order[1], self.batch_size, self.augment),
            first_step,
            n_steps,
            self.params,
            self.grads,
            self.device_net,
            self.work,
            self.reg,
            (self.slots, self.state.hyper, self.scalars),
            self._outputs[n_steps],
            self.gpu._replace(seed=self.seed, draws=self.draws),
        )

    def evaluate(self, x, labels):
        """Mean loss and accuracy of a dataset kept on the GPU after its first use."""
        cuda, net = self.cuda, self.net
        key = id(x)
        if key not in self._eval_data:
            self._eval_data[key] = (
                cuda.to_device(np.ascontiguousarray(x, dtype=net.dtype)),
                cuda.to_device(np.ascontiguousarray(labels, dtype=np.int64)),
                self.gpu._replace(
                    row_loss=cuda.device_array(len(x), dtype=np.float64),
                    row_correct=cuda.device_array(len(x), dtype=np.int64),
                    stamps=cuda.device_array(1, dtype=np.int64),  # phase timing is the steps'
                ),
                x,
            )
        x_d, y_d, gpu, _ = self._eval_data[key]
        args = (x_d, y_d, self._final(), self.device_net, self.work, self.eval_chunk, gpu)
        self._launcher(self.eval_kernel, args, self.eval_chunk)(args)
        return (
            float(gpu.row_loss.copy_to_host().sum()) / len(x),
            int(gpu.row_correct.copy_to_host().sum()) / len(x),
        )

    def time_phases(self, n_steps):
        """Stamp the GPU's global timer at the start of each chunk of up to ``n_steps`` steps
        and after each of its grid barriers (:func:`phase_times` reads them); 0: off."""
        per_step = self.steps.barriers_per_step(self.settings.max_norm)
        size = 1 + int(n_steps) * per_step if n_steps else 1
        self.gpu = self.gpu._replace(stamps=self.cuda.to_device(np.zeros(size, dtype=np.int64)))

    def phase_times(self):
        """Nanoseconds of each phase of the last chunk's steps, shape (steps, barriers per step):
        column 0 the rows (gather to the first layer's delta), 1 the weights (gradients and
        update), 2 max-norm when on; each up to and including its grid barrier."""
        stamps = self.gpu.stamps.copy_to_host()
        per_step = self.steps.barriers_per_step(self.settings.max_norm)
        done = (int(np.count_nonzero(stamps[1:])) // per_step) * per_step
        return np.diff(stamps[: 1 + done]).reshape(-1, per_step)

    def set_learning_rate(self, value):
        self.state.hyper = self.state.hyper._replace(learning_rate=float(value))

    def seed_epoch(self, seed):
        """Draw the masks of the steps that follow from ``(seed, counter)``, counter from 0,
        and their distortions from ``seed``."""
        self.seed, self.draws = int(seed), 0
        self.augment = self.augment._replace(seed=self.seed)

    def _final(self):
        """The device parameters the run would end with now: their average when there is one."""
        return self.ema if self.settings.averaging else self.params

    def snapshot(self):
        return self._final().copy_to_host()

    def restore(self, params):
        self.params.copy_to_device(params)

    def download(self):
        """Copy parameters, their average and optimizer state back into the host arrays."""
        self.params.copy_to_host(self.net.params)
        if self.settings.averaging:
            self.ema.copy_to_host(self.settings.ema)
        self.slots.copy_to_host(self.state.slots)
        self.scalars.copy_to_host(self.state.scalars)

    def hidden_masks(self, n):
        """The last step's dropout masks of ``n`` rows: one (n, units) array per hidden layer."""
        masks, layout = self.work.masks.copy_to_host(), self.net.layout
        return [
            masks[n * layout.unit_offsets[l] : n * layout.unit_offsets[l + 1]].reshape(
                n, layout.sizes[l]
            )
            for l in range(1, layout.n_layers)
        ]
