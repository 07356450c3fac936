"""A run compiles only the parts of the step loop it uses (kernels.steps.Options).

In a fresh process with an empty Numba cache (a cache hit would load the loop without
typing the kernels inside it, so nothing could be seen), one plain training step must leave
the distortions, dropout, max-norm, the average and the threaded update uncompiled; then a
forward pass with dropout compiles dropout's kernel, so the check can see a compile.
"""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent(
    """
    import numpy as np

    import optimizers
    from kernels import augment, dropout, regularize, rules, steps
    from network import MLP
    from network.cpu_trainer import CpuTrainer

    OPTIONAL = {
        "distortions": augment.augmented_row,
        "dropout": dropout.dropout_forward,
        "dropout backward": dropout.dropout_activation_backward,
        "max-norm": regularize.max_norm,
        "average": regularize.ema_update,
        "threaded update": rules.rule_apply_threaded,
    }
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 6)), rng.integers(0, 3, 8)
    net = MLP([6, 5, 3], activation="tanh", weight_init="Xavier", dtype=np.float64, seed=0)
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, net.dtype, {"learning_rate": 0.1})
    trainer = CpuTrainer(net, opt, state, x, y, 4)
    assert trainer.train_steps(np.arange(8), 0, 2, np.empty(2), np.empty(2, np.int64)) == 2
    net.evaluate(x, y)
    print("compiled:", sorted(name for name, f in OPTIONAL.items() if f.signatures))
    ws = net.workspace(4)
    steps.forward(net.params, net.structure, ws.acts, 4, 0.5, ws.masks)
    print("with dropout:", bool(dropout.dropout_forward.signatures))
    """
)


def test_a_plain_run_compiles_none_of_the_parts_it_leaves_off(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "compiled: []" in done.stdout, done.stdout
    assert "with dropout: True" in done.stdout, done.stdout
