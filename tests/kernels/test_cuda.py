"""The CUDA kernels against their CPU twins, on Numba's CUDA simulator.

Shapes are tiny (the simulator runs every GPU thread as a Python thread, on blocks of 4x4
threads there: ``kernels.cuda.dense.TILE``) and deliberately not multiples of the tile.
Skipped when numba-cuda is missing.
"""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

cuda = pytest.importorskip(
    "numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda)"
)
from numba import float64, int64  # noqa: E402

import optimizers  # noqa: E402
from kernels import activations, losses  # noqa: E402
from kernels.config import ACTIVATIONS, LOSSES  # noqa: E402
from network import MLP  # noqa: E402
from tests.conftest import HYPER  # noqa: E402

if not cuda.is_available():
    pytest.skip(
        "no CUDA device and the simulator is off (set NUMBA_ENABLE_CUDASIM=1)",
        allow_module_level=True,
    )

from kernels.augment import Augment  # noqa: E402
from kernels.cuda import dense as gdense  # noqa: E402
from kernels.cuda import losses as glosses  # noqa: E402
from network.backends import simulated  # noqa: E402
from network.cuda_trainer import CudaTrainer  # noqa: E402
from network.trainer import StepSettings  # noqa: E402

SIM = settings(max_examples=4, deadline=None)

# On the simulator the hash's uint64 products are NumPy scalars, which wrap modulo 2**64 exactly
# as the GPU does but warn about it.
wrapping_uint64 = pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply")


@cuda.jit
def _product_kernel(A, B, C, M, N, K, trans_a, trans_b, ones_row):
    """C (M, N) = op(A) @ op(B) through the step kernel's tiled device function, in a grid of
    blocks that take the tiles in turn (as the weight phase does)."""
    tiles = (
        cuda.shared.array((gdense.TILE, gdense.TILE), dtype=float64),
        cuda.shared.array((gdense.TILE, gdense.TILE_COLS), dtype=float64),
    )
    lda = M if trans_a else K
    ldb = K if trans_b else N
    count, per_row = gdense.tile_count(M, N)
    for tile in range(cuda.blockIdx.x, count, cuda.gridDim.x):
        row, col0 = gdense.tile_element(tile, per_row)
        sums = gdense.tile_product(
            (A, 0, lda, trans_a), (B, 0, ldb, trans_b), M, N, K, row, col0, tiles, ones_row
        )
        for j in range(gdense.WIDE):
            col = col0 + j * gdense.TILE
            if row < M and col < N:
                C[row * N + col] = sums[j]


