"""The same step computes the same bits in every process.

A run must train the same model whichever process runs it: a resumed run is compared bit
for bit with an uninterrupted one (tests/test_end_to_end.py). With ``fastmath`` on the
losses, the step loop's copy of the softmax gradient rounded differently from the copy
that the loss kernel itself runs, in some processes and not in others (kernels/config.py,
``JIT_EXACT``). Each check runs in fresh processes, since which copy ran was decided per
process.
"""

import subprocess
import sys
from pathlib import Path

import pytest

# One training step of a float32 ReLU network at batch 4; then the loss kernel on that step's
# own logits must give the output delta the step computed.
ONE_STEP = """
import numpy as np
import optimizers
from kernels.fpenv import flush_denormals
from kernels.losses import softmax_loss_grad
from network import MLP
from network.cpu_trainer import CpuTrainer
from network.trainer import StepSettings

rng = np.random.default_rng(0)
net = MLP([784, 64, 10], activation="ReLU", dtype=np.float32, seed=0)
x = rng.random((8, 784), dtype=np.float32)
y = rng.integers(0, 10, 8).astype(np.int64)
opt = optimizers.get("sgd")
state = opt.init(net.layout.n_params, net.dtype, dict(learning_rate=0.01))
trainer = CpuTrainer(net, opt, state, x, y, 4, StepSettings())
trainer.train_steps(np.arange(8, dtype=np.int64), 0, 1, np.empty(1), np.empty(1, np.int64))
n, k = 4, 10
start = n * int(net.layout.unit_offsets[-1])
logits = trainer.work.acts[start : start + n * k].reshape(n, k).copy()
expected = np.empty((n, k), np.float32)
with flush_denormals():
    softmax_loss_grad(logits, y[:n], net.loss_code, expected)
got = trainer.work.delta_a[: n * k].reshape(n, k)
print("same" if np.array_equal(got, expected) else f"differs at {np.argwhere(got != expected)}")
"""


@pytest.mark.parametrize("process", range(4))
def test_the_step_loop_computes_the_softmax_gradient_as_the_loss_kernel_does(process):
    done = subprocess.run(
        [sys.executable, "-c", ONE_STEP],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"
