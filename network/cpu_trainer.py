"""Training on the CPU: the compiled step loop over the host's own arrays.

The twin of :mod:`network.cuda_trainer`, without the copies: the step loop
(:func:`kernels.steps.train_steps`) trains the network's parameter buffer, the optimizer
state and the moving average in place, one call per chunk of steps.
"""

import numba

from kernels import steps
from kernels.dropout import seed_rng
from kernels.fpenv import flush_denormals
from kernels.pixels import scale_of

from .trainer import StepSettings


class CpuTrainer:
    """A :class:`network.trainer.Trainer` on the CPU.

    Parameters
    ----------
    net : network.MLP
        Trained in place.
    optimizer : optimizers.Optimizer
    state : optimizers.OptimizerState
    x, labels : ndarray
        Training inputs (N, features), C-contiguous in the network's dtype or as their
        uint8 pixels (turned into inputs, :mod:`kernels.pixels`, as they are
        gathered: the same inputs, a quarter of the memory), and int64 labels (N,):
        checked once by the caller, not here.
    batch_size : int
    settings : network.trainer.StepSettings
        The moving average, when on, is kept in ``settings.ema``.
    update_threads : int
        Numba threads that share each layer's optimizer update (1: the calling thread
        alone; :func:`experiments.threads.update_threads` chooses for a run). No result
        depends on it.
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
        update_threads=1,
    ):
        self.net, self.optimizer, self.state = net, optimizer, state
        self.update_threads = max(1, int(update_threads))
        self.x, self.labels, self.batch_size = x, labels, int(batch_size)
        self.pixel_scale = scale_of(x)
        self.settings = settings.checked(net.layout.n_params)
        self.work = net.workspace(self.batch_size)
        # When averaging is off the loop never reads the buffer: any one-element array.
        self.ema = settings.ema if settings.averaging else net.grads[:1]
        self.reg = settings.regularizer(self.ema)
        self.augment = settings.augment

    def train_steps(self, order, first_step, n_steps, losses, corrects):
        # Subnormal floats are flushed to zero in this thread while it computes
        # (kernels/fpenv.py says why and what it costs in precision: nothing that matters).
        state = self.state
        if type(state.hyper) is not self.optimizer.hyper:
            # The loop finds the rule by the record's class (kernels/rules.py); a record of
            # another class with the same values (an estimator pickled by an older nbnet
            # kept Adam's for nadam) would run that other rule.
            state.hyper = self.optimizer.hyper(*state.hyper)
        threads = self.update_threads
        if threads > 1:
            # Numba's thread count is per calling thread; more blocks than threads would
            # run in turns.
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        with flush_denormals():
            return steps.train_steps(
                steps.Epoch(
                    self.x, self.labels, order, self.batch_size, self.augment, self.pixel_scale
                ),
                first_step,
                n_steps,
                self.net.params,
                self.net.grads,
                self.net.structure,
                self.work,
                self.reg,
                (state.slots, state.hyper, state.scalars),
                threads,
                (losses, corrects),
            )

    def evaluate(self, x, labels):
        return self.net.evaluate(x, labels, params=self._final())

    def _final(self):
        """The parameters the run would end with now: their average when there is one."""
        return self.ema if self.settings.averaging else self.net.params

    def set_learning_rate(self, value):
        self.state.hyper = self.state.hyper._replace(learning_rate=float(value))

    def seed_epoch(self, seed):
        """Seed Numba's generator, which draws the CPU's dropout masks, and the distortions."""
        seed_rng(seed)
        self.augment = self.augment._replace(seed=int(seed))

    def snapshot(self):
        return self._final().copy()

    def restore(self, params):
        self.net.params[:] = params

    def download(self):
        pass