@SIM
@given(
    m=st.integers(1, 20),
    k=st.integers(1, 20),
    n=st.integers(1, 70),
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    ones=st.booleans(),
    blocks=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
@example(m=17, k=5, n=65, trans_a=True, trans_b=False, ones=True, blocks=3, seed=0)
def test_tiled_product_equals_numpy(m, k, n, trans_a, trans_b, ones, blocks, seed):
    """Every tile and every one of a thread's WIDE sums, edges included (17 rows, 65 columns:
    two tiles each way); with ``ones`` the last row of op(A) is ones, so that row of the
    product holds op(B)'s column sums (the bias gradient)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if trans_a else (m, k))
    b = rng.normal(size=(n, k) if trans_b else (k, n))
    c = cuda.device_array(m * n)
    ones_row = m - 1 if ones else -1
    _product_kernel[blocks, (gdense.TILE, gdense.TILE)](
        cuda.to_device(a.ravel()),
        cuda.to_device(b.ravel()),
        c,
        m,
        n,
        k,
        trans_a,
        trans_b,
        ones_row,
    )
    op_a = (a.T if trans_a else a).copy()
    if ones:
        op_a[-1] = 1.0
    expected = op_a @ (b.T if trans_b else b)
    np.testing.assert_allclose(c.copy_to_host().reshape(m, n), expected, rtol=1e-12, atol=1e-12)


@cuda.jit
def _activation_kernel(Z, b, code, single, G, A):
    """Z <- f(Z + b) and G <- G * f'(A), element by element, by the step kernel's functions."""
    i = cuda.grid(1)
    if i < Z.shape[0]:
        cols = b.shape[0]
        Z[i] = Z.dtype.type(gdense.activate(Z[i] + b[i % cols], code, single))
        G[i] = G[i] * gdense.derivative(A[i], code)


@SIM
@given(
    activation=st.sampled_from(list(ACTIVATIONS)),
    dtype=st.sampled_from([np.float32, np.float64]),
    rows=st.integers(1, 9),
    cols=st.integers(1, 20),
    seed=st.integers(0, 1000),
)
@example(activation="sigmoid", dtype=np.float32, rows=7, cols=1, seed=3)  # CI, 2026-11-29
def test_activations_and_derivatives_match_the_cpu(activation, dtype, rows, cols, seed):
    """The GPU computes the CPU's own function in both dtypes (float32: the same fast_tanh)."""
    rng = np.random.default_rng(seed)
    code = ACTIVATIONS[activation]
    z, b = (rng.normal(size=(rows, cols)) * 3).astype(dtype), rng.normal(size=cols).astype(dtype)
    expected = z.copy()
    activations.bias_activation(expected, b, code)
    g = rng.normal(size=(rows, cols)).astype(dtype)
    expected_g = g.copy()
    activations.activation_backward(expected_g, expected, code)
    z_d, g_d = cuda.to_device(z.ravel()), cuda.to_device(g.ravel())
    _activation_kernel[1, 256](
        z_d, cuda.to_device(b), code, dtype == np.float32, g_d, cuda.to_device(expected.ravel())
    )
    # float32 sigmoid is 0.5 + 0.5 * fast_tanh(z / 2): near 0 its absolute error is set by the
    # rounding at 0.5, and the compiled CPU (FMA contraction) and the simulator (NumPy) may round
    # apart by 2**-23 (seen: 3.710985e-04 against 3.709793e-04, seed 3), so atol is float32's eps.
    single = dict(rtol=1e-6, atol=float(np.finfo(np.float32).eps))
    tolerance = single if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(z_d.copy_to_host().reshape(rows, cols), expected, **tolerance)
    np.testing.assert_allclose(g_d.copy_to_host().reshape(rows, cols), expected_g, **tolerance)


@cuda.jit
def _loss_kernel(Z, y, loss_code, dZ, row_loss, row_correct, out):
    """Per-row loss and gradient, then the block sum, as the step kernel does them."""
    partial_loss = cuda.shared.array(gdense.THREADS, dtype=float64)
    partial_hits = cuda.shared.array(gdense.THREADS, dtype=int64)
    n = Z.shape[0]
    t = gdense.block_thread()
    for i in range(t, n, gdense.THREADS):
        row_loss[i], row_correct[i] = glosses.row_loss_grad(Z, y, i, loss_code, dZ, n)
    cuda.syncthreads()
    loss_sum, hits = glosses.block_sum(row_loss, row_correct, n, partial_loss, partial_hits)
    if t == 0:
        out[0] = loss_sum
        out[1] = hits


@SIM
@given(
    loss=st.sampled_from(list(LOSSES)),
    n=st.integers(1, 40),
    k=st.integers(2, 12),
    seed=st.integers(0, 1000),
)
def test_softmax_loss_and_block_sum_match_the_cpu(loss, n, k, seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(n, k)) * 4, rng.integers(0, k, n)
    dz_cpu = np.empty_like(z)
    loss_sum, correct = losses.softmax_loss_grad(z.copy(), y, LOSSES[loss], dz_cpu)
    dz, out = cuda.device_array_like(z), cuda.device_array(2)
    _loss_kernel[1, (gdense.TILE, gdense.TILE)](
        cuda.to_device(z),
        cuda.to_device(y),
        LOSSES[loss],
        dz,
        cuda.device_array(n),
        cuda.device_array(n, dtype=np.int64),
        out,
    )
    np.testing.assert_allclose(dz.copy_to_host(), dz_cpu, rtol=1e-10, atol=1e-14)
    total, hits = out.copy_to_host()
    assert total == pytest.approx(loss_sum, rel=1e-12) and hits == correct


def _tiny_problem(rng, n=11):
    x = rng.normal(size=(n, 5))
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y


def _train_both(
    sizes,
    activation,
    loss,
    dtype,
    name,
    x,
    y,
    order,
    n_steps,
    batch,
    weight_decay,
    chunks=1,
    hyper=HYPER,
    prepare=None,
    options=StepSettings(),
):
    """The same steps on the CPU loop and the GPU kernel (in ``chunks`` launches), from the same
    network, with the same ``options`` and ``weight_decay`` (each device its own copy of the
    average); returns
    ``(cpu net, cpu state, cpu losses, gpu net, gpu state, gpu losses, trainer)``."""
    nets = [MLP(sizes, activation=activation, loss=loss, dtype=dtype, seed=0) for _ in range(2)]
    opt = optimizers.get(name)
    states = [opt.init(nets[0].layout.n_params, dtype, hyper) for _ in range(2)]
    for net, state in zip(nets, states):
        if prepare is not None:
            prepare(net, state)
    cpu, gpu = nets
    ema = options.ema
    options = options._replace(weight_decay=weight_decay)
    cpu_options = options._replace(ema=None if ema is None else ema[0])
    _, cpu_losses, _ = cpu.train_steps(x, y, order, 0, n_steps, batch, opt, states[0], cpu_options)
    gpu_options = options._replace(ema=None if ema is None else ema[1])
    trainer = CudaTrainer(gpu, opt, states[1], x, y, batch, gpu_options, eval_chunk=8)
    trainer.seed_epoch(options.augment.seed)
    losses, correct = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
    chunk = -(-n_steps // chunks)  # as the training loop cuts an epoch: the last may be short
    for first in range(0, n_steps, chunk):
        last = min(first + chunk, n_steps)
        assert (
            trainer.train_steps(order, first, last - first, losses[first:last], correct[first:last])
            == last - first
        )
    trainer.download()
    return cpu, states[0], cpu_losses, gpu, states[1], losses, trainer


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
def test_training_steps_on_cuda_equal_the_cpu(name):
    """float64: every optimizer, losses to 1e-10 and parameters to 1e-9 relative, over two launches
    (the last batch of the epoch is short)."""
    rng = np.random.default_rng(4)
    x, y = _tiny_problem(rng)
    order = rng.permutation(len(x)).astype(np.int64)
    cpu, cpu_state, cpu_losses, gpu, gpu_state, losses, trainer = _train_both(
        [5, 7, 3], "tanh", "mean_squared_error", np.float64, name, x, y, order, 3, 4, 0.01, chunks=2
    )
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-10)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu_state.slots, cpu_state.slots, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu_state.scalars, cpu_state.scalars, rtol=1e-12)
    loss, accuracy = trainer.evaluate(x, y)
    expected_loss, expected_accuracy = cpu.evaluate(x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-10) and accuracy == expected_accuracy


