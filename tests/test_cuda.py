"""The CUDA kernels against their CPU twins, on Numba's CUDA simulator.

Shapes are tiny (the simulator runs every GPU thread as a Python thread) and
deliberately not multiples of the 16x16 tile. Skipped when numba-cuda is missing.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

cuda = pytest.importorskip("numba.cuda", reason="numba-cuda is not installed (pip install numba-cuda)")

import optimizers  # noqa: E402
from kernels import activations, losses  # noqa: E402
from kernels.config import ACTIVATIONS, LOSSES  # noqa: E402
from network import MLP  # noqa: E402
from tests.conftest import HYPER  # noqa: E402

if not cuda.is_available():
    pytest.skip("no CUDA device and the simulator is off (set NUMBA_ENABLE_CUDASIM=1)",
                allow_module_level=True)

from kernels.cuda import dense as gdense  # noqa: E402
from kernels.cuda import losses as glosses  # noqa: E402
from kernels.cuda import optimizers as gopt  # noqa: E402
from network.cuda_trainer import CudaTrainer  # noqa: E402

SIM = settings(max_examples=4, deadline=None)


@SIM
@given(m=st.integers(1, 20), k=st.integers(1, 20), n=st.integers(1, 20),
       trans_a=st.booleans(), trans_b=st.booleans(), seed=st.integers(0, 1000))
def test_tiled_matmul_equals_numpy(m, k, n, trans_a, trans_b, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    c = cuda.device_array((m, n), dtype=np.float32)
    gdense.matmul(cuda.to_device(a), cuda.to_device(b), c, trans_a, trans_b)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_allclose(c.copy_to_host(), expected, rtol=1e-5, atol=1e-5)


@SIM
@given(activation=st.sampled_from(list(ACTIVATIONS)), rows=st.integers(1, 17),
       cols=st.integers(1, 40), seed=st.integers(0, 1000))
def test_bias_activation_and_derivative_match_the_cpu(activation, rows, cols, seed):
    rng = np.random.default_rng(seed)
    code = ACTIVATIONS[activation]
    z, b = rng.normal(size=(rows, cols)) * 3, rng.normal(size=cols)
    expected = z.copy()
    activations.bias_activation(expected, b, code)
    z_d = cuda.to_device(z)
    blocks, threads = gdense.grid_2d(rows, cols)
    gdense.bias_activation_kernel[blocks, threads](z_d, cuda.to_device(b), code)
    np.testing.assert_allclose(z_d.copy_to_host(), expected, rtol=1e-10, atol=1e-15)
    g = rng.normal(size=(rows, cols))
    expected_g = g.copy()
    activations.activation_backward(expected_g, expected, code)
    g_d = cuda.to_device(g)
    gdense.activation_backward_kernel[blocks, threads](g_d, cuda.to_device(expected), code)
    np.testing.assert_allclose(g_d.copy_to_host(), expected_g, rtol=1e-10, atol=1e-15)


@SIM
@given(rows=st.integers(1, 20), cols=st.integers(1, 70), seed=st.integers(0, 1000))
def test_column_sum_and_weight_decay(rows, cols, seed):
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(rows, cols))
    out = cuda.device_array(cols)
    blocks, threads = gdense.grid_1d(cols, 32)
    gdense.column_sum_kernel[blocks, threads](cuda.to_device(d), out)
    np.testing.assert_allclose(out.copy_to_host(), d.sum(axis=0), rtol=1e-12)
    dw, w = rng.normal(size=37), rng.normal(size=37)
    dw_d = cuda.to_device(dw)
    gdense.add_weight_decay_kernel[1, 64](dw_d, cuda.to_device(w), 0.1)
    np.testing.assert_allclose(dw_d.copy_to_host(), dw + 0.1 * w, rtol=1e-12)


@SIM
@given(loss=st.sampled_from(list(LOSSES)), n=st.integers(1, 40), k=st.integers(2, 12),
       seed=st.integers(0, 1000))
def test_softmax_loss_and_reduction_match_the_cpu(loss, n, k, seed):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(n, k)) * 4, rng.integers(0, k, n)
    dz_cpu = np.empty_like(z)
    loss_sum, correct = losses.softmax_loss_grad(z.copy(), y, LOSSES[loss], dz_cpu)
    dz = cuda.device_array_like(z)
    row_loss, row_correct = cuda.device_array(n), cuda.device_array(n, dtype=np.int64)
    blocks, threads = gdense.grid_1d(n, 32)
    glosses.softmax_loss_grad_kernel[blocks, threads](cuda.to_device(z), cuda.to_device(y),
                                                      LOSSES[loss], dz, row_loss, row_correct)
    np.testing.assert_allclose(dz.copy_to_host(), dz_cpu, rtol=1e-10, atol=1e-14)
    step_losses, step_correct = cuda.device_array(3), cuda.device_array(3, dtype=np.int64)
    halt = cuda.to_device(np.zeros(1, dtype=np.int32))
    glosses.reduce_loss_kernel[1, glosses.REDUCE_THREADS](row_loss, row_correct, n, step_losses,
                                                          step_correct, 2, halt)
    assert step_losses.copy_to_host()[2] == pytest.approx(loss_sum / n, rel=1e-12)
    assert step_correct.copy_to_host()[2] == correct and halt.copy_to_host()[0] == 0


def test_reduction_raises_the_halt_flag_on_nan():
    row_loss = cuda.to_device(np.array([1.0, np.nan, 2.0]))
    halt = cuda.to_device(np.zeros(1, dtype=np.int32))
    out = cuda.device_array(1)
    glosses.reduce_loss_kernel[1, glosses.REDUCE_THREADS](
        row_loss, cuda.to_device(np.ones(3, dtype=np.int64)), 3, out,
        cuda.device_array(1, dtype=np.int64), 0, halt)
    assert halt.copy_to_host()[0] == 1


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
def test_every_optimizer_rule_runs_on_the_gpu_as_on_the_cpu(name):
    rng = np.random.default_rng(3)
    opt = optimizers.get(name)
    params = rng.normal(size=37).astype(np.float32)
    cpu_params, cpu_state = params.copy(), opt.init(37, np.float32, HYPER)
    state = opt.init(37, np.float32, HYPER)
    p_d, slots_d = cuda.to_device(params), cuda.to_device(state.slots)
    hyper_d, scalars_d = cuda.to_device(state.hyper), cuda.to_device(state.scalars)
    coef_d = cuda.device_array(opt.n_coefficients)
    halt = cuda.to_device(np.zeros(1, dtype=np.int32))
    for step in range(3):
        g = rng.normal(size=37).astype(np.float32)
        loss = float(rng.uniform(0.5, 2.0))
        opt.step(cpu_params, g, cpu_state, loss)
        gopt.update(opt, p_d, cuda.to_device(g), slots_d, hyper_d, scalars_d,
                    cuda.to_device(np.array([loss])), 0, halt, coef_d)
    np.testing.assert_allclose(p_d.copy_to_host(), cpu_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scalars_d.copy_to_host(), cpu_state.scalars, rtol=1e-12)


@pytest.mark.parametrize("name", list(optimizers.REGISTRY))
def test_the_gpu_update_flushes_subnormal_values_like_the_cpu(name):
    """Both devices store 0 where a parameter or state entry is subnormal (kernels/fpenv.py)."""
    from kernels.fpenv import FLOAT32_TINY

    rng = np.random.default_rng(5)
    opt = optimizers.get(name)
    n = 24
    params = rng.normal(size=n).astype(np.float32)
    params[::3] = np.float32(3e-39)  # subnormal: zero gradient keeps them tiny after the update
    state = opt.init(n, np.float32, HYPER)
    state.slots[:, 1::3] = np.float32(-2e-40)
    g = np.zeros(n, dtype=np.float32)
    g[2::3] = rng.normal(size=g[2::3].shape)
    cpu_params, cpu_state = params.copy(), opt.init(n, np.float32, HYPER)
    cpu_state.slots[:] = state.slots
    opt.step(cpu_params, g, cpu_state, 1.0)
    p_d, slots_d = cuda.to_device(params), cuda.to_device(state.slots)
    gopt.update(opt, p_d, cuda.to_device(g), slots_d, cuda.to_device(state.hyper),
                cuda.to_device(state.scalars), cuda.to_device(np.array([1.0])), 0,
                cuda.to_device(np.zeros(1, dtype=np.int32)), cuda.device_array(opt.n_coefficients))
    for gpu, cpu in ((p_d.copy_to_host(), cpu_params), (slots_d.copy_to_host(), cpu_state.slots)):
        assert not np.any((gpu != 0) & (np.abs(gpu) < FLOAT32_TINY))
        np.testing.assert_array_equal(gpu == 0, cpu == 0)
        np.testing.assert_allclose(gpu, cpu, rtol=1e-5, atol=1e-6)


def _tiny_problem(rng, n=11):
    x = rng.normal(size=(n, 5))
    y = rng.integers(0, 3, n).astype(np.int64)
    return x, y


def test_training_steps_on_cuda_equal_the_cpu(name="adam"):
    rng = np.random.default_rng(4)
    x, y = _tiny_problem(rng)
    order = rng.permutation(len(x)).astype(np.int64)
    cpu = MLP([5, 7, 3], activation="tanh", loss="mean_squared_error", dtype=np.float64, seed=0)
    gpu = MLP([5, 7, 3], activation="tanh", loss="mean_squared_error", dtype=np.float64, seed=0)
    opt = optimizers.get(name)
    cpu_state, gpu_state = opt.init(cpu.layout.n_params, np.float64, HYPER), \
        opt.init(gpu.layout.n_params, np.float64, HYPER)
    done, cpu_losses, cpu_correct = cpu.train_steps(x, y, order, 0, 3, 4, opt, cpu_state,
                                                    weight_decay=0.01)
    trainer = CudaTrainer(gpu, opt, gpu_state, x, y, batch_size=4, eval_chunk=8)
    losses, correct = np.empty(3), np.empty(3, dtype=np.int64)
    assert trainer.train_steps(order, 0, 3, 0.01, losses, correct) == 3
    trainer.download()
    np.testing.assert_allclose(losses, cpu_losses, rtol=1e-10)
    np.testing.assert_array_equal(correct, cpu_correct)
    np.testing.assert_allclose(gpu.params, cpu.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu_state.slots, cpu_state.slots, rtol=1e-9, atol=1e-12)
    loss, accuracy = trainer.evaluate(x, y)
    expected_loss, expected_accuracy = cpu.evaluate(x, y)
    assert loss == pytest.approx(expected_loss, rel=1e-10) and accuracy == expected_accuracy


def test_a_nan_on_the_gpu_freezes_the_parameters_like_the_cpu():
    rng = np.random.default_rng(5)
    x, y = _tiny_problem(rng, n=8)
    x[5] = np.nan
    net = MLP([5, 4, 3], dtype=np.float64, seed=0)
    opt = optimizers.get("sgd")
    trainer = CudaTrainer(net, opt, opt.init(net.layout.n_params, np.float64, HYPER), x, y, 2,
                          eval_chunk=8)
    before_bad_step = net.params.copy()
    order = np.arange(8, dtype=np.int64)
    losses, correct = np.empty(4), np.empty(4, dtype=np.int64)
    assert trainer.train_steps(order, 0, 2, 0.0, losses[:2], correct[:2]) == 2
    trainer.download()
    before_bad_step = net.params.copy()
    assert trainer.train_steps(order, 2, 2, 0.0, losses[2:], correct[2:]) == 1
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
    assert trainer.hyper.copy_to_host()[0] == 0.5 == state.hyper[0]
    saved = trainer.snapshot()
    trainer.restore(saved * 2)
    trainer.download()
    np.testing.assert_array_equal(net.params, saved * 2)


# ------------------------------------------------------------------ dropout
from kernels import dropout as cpu_dropout  # noqa: E402
from kernels.cuda import dropout as gdropout  # noqa: E402
from tests import naive  # noqa: E402

# On the simulator the hash's uint64 products are NumPy scalars, which wrap modulo 2**64 exactly
# as the GPU does but warn about it.
wrapping_uint64 = pytest.mark.filterwarnings("ignore:overflow encountered in scalar multiply")


@wrapping_uint64
def test_gpu_dropout_masks_are_scaled_bernoulli_and_reproducible():
    rows, cols, keep = 24, 40, 0.7
    a = np.full((rows, cols), 2.0, dtype=np.float32)
    masks = []
    for base in (0, 0, rows * cols):
        a_d, mask_d = cuda.to_device(a), cuda.device_array((rows, cols), dtype=np.float32)
        blocks, threads = gdense.grid_2d(rows, cols)
        gdropout.dropout_forward_kernel[blocks, threads](a_d, mask_d, keep, 123, base)
        mask = mask_d.copy_to_host()
        np.testing.assert_allclose(a_d.copy_to_host(), a * mask)
        masks.append(mask)
    assert set(np.unique(masks[0])) == {np.float32(0), np.float32(1 / keep)}
    assert (masks[0] > 0).mean() == pytest.approx(keep, abs=0.05)  # 960 draws: sd 0.015
    np.testing.assert_array_equal(masks[0], masks[1])  # same seed and counters: same mask
    assert (masks[0] != masks[2]).any()  # the next counters: a new mask


@SIM
@given(rows=st.integers(1, 9), cols=st.integers(1, 20), activation=st.sampled_from(list(ACTIVATIONS)),
       keep=st.sampled_from([0.5, 0.8]), seed=st.integers(0, 1000))
def test_gpu_dropout_backward_equals_the_cpu(rows, cols, activation, keep, seed):
    rng = np.random.default_rng(seed)
    code = ACTIVATIONS[activation]
    a = rng.uniform(0.05, 0.95, (rows, cols))
    mask = np.where(rng.random((rows, cols)) < keep, 1 / keep, 0.0)
    a_dropped = a * mask
    g = rng.normal(size=(rows, cols))
    expected = g.copy()
    cpu_dropout.dropout_activation_backward(expected, a_dropped, mask, keep, code)
    g_d = cuda.to_device(g)
    blocks, threads = gdense.grid_2d(rows, cols)
    gdropout.dropout_activation_backward_kernel[blocks, threads](
        g_d, cuda.to_device(a_dropped), cuda.to_device(mask), keep, code)
    np.testing.assert_allclose(g_d.copy_to_host(), expected, rtol=1e-12, atol=1e-15)


@wrapping_uint64
def test_a_dropout_step_on_cuda_follows_the_gradient_of_its_own_masks():
    """One SGD step with dropout: the loss and the new parameters are those of the
    slow reference (tests/naive.py) evaluated with the masks the GPU drew."""
    rng = np.random.default_rng(7)
    sizes, batch, dropout, lr = [5, 6, 4, 3], 4, 0.4, 0.1
    x, y = _tiny_problem(rng, n=batch)
    net = MLP(sizes, activation="tanh", loss="cross_entropy", dtype=np.float64, seed=0)
    start = net.params.copy()
    opt = optimizers.get("sgd")
    state = opt.init(net.layout.n_params, np.float64, {**HYPER, "learning_rate": lr})
    trainer = CudaTrainer(net, opt, state, x, y, batch_size=batch, eval_chunk=8, seed=3)
    losses, correct = np.empty(1), np.empty(1, dtype=np.int64)
    assert trainer.train_steps(np.arange(batch, dtype=np.int64), 0, 1, 0.0, losses, correct,
                               dropout) == 1
    trainer.download()
    masks = {l: trainer.masks[l][:batch].copy_to_host() for l in range(1, len(sizes) - 1)}
    assert all(set(np.unique(m)) <= {0.0, 1 / (1 - dropout)} for m in masks.values())
    hidden_masks = [masks[l] for l in range(1, len(sizes) - 1)]

    def objective(params):
        return naive.objective(sizes, params, "tanh", "cross_entropy", 0.0, x, y, hidden_masks)

    assert losses[0] == pytest.approx(objective(start), rel=1e-10)
    expected = start - lr * naive.finite_difference_gradient(objective, start)
    np.testing.assert_allclose(net.params, expected, rtol=1e-7, atol=1e-9)


@wrapping_uint64
def test_training_with_dropout_on_cuda_is_seeded():
    """experiments.training.train with --device cuda --dropout: a run is reproducible per seed
    and its dropout changes the result."""
    from experiments.training import train

    x, y = _tiny_problem(np.random.default_rng(8), n=12)

    def trained(dropout):
        net = MLP([5, 4, 3], dtype=np.float64, seed=0)
        config = dict(HYPER, optimizer="adam", epochs=1, batch_size=4, weight_decay=0.0,
                      seed=0, device="cuda", dropout=dropout)
        history = train(net, config, x[:8], y[:8], x[8:], y[8:], chunks_per_epoch=1)
        assert len(history.epochs) == 1
        return net.params

    with_dropout = trained(0.5)
    np.testing.assert_array_equal(trained(0.5), with_dropout)
    assert not np.array_equal(trained(0.0), with_dropout)
