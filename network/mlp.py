"""The multilayer perceptron: parameters, forward/backward, prediction, saving."""

import json
import zipfile
from pathlib import Path

import numpy as np

from kernels import steps
from kernels.config import ACTIVATIONS, LOSSES
from kernels.fpenv import flush_denormals
from kernels.pixels import as_rows

from .cpu_trainer import CpuTrainer
from .init import initialize
from .layout import Layout
from .trainer import StepSettings
from .workspace import Workspace

#: Rows per chunk when evaluating or predicting a whole dataset.
EVAL_CHUNK = 1024

FORMAT_VERSION = 1


def _choice(name, value, table):
    if value not in table:
        raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(table)}")
    return table[value]


class MLP:
    """A feedforward network with softmax output, trained by hand-written backprop.

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first and classes last. ``[784, 10]`` is softmax
        regression; ``[784, 128, 64, 10]`` has two hidden layers.
    activation : {"identity", "sigmoid", "tanh", "ReLU"}
        Activation of every hidden layer (the output layer is always softmax).
    loss : {"cross_entropy", "mean_squared_error"}
    weight_init : {"random", "Xavier", "He"}
        See :mod:`network.init`.
    seed : int
        Seeds the initialiser; the same seed gives the same parameters.
    dtype : numpy dtype
        float32 (default, fast) or float64 (gradient checks).

    Attributes
    ----------
    params : ndarray, shape (P,)
        Every weight and bias in one buffer; ``weights(l)``/``biases(l)`` are views.
    grads : ndarray, shape (P,)
        Gradient buffer with the same layout, written by :meth:`backward`.
    """

    def __init__(
        self,
        sizes,
        activation="tanh",
        loss="cross_entropy",
        weight_init="Xavier",
        seed=0,
        dtype=np.float32,
    ):
        self.layout = Layout(tuple(sizes))
        self.activation = activation
        self.loss_name = loss
        self.weight_init = weight_init
        self.act_code = _choice("activation", activation, ACTIVATIONS)
        self.loss_code = _choice("loss", loss, LOSSES)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.params = np.zeros(self.layout.n_params, dtype=self.dtype)
        self.grads = np.zeros_like(self.params)
        initialize(self.layout, weight_init, np.random.default_rng(seed), self.params)
        #: What the compiled loops need to know of this network, built once.
        self.structure = steps.Structure(
            self.layout.sizes_array,
            self.layout.param_offsets,
            self.layout.unit_offsets,
            self.act_code,
            self.loss_code,
        )
        self._workspaces = {}

    # ----------------------------------------------------------------- views
    @property
    def sizes(self):
        return self.layout.sizes

    def weights(self, layer):
        """``W_layer`` as a writable view, shape (sizes[layer], sizes[layer+1])."""
        return self.params[self.layout.weight_slice(layer)].reshape(
            self.sizes[layer], self.sizes[layer + 1]
        )

    def biases(self, layer):
        """``b_layer`` as a writable view, shape (sizes[layer+1],)."""
        return self.params[self.layout.bias_slice(layer)]

    def weight_grads(self, layer):
        return self.grads[self.layout.weight_slice(layer)].reshape(
            self.sizes[layer], self.sizes[layer + 1]
        )

    def bias_grads(self, layer):
        return self.grads[self.layout.bias_slice(layer)]

    def workspace(self, batch_size):
        """Work buffers for batches of up to ``batch_size`` rows (memoised)."""
        if batch_size not in self._workspaces:
            self._workspaces[batch_size] = Workspace.allocate(self.layout, batch_size, self.dtype)
        return self._workspaces[batch_size]

    def _inputs(self, x, labels=None):
        """``x`` as C-contiguous rows in this network's dtype (uint8 pixels read as the
        trainers read them, :mod:`kernels.pixels`), checked with ``labels``."""
        x = as_rows(x, self.dtype)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"inputs must have shape (n, {self.sizes[0]}), got {x.shape}")
        if labels is None:
            return x
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        if labels.shape != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= self.sizes[-1]):
            raise ValueError(f"labels must lie in [0, {self.sizes[-1]})")
        return x, labels

    # --------------------------------------------------------------- compute
    # Every compiled call below runs inside flush_denormals(): subnormal floats are
    # flushed to zero in this thread while it computes, and only then
    # (kernels/fpenv.py says why and what it costs in precision: nothing that matters).
    def backward(self, x, labels, weight_decay=0.0, dropout=0.0):
        """Mean loss of one batch and its gradient, written into :attr:`grads`.

        Returns the mean data loss (the L2 term is in the gradient, not the loss).
        With ``dropout > 0`` the masks drawn are left in ``self.workspace(n).masks``.
        """
        x, labels = self._inputs(x, labels)
        ws = self.workspace(x.shape[0])
        ws.acts[: x.size] = x.ravel()
        ws.y_batch[:] = labels
        with flush_denormals():
            loss, _ = steps.forward_backward(
                self.params,
                self.grads,
                self.structure,
                ws,
                x.shape[0],
                float(weight_decay),
                1.0 - float(dropout) if dropout else None,  # None: no dropout compiled
            )
        return loss

    def evaluate(self, x, labels, params=None):
        """Mean loss and accuracy over a whole dataset, in bounded memory.

        ``params`` (shape (P,)) evaluates other parameters of this architecture, such
        as their moving average, instead of :attr:`params`.
        """
        x, labels = self._inputs(x, labels)
        if x.shape[0] == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        ws = self.workspace(EVAL_CHUNK)
        params = self.params if params is None else params
        with flush_denormals():
            loss_sum, correct = steps.evaluate(
                x, labels, params, self.structure, ws.acts, ws.delta_a, EVAL_CHUNK
            )
        return loss_sum / x.shape[0], correct / x.shape[0]

    def loss(self, x, labels):
        """Mean loss over ``x`` (without the L2 term)."""
        return self.evaluate(x, labels)[0]

    def predict_proba(self, x):
        """Class probabilities, shape (n, classes); rows sum to 1."""
        x = self._inputs(x)
        out = np.empty((x.shape[0], self.sizes[-1]), dtype=self.dtype)
        ws = self.workspace(EVAL_CHUNK)
        with flush_denormals():
            steps.predict_proba(x, self.params, self.structure, ws.acts, EVAL_CHUNK, out)
        return out

    def predict(self, x):
        """Most probable class of each row, shape (n,)."""
        return self.predict_proba(x).argmax(axis=1)

    def train_steps(
        self, x, labels, order, first_step, n_steps, batch_size, optimizer, state, settings=None
    ):
        """Run ``n_steps`` compiled mini-batch steps over ``x[order]`` on the CPU.

        Step ``s`` trains on ``order[(first_step+s)*batch_size:][:batch_size]`` with the
        regularisation, averaging and distortions of ``settings``
        (:class:`network.trainer.StepSettings`; none by default): one chunk of a
        :class:`network.cpu_trainer.CpuTrainer`, for tests and benchmarks. ``x`` and
        ``labels`` must already be C-contiguous in this network's dtype (or uint8 pixels,
        :mod:`kernels.pixels`) and int64.

        Returns
        -------
        done : int
            Steps run (fewer than ``n_steps`` if a loss was not finite).
        losses : float64 ndarray, shape (n_steps,)
            Mean loss of each step's batch (entries past ``done`` are unset).
        corrects : int64 ndarray, shape (n_steps,)
            Correct predictions of each step's batch.
        """
        settings = StepSettings() if settings is None else settings
        trainer = CpuTrainer(self, optimizer, state, x, labels, batch_size, settings)
        losses, corrects = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
        done = trainer.train_steps(order, first_step, n_steps, losses, corrects)
        return done, losses, corrects

    # ------------------------------------------------------------- save/load
    def architecture(self):
        """Everything needed to rebuild the network, as plain JSON-able values."""
        return {
            "sizes": list(self.sizes),
            "activation": self.activation,
            "loss": self.loss_name,
            "weight_init": self.weight_init,
            "dtype": self.dtype.name,
        }

    def save(self, path, **metadata):
        """Write parameters, architecture and any JSON-able ``metadata`` to one ``.npz``.

        The file is written to a temporary name and renamed, so an interrupted or
        failed save (a full disk) never leaves a half-written model behind and keeps
        the previous file; the temporary file is removed and the error re-raised.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as handle:
                np.savez(
                    handle,
                    params=self.params,
                    architecture=json.dumps(self.architecture()),
                    metadata=json.dumps(metadata),
                    format_version=FORMAT_VERSION,
                )
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path):
        """Rebuild a network saved by :meth:`save`; returns ``(mlp, metadata)``."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arch = json.loads(str(data["architecture"]))
                metadata = json.loads(str(data["metadata"]))
                params = data["params"]
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: not an nbnet model file ({exc})") from None
        net = cls(
            arch["sizes"],
            activation=arch["activation"],
            loss=arch["loss"],
            weight_init=arch["weight_init"],
            dtype=np.dtype(arch["dtype"]),
        )
        if params.shape != net.params.shape:
            raise ValueError(f"{path}: {params.size} parameters do not fit {arch['sizes']}")
        net.params[:] = params
        return net, metadata