@wrapping_uint64
def test_distortions_max_norm_and_the_average_on_cuda_equal_the_cpu():
    """float64, 3x3 images: the GPU draws each sample's distortion from the CPU's counters, so
    the distorted batches, the capped weights and the moving average agree to rounding."""
    rng = np.random.default_rng(8)
    x, y = rng.random((10, 9)), rng.integers(0, 3, 10).astype(np.int64)
    order = rng.permutation(10).astype(np.int64)
    ema = [MLP([9, 7, 3], dtype=np.float64, seed=0).params.copy() for _ in range(2)]
    distort = Augment(True, 3, 1.0, 0.5, 0.2, True, 5)
    options = StepSettings(max_norm=0.4, ema_decay=0.8, ema=ema, augment=distort)
    cpu, _, cpu_losses, gpu, _, losses, trainer = _train_both(
        [9, 7, 3],
        "ReLU",
        "cross_entropy",
        np.float64,
        "nadam",
        x,
        y,
        order,
        3,
        4,
        0.0,
        chunks=2,
        hyper=dict(HYPER, learning_rate=0.3),
        options=options,
    )
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-10)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ema[1], ema[0], rtol=1e-9, atol=1e-12)
    assert np.linalg.norm(gpu.weights(0), axis=0).max() <= 0.4 * (1 + 1e-12)
    assert not np.array_equal(ema[1], gpu.params)
    loss, _ = trainer.evaluate(x, y)  # the average is what gets evaluated
    assert loss == pytest.approx(cpu.evaluate(x, y, params=ema[0])[0], rel=1e-10)
    np.testing.assert_allclose(trainer.snapshot(), ema[0], rtol=1e-9, atol=1e-12)


@wrapping_uint64
@pytest.mark.parametrize("distort", [False, True])
def test_training_on_uint8_pixels_on_cuda_equals_training_on_their_inputs(distort):
    """float32, 3x3 images kept as uint8 pixels on the GPU (kernels/pixels.py): the same
    losses and parameters, bit for bit, as from their float inputs, and the CPU's to
    rounding."""
    from experiments.data import as_inputs, as_pixels

    rng = np.random.default_rng(9)
    images = rng.integers(0, 256, (10, 3, 3)).astype(np.uint8)
    y = rng.integers(0, 3, 10).astype(np.int64)
    order = rng.permutation(10).astype(np.int64)
    aug = Augment(True, 3, 1.0, 0.5, 0.2, True, 5) if distort else StepSettings().augment
    runs = [
        _train_both(
            [9, 7, 3],
            "tanh",
            "cross_entropy",
            np.float32,
            "adam",
            x,
            y,
            order,
            3,
            4,
            0.0,
            chunks=2,
            options=StepSettings(augment=aug),
        )  # fmt: skip
        for x in (as_pixels(images), as_inputs(images))
    ]
    (cpu, _, cpu_losses, gpu, gpu_state, losses, trainer), floats = runs
    np.testing.assert_array_equal(losses, floats[5])
    np.testing.assert_array_equal(gpu.params, floats[3].params)
    np.testing.assert_array_equal(gpu_state.slots, floats[4].slots)
    np.testing.assert_array_equal(cpu.params, floats[0].params)
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-5)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-4, atol=1e-6)
    assert trainer.evaluate(as_pixels(images), y) == floats[6].evaluate(as_inputs(images), y)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "ReLU"])
