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

**Running ahead.** While the host reads a chunk's results and decides what comes next
(the progress display, the loss limit, a stop), the GPU would sit idle; so before it
waits for chunk k, the trainer launches chunk k + 1 of the same epoch, the one the
training loop asks for next unless it stops. Chunks cannot be undone on the GPU, so
the state a chunk changes (parameters, optimizer state, average, dropout masks,
``halt``) is first copied aside on the device, in stream order, and put back if the
next request is anything else: every other method rolls a pending chunk back first,
so what the trainer reports, evaluates and downloads is always exactly the steps it
was asked for. After a NaN the pending chunk found ``halt`` raised and trained
nothing; it is dropped at once.
"""

from typing import NamedTuple

import numpy as np

from kernels.pixels import as_rows, scale_of
from kernels.steps import Epoch

from .trainer import StepSettings
from .workspace import Workspace


class _Chunk(NamedTuple):
    """A launched chunk: its request, where its results go and the host state before it."""

    order: np.ndarray
    first: int
    n_steps: int
    outputs: tuple  # mapped (losses, corrects)
    finished: object  # a CUDA event recorded after its launch
    draws: int  # the dropout counter before it


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
        Training inputs (N, features) in the network's dtype, or their uint8 pixels (kept
        as such on the GPU, turned into inputs as they are gathered, :mod:`kernels.pixels`),
        and int64 labels.
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
    run_ahead : bool
        Launch the epoch's next chunk before reading a chunk's results (see the module's
        docstring); False runs them in turn (perf/gpu_probe.py compares the two).
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
        run_ahead=True,
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
        self.pixel_scale = scale_of(np.asarray(x))
        self.x = up(
            np.ascontiguousarray(x, dtype=net.dtype if self.pixel_scale is None else np.uint8)
        )
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
        self.run_ahead = bool(run_ahead)
        self._order = None  # (host order, its device copy)
        self._outputs = {}  # (n_steps, 0 or 1) -> mapped (losses, corrects): two chunks in flight
        self._launched = 0  # chunks launched, whose parity picks their outputs
        self._ahead = None  # the chunk launched ahead, a _Chunk, until taken or rolled back
        self._aside = None  # [(copy, live)] device arrays: the state before the chunk ahead
        # One event per parity, recorded after each launch (the simulator's take no timing flag).
        timing = {} if self._simulated else {"timing": False}
        self._finished = (cuda.event(**timing), cuda.event(**timing))
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
        """The host view of a mapped array (the simulator's are copies); the chunk that writes
        it must be finished."""
        return mapped.copy_to_host() if self._simulated else mapped

    # ------------------------------------------------------------------ API
    def train_steps(self, order, first_step, n_steps, losses, corrects):
        """Run steps ``first_step .. first_step + n_steps - 1`` of the epoch ``order``.

        Fills ``losses[:done]`` and ``corrects[:done]`` (host arrays) and returns
        ``done``: all steps, or up to and including the first non-finite loss.
        """
        ahead = self._ahead
        if (
            ahead is not None
            and ahead.order is order
            and (ahead.first, ahead.n_steps) == (first_step, n_steps)
        ):
            chunk, self._ahead = ahead, None
        else:
            self._settle()
            if self.halted:
                self.gpu.halt.copy_to_device(np.zeros(1, dtype=np.int32))
                self.halted = False
            chunk = self._launch_chunk(order, first_step, n_steps)
        after = first_step + n_steps
        steps = -(-len(order) // self.batch_size)
        if self.run_ahead and after < steps and self.gpu.stamps.size == 1:
            self._launch_chunk(order, after, min(n_steps, steps - after), ahead=True)
        chunk.finished.synchronize()
        host_losses = self._host(chunk.outputs[0])
        losses[:n_steps] = host_losses
        corrects[:n_steps] = self._host(chunk.outputs[1])
        bad = np.flatnonzero(~np.isfinite(host_losses))
        if bad.size:
            self.halted = True
            self._settle()  # it found halt raised and trained nothing
            return int(bad[0]) + 1
        return n_steps

    def _launch_chunk(self, order, first_step, n_steps, ahead=False):
        """Launch a chunk (asynchronously) and return its :class:`_Chunk`; ``ahead``: as the
        chunk launched ahead, its state set aside first."""
        parity = self._launched % 2
        outputs = self._outputs_for(n_steps, parity)
        chunk = _Chunk(order, first_step, n_steps, outputs, self._finished[parity], self.draws)
        args = self.step_arguments(order, first_step, n_steps, outputs)
        if ahead:
            self._set_aside()
            # Noted before the launch, so a stop (a KeyboardInterrupt between any two lines)
            # from here on rolls it back: the copies back follow it in stream order.
            self._ahead = chunk
        self._launched += 1
        self.draws += n_steps * self.net.layout.n_layers * self.work.masks.shape[0]
        self._launcher(self.step_kernel, args, self.batch_size)(args)
        chunk.finished.record()
        return chunk

    def _set_aside(self):
        """Copy the state a chunk changes, on the device, after the chunks already launched."""
        if self._aside is None:
            live = [self.params, self.slots, self.scalars, self.work.masks, self.gpu.halt]
            if self.settings.averaging:
                live.append(self.ema)
            self._aside = [(self.cuda.device_array_like(a), a) for a in live]
        for copy, live in self._aside:
            copy.copy_to_device(live)

    def _settle(self):
        """Roll back the chunk launched ahead, if any: its state as it was before it."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return
        ahead.finished.synchronize()
        for copy, live in self._aside:
            live.copy_to_device(copy)
        self.draws = ahead.draws

    def _outputs_for(self, n_steps, parity):
        key = (n_steps, parity)
        if key not in self._outputs:
            self._outputs[key] = (
                self.cuda.mapped_array(n_steps, dtype=np.float64),
                self.cuda.mapped_array(n_steps, dtype=np.int64),
            )
        return self._outputs[key]

    @property
    def step_blocks(self):
        """The step kernel's grid size (None before its first launch)."""
        launcher = self._launch.get(self.step_kernel)
        return self.blocks if launcher is None else launcher.blocks

    def step_arguments(self, order, first_step, n_steps, outputs=None):
        """The step kernel's arguments for a chunk, writing its per-step results into
        ``outputs`` (mapped arrays, allocated once per chunk length; by default the first
        pair); the order is uploaded once per epoch. Also what perf/gpu_probe.py compiles
        with."""
        cuda = self.cuda
        if self._order is None or self._order[0] is not order:
            self._order = (order, cuda.to_device(np.ascontiguousarray(order, dtype=np.int64)))
        if outputs is None:
            outputs = self._outputs_for(n_steps, 0)
        return (
            Epoch(
                self.x, self.labels, self._order[1], self.batch_size, self.augment, self.pixel_scale
            ),
            first_step,
            n_steps,
            self.params,
            self.grads,
            self.device_net,
            self.work,
            self.reg,
            (self.slots, self.state.hyper, self.scalars),
            outputs,
            self.gpu._replace(seed=self.seed, draws=self.draws),
        )

    def evaluate(self, x, labels):
        """Mean loss and accuracy of a dataset kept on the GPU after its first use."""
        self._settle()
        cuda, net = self.cuda, self.net
        key = id(x)
        if key not in self._eval_data:
            self._eval_data[key] = (
                cuda.to_device(as_rows(x, net.dtype)),
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
        self._settle()  # and no chunk runs ahead while they are on (they share the stamps)
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
        self._settle()
        self.state.hyper = self.state.hyper._replace(learning_rate=float(value))

    def seed_epoch(self, seed):
        """Draw the masks of the steps that follow from ``(seed, counter)``, counter from 0,
        and their distortions from ``seed``."""
        self._settle()
        self.seed, self.draws = int(seed), 0
        self.augment = self.augment._replace(seed=self.seed)

    def _final(self):
        """The device parameters the run would end with now: their average when there is one."""
        return self.ema if self.settings.averaging else self.params

    def snapshot(self):
        self._settle()
        return self._final().copy_to_host()

    def restore(self, params):
        self._settle()
        self.params.copy_to_device(params)

    def download(self):
        """Copy parameters, their average and optimizer state back into the host arrays."""
        self._settle()
        self.params.copy_to_host(self.net.params)
        if self.settings.averaging:
            self.ema.copy_to_host(self.settings.ema)
        self.slots.copy_to_host(self.state.slots)
        self.scalars.copy_to_host(self.state.scalars)

    def hidden_masks(self, n):
        """The last step's dropout masks of ``n`` rows: one (n, units) array per hidden layer."""
        self._settle()
        masks, layout = self.work.masks.copy_to_host(), self.net.layout
        return [
            masks[n * layout.unit_offsets[l] : n * layout.unit_offsets[l + 1]].reshape(
                n, layout.sizes[l]
            )
            for l in range(1, layout.n_layers)
        ]