def test_float32_training_on_cuda_agrees_with_the_cpu(activation):
    """float32, the dtype people train in: the same functions on both devices (tanh and sigmoid
    through fast_tanh); only the order of the sums differs, so after 4 Adam steps losses agree to
    1e-5 and parameters to 1e-4 relative (Adam's step is lr-sized whatever the gradient's size)."""
    rng = np.random.default_rng(9)
    x, y = _tiny_problem(rng, n=16)
    order = rng.permutation(len(x)).astype(np.int64)
    cpu, cpu_state, cpu_losses, gpu, gpu_state, losses, _ = _train_both(
        [5, 9, 6, 3],
        activation,
        "cross_entropy",
        np.float32,
        "adam",
        x.astype(np.float32),
        y,
        order,
        4,
        4,
        0.001,
    )
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-5)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-4, atol=1e-5)


def test_the_gpu_leaves_no_subnormal_values_like_the_cpu():
    """Dead ReLU units under weight decay: sgd halves their weights at every step, from 1e-37 into
    the subnormal range (6.3e-39 after 4 steps, 7.8e-40 after 7); both devices store zeros there
    instead (kernels/fpenv.py), at the same places."""
    from kernels.fpenv import FLOAT32_TINY

    def dead_units(net, state):
        net.params[:] = np.where(net.layout.weight_mask(), 1e-37, net.params)
        for layer in range(net.layout.n_layers - 1):
            net.biases(layer)[:] = -1.0

    x, y = np.zeros((4, 5), dtype=np.float32), np.arange(4, dtype=np.int64) % 3
    cpu, cpu_state, _, gpu, gpu_state, _, _ = _train_both(
        [5, 4, 3],
        "ReLU",
        "cross_entropy",
        np.float32,
        "sgd",
        x,
        y,
        np.tile(np.arange(4, dtype=np.int64), 7),
        7,
        4,
        1.0,
        hyper={**HYPER, "learning_rate": 0.5},
        prepare=dead_units,
    )
    weights = gpu.layout.weight_mask()
    assert np.all(cpu.params[weights] == 0)
    for on_gpu, on_cpu in ((gpu.params, cpu.params), (gpu_state.slots, cpu_state.slots)):
        assert not np.any((on_gpu != 0) & (np.abs(on_gpu) < FLOAT32_TINY))
        np.testing.assert_array_equal(on_gpu == 0, on_cpu == 0)


#: Tests that read the simulator's own machinery; on a real GPU perf/gpu_bench.py counts the
#: launches instead, and ``auto`` rightly picks the GPU.
simulator_only = pytest.mark.skipif(
    not simulated(),
    reason="reads Numba's CUDA simulator; on hardware perf/gpu_bench.py checks this",
)


@simulator_only
@wrapping_uint64
def test_a_chunk_of_any_length_is_one_kernel_launch(monkeypatch):
    """The launch count is a property of the design: one launch per chunk of steps, however
    many steps, and one per evaluation, however many rows (only copies besides). Each chunk
    after the first is launched ahead, while the call before it reads its own results."""
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    launches = []
    original = FakeCUDAKernel.__call__

    def counting(self, *args):
        if not self._device:
            launches.append(self.fn.__name__)
        return original(self, *args)

    monkeypatch.setattr(FakeCUDAKernel, "__call__", counting)
    rng = np.random.default_rng(6)
    x, y = _tiny_problem(rng, n=18)
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("nadam")
    state = opt.init(net.layout.n_params, np.float64, HYPER)
    trainer = CudaTrainer(net, opt, state, x, y, 3, StepSettings(dropout=0.2), eval_chunk=4)
    order = rng.permutation(18).astype(np.int64)  # 6 steps
    per_call = []
    for first, n_steps in ((0, 1), (1, 2), (3, 2), (5, 1)):
        launches.clear()
        losses, correct = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
        assert trainer.train_steps(order, first, n_steps, losses, correct) == n_steps
        per_call.append(len(launches))
        assert set(launches) <= {"train_steps_kernel"}
    # (0, 1) and (1, 1) ahead; (1, 2) is not what ran ahead: rolled back, (1, 2) and (3, 2)
    # ahead; (3, 2) ran ahead and (5, 1) ahead of it; (5, 1) ran ahead and ends the epoch.
    assert per_call == [2, 2, 1, 0]
    launches.clear()
    trainer.evaluate(x, y)  # 18 rows, 5 chunks of at most 4
    assert launches == ["evaluate_kernel"]


@wrapping_uint64
def test_a_chunk_launched_ahead_leaves_no_trace_unless_it_is_asked_for():
    """Running ahead changes nothing a caller sees, whether the next request after a chunk is
    a stop (download), another chunk than the one ahead, or that one: losses, parameters,
    optimizer state, average, dropout masks and their counter equal those of a trainer that
    runs chunks in turn, to the bit."""
    rng = np.random.default_rng(11)
    x, y = _tiny_problem(rng, n=18)
    order = rng.permutation(18).astype(np.int64)  # 6 steps of 3
    trainers = []
    for run_ahead in (True, False):
        net = MLP([5, 4, 3], dtype=np.float64, seed=0)
        opt = optimizers.get("adam")
        state = opt.init(net.layout.n_params, np.float64, HYPER)
        options = StepSettings(dropout=0.3, ema_decay=0.8, ema=net.params.copy())
        trainer = CudaTrainer(net, opt, state, x, y, 3, options, run_ahead=run_ahead)
        trainer.seed_epoch(7)
        trainers.append(trainer)
    # (1, 1) runs ahead and the stop rolls it back; (3, 2) runs ahead and (3, 1) is asked for;
    # (4, 1) runs ahead and is asked for; (5, 1) runs ahead and the last download rolls it back.
    for first, n_steps, stop in ((0, 1, True), (1, 2, False), (3, 1, False), (4, 1, False)):
        results = []
        for trainer in trainers:
            losses, correct = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
            assert trainer.train_steps(order, first, n_steps, losses, correct) == n_steps
            if stop:
                trainer.download()
                results.append(trainer.net.params.copy())
            results += [losses, correct]
        half = len(results) // 2
        for a, b in zip(results[:half], results[half:]):
            np.testing.assert_array_equal(a, b)
    ahead, in_turn = trainers
    ahead.download()
    in_turn.download()
    np.testing.assert_array_equal(ahead.net.params, in_turn.net.params)
    np.testing.assert_array_equal(ahead.state.slots, in_turn.state.slots)
    np.testing.assert_array_equal(ahead.state.scalars, in_turn.state.scalars)
    np.testing.assert_array_equal(ahead.settings.ema, in_turn.settings.ema)
    for a, b in zip(ahead.hidden_masks(3), in_turn.hidden_masks(3)):
        np.testing.assert_array_equal(a, b)
    assert ahead.draws == in_turn.draws


@simulator_only
@pytest.mark.parametrize("max_norm", [0.0, 2.0])
def test_a_step_crosses_two_grid_barriers_three_with_max_norm(monkeypatch, max_norm):
    """The fused design's count, asserted on the barriers the simulator executes (every thread
    of the one block calls ``sync``): 2 per step, 3 with max-norm, however many steps; an
    evaluation crosses one per chunk of rows. The phase stamps come one per barrier."""
    from numba.cuda.simulator.kernelapi import GridGroup

    syncs = []
    original = GridGroup.sync

    def counting(self):
        syncs.append(1)
        return original(self)

    monkeypatch.setattr(GridGroup, "sync", counting)
    rng = np.random.default_rng(8)
    x, y = _tiny_problem(rng, n=12)
    net = MLP([5, 4, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, np.float64, HYPER)
    options = StepSettings(max_norm=max_norm, ema_decay=0.9, ema=net.params.copy())
    trainer = CudaTrainer(net, opt, state, x, y, 3, options, eval_chunk=5)
    order = rng.permutation(12).astype(np.int64)
    per_step = 3 if max_norm else 2
    threads = gdense.THREADS
    for first, n_steps in ((0, 1), (1, 2)):
        trainer.time_phases(n_steps)
        syncs.clear()
        losses, correct = np.empty(n_steps), np.empty(n_steps, dtype=np.int64)
        assert trainer.train_steps(order, first, n_steps, losses, correct) == n_steps
        assert len(syncs) == n_steps * per_step * threads
        times = trainer.phase_times()
        assert times.shape == (n_steps, per_step) and (times > 0).all()
    syncs.clear()
    trainer.evaluate(x, y)  # 12 rows in chunks of 5
    assert len(syncs) == 3 * threads


def _phase_kernels(opt):
    """The two phases of a step as kernels of their own, which need no grid barrier, so the
    simulator runs them on grids of several blocks: the row slices and the weight tiles
    split among blocks as on a GPU."""
    from kernels.cuda import steps as gsteps

    gradient_and_update = gsteps.weight_phase(opt)

    def shared_tiles():
        return (
            cuda.shared.array((gdense.TILE, gdense.TILE), dtype=float64),
            cuda.shared.array((gdense.TILE, gdense.TILE_COLS), dtype=float64),
        )

    @cuda.jit
    def rows_kernel(data, n, params, net, work, gpu):
        tiles = shared_tiles()
        none = (1.0, 1.0, work.masks, 0, 0)
        for r0 in range(cuda.blockIdx.x * gdense.TILE, n, cuda.gridDim.x * gdense.TILE):
            gsteps.row_slice_step(
                data, 0, n, r0, params, net, work, gpu, none, none, 0, False, tiles
            )

    @cuda.jit
    def weights_kernel(params, grads, net, work, gpu, n, reg, slots, coef):
        tiles = shared_tiles()
        gradient_and_update(params, grads, net, work, gpu.deltas, n, reg, slots, coef, tiles)

    return rows_kernel, weights_kernel


@pytest.mark.parametrize("name", ["adam"])
def test_the_phases_on_a_grid_of_several_blocks_equal_the_cpu_step(name):
    """float64, a batch of 20 rows (several row slices, on two blocks) through 5-70-3 (several
    column tiles in the hidden layer, 70 being no multiple of a tile's columns on the simulator
    or a GPU; the weight phase's tiles on three blocks, bias rows included, with weight decay):
    one Adam step's loss, parameters and moments equal the CPU's."""
    rng = np.random.default_rng(9)
    x = rng.normal(size=(20, 5))
    y = rng.integers(0, 3, 20).astype(np.int64)
    order = np.arange(20, dtype=np.int64)
    opt = optimizers.get(name)
    cpu, gpu_net = (MLP([5, 70, 3], activation="tanh", dtype=np.float64, seed=1) for _ in "ab")
    cpu_state = opt.init(cpu.layout.n_params, np.float64, HYPER)
    gpu_state = opt.init(cpu.layout.n_params, np.float64, HYPER)
    options = StepSettings(weight_decay=0.01)
    _, cpu_losses, _ = cpu.train_steps(x, y, order, 0, 1, 20, opt, cpu_state, options)
    trainer = CudaTrainer(gpu_net, opt, gpu_state, x, y, 20, options, eval_chunk=20)
    data, _, _, params, grads, net, work, reg, (slots, hyper, scalars), _, gpu = (
        trainer.step_arguments(order, 0, 1)
    )
    rows_kernel, weights_kernel = _phase_kernels(opt)
    rows_kernel[2, (gdense.TILE, gdense.TILE)](data, 20, params, net, work, gpu)
    loss = gpu.row_loss.copy_to_host().sum() / 20
    assert loss == pytest.approx(cpu_losses[0], rel=1e-12)
    coef = np.array(opt.coefficients(hyper, scalars.copy_to_host(), loss), dtype=np.float64)
    weights_kernel[3, (gdense.TILE, gdense.TILE)](
        params, grads, net, work, gpu, 20, reg, slots, cuda.to_device(coef)
    )
    np.testing.assert_allclose(params.copy_to_host(), cpu.params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(slots.copy_to_host(), cpu_state.slots, rtol=1e-10, atol=1e-13)


def test_a_launch_after_a_halted_one_trains_nothing():
    """A chunk launched while ``halt`` is up (after a NaN, before the host lowers it) leaves the
    parameters and the optimizer's state as they are."""
    from kernels.cuda import steps as gsteps

    x, y = _tiny_problem(np.random.default_rng(10), n=8)
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, np.float64, HYPER)
    trainer = CudaTrainer(net, opt, state, x, y, 4, eval_chunk=8)
    args = trainer.step_arguments(np.arange(8, dtype=np.int64), 0, 2)
    trainer.gpu.halt.copy_to_device(np.ones(1, dtype=np.int32))
    gsteps.launch(trainer.step_kernel, 1, args)
    trainer.download()
    np.testing.assert_array_equal(net.params, MLP([5, 4, 3], dtype=np.float64, seed=0).params)
    assert state.scalars[0] == 0


def test_a_nan_on_the_gpu_freezes_the_parameters_like_the_cpu():
    rng = np.random.default_rng(5)
    x, y = _tiny_problem(rng, n=8)
    x[5] = np.nan
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("sgd")
    trainer = CudaTrainer(
        net, opt, opt.init(net.layout.n_params, np.float64, HYPER), x, y, 2, eval_chunk=8
    )
    before_bad_step = net.params.copy()
    order = np.arange(8, dtype=np.int64)
    losses, correct = np.empty(4), np.empty(4, dtype=np.int64)
    assert trainer.train_steps(order, 0, 2, losses[:2], correct[:2]) == 2
    trainer.download()
    before_bad_step = net.params.copy()
    assert trainer.train_steps(order, 2, 2, losses[2:], correct[2:]) == 1
    trainer.download()
    assert np.isnan(losses[2])
    np.testing.assert_array_equal(net.params, before_bad_step)


def test_cuda_trainer_schedule_and_restore_hooks():
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("adam")
    state = opt.init(net.layout.n_params, np.float64, HYPER)
    x, y = _tiny_problem(np.random.default_rng(6), n=6)
    trainer = CudaTrainer(net, opt, state, x, y, 3, eval_chunk=8)
    trainer.set_learning_rate(0.5)
    assert state.hyper.learning_rate == 0.5  # passed to every launch by value
    saved = trainer.snapshot()
    trainer.restore(saved * 2)
    trainer.download()
    np.testing.assert_array_equal(net.params, saved * 2)


# ------------------------------------------------------------------ dropout
from kernels import dropout as cpu_dropout  # noqa: E402
from kernels.cuda import dropout as gdropout  # noqa: E402
from tests import naive  # noqa: E402


@cuda.jit
def _mask_kernel(masks, keep, scale, seed, base):
    i = cuda.grid(1)
    if i < masks.shape[0]:
        masks[i] = gdropout.mask_value(seed, base + i, keep, scale)


@wrapping_uint64
def test_gpu_dropout_masks_are_scaled_bernoulli_and_reproducible():
    n, keep = 960, 0.7
    masks = []
    for base in (0, 0, n):
        mask_d = cuda.device_array(n, dtype=np.float32)
        _mask_kernel[4, 256](mask_d, keep, np.float32(1 / keep), 123, base)
        masks.append(mask_d.copy_to_host())
    assert set(np.unique(masks[0])) == {np.float32(0), np.float32(1 / keep)}
    assert (masks[0] > 0).mean() == pytest.approx(keep, abs=0.05)  # 960 draws: sd 0.015
    np.testing.assert_array_equal(masks[0], masks[1])  # same seed and counters: same mask
    assert (masks[0] != masks[2]).any()  # the next counters: a new mask


@cuda.jit
def _dropout_backward_kernel(G, A_dropped, mask, keep, code):
    i = cuda.grid(1)
    if i < G.shape[0]:
        G[i] = gdropout.dropout_backward(G[i], A_dropped[i], mask[i], keep, code)


@SIM
@given(
    rows=st.integers(1, 9),
    cols=st.integers(1, 20),
    activation=st.sampled_from(list(ACTIVATIONS)),
    keep=st.sampled_from([0.5, 0.8]),
    seed=st.integers(0, 1000),
)
def test_gpu_dropout_backward_equals_the_cpu(rows, cols, activation, keep, seed):
    rng = np.random.default_rng(seed)
    code = ACTIVATIONS[activation]
    a = rng.uniform(0.05, 0.95, (rows, cols))
    mask = np.where(rng.random((rows, cols)) < keep, 1 / keep, 0.0)
    a_dropped = a * mask
    g = rng.normal(size=(rows, cols))
    expected = g.copy()
    cpu_dropout.dropout_activation_backward(expected, a_dropped, mask, keep, code)
    g_d = cuda.to_device(g.ravel())
    _dropout_backward_kernel[1, 256](
        g_d, cuda.to_device(a_dropped.ravel()), cuda.to_device(mask.ravel()), keep, code
    )
    np.testing.assert_allclose(
        g_d.copy_to_host().reshape(rows, cols), expected, rtol=1e-12, atol=1e-15
    )


@wrapping_uint64
@pytest.mark.parametrize("input_dropout", [0.0, 0.3])
def test_a_dropout_step_on_cuda_follows_the_gradient_of_its_own_masks(input_dropout):
    """One SGD step with dropout (and input dropout): the loss and the new parameters are those
    of the slow reference (tests/naive.py) evaluated with the masks the GPU drew."""
    rng = np.random.default_rng(7)
    sizes, batch, dropout, lr = [5, 6, 4, 3], 4, 0.4, 0.1
    x, y = _tiny_problem(rng, n=batch)
    net = MLP(sizes, activation="tanh", loss="cross_entropy", dtype=np.float64, seed=0)
    start = net.params.copy()
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, np.float64, {**HYPER, "learning_rate": lr})
    settings = StepSettings(dropout=dropout, input_dropout=input_dropout)
    trainer = CudaTrainer(net, opt, state, x, y, batch, settings, eval_chunk=8, seed=3)
    losses, correct = np.empty(1), np.empty(1, dtype=np.int64)
    assert trainer.train_steps(np.arange(batch, dtype=np.int64), 0, 1, losses, correct) == 1
    trainer.download()
    hidden_masks = trainer.hidden_masks(batch)
    assert all(set(np.unique(m)) <= {0.0, 1 / (1 - dropout)} for m in hidden_masks)
    inputs = x
    if input_dropout:
        input_mask = trainer.work.masks.copy_to_host()[: batch * 5].reshape(batch, 5)
        assert set(np.unique(input_mask)) == {0.0, 1 / (1 - input_dropout)}
        inputs = x * input_mask

    def objective(params):
        return naive.objective(sizes, params, "tanh", "cross_entropy", 0.0, inputs, y, hidden_masks)

    assert losses[0] == pytest.approx(objective(start), rel=1e-10)
    expected = start - lr * naive.finite_difference_gradient(objective, start)
    np.testing.assert_allclose(net.params, expected, rtol=1e-7, atol=1e-9)


@wrapping_uint64
def test_training_with_dropout_on_cuda_is_seeded():
    """experiments.training.train with --device cuda --dropout: a run is reproducible per seed
    and its dropout changes the result."""
    from experiments.config import RunConfig
    from experiments.training import train

    x, y = _tiny_problem(np.random.default_rng(8), n=12)

    def trained(dropout):
        net = MLP([5, 4, 3], dtype=np.float64, seed=0)
        config = RunConfig(
            **HYPER,
            optimizer="adam",
            epochs=1,
            batch_size=4,
            weight_decay=0.0,
            seed=0,
            device="cuda",
            dropout=dropout,
        )
        history = train(net, config, x[:8], y[:8], x[8:], y[8:], chunks_per_epoch=1)
        assert len(history.epochs) == 1
        return net.params

    with_dropout = trained(0.5)
    np.testing.assert_array_equal(trained(0.5), with_dropout)
    assert not np.array_equal(trained(0.0), with_dropout)


@wrapping_uint64
def test_a_gpu_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(tmp_path):
    """Checkpoints on the GPU: parameters, their moving average and optimizer state come back
    from the device after each epoch, and each epoch's dropout masks and distortions depend on
    (seed, epoch) only."""
    from experiments.checkpoint import CheckpointFile
    from experiments.config import RunConfig
    from experiments.training import Callback, train

    rng = np.random.default_rng(9)
    x, y = rng.random((12, 9)), rng.integers(0, 3, 12).astype(np.int64)
    config = RunConfig(
        **HYPER,
        optimizer="nadam",
        epochs=2,
        batch_size=4,
        seed=1,
        device="cuda",
        dropout=0.3,
        ema=0.9,
        max_norm=1.0,
        augment="affine",
    )

    class StopInEpoch2(Callback):
        def on_steps(self, epoch, done, steps, running_loss):
            if epoch == 2:
                raise KeyboardInterrupt

    whole = MLP([9, 4, 3], dtype=np.float64, seed=0)
    expected = train(whole, config, x[:8], y[:8], x[8:], y[8:], chunks_per_epoch=2)
    store = CheckpointFile(tmp_path)
    stopped = MLP([9, 4, 3], dtype=np.float64, seed=0)
    with pytest.raises(KeyboardInterrupt):
        train(stopped, config, x[:8], y[:8], x[8:], y[8:], StopInEpoch2(), None, 2, store)
    assert store.last_epoch() == 1
    resumed = MLP([9, 4, 3], dtype=np.float64, seed=0)
    history = train(
        resumed, config, x[:8], y[:8], x[8:], y[8:], chunks_per_epoch=2, checkpoints=store
    )
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert [m["val_loss"] for m in history.epochs] == [m["val_loss"] for m in expected.epochs]


# ------------------------------------------------------------------ device resolution
@simulator_only
def test_resolve_device_runs_a_test_kernel_and_reports_a_broken_stack_in_one_line(monkeypatch):
    from kernels.cuda import steps
    from network.backends import resolve_device

    assert resolve_device("cuda") == "cuda"
    assert resolve_device("auto") == "cpu"  # never the simulator unless asked for

    def broken_compiler():
        raise AttributeError("module 'numpy' has no attribute 'row_stack'\n  (traceback ...)")

    monkeypatch.setattr(steps, "grid_sync", broken_compiler)
    with pytest.raises(RuntimeError) as failure:
        resolve_device("cuda")
    message = str(failure.value)  # the simulator puts the thread's ids in the middle
    assert message.startswith("--device cuda: CUDA unusable: AttributeError: ")
    assert message.endswith("module 'numpy' has no attribute 'row_stack'")
    assert resolve_device("auto") == "cpu"


def test_numba_cuda_loads_without_numpys_row_stack():
    """NumPy 2.5 removed np.row_stack, which numba-cuda <= 0.30.4 still names when it loads its
    array functions; importing kernels.cuda gives the alias back first. Run in a fresh process
    with the alias deleted and out of ``np.__all__``, as NumPy 2.5 has it (SciPy, which
    ``kernels`` imports when MKL runs the products, star-imports NumPy)."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "if hasattr(np, 'row_stack'): del np.row_stack\n"
        "np.__all__ = [name for name in np.__all__ if name != 'row_stack']\n"
        "import kernels.cuda\n"
        "import numba.cuda.np.arrayobj\n"
        "assert np.row_stack is np.vstack\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_every_kernel_compiles_for_a_real_gpu():
    """The simulator never type-checks a kernel for the CUDA target; numba-cuda's compiler does,
    without a GPU: the step kernel of each optimizer in float32 and Adam's in float64 and on
    uint8 pixels, and the evaluation kernel in both dtypes, compile to PTX for compute
    capability 9.0 (tests/kernels/ptx_compile.py)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.kernels.ptx_compile"],
        env=env,
        timeout=600,
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    if done.returncode == 77:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("characters of PTX") == len(optimizers.REGISTRY) + 4
